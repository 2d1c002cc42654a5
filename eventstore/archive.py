"""The archive: closed orders kept after Temporal's retention deletes their histories.

Here the history is the event store, and Temporal deletes a closed workflow's history
once the namespace's retention ends. So each closed order is copied before then, once,
as the server holds it: its whole history (Temporal's protobuf, `History`, zlib-compressed;
rows of old hold the CLI's proto JSON) for replay and audit, its envelopes as recorded
(Temporal payloads, so encrypted when the order was), and its snapshot (the fold of those
envelopes, eventstore.snapshots: sealed as they are). The archive holds nothing in clear
that the server did not. Once Temporal no longer holds an order and nobody will replay it,
its raw history may be compacted away (`compact`): the envelopes and the snapshot stay.
Past a later horizon a shop may compact an order to its snapshot (`compact --keep
snapshot`): the envelopes go too, and a tombstone says how many events were dropped, their
digest, and when; the snapshot is then the whole record of the order.

The archive is one table, in a SQLite file inside a directory (the default) or in a
PostgreSQL database. The order id is its key, and a row holds the order's current run: the
one a reset chain ends in, which readers by order id read. A row is written in one
statement that inserts it, or replaces the row of an earlier run of the same order (a run
made earlier: see eventstore.history.RunOf), and otherwise does nothing: an order is
archived exactly once per run, however many archivers run or how often one is killed,
racing archivers end with its latest run, and every committed row is a checkpoint.

Only `orders archive` writes the archive. Every other reader opens it to read only: it
may lie on read-only media, and one that cannot be read is named, not fatal, where
Temporal still holds what is asked.
"""

import hashlib
import json
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import History, HistoryEvent
from temporalio.client import WorkflowHistory

from contract import as_text, from_text
from domain import OrderStream
from eventstore.history import PLAIN, EnvelopeReader, HistoryReadError, recorded_carriers, run_of
from storage import Database, DatabaseError, PlaceError, is_postgres, open_database, where_of, writable_directory

ARCHIVE_FILENAME = "orders-archive.sqlite"
_ARCHIVE_LOCK = 0x4152434849564500  # "ARCHIVE": on PostgreSQL, one schema change at a time, apart from other stores
_PAGE = 200

_SCHEMA = """
CREATE TABLE IF NOT EXISTS archived_orders (
    order_id TEXT PRIMARY KEY,
    workflow_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    execution_status TEXT NOT NULL,    -- how the workflow closed: COMPLETED, FAILED, TERMINATED, ...
    closed_at TEXT NOT NULL,
    archived_at TEXT NOT NULL,
    last_version INTEGER NOT NULL,     -- how many envelopes: versions run 1..last_version
    history_events INTEGER NOT NULL,
    history_sha256 TEXT NOT NULL,      -- of the history's events, serialized deterministically
    history BYTEA NOT NULL,            -- zlib of the whole history, as history_format says; empty once compacted
    envelopes TEXT NOT NULL,           -- a JSON array of the payloads carrying the envelopes (proto JSON)
    run_began_at TEXT,                 -- when the run was made (started, or reset into); NULL in rows of old
    snapshot BYTEA,                    -- the order's snapshot, a payload sealed as the envelopes are; NULL until made
    history_format TEXT,               -- 'proto': zlib(History's protobuf); NULL: zlib(proto JSON), in rows of old
    compacted_at TEXT,                 -- when the raw history was compacted away (emptied); NULL while it is kept
    tombstone TEXT                     -- once the envelopes were dropped too (Tombstone, as JSON); NULL while kept
)
"""
# Added to archives made before each: their rows say NULL. An older build reading this
# table names a row whose history it cannot parse (protobuf, or compacted) in one line.
_ADDED_COLUMNS = {
    "run_began_at": "TEXT",
    "snapshot": "BYTEA",
    "history_format": "TEXT",
    "compacted_at": "TEXT",
    "tombstone": "TEXT",
}
_COLUMNS = (
    "order_id, workflow_id, run_id, execution_status, closed_at, archived_at, last_version, history_events,"
    " history_sha256, history, envelopes, run_began_at, snapshot, history_format, compacted_at, tombstone"
)
PROTO = "proto"


class ArchiveError(ValueError):
    """An archive that cannot be used or read; the message names it."""


