"""The steps of an order and their compensations. Each forward step returns the domain
event it establishes; the workflow puts that event in its envelope and records it.

Business failures leave as non-retryable ApplicationErrors with a type the workflow
matches on; anything else (a timeout, a dropped connection) is retried by the
activity's retry policy, and the idempotency keys make the retry safe.
"""

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
from activities.ledger import LedgerDatabase, SqliteFraudScreen, SqliteInventory, SqlitePaymentGateway, SqliteShipping
from activities.requests import (
    FulfillOrder,
    ProcessPayment,
    RefundPayment,
    ReleaseInventory,
    ReserveInventory,
    ScreenForFraud,
    SettlePayment,
    ValidateOrder,
)
from contract import OUT_OF_STOCK, PAYMENT_NOT_FOUND
from domain import InventoryReservation, InventoryReserved, OrderFulfilled, OrderValidated, PaymentProcessed
from domain import validate_order as check_business_rules
from domain.orders import shortened


class OrderActivities:
    def __init__(
        self, payments: PaymentGateway, inventory: Inventory, shipping: Shipping, fraud_screen: FraudScreen
    ) -> None:
        self.payments = payments
        self.inventory = inventory
        self.shipping = shipping
        self.fraud_screen = fraud_screen

    @classmethod
    def over_ledger(cls, path: Path | str) -> "OrderActivities":
        """The simulated gateway, inventory, shipping and fraud screen, sharing one SQLite file."""
        db = LedgerDatabase(path)
        return cls(SqlitePaymentGateway(db), SqliteInventory(db), SqliteShipping(db), SqliteFraudScreen(db))

    @activity.defn(name="validate_order")
    async def validate_order(self, request: ValidateOrder) -> OrderValidated:
        result = check_business_rules(request.items, request.total_amount)
        activity.logger.debug("Order %s valid=%s errors=%s", request.order_id, result.is_valid, result.errors)
        return OrderValidated(order_id=request.order_id, validation_result=result)

    @activity.defn(name="screen_for_fraud")
    async def screen_for_fraud(self, request: ScreenForFraud) -> FraudScreening:
        screening = await self.fraud_screen.screen(request.customer_id, request.amount)
        activity.logger.debug("Fraud screening of order %s: passed=%s", request.order_id, screening.passed)
        return screening

    @activity.defn(name="process_payment")
    async def process_payment(self, request: ProcessPayment) -> PaymentProcessed:
        charge = await self.payments.charge(request.idempotency_key, request.customer_id, request.amount)
        activity.logger.debug("Payment %s for order %s: %s", charge.payment_id, request.order_id, charge.status)
        return _payment_processed(request.order_id, charge)

    @activity.defn(name="capture_payment")
    async def capture_payment(self, request: SettlePayment) -> PaymentProcessed:
        with _as_application_errors():
            return _payment_processed(request.order_id, await self.payments.capture(request.idempotency_key))

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
    async def reserve_inventory(self, request: ReserveInventory) -> InventoryReserved:
        with _as_application_errors():
            reservations = await self.inventory.reserve(request.idempotency_key, request.items)
        return InventoryReserved(order_id=request.order_id, reservations=tuple(reservations))

    @activity.defn(name="release_inventory")
    async def release_inventory(self, request: ReleaseInventory) -> list[InventoryReservation]:
        return await self.inventory.release(request.idempotency_key)

    @activity.defn(name="fulfill_order")
    async def fulfill_order(self, request: FulfillOrder) -> OrderFulfilled:
        shipment = await self.shipping.ship(request.idempotency_key, request.reservations)
        return OrderFulfilled(
            order_id=request.order_id,
            fulfillment_id=shipment.fulfillment_id,
            tracking_number=shipment.tracking_number,
        )

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
        ]


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
