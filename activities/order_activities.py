"""The steps of an order and their compensations. Each forward step establishes a domain
event and returns it sealed in the envelope the workflow handed it (`record_as`): the
result the history records for the step is the event, envelope and all. A request
without one (from the frozen builds before, tests/replay/, which the benchmarks still run)
gets the bare event.

Business failures leave as non-retryable ApplicationErrors with a type the workflow
matches on; anything else (a timeout, a dropped connection) is retried by the
activity's retry policy, and the idempotency keys make the retry safe.
"""

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.gateways import (
    Charge,
    FraudScreen,
    FraudScreening,
    Inventory,
    OutOfStock,
    PaymentGateway,
    PaymentNotFound,
    Refund,
    Shipping,
)
from activities.ledger import LedgerDatabase, LedgerFraudScreen, LedgerInventory, LedgerPaymentGateway, LedgerShipping
from activities.requests import (
    FulfillOrder,
    ProcessPayment,
    Recording,
    RefundPayment,
    ReleaseInventory,
    ReserveInventory,
    ScreenForFraud,
    SettlePayment,
    ValidateOrder,
)
from contract import OUT_OF_STOCK, PAYMENT_NOT_FOUND
from domain import (
    DomainEvent,
    EventEnvelope,
    InventoryReservation,
    InventoryReserved,
    OrderFulfilled,
    OrderValidated,
    PaymentProcessed,
    shortened,
)
from domain import validate_order as check_business_rules
from encryption import UnreadableField, open_value
from storage import CustomerKeys


