"""Where the read models live: a SQLite file (the default, nothing to install) or a
PostgreSQL database (one DSN, for when one machine is outgrown). The read models speak
the SQL both understand (`INSERT … ON CONFLICT`, `?` placeholders); what differs is here:
connecting, and what makes one order's change exclusive across processes.

- SQLite: `BEGIN IMMEDIATE` takes the file's write lock for the transaction.
- PostgreSQL: every change takes the same transaction-level advisory lock first, so
  several projector processes apply one order's change at a time and each checks the
  checkpoint the one before it moved: none applies an event twice.
"""

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import psycopg

# The advisory lock every projector's change takes on PostgreSQL ("ORDERS" in ASCII).
_PROJECTION_LOCK = 0x4F52444552530000

DatabaseError: tuple[type[Exception], ...] = (sqlite3.Error, psycopg.Error)


class Rows(Protocol):
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Database(Protocol):
    where: str

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Rows: ...
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...
    def transaction(self) -> Any: ...  # a context manager: exclusive, all or nothing
    def tables(self) -> set[str]: ...  # the names of the tables there
    def close(self) -> None: ...


def is_postgres(target: str | Path) -> bool:
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def where_of(target: str | Path) -> str:
    """The database named by host, port and name (or path): never a password in a message."""
    if not is_postgres(target):
        return str(target)
    info = psycopg.conninfo.conninfo_to_dict(str(target))
    return f"postgresql://{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


def open_database(target: str | Path) -> Database:
    if is_postgres(target):
        return PostgresDatabase(str(target))
    return SqliteDatabase(Path(target))


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

    def close(self) -> None:
        with self._lock:
            for connection in self._all:
                connection.close()
            self._all.clear()
        self._local = threading.local()


class SqliteDatabase(_PerThread):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.where = str(path)
        path.parent.mkdir(parents=True, exist_ok=True)

    def _connect(self) -> sqlite3.Connection:
        # Closed by whichever thread closes the database, once every thread is done with it.
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Rows:
        cursor: Rows = self._connection().execute(sql, parameters)
        return cursor

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._connection().executemany(sql, rows)

    def tables(self) -> set[str]:
        return {row[0] for row in self.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    @contextmanager
    def transaction(self) -> Iterator[None]:
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")


class PostgresDatabase(_PerThread):
    def __init__(self, dsn: str) -> None:
        super().__init__()
        self.dsn = dsn
        self.where = where_of(dsn)

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.dsn, autocommit=True, connect_timeout=10)

    def tables(self) -> set[str]:
        rows = self.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
        return {row[0] for row in rows}

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Rows:
        cursor: Rows = self._connection().execute(_placeholders(sql), tuple(parameters))
        return cursor

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            with self._connection().cursor() as cursor:
                cursor.executemany(_placeholders(sql), [tuple(row) for row in rows])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        connection = self._connection()
        connection.execute("BEGIN")
        try:
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (_PROJECTION_LOCK,))
            yield
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")


def _placeholders(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")
