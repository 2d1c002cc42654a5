"""Hostile and careless clients through the real `temporal` CLI, on the dev server.

Each input here once left an order on a failing workflow task, got it terminated by
the server (a search attribute over its size limit), or charged it and never refunded.
Sent among ordinary orders, every one must end within seconds (or wait at
PaymentPending by design), no history may hold a failed workflow task, and no closed
order may hold money without goods.
"""

import asyncio
import json

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from activities.ledger import LedgerInventory
from contract import ORDER_STATUS, OUT_OF_STOCK, STEP_FAILED
from domain import OrderStatus
from tests.integration.helpers import address_of, cli_start, temporal_cli
from tests.orders import ORDER_001, open_shop, plain_order, renamed
from tests.waiting import wait_until
from workflows.order_workflow import OrderWorkflow

MALFORMED = {
    "total-1e400": {"total_amount": "1e400"},
    "total-minus-1e400": {"total_amount": "-1e400"},
    "price-1e999999": {
        "total_amount": "1e1000000",
        "items": [{"product_id": "PROD-001", "quantity": 10, "unit_price": "1e999999"}],
    },
    "total-1e308": {"total_amount": 1e308, "items": [{"product_id": "PROD-001", "quantity": 1, "unit_price": 1e308}]},
    "customer-2049-bytes": {"customer_id": "C" * 2047 + "é"},
    "customer-700-euro-signs": {"customer_id": "€" * 700},
    "customer-of-100-kb": {"customer_id": "C" * 100_000},
}
WRONG_ENCODING = ["binary/plain", "json/protobuf"]


async def settled(handle, seconds: float = 20):
    """The order's description once it has closed or waits for approval."""

    async def closed_or_waiting():
        description = await handle.describe()
        waiting = description.typed_search_attributes.get(ORDER_STATUS) == OrderStatus.PAYMENT_PENDING.value
        return description if description.status is not WorkflowExecutionStatus.RUNNING or waiting else None

    return await wait_until(closed_or_waiting, seconds=seconds, what=f"{handle.id} to close or wait for approval")


async def test_no_client_input_leaves_an_order_stuck_terminated_or_holding_money(dev_shop, dev_env, unique, tmp_path):
    address = address_of(dev_env)
    client, task_queue, ledger = dev_shop.client, dev_shop.task_queue, dev_shop.ledger
    ordinary = {
        f"OK-{unique}": plain_order(f"OK-{unique}"),
        f"SHORT-{unique}": plain_order(
            f"SHORT-{unique}", items=[{"product_id": "PROD-404", "quantity": 1, "unit_price": "150.50"}]
        ),
        f"PENDING-{unique}": plain_order(
            f"PENDING-{unique}",
            total_amount="60000.00",
            items=[{"product_id": "PROD-009", "quantity": 2, "unit_price": "30000.00"}],
        ),
    }
    malformed = {
        f"{name.upper()}-{unique}": plain_order(f"{name.upper()}-{unique}", **changes)
        for name, changes in MALFORMED.items()
    }
    encoded = {
        f"ENC-{n}-{unique}": (plain_order(f"ENC-{n}-{unique}"), encoding) for n, encoding in enumerate(WRONG_ENCODING)
    }
    huge_product = f"HUGE-PRODUCT-{unique}"
    huge_file = tmp_path / "huge.json"
    huge_file.write_text(
        json.dumps(
            plain_order(huge_product, items=[{"product_id": "P" * 1_000_000, "quantity": 2, "unit_price": "75.25"}])
        )
    )

    for order_id, order in (ordinary | malformed).items():
        await cli_start(address, task_queue, f"order-{order_id}", json.dumps(order))
    for order_id, (order, encoding) in encoded.items():
        await cli_start(
            address, task_queue, f"order-{order_id}", json.dumps(order), "--input-meta", f"encoding={encoding}"
        )
    await temporal_cli(
        address, "workflow", "start", "--type", "OrderWorkflow", "--task-queue", task_queue,
        "--workflow-id", f"order-{huge_product}", "--input-file", str(huge_file),
    )  # fmt: skip
    every_id = [*ordinary, *malformed, *encoded, huge_product]
    handles = {order_id: client.get_workflow_handle(f"order-{order_id}") for order_id in every_id}
    outcomes = dict(zip(every_id, await asyncio.gather(*(settled(handle) for handle in handles.values())), strict=True))

    histories = {
        order_id: (
            await temporal_cli(address, "workflow", "show", "--workflow-id", handle.id, "--output", "json")
        ).stdout
        for order_id, handle in handles.items()
    }
    pending = handles[f"PENDING-{unique}"]
    await pending.execute_update("reject_payment", {"approver": "risk-team", "reason": "test over"})
    await pending.result()

    for order_id, history in histories.items():
        assert "WORKFLOW_TASK_FAILED" not in history and "WorkflowTaskFailed" not in history, order_id
        assert outcomes[order_id].status is not WorkflowExecutionStatus.TERMINATED, (
            f"{order_id} was terminated by the server"
        )
    for order_id in [*malformed, *encoded, huge_product]:
        assert outcomes[order_id].status is WorkflowExecutionStatus.FAILED, order_id
        failure = json.loads(histories[order_id])["events"][-1]["workflowExecutionFailedEventAttributes"]["failure"]
        assert failure["applicationFailureInfo"]["type"] == "MalformedOrderInput", order_id
        assert len(failure["message"]) < 1_000
    assert outcomes[f"OK-{unique}"].status is WorkflowExecutionStatus.COMPLETED
    assert outcomes[f"SHORT-{unique}"].status is WorkflowExecutionStatus.COMPLETED
    assert ledger.refunds(f"SHORT-{unique}") == [("150.50",)]
    assert outcomes[f"PENDING-{unique}"].status is WorkflowExecutionStatus.RUNNING, "waiting for approval, by design"
    assert ledger.charges(f"PENDING-{unique}") == [("Cancelled", "60000.00")], "rejected at the end: voided"
    assert ledger.money_held_without_goods() == []


class WarehouseWithAnEnormousError(LedgerInventory):
    """Fails reservations with a failure far over the server's size limit: the server
    keeps the failure but drops its message and type, so nothing can match on them."""

    async def reserve(self, idempotency_key, items):
        raise ApplicationError("no stock for " + "P" * 3_000_000, type=OUT_OF_STOCK, non_retryable=True)


async def test_a_failure_the_server_cut_down_after_the_charge_is_still_refunded(dev_env, task_queue, unique, ledger):
    order = renamed(ORDER_001, unique)
    activities = ledger.activities(inventory=WarehouseWithAnEnormousError(ledger.db))
    async with open_shop(dev_env, task_queue, ledger, activities) as shop:
        handle = await shop.start(order)
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        state = await handle.query(OrderWorkflow.state)
    assert failed.value.cause.type == STEP_FAILED
    assert failed.value.cause.message == "Stopped by a failure in reserve_inventory: Failure exceeds size limit."
    assert state.status is OrderStatus.CANCELLED
    assert state.refund_amount == ORDER_001.total_amount
    assert ledger.money_held_without_goods() == []
