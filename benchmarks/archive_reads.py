"""Archived orders read from their snapshots against folding their events, and what an
archived order costs on disk before and after compaction.

    python benchmarks/archive_reads.py                          # 10,000 then 40,000 archived orders
    python benchmarks/archive_reads.py --sizes 1000 4000 --source 200

1. The source: an embedded dev server and a worker record `--source` orders of a day of
   orders (scripts/day_of_orders.py), once without payload encryption and once with it
   (ORDERS_ENCRYPTION_KEYS), each shop archived by `orders archive` into an archive of its
   own; the Temporal history of each archived order is read back for its size (protobuf
   bytes, as the server gives it).
2. The plain archive grows to each size by copying its rows under new ids: each copy's
   envelopes and snapshot with the stream id rewritten (nothing else in them names the
   order), its raw history kept as it is (only its size counts). A second copy of the
   archive has its snapshots emptied, so each order is folded from its envelopes.
3. A fresh embedded server holds none of these orders: every one is archived-only. Each read
   runs as its own process, its wall time and peak resident memory taken (its VmHWM):
   `orders report --json` (no read models) and `orders projector rebuild`, from the
   snapshots and from the envelopes; then `orders archive compact --older-than 0
   --keep events` over the archive with snapshots, and `orders report` once more.
4. Bytes an archived order: its row (raw history, envelopes, snapshot, the rest: a tombstone
   among it) as archived, compacted to `--keep events`, then to `--keep snapshot`, with and
   without encryption, against the Temporal history it came from; and the database file's
   size once VACUUMed.
"""

import argparse
import asyncio
import base64
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import History

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from benchmarks.harness import Run, Workers, run, start_bench_server, table  # noqa: E402
from contract import TASK_QUEUE, WORKFLOW_TYPE  # noqa: E402
from domain import OrderSnapshot  # noqa: E402
from eventstore import Archive, EnvelopeReader, SnapshotSeal  # noqa: E402
from eventstore.archive import ARCHIVE_FILENAME  # noqa: E402
from programs import ExitCode, leave  # noqa: E402
from scripts.day_of_orders import a_day_of_orders  # noqa: E402

ORDERS_COMMAND = str(Path(sys.executable).parent / "orders")
KEYS = "A=" + base64.b64encode(bytes(range(32))).decode()
_COPY_BATCH = 500


async def record_and_archive(scratch: Path, orders: int, env_extra: dict[str, str]) -> float:
    """A shop of `orders` orders on a server of its own, archived to scratch/archive; the
    mean Temporal history bytes of the orders archived."""
    server, env = await start_bench_server(scratch)
    env = {**env, **env_extra}
    try:
        orders_file = scratch / "orders.jsonl"
        orders_file.write_text("".join(json.dumps(order) + "\n" for order in a_day_of_orders(orders)))
        workers = Workers.spawn("orders", TASK_QUEUE, 1, env)
        try:
            run([sys.executable, str(PROJECT / "starter.py"), "--file", str(orders_file), "--no-wait"], env)
        finally:
            workers.stop()
        await asyncio.sleep(2)  # visibility hears of the last closes a moment after them
        run([ORDERS_COMMAND, "archive"], env)
        sizes = []
        query = f"WorkflowType='{WORKFLOW_TYPE}' AND ExecutionStatus != 'Running'"
        async for execution in server.client.list_workflows(query):
            history = await server.client.get_workflow_handle(execution.id).fetch_history()
            sizes.append(len(History(events=history.events).SerializeToString()))
        return sum(sizes) / len(sizes)
    finally:
        await server.stop()


def grow(source: Path, target: Path, size: int) -> None:
    """`target`: the archive at `source` with its rows copied under new ids up to `size`."""
    target.mkdir(parents=True)
    shutil.copy(source / ARCHIVE_FILENAME, target / ARCHIVE_FILENAME)
    with sqlite3.connect(target / ARCHIVE_FILENAME) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(archived_orders)")]
        rows = db.execute("SELECT * FROM archived_orders ORDER BY order_id").fetchall()
        held, copy, batch = len(rows), 0, []
        while held < size:
            for row in rows:
                if held >= size:
                    break
                batch.append(_copied(dict(zip(columns, row, strict=True)), f"ARCH-COPY-{copy}-{row[0]}"))
                held += 1
                if len(batch) >= _COPY_BATCH:
                    _insert(db, columns, batch)
            copy += 1
        _insert(db, columns, batch)


def _copied(row: dict[str, object], new_id: str) -> dict[str, object]:
    old = f'"{row["order_id"]}"'.encode()
    new = f'"{new_id}"'.encode()
    envelopes = []
    for item in json.loads(str(row["envelopes"])):
        data = base64.b64decode(item["data"]).replace(old, new)
        envelopes.append({**item, "data": base64.b64encode(data).decode()})
    snapshot = Payload.FromString(bytes(row["snapshot"]))  # type: ignore[arg-type]
    snapshot.data = snapshot.data.replace(old, new)
    return {
        **row,
        "order_id": new_id,
        "workflow_id": f"order-{new_id}",
        "envelopes": json.dumps(envelopes, separators=(",", ":")),
        "snapshot": snapshot.SerializeToString(),
    }