class OrderActivities:
    def __init__(
        self, payments: PaymentGateway, inventory: Inventory, shipping: Shipping, fraud_screen: FraudScreen
    ) -> None:
        self.payments = payments
        self.inventory = inventory
        self.shipping = shipping
        self.fraud_screen = fraud_screen
        # Where shipping opens an order's address: the customers' key store, opened when
        # first needed (None: no personal data was ever sealed here).
        self.customer_keys: Callable[[], CustomerKeys | None] = lambda: None

    @classmethod
    def over_ledger(
        cls, path: Path | str, customer_keys: Callable[[], CustomerKeys | None] | None = None
    ) -> "OrderActivities":
        """The simulated gateway, inventory, shipping and fraud screen, sharing one SQLite file."""
        db = LedgerDatabase(path)
        made = cls(LedgerPaymentGateway(db), LedgerInventory(db), LedgerShipping(db), LedgerFraudScreen(db))
        if customer_keys is not None:
            made.customer_keys = customer_keys
        return made

    @activity.defn(name="validate_order")
    async def validate_order(self, request: ValidateOrder) -> list[EventEnvelope] | OrderValidated:
        result = check_business_rules(request.items, request.total_amount)
        activity.logger.debug("Order %s valid=%s errors=%s", request.order_id, result.is_valid, result.errors)
        validated = OrderValidated(order_id=request.order_id, validation_result=result)
        if request.record_as is None or request.received is None:
            return validated
        # A local activity, within the workflow task that recorded OrderReceived: its time
        # is the workflow's, as the workflow's clock reads after it, advanced by the time
        # validation took (the worker's clock may lag a test server's skipped-ahead one).
        took = datetime.now(UTC) - activity.info().scheduled_time
        return [request.received, request.record_as.seal(validated, request.received.created_at + took)]

    @activity.defn(name="screen_for_fraud")
    async def screen_for_fraud(self, request: ScreenForFraud) -> FraudScreening:
        screening = await self.fraud_screen.screen(request.customer_id, request.amount)
        activity.logger.debug("Fraud screening of order %s: passed=%s", request.order_id, screening.passed)
        return screening

    @activity.defn(name="process_payment")
    async def process_payment(self, request: ProcessPayment) -> EventEnvelope | PaymentProcessed:
        charge = await self.payments.charge(request.idempotency_key, request.customer_id, request.amount)
        activity.logger.debug("Payment %s for order %s: %s", charge.payment_id, request.order_id, charge.status)
        return _sealed(request, _payment_processed(request.order_id, charge))

    @activity.defn(name="capture_payment")
    async def capture_payment(self, request: SettlePayment) -> EventEnvelope | PaymentProcessed:
        with _as_application_errors():
            charge = await self.payments.capture(request.idempotency_key)
        return _sealed(request, _payment_processed(request.order_id, charge))

    @activity.defn(name="void_payment")
    async def void_payment(self, request: SettlePayment) -> Charge:
        with _as_application_errors():
            return await self.payments.void(request.idempotency_key)

    @activity.defn(name="refund_payment")
    async def refund_payment(self, request: RefundPayment) -> Refund:
        with _as_application_errors():
            refund = await self.payments.refund(request.idempotency_key, request.payment_id, request.amount)
        activity.logger.debug(
            "Refunded %s of payment %s for order %s", refund.amount, refund.payment_id, request.order_id
        )
        return refund

    @activity.defn(name="reserve_inventory")
    async def reserve_inventory(self, request: ReserveInventory) -> EventEnvelope | InventoryReserved:
        with _as_application_errors():
            reservations = await self.inventory.reserve(request.idempotency_key, request.items)
        return _sealed(request, InventoryReserved(order_id=request.order_id, reservations=tuple(reservations)))

    @activity.defn(name="release_inventory")
    async def release_inventory(self, request: ReleaseInventory) -> list[InventoryReservation]:
        return await self.inventory.release(request.idempotency_key)

    @activity.defn(name="fulfill_order")
    async def fulfill_order(self, request: FulfillOrder) -> EventEnvelope | OrderFulfilled:
        if request.deliver_to is None:
            shipment = await self.shipping.ship(request.idempotency_key, request.reservations)
        else:
            address = self._address(request)
            shipment = await self.shipping.ship(request.idempotency_key, request.reservations, deliver_to=address)
        fulfilled = OrderFulfilled(
            order_id=request.order_id,
            fulfillment_id=shipment.fulfillment_id,
            tracking_number=shipment.tracking_number,
        )
        return _sealed(request, fulfilled)

    def _address(self, request: FulfillOrder) -> str:
        """The order's address in clear, for the carrier alone: never logged, never returned."""
        assert request.deliver_to is not None
        keys = self.customer_keys()
        try:
            if keys is None:
                raise UnreadableField(
                    f"order {request.order_id!r}: personal field 'address': no customer key store here"
                )
            return open_value(
                request.deliver_to, request.customer_id or "", request.order_id, "address", keys.key_named
            )
        except UnreadableField as err:
            # Not retried: no retry brings a key back. The order fails and unwinds.
            raise ApplicationError(f"cannot ship: {err}", type="AddressUnreadable", non_retryable=True) from None

    @activity.defn(name="record_event")
    async def record_event(self, envelope: EventEnvelope) -> EventEnvelope:
        """An event the workflow decided alone (an order cancelled), run as a local
        activity: its result, the envelope unchanged, is a marker in the history. A
        marker is no command the visibility store hears of."""
        return envelope

    def all(self) -> list[Callable[..., Awaitable[Any]]]:
        """The activity callables to register on a worker."""
        return [
            self.validate_order,
            self.screen_for_fraud,
            self.process_payment,
            self.capture_payment,
            self.void_payment,
            self.refund_payment,
            self.reserve_inventory,
            self.release_inventory,
            self.fulfill_order,
            self.record_event,
        ]


EventT = TypeVar("EventT", bound=DomainEvent)


def _sealed(request: Recording, event: EventT) -> EventEnvelope | EventT:
    """`event` in the envelope the request asked for, the bare event when it asked for
    none. Stamped with the time this attempt began on Temporal's clock, the clock of every
    other time in the history (and the one a test server skips ahead)."""
    return event if request.record_as is None else request.record_as.seal(event, activity.info().started_time)


def _payment_processed(order_id: str, charge: Charge) -> PaymentProcessed:
    return PaymentProcessed(order_id=order_id, payment_id=charge.payment_id, amount=charge.amount, status=charge.status)


@contextmanager
def _as_application_errors() -> Iterator[None]:
    """Business failures become non-retryable ApplicationErrors the workflow can match by type."""
    try:
        yield
    except OutOfStock as error:
        # Running out is an outcome the workflow handles, not a fault: benign errors are
        # logged at DEBUG and kept out of failure metrics.
        raise ApplicationError(
            str(error),
            shortened(error.product_id),
            error.wanted,
            error.available,
            type=OUT_OF_STOCK,
            non_retryable=True,
            category=ApplicationErrorCategory.BENIGN,
        ) from None
    except PaymentNotFound as error:
        raise ApplicationError(str(error), type=PAYMENT_NOT_FOUND, non_retryable=True) from None
