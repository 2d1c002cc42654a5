"""Orders and helpers shared by the workflow and integration tests."""

import asyncio
from decimal import Decimal

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from activities.ledger import LedgerDatabase, SqliteFraudScreen, SqliteInventory, SqlitePaymentGateway, SqliteShipping
from activities.order_activities import OrderActivities
from domain import EventEnvelope, OrderInput, OrderItem, OrderState, OrderStatus
from starter import TUTORIAL_ORDERS, parse_orders
from workflows.contract import DOMAIN_EVENT_MEMO_KEY, workflow_id_for
from workflows.order_workflow import OrderWorkflow

ORDER_001, ORDER_002, ORDER_003 = parse_orders(TUTORIAL_ORDERS, "tutorial orders")


def renamed(order: OrderInput, suffix: str, **changes) -> OrderInput:
    return order.model_copy(update={"order_id": f"{order.order_id}-{suffix}", **changes})


def one_line_order(order_id: str, product_id: str, quantity: int, unit_price: str, total: str | None = None, **fields) -> OrderInput:
    """An order of one line whose total adds up unless `total` says otherwise."""
    price = Decimal(unit_price)
    return OrderInput(
        order_id=order_id,
        customer_id=fields.pop("customer_id", "CUSTOMER-TEST"),
        total_amount=Decimal(total) if total is not None else quantity * price,
        items=(OrderItem(product_id=product_id, quantity=quantity, unit_price=price),),
        **fields,
    )


async def start_order(client: Client, order: OrderInput, task_queue: str, **options) -> WorkflowHandle:
    return await client.start_workflow(
        OrderWorkflow.run, order, id=workflow_id_for(order.order_id), task_queue=task_queue, result_type=OrderState, **options
    )


async def recorded_envelopes(client: Client, workflow_id: str) -> list[EventEnvelope]:
    """The envelopes the workflow wrote into its history, one per WorkflowPropertiesModified event."""
    converter = client.data_converter.payload_converter
    envelopes = []
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
            fields = event.workflow_properties_modified_event_attributes.upserted_memo.fields
            if DOMAIN_EVENT_MEMO_KEY in fields:
                envelopes.append(converter.from_payload(fields[DOMAIN_EVENT_MEMO_KEY], EventEnvelope))
    return envelopes




async def wait_for_status(handle: WorkflowHandle, status: OrderStatus, seconds: float = 15) -> OrderState:
    """Poll the `state` query until the order reaches `status`."""
    for _ in range(int(seconds / 0.05)):
        try:
            state = await handle.query(OrderWorkflow.state)
            if state.status is status:
                return state
        except Exception:  # noqa: BLE001 - the first workflow task may not have run yet
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id} never reached {status}")


class Ledger:
    """A test's own SQLite ledger, and what it says about one order."""

    def __init__(self, path) -> None:
        self.db = LedgerDatabase(path)
        self.payments = SqlitePaymentGateway(self.db)

    def activities(self, payments=None, inventory=None, shipping=None) -> OrderActivities:
        return OrderActivities(
            payments or self.payments,
            inventory or SqliteInventory(self.db),
            shipping or SqliteShipping(self.db),
            SqliteFraudScreen(self.db),
        )

    def money_held_without_goods(self) -> list[str]:
        """Payment keys of money the shop holds for an order that has not shipped: a captured
        charge with neither a shipment nor a refund, or an authorisation never settled.
        Right for an order that has closed; an open order may hold either on its way."""
        return [
            key
            for (key,) in self.db.rows(
                """SELECT payment_key FROM payments p
                   WHERE p.status = 'Pending'
                      OR (p.status = 'Completed'
                          AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.payment_id = p.payment_id)
                          AND NOT EXISTS (SELECT 1 FROM shipments s
                                          WHERE s.shipment_key = substr(p.payment_key, 1, length(p.payment_key) - 8) || '-fulfillment'))"""
            )
        ]

    def charges(self, order_id: str) -> list[tuple[str, str]]:
        return self.db.rows("SELECT status, amount FROM payments WHERE payment_key = ?", f"order-{order_id}-payment")

    def refunds(self, order_id: str) -> list[tuple[str]]:
        return self.db.rows("SELECT amount FROM refunds WHERE refund_key = ?", f"order-{order_id}-refund")

    def stock(self, product_id: str) -> int:
        return self.db.rows("SELECT COALESCE(SUM(on_hand), 0) FROM stock WHERE product_id = ?", product_id)[0][0]
