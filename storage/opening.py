"""Opening a database by what a setting names: a SQLite file, or a PostgreSQL DSN."""

from pathlib import Path

from storage.databases import Database, is_postgres
from storage.sqlite import SqliteDatabase

# The advisory lock every change of the read models (and the archive) takes on PostgreSQL
# ("ORDERS" in ASCII; storage.postgres).
READ_MODELS_LOCK = 0x4F52444552530000


def open_database(target: str | Path, *, read_only: bool = False, lock: int = READ_MODELS_LOCK) -> Database:
    """`target`: a SQLite path, or a postgresql:// DSN. `read_only`: this program never
    writes it (a SQLite file is opened so, and may lie on read-only media). `lock`: what
    makes one change at a time across processes on PostgreSQL, one per thing kept there
    (SQLite's file lock does it for a file)."""
    if is_postgres(target):
        from storage.postgres import PostgresDatabase  # psycopg, only where PostgreSQL is used

        return PostgresDatabase(str(target), lock)
    return SqliteDatabase(Path(target), read_only=read_only)
