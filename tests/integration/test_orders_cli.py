"""The `orders` command as a user runs it, against the dev server, with no worker running."""

import json

import pytest

from contract import EventsQuery
from tests.integration.helpers import (
    address_of,
    listed,
    orders_cli,
    run_orders_command,
    temporal_cli,
    temporal_cli_json,
)
from tests.orders import ORDER_001, ORDER_002, ORDER_003, one_line_order, open_shop, renamed
from workflows.order_workflow import OrderWorkflow


async def run_orders(env, task_queue, ledger, *orders):
    """Run the orders with a worker, keep what the `events` query answered, then stop the worker."""
    async with open_shop(env, task_queue, ledger) as shop:
        handles = [await shop.start(order) for order in orders]
        for handle in handles:
            await handle.result()
        return [
            [envelope.model_dump(mode="json") for envelope in await handle.query(OrderWorkflow.events, EventsQuery())]
            for handle in handles
        ]


async def test_with_the_worker_stopped_orders_events_prints_what_the_events_query_returned(
    dev_env, task_queue, ledger, unique
):
    order = renamed(ORDER_001, unique)
    [queried] = await run_orders(dev_env, task_queue, ledger, order)

    result = await orders_cli(dev_env, "events", order.order_id, "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == queried
    assert [envelope["version"] for envelope in queried] == [1, 2, 3, 4, 5]

    table = await orders_cli(dev_env, "events", order.order_id, "--from", "4")
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["VERSION", "TIME", "TYPE", "CREATED", "BY", "CAUSED", "BY", "SUMMARY"]
    assert [line.split()[2] for line in lines[1:]] == ["InventoryReserved", "OrderFulfilled"]
    assert "reserve_inventory  v3" in lines[1]


async def test_with_the_worker_stopped_orders_state_travels_to_version_2(dev_env, task_queue, ledger, unique):
    order = renamed(ORDER_001, unique)
    await run_orders(dev_env, task_queue, ledger, order)

    validated = await orders_cli(dev_env, "state", order.order_id, "--version", "2", "--json")
    latest = await orders_cli(dev_env, "state", order.order_id, "--json")

    assert validated.returncode == 0, validated.stderr
    state = json.loads(validated.stdout)
    assert (state["status"], state["version"], state["payment_id"]) == ("Validated", 2, None)
    assert json.loads(latest.stdout)["status"] == "Fulfilled"


async def test_orders_events_and_state_read_a_real_cli_export_like_the_server(
    dev_env, task_queue, ledger, unique, tmp_path
):
    order = renamed(ORDER_002, unique)
    [queried] = await run_orders(dev_env, task_queue, ledger, order)
    exported = tmp_path / "history.json"
    show = await temporal_cli(
        address_of(dev_env), "workflow", "show", "--workflow-id", f"order-{order.order_id}", "--output", "json"
    )
    exported.write_text(show.stdout)

    stream = await orders_cli(dev_env, "events", str(exported), "--json")
    at_3 = await orders_cli(dev_env, "state", str(exported), "--version", "3", "--json")
    from_server = await orders_cli(dev_env, "state", order.order_id, "--version", "3", "--json")

    assert stream.returncode == 0, stream.stderr
    assert json.loads(stream.stdout) == queried
    assert json.loads(at_3.stdout) == json.loads(from_server.stdout)
    assert json.loads(at_3.stdout)["status"] == "PaymentCompleted"


async def test_orders_report_counts_the_tutorial_orders_by_status(dev_env, task_queue, ledger, unique):
    customer = f"CUSTOMER-{unique}"
    orders = [renamed(order, unique, customer_id=customer) for order in (ORDER_001, ORDER_002, ORDER_003)]
    await run_orders(dev_env, task_queue, ledger, *orders)
    await listed(dev_env.client, f"CustomerId='{customer}' AND ExecutionStatus='Completed'", 3)

    result = await orders_cli(dev_env, "report", "--json", "--query", f"CustomerId='{customer}'")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["orders"] == 3
    assert {row["status"]: (row["orders"], row["amount"]) for row in report["by_status"]} == {
        "Fulfilled": (2, "25150.50"),
        "ValidationFailed": (1, "100.00"),
    }
    assert report["awaiting_approval"] == []
    assert {row["code"]: row["orders"] for row in report["top_validation_errors"]} == {
        "no_items": 1,
        "total_mismatch": 1,
    }


async def test_orders_report_lists_orders_waiting_for_approval_and_shows_progress_over_many(dev_shop, dev_env, unique):
    customer = f"MANY-{unique}"
    pending = one_line_order(f"BIG-{unique}", "PROD-009", 2, "30000", customer_id=customer)
    invalid = [one_line_order(f"BAD-{unique}-{n}", f"P{n}", 0, "1", customer_id=customer) for n in range(21)]
    big = await dev_shop.start(pending)
    for order in invalid:
        await (await dev_shop.start(order)).result()
    await listed(dev_env.client, f"CustomerId='{customer}' AND OrderStatus='PaymentPending'", 1)
    await listed(dev_env.client, f"CustomerId='{customer}' AND OrderStatus='ValidationFailed'", 21)

    result = await orders_cli(dev_env, "report", "--query", f"CustomerId='{customer}'")
    await big.terminate("test over")

    assert result.returncode == 0, result.stderr
    progress = [line for line in result.stderr.splitlines() if line.startswith("Reading histories")]
    assert progress[-1] == "Reading histories: 22/22" and len(progress) <= 2, "a line every 5 s, not one an order"
    assert "22 order(s)" in result.stdout
    assert "Waiting for approval: 1" in result.stdout
    assert f"BIG-{unique}" in result.stdout and "60000" in result.stdout
    assert "21      zero_quantity  Item P" in result.stdout


async def test_time_travel_works_from_the_real_cli_through_the_state_at_query(dev_shop, dev_env, unique):
    order = renamed(ORDER_001, unique)
    await (await dev_shop.start(order)).result()
    answer = await temporal_cli_json(
        address_of(dev_env), "workflow", "query", "--workflow-id", f"order-{order.order_id}",
        "--name", "state_at", "--input", '{"version": 2}',
    )  # fmt: skip
    assert answer["queryResult"][0]["status"] == "Validated"
    assert answer["queryResult"][0]["version"] == 2


async def test_an_unknown_order_a_bad_version_and_a_malformed_file_each_get_one_line_and_a_failing_exit(
    dev_env, task_queue, ledger, unique, tmp_path
):
    order = renamed(ORDER_003, unique)
    await run_orders(dev_env, task_queue, ledger, order)
    not_a_history = tmp_path / "notes.json"
    not_a_history.write_text("[1, 2")

    unknown = await orders_cli(dev_env, "events", f"NOPE-{unique}")
    too_far = await orders_cli(dev_env, "state", order.order_id, "--version", "7")
    negative = await orders_cli(dev_env, "state", order.order_id, "--version", "-1")
    malformed = await orders_cli(dev_env, "events", str(not_a_history))

    for result, names in [
        (unknown, f"no order 'NOPE-{unique}'"),
        (too_far, "there is no version 7"),
        (negative, "--version: -1 is below 0"),
        (malformed, str(not_a_history)),
    ]:
        assert result.returncode != 0
        assert result.stdout == ""
        assert names in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize(
    ("arguments", "names"),
    [
        (("deploy", "B", "--ramp", "150"), "--ramp: 150 is not above 0 and below 100"),
        (("deploy", "B", "--ramp", "half"), "--ramp: 'half' is not a percentage"),
        (("archive", "--concurrency", "0"), "--concurrency: 0 is below 1"),
        (("archive", "--every", "-1"), "--every: -1 is not above 0"),
    ],
)
def test_malformed_deploy_and_archive_arguments_are_refused_in_one_line_before_anything_is_asked(arguments, names):
    result = run_orders_command(*arguments)  # pointing nowhere: nothing is reached
    assert result.returncode == 2
    assert names in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
