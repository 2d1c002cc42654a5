"""The customers' data keys: one a customer, made on their first order, kept here and
nowhere else (docs/personal-data.md). Each seals that customer's personal data
(encryption.personal); deleting it is the one erasure that reaches every copy.

A SQLite file under the data directory by default, or a PostgreSQL database a fleet of
workers and starters shares. With a master key (ORDERS_MASTER_KEYS) each data key is
stored wrapped by it (AES-256-GCM, the key's id bound in): whoever reads the store's file
without the master key reads no data key. Rotating the master key (a new one first in
ORDERS_MASTER_KEYS, the old ones kept) and running `orders customer-keys rewrap` rewraps
every data key under it and re-seals nothing. Without a master key the store holds the
data keys as they are: keep it where the shop keeps its secrets.

A customer's key is made in one statement that inserts it or does nothing: starters
racing on a customer's first orders all get the one key stored.
"""

import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from contract import as_text, from_text
from encryption import DataKey, Keyring, new_data_key
from storage.databases import Database, DatabaseError, foreign_tables, is_postgres, schema_columns, where_of
from storage.opening import open_database
from storage.places import PlaceError

_LOCK = 0x4B45595354520000  # "KEYSTR": on PostgreSQL, one schema change at a time
_NONCE_BYTES = 12
_SCHEMA = """
CREATE TABLE IF NOT EXISTS customer_keys (
    customer_id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL UNIQUE,
    data_key BYTEA NOT NULL,          -- wrapped by the master key `wrapped_by` names; as it is when NULL
    wrapped_by TEXT,
    created_at TEXT NOT NULL,
    forgetting_since TEXT             -- `orders forget` began: no new order of theirs is sealed under it
);
CREATE TABLE IF NOT EXISTS forgotten_customers (
    key_id TEXT PRIMARY KEY,          -- the key deleted: what every value sealed under it names
    customer_id TEXT NOT NULL,
    forgotten_at TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    orders INTEGER NOT NULL
);
"""
# How long a long-running process (a worker, the codec server) keeps a key it looked up
# before it asks the store again: a forgotten customer's key stops opening within this.
KEY_CACHE_SECONDS = 30.0
_PAGE = 500


class KeyStoreError(ValueError):
    """A key store that cannot be used, or a key it cannot give; the message names it."""


@dataclass(frozen=True)
class Forgotten:
    """That a customer was forgotten: their key's id, when, at whose request, of how many orders."""

    customer_id: str
    key_id: str
    forgotten_at: datetime
    requested_by: str
    orders: int


