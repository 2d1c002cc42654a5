"""The read models, in SQLite or PostgreSQL (storage.databases): disposable, rebuilt
from the histories whenever asked.

One row per order (`order_summaries`, the tutorial's OrderProjection) holds the order's
latest state and the version it was folded to: that version is the stream's checkpoint,
written in the same transaction as every read-model change it causes, so an event is
applied once or not at all, however often it is offered. The aggregates (totals per
customer, sales per day, validation errors by code) are kept by taking the order's old
contribution out and putting its new one in, in that transaction too, with exact
decimal arithmetic. Snapshots of the state are written every `snapshot_every` versions
and when an order closes.
"""

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

from domain import (
    STATE_SCHEMA_VERSION,
    EventStreamError,
    OrderState,
    OrderStatus,
    OrderStream,
    Snapshot,
    ValidationProblem,
    apply_event,
)
from domain.summary import OrderSummary, summarize_orders, validation_problems
from storage.databases import Database, open_database

READ_MODELS = ("order_summaries", "customer_totals", "sales_per_day", "validation_errors_by_code", "snapshots")
DEFAULT_SNAPSHOT_EVERY = 50

_SCHEMA = """
CREATE TABLE IF NOT EXISTS order_summaries (
    order_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,          -- the stream's checkpoint: the last version applied
    closed INTEGER NOT NULL,
    status TEXT,
    customer_id TEXT,
    total_amount TEXT,
    payment_id TEXT,
    payment_status TEXT,
    tracking_number TEXT,
    refund_amount TEXT,
    received_at TEXT,
    updated_at TEXT,
    state TEXT NOT NULL,
    problems TEXT NOT NULL,
    applied_at TEXT NOT NULL           -- when this row was last written, for measuring lag
);
CREATE TABLE IF NOT EXISTS customer_totals (
    customer_id TEXT PRIMARY KEY,
    orders INTEGER NOT NULL,
    ordered_amount TEXT NOT NULL,
    fulfilled_amount TEXT NOT NULL,
    refunded_amount TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sales_per_day (
    day TEXT PRIMARY KEY,
    orders INTEGER NOT NULL,
    revenue TEXT NOT NULL,
    refunds TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS validation_errors_by_code (
    code TEXT PRIMARY KEY,
    orders INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshots (
    stream_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    state TEXT NOT NULL,
    state_schema_version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (stream_id, version)
);
CREATE TABLE IF NOT EXISTS checkpoint (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    high_water TEXT,                   -- the latest change seen in visibility
    caught_up_at TEXT                  -- when a catch-up last finished
);
CREATE TABLE IF NOT EXISTS read_models_owner (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    namespace TEXT NOT NULL,           -- whose histories these are folded from
    namespace_id TEXT NOT NULL         -- the namespace's own id: the same name on another server is another
);
"""
# The tables of the schema and their columns, to tell ours from another program's.
_COLUMNS = {
    match.group(1): {
        line.split()[0] for line in match.group(2).strip().splitlines() if not line.strip().startswith("PRIMARY KEY")
    }
    for match in re.finditer(r"CREATE TABLE IF NOT EXISTS (\w+) \((.*?)\n\);", _SCHEMA, flags=re.DOTALL)
}
_OWNER = "read_models_owner"


class ProjectionError(RuntimeError):
    """A stream that cannot be applied even from its first event."""


class NeedsWholeStream(LookupError):
    """Events offered on their own do not continue what is stored: read the whole stream."""


@dataclass(frozen=True)
class Stored:
    version: int
    closed: bool


@dataclass(frozen=True)
class Applied:
    events: int
    repaired: bool  # the stored state did not continue into the stream; folded from the first event


