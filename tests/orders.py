"""Orders, a shop to place them in, and what the ledger says of them: shared by the
workflow and integration tests. Production code does the work; this only wires it."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.gateways import FraudScreen, Inventory, PaymentGateway, Shipping
from activities.ledger import LedgerDatabase, LedgerFraudScreen, LedgerInventory, LedgerPaymentGateway, LedgerShipping
from activities.order_activities import OrderActivities
from client import TUTORIAL_ORDERS, load_orders, start_order
from contract import FULFILLMENT, PAYMENT, REFUND, idempotency_key, workflow_id_for
from domain import OrderInput, OrderItem, OrderState, OrderStatus
from hosting import build_worker
from tests.waiting import wait_until
from workflows.order_workflow import OrderWorkflow

ORDER_001, ORDER_002, ORDER_003 = load_orders(TUTORIAL_ORDERS)


def renamed(order: OrderInput, suffix: str, **changes: Any) -> OrderInput:
    return order.model_copy(update={"order_id": f"{order.order_id}-{suffix}", **changes})


def one_line_order(
    order_id: str, product_id: str, quantity: int, unit_price: str, total: str | None = None, **fields: Any
) -> OrderInput:
    """An order of one line whose total adds up unless `total` says otherwise."""
    price = Decimal(unit_price)
    return OrderInput(
        order_id=order_id,
        customer_id=fields.pop("customer_id", "CUSTOMER-TEST"),
        total_amount=Decimal(total) if total is not None else quantity * price,
        items=(OrderItem(product_id=product_id, quantity=quantity, unit_price=price),),
        **fields,
    )


def large_order(order_id: str, **fields: Any) -> OrderInput:
    """60,000: above the gateway's approval threshold, so its payment waits for a person."""
    return one_line_order(order_id, "PROD-009", 2, "30000.00", **fields)


def plain_order(order_id: str, **changes: Any) -> dict[str, Any]:
    """ORDER-001 as plain JSON under a new id, with `changes` applied: what any client sends."""
    return ORDER_001.model_dump(mode="json") | {"order_id": order_id} | changes


async def wait_for_status(handle: WorkflowHandle, status: OrderStatus, seconds: float = 15) -> OrderState:
    """The order's state once the `state` query says it has reached `status`."""

    async def reached() -> OrderState | None:
        state = await handle.query(OrderWorkflow.state)
        return state if state.status is status else None

    return await wait_until(reached, seconds=seconds, what=f"{handle.id} to reach {status}")


class Ledger:
    """A test's own SQLite ledger, and what it says about one order."""

    def __init__(self, path) -> None:
        self.db = LedgerDatabase(path)
        self.payments = LedgerPaymentGateway(self.db)

    def activities(
        self,
        payments: PaymentGateway | None = None,
        inventory: Inventory | None = None,
        shipping: Shipping | None = None,
        fraud_screen: FraudScreen | None = None,
    ) -> OrderActivities:
        """The real activities over this ledger, with any of its systems swapped for another."""
        return OrderActivities(
            payments or self.payments,
            inventory or LedgerInventory(self.db),
            shipping or LedgerShipping(self.db),
            fraud_screen or LedgerFraudScreen(self.db),
        )

    def close(self) -> None:
        self.db.close()

    def charges(self, order_id: str) -> list[tuple[str, str]]:
        return self.db.rows("SELECT status, amount FROM payments WHERE payment_key = ?", self._key(order_id, PAYMENT))

    def refunds(self, order_id: str) -> list[tuple[str]]:
        return self.db.rows("SELECT amount FROM refunds WHERE refund_key = ?", self._key(order_id, REFUND))

    def stock(self, product_id: str) -> int:
        return self.db.rows("SELECT COALESCE(SUM(on_hand), 0) FROM stock WHERE product_id = ?", product_id)[0][0]

    def money_held_without_goods(self) -> list[str]:
        """Payment keys of money the shop holds for an order that has not shipped: a captured
        charge with neither a shipment nor a refund, or an authorisation never settled.
        Right for an order that has closed; an open order may hold either on its way."""
        held = []
        for key, status, payment_id in self.db.rows("SELECT payment_key, status, payment_id FROM payments"):
            workflow_id = key.removesuffix(f"-{PAYMENT}")
            shipped = self.db.rows(
                "SELECT 1 FROM shipments WHERE shipment_key = ?", idempotency_key(workflow_id, FULFILLMENT)
            )
            refunded = self.db.rows("SELECT 1 FROM refunds WHERE payment_id = ?", payment_id)
            if status == "Pending" or (status == "Completed" and not shipped and not refunded):
                held.append(key)
        return held

    @staticmethod
    def _key(order_id: str, effect: str) -> str:
        return idempotency_key(workflow_id_for(order_id), effect)


@dataclass
class Shop:
    """A running worker on one test's task queue, over the test's ledger."""

    client: Client
    task_queue: str
    ledger: Ledger

    async def start(self, order: OrderInput, **options: Any) -> WorkflowHandle:
        return await start_order(self.client, order, task_queue=self.task_queue, **options)

    async def place(self, order: OrderInput) -> OrderState:
        """Start the order and wait for how it ended."""
        return await (await self.start(order)).result()


@asynccontextmanager
async def open_shop(
    env: WorkflowEnvironment, task_queue: str, ledger: Ledger, activities: OrderActivities | None = None
) -> AsyncIterator[Shop]:
    """A worker serving `task_queue` while the block runs; its activities are `activities`,
    or the real ones over `ledger`."""
    async with open_shop_of(env.client, task_queue, ledger, activities) as shop:
        yield shop


@asynccontextmanager
async def open_shop_of(
    client: Client, task_queue: str, ledger: Ledger, activities: OrderActivities | None = None
) -> AsyncIterator[Shop]:
    """`open_shop` with a client of its own (another namespace's, say)."""
    async with build_worker(client, task_queue, activities=activities or ledger.activities()):
        yield Shop(client, task_queue, ledger)
