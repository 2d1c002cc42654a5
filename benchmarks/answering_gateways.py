"""Gateways, inventory, shipping and fraud screen that answer at once from memory, for
measuring what the SQLite ledger's real work costs a worker (benchmarks/volume.py's
`ledger` lever). Every order they see is paid, reserved from warehouse WH-BENCH and
shipped; nothing is kept."""

from collections.abc import Sequence
from decimal import Decimal

from activities import Charge, FraudScreening, Refund, Shipment
from domain import InventoryReservation, OrderItem, PaymentStatus, payment_status_for


class AnsweringPayments:
    async def charge(self, idempotency_key: str, customer_id: str, amount: Decimal) -> Charge:
        return Charge(payment_id=f"PAY-{idempotency_key}", amount=amount, status=payment_status_for(amount))

    async def capture(self, idempotency_key: str) -> Charge:
        return Charge(payment_id=f"PAY-{idempotency_key}", amount=Decimal(0), status=PaymentStatus.COMPLETED)

    async def void(self, idempotency_key: str) -> Charge:
        return Charge(payment_id=f"PAY-{idempotency_key}", amount=Decimal(0), status=PaymentStatus.CANCELLED)

    async def refund(self, idempotency_key: str, payment_id: str, amount: Decimal) -> Refund:
        return Refund(payment_id=payment_id, amount=amount)


class AnsweringInventory:
    async def reserve(self, idempotency_key: str, items: Sequence[OrderItem]) -> list[InventoryReservation]:
        return [
            InventoryReservation(product_id=i.product_id, quantity=i.quantity, warehouse_id="WH-BENCH") for i in items
        ]

    async def release(self, idempotency_key: str) -> list[InventoryReservation]:
        return []


class AnsweringShipping:
    async def ship(self, idempotency_key: str, reservations: Sequence[InventoryReservation]) -> Shipment:
        return Shipment(fulfillment_id=f"FUL-{idempotency_key}", tracking_number="TRK-BENCH")


class AnsweringFraudScreen:
    async def screen(self, customer_id: str, amount: Decimal) -> FraudScreening:
        return FraudScreening(passed=True)
