"""Orders compacted to their snapshots (`orders archive compact --keep snapshot`), through
the programs against a namespace of each test's own on the shared dev server: their
events deleted from the archive, a tombstone and the snapshot left; the readers that need
only the state answer as before, those that need the events say in one line that they
are gone; nothing deleted without --yes; a compaction killed midway and run again
compacts each order once; --verify names a tampered tombstone or snapshot."""

import json
import sqlite3
from functools import partial

from projections import export_schema
from tests.commands import orders_in_process, starter_in_process
from tests.integration.helpers import (
    delete_as_retention_does,
    delete_every_order_as_retention_does,
    orders_killed_midway,
    start_small_orders,
)
from tests.integration.test_compaction import DESCRIBE, TUTORIAL, archive_file
from tests.waiting import wait_until

TO_SNAPSHOTS = ("archive", "compact", "--older-than", "0", "--keep", "snapshot")

# What the readers that need only an order's state answer, before compaction and after.
STATES = (
    ("state", "ORDER-001", "--json"),
    ("state", "ORDER-002", "--json"),
    ("state", "ORDER-003", "--json"),
    ("report", "--json"),
    ("reconcile", "--json"),
)


def rows(env: dict[str, str]) -> list[tuple]:
    with sqlite3.connect(archive_file(env)) as db:
        return db.execute("SELECT * FROM archived_orders ORDER BY order_id").fetchall()


def tombstones(env: dict[str, str]) -> int:
    with sqlite3.connect(archive_file(env)) as db:
        return int(db.execute("SELECT COUNT(*) FROM archived_orders WHERE tombstone IS NOT NULL").fetchone()[0])


async def answered(env: dict[str, str], *args: str) -> str:
    ran = await orders_in_process(env, *args)
    assert ran.returncode == 0, (args, ran.stdout, ran.stderr)
    return ran.stdout


async def one_line_refusal(env: dict[str, str], *args: str) -> str:
    ran = await orders_in_process(env, *args)
    lines = ran.stderr.strip().splitlines()
    assert ran.returncode == 1 and len(lines) == 1 and "Traceback" not in ran.stderr, (args, ran.stderr)
    return lines[0]


async def all_archived(env: dict[str, str], count: int) -> None:
    async def archived() -> bool:  # visibility hears of a close a moment after it
        return json.loads(await answered(env, "archive", "--json"))["in_archive"] == count

    await wait_until(archived, what="every order to be archived")


async def test_orders_compacted_to_their_snapshots_answer_their_state_and_say_their_events_are_gone(own_settings):
    env = own_settings
    started = await starter_in_process(env, "--no-wait")
    assert started.returncode == 0, started.stdout + started.stderr
    await all_archived(env, len(TUTORIAL))
    await delete_as_retention_does(env, TUTORIAL)
    before = {asked: await answered(env, *asked) for asked in STATES}
    last = json.loads(before[("state", "ORDER-001", "--json")])["version"]
    at_last = await answered(env, "state", "ORDER-001", "--version", str(last), "--json")

    unasked = await answered(env, *TO_SNAPSHOTS)
    assert "Would compact 3 archived order(s)" in unasked and "give --yes to delete their events" in unasked
    as_it_was = rows(env)
    dry = json.loads(await answered(env, *TO_SNAPSHOTS, "--dry-run", "--yes", "--json"))
    assert (dry["compacted"], dry["dry_run"]) == (3, True)
    assert rows(env) == as_it_was, "without --yes, or with --dry-run, nothing changes"

    done = await answered(env, *TO_SNAPSHOTS, "--yes")
    assert "Compacted 3 archived order(s)" in done and "to their snapshots, deleting their events" in done
    assert tombstones(env) == 3
    assert all(row[10] == "" and row[9] == b"" for row in rows(env)), "no envelope and no raw history left"

    assert {asked: await answered(env, *asked) for asked in STATES} == before
    assert await answered(env, "state", "ORDER-001", "--version", str(last), "--json") == at_last
    gone = await one_line_refusal(env, "events", "ORDER-001")
    assert gone.startswith(
        f"orders events: the events of order 'ORDER-001' were compacted to a snapshot at version {last} on "
    ), gone
    before_last = await one_line_refusal(env, "state", "ORDER-001", "--version", "2")
    assert "its state at version 2 went with them" in before_last, before_last
    assert "compacted" in await one_line_refusal(env, "replay", "ORDER-001")

    lines = [json.loads(line) for line in (await answered(env, "export")).splitlines()]
    assert [(line["record"], line["stream_id"]) for line in lines] == [("compacted", o) for o in TUTORIAL]
    assert lines[0]["version"] == last
    assert lines[0]["state"] == json.loads(before[("state", "ORDER-001", "--json")])
    assert "CompactedStream" in json.dumps(export_schema())

    await answered(env, "projector", "rebuild")
    from_read_models = await orders_in_process(env, "report", "--json")
    assert "From the read models" in from_read_models.stderr
    assert from_read_models.stdout == before[("report", "--json")]
    again = await starter_in_process(env, "--no-wait")
    assert again.stdout.count("(already processed, as the archive at") == 3, again.stdout

    verified = json.loads(await answered(env, "archive", "--verify", "--json"))
    assert (verified["problems"], verified["tombstones_matching"]) == ([], 3)
    second = json.loads(await answered(env, *TO_SNAPSHOTS, "--yes", "--json"))
    assert (second["compacted"], second["already"]) == (0, 3)

    with sqlite3.connect(archive_file(env)) as db:
        kept = db.execute("SELECT tombstone FROM archived_orders WHERE order_id = 'ORDER-001'").fetchone()[0]
        tombstone = json.loads(kept)
        tombstone["events"] += 1
        db.execute("UPDATE archived_orders SET tombstone = ? WHERE order_id = 'ORDER-001'", (json.dumps(tombstone),))
        other = db.execute("SELECT snapshot FROM archived_orders WHERE order_id = 'ORDER-003'").fetchone()[0]
        db.execute("UPDATE archived_orders SET snapshot = ? WHERE order_id = 'ORDER-002'", (other,))
    tampered = await orders_in_process(env, "archive", "--verify", "--json")
    assert tampered.returncode == 1
    problems = json.loads(tampered.stdout)["problems"]
    assert len(problems) == 2 and all("the seal differs" in problem for problem in problems), problems
    assert [problem.split("'")[1] for problem in problems] == ["ORDER-001", "ORDER-002"]


async def test_a_compaction_to_snapshots_killed_midway_and_run_again_compacts_each_order_once(own_settings, tmp_path):
    env = own_settings
    total = 60
    await start_small_orders(env, tmp_path, "FORGET", total)
    await all_archived(env, total)
    await delete_every_order_as_retention_does(env)
    # Temporal asked slowly whether it holds each order, so the run is surely midway when killed.
    compact = [*TO_SNAPSHOTS, "--yes", "--concurrency", "1"]
    done = partial(tombstones, env)
    after_kill = await orders_killed_midway(env, compact, slowed={DESCRIBE: 0.05}, done=done, at_least=5)
    print(f"killed with {after_kill} of {total} compacted to their snapshots")
    assert 5 <= after_kill < total

    rerun = json.loads(await answered(env, *TO_SNAPSHOTS, "--yes", "--json"))
    assert (rerun["already"], rerun["compacted"]) == (after_kill, total - after_kill), rerun
    assert tombstones(env) == total
    verified = json.loads(await answered(env, "archive", "--verify", "--json"))
    assert (verified["problems"], verified["tombstones_matching"]) == ([], total)
    summary = json.loads(await answered(env, "report", "--json"))
    assert summary["orders"] == total, summary
