"""`orders export` on the dev server: every event of every order as JSON Lines, each line
valid against the published schema, in stream order; with a checkpoint the second run
exports only what changed since, and the two runs together are one full export."""

import json
import sqlite3

import jsonschema

from client import start_order
from domain import OrderStatus
from domain.decisions import ApprovePayment
from tests.commands import orders_in_process
from tests.integration.helpers import listed, orders_cli
from tests.orders import large_order, one_line_order, open_shop, wait_for_status
from workflows.order_workflow import OrderWorkflow


def lines_of(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def export(env, query: str, checkpoint, output):
    return await orders_cli(env, "export", "--query", query, "--checkpoint", str(checkpoint), "--output", str(output))


def keyed(lines: list[dict]) -> dict[tuple[str, int], dict]:
    return {(line["stream_id"], line["version"]): line for line in lines}


async def test_export_twice_with_a_checkpoint_is_one_full_export_and_each_line_is_valid(
    dev_env, ledger, tmp_path, unique
):
    query = f"WorkflowId STARTS_WITH 'order-EXP-{unique}-'"
    checkpoint = tmp_path / "export.checkpoint"
    first, second, full = tmp_path / "first.jsonl", tmp_path / "second.jsonl", tmp_path / "full.jsonl"
    async with open_shop(dev_env, f"export-{unique}", ledger) as shop:
        for n in range(5):
            await shop.place(one_line_order(f"EXP-{unique}-{n}", "PROD-001", 1, "10.00"))
        waiting = await start_order(dev_env.client, large_order(f"EXP-{unique}-BIG"), task_queue=shop.task_queue)
        await wait_for_status(waiting, OrderStatus.PAYMENT_PENDING, seconds=60)

        ran = await orders_cli(
            dev_env, "export", "--query", query, "--checkpoint", str(checkpoint), "--output", str(first)
        )
        assert ran.returncode == 0, ran.stderr
        assert "of 6 order(s)" in ran.stderr, ran.stderr

        # Two new orders, and the waiting one approved: the next run holds only these.
        for n in range(5, 7):
            await shop.place(one_line_order(f"EXP-{unique}-{n}", "PROD-001", 1, "10.00"))
        await waiting.execute_update(OrderWorkflow.approve_payment, ApprovePayment(approver="finance"))
        await waiting.result()
        # Visibility shows the last change a moment later: the export lists it from there.
        await listed(dev_env.client, f"{query} AND ExecutionStatus = 'Completed'", 8)

    again = await orders_cli(
        dev_env, "export", "--query", query, "--checkpoint", str(checkpoint), "--output", str(second)
    )
    assert again.returncode == 0, again.stderr
    everything = await orders_cli(dev_env, "export", "--query", query, "--output", str(full))
    assert everything.returncode == 0, everything.stderr

    earlier, later, whole = lines_of(first), lines_of(second), lines_of(full)
    assert {line["stream_id"] for line in later} == {f"EXP-{unique}-5", f"EXP-{unique}-6", f"EXP-{unique}-BIG"}
    assert "of 3 order(s)" in again.stderr, again.stderr
    big_later = [line["version"] for line in later if line["stream_id"] == f"EXP-{unique}-BIG"]
    assert min(big_later) > max(line["version"] for line in earlier if line["stream_id"] == f"EXP-{unique}-BIG")
    # Together, one full export: no event twice, none missing.
    assert len(earlier) + len(later) == len(whole)
    assert keyed(earlier) | keyed(later) == keyed(whole)
    # In stream order per order; each line valid against the published schema.
    for stream_id in {line["stream_id"] for line in whole}:
        versions = [line["version"] for line in whole if line["stream_id"] == stream_id]
        assert versions == list(range(1, len(versions) + 1))
    schema = json.loads((await orders_cli(dev_env, "export", "--schema")).stdout)
    validator = jsonschema.Draft202012Validator(schema)
    for line in whole:
        validator.validate(line)


async def test_export_with_nothing_changed_writes_nothing_and_reads_no_history(dev_env, ledger, tmp_path, unique):
    query = f"WorkflowId STARTS_WITH 'order-QUIET-{unique}-'"
    checkpoint = tmp_path / "export.checkpoint"
    async with open_shop(dev_env, f"quiet-{unique}", ledger) as shop:
        for n in range(3):
            await shop.place(one_line_order(f"QUIET-{unique}-{n}", "PROD-001", 1, "10.00"))
    await listed(dev_env.client, f"{query} AND ExecutionStatus = 'Completed'", 3)
    first = await orders_cli(
        dev_env, "export", "--query", query, "--checkpoint", str(checkpoint), "--output", str(tmp_path / "a.jsonl")
    )
    assert first.returncode == 0, first.stderr
    second = await orders_cli(
        dev_env, "export", "--query", query, "--checkpoint", str(checkpoint), "--output", str(tmp_path / "b.jsonl")
    )
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "b.jsonl").read_text() == ""
    assert "Exported 0 event(s) of 0 order(s)" in second.stderr and "3 unchanged" in second.stderr, second.stderr


async def test_a_checkpoint_is_bound_to_its_query_and_refused_with_another_naming_both(
    own_shop, own_settings, tmp_path
):
    await own_shop.place(one_line_order("BOUND-1", "PROD-001", 1, "10.00"))
    checkpoint, first_query = tmp_path / "bound.checkpoint", "WorkflowId STARTS_WITH 'order-BOUND-'"
    made = await orders_in_process(own_settings, "export", "--query", first_query, "--checkpoint", str(checkpoint))
    assert made.returncode == 0, made.stderr
    before = checkpoint.read_bytes()
    for other in (("--query", "WorkflowId STARTS_WITH 'order-NEW-'"), ()):
        refused = await orders_in_process(own_settings, "export", *other, "--checkpoint", str(checkpoint))
        assert refused.returncode == 2
        (line,) = refused.stderr.splitlines()
        assert first_query in line and (other[1] if other else "every order") in line, line
        assert refused.stdout == "" and checkpoint.read_bytes() == before


async def test_a_checkpoint_made_before_checkpoints_were_bound_is_bound_to_the_whole_shop(
    own_shop, own_settings, tmp_path
):
    await own_shop.place(one_line_order("OLD-1", "PROD-001", 1, "10.00"))
    checkpoint = tmp_path / "old.checkpoint"
    with sqlite3.connect(checkpoint) as old:  # as an export before this change left it: no query, no runs
        old.execute(
            "CREATE TABLE exported (order_id TEXT PRIMARY KEY, version INTEGER NOT NULL, closed INTEGER NOT NULL)"
        )
        old.execute("CREATE TABLE listed (id INTEGER PRIMARY KEY CHECK (id = 1), at TEXT)")
        old.execute("INSERT INTO listed (id, at) VALUES (1, NULL)")
    selected = await orders_in_process(
        own_settings, "export", "--query", "OrderStatus='Fulfilled'", "--checkpoint", str(checkpoint)
    )
    assert selected.returncode == 2 and "every order (no --query)" in selected.stderr, selected.stderr
    whole = await orders_in_process(own_settings, "export", "--checkpoint", str(checkpoint))
    assert whole.returncode == 0, whole.stderr
    assert [json.loads(line)["stream_id"] for line in whole.stdout.splitlines()] == ["OLD-1"] * 5
