"""Where the project keeps what is not Temporal's: the read models and the archive of
closed orders, each in a SQLite file (nothing to install) or a PostgreSQL database; and the
ids a walk over many orders has seen, on disk."""

from storage.customer_keys import (
    KEY_CACHE_SECONDS,
    CustomerKeys,
    Forgotten,
    KeyStoreError,
    customer_keys_when_needed,
    open_customer_keys,
)
from storage.databases import Database, DatabaseError, foreign_tables, is_postgres, schema_columns, where_of
from storage.opening import open_database
from storage.places import PlaceError, Role, input_file, output_file, state_file, writable_directory
from storage.seen import SeenIds

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
