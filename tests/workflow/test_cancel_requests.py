"""Temporal's own cancel request (the Web UI's "Request Cancellation", `temporal workflow
cancel`, `handle.cancel()`) cancels an order by the same rules as `cancel_order`:
whatever step runs finishes, what was done is undone, OrderCancelled is recorded, and
only then does the workflow end as cancelled. Too late to cancel, the order goes on.
"""

import asyncio
from decimal import Decimal

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import CancelledError

from activities.ledger import LedgerPaymentGateway, LedgerShipping
from contract import EventsQuery
from domain import OrderStatus, PaymentStatus
from tests.orders import one_line_order, open_shop, wait_for_status
from workflows.order_workflow import OrderWorkflow

REASON = "Cancellation requested through Temporal"


class SlowGateway(LedgerPaymentGateway):
    """Charges take a while: long enough to be asked to cancel meanwhile."""

    def __init__(self, db) -> None:
        super().__init__(db)
        self.charging = asyncio.Event()

    async def charge(self, idempotency_key, customer_id, amount):
        self.charging.set()
        await asyncio.sleep(1)
        return await super().charge(idempotency_key, customer_id, amount)


class SlowCarrier(LedgerShipping):
    def __init__(self, db) -> None:
        super().__init__(db)
        self.shipping = asyncio.Event()

    async def ship(self, idempotency_key, reservations):
        self.shipping.set()
        await asyncio.sleep(1)
        return await super().ship(idempotency_key, reservations)


async def cancelled_outcome(handle):
    with pytest.raises(WorkflowFailureError) as ended:
        await handle.result()
    assert isinstance(ended.value.cause, CancelledError)
    assert (await handle.describe()).status is WorkflowExecutionStatus.CANCELED
    return await handle.query(OrderWorkflow.state), await handle.query(OrderWorkflow.events, EventsQuery())


async def test_a_cancel_request_while_held_releases_the_stock_and_refunds(shop, unique, ledger):
    order = one_line_order(f"HELD-{unique}", "PROD-001", 2, "10.00", cancellation_window="PT1H")
    handle = await shop.start(order)
    await wait_for_status(handle, OrderStatus.INVENTORY_RESERVED)
    await handle.cancel()
    state, envelopes = await cancelled_outcome(handle)

    assert state.status is OrderStatus.CANCELLED
    assert (state.cancellation_reason, state.refund_amount) == (REASON, Decimal("20.00"))
    assert envelopes[-1].event_type == "OrderCancelled" and envelopes[-1].created_by == "OrderWorkflow"
    assert ledger.stock("PROD-001") == 1000
    assert ledger.refunds(order.order_id) == [("20.00",)]
    assert ledger.money_held_without_goods() == []


async def test_a_cancel_request_while_charging_lets_the_charge_finish_then_refunds_it(
    time_skipping_env, task_queue, unique, ledger
):
    gateway = SlowGateway(ledger.db)
    order = one_line_order(f"CHARGING-{unique}", "PROD-001", 1, "10.00")
    async with open_shop(time_skipping_env, task_queue, ledger, ledger.activities(payments=gateway)) as shop:
        handle = await shop.start(order)
        await gateway.charging.wait()
        await handle.cancel()
        state, envelopes = await cancelled_outcome(handle)

    assert [envelope.event_type for envelope in envelopes][-2:] == ["PaymentProcessed", "OrderCancelled"]
    assert state.refund_amount == Decimal("10.00")
    assert ledger.charges(order.order_id) == [("Completed", "10.00")]
    assert ledger.refunds(order.order_id) == [("10.00",)]
    assert ledger.money_held_without_goods() == []


async def test_a_cancel_request_while_waiting_for_approval_voids_the_authorisation(shop, unique, ledger):
    order = one_line_order(f"PENDING-{unique}", "PROD-009", 2, "30000.00")
    handle = await shop.start(order)
    await wait_for_status(handle, OrderStatus.PAYMENT_PENDING)
    await handle.cancel()
    state, _ = await cancelled_outcome(handle)

    assert state.payment_status is PaymentStatus.CANCELLED
    assert ledger.charges(order.order_id) == [("Cancelled", "60000.00")]
    assert ledger.money_held_without_goods() == []


async def test_a_cancel_request_once_shipping_started_is_too_late_and_the_order_is_fulfilled(
    time_skipping_env, task_queue, unique, ledger
):
    carrier = SlowCarrier(ledger.db)
    order = one_line_order(f"SHIPPING-{unique}", "PROD-001", 1, "10.00")
    async with open_shop(time_skipping_env, task_queue, ledger, ledger.activities(shipping=carrier)) as shop:
        handle = await shop.start(order)
        await carrier.shipping.wait()
        await handle.cancel()
        final = await handle.result()

    assert final.status is OrderStatus.FULFILLED
    assert (await handle.describe()).status is WorkflowExecutionStatus.COMPLETED
    assert ledger.refunds(order.order_id) == []
