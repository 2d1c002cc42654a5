"""Where the project keeps what is not Temporal's: the read models and the archive, in a
SQLite file (the default, nothing to install) or a PostgreSQL database (one DSN, for when
one machine is outgrown). Callers write one SQL both understand (`INSERT … ON CONFLICT`,
`?` placeholders); each dialect's module (storage.sqlite, storage.postgres) says what
differs: connecting, placeholders, and what makes one change exclusive across processes.
"""

import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol


class PostgresError(Exception):
    """What PostgreSQL (psycopg) refused or failed, as storage.postgres raises it: psycopg is
    imported only where a PostgreSQL database is used, so a command that reads none (`orders
    events X`) never loads it, and nothing here names psycopg's own classes."""


DatabaseError: tuple[type[Exception], ...] = (sqlite3.Error, PostgresError)


class Rows(Protocol):
    description: Any

    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Database(Protocol):
    where: str

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Rows: ...
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...
    def transaction(self) -> Any: ...  # a context manager: exclusive, all or nothing
    def tables(self) -> set[str]: ...  # the names of the tables there
    def columns(self, table: str) -> set[str]: ...  # the names of a table's columns
    def rename_table(self, old: str, new: str) -> None: ...  # in the transaction under way
    def close(self) -> None: ...


def schema_columns(schema: str) -> dict[str, set[str]]:
    """The tables a schema (`CREATE TABLE IF NOT EXISTS name (…);` statements, a column a
    line) makes, and their columns."""
    return {
        match.group(1): {
            line.split()[0]
            for line in match.group(2).strip().splitlines()
            if line.strip() and not line.strip().startswith(("PRIMARY KEY", "UNIQUE", "--"))
        }
        for match in re.finditer(r"CREATE TABLE IF NOT EXISTS (\w+) \((.*?)\n\);", schema, flags=re.DOTALL)
    }


def foreign_tables(db: "Database", expected: dict[str, set[str]]) -> list[str]:
    """Those of the `expected` tables that the database holds with other columns: another
    program's, which nothing of ours may write into."""
    return sorted(table for table in db.tables() & expected.keys() if db.columns(table) != expected[table])


def is_postgres(target: str | Path) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def where_of(target: str | Path) -> str:
    """The database named by host, port and name (or path): never a password in a message."""
    if not is_postgres(target):
        return str(target)
    from psycopg.conninfo import conninfo_to_dict  # only for a PostgreSQL target (see PostgresError)

    info = conninfo_to_dict(str(target))
    return f"postgresql://{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


class _PerThread:
    """One connection per thread: the projector applies from a thread pool."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()

    def _connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            self._local.connection = connection
            with self._lock:
                self._all.append(connection)
        return connection

    def _connect(self) -> Any:
        raise NotImplementedError

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Rows:
        raise NotImplementedError

    def columns(self, table: str) -> set[str]:
        described = self.execute(f"SELECT * FROM {table} WHERE 1 = 0")
        return {column[0] for column in described.description}

    def _begin(self, connection: Any) -> None:
        """Begin a transaction that excludes every other writer until it ends."""
        raise NotImplementedError

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """The dialect's errors, as DatabaseError says them (SQLite's need no translating)."""
        yield

    @contextmanager
    def transaction(self) -> Iterator[None]:
        connection = self._connection()
        self._begin(connection)
        try:
            yield
        except BaseException:
            with self._translated():
                connection.execute("ROLLBACK")
            raise
        with self._translated():
            connection.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            for connection in self._all:
                connection.close()
            self._all.clear()
        self._local = threading.local()
