"""What tests compare read models by: every row of every read model, read straight from
the database (the store itself only ever reads an order's row and the summary)."""

from pathlib import Path
from typing import Any

from projections import READ_MODELS
from storage import open_database

# order_summaries without applied_at: when a row was written is not what two projections
# of the same histories agree on.
_SUMMARY_COLUMNS = (
    "order_id, version, closed, status, customer_id, total_amount, payment_id, payment_status, tracking_number,"
    " refund_amount, received_at, updated_at, state, problems, run_id, run_began_at"
)


def contents(target: str | Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read model at `target` (a SQLite path or a postgresql:// DSN), in key order."""
    db = open_database(target, read_only=True)
    try:
        return {
            table: db.execute(
                f"SELECT {_SUMMARY_COLUMNS if table == 'order_summaries' else '*'} FROM {table} ORDER BY 1"
            ).fetchall()
            for table in READ_MODELS
        }
    finally:
        db.close()
