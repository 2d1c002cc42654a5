"""The archive: closed orders kept after Temporal's retention deletes their histories.

Here the history is the event store, and Temporal deletes a closed workflow's history
once the namespace's retention ends. So each closed order is copied before then, once,
as the server holds it: its whole history (proto JSON, as `temporal workflow show
--output json` writes it, zlib-compressed) for replay and audit, and its envelopes as
recorded (Temporal payloads, so encrypted when the order was). Nothing is decoded to
archive an order: the archiver needs no keys, and the archive holds nothing in clear
that the server did not.

The archive is one table, in a SQLite file inside a directory (the default) or in a
PostgreSQL database. The order id is its key, and a row is written in one statement (no
transaction, no lock beyond the row's) that does nothing when the row is there: an order
is archived exactly once, however many archivers run or how often one is killed, and
every committed row is a checkpoint.
"""

import hashlib
import json
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import History, HistoryEvent
from temporalio.client import WorkflowHistory

from domain import OrderStream
from eventstore.history import PLAIN, EnvelopeReader, HistoryReadError, recorded_carriers
from storage import Database, is_postgres, open_database, where_of

ARCHIVE_FILENAME = "orders-archive.sqlite"
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
    history BYTEA NOT NULL,            -- zlib(proto JSON of the whole history)
    envelopes TEXT NOT NULL            -- a JSON array of the payloads carrying the envelopes (proto JSON)
)
"""
_COLUMNS = (
    "order_id, workflow_id, run_id, execution_status, closed_at, archived_at,"
    " last_version, history_events, history_sha256, history, envelopes"
)


class ArchiveError(ValueError):
    """An archive that cannot be used or read; the message names it."""


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

    @staticmethod
    def of(
        order_id: str, history: WorkflowHistory, execution_status: str, closed_at: datetime, archived_at: datetime
    ) -> "ArchivedOrder":
        carriers = recorded_carriers(history.events)
        envelopes = [json_format.MessageToDict(carrier.payload) for carrier in carriers]
        return ArchivedOrder(
            order_id=order_id,
            workflow_id=history.workflow_id,
            run_id=history.run_id,
            execution_status=execution_status,
            closed_at=closed_at,
            archived_at=archived_at,
            last_version=sum(carrier.envelopes for carrier in carriers),
            history_events=len(history.events),
            history_sha256=history_digest(history.events),
            compressed_history=zlib.compress(history.to_json().encode()),
            envelope_payloads=json.dumps(envelopes, separators=(",", ":")),
        )

    def history(self) -> WorkflowHistory:
        try:
            return WorkflowHistory.from_json(self.workflow_id, zlib.decompress(self.compressed_history).decode())
        except Exception as err:  # noqa: BLE001 - zlib, json and protobuf raise many kinds; all mean "damaged"
            raise ArchiveError(f"the archived history of order {self.order_id!r} cannot be read: {err}") from None

    def payloads(self) -> list[Payload]:
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


def open_archive(target: Path | str, *, create: bool = False) -> "Archive | None":
    """The archive at `target`; None when nothing was ever archived there, unless `create`."""
    return Archive(target) if create or archive_exists(target) else None


class Archive:
    def __init__(self, target: Path | str) -> None:
        """`target`: a directory (its SQLite file is made when missing) or a postgresql:// DSN."""
        self.where = where_of(target)
        self._db: Database = open_database(archive_location(target))
        self._db.execute(_SCHEMA)

    def put(self, order: ArchivedOrder) -> bool:
        """Archive `order`: True if this call did, False if it was archived already."""
        inserted = self._db.execute(
            f"INSERT INTO archived_orders ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (order_id) DO NOTHING RETURNING order_id",
            (
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
            ),
        ).fetchone()
        return inserted is not None

    def get(self, order_id: str) -> ArchivedOrder | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM archived_orders WHERE order_id = ?", (order_id,)).fetchone()
        return _archived(row) if row else None

    def known(self, order_ids: Sequence[str]) -> set[str]:
        """Those of `order_ids` the archive holds."""
        found: set[str] = set()
        for start in range(0, len(order_ids), _PAGE):
            page = order_ids[start : start + _PAGE]
            marks = ", ".join("?" * len(page))
            rows = self._db.execute(f"SELECT order_id FROM archived_orders WHERE order_id IN ({marks})", page)
            found.update(row[0] for row in rows)
        return found

    def orders(self) -> Iterator[ArchivedOrder]:
        """Every archived order by order id, a page at a time: memory holds one page."""
        return (_archived(row) for row in self._rows(_COLUMNS))

    def order_ids(self) -> Iterator[str]:
        """Every archived order's id, in order, a page at a time."""
        return (str(row[0]) for row in self._rows("order_id"))

    def versions(self) -> Iterator[tuple[str, int]]:
        """Every archived order's id and last version, in order, a page at a time."""
        return ((str(row[0]), int(row[1])) for row in self._rows("order_id, last_version"))

    def _rows(self, columns: str) -> Iterator[Any]:
        """`columns` (order_id first) of every row, by order id, read a page at a time."""
        after = ""
        while True:
            rows = self._db.execute(
                f"SELECT {columns} FROM archived_orders WHERE order_id > ? ORDER BY order_id LIMIT {_PAGE}", (after,)
            ).fetchall()
            yield from rows
            if len(rows) < _PAGE:
                return
            after = rows[-1][0]

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM archived_orders").fetchone()[0])

    def close(self) -> None:
        self._db.close()


def _archived(row: Sequence[object]) -> ArchivedOrder:
    history = row[9]
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
    )
