"""Decisions from the real `temporal` CLI and from `orders`, on the dev server.

A worker serving `orders` runs in this process with a SQLite ledger of the test's own;
the CLIs run as real processes.
"""

import json

from client import start_order
from contract import TASK_QUEUE, EventsQuery
from domain import OrderStatus
from tests.integration.helpers import address_of, cli_start, listed, orders_cli, temporal_cli, temporal_cli_json
from tests.orders import large_order, one_line_order, open_shop, wait_for_status
from workflows.order_workflow import OrderWorkflow


async def history_length(env, order_id: str) -> int:
    return len([event async for event in env.client.get_workflow_handle(f"order-{order_id}").fetch_history_events()])


async def test_a_60000_order_waits_for_approval_and_the_real_cli_approves_it_to_fulfilled(dev_env, unique, ledger):
    address = address_of(dev_env)
    order_id = f"BIG-{unique}"
    async with open_shop(dev_env, TASK_QUEUE, ledger):
        await cli_start(address, TASK_QUEUE, f"order-{order_id}", large_order(order_id).model_dump_json())
        handle = dev_env.client.get_workflow_handle(f"order-{order_id}")
        await wait_for_status(handle, OrderStatus.PAYMENT_PENDING)
        await listed(dev_env.client, f"WorkflowId='order-{order_id}' AND OrderStatus='PaymentPending'", 1)

        approved = await temporal_cli_json(
            address, "workflow", "update", "execute", "--workflow-id", f"order-{order_id}",
            "--name", "approve_payment", "--input", '{"approver": "ops-lead"}',
        )  # fmt: skip
        final = await handle.result()
        envelopes = await handle.query(OrderWorkflow.events, EventsQuery())

    assert approved["result"]["status"] == "PaymentCompleted"
    assert final["status"] == "Fulfilled"
    assert [(envelope.event_type, getattr(envelope.data, "status", None)) for envelope in envelopes] == [
        ("OrderReceived", None),
        ("OrderValidated", None),
        ("PaymentProcessed", "Pending"),
        ("PaymentProcessed", "Completed"),
        ("InventoryReserved", None),
        ("OrderFulfilled", None),
    ]
    assert envelopes[3].created_by == "ops-lead"
    assert ledger.charges(order_id) == [("Completed", "60000.00")]


async def test_an_approved_order_cancelled_in_its_window_is_refunded_once_and_its_stock_released(
    dev_env, unique, ledger
):
    address = address_of(dev_env)
    order_id = f"HOLD-{unique}"
    async with open_shop(dev_env, TASK_QUEUE, ledger):
        await cli_start(
            address,
            TASK_QUEUE,
            f"order-{order_id}",
            large_order(order_id, cancellation_window="PT1H").model_dump_json(),
        )
        handle = dev_env.client.get_workflow_handle(f"order-{order_id}")
        await wait_for_status(handle, OrderStatus.PAYMENT_PENDING)

        approved = await orders_cli(dev_env, "approve", order_id, "--approver", "ops-lead", "--json")
        await wait_for_status(handle, OrderStatus.INVENTORY_RESERVED)
        held_stock = ledger.stock("PROD-009")
        cancelled = await orders_cli(
            dev_env, "cancel", order_id, "--reason", "customer called", "--requested-by", "support", "--json"
        )
        final = await handle.result()

    assert approved.returncode == 0, approved.stderr
    assert json.loads(approved.stdout)["status"] == "PaymentCompleted"
    assert cancelled.returncode == 0, cancelled.stderr
    assert json.loads(cancelled.stdout)["status"] == "Cancelled"
    assert final["status"] == "Cancelled"
    assert final["refund_amount"] == "60000.00"
    assert held_stock == 1000 - 2
    assert ledger.stock("PROD-009") == 1000
    assert ledger.charges(order_id) == [("Completed", "60000.00")]
    assert ledger.refunds(order_id) == [("60000.00",)]


async def test_refused_decisions_name_status_and_version_and_leave_the_history_untouched(dev_env, unique, ledger):
    order = one_line_order(f"REFUSE-{unique}", "PROD-001", 1, "10.00", cancellation_window="PT1H")
    async with open_shop(dev_env, TASK_QUEUE, ledger):
        handle = await start_order(dev_env.client, order)
        await wait_for_status(handle, OrderStatus.INVENTORY_RESERVED)
        before = await history_length(dev_env, order.order_id)

        approve = await orders_cli(dev_env, "approve", order.order_id, "--approver", "ops-lead")
        stale = await orders_cli(dev_env, "cancel", order.order_id, "--reason", "x", "--expected-version", "2")
        malformed = await temporal_cli(
            address_of(dev_env), "workflow", "update", "execute", "--workflow-id", f"order-{order.order_id}",
            "--name", "cancel_order", "--input", '{"reasn": "typo"}', check=False,
        )  # fmt: skip
        after = await history_length(dev_env, order.order_id)

        cancelled = await orders_cli(dev_env, "cancel", order.order_id, "--reason", "test over")
        await handle.result()

    assert approve.returncode == 1
    assert approve.stderr.strip() == (
        f"orders approve: cannot approve payment: order {order.order_id} is InventoryReserved at version 4,"
        " not PaymentPending"
    )
    assert stale.returncode == 1
    assert (
        stale.stderr.strip()
        == f"orders cancel: stale expected_version 2: order {order.order_id} is InventoryReserved at version 4"
    )
    assert malformed.returncode != 0
    assert "reason: Field required" in malformed.stderr + malformed.stdout
    assert after == before, "a refused update writes nothing to the history"
    assert cancelled.returncode == 0, cancelled.stderr


async def test_a_decision_on_an_order_that_has_ended_is_refused_from_its_history(dev_env, unique, ledger):
    order = one_line_order(f"DONE-{unique}", "PROD-001", 1, "10.00")
    async with open_shop(dev_env, TASK_QUEUE, ledger):
        handle = await start_order(dev_env.client, order)
        await handle.result()
    before = await history_length(dev_env, order.order_id)

    approve = await orders_cli(dev_env, "approve", order.order_id, "--approver", "ops-lead")
    cancel = await orders_cli(dev_env, "cancel", order.order_id, "--reason", "too late")
    unknown = await orders_cli(dev_env, "cancel", f"NOPE-{unique}", "--reason", "x")

    assert approve.returncode == 1
    assert approve.stderr.strip().endswith(f"order {order.order_id} is Fulfilled at version 5, not PaymentPending")
    assert cancel.returncode == 1
    assert cancel.stderr.strip() == f"orders cancel: cannot cancel: order {order.order_id} is Fulfilled at version 5"
    assert unknown.returncode == 1 and f"no order 'NOPE-{unique}'" in unknown.stderr
    assert await history_length(dev_env, order.order_id) == before


async def test_a_decision_with_no_worker_running_says_so(dev_env, unique, ledger):
    order = one_line_order(f"IDLE-{unique}", "PROD-001", 1, "10.00")
    handle = await start_order(dev_env.client, order, task_queue=f"nobody-polls-{unique}")
    result = await orders_cli(dev_env, "cancel", order.order_id, "--reason", "x")
    await handle.terminate("test over")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"orders cancel: no worker is polling 'nobody-polls-{unique}': start `python worker.py` and try again"
    )
