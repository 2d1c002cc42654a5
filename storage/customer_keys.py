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
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from contract import as_text
from encryption import DataKey, Keyring, new_data_key
from storage.databases import Database, DatabaseError, foreign_tables, is_postgres, schema_columns, where_of
from storage.places import PlaceError
from storage.sqlite import SqliteDatabase

_LOCK = 0x4B45595354520000  # "KEYSTR": on PostgreSQL, one schema change at a time
_NONCE_BYTES = 12
_SCHEMA = """
CREATE TABLE IF NOT EXISTS customer_keys (
    customer_id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL UNIQUE,
    data_key BYTEA NOT NULL,          -- wrapped by the master key `wrapped_by` names; as it is when NULL
    wrapped_by TEXT,
    created_at TEXT NOT NULL
);
"""
_PAGE = 500


class KeyStoreError(ValueError):
    """A key store that cannot be used, or a key it cannot give; the message names it."""


class CustomerKeys:
    def __init__(self, target: Path | str, master: Keyring | None = None, *, writing: bool = True) -> None:
        """`writing`: a starter, which makes keys; readers (the worker's shipping step, the
        readers that show personal data, the codec server) only look keys up."""
        self.where = where_of(target)
        self._master = master
        self._known: dict[str, DataKey] = {}
        try:
            if is_postgres(target):
                from storage.postgres import PostgresDatabase  # psycopg, only where PostgreSQL is used

                self._db: Database = PostgresDatabase(str(target), _LOCK)
            else:
                self._db = SqliteDatabase(Path(target), read_only=not writing)
            with self._used("opened"):
                if writing:
                    with self._db.transaction():
                        self._db.execute(_SCHEMA)
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
        """The key of that id; None when the store holds none (never made here, or deleted)."""
        if key_id not in self._known:
            rows = self._rows("key_id", [key_id])
            if not rows:
                return None
            self._known[key_id] = self._unwrapped(rows[0])
        return self._known[key_id]

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
