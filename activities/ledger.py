"""The simulated payment gateway, inventory and shipping, over one real database: a SQLite
file under the data directory by default, or a PostgreSQL database (ORDERS_LEDGER) that a
fleet of workers on many hosts shares.

Each call is idempotent by its key, as real payment and warehouse APIs are: the same
key always gets the first answer, so a retried activity never charges, refunds,
reserves, releases or ships twice, whichever worker retries it. Amounts are stored as
exact decimal text.

Every change is one transaction that excludes every other writer of the ledger until it
ends (SQLite's `BEGIN IMMEDIATE`; on PostgreSQL a transaction-level advisory lock of the
ledger's own, see storage.postgres), so two workers, on one host or many, cannot both take
the last unit of stock, nor both charge one key. Each worker thread keeps its connection.
"""

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from activities.gateways import Charge, FraudScreening, OutOfStock, PaymentNotFound, Refund, Shipment
from contract import FULFILLMENT, PAYMENT, REFUND, RESERVATION
from domain import InventoryReservation, OrderItem, PaymentStatus, payment_status_for
from storage import (
    Database,
    DatabaseError,
    PlaceError,
    foreign_tables,
    is_postgres,
    open_database,
    schema_columns,
    where_of,
)

T = TypeVar("T")

# Enough of every catalogue product for the tutorial's orders and the demos; a product
# not listed here has no stock, so ordering it cancels the order as out of stock.
SEED_STOCK: dict[str, dict[str, int]] = {
    **{f"PROD-{n:03d}": {"WH-EAST-1": 500, "WH-WEST-1": 500} for n in range(1, 10)},
    "PROD-002": {"WH-CENTRAL-1": 1000},  # the tutorial's 25,000 item ships from one warehouse
    "PROD-010": {"WH-CENTRAL-1": 10},  # scarce: for trying out an order that runs out of stock
}

