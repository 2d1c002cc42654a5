"""The external systems an order touches, as small interfaces.

`activities.ledger` implements them over SQLite. Every call takes an idempotency key
derived from the workflow id, and the same key always gets the first answer.
"""

from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from domain import InventoryReservation, OrderItem, PaymentStatus, shortened


class OutOfStock(Exception):
    def __init__(self, product_id: str, wanted: int, available: int) -> None:
        # The message travels as a failure and into OrderCancelled: the id is shortened.
        super().__init__(f"Out of stock: {shortened(product_id)} (wanted {wanted}, available {available})")
        self.product_id, self.wanted, self.available = product_id, wanted, available


class PaymentNotFound(Exception):
    """A capture, void or refund of a payment the gateway never saw."""


class Charge(BaseModel):
    model_config = ConfigDict(frozen=True)

    payment_id: str
    amount: Decimal
    status: PaymentStatus


class Refund(BaseModel):
    model_config = ConfigDict(frozen=True)

    payment_id: str
    amount: Decimal


class Shipment(BaseModel):
    model_config = ConfigDict(frozen=True)

    fulfillment_id: str
    tracking_number: str


class FraudScreening(BaseModel):
    model_config = ConfigDict(frozen=True)

    passed: bool
    reason: str | None = None


class FraudScreen(Protocol):
    async def screen(self, customer_id: str, amount: Decimal) -> FraudScreening: ...


class PaymentGateway(Protocol):
    async def charge(self, idempotency_key: str, customer_id: str, amount: Decimal) -> Charge: ...

    async def capture(self, idempotency_key: str) -> Charge: ...

    async def void(self, idempotency_key: str) -> Charge: ...

    async def refund(self, idempotency_key: str, payment_id: str, amount: Decimal) -> Refund: ...


class Inventory(Protocol):
    async def reserve(self, idempotency_key: str, items: Sequence[OrderItem]) -> list[InventoryReservation]: ...

    async def release(self, idempotency_key: str) -> list[InventoryReservation]: ...


class Shipping(Protocol):
    async def ship(
        self, idempotency_key: str, reservations: Sequence[InventoryReservation], deliver_to: str | None = None
    ) -> Shipment:
        """`deliver_to`: the address in clear, which the carrier alone is given."""
        ...
