"""Snapshots and compaction through the programs, against a namespace of each test's own
on the shared dev server: closed orders archived with their snapshots, their workflows
deleted as retention deletes them, their raw histories compacted away, and every reader
answering as before; a compaction killed midway and run again; a tampered snapshot named
by --verify; with encryption on, no snapshot field in clear in the archive's file."""

import json
import sqlite3
from functools import partial
from pathlib import Path

from domain import OrderSnapshot
from eventstore import SnapshotSeal
from eventstore.archive import ARCHIVE_FILENAME
from tests.commands import orders_in_process, starter_in_process
from tests.integration.helpers import (
    delete_as_retention_does,
    delete_every_order_as_retention_does,
    orders_killed_midway,
    start_small_orders,
)
from tests.waiting import wait_until

TUTORIAL = ["ORDER-001", "ORDER-002", "ORDER-003"]
DESCRIBE = "/temporal.api.workflowservice.v1.WorkflowService/DescribeWorkflowExecution"

# What every reader answers of the tutorial's orders, before compaction and after.
ANSWERS = (
    ("events", "ORDER-001", "--json"),
    ("events", "ORDER-003", "--json"),
    ("state", "ORDER-001", "--json"),
    ("state", "ORDER-002", "--json"),
    ("state", "ORDER-001", "--version", "2", "--json"),
    ("report", "--json"),
    ("reconcile", "--json"),
)


def archive_file(env: dict[str, str]) -> Path:
    return Path(env["ORDERS_DATA_DIR"]) / "archive" / ARCHIVE_FILENAME


def compacted_count(env: dict[str, str]) -> int:
    with sqlite3.connect(archive_file(env)) as db:
        return int(db.execute("SELECT COUNT(*) FROM archived_orders WHERE compacted_at IS NOT NULL").fetchone()[0])


async def answers(env: dict[str, str]) -> dict[tuple[str, ...], str]:
    found = {}
    for answer in ANSWERS:
        ran = await orders_in_process(env, *answer)
        assert ran.returncode == 0, (answer, ran.stdout, ran.stderr)
        found[answer] = ran.stdout
    exported = await orders_in_process(env, "export")
    assert exported.returncode == 0, exported.stderr
    found[("export",)] = exported.stdout
    return found


