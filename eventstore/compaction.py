"""Old raw histories compacted away: `orders archive compact --older-than DAYS --keep events`.

An archived row keeps Temporal's whole raw history (for replay and audit) beside the
order's envelopes and its snapshot. Long after anyone will replay an order, the raw
history is most of the row. Compaction empties it for the archived orders closed longer
ago than the horizon that Temporal no longer holds (while Temporal holds an order, its
history there is the event store, and the archived copy is checked against it); the
envelopes and the snapshot stay, so every reader of events and state answers as before,
and `orders replay` says the history was compacted, and when.

Each order is compacted by one statement that only empties a row still holding its raw
history and its snapshot: a run killed at any moment keeps what it compacted, a rerun
compacts the rest, and each order is compacted once. Nothing else is ever deleted.
"""

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from contract import workflow_id_for
from eventstore.archive import Archive

_PAGE = 200


@dataclass
class Compaction:
    compacted: int = 0  # raw histories this run emptied (with --dry-run: would empty)
    already: int = 0  # compacted before this run
    held_by_temporal: int = 0  # left: Temporal still holds the order (on the embedded default's ten years, all)
    recent: int = 0  # left: closed within the horizon
    without_snapshot: int = 0  # left: no snapshot yet (`orders archive` makes it first)


async def compact_archive(
    client: Client,
    archive: Archive,
    older_than: timedelta,
    *,
    dry_run: bool = False,
    concurrency: int = 8,
    on_progress: Callable[[int, int], None] | None = None,
) -> Compaction:
    """Empty the raw history of each archived order closed before `older_than` ago that
    has its snapshot and that Temporal no longer holds."""
    result = Compaction(already=await asyncio.to_thread(archive.compacted))
    horizon = datetime.now(UTC) - older_than
    total = await asyncio.to_thread(archive.count)
    seen = result.already
    asking = asyncio.Semaphore(concurrency)

    async def compact_one(order_id: str, run_id: str) -> None:
        async with asking:
            held = await _held_by_temporal(client, order_id)
        if held:
            result.held_by_temporal += 1
        elif dry_run:
            result.compacted += 1
        else:
            compacted = await asyncio.to_thread(archive.compact, order_id, run_id, datetime.now(UTC))
            result.compacted += compacted

    rows = archive.kept_histories()  # a page read at a time
    while page := await asyncio.to_thread(lambda: list(itertools.islice(rows, _PAGE))):
        due = []
        for order_id, run_id, closed_at, has_snapshot in page:
            if closed_at >= horizon:
                result.recent += 1
            elif not has_snapshot:
                result.without_snapshot += 1
            else:
                due.append(compact_one(order_id, run_id))
        await asyncio.gather(*due)
        seen += len(page)
        if on_progress:
            on_progress(seen, max(total, seen))
    return result


async def _held_by_temporal(client: Client, order_id: str) -> bool:
    """Whether Temporal still holds the order's workflow (any run of it)."""
    try:
        await client.get_workflow_handle(workflow_id_for(order_id)).describe()
        return True
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
