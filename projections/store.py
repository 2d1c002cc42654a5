"""The read models' store, in SQLite or PostgreSQL (storage): the schema, the checkpoints,
the transactions and the rows, named. What an event does to each read model is decided
by projections.policy; this module only writes it down. Disposable: rebuilt from the
histories whenever asked.

One row per order (`order_summaries`, the tutorial's OrderProjection) holds the order's
latest state and the version it was folded to: that version is the stream's checkpoint,
written in the same transaction as every read-model change it causes, so an event is
applied once or not at all, however often it is offered. The aggregates (totals per
customer, sales per day, validation errors by code) are kept by taking the order's old
contribution out and putting its new one in, in that transaction too, with exact
decimal arithmetic.
"""

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

from contract import from_text
from domain import OrderSnapshot, OrderState, OrderStream, OrderSummary, ValidationProblem, summarize_orders
from projections.policy import Delta, OrderRow, ProjectionError, RunMark, answer
from storage import open_database

READ_MODELS = ("order_summaries", "customer_totals", "sales_per_day", "validation_errors_by_code")

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
    applied_at TEXT NOT NULL,          -- when this row was last written, for measuring lag
    run_id TEXT,                       -- the run the row was folded from (NULL in rows of old)
    run_began_at TEXT                  -- when that run was made: a later one replaces it
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
# Columns added since read models were first kept: a database made before them is brought
# up to date (the columns added, NULL in its rows), not refused as another program's.
_ADDED_COLUMNS = {"order_summaries": {"run_id": "TEXT", "run_began_at": "TEXT"}}
_OWNER = "read_models_owner"
_SUMMARIES = "order_summaries"
_CHECKPOINT = "checkpoint"
# The suffix of the tables a rebuild fills before they are swapped in.
_REBUILDING = "__rebuilding"


__all__ = ["READ_MODELS", "Applied", "OrderCheckpoint", "ProjectionError", "ReadModels"]


@dataclass(frozen=True)
class OrderCheckpoint:
    version: int
    closed: bool
    run_id: str | None = None
    run_began_at: datetime | None = None


@dataclass(frozen=True)
class Applied:
    events: int
    repaired: bool  # the stored state did not continue into the stream; folded from the first event


_STORED = ("version", "closed", "state", "problems", "received_at", "run_id", "run_began_at")


