"""One input model per activity, so fields can be added without breaking recorded histories.

Each side-effecting request carries an idempotency key derived from the workflow id:
a retried activity presents the same key and the external system returns its first answer.
"""

from pydantic import BaseModel, ConfigDict

from domain import InventoryReservation, Money, OrderItem


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True)


class ValidateOrder(_Request):
    order_id: str
    items: tuple[OrderItem, ...]
    total_amount: Money


class ProcessPayment(_Request):
    order_id: str
    customer_id: str
    amount: Money
    idempotency_key: str


class ReserveInventory(_Request):
    order_id: str
    items: tuple[OrderItem, ...]
    idempotency_key: str


class FulfillOrder(_Request):
    order_id: str
    reservations: tuple[InventoryReservation, ...]
    idempotency_key: str


class SettlePayment(_Request):
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
