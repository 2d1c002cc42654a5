"""PostgreSQL: one DSN. Every change takes a transaction-level advisory lock first, the
same for every process that keeps the same thing there (the read models' projectors, or the
ledger's workers), so they apply one change at a time and each sees what the one before it
committed: none applies an event twice, none charges twice, none takes the last unit of
stock twice. Placeholders are psycopg's `%s`: the `?` callers write is translated here."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg

from storage.databases import PostgresError, Rows, _PerThread, where_of


class PostgresDatabase(_PerThread):
    def __init__(self, dsn: str, lock: int) -> None:
        """`lock`: the advisory lock each transaction takes; one per thing kept here."""
        super().__init__()
        self.dsn = dsn
        self.where = where_of(dsn)
        self._advisory_lock = lock

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except psycopg.Error as err:
            raise PostgresError(str(err).strip() or type(err).__name__) from err

    def _connect(self) -> psycopg.Connection[Any]:
        with self._translated():
            return psycopg.connect(self.dsn, autocommit=True, connect_timeout=10)

    def tables(self) -> set[str]:
        rows = self.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
        return {row[0] for row in rows}

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Rows:
        connection = self._connection()
        with self._translated():
            cursor: Rows = connection.execute(_placeholders(sql), tuple(parameters))
        return cursor

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            connection = self._connection()
            with self._translated(), connection.cursor() as cursor:
                cursor.executemany(_placeholders(sql), [tuple(row) for row in rows])

    def _begin(self, connection: Any) -> None:
        with self._translated():
            connection.execute("BEGIN")
            try:
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (self._advisory_lock,))
            except BaseException:
                connection.execute("ROLLBACK")  # as a lock wait interrupted leaves the connection usable
                raise

    def rename_table(self, old: str, new: str) -> None:
        # The primary key's index keeps the name it was created with: renamed too, so the
        # next table created as `old` can name its own.
        self.execute(f"ALTER TABLE {old} RENAME TO {new}")
        self.execute(f"ALTER INDEX IF EXISTS {old}_pkey RENAME TO {new}_pkey")


def _placeholders(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")