def _insert(db: sqlite3.Connection, columns: list[str], batch: list[dict[str, object]]) -> None:
    db.executemany(
        f"INSERT INTO archived_orders ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
        [[row[column] for column in columns] for row in batch],
    )
    batch.clear()


def bytes_an_order(archive: Path) -> dict[str, float]:
    with sqlite3.connect(archive / ARCHIVE_FILENAME) as db:
        count, history, envelopes, snapshot, rest = db.execute(
            "SELECT COUNT(*), AVG(LENGTH(history)), AVG(LENGTH(envelopes)), AVG(LENGTH(snapshot)),"
            " AVG(LENGTH(order_id) + LENGTH(workflow_id) + LENGTH(run_id) + LENGTH(execution_status)"
            " + LENGTH(closed_at) + LENGTH(archived_at) + LENGTH(history_sha256) + 16"
            " + COALESCE(LENGTH(run_began_at), 0) + COALESCE(LENGTH(history_format), 0)"
            " + COALESCE(LENGTH(compacted_at), 0) + COALESCE(LENGTH(tombstone), 0)) FROM archived_orders"
        ).fetchone()
    return {"orders": count, "history": history, "envelopes": envelopes, "snapshot": snapshot, "rest": rest}


def vacuumed_bytes(archive: Path) -> float:
    copy = archive.parent / f"{archive.name}-vacuumed"
    shutil.copytree(archive, copy)
    with sqlite3.connect(copy / ARCHIVE_FILENAME) as db:
        # In WAL mode, VACUUM leaves the file its size until a checkpoint.
        db.execute("PRAGMA journal_mode = DELETE")
        db.execute("VACUUM")
        count = db.execute("SELECT COUNT(*) FROM archived_orders").fetchone()[0]
    size = (copy / ARCHIVE_FILENAME).stat().st_size / count
    shutil.rmtree(copy)
    return size


class Measured(NamedTuple):
    runs: dict[str, Run]
    compacted: dict[str, float]  # bytes an order, once compacted
    answers: str  # whether every read answered the same
    alone: tuple[float, float]  # seconds, in this process: the snapshots read, the envelopes read and folded


def reading_alone(archive: Path) -> tuple[float, float]:
    """The archive's side of a read alone, in this process (no read model written, no
    process started): every snapshot opened, against every order's envelopes read, decoded,
    upcast and folded."""
    opened = Archive(archive, writing=False)
    seal, reader = SnapshotSeal(), EnvelopeReader()
    try:
        started = time.perf_counter()
        for row in opened.snapshots():
            assert row.snapshot is not None
            seal.opened(row.snapshot, row.order_id)
        snapshots = time.perf_counter() - started
        started = time.perf_counter()
        for order in opened.orders():
            OrderSnapshot.of(order.stream(reader), datetime.now(UTC))
        return snapshots, time.perf_counter() - started
    finally:
        opened.close()


def reads(env: dict[str, str], archive: Path, scratch: Path, label: str) -> dict[str, Run]:
    here = {**env, "ORDERS_ARCHIVE": str(archive)}
    no_read_models = {**here, "ORDERS_PROJECTIONS_DSN": str(scratch / f"none-{label}" / "projections.sqlite")}
    rebuilt = {**here, "ORDERS_PROJECTIONS_DSN": str(scratch / f"rebuilt-{label}.sqlite")}
    print(f"{label}: report …", file=sys.stderr)
    report = run([ORDERS_COMMAND, "report", "--json"], no_read_models)
    print(f"{label}: projector rebuild …", file=sys.stderr)
    rebuild = run([ORDERS_COMMAND, "projector", "rebuild"], rebuilt)
    return {f"report, {label}": report, f"projector rebuild, {label}": rebuild}