class EventsCompacted(ArchiveError):
    """The order's events were compacted to its snapshot: only its state at its last
    version is left. The message says when, and what still answers."""

    def __init__(self, order_id: str, tombstone: "Tombstone") -> None:
        super().__init__(
            f"the events of order {order_id!r} were compacted to a snapshot at version {tombstone.events}"
            f" on {tombstone.dropped_at:%Y-%m-%d} (orders archive compact --keep snapshot): only its state at"
            f" version {tombstone.events} is kept (`orders state {order_id}`)"
        )
        self.order_id = order_id
        self.tombstone = tombstone


@dataclass(frozen=True)
class Tombstone:
    """What is left of an order's dropped envelopes: how many events there were, the
    digest of the envelopes as the archive held them, when they were dropped, and a seal
    binding these to the row's order, run and snapshot (a check against damage and careless
    edits, not against someone who can rewrite the archive)."""

    events: int
    events_sha256: str
    dropped_at: datetime
    seal: str

    @staticmethod
    def of(order: "ArchivedOrder", dropped_at: datetime) -> "Tombstone":
        digest = hashlib.sha256(order.envelope_payloads.encode()).hexdigest()
        return Tombstone(order.last_version, digest, dropped_at, _seal(order, order.last_version, digest, dropped_at))

    def holds_for(self, order: "ArchivedOrder") -> bool:
        """Whether this tombstone is the one made for `order`'s run and snapshot as they are."""
        return self.seal == _seal(order, self.events, self.events_sha256, self.dropped_at)

    def as_text(self) -> str:
        return json.dumps(
            {
                "events": self.events,
                "events_sha256": self.events_sha256,
                "dropped_at": as_text(self.dropped_at),
                "seal": self.seal,
            }
        )

    @staticmethod
    def from_text(text: object, order_id: str) -> "Tombstone | None":
        if text is None:
            return None
        try:
            found = json.loads(str(text))
            dropped_at = from_text(found["dropped_at"])
            if dropped_at is None:
                raise ValueError("it says no time")
            return Tombstone(int(found["events"]), str(found["events_sha256"]), dropped_at, str(found["seal"]))
        except Exception as err:  # noqa: BLE001 - json, keys and types: all mean "damaged"
            raise ArchiveError(f"the tombstone of order {order_id!r} in the archive cannot be read: {err}") from None


def _seal(order: "ArchivedOrder", events: int, events_sha256: str, dropped_at: datetime) -> str:
    snapshot = hashlib.sha256(order.snapshot or b"").hexdigest()
    bound = "|".join((order.order_id, order.run_id, str(events), events_sha256, as_text(dropped_at), snapshot))
    return hashlib.sha256(bound.encode()).hexdigest()


def history_digest(events: Sequence[HistoryEvent]) -> str:
    """The same for the same events, wherever they were read from."""
    return hashlib.sha256(History(events=events).SerializeToString(deterministic=True)).hexdigest()