async def test_every_reader_answers_as_before_once_the_raw_histories_are_compacted_away(own_settings):
    env = own_settings
    started = await starter_in_process(env, "--no-wait")
    assert started.returncode == 0, started.stdout + started.stderr

    async def all_archived() -> bool:  # visibility hears of a close a moment after it
        return json.loads((await orders_in_process(env, "archive", "--json")).stdout)["in_archive"] == 3

    await wait_until(all_archived, what="the three orders to be archived")
    kept = await orders_in_process(env, "archive", "compact", "--older-than", "0", "--keep", "events", "--json")
    assert kept.returncode == 0, kept.stderr
    assert json.loads(kept.stdout)["held_by_temporal"] == 3, "nothing Temporal still holds is compacted"
    await delete_as_retention_does(env, TUTORIAL)
    before = await answers(env)
    replayed = await orders_in_process(env, "replay", "ORDER-001")
    assert replayed.returncode == 0, replayed.stderr

    dry = json.loads(
        (
            await orders_in_process(
                env, "archive", "compact", "--older-than", "0", "--keep", "events", "--dry-run", "--json"
            )
        ).stdout
    )
    assert (dry["compacted"], dry["already"]) == (3, 0) and compacted_count(env) == 0, "a dry run changes nothing"
    compacting = await orders_in_process(env, "archive", "compact", "--older-than", "0", "--keep", "events")
    assert compacting.returncode == 0, compacting.stderr
    assert "Compacted the raw histories of 3 archived order(s)" in compacting.stdout
    assert compacted_count(env) == 3

    assert await answers(env) == before
    replay = await orders_in_process(env, "replay", "ORDER-001")
    assert replay.returncode == 1
    assert (
        replay.stderr.strip()
        .splitlines()[-1]
        .startswith("orders replay: the raw history of order 'ORDER-001' was compacted away on ")
    ), replay.stderr
    assert "Traceback" not in replay.stderr
    verified = json.loads((await orders_in_process(env, "archive", "--verify", "--json")).stdout)
    assert (verified["problems"], verified["compacted"], verified["snapshots_matching"]) == ([], 3, 3)
    rebuilt = await orders_in_process(env, "projector", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    from_read_models = await orders_in_process(env, "report", "--json")
    assert "From the read models" in from_read_models.stderr
    assert from_read_models.stdout == before[("report", "--json")]
    again = await starter_in_process(env, "--no-wait")
    assert again.stdout.count("(already processed, as the archive at") == 3, again.stdout
    assert "ORDER-003: ValidationFailed (already processed" in again.stdout
    second = json.loads(
        (await orders_in_process(env, "archive", "compact", "--older-than", "0", "--keep", "events", "--json")).stdout
    )
    assert (second["compacted"], second["already"]) == (0, 3)


async def test_a_compaction_killed_midway_and_run_again_compacts_each_order_once(own_settings, tmp_path):
    env = own_settings
    total = 60
    await start_small_orders(env, tmp_path, "COMPACT", total)

    async def all_archived() -> bool:  # visibility hears of a close a moment after it
        return json.loads((await orders_in_process(env, "archive", "--json")).stdout)["in_archive"] == total

    await wait_until(all_archived, what="every order to be archived")
    await delete_every_order_as_retention_does(env)
    # Temporal asked slowly whether it holds each order, so the run is surely midway when killed.
    compact = ["archive", "compact", "--older-than", "0", "--keep", "events", "--concurrency", "1"]
    done = partial(compacted_count, env)
    after_kill = await orders_killed_midway(env, compact, slowed={DESCRIBE: 0.05}, done=done, at_least=5)
    print(f"killed with {after_kill} of {total} compacted")
    assert 5 <= after_kill < total

    rerun = await orders_in_process(env, "archive", "compact", "--older-than", "0", "--keep", "events", "--json")

    assert rerun.returncode == 0, rerun.stderr
    counted = json.loads(rerun.stdout)
    assert (counted["already"], counted["compacted"]) == (after_kill, total - after_kill), counted
    assert compacted_count(env) == total
    verified = json.loads((await orders_in_process(env, "archive", "--verify", "--json")).stdout)
    assert (verified["checked"], verified["compacted"], verified["problems"]) == (total, total, [])


async def test_a_snapshot_that_is_not_the_fold_of_its_events_is_named_by_verify(own_settings):
    env = own_settings
    assert (await starter_in_process(env, "--no-wait")).returncode == 0
    assert (await orders_in_process(env, "archive")).returncode == 0
    with sqlite3.connect(archive_file(env)) as db:
        stored = db.execute("SELECT snapshot FROM archived_orders WHERE order_id = 'ORDER-001'").fetchone()[0]
        snapshot = SnapshotSeal().opened(stored, "here")
        tampered = snapshot.model_copy(update={"state": snapshot.state.model_copy(update={"tracking_number": "NONE"})})
        db.execute(
            "UPDATE archived_orders SET snapshot = ? WHERE order_id = 'ORDER-001'", (SnapshotSeal().sealed(tampered),)
        )

    verified = await orders_in_process(env, "archive", "--verify")

    assert verified.returncode == 1
    assert "order 'ORDER-001': its snapshot is not the fold of its archived events (state differ)" in verified.stdout
    assert "1 problem(s)" in verified.stdout


async def test_with_encryption_on_no_snapshot_field_is_in_clear_in_the_archive(own_settings):
    keys = "A=" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
    env = {**own_settings, "ORDERS_ENCRYPTION_KEYS": keys}
    assert (await starter_in_process(env, "--no-wait")).returncode == 0
    without_keys = await orders_in_process(own_settings, "archive")
    assert without_keys.returncode == 1
    assert "encrypted with key 'A'; set ORDERS_ENCRYPTION_KEYS" in without_keys.stderr, without_keys.stderr
    assert (await orders_in_process(env, "archive")).returncode == 0

    with sqlite3.connect(archive_file(env)) as db:
        rows = db.execute("SELECT order_id, snapshot FROM archived_orders").fetchall()
    state = json.loads((await orders_in_process(env, "state", "ORDER-001", "--json")).stdout)
    clear = [state["customer_id"], state["payment_id"], state["tracking_number"], state["fulfillment_id"]]
    everything = archive_file(env).read_bytes()
    assert len(rows) == 3
    for order_id, snapshot in rows:
        for field in (*clear, '"state"', "Fulfilled", "150.5"):
            assert field.encode() not in snapshot, (order_id, field)
    for field in (state["payment_id"], state["tracking_number"], state["fulfillment_id"]):
        assert field.encode() not in everything, field
    verified = json.loads((await orders_in_process(env, "archive", "--verify", "--json")).stdout)
    assert (verified["problems"], verified["snapshots_matching"]) == ([], 3)
    assert isinstance(OrderSnapshot, type)
