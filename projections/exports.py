"""The event store exported for analytics: every domain event of every order, as JSON
Lines, one envelope a line, decoded with the client's keys, upcast to today's schemas, in
stream order per order (docs/export.md; the schema: `orders export --schema`).

An order's stream is its current run. A reset (Temporal's, from the Web UI or the CLI)
replaces an order's events from the reset point on: a run after it writes a
`superseded` line for that order, naming the first version replaced, then the current
run's events from there; a consumer drops its lines of that stream from that version on
when it meets the line. No line is ever rewritten in a file already written.

A checkpoint file (SQLite) remembers, per order, the run and the event ids exported and
whether the order was closed then, and when the export last listed visibility, and for
which `--query`. The next run lists only the orders changed since (less an overlap for
visibility's own lag), skips those closed in the run already exported without reading
their histories, and writes only what each order's current run adds to (or replaces in)
what was exported: the union of the runs is one full export, no event twice. A run's lines
go to `FILE.partial`, renamed to FILE once complete; its checkpoint is committed after
that, in one transaction: a run that dies leaves the checkpoint as it was, and runs again
whole. Orders only the archive holds (Temporal's retention deleted their histories) are
exported from the archive. Memory stays flat: the listing is read a window at a time.
"""

import asyncio
import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

from pydantic import BaseModel, ConfigDict, TypeAdapter
from temporalio.client import Client

from contract import as_text
from domain import EventEnvelope, OrderState, OrderStream
from eventstore import (
    Archive,
    ArchivedOrder,
    ArchiveError,
    EventStore,
    FoundStream,
    StreamNotFound,
    snapshot_of_archived,
)
from projections.projector import OVERLAP, Change, changed_since, to_change

# Orders listed before their histories are read: what a run holds at once.
_WINDOW = 256
_CONCURRENT_READS = 8


class SupersededEvents(BaseModel):
    """A line that is not an event: the events of `stream_id` from `from_version` on, as
    lines before this one gave them, are no longer the order's. A reset made run `run_id`
    the order's current run, with other events from that version; the lines that follow
    give them."""

    model_config = ConfigDict(frozen=True)

    record: Literal["superseded"] = "superseded"
    stream_id: str
    from_version: int
    run_id: str
    superseded_at: datetime


class CompactedStream(BaseModel):
    """A line that is not an event: the first `version` events of `stream_id` were
    compacted to a snapshot (`orders archive compact --keep snapshot`) before this export
    wrote them, and are no longer in the record; `state` is the order's state after them.
    A consumer that holds those events keeps them; one that does not takes `state` as the
    order's state at `version`. `events_sha256` is the digest of the envelopes dropped, as
    the archive held them."""

    model_config = ConfigDict(frozen=True)

    record: Literal["compacted"] = "compacted"
    stream_id: str
    version: int
    run_id: str
    compacted_at: datetime
    events_sha256: str
    state: OrderState


_LINE = TypeAdapter(EventEnvelope | SupersededEvents | CompactedStream)


def export_schema() -> dict[str, Any]:
    """The JSON Schema of one exported line: an envelope, as the pydantic models write it,
    or (rarely) a line saying a reset superseded some of an order's events, or that an
    order's events were compacted to its snapshot."""
    schema = _LINE.json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = (
        "One line of `orders export`: an order's domain event in its envelope, events superseded, or events"
        " compacted to a snapshot"
    )
    return schema


class CheckpointMismatch(ValueError):
    """A checkpoint made for another selection of orders than this run's."""


@dataclass
class ExportRun:
    listed: int = 0  # orders visibility (and the archive) named
    unchanged: int = 0  # of those, closed at what was already exported: not read
    exported_orders: int = 0  # orders with at least one event written
    events: int = 0  # event lines written
    superseded: int = 0  # orders a reset gave other events than those exported
    compacted: int = 0  # orders compacted to their snapshots before their events were exported: a line each
    archive_trouble: str | None = None  # why the archive could not be read, when the run went on without it


@dataclass(frozen=True)
class Exported:
    """What was exported of one order: which run, its event ids in version order (None in
    checkpoints made before they were kept), whether it had closed, when its run began."""

    run_id: str | None = None
    event_ids: tuple[str, ...] | None = None
    version: int = 0
    closed: bool = False
    began_at: str | None = None


_ADDED = {
    "exported": {"run_id": "TEXT", "event_ids": "TEXT", "began_at": "TEXT"},
    "listed": {"query": "TEXT", "bound": "INTEGER"},
}


