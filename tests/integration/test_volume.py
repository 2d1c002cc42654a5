"""The starter and the worker at volume, as real processes on the dev server: a mixed
file of orders in JSON Lines, its summary and exit code; the same file again, processing
nothing twice; and a worker of several processes. Timings are the benchmark's business
(benchmarks/volume.py), never a test's."""

import asyncio
import json
import signal
import sqlite3
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError

import starter
from client import Outcome, Run, follow, start_order
from contract import TASK_QUEUE, WORKFLOW_TYPE, workflow_id_for
from domain import OrderStatus
from tests.commands import run_here, starter_in_process
from tests.integration.helpers import address_of, read_until, spawn_script
from tests.orders import Ledger, one_line_order, open_shop
from tests.waiting import wait_until


def mixed_orders(unique: str) -> list[dict]:
    fulfilled = [one_line_order(f"MIX-{unique}-{n}", "PROD-001", 1, "10.00") for n in range(3)]
    invalid = one_line_order(f"MIX-{unique}-INVALID", "PROD-001", 0, "10.00")
    short = one_line_order(f"MIX-{unique}-SHORT", "PROD-404", 1, "10.00")
    waiting = one_line_order(f"MIX-{unique}-BIG", "PROD-009", 2, "30000.00")
    broken = one_line_order(f"MIX-{unique}-BROKEN", "PROD-001", 1, "10.00")
    return [order.model_dump(mode="json") for order in [*fulfilled, invalid, short, waiting, broken]]


async def test_a_mixed_file_in_json_lines_ends_in_a_summary_and_nothing_is_processed_twice(dev_env, tmp_path, unique):
    orders = mixed_orders(unique)
    orders_file = tmp_path / "orders.jsonl"
    orders_file.write_text("".join(json.dumps(order) + "\n" for order in orders))
    # One order id is taken already, by a start that failed: the starter must report it.
    async with open_shop(dev_env, f"elsewhere-{unique}", Ledger(tmp_path / "elsewhere.sqlite")) as elsewhere:
        broken = await elsewhere.client.start_workflow(
            WORKFLOW_TYPE,
            {**orders[-1], "order_id": "SOMEONE-ELSE"},
            id=workflow_id_for(orders[-1]["order_id"]),
            task_queue=elsewhere.task_queue,
        )
        with pytest.raises(WorkflowFailureError):
            await broken.result()
    env = {"TEMPORAL_ADDRESS": address_of(dev_env), "ORDERS_DATA_DIR": str(tmp_path / "data")}
    # --worker-here: a worker another test killed outright may still look alive on `orders`.
    starting = ["--file", str(orders_file), "--no-wait", "--worker-here"]

    first = await starter_in_process(env, *starting)
    ledger = Ledger(tmp_path / "data" / "ledger.sqlite")
    charges = ledger.db.rows("SELECT payment_key, status FROM payments ORDER BY payment_key")
    second = await starter_in_process(env, *starting, "--json")

    assert first.returncode == 1, first.stdout + first.stderr  # one order failed
    out = first.stdout
    assert "7 order(s) in" in out
    for outcome, count in [("Fulfilled", 3), ("ValidationFailed", 1), ("Cancelled", 1), ("Failed", 1)]:
        assert any(line.split()[:-1] == [outcome, str(count)] for line in out.splitlines()), (outcome, out)
    assert any(line.split()[:5] == ["Waiting", "for", "approval", "1", "60000.00"] for line in out.splitlines())
    assert f"  MIX-{unique}-BIG\n" in out
    assert f"  MIX-{unique}-BROKEN: Malformed order input: workflow id" in out
    assert f"MIX-{unique}-0: Fulfilled\n" in out, "each order's detail, for a small run"
    reasons = out.split("Why orders did not ship:\n")[1].split("\n\n")[0].splitlines()
    assert len(reasons) == 2 and all(line.split()[0] == "1" for line in reasons), out
    assert any("PROD-404" in line for line in reasons), "the short order's reason, in its event's words"
    assert "Look next: orders report" in out
    assert "orders: 7/7 started, 7 settled" in first.stderr, "plain progress lines without a terminal"

    assert second.returncode == 1
    figures = json.loads(second.stdout)
    assert figures["already_existed"] == 7
    assert figures["by_outcome"]["Fulfilled"] == {"orders": 3, "amount": "30.00"}
    assert sum(figures["not_shipped_because"].values()) == 2
    assert ledger.db.rows("SELECT payment_key, status FROM payments ORDER BY payment_key") == charges, "charged once"
    await dev_env.client.get_workflow_handle(workflow_id_for(f"MIX-{unique}-BIG")).terminate("test over")


async def test_the_starter_keeps_a_bounded_number_of_orders_in_flight(dev_env, tmp_path, unique, monkeypatch):
    """The next order starts as an earlier one settles, so ten thousand orders in a file
    never mean ten thousand workflows crowding the workers at once."""
    orders = [one_line_order(f"FLIGHT-{unique}-{n}", "PROD-001", 1, "10.00") for n in range(12)]
    run = Run({order.order_id: Outcome(order) for order in orders})
    most_in_flight = 0

    def on_change() -> None:
        nonlocal most_in_flight
        most_in_flight = max(most_in_flight, run.started - run.settled)

    run.on_change = on_change
    async with open_shop(dev_env, TASK_QUEUE, Ledger(tmp_path / "ledger.sqlite")):
        await follow(dev_env.client, orders, run, eager=False, in_flight=3)

    assert [outcome.kind for outcome in run.outcomes.values()] == ["Fulfilled"] * 12
    assert most_in_flight == 3


