"""Search attributes and the real `temporal` CLI, on the dev server."""

import json

from contract import DOMAIN_EVENT_MEMO_KEY, ORDER_STATUS, ORDER_TOTAL, ORDER_VERSION
from domain import OrderStatus
from eventstore import EventStore
from tests.integration.helpers import address_of, cli_start, listed, temporal_cli, temporal_cli_json
from tests.orders import ORDER_001, ORDER_002, ORDER_003, one_line_order, renamed
from tests.waiting import wait_until


async def test_search_attributes_are_set_and_listable_and_the_memo_holds_no_event(dev_shop, dev_env, unique):
    client = dev_env.client
    orders = [renamed(order, unique, customer_id=f"CUSTOMER-{unique}") for order in (ORDER_001, ORDER_002, ORDER_003)]
    for order in orders:
        await (await dev_shop.start(order)).result()

    fulfilled = await listed(client, f"CustomerId='CUSTOMER-{unique}' AND OrderStatus='Fulfilled'", 2)
    assert sorted(execution.id for execution in fulfilled) == [
        f"order-{orders[0].order_id}",
        f"order-{orders[1].order_id}",
    ]
    failed = await listed(client, f"CustomerId='CUSTOMER-{unique}' AND OrderStatus='ValidationFailed'", 1)
    assert [execution.id for execution in failed] == [f"order-{orders[2].order_id}"]
    large = await listed(client, f"CustomerId='CUSTOMER-{unique}' AND OrderTotal > 10000", 1)
    assert large[0].typed_search_attributes[ORDER_TOTAL] == 25000.0
    assert large[0].typed_search_attributes[ORDER_STATUS] == "Fulfilled"

    # Where the order ended: its last event's version, published with its status.
    assert failed[0].typed_search_attributes[ORDER_VERSION] == 2
    assert DOMAIN_EVENT_MEMO_KEY not in await failed[0].memo(), "events live in step results, not the memo"


async def test_a_plain_json_start_through_the_real_cli_runs_to_fulfilled(dev_shop, dev_env, unique):
    address = address_of(dev_env)
    order_id = f"CLI-{unique}"
    plain_json = json.dumps(
        {
            "order_id": order_id,
            "customer_id": "CUSTOMER-CLI",
            "total_amount": 150.50,
            "items": [{"product_id": "PROD-001", "quantity": 2, "unit_price": 75.25}],
        }
    )
    await cli_start(address, dev_shop.task_queue, f"order-{order_id}", plain_json)
    result = await dev_env.client.get_workflow_handle(f"order-{order_id}").result()
    state = await temporal_cli_json(
        address, "workflow", "query", "--workflow-id", f"order-{order_id}", "--name", "state"
    )
    events = await temporal_cli_json(
        address, "workflow", "query", "--workflow-id", f"order-{order_id}", "--name", "events"
    )
    tail = await temporal_cli_json(
        address, "workflow", "query", "--workflow-id", f"order-{order_id}", "--name", "events",
        "--input", '{"from_version": 4}',
    )  # fmt: skip
    assert result["status"] == OrderStatus.FULFILLED
    assert state["queryResult"][0]["status"] == "Fulfilled"
    assert state["queryResult"][0]["total_amount"] == "150.5"
    envelopes = events["queryResult"][0]
    assert [envelope["version"] for envelope in envelopes] == [1, 2, 3, 4, 5]
    assert [envelope["version"] for envelope in tail["queryResult"][0]] == [4, 5]


async def test_a_malformed_plain_json_start_fails_the_workflow_naming_the_field(dev_shop, dev_env, unique):
    address = address_of(dev_env)
    workflow_id = f"order-BROKEN-{unique}"
    await cli_start(
        address, dev_shop.task_queue, workflow_id, json.dumps({"order_id": f"BROKEN-{unique}", "items": "none"})
    )

    async def closed_status() -> str | None:
        described = await temporal_cli_json(address, "workflow", "describe", "--workflow-id", workflow_id)
        status = described["workflowExecutionInfo"]["status"]
        return None if status == "WORKFLOW_EXECUTION_STATUS_RUNNING" else status

    assert await wait_until(closed_status, what=f"{workflow_id} to close") == "WORKFLOW_EXECUTION_STATUS_FAILED"
    history = (await temporal_cli(address, "workflow", "show", "--workflow-id", workflow_id, "--output", "json")).stdout
    assert "WorkflowTaskFailed" not in history and "WORKFLOW_TASK_FAILED" not in history
    failure = json.loads(history)["events"][-1]["workflowExecutionFailedEventAttributes"]["failure"]
    assert "customer_id: Field required" in failure["message"]
    assert "items: Input should be a valid" in failure["message"]
    assert failure["applicationFailureInfo"]["nonRetryable"] is True


async def test_the_cli_lists_orders_waiting_for_approval(dev_shop, dev_env, unique):
    address = address_of(dev_env)
    order = one_line_order(f"BIG-{unique}", "PROD-009", 2, "30000", customer_id=f"CUSTOMER-{unique}")
    order_id = order.order_id
    await cli_start(address, dev_shop.task_queue, f"order-{order_id}", order.model_dump_json())
    await listed(dev_env.client, f"CustomerId='CUSTOMER-{unique}' AND OrderStatus='PaymentPending'", 1)
    listing = (
        await temporal_cli(
            address, "workflow", "list", "--query", f"OrderStatus='PaymentPending' AND CustomerId='CUSTOMER-{unique}'"
        )
    ).stdout
    await dev_env.client.get_workflow_handle(f"order-{order_id}").terminate("test over")
    assert f"order-{order_id}" in listing


async def test_read_all_reads_the_streams_a_visibility_query_selects(dev_shop, dev_env, unique):
    client = dev_env.client
    customer = f"CUSTOMER-ALL-{unique}"
    orders = [renamed(order, unique, customer_id=customer) for order in (ORDER_001, ORDER_002, ORDER_003)]
    for order in orders:
        await (await dev_shop.start(order)).result()
    await listed(client, f"CustomerId='{customer}' AND ExecutionStatus='Completed'", 3)

    query = f"CustomerId='{customer}' AND OrderStatus='Fulfilled'"
    fulfilled = {stream.order_id: stream async for stream in EventStore(client).read_all(query)}

    assert sorted(fulfilled) == sorted([orders[0].order_id, orders[1].order_id])
    assert all([envelope.version for envelope in stream.envelopes] == [1, 2, 3, 4, 5] for stream in fulfilled.values())
