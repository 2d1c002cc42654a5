"""Where the project keeps what is not Temporal's: the read models and the archive of
closed orders, each in a SQLite file (nothing to install) or a PostgreSQL database; and the
ids a walk over many orders has seen, on disk."""

from pathlib import Path

from storage.databases import Database, DatabaseError, is_postgres, where_of
from storage.postgres import PostgresDatabase
from storage.seen import SeenIds
from storage.sqlite import SqliteDatabase


def open_database(target: str | Path) -> Database:
    """`target`: a SQLite path, or a postgresql:// DSN."""
    if is_postgres(target):
        return PostgresDatabase(str(target))
    return SqliteDatabase(Path(target))


__all__ = ["Database", "DatabaseError", "SeenIds", "is_postgres", "open_database", "where_of"]