def test_a_malformed_line_of_json_lines_is_named_and_nothing_starts(tmp_path):
    orders_file = tmp_path / "orders.jsonl"
    good = json.dumps(one_line_order("X-1", "PROD-001", 1, "10.00").model_dump(mode="json"))
    orders_file.write_text(f"{good}\n{{not json\n")
    result = run_here(starter.main, {"TEMPORAL_ADDRESS": "127.0.0.1:1"}, "--file", str(orders_file))
    assert result.returncode == 2
    assert f"{orders_file}: line 2: not valid JSON" in result.stderr
    assert "No order was started." in result.stderr


async def test_worker_processes_serve_together_and_stop_together(dev_env, tmp_path, unique):
    env = {"TEMPORAL_ADDRESS": address_of(dev_env), "ORDERS_DATA_DIR": str(tmp_path)}
    worker = spawn_script("worker.py", "--processes", "2", env=env)
    try:
        await read_until(worker, "with 2 process(es)")
        ours = {worker.pid, *_children(worker.pid)}
        running = await wait_until(lambda: _running(dev_env.client, ours), what="both processes to serve `orders`")
        orders = [one_line_order(f"PROC-{unique}-{n}", "PROD-001", 1, "10.00") for n in range(10)]
        handles = [await start_order(dev_env.client, order) for order in orders]
        results = await asyncio.gather(*(handle.result() for handle in handles))
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 60) == 0
    finally:
        if worker.poll() is None:
            worker.kill()  # the other process follows within a second
    assert len(ours) == 2 and running == ours
    assert {result.status for result in results} == {OrderStatus.FULFILLED}
    assert not any(_alive(pid) for pid in ours), "no worker process is left behind"


async def test_worker_processes_wait_for_a_ledger_another_writer_holds_and_nothing_fails(dev_env, tmp_path, unique):
    """Several worker processes share the ledger's SQLite file. While another writer holds
    it, their activities wait for it (busy timeout, 30 s) and go on: a busy ledger is never
    a business failure, and no activity attempt fails."""
    env = {"TEMPORAL_ADDRESS": address_of(dev_env), "ORDERS_DATA_DIR": str(tmp_path)}
    worker = spawn_script("worker.py", "--processes", "2", env=env)
    other_writer = sqlite3.connect(tmp_path / "ledger.sqlite", isolation_level=None)
    try:
        await read_until(worker, "with 2 process(es)")
        ours = {worker.pid, *_children(worker.pid)}
        await wait_until(lambda: _running(dev_env.client, ours), what="both processes to serve `orders`")
        other_writer.execute("BEGIN IMMEDIATE")  # the write lock, held
        orders = [one_line_order(f"LOCK-{unique}-{n}", f"PROD-00{1 + n % 8}", 1, "10.00") for n in range(40)]
        handles = [await start_order(dev_env.client, order) for order in orders]
        await asyncio.sleep(3)
        ended_while_locked = [h.id for h in handles if (await h.describe()).status != WorkflowExecutionStatus.RUNNING]
        other_writer.execute("COMMIT")
        results = await asyncio.gather(*(handle.result() for handle in handles))
        failed_attempts = [
            (handle.id, event.event_type)
            for handle in handles
            async for event in handle.fetch_history_events()
            if event.event_type
            in (EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED, EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT)
        ]
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 60) == 0
    finally:
        other_writer.close()
        if worker.poll() is None:
            worker.kill()
    assert ended_while_locked == [], "the lock held every order at its first write"
    assert {result.status for result in results} == {OrderStatus.FULFILLED}
    assert failed_attempts == []


async def test_the_other_worker_processes_stop_when_the_first_is_killed_outright(dev_env, tmp_path):
    env = {"TEMPORAL_ADDRESS": address_of(dev_env), "ORDERS_DATA_DIR": str(tmp_path)}
    worker = spawn_script("worker.py", "--processes", "2", env=env)
    try:
        await read_until(worker, "with 2 process(es)")
        other = _children(worker.pid)
        assert len(other) == 1
        await wait_until(lambda: _running(dev_env.client, other), what="the other process to serve `orders`")
    finally:
        worker.kill()  # SIGKILL: no chance to stop the other in order
        worker.wait()
    assert _alive(*other)

    async def stopped() -> bool:
        return not _alive(*other)

    await wait_until(stopped, what="the other process to stop by itself")


def _alive(pid: int) -> bool:
    """Running, and not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _children(pid: int) -> set[int]:
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


async def _running(client, pids: set[int]) -> set[int] | None:
    """`pids` once each has polled `orders` for workflow tasks. (Pollers, not the workers'
    heartbeats: the dev server's ListWorkers now and then leaves out a running worker.)"""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=TASK_QUEUE),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    polling = {int(poller.identity.split("@")[0]) for poller in response.pollers}
    return pids if pids <= polling else None