# The advisory lock each ledger transaction takes on PostgreSQL ("LEDGER" in ASCII): the
# ledger's own, so its writers never wait on the read models' projectors in a shared database.
_LEDGER_LOCK = 0x4C45444745520000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS stock (
    product_id TEXT NOT NULL,
    warehouse_id TEXT NOT NULL,
    on_hand INTEGER NOT NULL CHECK (on_hand >= 0),
    PRIMARY KEY (product_id, warehouse_id)
);
CREATE TABLE IF NOT EXISTS reservations (
    reservation_key TEXT NOT NULL,
    line INTEGER NOT NULL,
    product_id TEXT NOT NULL,
    warehouse_id TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    released_at TEXT,
    PRIMARY KEY (reservation_key, line)
);
CREATE TABLE IF NOT EXISTS payments (
    payment_key TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL,
    amount TEXT NOT NULL,
    status TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS refunds (
    refund_key TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL REFERENCES payments (payment_id),
    amount TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS shipments (
    shipment_key TEXT PRIMARY KEY,
    fulfillment_id TEXT NOT NULL,
    tracking_number TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS declined_customers (
    customer_id TEXT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS fraud_watchlist (
    customer_id TEXT PRIMARY KEY,
    reason TEXT NOT NULL
);
"""
_TABLES = schema_columns(_SCHEMA)


class LedgerError(ValueError):
    """A ledger that cannot be used: missing, another program's tables, unreachable, read-only
    where it must be written. The message names it."""


def _now() -> str:
    return datetime.now(UTC).isoformat()


class LedgerDatabase:
    def __init__(self, target: Path | str, *, read_only: bool = False) -> None:
        """`target`: a SQLite path (made when missing) or a postgresql:// DSN. `read_only`:
        for a reader (`orders reconcile`), which writes nothing and needs a ledger there.
        LedgerError, naming it, when it cannot be used."""
        self.where = where_of(target)
        if read_only and not is_postgres(target) and not Path(target).is_file():
            raise LedgerError(f"no ledger at {self.where}: no worker has used it yet (ORDERS_LEDGER, ORDERS_DATA_DIR)")
        try:
            self._db: Database = open_database(target, read_only=read_only, lock=_LEDGER_LOCK)
        except PlaceError as err:
            raise LedgerError(f"the ledger at {self.where} cannot be used: {err}") from None
        with self._failing_as_ledger_error("used"):
            if read_only:
                self._check(made=True)
            else:
                with self._db.transaction():
                    self._check(made=False)
                    for statement in filter(str.strip, _SCHEMA.split(";")):
                        self._db.execute(statement)
                    if self._db.execute("SELECT COUNT(*) FROM stock").fetchone()[0] == 0:
                        self._db.executemany(
                            "INSERT INTO stock (product_id, warehouse_id, on_hand) VALUES (?, ?, ?)",
                            [
                                (product, warehouse, units)
                                for product, by_warehouse in SEED_STOCK.items()
                                for warehouse, units in by_warehouse.items()
                            ],
                        )

    def _check(self, *, made: bool) -> None:
        """Never write into another program's tables that share a name; a reader needs the ledger made."""
        if foreign := foreign_tables(self._db, _TABLES):
            raise LedgerError(
                f"{self.where} holds a table {foreign[0]} that is not the ledger's (its columns differ):"
                " give the ledger a database of its own (ORDERS_LEDGER)"
            )
        if made and not _TABLES.keys() <= self._db.tables():
            raise LedgerError(f"no ledger at {self.where}: no worker has used it yet (ORDERS_LEDGER, ORDERS_DATA_DIR)")

    @contextmanager
    def _failing_as_ledger_error(self, how: str) -> Iterator[None]:
        try:
            yield
        except DatabaseError as err:
            message = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise LedgerError(f"the ledger at {self.where} cannot be {how}: {message}") from None

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """One exclusive transaction on this thread's connection: all or nothing."""
        with self._db.transaction():
            yield self._db

    async def run(self, work: Callable[[Database], T]) -> T:
        """`work` in one transaction, on a worker thread so the event loop never waits on disk."""

        def in_transaction() -> T:
            with self.transaction() as db:
                return work(db)

        return await asyncio.to_thread(in_transaction)

    # For tests and operators: what the ledger holds.
    def rows(self, sql: str, *parameters: object) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self._db.execute(sql, parameters).fetchall()]

    def close(self) -> None:
        self._db.close()


class LedgerPaymentGateway:
    """Charges up to 50,000 complete at once; above, the gateway only authorises and a
    person must approve (capture) or reject (void); a declined customer fails."""

    def __init__(self, db: LedgerDatabase) -> None:
        self.db = db

    async def charge(self, idempotency_key: str, customer_id: str, amount: Decimal) -> Charge:
        def charge(db: Database) -> Charge:
            existing = db.execute(
                "SELECT payment_id, amount, status FROM payments WHERE payment_key = ?", (idempotency_key,)
            ).fetchone()
            if existing:
                return Charge(payment_id=existing[0], amount=Decimal(existing[1]), status=PaymentStatus(existing[2]))
            declined = db.execute("SELECT 1 FROM declined_customers WHERE customer_id = ?", (customer_id,)).fetchone()
            status = PaymentStatus.FAILED if declined else payment_status_for(amount)
            payment_id = f"PAY-{uuid.uuid4()}"
            db.execute(
                "INSERT INTO payments (payment_key, payment_id, customer_id, amount, status, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (idempotency_key, payment_id, customer_id, str(amount), status.value, _now()),
            )
            return Charge(payment_id=payment_id, amount=amount, status=status)

        return await self.db.run(charge)

    async def capture(self, idempotency_key: str) -> Charge:
        return await self._settle_authorisation(idempotency_key, PaymentStatus.COMPLETED)

    async def void(self, idempotency_key: str) -> Charge:
        return await self._settle_authorisation(idempotency_key, PaymentStatus.CANCELLED)

    async def _settle_authorisation(self, idempotency_key: str, outcome: PaymentStatus) -> Charge:
        def settle(db: Database) -> Charge:
            row = db.execute(
                "SELECT payment_id, amount, status FROM payments WHERE payment_key = ?", (idempotency_key,)
            ).fetchone()
            if row is None:
                raise PaymentNotFound(f"no payment with key {idempotency_key!r}")
            if row[2] == PaymentStatus.PENDING.value:
                db.execute(
                    "UPDATE payments SET status = ?, updated_at = ? WHERE payment_key = ?",
                    (outcome.value, _now(), idempotency_key),
                )
                return Charge(payment_id=row[0], amount=Decimal(row[1]), status=outcome)
            # Already settled: a retry after success returns what happened the first time.
            return Charge(payment_id=row[0], amount=Decimal(row[1]), status=PaymentStatus(row[2]))

        return await self.db.run(settle)

    async def refund(self, idempotency_key: str, payment_id: str, amount: Decimal) -> Refund:
        def refund(db: Database) -> Refund:
            existing = db.execute(
                "SELECT payment_id, amount FROM refunds WHERE refund_key = ?", (idempotency_key,)
            ).fetchone()
            if existing:
                return Refund(payment_id=existing[0], amount=Decimal(existing[1]))
            if not db.execute(
                "SELECT 1 FROM payments WHERE payment_id = ? AND status = ?",
                (payment_id, PaymentStatus.COMPLETED.value),
            ).fetchone():
                raise PaymentNotFound(f"no completed payment {payment_id} to refund")
            db.execute(
                "INSERT INTO refunds (refund_key, payment_id, amount, created_at) VALUES (?, ?, ?, ?)",
                (idempotency_key, payment_id, str(amount), _now()),
            )
            return Refund(payment_id=payment_id, amount=amount)

        return await self.db.run(refund)

    async def decline_customer(self, customer_id: str) -> None:
        await self.db.run(
            lambda db: db.execute(
                "INSERT INTO declined_customers (customer_id) VALUES (?) ON CONFLICT (customer_id) DO NOTHING",
                (customer_id,),
            )
        )


class LedgerInventory:
    """Stock per product and warehouse. A line is taken from the best-stocked warehouses
    first; an order is reserved whole or not at all."""

    def __init__(self, db: LedgerDatabase) -> None:
        self.db = db

    async def reserve(self, idempotency_key: str, items: Sequence[OrderItem]) -> list[InventoryReservation]:
        def reserve(db: Database) -> list[InventoryReservation]:
            existing = _reservations(db, idempotency_key)
            if existing:
                return existing
            taken: list[tuple[str, str, int]] = []
            for item in items:
                stock = db.execute(
                    "SELECT warehouse_id, on_hand FROM stock WHERE product_id = ? AND on_hand > 0"
                    " ORDER BY on_hand DESC, warehouse_id",
                    (item.product_id,),
                ).fetchall()
                available = sum(on_hand for _, on_hand in stock)
                if available < item.quantity:
                    raise OutOfStock(item.product_id, item.quantity, available)  # rolls the whole order back
                wanted = item.quantity
                for warehouse_id, on_hand in stock:
                    quantity = min(wanted, on_hand)
                    db.execute(
                        "UPDATE stock SET on_hand = on_hand - ? WHERE product_id = ? AND warehouse_id = ?",
                        (quantity, item.product_id, warehouse_id),
                    )
                    taken.append((item.product_id, warehouse_id, quantity))
                    wanted -= quantity
                    if not wanted:
                        break
            db.executemany(
                "INSERT INTO reservations (reservation_key, line, product_id, warehouse_id, quantity)"
                " VALUES (?, ?, ?, ?, ?)",
                [(idempotency_key, line, *row) for line, row in enumerate(taken)],
            )
            return _reservations(db, idempotency_key)

        return await self.db.run(reserve)

    async def release(self, idempotency_key: str) -> list[InventoryReservation]:
        def release(db: Database) -> list[InventoryReservation]:
            held = db.execute(
                "SELECT product_id, warehouse_id, quantity FROM reservations"
                " WHERE reservation_key = ? AND released_at IS NULL",
                (idempotency_key,),
            ).fetchall()
            for product_id, warehouse_id, quantity in held:
                db.execute(
                    "UPDATE stock SET on_hand = on_hand + ? WHERE product_id = ? AND warehouse_id = ?",
                    (quantity, product_id, warehouse_id),
                )
            db.execute(
                "UPDATE reservations SET released_at = ? WHERE reservation_key = ? AND released_at IS NULL",
                (_now(), idempotency_key),
            )
            return _reservations(db, idempotency_key)

        return await self.db.run(release)


def _reservations(db: Database, key: str) -> list[InventoryReservation]:
    return [
        InventoryReservation(product_id=product_id, quantity=quantity, warehouse_id=warehouse_id)
        for product_id, warehouse_id, quantity in db.execute(
            "SELECT product_id, warehouse_id, quantity FROM reservations WHERE reservation_key = ? ORDER BY line",
            (key,),
        )
    ]


class LedgerShipping:
    def __init__(self, db: LedgerDatabase) -> None:
        self.db = db

    async def ship(
        self, idempotency_key: str, reservations: Sequence[InventoryReservation], deliver_to: str | None = None
    ) -> Shipment:
        # A real carrier prints `deliver_to` on the label; the simulation keeps no copy of it.
        def ship(db: Database) -> Shipment:
            existing = db.execute(
                "SELECT fulfillment_id, tracking_number FROM shipments WHERE shipment_key = ?", (idempotency_key,)
            ).fetchone()
            if existing:
                return Shipment(fulfillment_id=existing[0], tracking_number=existing[1])
            shipment = Shipment(
                fulfillment_id=f"FUL-{uuid.uuid4()}", tracking_number=f"TRK{uuid.uuid4().int % 10**12:012d}"
            )
            db.execute(
                "INSERT INTO shipments (shipment_key, fulfillment_id, tracking_number) VALUES (?, ?, ?)",
                (idempotency_key, shipment.fulfillment_id, shipment.tracking_number),
            )
            return shipment

        return await self.db.run(ship)


class LedgerFraudScreen:
    """Flags customers on a watchlist; everyone else passes. Screening reads only, so
    it needs no idempotency key."""

    def __init__(self, db: LedgerDatabase) -> None:
        self.db = db

    async def screen(self, customer_id: str, amount: Decimal) -> FraudScreening:
        def screen(db: Database) -> FraudScreening:
            listed = db.execute("SELECT reason FROM fraud_watchlist WHERE customer_id = ?", (customer_id,)).fetchone()
            return FraudScreening(passed=False, reason=listed[0]) if listed else FraudScreening(passed=True)

        return await self.db.run(screen)

    async def watch(self, customer_id: str, reason: str) -> None:
        await self.db.run(
            lambda db: db.execute(
                "INSERT INTO fraud_watchlist (customer_id, reason) VALUES (?, ?)"
                " ON CONFLICT (customer_id) DO UPDATE SET reason = excluded.reason",
                (customer_id, reason),
            )
        )


@dataclass
class OrderEffects:
    """What the outside world did for one order, as the ledger recorded it."""

    charge: tuple[str, Decimal, str] | None = None  # payment id, amount, status
    refunds: list[tuple[str, Decimal]] = field(default_factory=list)  # payment id, amount
    reserved: list[InventoryReservation] = field(default_factory=list)
    held: list[InventoryReservation] = field(default_factory=list)  # reserved and not released
    shipment: str | None = None  # fulfillment id


# Each effect's table, and its key: the effect's idempotency key, `<workflow id>-<effect>`.
_EFFECT_TABLES = {
    PAYMENT: ("payments", "payment_key"),
    REFUND: ("refunds", "refund_key"),
    RESERVATION: ("reservations", "reservation_key"),
    FULFILLMENT: ("shipments", "shipment_key"),
}


def effects_by_workflow_id(db: LedgerDatabase, workflow_ids: Sequence[str] | None = None) -> dict[str, OrderEffects]:
    """Every effect in the ledger, under the workflow id its idempotency key names; only
    the effects of `workflow_ids` when given (a window of orders at a time)."""
    effects: dict[str, OrderEffects] = defaultdict(OrderEffects)
    if workflow_ids is not None and not workflow_ids:
        return {}

    def owner(key: str, effect: str) -> OrderEffects:
        return effects[key.removesuffix(f"-{effect}")]

    def rows(effect: str, columns: str, order: str = "") -> list[tuple[Any, ...]]:
        table, key = _EFFECT_TABLES[effect]
        columns = f"{key}, {columns}"
        if workflow_ids is None:
            return db.rows(f"SELECT {columns} FROM {table}{order}")
        marks = ", ".join("?" * len(workflow_ids))
        keys = [f"{workflow_id}-{effect}" for workflow_id in workflow_ids]
        return db.rows(f"SELECT {columns} FROM {table} WHERE {key} IN ({marks}){order}", *keys)

    for key, payment_id, amount, status in rows(PAYMENT, "payment_id, amount, status"):
        owner(key, PAYMENT).charge = (payment_id, Decimal(amount), status)
    for key, payment_id, amount in rows(REFUND, "payment_id, amount"):
        owner(key, REFUND).refunds.append((payment_id, Decimal(amount)))
    reservations = rows(
        RESERVATION, "product_id, warehouse_id, quantity, released_at", " ORDER BY reservation_key, line"
    )
    for key, product_id, warehouse_id, quantity, released_at in reservations:
        line = InventoryReservation(product_id=product_id, quantity=quantity, warehouse_id=warehouse_id)
        order = owner(key, RESERVATION)
        order.reserved.append(line)
        if released_at is None:
            order.held.append(line)
    for key, fulfillment_id in rows(FULFILLMENT, "fulfillment_id"):
        owner(key, FULFILLMENT).shipment = fulfillment_id
    return dict(effects)


def workflow_ids_with_effects(db: LedgerDatabase, page_size: int = 1000) -> Iterator[list[str]]:
    """The workflow id of every effect in the ledger, a page at a time, table by table:
    an order with several effects comes once from each of their tables."""
    for effect, (table, key) in _EFFECT_TABLES.items():
        after = ""
        while page := db.rows(
            f"SELECT DISTINCT {key} FROM {table} WHERE {key} > ? ORDER BY {key} LIMIT ?", after, page_size
        ):
            after = page[-1][0]
            yield [str(row[0]).removesuffix(f"-{effect}") for row in page]