async def measure(size: int, plain: Path, scratch: Path) -> Measured:
    with_snapshots = scratch / f"snapshots-{size}"
    grow(plain, with_snapshots, size)
    from_envelopes = scratch / f"envelopes-{size}"
    shutil.copytree(with_snapshots, from_envelopes)
    with sqlite3.connect(from_envelopes / ARCHIVE_FILENAME) as db:
        db.execute("UPDATE archived_orders SET snapshot = NULL")
    server, env = await start_bench_server(scratch / f"empty-{size}")
    try:
        # What a read costs with no archived order to read: a process's start, its imports, connecting.
        done = reads(env, scratch / f"nothing-archived-{size}", scratch, "nothing archived")
        done |= {**reads(env, with_snapshots, scratch, "snapshots"), **reads(env, from_envelopes, scratch, "envelopes")}
        here = {**env, "ORDERS_ARCHIVE": str(with_snapshots)}
        print("compact …", file=sys.stderr)
        done["archive compact"] = run(
            [ORDERS_COMMAND, "archive", "compact", "--older-than", "0", "--keep", "events", "--json"], here
        )
        compacted = bytes_an_order(with_snapshots)
        done["report, compacted"] = reads(env, with_snapshots, scratch, "compacted")["report, compacted"]
    finally:
        await server.stop()
    same = json.loads(done["report, snapshots"].stdout) == json.loads(done["report, envelopes"].stdout)
    same = same and done["report, compacted"].stdout == done["report, snapshots"].stdout
    shutil.rmtree(from_envelopes)
    return Measured(done, compacted, "equal" if same else "DIFFERENT", reading_alone(with_snapshots))


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        scratch = args.scratch or Path(temporary)
        plain_history = await record_and_archive(scratch / "plain", args.source, {})
        sealed_history = await record_and_archive(scratch / "sealed", args.source, {"ORDERS_ENCRYPTION_KEYS": KEYS})
        plain, sealed = scratch / "plain" / "archive", scratch / "sealed" / "archive"
        on_disk = [
            _bytes_row("plain, kept", bytes_an_order(plain), plain_history, vacuumed_bytes(plain)),
            _bytes_row("encrypted, kept", bytes_an_order(sealed), sealed_history, vacuumed_bytes(sealed)),
        ]
        # The plain archive is grown from its rows as archived: a copy kept before compaction.
        plain_kept = scratch / "plain-kept"
        shutil.copytree(plain, plain_kept)
        server, env = await start_bench_server(scratch / "empty-source")
        try:
            for archive, label, history in ((plain, "plain", plain_history), (sealed, "encrypted", sealed_history)):
                compacting = {**env, "ORDERS_ARCHIVE": str(archive), "ORDERS_ENCRYPTION_KEYS": KEYS}
                for keep in ("events", "snapshot"):
                    compact = [ORDERS_COMMAND, "archive", "compact", "--older-than", "0", "--keep", keep, "--yes"]
                    run(compact, compacting)
                    sizes = bytes_an_order(archive)
                    on_disk.append(_bytes_row(f"{label}, --keep {keep}", sizes, history, vacuumed_bytes(archive)))
        finally:
            await server.stop()
        measured = {}
        for size in sorted(args.sizes):
            measured[size] = await measure(size, plain_kept, scratch)
    print(f"{os.cpu_count()} cores; archived-only orders; each read a process of its own\n")
    print(table([["read", "orders", "time", "ms an order", "peak MB", "answers"], *_rows(measured)]))
    print()
    heading = ["size", "report: envelopes / snapshots", "rebuild: envelopes / snapshots", "the archive's side alone"]
    print(table([heading, *_speedups(measured)]))
    print()
    heading = ["archive", "orders", "history", "envelopes", "snapshot", "rest", "row", "file (VACUUM)", "Temporal's"]
    print(table([heading, *on_disk]))
    print()
    heading = ["size", "peak MB: report from snapshots", "compact", "row bytes after compaction"]
    print(table([heading, *_memory(measured)]))


def _bytes_row(label: str, sizes: dict[str, float], history: float, file: float) -> list[object]:
    row = sizes["history"] + sizes["envelopes"] + sizes["snapshot"] + sizes["rest"]
    return [
        label, int(sizes["orders"]), f"{sizes['history']:.0f}", f"{sizes['envelopes']:.0f}", f"{sizes['snapshot']:.0f}",
        f"{sizes['rest']:.0f}", f"{row:.0f}", f"{file:.0f}", f"{history:.0f}",
    ]  # fmt: skip


def _rows(measured: dict[int, Measured]) -> list[list[object]]:
    return [
        [name, size, f"{done.seconds:.1f} s", f"{1000 * done.seconds / size:.2f}", f"{done.peak_mb:.0f}", same]
        for size, (runs, _, same, _) in measured.items()
        for name, done in runs.items()
    ]


def _speedups(measured: dict[int, Measured]) -> list[list[object]]:
    def ratio(runs: dict[str, Run], read: str) -> str:
        envelopes, snapshots = runs[f"{read}, envelopes"].seconds, runs[f"{read}, snapshots"].seconds
        fixed = runs[f"{read}, nothing archived"].seconds
        return f"{envelopes / snapshots:.1f} x ({(envelopes - fixed) / (snapshots - fixed):.1f} x less the fixed cost)"

    return [
        [size, ratio(runs, "report"), ratio(runs, "projector rebuild"), f"{alone[1] / alone[0]:.1f} x"]
        for size, (runs, _, _, alone) in measured.items()
    ]


def _memory(measured: dict[int, Measured]) -> list[list[object]]:
    return [
        [
            size,
            f"{runs['report, snapshots'].peak_mb:.0f}",
            f"{runs['archive compact'].peak_mb:.0f}",
            f"{sizes['history'] + sizes['envelopes'] + sizes['snapshot'] + sizes['rest']:.0f}",
        ]
        for size, (runs, sizes, _, _) in measured.items()
    ]


def cli(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 40_000], metavar="N")
    parser.add_argument("--source", type=int, default=500, help="orders recorded for real (default 500)")
    parser.add_argument("--scratch", type=Path, help="work here, and leave it (default: a directory of the run's own)")
    asyncio.run(main(parser.parse_args(argv)))
    leave(ExitCode.OK)


if __name__ == "__main__":
    cli()
