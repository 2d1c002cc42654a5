"""One order, one stream: an order reset from the Web UI or the CLI (`temporal workflow
reset`, real, on the dev server) is its current run for every reader, counted once.

A shop of its own: three orders, projected, exported and archived; then ZR-1 reset to its
first workflow task and ZR-2 to the task after its payment (ZR-3 left alone). Each reader
is compared with the current run by the event ids of that run: a version alone cannot tell
the runs apart."""

import asyncio
import gzip
import json
import os
import sqlite3
import subprocess
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.export.v1 import WorkflowExecution, WorkflowExecutions
from temporalio.api.history.v1 import History
from temporalio.client import Client, WorkflowHistory

from eventstore import PLAIN, Archive, SnapshotSeal
from eventstore.history import run_of
from tests.commands import orders_in_process, starter_in_process
from tests.conftest import client_in, settings_for, shop_in, take_namespace
from tests.integration.helpers import ORDERS_COMMAND, PROJECT, temporal_cli
from tests.orders import one_line_order
from tests.read_models import contents
from tests.waiting import wait_until

ORDERS = ("ZR-1", "ZR-2", "ZR-3")


@dataclass
class ResetShop:
    settings: dict[str, str]
    client: Client
    root: Path
    abandoned: dict[str, str]  # order id: the run a reset abandoned

    async def history(self, order_id: str, run_id: str | None = None) -> WorkflowHistory:
        handle = self.client.get_workflow_handle(f"order-{order_id}", run_id=run_id)
        return WorkflowHistory(handle.id, [event async for event in handle.fetch_history_events()])

    async def current_ids(self, order_id: str) -> list[str]:
        """The event ids of the order's current run, in version order."""
        return [str(e.event_id) for e in PLAIN.stream(await self.history(order_id)).envelopes]

    async def orders(self, *args: str, **settings: str):
        ran = await orders_in_process({**self.settings, **settings}, *args)
        assert "Traceback" not in ran.stderr, ran.stderr
        return ran

    async def temporal(self, *args: str) -> subprocess.CompletedProcess:
        return await temporal_cli(
            self.settings["TEMPORAL_ADDRESS"], *args, "--namespace", self.settings["TEMPORAL_NAMESPACE"]
        )


