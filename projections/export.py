"""The event store exported for analytics: every domain event of every order, as JSON
Lines, one envelope a line, decoded with the client's keys, upcast to today's schemas, in
stream order per order (docs/export.md; the schema: `orders export --schema`).

A checkpoint file (SQLite) remembers, per order, the last version exported and when the
export last listed visibility. The next run lists only the orders changed since (less an
overlap for visibility's own lag), skips those closed at a version already exported
without reading their histories, and writes only the events after each order's version:
the union of the runs is one full export, no event twice. A run's lines go to
`FILE.partial`, renamed to FILE once complete; its checkpoint is committed after that, in
one transaction: a run that dies leaves the checkpoint as it was, and runs again whole.
Orders only the archive holds (Temporal's retention deleted their histories) are
exported from the archive. Memory stays flat: the listing is read a window at a time.
"""

import asyncio
import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from temporalio.client import Client

from domain import EventEnvelope, OrderStream
from eventstore import Archive, EventStore
from projections.projector import OVERLAP, Change, changed_since, to_change

# Orders listed before their histories are read: what a run holds at once.
_WINDOW = 256
_CONCURRENT_READS = 8


def export_schema() -> dict[str, Any]:
    """The JSON Schema of one exported line: an envelope, as the pydantic models write it."""
    schema = EventEnvelope.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "An order's domain event in its envelope: one line of `orders export`"
    return schema


@dataclass
class ExportRun:
    listed: int = 0  # orders visibility (and the archive) named
    unchanged: int = 0  # of those, closed at a version already exported: not read
    exported_orders: int = 0  # orders with at least one event written
    events: int = 0  # lines written


class ExportCheckpoint:
    """Per order, the last version exported (and whether it was closed then); the latest
    change seen in visibility. One transaction a run: committed only once its output is."""

    def __init__(self, path: Path | None) -> None:
        # Without a file, a run still needs one to tell what it has written: a private one.
        self._connection = sqlite3.connect(path or ":memory:", isolation_level=None)
        self._connection.execute(
            "CREATE TABLE IF NOT EXISTS exported (order_id TEXT PRIMARY KEY, version INTEGER NOT NULL,"
            " closed INTEGER NOT NULL)"
        )
        self._connection.execute("CREATE TABLE IF NOT EXISTS listed (id INTEGER PRIMARY KEY CHECK (id = 1), at TEXT)")
        self._connection.execute("BEGIN IMMEDIATE")

    def high_water(self) -> datetime | None:
        row = self._connection.execute("SELECT at FROM listed WHERE id = 1").fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def exported(self, order_id: str) -> tuple[int, bool]:
        row = self._connection.execute(
            "SELECT version, closed FROM exported WHERE order_id = ?", (order_id,)
        ).fetchone()
        return (int(row[0]), bool(row[1])) if row else (0, False)

    def record(self, order_id: str, version: int, closed: bool) -> None:
        self._connection.execute(
            "INSERT INTO exported (order_id, version, closed) VALUES (?, ?, ?) ON CONFLICT (order_id)"
            " DO UPDATE SET version = excluded.version, closed = excluded.closed",
            (order_id, version, int(closed)),
        )

    def commit(self, high_water: datetime | None) -> None:
        if high_water is not None:
            self._connection.execute(
                "INSERT INTO listed (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                (high_water.isoformat(),),
            )
        self._connection.execute("COMMIT")

    def close(self) -> None:
        if self._connection.in_transaction:
            self._connection.execute("ROLLBACK")
        self._connection.close()


async def export(
    client: Client,
    out: TextIO,
    checkpoint: ExportCheckpoint,
    *,
    query: str | None = None,
    archive: Archive | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[ExportRun, datetime | None]:
    """Write every event not yet exported of the orders `query` selects (every order, the
    archive's too, without one); returns the run's counts and its high-water mark."""
    store = EventStore(client, archive=archive)
    run = ExportRun()
    since = checkpoint.high_water()
    selection = changed_since(since - OVERLAP) if since else None
    if query:
        selection = f"({selection}) AND ({query})" if selection else query
    newest = since
    total = await store.count(selection)
    window: list[Change] = []
    async for execution in store.executions(selection):
        if (change := to_change(execution, store.reader)) is None:
            continue
        newest = max(newest, change.changed_at) if newest else change.changed_at
        window.append(change)
        if len(window) >= _WINDOW:
            await _export_window(store, window, checkpoint, out, run)
            window = []
            if on_progress:
                on_progress(run.listed, total)
    await _export_window(store, window, checkpoint, out, run)
    if query is None and archive is not None:
        await asyncio.to_thread(_export_archived, archive, store, checkpoint, out, run)
    if on_progress:
        on_progress(run.listed, max(total, run.listed))
    return run, newest


async def _export_window(
    store: EventStore, window: Sequence[Change], checkpoint: ExportCheckpoint, out: TextIO, run: ExportRun
) -> None:
    """Read the changed orders' histories, a few at a time, and write each one's new events
    in stream order, the orders in listing order."""
    run.listed += len(window)
    wanted = []
    for change in window:
        version, closed = checkpoint.exported(change.order_id)
        if closed and change.version is not None and change.version <= version:
            run.unchanged += 1
        else:
            wanted.append((change, version))
    limit = asyncio.Semaphore(_CONCURRENT_READS)

    async def read(change: Change) -> OrderStream:
        async with limit:
            return await store.read_stream(change.order_id)

    streams = await asyncio.gather(*(read(change) for change, _ in wanted))
    for (change, version), stream in zip(wanted, streams, strict=True):
        _write(stream, version, change.closed, checkpoint, out, run)


def _export_archived(
    archive: Archive, store: EventStore, checkpoint: ExportCheckpoint, out: TextIO, run: ExportRun
) -> None:
    """The orders only the archive holds, or holds further than what was exported."""
    for order_id, last_version in archive.versions():
        version, closed = checkpoint.exported(order_id)
        if closed and version >= last_version:
            continue
        archived = archive.get(order_id)
        if archived is not None:
            run.listed += 1
            _write(archived.stream(store.reader), version, True, checkpoint, out, run)


def _write(
    stream: OrderStream, after: int, closed: bool, checkpoint: ExportCheckpoint, out: TextIO, run: ExportRun
) -> None:
    new = stream.read(after + 1) if stream.version > after else []
    for envelope in new:
        out.write(envelope.model_dump_json() + "\n")
    run.events += len(new)
    run.exported_orders += bool(new)
    checkpoint.record(stream.order_id, max(stream.version, after), closed)


def finish_output(partial: Path, final: Path, out: TextIO) -> None:
    """Make the run's output durable, then give it its name."""
    out.flush()
    os.fsync(out.fileno())
    out.close()
    partial.replace(final)
