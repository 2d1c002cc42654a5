"""Where the project keeps what is not Temporal's: the read models and the archive of
closed orders, each in a SQLite file (nothing to install) or a PostgreSQL database; and the
ids a walk over many orders has seen, on disk."""

from pathlib import Path

from storage.databases import Database, DatabaseError, foreign_tables, is_postgres, schema_columns, where_of
from storage.places import PlaceError, Role, input_file, output_file, state_file, writable_directory
from storage.seen import SeenIds
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


from storage.customer_keys import (  # noqa: E402
    KEY_CACHE_SECONDS,
    CustomerKeys,
    Forgotten,
    KeyStoreError,
    customer_keys_when_needed,
    open_customer_keys,
)

__all__ = [
    "KEY_CACHE_SECONDS",
    "CustomerKeys",
    "Database",
    "DatabaseError",
    "Forgotten",
    "KeyStoreError",
    "PlaceError",
    "Role",
    "SeenIds",
    "customer_keys_when_needed",
    "foreign_tables",
    "input_file",
    "is_postgres",
    "open_customer_keys",
    "open_database",
    "output_file",
    "schema_columns",
    "state_file",
    "where_of",
    "writable_directory",
]
