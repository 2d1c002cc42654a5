"""Ids seen in a walk over many orders, kept in a private SQLite file so the walk's memory
stays flat however many orders it passes: a million ids would be tens of megabytes as a
Python set; here they cost the file's page cache."""

import sqlite3
from collections.abc import Iterable, Sequence
from types import TracebackType


class SeenIds:
    def __init__(self) -> None:
        # "": a temporary database of this connection's own, on disk once it outgrows the
        # page cache, deleted when the connection closes.
        self._db = sqlite3.connect("", isolation_level=None)
        self._db.execute("CREATE TABLE seen (id TEXT PRIMARY KEY) WITHOUT ROWID")

    def add(self, ids: Iterable[str]) -> None:
        self._db.executemany("INSERT OR IGNORE INTO seen (id) VALUES (?)", ((id_,) for id_ in ids))

    def unseen(self, ids: Sequence[str]) -> list[str]:
        """Those of `ids` not added yet, in their order."""
        seen: set[str] = set()
        for start in range(0, len(ids), _BATCH):
            batch = ids[start : start + _BATCH]
            marks = ", ".join("?" * len(batch))
            seen.update(row[0] for row in self._db.execute(f"SELECT id FROM seen WHERE id IN ({marks})", batch))
        return [id_ for id_ in ids if id_ not in seen]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "SeenIds":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


_BATCH = 500  # well under SQLite's limit of bound parameters
