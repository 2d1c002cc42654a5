"""The external systems an order touches, as small interfaces with simulated implementations.

The simulations honour idempotency keys the way a real payment gateway or warehouse
API does: the same key always gets the first answer, so a retried activity never
charges, reserves or ships twice.
"""

import uuid
import zlib
from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from domain import InventoryReservation, OrderItem, PaymentStatus, payment_status_for


class Charge(BaseModel):
    model_config = ConfigDict(frozen=True)

    payment_id: str
    amount: Decimal
    status: PaymentStatus


class Shipment(BaseModel):
    model_config = ConfigDict(frozen=True)

    fulfillment_id: str
    tracking_number: str


class PaymentGateway(Protocol):
    async def charge(self, idempotency_key: str, customer_id: str, amount: Decimal) -> Charge: ...


class Inventory(Protocol):
    async def reserve(self, idempotency_key: str, items: Sequence[OrderItem]) -> list[InventoryReservation]: ...


class Shipping(Protocol):
    async def ship(self, idempotency_key: str, reservations: Sequence[InventoryReservation]) -> Shipment: ...


class SimulatedPaymentGateway:
    """Authorises by the tutorial's amount rule: large amounts wait for manual approval."""

    def __init__(self) -> None:
        self._charges: dict[str, Charge] = {}

    async def charge(self, idempotency_key: str, customer_id: str, amount: Decimal) -> Charge:
        if idempotency_key not in self._charges:
            self._charges[idempotency_key] = Charge(
                payment_id=f"PAY-{uuid.uuid4()}", amount=amount, status=payment_status_for(amount)
            )
        return self._charges[idempotency_key]

    @property
    def charges(self) -> dict[str, Charge]:
        return dict(self._charges)


class SimulatedInventory:
    """Every product is stocked in one of a few warehouses, always the same one."""

    WAREHOUSES = ("WH-EAST-1", "WH-WEST-1", "WH-CENTRAL-1")

    def __init__(self) -> None:
        self._reservations: dict[str, list[InventoryReservation]] = {}

    async def reserve(self, idempotency_key: str, items: Sequence[OrderItem]) -> list[InventoryReservation]:
        if idempotency_key not in self._reservations:
            self._reservations[idempotency_key] = [
                InventoryReservation(
                    product_id=item.product_id,
                    quantity=item.quantity,
                    warehouse_id=self.warehouse_for(item.product_id),
                )
                for item in items
            ]
        return list(self._reservations[idempotency_key])

    def warehouse_for(self, product_id: str) -> str:
        # crc32, not hash(): Python salts str hashes per process.
        return self.WAREHOUSES[zlib.crc32(product_id.encode()) % len(self.WAREHOUSES)]


class SimulatedShipping:
    def __init__(self) -> None:
        self._shipments: dict[str, Shipment] = {}

    async def ship(self, idempotency_key: str, reservations: Sequence[InventoryReservation]) -> Shipment:
        if idempotency_key not in self._shipments:
            self._shipments[idempotency_key] = Shipment(
                fulfillment_id=f"FUL-{uuid.uuid4()}",
                tracking_number=f"TRK{uuid.uuid4().int % 10**12:012d}",
            )
        return self._shipments[idempotency_key]