def task_after_payment(history: WorkflowHistory) -> int:
    """The event id of the WorkflowTaskCompleted that follows the payment's completion."""
    scheduled = {
        e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    paid = next(
        e.event_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
        and scheduled[e.activity_task_completed_event_attributes.scheduled_event_id] == "process_payment"
    )
    return next(
        e.event_id
        for e in history.events
        if e.event_id > paid and e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    )


@pytest.fixture(scope="module")
async def reset_shop(dev_env, tmp_path_factory) -> AsyncIterator[ResetShop]:
    namespace, root = take_namespace(), tmp_path_factory.mktemp("resets")
    settings = settings_for(dev_env, namespace, root / "data")
    shop = ResetShop(settings, client_in(dev_env, namespace), root, {})
    async with shop_in(dev_env, namespace, root / "data") as serving:
        for order_id in ORDERS:
            await serving.place(one_line_order(order_id, "PROD-001", 1, "10.00", customer_id="C-RESET"))
        for before in (
            ("projector", "--once"),
            ("export", "--checkpoint", str(root / "export.checkpoint"), "--output", str(root / "before.jsonl")),
            ("archive",),
        ):
            assert (await shop.orders(*before)).returncode == 0
        for order_id in ("ZR-1", "ZR-2"):
            shop.abandoned[order_id] = run_of((await shop.history(order_id)).events).run_id
        await shop.temporal("workflow", "reset", "--workflow-id", "order-ZR-1", "--type", "FirstWorkflowTask",
                            "--reason", "repair")  # fmt: skip
        after_payment = task_after_payment(await shop.history("ZR-2"))
        await shop.temporal("workflow", "reset", "--workflow-id", "order-ZR-2", "--event-id", str(after_payment),
                            "--reason", "repair")  # fmt: skip
        for order_id in ("ZR-1", "ZR-2"):
            await shop.client.get_workflow_handle(f"order-{order_id}").result()
        yield shop


async def test_a_reset_keeps_the_events_before_its_point_and_gives_the_rest_new_ids(reset_shop):
    abandoned = PLAIN.stream(await reset_shop.history("ZR-2", reset_shop.abandoned["ZR-2"]))
    current = PLAIN.stream(await reset_shop.history("ZR-2"))
    assert [e.version for e in current.envelopes] == [1, 2, 3, 4, 5]
    assert [e.event_id for e in current.envelopes[:3]] == [e.event_id for e in abandoned.envelopes[:3]]
    assert not {e.event_id for e in current.envelopes[3:]} & {e.event_id for e in abandoned.envelopes}
    first = PLAIN.stream(await reset_shop.history("ZR-1", reset_shop.abandoned["ZR-1"]))
    assert not {e.event_id for e in PLAIN.stream(await reset_shop.history("ZR-1")).envelopes} & {
        e.event_id for e in first.envelopes
    }
    # The gateway answered the new run's payment with the first call's: charged once.
    assert current.state_at().payment_id == abandoned.state_at().payment_id


async def test_events_state_and_replay_by_id_read_the_current_run(reset_shop):
    for order_id in ORDERS:
        events = await reset_shop.orders("events", order_id, "--json")
        assert [line["event_id"] for line in json.loads(events.stdout)] == await reset_shop.current_ids(order_id)
        assert (await reset_shop.orders("replay", order_id)).returncode == 0


async def test_report_and_reconcile_count_each_order_once(reset_shop):
    query = "WorkflowId STARTS_WITH 'order-ZR-'"
    report = json.loads((await reset_shop.orders("report", "--json", "--query", query)).stdout)
    assert report["orders"] == 3
    assert report["by_status"] == [{"status": "Fulfilled", "orders": 3, "amount": "30.00"}]
    reconciled = await reset_shop.orders("reconcile", "--json")
    assert reconciled.returncode == 0, reconciled.stdout
    assert json.loads(reconciled.stdout)["orders"] == 3


async def test_the_read_models_take_the_abandoned_runs_out_and_equal_a_rebuild(reset_shop):
    assert (await reset_shop.orders("projector", "--once")).returncode == 0
    rebuilt = reset_shop.root / "rebuilt.sqlite"
    assert (await reset_shop.orders("projector", "rebuild", ORDERS_PROJECTIONS_DSN=str(rebuilt))).returncode == 0
    live = contents(reset_shop.root / "data" / "projections.sqlite")
    assert live == contents(rebuilt)
    assert [(row[0], row[1]) for row in live["customer_totals"]] == [("C-RESET", 3)]
    summary = json.loads((await reset_shop.orders("report", "--json")).stdout)
    assert summary["orders"] == 3


async def test_an_export_after_a_reset_supersedes_what_was_replaced(reset_shop):
    root = reset_shop.root
    again = await reset_shop.orders(
        "export", "--checkpoint", str(root / "export.checkpoint"), "--output", str(root / "after.jsonl")
    )
    assert again.returncode == 0, again.stderr
    lines = [json.loads(line) for f in ("before.jsonl", "after.jsonl") for line in (root / f).read_text().splitlines()]
    superseded = [line for line in lines if line.get("record") == "superseded"]
    assert sorted((line["stream_id"], line["from_version"]) for line in superseded) == [("ZR-1", 1), ("ZR-2", 4)]

    # The consumer's rule (docs/export.md): a superseded line drops the lines of its stream
    # from its version on; what remains is exactly each order's current run.
    applied: dict[tuple[str, int], str] = {}
    for line in lines:
        if line.get("record") == "superseded":
            applied = {key: id_ for key, id_ in applied.items()
                       if key[0] != line["stream_id"] or key[1] < line["from_version"]}  # fmt: skip
        else:
            applied[(line["stream_id"], line["version"])] = line["event_id"]
    for order_id in ORDERS:
        ids = [id_ for (stream, _), id_ in sorted(applied.items()) if stream == order_id]
        assert ids == await reset_shop.current_ids(order_id)

    whole = await reset_shop.orders("export")
    keys = Counter((line["stream_id"], line["version"]) for line in map(json.loads, whole.stdout.splitlines()))
    assert len(keys) == 15 and set(keys.values()) == {1}


async def test_racing_archive_runs_keep_each_order_once_as_its_current_run(reset_shop):
    root = reset_shop.root
    archive_dir = root / "data" / "archive"
    verified = await reset_shop.orders("archive", "--verify", "--json")
    assert verified.returncode == 1
    problems = json.loads(verified.stdout)["problems"]
    assert len(problems) == 2 and all("is no longer the order's current run" in p for p in problems), problems

    racers = [
        subprocess.Popen(
            [ORDERS_COMMAND, "archive", "--json"],
            env={"PATH": os.environ["PATH"], **reset_shop.settings},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=PROJECT,
        )
        for _ in range(3)
    ]
    ran = [await asyncio.to_thread(racer.communicate) for racer in racers]
    assert all(racer.returncode == 0 for racer in racers), ran
    assert sum(json.loads(out)["replaced"] for out, _ in ran) == 2

    with sqlite3.connect(archive_dir / "orders-archive.sqlite") as db:
        rows = {row[0]: row[1:] for row in db.execute("SELECT order_id, run_id, snapshot FROM archived_orders")}
    for order_id in ORDERS:
        current = await reset_shop.history(order_id)
        run_id, snapshot = rows[order_id]
        assert run_id == run_of(current.events).run_id
        # The snapshot was replaced with the row: the current run's fold, not the abandoned one's.
        assert SnapshotSeal().opened(snapshot, order_id).differences(PLAIN.stream(current)) == []
    assert (await reset_shop.orders("archive", "--verify")).returncode == 0

    started = await starter_in_process(reset_shop.settings, "--file", str(_order_file(root)), "--json")
    run = json.loads(started.stdout)
    assert run["orders"] == 3 and run["already_existed"] == 3, started.stderr
    for outcome in run["outcomes"]:
        current = PLAIN.stream(await reset_shop.history(outcome["order_id"])).state_at()
        assert outcome["state"] == json.loads(current.model_dump_json())


async def test_cloud_history_export_files_import_each_order_once_as_its_current_run(reset_shop):
    """Export files as Temporal Cloud writes them, built with the SDK's protobuf classes from
    this shop's real histories: a reset order's abandoned run before its current one and
    after it, in other files; an order twice in one file; a workflow that is not an order;
    one file gzipped; a damaged one; the CLI's JSON history in place of one."""
    assert (await reset_shop.orders("archive")).returncode == 0  # `orders archive`'s rows, to compare with
    root = reset_shop.root / "cloud-export"
    root.mkdir()
    current = {order_id: (await reset_shop.history(order_id)).events for order_id in ORDERS}
    abandoned = {
        order_id: (await reset_shop.history(order_id, run)).events for order_id, run in reset_shop.abandoned.items()
    }
    await reset_shop.temporal("workflow", "start", "--type", "NightlyReport", "--task-queue", "nowhere",
                              "--workflow-id", "nightly-1")  # fmt: skip
    await reset_shop.temporal("workflow", "terminate", "--workflow-id", "nightly-1", "--reason", "not an order")
    nightly = [event async for event in reset_shop.client.get_workflow_handle("nightly-1").fetch_history_events()]

    def export_file(name: str, *histories, zipped: bool = False) -> Path:
        executions = WorkflowExecutions(items=[WorkflowExecution(history=History(events=h)) for h in histories])
        data = executions.SerializeToString()
        (root / name).write_bytes(gzip.compress(data) if zipped else data)
        return root / name

    first = export_file("first.pb", abandoned["ZR-1"], current["ZR-3"])
    second = export_file("second.pb.gz", current["ZR-1"], current["ZR-2"], current["ZR-3"], nightly, zipped=True)
    third = export_file("third.pb", abandoned["ZR-2"], current["ZR-2"], current["ZR-2"])
    damaged = root / "damaged.pb"
    damaged.write_bytes(first.read_bytes()[: len(first.read_bytes()) * 2 // 3])
    json_history = PROJECT / "tests" / "histories" / "golden" / "fulfilled.json"
    imported = {"ORDERS_ARCHIVE": str(root / "archive")}

    for wrong in (damaged, json_history):
        refused = await reset_shop.orders("archive", "import", str(first), str(wrong), str(second), **imported)
        lines = refused.stderr.strip().splitlines()
        assert refused.returncode == 1 and len(lines) == 1 and str(wrong) in lines[0], refused.stderr
        assert "not a Workflow History Export file" in lines[0], lines[0]
        assert not (root / "archive" / "orders-archive.sqlite").exists(), "nothing imported"

    done = await reset_shop.orders("archive", "import", str(first), str(second), str(third), "--json", **imported)
    assert done.returncode == 0, done.stderr
    counted = json.loads(done.stdout)
    assert {key: counted[key] for key in ("files", "histories", "imported", "replaced", "already")} == {
        "files": 3, "histories": 9, "imported": 4, "replaced": 1, "already": 3,
    }  # fmt: skip
    assert (counted["earlier_runs"], counted["not_orders"], counted["in_archive"]) == (1, 1, 3)

    by_import, by_archiving = Archive(root / "archive", writing=False), Archive(root.parent / "data" / "archive")
    try:
        for order_id in ORDERS:
            ours, theirs = by_import.get(order_id), by_archiving.get(order_id)
            assert ours is not None and theirs is not None
            assert ours.run_id == theirs.run_id == run_of(current[order_id]).run_id, order_id
            assert (ours.envelope_payloads, ours.history_sha256, ours.last_version, ours.run_began_at) == (
                theirs.envelope_payloads, theirs.history_sha256, theirs.last_version, theirs.run_began_at,
            )  # fmt: skip
            assert ours.stream() == theirs.stream()
            assert ours.snapshot is not None
            stream = PLAIN.stream(WorkflowHistory(f"order-{order_id}", current[order_id]))
            assert SnapshotSeal().opened(ours.snapshot, order_id).differences(stream) == []
    finally:
        by_import.close()
        by_archiving.close()
    verified = json.loads((await reset_shop.orders("archive", "--verify", "--json", **imported)).stdout)
    assert (verified["matching"], verified["problems"]) == (3, [])

    again = await reset_shop.orders("archive", "import", str(third), str(second), str(first), "--json", **imported)
    assert json.loads(again.stdout)["imported"] == 0, again.stdout


def _order_file(root: Path) -> Path:
    path = root / "again.json"
    orders = [one_line_order(o, "PROD-001", 1, "10.00", customer_id="C-RESET").model_dump(mode="json") for o in ORDERS]
    path.write_text(json.dumps(orders))
    return path


async def test_deleted_runs_after_archiving_leave_each_order_read_once_from_its_current_run(reset_shop):
    """ZR-1's current run deleted (as `temporal workflow delete` does), its abandoned run left;
    ZR-2's both runs deleted (as retention does): each read from the archive, as its current run."""
    ids = {order_id: await reset_shop.current_ids(order_id) for order_id in ORDERS}
    assert (await reset_shop.orders("archive")).returncode == 0
    await reset_shop.temporal("workflow", "delete", "--workflow-id", "order-ZR-1", "--yes")
    await reset_shop.temporal("workflow", "delete", "--workflow-id", "order-ZR-2", "--yes")
    await reset_shop.temporal("workflow", "delete", "--workflow-id", "order-ZR-2",
                              "--run-id", reset_shop.abandoned["ZR-2"], "--yes")  # fmt: skip

    async def deleted() -> bool:
        for order_id in ("ZR-1", "ZR-2"):
            described = await temporal_cli(
                reset_shop.settings["TEMPORAL_ADDRESS"], "workflow", "describe", "--workflow-id", f"order-{order_id}",
                "--namespace", reset_shop.settings["TEMPORAL_NAMESPACE"], check=False,
            )  # fmt: skip
            if described.returncode == 0:
                return False
        return True

    await wait_until(deleted, seconds=30, what="the current runs to be deleted")
    for order_id in ORDERS:
        events = await reset_shop.orders("events", order_id, "--json")
        assert [line["event_id"] for line in json.loads(events.stdout)] == ids[order_id], order_id
    # From the histories and the archive (no read models there): each order once.
    none_here = str(reset_shop.root / "no-read-models.sqlite")
    report = json.loads((await reset_shop.orders("report", "--json", ORDERS_PROJECTIONS_DSN=none_here)).stdout)
    assert report["orders"] == 3
    archive = Archive(reset_shop.root / "data" / "archive", writing=False)
    try:
        assert archive.count() == 3
    finally:
        archive.close()
    exported = await reset_shop.orders("export")
    keys = Counter((line["stream_id"], line["event_id"]) for line in map(json.loads, exported.stdout.splitlines()))
    assert sorted(id_ for (_, id_) in keys) == sorted(id_ for order in ORDERS for id_ in ids[order])
