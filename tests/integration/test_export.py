"""`orders export` on the dev server: every event of every order as JSON Lines, each line
valid against the published schema, in stream order; with a checkpoint the second run
exports only what changed since, and the two runs together are one full export."""

import asyncio
import json

import jsonschema

from client import start_order
from domain import OrderStatus
from domain.decisions import ApprovePayment
from tests.integration.helpers import orders_cli
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
        await asyncio.sleep(3)  # visibility shows the last change a moment later

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
    await asyncio.sleep(2)
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
