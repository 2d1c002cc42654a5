"""SQLite: a file, nothing to install. `BEGIN IMMEDIATE` takes the file's write lock for a
transaction, so one change at a time across threads and processes; WAL with
`synchronous=NORMAL` loses no committed transaction to a crash of the process."""

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from storage.databases import Rows, _PerThread


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

    def _begin(self, connection: Any) -> None:
        connection.execute("BEGIN IMMEDIATE")

    def rename_table(self, old: str, new: str) -> None:
        self.execute(f"ALTER TABLE {old} RENAME TO {new}")
