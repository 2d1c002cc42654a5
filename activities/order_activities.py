"""The four steps of an order. Each returns the domain event it establishes; the
workflow puts that event in its envelope and records it."""

from temporalio import activity

from activities.gateways import (
    Inventory,
    PaymentGateway,
    Shipping,
    SimulatedInventory,
    SimulatedPaymentGateway,
    SimulatedShipping,
)
from activities.requests import FulfillOrder, ProcessPayment, ReserveInventory, ValidateOrder
from domain import InventoryReserved, OrderFulfilled, OrderValidated, PaymentProcessed
from domain import validate_order as check_business_rules


class OrderActivities:
    def __init__(
        self,
        payments: PaymentGateway | None = None,
        inventory: Inventory | None = None,
        shipping: Shipping | None = None,
    ) -> None:
        self.payments = payments or SimulatedPaymentGateway()
        self.inventory = inventory or SimulatedInventory()
        self.shipping = shipping or SimulatedShipping()

    @activity.defn(name="validate_order")
    async def validate_order(self, request: ValidateOrder) -> OrderValidated:
        result = check_business_rules(request.items, request.total_amount)
        activity.logger.info("Order %s valid=%s errors=%s", request.order_id, result.is_valid, result.errors)
        return OrderValidated(order_id=request.order_id, validation_result=result)

    @activity.defn(name="process_payment")
    async def process_payment(self, request: ProcessPayment) -> PaymentProcessed:
        charge = await self.payments.charge(request.idempotency_key, request.customer_id, request.amount)
        activity.logger.info("Payment %s for order %s: %s", charge.payment_id, request.order_id, charge.status)
        return PaymentProcessed(
            order_id=request.order_id, payment_id=charge.payment_id, amount=charge.amount, status=charge.status
        )

    @activity.defn(name="reserve_inventory")
    async def reserve_inventory(self, request: ReserveInventory) -> InventoryReserved:
        reservations = await self.inventory.reserve(request.idempotency_key, request.items)
        return InventoryReserved(order_id=request.order_id, reservations=tuple(reservations))

    @activity.defn(name="fulfill_order")
    async def fulfill_order(self, request: FulfillOrder) -> OrderFulfilled:
        shipment = await self.shipping.ship(request.idempotency_key, request.reservations)
        return OrderFulfilled(
            order_id=request.order_id,
            fulfillment_id=shipment.fulfillment_id,
            tracking_number=shipment.tracking_number,
        )

    def all(self) -> list:
        """The activity callables to register on a worker."""
        return [self.validate_order, self.process_payment, self.reserve_inventory, self.fulfill_order]