class CustomerKeys:
    def __init__(self, target: Path | str, master: Keyring | None = None, *, writing: bool = True) -> None:
        """`writing`: a starter, which makes keys; readers (the worker's shipping step, the
        readers that show personal data, the codec server) only look keys up."""
        self.where = where_of(target)
        self._master = master
        self._known: dict[str, tuple[float, DataKey]] = {}
        try:
            self._db: Database = open_database(target, read_only=not writing, lock=_LOCK)
            with self._used("opened"):
                if writing:
                    with self._db.transaction():
                        for table in _SCHEMA.split(";\n"):
                            if table.strip():
                                self._db.execute(table)
                wrong = foreign_tables(self._db, schema_columns(_SCHEMA))
        except PlaceError as err:
            raise KeyStoreError(f"the customer key store at {self.where} cannot be used: {err}") from None
        if wrong:
            raise KeyStoreError(
                f"the customer key store at {self.where} holds a table of another shape ({', '.join(wrong)}):"
                " not a key store this project made (ORDERS_CUSTOMER_KEYS)"
            )

    def keys_for(self, customer_ids: Iterable[str]) -> dict[str, DataKey]:
        """Each customer's key, made where they have none yet, in one transaction."""
        wanted = sorted(set(customer_ids))
        now = as_text(datetime.now(UTC))
        with self._used("written"), self._db.transaction():
            if wanted and (held := self._being_forgotten(wanted)):
                raise KeyStoreError(
                    f"customer {held[0]!r} is being forgotten (orders forget): no order of theirs is started until it"
                    " ends"
                )
            for customer_id in wanted:
                key = new_data_key()
                self._db.execute(
                    "INSERT INTO customer_keys (customer_id, key_id, data_key, wrapped_by, created_at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (customer_id) DO NOTHING",
                    (customer_id, key.key_id, *self._wrapped(key), now),
                )
            found = self._rows("customer_id", wanted)
        return {str(row[0]): self._unwrapped(row) for row in found}

    def key_named(self, key_id: str) -> DataKey | None:
        """The key of that id; None when the store holds none (never made here, or deleted
        when its customer was forgotten). Kept for KEY_CACHE_SECONDS, then asked again."""
        cached = self._known.get(key_id)
        if cached is not None and time.monotonic() - cached[0] < KEY_CACHE_SECONDS:
            return cached[1]
        rows = self._rows("key_id", [key_id])
        if not rows:
            self._known.pop(key_id, None)
            return None
        key = self._unwrapped(rows[0])
        self._known[key_id] = (time.monotonic(), key)
        return key

    def was_forgotten(self, key_id: str) -> bool:
        """Whether the key of that id was deleted because its customer was forgotten."""
        with self._used("read"):
            return (
                self._db.execute("SELECT 1 FROM forgotten_customers WHERE key_id = ?", (key_id,)).fetchone() is not None
            )

    def forgotten_key_ids(self) -> set[str]:
        """The id of every key deleted because its customer was forgotten."""
        with self._used("read"):
            return {str(row[0]) for row in self._db.execute("SELECT key_id FROM forgotten_customers")}

    def forgetting(self, customer_id: str, *, marked: bool) -> str | None:
        """Mark the customer as being forgotten (`marked`), so that no new order of theirs
        is sealed, or unmark them (a refused `forget`); their key's id, None for a customer
        the store holds no key of."""
        since = as_text(datetime.now(UTC)) if marked else None
        with self._used("written"), self._db.transaction():
            found = self._db.execute(
                "UPDATE customer_keys SET forgetting_since = ? WHERE customer_id = ? RETURNING key_id",
                (since, customer_id),
            ).fetchone()
        return str(found[0]) if found else None

    def forget(self, customer_id: str, requested_by: str, orders: int) -> Forgotten | None:
        """Delete the customer's key, and record that they were forgotten (when, by whom, of
        how many orders: nothing personal), in one transaction: a process killed at any
        moment leaves the customer remembered or forgotten, never half. None for a customer
        the store holds no key of."""
        now = datetime.now(UTC)
        with self._used("written"), self._db.transaction():
            deleted = self._db.execute(
                "DELETE FROM customer_keys WHERE customer_id = ? RETURNING key_id", (customer_id,)
            ).fetchone()
            if deleted is None:
                return None
            self._db.execute(
                "INSERT INTO forgotten_customers (key_id, customer_id, forgotten_at, requested_by, orders)"
                " VALUES (?, ?, ?, ?, ?)",
                (str(deleted[0]), customer_id, as_text(now), requested_by, orders),
            )
        return Forgotten(customer_id, str(deleted[0]), now, requested_by, orders)

    def forgotten(self, customer_id: str) -> list[Forgotten]:
        """Each time the customer was forgotten (a customer who ordered again after it has a
        key of their own again, and may be forgotten again)."""
        with self._used("read"):
            rows = self._db.execute(
                "SELECT key_id, forgotten_at, requested_by, orders FROM forgotten_customers WHERE customer_id = ?"
                " ORDER BY forgotten_at",
                (customer_id,),
            ).fetchall()
        return [Forgotten(customer_id, str(row[0]), from_text(row[1]), str(row[2]), int(row[3])) for row in rows]  # type: ignore[arg-type]

    def rewrap(self) -> int:
        """Wrap every data key under the master key now first in ORDERS_MASTER_KEYS; how
        many were rewrapped. The values sealed under them are left as they are."""
        if self._master is None:
            raise KeyStoreError("ORDERS_MASTER_KEYS is not set: there is no master key to wrap the data keys with")
        rewrapped = 0
        with self._used("written"), self._db.transaction():
            rows = list(self._db.execute("SELECT customer_id, key_id, data_key, wrapped_by FROM customer_keys"))
            for row in rows:
                if row[3] == self._master.active:
                    continue
                data_key, wrapped_by = self._wrapped(self._unwrapped(row))
                self._db.execute(
                    "UPDATE customer_keys SET data_key = ?, wrapped_by = ? WHERE customer_id = ?",
                    (data_key, wrapped_by, row[0]),
                )
                rewrapped += 1
        return rewrapped

    def count(self) -> int:
        with self._used("read"):
            return int(self._db.execute("SELECT COUNT(*) FROM customer_keys").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    def _being_forgotten(self, customer_ids: list[str]) -> list[str]:
        found: list[str] = []
        for start in range(0, len(customer_ids), _PAGE):
            page = customer_ids[start : start + _PAGE]
            found += [
                str(row[0])
                for row in self._db.execute(
                    f"SELECT customer_id FROM customer_keys WHERE forgetting_since IS NOT NULL"
                    f" AND customer_id IN ({', '.join('?' * len(page))})",
                    page,
                ).fetchall()
            ]
        return found

    def _rows(self, column: str, values: list[str]) -> list[tuple[object, ...]]:
        found: list[tuple[object, ...]] = []
        with self._used("read"):
            for start in range(0, len(values), _PAGE):
                page = values[start : start + _PAGE]
                found += self._db.execute(
                    f"SELECT customer_id, key_id, data_key, wrapped_by FROM customer_keys"
                    f" WHERE {column} IN ({', '.join('?' * len(page))})",
                    page,
                ).fetchall()
        return found

    def _wrapped(self, key: DataKey) -> tuple[bytes, str | None]:
        if self._master is None:
            return key.secret, None
        nonce = os.urandom(_NONCE_BYTES)
        wrapping = self._master.keys[self._master.active]
        return nonce + AESGCM(wrapping).encrypt(nonce, key.secret, key.key_id.encode()), self._master.active

    def _unwrapped(self, row: tuple[object, ...]) -> DataKey:
        key_id, wrapped_by = str(row[1]), row[3]
        stored = bytes(row[2]) if isinstance(row[2], bytes | memoryview) else b""
        if wrapped_by is None:
            return DataKey(key_id, stored)
        wrapping = self._master.keys.get(str(wrapped_by)) if self._master else None
        if wrapping is None:
            raise KeyStoreError(
                f"the customer key store at {self.where} holds keys wrapped by master key {wrapped_by!r}, which"
                " ORDERS_MASTER_KEYS does not hold"
            )
        try:
            secret = AESGCM(wrapping).decrypt(stored[:_NONCE_BYTES], stored[_NONCE_BYTES:], key_id.encode())
            return DataKey(key_id, secret)
        except InvalidTag:
            raise KeyStoreError(
                f"a data key in the customer key store at {self.where} does not unwrap with master key"
                f" {wrapped_by!r}: another key under that id, or an altered store"
            ) from None

    @contextmanager
    def _used(self, how: str) -> Iterator[None]:
        """A database's trouble as one KeyStoreError line."""
        try:
            yield
        except DatabaseError as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise KeyStoreError(f"the customer key store at {self.where} cannot be {how}: {first}") from None


def open_customer_keys(target: Path | str, master: Keyring | None) -> CustomerKeys | None:
    """The key store at `target` to look keys up in; None when none was ever made there."""
    if not is_postgres(target) and not Path(target).is_file():
        return None
    return CustomerKeys(target, master, writing=False)


def customer_keys_when_needed(target: Path | str, master: Keyring | None) -> Callable[[], CustomerKeys | None]:
    """The key store at `target`, opened to look keys up the first time it is asked for once
    it exists (a worker may start before any customer has a key), then kept open."""
    opened: list[CustomerKeys] = []

    def keys() -> CustomerKeys | None:
        if not opened and (found := open_customer_keys(target, master)) is not None:
            opened.append(found)
        return opened[0] if opened else None

    return keys
