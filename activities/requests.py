"""One input model per activity, so fields can be added without breaking recorded histories.

Each side-effecting request carries an idempotency key derived from the workflow id:
a retried activity presents the same key and the external system returns its first answer.
"""

from pydantic import BaseModel, ConfigDict, Field

from domain import EnvelopeHeader, EventEnvelope, InventoryReservation, Money, OrderItem


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True)


class Recording(_Request):
    """A step that establishes a domain event. Given `record_as`, it returns the event
    sealed in that envelope, which its result then carries into the history; without it
    (the frozen builds before, tests/replay/) it returns the bare event."""

    record_as: EnvelopeHeader | None = None


class ValidateOrder(Recording):
    order_id: str
    items: tuple[OrderItem, ...]
    total_amount: Money
    # OrderReceived, recorded by the workflow as the order arrived: returned with
    # OrderValidated, so validation's result carries the order's first two. Sent with
    # `record_as`; without it validation returns the bare OrderValidated.
    received: EventEnvelope | None = None


class ProcessPayment(Recording):
    order_id: str
    customer_id: str
    amount: Money
    idempotency_key: str


class ReserveInventory(Recording):
    order_id: str
    items: tuple[OrderItem, ...]
    idempotency_key: str


class FulfillOrder(Recording):
    order_id: str
    reservations: tuple[InventoryReservation, ...]
    idempotency_key: str
    # Where to ship: the order's address, sealed under its customer's key (docs/personal-data.md);
    # opened by the step, which alone needs it in clear. None: no address given.
    customer_id: str | None = Field(default=None, exclude_if=lambda value: value is None)
    deliver_to: str | None = Field(default=None, exclude_if=lambda value: value is None)


class SettlePayment(Recording):
    """Capture or void a payment that waited for approval."""

    order_id: str
    idempotency_key: str


class RefundPayment(_Request):
    order_id: str
    payment_id: str
    amount: Money
    idempotency_key: str


class ReleaseInventory(_Request):
    order_id: str
    idempotency_key: str


class ScreenForFraud(_Request):
    order_id: str
    customer_id: str
    amount: Money
