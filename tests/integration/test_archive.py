"""Orders outlive Temporal's retention: archived when closed, read back from the archive
once their histories are deleted (as retention deletes them), and never processed again.

The quick start (worker.py with the embedded server it starts) keeps ten years; the rest
runs in a namespace of each test's own on the shared dev server, the starter and `orders`
in-process, the `temporal` CLI deleting workflows as retention does, and real processes
where the claim is about one (an archive run killed, one stopped by SIGTERM)."""

import asyncio
import json
import os
import sqlite3
import subprocess
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest

from connection.embedded_server import free_local_port
from domain import OrderSnapshot
from encryption import Keyring
from eventstore import (
    Archive,
    ArchivedOrder,
    EnvelopeReader,
    HistoryReadError,
    SnapshotSeal,
    load_history_file,
    read_history_file,
)
from eventstore.archive import ARCHIVE_FILENAME, archive_location, history_digest
from storage import open_database
from tests.commands import Ran, orders_in_process, starter_in_process
from tests.integration.helpers import (
    ORDERS_COMMAND,
    delete_as_retention_does,
    in_namespace,
    orders_killed_midway,
    read_until,
    spawn_script,
    start_small_orders,
    stop_processes,
    temporal_cli,
    temporal_cli_json,
)
from tests.integration.refusing_proxy import GET_HISTORY
from tests.orders import one_line_order
from tests.waiting import wait_until

GOLDEN = Path(__file__).resolve().parents[1] / "histories" / "golden"


@pytest.fixture
async def quick_start(tmp_path) -> AsyncIterator[dict[str, str]]:
    """The quick start on a server of its own: worker.py, which starts the embedded server
    on its data directory. Yields the environment every program here is given."""
    env = {"TEMPORAL_ADDRESS": f"127.0.0.1:{free_local_port()}", "ORDERS_DATA_DIR": str(tmp_path / "data")}
    worker = spawn_script("worker.py", env=env)
    try:
        await read_until(worker, "Serving task queue")
        yield env
    finally:
        await stop_processes(worker)


async def orders_off_loop(env: dict[str, str], *args: str) -> Ran:
    return await orders_in_process(env, *args)


def ledger_rows(env: dict[str, str]) -> dict[str, list[tuple]]:
    with sqlite3.connect(Path(env["ORDERS_DATA_DIR"]) / "ledger.sqlite") as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {table: sorted(db.execute(f"SELECT * FROM {table}").fetchall()) for table in tables}


def archived_count(env: dict[str, str]) -> int:
    path = Path(env["ORDERS_DATA_DIR"]) / "archive" / ARCHIVE_FILENAME
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM archived_orders").fetchone()[0])


ANSWERS = (
    ("events", "ORDER-001", "--json"),
    ("events", "ORDER-002", "--json"),
    ("state", "ORDER-001", "--version", "2", "--json"),
    ("state", "ORDER-003", "--json"),
    ("replay", "ORDER-001", "--json"),
    ("report", "--json"),
    ("reconcile", "--json"),
)


async def test_the_quick_start_keeps_ten_years_of_histories(quick_start):
    env = quick_start
    namespace = await temporal_cli_json(env["TEMPORAL_ADDRESS"], "operator", "namespace", "describe", "-n", "default")
    assert namespace["config"]["workflowExecutionRetentionTtl"] == f"{3650 * 86400}s", namespace["config"]
    health = json.loads((await orders_off_loop(env, "health", "--json")).stdout)
    assert health["namespace"]["retention_days"] == 3650, health["namespace"]


