"""Where the project keeps what is not Temporal's: the read models and the archive of
closed orders, each in a SQLite file (nothing to install) or a PostgreSQL database."""

from storage.databases import Database, DatabaseError, is_postgres, open_database, where_of

__all__ = ["Database", "DatabaseError", "is_postgres", "open_database", "where_of"]
