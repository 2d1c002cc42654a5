"""SQLite: a file, nothing to install. `BEGIN IMMEDIATE` takes the file's write lock for a
transaction, so one change at a time across threads and processes; WAL with
`synchronous=NORMAL` loses no committed transaction to a crash of the process.

Opened to read only, a database is never written, locked for writing or given a journal:
a backup restored on read-only media, or a file its reader may not write, reads as usual.
"""

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from storage.databases import Rows, _PerThread
from storage.places import database_file

# How long a connection keeps trying to put a new file into WAL mode while others do too.
_WAL_SWITCH_SECONDS = 30.0


def _into_wal(connection: sqlite3.Connection) -> None:
    """WAL mode. Connections opening a new file at the same moment each try to switch it,
    and SQLite answers "database is locked" at once to all but one (no busy timeout applies
    to the switch): try again until the one that won has switched it."""
    deadline = time.monotonic() + _WAL_SWITCH_SECONDS
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class SqliteDatabase(_PerThread):
    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        """PlaceError, before anything is opened, where a database cannot be (for writing:
        cannot be written)."""
        super().__init__()
        self.path = database_file(path, writing=not read_only)
        self.where = str(path)
        self.read_only = read_only

    def _connect(self) -> sqlite3.Connection:
        if self.read_only:
            return self._connect_read_only()
        # Closed by whichever thread closes the database, once every thread is done with it.
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        _into_wal(connection)
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    def _connect_read_only(self) -> sqlite3.Connection:
        """`mode=ro`: reads what writers commit meanwhile. A database in WAL mode needs its
        shared-memory file beside it, which read-only media cannot take: then `immutable`,
        which reads the file as it lies (nobody can be writing it there)."""
        uri = f"file:{quote(str(self.path.absolute()))}"
        connection = sqlite3.connect(
            f"{uri}?mode=ro", uri=True, timeout=30, isolation_level=None, check_same_thread=False
        )
        try:
            connection.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            connection.close()
            connection = sqlite3.connect(
                f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None, check_same_thread=False
            )
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