class ReadModels:
    """The read models in one database; safe to share between threads and processes
    (each change is one exclusive transaction that checks the checkpoint it moves)."""

    def __init__(self, target: str | Path, *, rebuilding: bool = False, read_only: bool = False) -> None:
        """`target`: a SQLite path, or a postgresql:// DSN. `rebuilding`: a fresh set of the
        tables beside the ones readers use, filled by a rebuild and swapped in once whole
        (`swap_in`); readers see the old ones until then, and a rebuild that dies leaves them.
        `read_only`: for a reader, which never writes here (and may read a copy on read-only
        media): nothing is made, and read models not made yet are a ProjectionError."""
        self._db = open_database(target, read_only=read_only)
        self.where = self._db.where
        self._suffix = _REBUILDING if rebuilding else ""
        if read_only:
            self._refuse_foreign_tables()
            if _SUMMARIES not in self._db.tables():
                raise ProjectionError(f"no read models in {self.where} yet: run `orders projector`")
            self._run_columns = _present(self._db.columns(_SUMMARIES), _ADDED_COLUMNS[_SUMMARIES])
            return
        with self._db.transaction():
            self._refuse_foreign_tables()
            schema = _SCHEMA
            if rebuilding:
                for table in (*READ_MODELS, _CHECKPOINT):
                    self._db.execute(f"DROP TABLE IF EXISTS {table}{_REBUILDING}")
                    schema = schema.replace(f"EXISTS {table} (", f"EXISTS {table}{_REBUILDING} (")
            for statement in filter(str.strip, schema.split(";")):
                self._db.execute(statement)
            for table, columns in _ADDED_COLUMNS.items():
                have = self._db.columns(self._t(table))
                for column, kind in columns.items():
                    if column not in have:
                        self._db.execute(f"ALTER TABLE {self._t(table)} ADD COLUMN {column} {kind}")
        self._run_columns = ", ".join(_ADDED_COLUMNS[_SUMMARIES])

    def _t(self, table: str) -> str:
        """The table's name in this set: the one readers use, or the one being rebuilt."""
        return table + self._suffix

    def swap_in(self, namespace: str, namespace_id: str) -> None:
        """Put the rebuilt tables where readers look, in one transaction, as the read models
        of `namespace`: a reader sees the old read models until then, the new ones after."""
        assert self._suffix, "only a rebuilt set is swapped in"
        with self._db.transaction():
            for table in (*READ_MODELS, _CHECKPOINT):
                self._db.execute(f"DROP TABLE IF EXISTS {table}")
                self._db.rename_table(f"{table}{_REBUILDING}", table)
            self._own(namespace, namespace_id)
        self._suffix = ""

    def _refuse_foreign_tables(self) -> None:
        """Never write into another program's tables that happen to share a name."""
        existing = self._db.tables() & _COLUMNS.keys()
        for table in sorted(existing):
            have, added = self._db.columns(table), set(_ADDED_COLUMNS.get(table, {}))
            if have != _COLUMNS[table] and have != _COLUMNS[table] - added:
                raise ProjectionError(
                    f"{self.where} holds a table {table} that is not one of the read models' (its columns differ):"
                    " give the read models a database of their own (ORDERS_PROJECTIONS_DSN)"
                )

    # -- Whose they are ------------------------------------------------------------

    def claim(self, namespace: str, namespace_id: str) -> None:
        """Record whose histories these read models fold, the first time; refuse another
        namespace's (the same name on another server is another). A rebuild starts them over
        from this namespace's histories and owns what it swaps in (`swap_in`)."""
        with self._db.transaction():
            owner = self._row(f"SELECT namespace, namespace_id FROM {_OWNER} WHERE id = 1", ())
            if owner is not None and (owner["namespace"], owner["namespace_id"]) == (namespace, namespace_id):
                return
            if owner is not None:
                raise ProjectionError(
                    f"the read models in {self.where} are those of namespace {owner['namespace']!r}"
                    f" (id {owner['namespace_id']}), not of {namespace!r} (id {namespace_id}): give each namespace"
                    " its own ORDERS_PROJECTIONS_DSN, or start these over from this namespace with"
                    " `orders projector rebuild`"
                )
            self._own(namespace, namespace_id)

    def check_owner(self, namespace: str, namespace_id: str) -> None:
        """For a reader: refuse another namespace's read models, as `claim` does, writing nothing."""
        owner = self._row(f"SELECT namespace, namespace_id FROM {_OWNER} WHERE id = 1", ())
        if owner is not None and (owner["namespace"], owner["namespace_id"]) != (namespace, namespace_id):
            raise ProjectionError(
                f"the read models in {self.where} are those of namespace {owner['namespace']!r}"
                f" (id {owner['namespace_id']}), not of {namespace!r} (id {namespace_id})"
            )

    def _own(self, namespace: str, namespace_id: str) -> None:
        self._upsert(_OWNER, "id", {"id": 1, "namespace": namespace, "namespace_id": namespace_id})

    # -- Checkpoints -------------------------------------------------------------

    def checkpoint_of(self, order_id: str) -> OrderCheckpoint | None:
        row = self._row(
            f"SELECT version, closed, {self._run_columns} FROM {self._t(_SUMMARIES)} WHERE order_id = ?", (order_id,)
        )
        if row is None:
            return None
        return OrderCheckpoint(int(row["version"]), bool(row["closed"]), row["run_id"], from_text(row["run_began_at"]))

    def checkpoints_of(self, order_ids: Sequence[str]) -> dict[str, OrderCheckpoint]:
        """`checkpoint_of` each of `order_ids` the read models hold, in one query."""
        if not order_ids:
            return {}
        cursor = self._db.execute(
            f"SELECT order_id, version, closed, {self._run_columns} FROM {self._t(_SUMMARIES)}"
            f" WHERE order_id IN ({', '.join('?' * len(order_ids))})",
            list(order_ids),
        )
        return {
            str(row[0]): OrderCheckpoint(int(row[1]), bool(row[2]), row[3], from_text(row[4]))
            for row in cursor.fetchall()
        }

    def state_of(self, order_id: str) -> OrderState | None:
        """The order's state as last applied; None for an order the read models never saw."""
        row = self._row(f"SELECT state FROM {self._t(_SUMMARIES)} WHERE order_id = ?", (order_id,))
        return None if row is None else OrderState.model_validate_json(str(row["state"]))

    def high_water(self) -> datetime | None:
        return self._checkpoint("high_water")

    def caught_up_at(self) -> datetime | None:
        return self._checkpoint("caught_up_at")

    def _checkpoint(self, column: str) -> datetime | None:
        row = self._row(f"SELECT {column} FROM {self._t(_CHECKPOINT)} WHERE id = 1", ())
        return datetime.fromisoformat(str(row[column])) if row and row[column] else None

    def advance(self, high_water: datetime | None) -> None:
        """Record a finished catch-up; the high-water mark only ever moves forward."""
        with self._db.transaction():
            keep = self._checkpoint("high_water")
            if high_water is not None and (keep is None or keep < high_water):
                keep = high_water
            self._upsert(
                self._t(_CHECKPOINT),
                "id",
                {
                    "id": 1,
                    "high_water": keep.isoformat() if keep else None,
                    "caught_up_at": datetime.now(UTC).isoformat(),
                },
            )

    # -- Applying ----------------------------------------------------------------

    def apply(self, latest: OrderStream | OrderSnapshot, closed: bool, run: RunMark | None = None) -> Applied:
        """Bring the read models up to `latest`, the order's stream (read whole from `run`)
        or its snapshot (a closed order's, as archived): the order's row and
        what it adds to and takes from each aggregate, as the policy answers (one answer a
        change), written with the checkpoint in one transaction; a later run of the order (a
        reset since) replaces the earlier one's row and contribution. Nothing to do is done
        at the cost of reading the order's row."""
        with self._db.transaction():
            return self._write(latest, closed, run)

    def apply_closed(self, snapshots: Sequence[tuple[OrderSnapshot, RunMark | None]]) -> int:
        """`apply` each closed order's snapshot, all in one transaction: for a rebuild
        bringing in the archive a page at a time (each order's row and checkpoint still
        move together); how many orders gained events."""
        with self._db.transaction():
            stored = self._rows_of([snapshot.order_id for snapshot, _ in snapshots])
            summed: dict[tuple[str, str, str], dict[str, int | Decimal]] = {}
            rows: list[dict[str, object]] = []
            applied = 0
            for snapshot, run in snapshots:
                said = answer(stored.get(snapshot.order_id), snapshot, True, run)
                if said.row is None:
                    continue
                rows.append(said.row)
                for delta in said.deltas:  # each aggregate row written once for the page
                    into = summed.setdefault((delta.table, delta.key, delta.value), {})
                    for name, change in delta.changes.items():
                        into[name] = into.get(name, 0) + change
                applied += said.events > 0
            self._upsert_many(self._t(_SUMMARIES), "order_id", rows)
            self._add_many([Delta(table, key, value, changes) for (table, key, value), changes in summed.items()])
            return applied

    def _write(self, latest: OrderStream | OrderSnapshot, closed: bool, run: RunMark | None) -> Applied:
        said = answer(self._row_of(latest.order_id), latest, closed, run)
        if said.row is None:
            return Applied(0, False)
        self._upsert(self._t(_SUMMARIES), "order_id", said.row)
        for delta in said.deltas:
            self._add(delta)
        return Applied(said.events, said.repaired)

    def _row_of(self, order_id: str) -> OrderRow | None:
        row = self._row(f"SELECT {', '.join(_STORED)} FROM {self._t(_SUMMARIES)} WHERE order_id = ?", (order_id,))
        return None if row is None else _order_row(row)

    def _rows_of(self, order_ids: Sequence[str]) -> dict[str, OrderRow]:
        """The rows of those of `order_ids` the read models hold, in one query."""
        if not order_ids:
            return {}
        cursor = self._db.execute(
            f"SELECT order_id, {', '.join(_STORED)} FROM {self._t(_SUMMARIES)}"
            f" WHERE order_id IN ({', '.join('?' * len(order_ids))})",
            list(order_ids),
        )
        names = [column[0] for column in cursor.description]
        return {str(row[0]): _order_row(dict(zip(names, row, strict=True))) for row in cursor.fetchall()}

    def _add_many(self, deltas: Sequence[Delta]) -> None:
        """`_add` each of `deltas` (one a row), reading and writing each aggregate's rows in one go."""
        groups: dict[tuple[str, str, tuple[str, ...]], list[Delta]] = {}
        for delta in deltas:
            groups.setdefault((delta.table, delta.key, tuple(delta.changes)), []).append(delta)
        for (name, key, names), group in groups.items():
            table = self._t(name)
            values = [delta.value for delta in group]
            cursor = self._db.execute(
                f"SELECT {key}, {', '.join(names)} FROM {table} WHERE {key} IN ({', '.join('?' * len(values))})",
                values,
            )
            current = {row[0]: dict(zip(names, row[1:], strict=True)) for row in cursor.fetchall()}
            updated = [(delta.value, _added(delta.changes, current.get(delta.value, {}))) for delta in group]
            gone = [[value] for value, row in updated if int(row["orders"]) <= 0]
            self._db.executemany(f"DELETE FROM {table} WHERE {key} = ?", gone)
            self._upsert_many(table, key, [{key: value, **row} for value, row in updated if int(row["orders"]) > 0])

    def _add(self, delta: Delta) -> None:
        """Add `delta` to its aggregate's row, amounts exactly; a row that comes to no order goes."""
        table = self._t(delta.table)
        names = list(delta.changes)
        current = self._row(f"SELECT {', '.join(names)} FROM {table} WHERE {delta.key} = ?", (delta.value,)) or {}
        updated = _added(delta.changes, current)
        if int(updated["orders"]) <= 0:
            self._db.execute(f"DELETE FROM {table} WHERE {delta.key} = ?", (delta.value,))
        else:
            self._upsert(table, delta.key, {delta.key: delta.value, **updated})

    # -- Reading -----------------------------------------------------------------

    def order_count(self) -> int:
        return int(self._db.execute(f"SELECT COUNT(*) FROM {self._t(_SUMMARIES)}").fetchone()[0])

    def summary(self) -> OrderSummary:
        """The same summary `orders report` folds from the histories, from the rows."""
        return summarize_orders(self._orders())

    def _orders(self) -> Iterator[tuple[OrderState, tuple[ValidationProblem, ...], bool]]:
        for state, problems, closed in self._db.execute(f"SELECT state, problems, closed FROM {self._t(_SUMMARIES)}"):
            yield (
                OrderState.model_validate_json(state),
                tuple(ValidationProblem.model_validate(problem) for problem in json.loads(problems)),
                not closed,
            )

    def close(self) -> None:
        self._db.close()

    # -- Rows by name --------------------------------------------------------------

    def _row(self, query: str, arguments: Sequence[object]) -> dict[str, Any] | None:
        """The one row `query` selects, by column name; None if none."""
        cursor = self._db.execute(query, arguments)
        row = cursor.fetchone()
        if row is None:
            return None
        names = [column[0] for column in cursor.description]
        return dict(zip(names, row, strict=True))

    def _upsert(self, table: str, key: str, row: dict[str, object]) -> None:
        """INSERT the row, or UPDATE the one with the same `key`: in both databases' SQL."""
        self._db.execute(_upsert_sql(table, key, list(row)), list(row.values()))

    def _upsert_many(self, table: str, key: str, rows: Sequence[dict[str, object]]) -> None:
        """`_upsert` each of `rows` (of the same columns), in one statement run for them all."""
        if rows:
            columns = list(rows[0])
            self._db.executemany(_upsert_sql(table, key, columns), [[row[name] for name in columns] for row in rows])