@dataclass(frozen=True)
class ArchivedOrder:
    order_id: str
    workflow_id: str
    run_id: str
    execution_status: str
    closed_at: datetime
    archived_at: datetime
    last_version: int
    history_events: int
    history_sha256: str
    compressed_history: bytes
    envelope_payloads: str
    run_began_at: datetime | None  # None in rows archived before it was kept
    snapshot: bytes | None = None  # sealed (eventstore.snapshots); None in rows not snapshotted yet
    history_format: str | None = PROTO  # None: the CLI's proto JSON, in rows of old
    compacted_at: datetime | None = None  # when the raw history was compacted away
    tombstone: Tombstone | None = None  # once the envelopes were dropped too (compacted to the snapshot)

    @staticmethod
    def of(order_id: str, history: WorkflowHistory, archived_at: datetime, snapshot: bytes) -> "ArchivedOrder":
        """The closed run `history` is, to archive with its `snapshot`: its run, how and
        when it closed, from the history itself."""
        run = run_of(history.events)
        if run.closed_as is None or run.closed_at is None:
            raise ArchiveError(f"order {order_id!r}: run {run.run_id} is still open; only closed runs are archived")
        carriers = recorded_carriers(history.events)
        envelopes = [json_format.MessageToDict(carrier.payload) for carrier in carriers]
        return ArchivedOrder(
            order_id=order_id,
            workflow_id=history.workflow_id,
            run_id=run.run_id,
            execution_status=run.closed_as,
            closed_at=run.closed_at,
            archived_at=archived_at,
            last_version=sum(carrier.envelopes for carrier in carriers),
            history_events=len(history.events),
            history_sha256=history_digest(history.events),
            compressed_history=zlib.compress(History(events=history.events).SerializeToString()),
            envelope_payloads=json.dumps(envelopes, separators=(",", ":")),
            run_began_at=run.began_at,
            snapshot=snapshot,
        )

    def began_at(self) -> datetime:
        """When the archived run was made; read from its history in rows that predate the column."""
        return self.run_began_at or run_of(self.history().events).began_at

    def history(self) -> WorkflowHistory:
        if self.tombstone is not None:
            raise EventsCompacted(self.order_id, self.tombstone)
        if self.compacted_at is not None:
            raise ArchiveError(
                f"the raw history of order {self.order_id!r} was compacted away on {self.compacted_at:%Y-%m-%d}"
                " (orders archive compact): its events and its snapshot are kept, nothing is left to replay"
            )
        try:
            raw = zlib.decompress(self.compressed_history)
            if self.history_format == PROTO:
                return WorkflowHistory(self.workflow_id, list(History.FromString(raw).events))
            return WorkflowHistory.from_json(self.workflow_id, raw.decode())
        except Exception as err:  # noqa: BLE001 - zlib, json and protobuf raise many kinds; all mean "damaged"
            raise ArchiveError(f"the archived history of order {self.order_id!r} cannot be read: {err}") from None

    def snapshot_row(self) -> "ArchivedSnapshot":
        return ArchivedSnapshot(self.order_id, self.run_id, self.run_began_at, self.last_version, self.snapshot)

    def payloads(self) -> list[Payload]:
        if self.tombstone is not None:
            raise EventsCompacted(self.order_id, self.tombstone)
        try:
            return [json_format.ParseDict(item, Payload()) for item in json.loads(self.envelope_payloads)]
        except Exception as err:  # noqa: BLE001 - as above
            raise ArchiveError(f"the archived envelopes of order {self.order_id!r} cannot be read: {err}") from None

    def stream(self, reader: EnvelopeReader = PLAIN) -> OrderStream:
        """The order's stream from its archived envelopes, read as a history's are."""
        try:
            envelopes = tuple(
                envelope
                for number, payload in enumerate(self.payloads(), start=1)
                for envelope in reader.envelopes(payload, f"archived envelope {number}")
            )
        except HistoryReadError as err:
            raise HistoryReadError(f"order {self.order_id!r} in the archive: {err}") from None
        return OrderStream(self.order_id, envelopes)


def archive_location(target: Path | str) -> Path | str:
    """The SQLite file inside an archive directory, or the PostgreSQL DSN as it is."""
    return target if is_postgres(target) else Path(target) / ARCHIVE_FILENAME


def archive_exists(target: Path | str) -> bool:
    """Whether anything was ever archived at `target` (a PostgreSQL one is asked when opened)."""
    return is_postgres(target) or Path(archive_location(target)).is_file()


def open_archive(target: Path | str) -> "Archive | None":
    """The archive at `target`, to read only; None when nothing was ever archived there.
    Nothing is read yet: a damaged archive is named (ArchiveError) by the first read."""
    return Archive(target, writing=False) if archive_exists(target) else None