class ExportCheckpoint:
    """Per order, what was exported of it; the latest change seen in visibility, and the
    query the checkpoint is bound to. One transaction a run: committed only once its output
    is. Used from one thread at a time (the event loop's, or the archive pass's)."""

    def __init__(self, path: Path | None) -> None:
        # Without a file, a run still needs one to tell what it has written: a private one.
        self.where = str(path) if path else None
        self._connection = sqlite3.connect(path or ":memory:", isolation_level=None, check_same_thread=False)
        self._connection.execute("BEGIN IMMEDIATE")
        self._connection.execute(
            "CREATE TABLE IF NOT EXISTS exported (order_id TEXT PRIMARY KEY, version INTEGER NOT NULL,"
            " closed INTEGER NOT NULL)"
        )
        self._connection.execute("CREATE TABLE IF NOT EXISTS listed (id INTEGER PRIMARY KEY CHECK (id = 1), at TEXT)")
        for table, columns in _ADDED.items():
            have = {row[1] for row in self._connection.execute(f"PRAGMA table_info({table})")}
            for column, kind in columns.items():
                if column not in have:
                    self._connection.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def bind(self, query: str | None) -> None:
        """Refuse a run whose `query` is not the one this checkpoint was made with: what it
        skips as exported would not be what this run selects. A checkpoint made before
        checkpoints were bound was made for the whole shop."""
        row = self._connection.execute("SELECT query, bound FROM listed WHERE id = 1").fetchone()
        if row is None or row[0] == query:
            return
        made_for = repr(row[0]) if row[0] is not None else "every order (no --query)"
        asked = repr(query) if query is not None else "every order (no --query)"
        raise CheckpointMismatch(
            f"the checkpoint {self.where} was made for {made_for}, and this run asks for {asked}:"
            " give each selection a checkpoint of its own"
        )

    def high_water(self) -> datetime | None:
        row = self._connection.execute("SELECT at FROM listed WHERE id = 1").fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def exported(self, order_id: str) -> Exported:
        row = self._connection.execute(
            "SELECT run_id, event_ids, version, closed, began_at FROM exported WHERE order_id = ?", (order_id,)
        ).fetchone()
        if row is None:
            return Exported()
        ids = tuple(row[1].split()) if row[1] is not None else None
        return Exported(run_id=row[0], event_ids=ids, version=int(row[2]), closed=bool(row[3]), began_at=row[4])

    def record(self, order_id: str, exported: Exported) -> None:
        self._connection.execute(
            "INSERT INTO exported (order_id, version, closed, run_id, event_ids, began_at) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (order_id) DO UPDATE SET version = excluded.version, closed = excluded.closed,"
            " run_id = excluded.run_id, event_ids = excluded.event_ids, began_at = excluded.began_at",
            (
                order_id,
                exported.version,
                int(exported.closed),
                exported.run_id,
                " ".join(exported.event_ids) if exported.event_ids is not None else None,
                exported.began_at,
            ),
        )

    def commit(self, high_water: datetime | None, query: str | None) -> None:
        self._connection.execute(
            "INSERT INTO listed (id, at, query, bound) VALUES (1, ?, ?, 1)"
            " ON CONFLICT (id) DO UPDATE SET at = COALESCE(excluded.at, listed.at), query = excluded.query, bound = 1",
            (high_water.isoformat() if high_water else None, query),
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
    listing = store.listing
    total = await listing.count(selection)
    window: dict[str, Change] = {}
    async for execution in listing.executions(selection):
        if (change := to_change(execution)) is None:
            continue
        newest = max(newest, change.changed_at) if newest else change.changed_at
        window.setdefault(change.order_id, change)  # a reset order is listed once a run
        if len(window) >= _WINDOW:
            await _export_window(store, list(window.values()), checkpoint, out, run)
            window = {}
            if on_progress:
                on_progress(run.listed, total)
    await _export_window(store, list(window.values()), checkpoint, out, run)
    if query is None and archive is not None:
        try:
            await asyncio.to_thread(_export_archived, archive, store, checkpoint, out, run)
        except ArchiveError as trouble:  # what Temporal holds is exported; the archive's orders next time
            run.archive_trouble = str(trouble)
    if on_progress:
        on_progress(run.listed, max(total, run.listed))
    return run, newest


async def _export_window(
    store: EventStore, window: Sequence[Change], checkpoint: ExportCheckpoint, out: TextIO, run: ExportRun
) -> None:
    """Read the changed orders' current runs, a few at a time, and write what each adds to
    what was exported, the orders in listing order."""
    run.listed += len(window)
    wanted = []
    for change in window:
        exported = checkpoint.exported(change.order_id)
        if _unchanged(change, exported):
            run.unchanged += 1
        else:
            wanted.append(change)
    limit = asyncio.Semaphore(_CONCURRENT_READS)

    async def read(change: Change) -> FoundStream | None:
        async with limit:
            try:
                return await store.read_stored(change.order_id)
            except StreamNotFound:  # deleted since it was listed (the archive pass takes it, if archived)
                return None

    for stored in await asyncio.gather(*(read(change) for change in wanted)):
        if stored is not None:
            began = as_text(stored.began_at) if stored.began_at else None
            _write(stored.stream, stored.run_id, began, not stored.running, checkpoint, out, run)


def _unchanged(change: Change, exported: Exported) -> bool:
    """Closed, in the run exported, at a version already exported: nothing to read."""
    same_run = exported.run_id is None or exported.run_id == change.run_id
    return exported.closed and same_run and change.version is not None and change.version <= exported.version


def _export_archived(
    archive: Archive, store: EventStore, checkpoint: ExportCheckpoint, out: TextIO, run: ExportRun
) -> None:
    """The orders only the archive holds, or holds a later run of than the one exported."""
    for order_id, last_version, run_id in archive.versions():
        exported = checkpoint.exported(order_id)
        same_run = exported.run_id == run_id or (exported.run_id is None and exported.version >= last_version)
        if exported.closed and same_run:
            continue
        archived = archive.get(order_id)
        if archived is None:
            continue
        began = as_text(archived.began_at())
        if exported.began_at is not None and began <= exported.began_at:
            continue  # Temporal holds a later run, exported already; the archive has not caught up with it
        run.listed += 1
        if archived.tombstone is not None:
            _write_compacted(archive, archived, began, store, checkpoint, out, run)
        else:
            _write(archived.stream(store.reader), archived.run_id, began, True, checkpoint, out, run)


def _write_compacted(
    archive: Archive,
    archived: ArchivedOrder,
    began_at: str,
    store: EventStore,
    checkpoint: ExportCheckpoint,
    out: TextIO,
    run: ExportRun,
) -> None:
    """An order whose events went before this export had them: its snapshot's line."""
    assert archived.tombstone is not None
    snapshot = snapshot_of_archived(archived.snapshot_row(), archive, store.reader, store.seal, archived)
    assert snapshot is not None
    line = CompactedStream(
        stream_id=archived.order_id,
        version=archived.tombstone.events,
        run_id=archived.run_id,
        compacted_at=archived.tombstone.dropped_at,
        events_sha256=archived.tombstone.events_sha256,
        state=snapshot.state,
    )
    out.write(line.model_dump_json() + "\n")
    run.compacted += 1
    checkpoint.record(archived.order_id, Exported(archived.run_id, None, archived.tombstone.events, True, began_at))


def _write(
    stream: OrderStream,
    run_id: str | None,
    began_at: str | None,
    closed: bool,
    checkpoint: ExportCheckpoint,
    out: TextIO,
    run: ExportRun,
) -> None:
    exported = checkpoint.exported(stream.order_id)
    ids = tuple(str(envelope.event_id) for envelope in stream.envelopes)
    after = exported.version
    if exported.event_ids is not None:
        kept = next((i for i, event_id in enumerate(exported.event_ids) if i >= len(ids) or ids[i] != event_id), None)
        after = len(exported.event_ids) if kept is None else kept
        if kept is not None:
            superseded = SupersededEvents(
                stream_id=stream.order_id, from_version=kept + 1, run_id=run_id or "", superseded_at=datetime.now(UTC)
            )
            out.write(superseded.model_dump_json() + "\n")
            run.superseded += 1
    new = stream.read(after + 1) if stream.version > after else []
    for envelope in new:
        out.write(envelope.model_dump_json() + "\n")
    run.events += len(new)
    run.exported_orders += bool(new)
    checkpoint.record(stream.order_id, Exported(run_id, ids, stream.version, closed, began_at))


def finish_output(partial: Path, final: Path, out: TextIO) -> None:
    """Make the run's output durable, then give it its name."""
    out.flush()
    os.fsync(out.fileno())
    out.close()
    partial.replace(final)