def _upsert_sql(table: str, key: str, columns: Sequence[str]) -> str:
    updates = ", ".join(f"{column} = excluded.{column}" for column in columns if column != key)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        f" ON CONFLICT ({key}) DO UPDATE SET {updates}"
    )


def _order_row(row: dict[str, Any]) -> OrderRow:
    return OrderRow(
        version=int(row["version"]),
        closed=bool(row["closed"]),
        state=OrderState.model_validate_json(str(row["state"])),
        problems=tuple(ValidationProblem.model_validate(problem) for problem in json.loads(str(row["problems"]))),
        received_at=str(row["received_at"]) if row["received_at"] else None,
        run=_run_mark(row["run_id"], row["run_began_at"]),
    )


def _run_mark(run_id: object, began_at: object) -> RunMark | None:
    when = from_text(began_at)
    return RunMark(str(run_id), when) if run_id and when else None


def _present(have: set[str], added: dict[str, str]) -> str:
    """The added columns to select: each by name where the table has it, else NULL under its name."""
    return ", ".join(column if column in have else f"NULL AS {column}" for column in added)


def _added(changes: dict[str, int | Decimal], current: dict[str, object]) -> dict[str, int | str]:
    """`current` with `changes` added: counts as numbers, amounts exactly and spelled one way."""
    with localcontext() as exact:
        exact.prec = 100  # sums of amounts of up to 30 digits, never rounded
        return {
            name: int(str(current.get(name, 0))) + change
            if isinstance(change, int)
            else amount(Decimal(str(current.get(name, 0))) + change)
            for name, change in changes.items()
        }


def amount(value: Decimal) -> str:
    """One spelling per amount ("10", never "10.00" on one path and "10.0" on another), so
    read models kept by different paths compare equal."""
    return format(value.normalize(), "f") if value else "0"