class Archive:
    def __init__(self, target: Path | str, *, writing: bool = True) -> None:
        """`target`: a directory (its SQLite file made when missing) or a postgresql:// DSN.
        `writing`: for `orders archive`, which alone writes here: the place is checked and
        the table made (or brought up to date) at once, an ArchiveError naming what is
        wrong. Readers open it to read only, and nothing is asked of it until they read."""
        self.where = where_of(target)
        self._writing = writing
        self._added: set[str] | None = None  # columns added since, which this archive has (None: not asked yet)
        try:
            if writing and not is_postgres(target):
                writable_directory(Path(target), what=f"the archive directory {target} (ORDERS_ARCHIVE)")
            self._db: Database = open_database(archive_location(target), read_only=not writing, lock=_ARCHIVE_LOCK)
        except PlaceError as err:
            raise ArchiveError(f"the archive at {self.where} cannot be used: {err}") from None
        if writing:
            # In one exclusive transaction: another `orders archive` (an `--every` loop, say)
            # may be bringing the same table up to date at the same moment.
            with self._reading("used"), self._db.transaction():
                self._db.execute(_SCHEMA)
                for column, kind in _ADDED_COLUMNS.items():
                    if column not in self._db.columns("archived_orders"):
                        self._db.execute(f"ALTER TABLE archived_orders ADD COLUMN {column} {kind}")

    def put(self, order: ArchivedOrder) -> bool:
        """Archive `order`'s run: True if this call wrote it, as a new row or over the row
        of an earlier run of the order; False if the row holds this run or a later one."""
        row = (
            order.order_id,
            order.workflow_id,
            order.run_id,
            order.execution_status,
            order.closed_at.isoformat(),
            order.archived_at.isoformat(),
            order.last_version,
            order.history_events,
            order.history_sha256,
            order.compressed_history,
            order.envelope_payloads,
            as_text(order.began_at()),
            order.snapshot,
            order.history_format,
            None,
            None,
        )
        replaced = ", ".join(f"{column} = excluded.{column}" for column in _COLUMNS.split(", ")[1:])
        with self._reading("written"):
            written = self._db.execute(
                f"INSERT INTO archived_orders ({_COLUMNS}) VALUES ({', '.join('?' * len(row))})"
                f" ON CONFLICT (order_id) DO UPDATE SET {replaced}"
                " WHERE archived_orders.run_id <> excluded.run_id"
                " AND (archived_orders.run_began_at IS NULL OR archived_orders.run_began_at < excluded.run_began_at)"
                " RETURNING order_id",
                row,
            ).fetchone()
        return written is not None

    def get(self, order_id: str) -> ArchivedOrder | None:
        columns = self._columns()
        with self._reading():
            row = self._db.execute(f"SELECT {columns} FROM archived_orders WHERE order_id = ?", (order_id,)).fetchone()
        return _archived(row) if row else None

    def known(self, order_ids: Sequence[str]) -> dict[str, "ArchivedRun"]:
        """Those of `order_ids` the archive holds, each with the run it holds."""
        found: dict[str, ArchivedRun] = {}
        columns = "order_id, run_id, " + ("run_began_at" if "run_began_at" in self._has() else "NULL")
        for start in range(0, len(order_ids), _PAGE):
            page = order_ids[start : start + _PAGE]
            marks = ", ".join("?" * len(page))
            with self._reading():
                rows = self._db.execute(
                    f"SELECT {columns} FROM archived_orders WHERE order_id IN ({marks})", page
                ).fetchall()
            found.update({str(row[0]): ArchivedRun(str(row[1]), from_text(row[2])) for row in rows})
        return found

    def orders(self, order_ids: Sequence[str] | None = None) -> Iterator[ArchivedOrder]:
        """Every archived order (or those of `order_ids` it holds) by order id, a page at a
        time: memory holds one page."""
        if order_ids is None:
            return (_archived(row) for row in self._rows(self._columns()))
        return (_archived(row) for row in self._rows_of(self._columns(), order_ids))

    def order_ids(self) -> Iterator[str]:
        """Every archived order's id, in order, a page at a time."""
        return (str(row[0]) for row in self._rows("order_id"))

    def versions(self) -> Iterator[tuple[str, int, str]]:
        """Every archived order's id, last version and run, in order, a page at a time."""
        return ((str(row[0]), int(row[1]), str(row[2])) for row in self._rows("order_id, last_version, run_id"))

    def snapshots(self, order_ids: Sequence[str] | None = None) -> Iterator["ArchivedSnapshot"]:
        """The snapshot of every archived order (or of those of `order_ids` it holds), by
        order id, a page at a time; its `snapshot` None where none was made yet."""
        columns = self._columns(only=("order_id", "run_id", "run_began_at", "last_version", "snapshot"))
        if order_ids is None:
            return (_snapshot_row(row) for row in self._rows(columns))
        return (_snapshot_row(row) for row in self._rows_of(columns, order_ids))

    def without_snapshot(self) -> Iterator[ArchivedOrder]:
        """Every archived order that has no snapshot yet (archived before snapshots were
        made, or by an older build), by order id, a page at a time."""
        if "snapshot" not in self._has():
            return self.orders()
        return (_archived(row) for row in self._rows(self._columns(), where="snapshot IS NULL"))

    def put_snapshot(self, order: ArchivedOrder, snapshot: bytes) -> bool:
        """Give the archived run of `order` its snapshot (and, in a row of old, when the run
        was made), unless it has one or the row now holds another run: True if this call
        wrote it."""
        with self._reading("written"):
            written = self._db.execute(
                "UPDATE archived_orders SET snapshot = ?, run_began_at = COALESCE(run_began_at, ?)"
                " WHERE order_id = ? AND run_id = ? AND snapshot IS NULL RETURNING order_id",
                (snapshot, as_text(order.began_at()), order.order_id, order.run_id),
            ).fetchone()
        return written is not None

    def kept_histories(self) -> Iterator[tuple[str, str, datetime, bool]]:
        """Every archived order whose raw history is still kept: its id, its run, when it
        closed, and whether it has its snapshot; by order id, a page at a time."""
        columns = self._columns(only=("order_id", "run_id", "closed_at", "snapshot"))
        columns = columns.replace("snapshot", "snapshot IS NOT NULL") if "snapshot" in self._has() else columns
        where = "compacted_at IS NULL" if "compacted_at" in self._has() else "1 = 1"
        return (
            (str(row[0]), str(row[1]), datetime.fromisoformat(str(row[2])), bool(row[3]))
            for row in self._rows(columns, where=where)
        )

    def compact(self, order_id: str, run_id: str, at: datetime) -> bool:
        """Drop the archived run's raw history, keeping its envelopes and snapshot: True if
        this call did (the row holds that run, has its snapshot, and was not compacted)."""
        with self._reading("written"):
            compacted = self._db.execute(
                "UPDATE archived_orders SET history = ?, compacted_at = ? WHERE order_id = ? AND run_id = ?"
                " AND compacted_at IS NULL AND snapshot IS NOT NULL RETURNING order_id",
                (b"", as_text(at), order_id, run_id),
            ).fetchone()
        return compacted is not None

    def kept_envelopes(self) -> Iterator[tuple[str, str, datetime, bool]]:
        """As `kept_histories`, of every archived order whose envelopes are still kept."""
        columns = self._columns(only=("order_id", "run_id", "closed_at", "snapshot"))
        columns = columns.replace("snapshot", "snapshot IS NOT NULL") if "snapshot" in self._has() else columns
        where = "tombstone IS NULL" if "tombstone" in self._has() else "1 = 1"
        return (
            (str(row[0]), str(row[1]), datetime.fromisoformat(str(row[2])), bool(row[3]))
            for row in self._rows(columns, where=where)
        )

    def compact_to_snapshot(self, order: ArchivedOrder, tombstone: Tombstone) -> bool:
        """Drop the archived run's envelopes (and its raw history, if still kept), leaving
        its snapshot and `tombstone`: True if this call did (the row holds that run, with
        the snapshot the tombstone was sealed with, and was not compacted to it before)."""
        with self._reading("written"):
            compacted = self._db.execute(
                "UPDATE archived_orders SET history = ?, envelopes = ?, compacted_at = COALESCE(compacted_at, ?),"
                " tombstone = ? WHERE order_id = ? AND run_id = ? AND tombstone IS NULL AND snapshot = ?"
                " RETURNING order_id",
                (
                    b"",
                    "",
                    as_text(tombstone.dropped_at),
                    tombstone.as_text(),
                    order.order_id,
                    order.run_id,
                    order.snapshot,
                ),
            ).fetchone()
        return compacted is not None

    def compacted_to_snapshots(self) -> int:
        """How many archived orders were compacted to their snapshots."""
        if "tombstone" not in self._has():
            return 0
        with self._reading():
            counted = self._db.execute("SELECT COUNT(*) FROM archived_orders WHERE tombstone IS NOT NULL").fetchone()
        return int(counted[0])

    def compacted(self) -> int:
        """How many archived orders have had their raw history compacted away."""
        if "compacted_at" not in self._has():
            return 0
        with self._reading():
            return int(
                self._db.execute("SELECT COUNT(*) FROM archived_orders WHERE compacted_at IS NOT NULL").fetchone()[0]
            )

    def _rows_of(self, columns: str, order_ids: Sequence[str]) -> Iterator[Any]:
        """`columns` (order_id first) of the rows of `order_ids`, a page at a time, by order id."""
        ordered = sorted(set(order_ids))
        for start in range(0, len(ordered), _PAGE):
            page = ordered[start : start + _PAGE]
            with self._reading():
                yield from self._db.execute(
                    f"SELECT {columns} FROM archived_orders WHERE order_id IN ({', '.join('?' * len(page))})"
                    " ORDER BY order_id",
                    page,
                ).fetchall()

    def _rows(self, columns: str, where: str = "1 = 1") -> Iterator[Any]:
        """`columns` (order_id first) of every row `where` holds of, by order id, read a
        page at a time."""
        after = ""
        while True:
            with self._reading():
                rows = self._db.execute(
                    f"SELECT {columns} FROM archived_orders WHERE order_id > ? AND {where}"
                    f" ORDER BY order_id LIMIT {_PAGE}",
                    (after,),
                ).fetchall()
            yield from rows
            if len(rows) < _PAGE:
                return
            after = rows[-1][0]

    def count(self) -> int:
        with self._reading():
            return int(self._db.execute("SELECT COUNT(*) FROM archived_orders").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    def _has(self) -> set[str]:
        """Which of the columns added since this archive has (an old one, read only, may lack them)."""
        if self._added is None:
            with self._reading():
                self._added = self._db.columns("archived_orders") & _ADDED_COLUMNS.keys()
        return self._added

    def _columns(self, only: Sequence[str] | None = None) -> str:
        """The columns to select (`only` these, in that order), NULL for those this archive lacks."""
        missing = _ADDED_COLUMNS.keys() - self._has()
        chosen = only if only is not None else _COLUMNS.split(", ")
        return ", ".join(f"NULL AS {column}" if column in missing else column for column in chosen)

    @contextmanager
    def _reading(self, how: str = "read") -> Iterator[None]:
        """A damaged, missing or read-only archive named in one line (ArchiveError)."""
        try:
            yield
        except DatabaseError as err:
            raise ArchiveError(f"the archive at {self.where} cannot be {how}: {_first_line(err)}") from None


@dataclass(frozen=True)
class ArchivedSnapshot:
    """An archived order's snapshot as stored (sealed; None where none was made yet), and
    which run, of how many events, it is of."""

    order_id: str
    run_id: str
    run_began_at: datetime | None
    last_version: int
    snapshot: bytes | None


def _snapshot_row(row: Sequence[object]) -> ArchivedSnapshot:
    snapshot = row[4]
    return ArchivedSnapshot(
        order_id=str(row[0]),
        run_id=str(row[1]),
        run_began_at=from_text(row[2]),
        last_version=int(str(row[3])),
        snapshot=bytes(snapshot) if isinstance(snapshot, bytes | memoryview) else None,
    )


@dataclass(frozen=True)
class ArchivedRun:
    """Which run of an order the archive holds, and when that run was made (None in rows
    archived before it was kept)."""

    run_id: str
    began_at: datetime | None


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def _archived(row: Sequence[object]) -> ArchivedOrder:
    history, snapshot = row[9], row[12]
    return ArchivedOrder(
        order_id=str(row[0]),
        workflow_id=str(row[1]),
        run_id=str(row[2]),
        execution_status=str(row[3]),
        closed_at=datetime.fromisoformat(str(row[4])),
        archived_at=datetime.fromisoformat(str(row[5])),
        last_version=int(str(row[6])),
        history_events=int(str(row[7])),
        history_sha256=str(row[8]),
        compressed_history=bytes(history) if isinstance(history, bytes | memoryview) else b"",
        envelope_payloads=str(row[10]),
        run_began_at=from_text(row[11]),
        snapshot=bytes(snapshot) if isinstance(snapshot, bytes | memoryview) else None,
        history_format=str(row[13]) if row[13] else None,
        compacted_at=from_text(row[14]),
        tombstone=Tombstone.from_text(row[15], str(row[0])),
    )