async def test_orders_deleted_by_retention_read_back_from_the_archive_and_are_never_processed_again(own_settings):
    env = own_settings
    first = await starter_in_process(env, "--no-wait")
    assert first.returncode == 0, first.stdout + first.stderr
    before = {answer: await orders_off_loop(env, *answer) for answer in ANSWERS}
    for answer, result in before.items():
        assert result.returncode == 0, (answer, result.stdout, result.stderr)
    ledger_before = ledger_rows(env)

    archived = await orders_off_loop(env, "archive", "--json")
    assert archived.returncode == 0, archived.stderr
    assert json.loads(archived.stdout)["archived"] == 3
    await delete_as_retention_does(env, ["ORDER-001", "ORDER-002", "ORDER-003"])

    for answer, was in before.items():
        now = await orders_off_loop(env, *answer)
        assert now.returncode == 0, (answer, now.stderr)
        assert now.stdout == was.stdout, answer
        if answer[0] in ("events", "state", "replay"):
            assert f"Order {answer[1]} read from the archive at {env['ORDERS_DATA_DIR']}/archive" in now.stderr
        else:
            assert f"3 order(s) read from the archive at {env['ORDERS_DATA_DIR']}/archive" in now.stderr
    verified = json.loads((await orders_off_loop(env, "archive", "--verify", "--json")).stdout)
    assert (verified["checked"], verified["only_in_archive"], verified["problems"]) == (3, 3, [])
    replayed = await orders_off_loop(env, "replay", "--archived", "--json")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert [json.loads(line)["ok"] for line in replayed.stdout.splitlines()] == [True, True, True]

    again = await starter_in_process(env, "--no-wait")
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("(already processed, as the archive at") == 3, again.stdout
    assert "ORDER-001: Fulfilled (already processed" in again.stdout
    assert "ORDER-003: ValidationFailed (already processed" in again.stdout
    assert "3 already existed and were reported, not processed again" in again.stdout
    assert await temporal_cli_json(env["TEMPORAL_ADDRESS"], "workflow", "list", *in_namespace(env)) == []
    assert ledger_rows(env) == ledger_before

    # The read models rebuilt with no history left in Temporal hold the same shop.
    rebuilt = await orders_off_loop(env, "projector", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "Applied 3 order(s) from the archive" in rebuilt.stderr
    from_read_models = await orders_off_loop(env, "report", "--json")
    assert "From the read models" in from_read_models.stderr
    assert from_read_models.stdout == before[("report", "--json")].stdout


async def test_the_starter_refuses_an_id_only_the_read_models_know(own_settings, tmp_path):
    """No archive, but the projector saw the order before its history was deleted."""
    env = own_settings
    order = one_line_order("READ-MODELS-ONLY-1", "PROD-001", 1, "10.00")
    order_file = tmp_path / "order.json"
    order_file.write_text(order.model_dump_json())
    first = await starter_in_process(env, "--no-wait", "--file", str(order_file))
    assert first.returncode == 0, first.stdout + first.stderr
    assert (await orders_off_loop(env, "projector", "--once")).returncode == 0
    await delete_as_retention_does(env, [order.order_id], from_visibility=False)
    ledger_before = ledger_rows(env)

    again = await starter_in_process(env, "--no-wait", "--file", str(order_file))

    assert again.returncode == 0, again.stdout + again.stderr
    assert "READ-MODELS-ONLY-1: Fulfilled (already processed, as the read models in" in again.stdout, again.stdout
    described = await temporal_cli(
        env["TEMPORAL_ADDRESS"], "workflow", "describe", "--workflow-id", f"order-{order.order_id}",
        *in_namespace(env), check=False,
    )  # fmt: skip
    assert described.returncode != 0, "no new run was started"
    assert ledger_rows(env) == ledger_before


async def test_an_archive_run_killed_midway_and_run_again_archives_every_order_exactly_once(own_settings, tmp_path):
    env = own_settings
    total = 120
    await start_small_orders(env, tmp_path, "ARCHIVE", total)
    # Histories served slowly, so the run is surely midway when it is killed.
    archive = ["archive", "--concurrency", "1"]
    done = partial(archived_count, env)
    after_kill = await orders_killed_midway(env, archive, slowed={GET_HISTORY: 0.05}, done=done, at_least=10)
    print(f"killed with {after_kill} of {total} archived")
    assert 10 <= after_kill < total

    rerun = await orders_off_loop(env, "archive", "--json")

    assert rerun.returncode == 0, rerun.stderr
    counted = json.loads(rerun.stdout)
    print(f"run again: {counted}")
    assert (counted["already"], counted["archived"]) == (after_kill, total - after_kill), counted
    assert counted["in_archive"] == archived_count(env) == total
    verified = json.loads((await orders_off_loop(env, "archive", "--verify", "--json")).stdout)
    assert (verified["checked"], verified["matching"], verified["not_archived"], verified["problems"]) == (
        total,
        total,
        0,
        [],
    )
    third = json.loads((await orders_off_loop(env, "archive", "--json")).stdout)
    assert (third["archived"], third["already"]) == (0, total)


async def test_health_warns_of_closed_orders_near_retention_end_not_archived(dev_shop, unique, tmp_path):
    """The dev server's namespace keeps a day: every closed order is within a day of deletion."""
    await dev_shop.place(one_line_order(f"NEAR-END-{unique}", "PROD-001", 1, "1.00"))
    env = {
        "TEMPORAL_ADDRESS": dev_shop.client.service_client.config.target_host,
        "ORDERS_DATA_DIR": str(tmp_path / "data"),
    }
    await wait_until(
        lambda: _health_reason(env, "closed order(s) not archived"), seconds=15, what="health to warn of it"
    )
    reason = await _health_reason(env, "closed order(s) not archived")
    assert "Temporal deletes within 1 day (retention 1 days): run `orders archive`" in reason

    assert (await orders_off_loop(env, "archive")).returncode == 0
    assert await _health_reason(env, "closed order(s) not archived") is None


async def _health_reason(env: dict[str, str], starting: str) -> str | None:
    report = json.loads((await orders_off_loop(env, "health", "--json")).stdout)
    return next((reason for reason in report["reasons"] if starting in reason), None)


# The table as the build before snapshots made it.
_TABLE_OF_OLD = (
    "CREATE TABLE archived_orders (order_id TEXT PRIMARY KEY, workflow_id TEXT NOT NULL, run_id TEXT NOT NULL,"
    " execution_status TEXT NOT NULL, closed_at TEXT NOT NULL, archived_at TEXT NOT NULL,"
    " last_version INTEGER NOT NULL, history_events INTEGER NOT NULL, history_sha256 TEXT NOT NULL,"
    " history BYTEA NOT NULL, envelopes TEXT NOT NULL, run_began_at TEXT)"
)


def test_an_archive_of_old_is_brought_up_to_date_by_archivers_that_open_it_at_the_same_moment(projections_at):
    """As when a new build's `orders archive` starts while another (`--every`) is running."""
    target = projections_at("archive")
    if isinstance(target, Path):
        target.mkdir()
    made = open_database(archive_location(target))
    made.execute(_TABLE_OF_OLD)
    made.close()
    together = threading.Barrier(6)

    def opened(_: int) -> Archive:
        together.wait()
        return Archive(target)

    with ThreadPoolExecutor(6) as pool:
        archives = list(pool.map(opened, range(6)))  # an ArchiveError would be raised here
    for archive in archives:
        archive.close()
    columns = open_database(archive_location(target), read_only=True)
    assert {"snapshot", "history_format", "compacted_at"} <= columns.columns("archived_orders")
    columns.close()


def test_the_archive_keeps_an_order_once_and_gives_back_its_history_byte_for_byte(projections_at):
    path = next(GOLDEN.glob("*.json"))
    history = load_history_file(path)
    moment = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    snapshot = OrderSnapshot.of(read_history_file(path), moment)
    order = ArchivedOrder.of(snapshot.order_id, history, moment, SnapshotSeal().sealed(snapshot))
    archive = Archive(projections_at("archive"))
    try:
        assert archive.put(order) is True
        assert archive.put(order) is False
        kept = archive.get(order.order_id)
        assert kept is not None and archive.count() == 1
        assert kept.history_format == "proto", "kept as Temporal's own protobuf"
        assert history_digest(kept.history().events) == history_digest(history.events) == kept.history_sha256
        assert kept.stream() == read_history_file(path)
        assert kept.snapshot is not None and SnapshotSeal().opened(kept.snapshot, "here") == snapshot
        assert archive.known([order.order_id, "NO-SUCH-ORDER"]).keys() == {order.order_id}
        assert list(archive.versions()) == [(order.order_id, read_history_file(path).version, order.run_id)]
    finally:
        archive.close()


def test_an_encrypted_order_is_archived_as_it_was_recorded_and_reads_back_only_with_its_key(tmp_path):
    path = GOLDEN.parents[1] / "histories-encrypted" / "order-ORDER-001.json"
    keyring = Keyring.parse(f"@{path.with_name('key.txt')}")
    moment = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    # The snapshot is sealed with the shop's key, as the envelopes it is folded from are:
    # no payload, and no field of the snapshot, is kept in clear. (The raw history holds
    # what the server saw in clear, and only that: the search attributes.)
    reader, seal = EnvelopeReader.with_keys(keyring), SnapshotSeal.with_keys(keyring)
    snapshot = OrderSnapshot.of(read_history_file(path, reader), moment)
    order = ArchivedOrder.of("ORDER-001", load_history_file(path, reader), moment, seal.sealed(snapshot))
    assert order.snapshot is not None
    for kept in (order.envelope_payloads.encode(), order.snapshot):
        assert b"CUSTOMER-123" not in kept and b"150.5" not in kept

    assert order.stream(reader) == read_history_file(path, reader)
    assert seal.opened(order.snapshot, "here") == snapshot
    with pytest.raises(HistoryReadError, match="encrypted with key 'A'; set ORDERS_ENCRYPTION_KEYS"):
        order.stream()
    with pytest.raises(HistoryReadError, match="the snapshot cannot be opened: a payload is encrypted with key 'A'"):
        SnapshotSeal().opened(order.snapshot, "here")


async def test_orders_archive_every_keeps_archiving_until_sigterm(own_settings, tmp_path):
    env = own_settings
    keeping = subprocess.Popen(
        [ORDERS_COMMAND, "archive", "--every", "0.2"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Both pipes are read as the program writes them: the signal goes only once a pass has
    # reported the order (the archive holds it a moment before the report is printed).
    out: list[str] = []
    err: list[str] = []
    readers = [
        threading.Thread(target=lambda pipe=pipe, into=into: into.extend(pipe), daemon=True)
        for pipe, into in ((keeping.stdout, out), (keeping.stderr, err))
    ]
    for reader in readers:
        reader.start()
    try:
        order_file = tmp_path / "order.json"
        order_file.write_text(one_line_order("KEPT-1", "PROD-001", 1, "1.00").model_dump_json())
        started = await starter_in_process(env, "--no-wait", "--file", str(order_file))
        assert started.returncode == 0, started.stdout + started.stderr
        await wait_until(
            lambda: asyncio.sleep(0, any("Archived 1 closed order(s)" in line for line in list(out))),
            seconds=30,
            what="a pass that reports KEPT-1 archived",
        )
    finally:
        keeping.terminate()
        await asyncio.to_thread(keeping.wait, timeout=30)
        for reader in readers:
            await asyncio.to_thread(reader.join, 10)
    assert keeping.returncode == 130, "".join(out + err)
    assert "stopped by a signal; each order archived so far is kept" in "".join(err)
    assert archived_count(env) == 1