class ReadModels:
    """The read models in one database; safe to share between threads and processes
    (each change is one exclusive transaction that checks the checkpoint it moves)."""

    def __init__(self, target: str | Path, snapshot_every: int = DEFAULT_SNAPSHOT_EVERY) -> None:
        """`target`: a SQLite path, or a postgresql:// DSN."""
        self.snapshot_every = snapshot_every
        self._db = open_database(target)
        self.where = self._db.where
        with self._db.transaction():
            self._refuse_foreign_tables()
            for statement in filter(str.strip, _SCHEMA.split(";")):
                self._db.execute(statement)

    def _refuse_foreign_tables(self) -> None:
        """Never write into another program's tables that happen to share a name."""
        existing = self._db.tables() & _COLUMNS.keys()
        for table in sorted(existing):
            described = self._db.execute(f"SELECT * FROM {table} WHERE 1 = 0")
            columns = {column[0] for column in described.description}  # type: ignore[attr-defined]
            if columns != _COLUMNS[table]:
                raise ProjectionError(
                    f"{self.where} holds a table {table} that is not one of the read models' (its columns differ):"
                    " give the read models a database of their own (ORDERS_PROJECTIONS_DSN)"
                )

    # -- Whose they are ------------------------------------------------------------

    def claim(self, namespace: str, namespace_id: str, *, take_over: bool = False) -> None:
        """Record whose histories these read models fold, the first time; refuse another
        namespace's (the same name on another server is another) unless `take_over`, as
        a rebuild does, which starts them over from this namespace's histories."""
        with self._db.transaction():
            row = self._db.execute(f"SELECT namespace, namespace_id FROM {_OWNER} WHERE id = 1").fetchone()
            if row is not None and tuple(row) == (namespace, namespace_id):
                return
            if row is not None and not take_over:
                raise ProjectionError(
                    f"the read models in {self.where} are those of namespace {row[0]!r} (id {row[1]}), not of"
                    f" {namespace!r} (id {namespace_id}): give each namespace its own ORDERS_PROJECTIONS_DSN,"
                    " or start these over from this namespace with `orders projector rebuild`"
                )
            self._db.execute(
                f"INSERT INTO {_OWNER} (id, namespace, namespace_id) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE"
                " SET namespace = excluded.namespace, namespace_id = excluded.namespace_id",
                (namespace, namespace_id),
            )

    # -- Checkpoints -------------------------------------------------------------

    def stored(self, order_id: str) -> Stored | None:
        row = self._db.execute("SELECT version, closed FROM order_summaries WHERE order_id = ?", (order_id,)).fetchone()
        return None if row is None else Stored(row[0], bool(row[1]))

    def state_of(self, order_id: str) -> OrderState | None:
        """The order's state as last applied; None for an order the read models never saw."""
        row = self._db.execute("SELECT state FROM order_summaries WHERE order_id = ?", (order_id,)).fetchone()
        return None if row is None else OrderState.model_validate_json(row[0])

    def high_water(self) -> datetime | None:
        row = self._db.execute("SELECT high_water FROM checkpoint WHERE id = 1").fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def caught_up_at(self) -> datetime | None:
        row = self._db.execute("SELECT caught_up_at FROM checkpoint WHERE id = 1").fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def advance(self, high_water: datetime | None) -> None:
        """Record a finished catch-up; the high-water mark only ever moves forward."""
        now = datetime.now(UTC).isoformat()
        with self._db.transaction():
            db = self._db
            current = db.execute("SELECT high_water FROM checkpoint WHERE id = 1").fetchone()
            keep = current[0] if current and current[0] else None
            if high_water is not None and (keep is None or datetime.fromisoformat(keep) < high_water):
                keep = high_water.isoformat()
            db.execute(
                "INSERT INTO checkpoint (id, high_water, caught_up_at) VALUES (1, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET high_water = excluded.high_water, caught_up_at = excluded.caught_up_at",
                (keep, now),
            )

    # -- Applying ----------------------------------------------------------------

    def apply(self, stream: OrderStream, closed: bool, *, whole: bool = True) -> Applied:
        """Bring the read models up to `stream`: the events after the stored version,
        checkpoint and all, in one transaction. Nothing to do is done at no cost.
        `whole=False`: `stream` holds only the latest events (as visibility's memo shows
        the last one); NeedsWholeStream if they do not continue what is stored."""
        with self._db.transaction():
            db = self._db
            row = db.execute(
                "SELECT version, closed, state, status, customer_id, total_amount, refund_amount, received_at,"
                " problems FROM order_summaries WHERE order_id = ?",
                (stream.order_id,),
            ).fetchone()
            stored_version = row[0] if row else 0
            if row is not None and (
                # A read older than what is applied (two projectors, a slow read) never
                # takes an order back; a closed order stays closed.
                stream.version < stored_version or (stream.version == stored_version and (bool(row[1]) or not closed))
            ):
                return Applied(0, False)
            if whole:
                state, snapshots, repaired = self._fold_on(stream, row)
            else:
                state, snapshots, repaired = self._continue(stream, row)
            if row is not None:
                _contribute(db, _Contribution.of_row(row), sign=-1)
            problems = _problems(stream, row)
            received_at = _received_at(stream, row)
            new = (
                stream.order_id, state.version, int(closed), _text(state.status), state.customer_id,
                _text(state.total_amount), state.payment_id, _text(state.payment_status), state.tracking_number,
                _text(state.refund_amount), received_at, _text(state.updated_at), state.model_dump_json(),
                json.dumps([problem.model_dump(mode="json") for problem in problems]), datetime.now(UTC).isoformat(),
            )  # fmt: skip
            db.execute(_upsert("order_summaries", "order_id", _SUMMARY_COLUMNS), new)
            _contribute(db, _Contribution.of(state, problems, received_at), sign=+1)
            if closed and state.version:
                snapshots[state.version] = state
            created_at = datetime.now(UTC).isoformat()
            db.executemany(
                "INSERT INTO snapshots (stream_id, version, state, state_schema_version, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [
                    (stream.order_id, version, snapshot.model_dump_json(), STATE_SCHEMA_VERSION, created_at)
                    for version, snapshot in snapshots.items()
                ],
            )
            return Applied(state.version - (0 if repaired else stored_version), repaired)

    def _fold_on(
        self, stream: OrderStream, row: tuple[Any, ...] | None
    ) -> tuple[OrderState, dict[int, OrderState], bool]:
        """The stream's latest state, folded on from the stored one, and the states to
        snapshot on the way. A stored state the stream does not continue (a gap in
        versions) is never skipped over: the stream is folded from its first event instead."""
        stored_version = row[0] if row else 0
        start = OrderState.model_validate_json(row[2]) if row else OrderState(order_id=stream.order_id)
        try:
            return (*self._fold(start, stream, stored_version), False)
        except EventStreamError:
            try:
                return (*self._fold(OrderState(order_id=stream.order_id), stream, 0), True)
            except EventStreamError as err:
                raise ProjectionError(f"order {stream.order_id}: its stream cannot be folded: {err}") from None

    def _continue(
        self, latest: OrderStream, row: tuple[Any, ...] | None
    ) -> tuple[OrderState, dict[int, OrderState], bool]:
        stored_version = row[0] if row else 0
        if row is None or not latest.envelopes or latest.envelopes[0].version > stored_version + 1:
            raise NeedsWholeStream(latest.order_id)
        try:
            stored = OrderState.model_validate_json(row[2])
            offset = latest.envelopes[0].version - 1
            return (*self._fold(stored, latest, stored_version, offset), False)
        except EventStreamError:
            raise NeedsWholeStream(latest.order_id) from None

    def _fold(
        self, state: OrderState, stream: OrderStream, after: int, offset: int = 0
    ) -> tuple[OrderState, dict[int, OrderState]]:
        """Fold `stream`'s events after version `after` onto `state`; `offset`: the
        version before the first envelope `stream` holds."""
        snapshots = {}
        for envelope in stream.envelopes[after - offset :]:
            state = apply_event(state, envelope)  # raises on a gap in versions
            if state.version % self.snapshot_every == 0:
                snapshots[state.version] = state
        return state, snapshots

    def clear(self) -> None:
        with self._db.transaction():
            db = self._db
            for table in (*READ_MODELS, "checkpoint"):
                db.execute(f"DELETE FROM {table}")

    # -- Reading -----------------------------------------------------------------

    def order_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM order_summaries").fetchone()[0])

    def summary(self) -> OrderSummary:
        """The same summary `orders report` folds from the histories, from the rows."""
        return summarize_orders(self._orders())

    def _orders(self) -> Iterator[tuple[OrderState, tuple[ValidationProblem, ...]]]:
        for state, problems in self._db.execute("SELECT state, problems FROM order_summaries"):
            yield (
                OrderState.model_validate_json(state),
                tuple(ValidationProblem.model_validate(problem) for problem in json.loads(problems)),
            )

    def delays(self, order_id_prefix: str, status: str | None = None) -> list[float]:
        """Seconds from each matching order's latest event to its row being written (of
        the orders at `status`, if given)."""
        query = "SELECT updated_at, applied_at FROM order_summaries WHERE order_id LIKE ? AND updated_at IS NOT NULL"
        arguments: tuple[str, ...] = (f"{order_id_prefix}%",)
        if status is not None:
            query, arguments = query + " AND status = ?", (*arguments, status)
        rows = self._db.execute(query, arguments)
        return [
            (datetime.fromisoformat(applied) - datetime.fromisoformat(updated)).total_seconds()
            for updated, applied in rows
        ]

    def nearest(self, stream_id: str, at_most: int) -> Snapshot | None:
        """The latest snapshot of `stream_id` at or below `at_most`, of today's state layout."""
        row = self._db.execute(
            "SELECT version, state, state_schema_version, created_at FROM snapshots"
            " WHERE stream_id = ? AND version <= ? AND state_schema_version = ? ORDER BY version DESC LIMIT 1",
            (stream_id, at_most, STATE_SCHEMA_VERSION),
        ).fetchone()
        if row is None:
            return None
        version, state, schema, created_at = row
        return Snapshot(
            stream_id, version, OrderState.model_validate_json(state), schema, datetime.fromisoformat(created_at)
        )

    def contents(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every read model, in key order, without the times rows were
        written: what two projections of the same histories must agree on."""
        columns = {
            "order_summaries": "order_id, version, closed, status, customer_id, total_amount, payment_id,"
            " payment_status, tracking_number, refund_amount, received_at, updated_at, state, problems",
            "snapshots": "stream_id, version, state, state_schema_version",
        }
        return {
            table: self._db.execute(f"SELECT {columns.get(table, '*')} FROM {table} ORDER BY 1").fetchall()
            for table in READ_MODELS
        }

    def close(self) -> None:
        self._db.close()


# -- Aggregates ------------------------------------------------------------------


@dataclass(frozen=True)
class _Contribution:
    """What one order adds to the aggregates."""

    customer_id: str | None
    day: str | None
    total: Decimal
    fulfilled: bool
    refunded: Decimal
    codes: frozenset[str]

    @staticmethod
    def of(state: OrderState, problems: tuple[ValidationProblem, ...], received_at: str | None) -> "_Contribution":
        return _Contribution(
            customer_id=state.customer_id,
            day=received_at[:10] if received_at else None,
            total=state.total_amount or Decimal(0),
            fulfilled=state.status is OrderStatus.FULFILLED,
            refunded=state.refund_amount or Decimal(0),
            codes=frozenset(problem.code.value for problem in problems),
        )

    @staticmethod
    def of_row(row: tuple[Any, ...]) -> "_Contribution":
        _, _, _, status, customer_id, total, refund, received_at, problems = row
        return _Contribution(
            customer_id=customer_id,
            day=received_at[:10] if received_at else None,
            total=Decimal(total) if total else Decimal(0),
            fulfilled=status == OrderStatus.FULFILLED.value,
            refunded=Decimal(refund) if refund else Decimal(0),
            codes=frozenset(problem["code"] for problem in json.loads(problems)),
        )


def _contribute(db: Database, part: _Contribution, sign: int) -> None:
    with localcontext() as exact:
        exact.prec = 100  # sums of amounts of up to 30 digits, never rounded
        _contribute_exactly(db, part, sign)


def _contribute_exactly(db: Database, part: _Contribution, sign: int) -> None:
    if part.customer_id is not None:
        _add(
            db, "customer_totals", "customer_id", part.customer_id,
            orders=sign, ordered_amount=sign * part.total,
            fulfilled_amount=sign * part.total if part.fulfilled else Decimal(0), refunded_amount=sign * part.refunded,
        )  # fmt: skip
    if part.day is not None:
        _add(
            db, "sales_per_day", "day", part.day, orders=sign,
            revenue=sign * part.total if part.fulfilled else Decimal(0), refunds=sign * part.refunded,
        )  # fmt: skip
    for code in part.codes:
        _add(db, "validation_errors_by_code", "code", code, orders=sign)


def _add(db: Database, table: str, key: str, value: str, **deltas: int | Decimal) -> None:
    """Add `deltas` to the row `key = value` of `table`, exactly; a row of no orders goes."""
    names = list(deltas)
    row = db.execute(f"SELECT {', '.join(names)} FROM {table} WHERE {key} = ?", (value,)).fetchone()
    current = dict(zip(names, row, strict=True)) if row else {}
    updated: dict[str, int | str] = {
        name: current.get(name, 0) + delta if isinstance(delta, int) else _amount(Decimal(current.get(name, 0)) + delta)
        for name, delta in deltas.items()
    }
    if int(updated["orders"]) <= 0:
        db.execute(f"DELETE FROM {table} WHERE {key} = ?", (value,))
        return
    db.execute(_upsert(table, key, (key, *names)), (value, *updated.values()))


_SUMMARY_COLUMNS = (
    "order_id", "version", "closed", "status", "customer_id", "total_amount", "payment_id", "payment_status",
    "tracking_number", "refund_amount", "received_at", "updated_at", "state", "problems", "applied_at",
)  # fmt: skip


def _upsert(table: str, key: str, columns: Sequence[str]) -> str:
    """INSERT of `columns`, or UPDATE of the row with the same `key`: in both databases' SQL."""
    updates = ", ".join(f"{column} = excluded.{column}" for column in columns if column != key)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        f" ON CONFLICT ({key}) DO UPDATE SET {updates}"
    )


def _problems(stream: OrderStream, row: tuple[Any, ...] | None) -> tuple[ValidationProblem, ...]:
    """The order's validation problems: from its OrderValidated if `stream` holds it, else as stored."""
    if any(envelope.event_type == "OrderValidated" for envelope in stream.envelopes) or row is None:
        return validation_problems(stream)
    return tuple(ValidationProblem.model_validate(problem) for problem in json.loads(row[8]))


def _received_at(stream: OrderStream, row: tuple[Any, ...] | None) -> str | None:
    if stream.envelopes and stream.envelopes[0].version == 1:
        return stream.envelopes[0].created_at.isoformat()
    return row[7] if row else None


def _amount(value: Decimal) -> str:
    """One spelling per amount ("10", never "10.00" on one path and "10.0" on another), so
    read models kept by different paths compare equal."""
    return format(value.normalize(), "f") if value else "0"


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(getattr(value, "value", value))
