"""An order's state, and the one pure function that moves it forward by an event."""

from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from domain.events import (
    EventEnvelope,
    InventoryReservation,
    InventoryReserved,
    OrderCancelled,
    OrderFulfilled,
    OrderReceived,
    OrderValidated,
    PaymentProcessed,
    PaymentStatus,
)
from domain.orders import Money
from domain.personal import PersonalData
from domain.rules import PAYMENT_SKIPPED_REASON


class OrderStatus(StrEnum):
    RECEIVED = "Received"
    VALIDATED = "Validated"
    VALIDATION_FAILED = "ValidationFailed"
    PAYMENT_COMPLETED = "PaymentCompleted"
    PAYMENT_PENDING = "PaymentPending"
    PAYMENT_FAILED = "PaymentFailed"
    INVENTORY_RESERVED = "InventoryReserved"
    FULFILLED = "Fulfilled"
    CANCELLED = "Cancelled"


_STATUS_AFTER_PAYMENT = {
    PaymentStatus.COMPLETED: OrderStatus.PAYMENT_COMPLETED,
    PaymentStatus.PENDING: OrderStatus.PAYMENT_PENDING,
    PaymentStatus.FAILED: OrderStatus.PAYMENT_FAILED,
}


class EventStreamError(ValueError):
    """An event that cannot follow the state it is applied to: another stream, or a gap in versions."""


# The layout of OrderState as stored outside the stream (snapshots, read models). Raise
# it whenever a field is added, removed or changes meaning: what was stored under another
# number is rebuilt from the events, never read into this model.
STATE_SCHEMA_VERSION = 2  # v2: personal data (sealed)


class OrderState(BaseModel):
    model_config = ConfigDict(frozen=True)

    order_id: str
    status: OrderStatus | None = None
    customer_id: str | None = None
    total_amount: Money | None = None
    items_count: int = 0
    validation_errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    payment_id: str | None = None
    payment_status: PaymentStatus | None = None
    payment_skipped_reason: str | None = None
    reservations: tuple[InventoryReservation, ...] = ()
    fulfillment_id: str | None = None
    tracking_number: str | None = None
    cancellation_reason: str | None = None
    refund_amount: Money | None = None
    personal: PersonalData | None = Field(default=None, exclude_if=lambda personal: personal is None)
    events_applied: tuple[str, ...] = ()
    version: int = 0
    updated_at: datetime | None = None


def apply_event(state: OrderState, envelope: EventEnvelope) -> OrderState:
    """The state after `envelope`. Pure: same inputs, same output, no side effects."""
    _check_place_in_stream(state, envelope)
    return state.model_copy(
        update={
            **_changes(state, envelope),
            "events_applied": (*state.events_applied, envelope.event_type),
            "version": envelope.version,
            "updated_at": envelope.created_at,
        }
    )


def _check_place_in_stream(state: OrderState, envelope: EventEnvelope) -> None:
    """The envelope is the next of this order's stream, or an EventStreamError says why not."""
    _check_place(state.order_id, state.version, envelope)


def _check_place(order_id: str, version: int, envelope: EventEnvelope) -> None:
    if envelope.stream_id != order_id:
        raise EventStreamError(f"event {envelope.event_id} belongs to stream {envelope.stream_id!r}, not {order_id!r}")
    if envelope.version != version + 1:
        raise EventStreamError(
            f"stream {order_id!r} is at version {version}; event {envelope.event_id} has version {envelope.version}"
        )


def check_sequence(order_id: str, envelopes: Sequence[EventEnvelope]) -> None:
    """The envelopes are one stream from its start: `order_id`'s, versions 1, 2, 3… with
    none missing; else an EventStreamError names the first that is out of place (the
    check `apply_event` makes, without folding)."""
    version = 0
    for envelope in envelopes:
        _check_place(order_id, version, envelope)
        version = envelope.version


def _changes(state: OrderState, envelope: EventEnvelope) -> dict[str, object]:
    """What the event changes in the state: the business rules of the tutorial's fold."""
    changes: dict[str, object]
    match envelope.data:
        case OrderReceived(customer_id=customer_id, items=items, total_amount=total_amount, personal=personal):
            changes = {
                "status": OrderStatus.RECEIVED,
                "customer_id": customer_id,
                "total_amount": total_amount,
                "items_count": len(items),
                "personal": personal,
            }
        case OrderValidated(validation_result=result):
            changes = {
                "status": OrderStatus.VALIDATED if result.is_valid else OrderStatus.VALIDATION_FAILED,
                "validation_errors": tuple(problem.message for problem in result.errors),
                "warnings": tuple(problem.message for problem in result.warnings),
                "payment_skipped_reason": None if result.is_valid else PAYMENT_SKIPPED_REASON,
            }
        case PaymentProcessed(payment_id=payment_id, status=payment_status):
            changes = {"payment_id": payment_id, "payment_status": payment_status}
            # A cancelled payment says nothing new about the order; OrderCancelled does.
            if payment_status in _STATUS_AFTER_PAYMENT:
                changes["status"] = _STATUS_AFTER_PAYMENT[payment_status]
        case InventoryReserved(reservations=reservations):
            changes = {"status": OrderStatus.INVENTORY_RESERVED, "reservations": reservations}
        case OrderFulfilled(fulfillment_id=fulfillment_id, tracking_number=tracking_number):
            changes = {
                "status": OrderStatus.FULFILLED,
                "fulfillment_id": fulfillment_id,
                "tracking_number": tracking_number,
            }
        case OrderCancelled(reason=reason, refund_amount=refund_amount):
            changes = {
                "status": OrderStatus.CANCELLED,
                "cancellation_reason": reason,
                "refund_amount": refund_amount,
                # Cancelling releases whatever stock was held...
                "reservations": (),
            }
            # ...and voids a payment that was only authorised.
            if state.payment_status is PaymentStatus.PENDING:
                changes["payment_status"] = PaymentStatus.CANCELLED
        case _:  # pragma: no cover - the envelope's validator admits only the six event types
            raise EventStreamError(f"no rule applies event type {envelope.event_type!r}")
    return changes


def fold_events(order_id: str, envelopes: Iterable[EventEnvelope]) -> OrderState:
    """The state after every event of `envelopes`, starting from an order with no events."""
    state = OrderState(order_id=order_id)
    for envelope in envelopes:
        state = apply_event(state, envelope)
    return state
