"""Old raw histories compacted away: `orders archive compact --older-than DAYS --keep events`.

An archived row keeps Temporal's whole raw history (for replay and audit) beside the
order's envelopes and its snapshot. Long after anyone will replay an order, the raw
history is most of the row. Compaction empties it for the archived orders closed longer
ago than the horizon that Temporal no longer holds (while Temporal holds an order, its
history there is the event store, and the archived copy is checked against it); the
envelopes and the snapshot stay, so every reader of events and state answers as before,
and `orders replay` says the history was compacted, and when.

Compacted to its snapshot (`--keep snapshot`), an order loses its envelopes too: the
snapshot, checked first to be the fold of those envelopes, is then its whole record, with a
tombstone saying how many events were dropped, their digest, and when (eventstore.archive.
Tombstone). This deletes events from the record: the command asks for `--yes`.

Each order is compacted by one statement that only empties a row still holding what it
drops and its snapshot: a run killed at any moment keeps what it compacted, a rerun
compacts the rest, and each order is compacted once.
"""

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from contract import workflow_id_for
from domain import SnapshotSchemaError
from eventstore.archive import Archive, Tombstone
from eventstore.history import PLAIN, EnvelopeReader
from eventstore.snapshots import SnapshotSeal

_PAGE = 200
_PLAIN_SEAL = SnapshotSeal()


@dataclass
class Compaction:
    compacted: int = 0  # raw histories this run emptied (with --dry-run: would empty)
    already: int = 0  # compacted before this run
    held_by_temporal: int = 0  # left: Temporal still holds the order (on the embedded default's ten years, all)
    recent: int = 0  # left: closed within the horizon
    without_snapshot: int = 0  # left: no snapshot yet (`orders archive` makes it first)
    # left whole (--keep snapshot): orders whose snapshot is not the fold of their events, or not readable here
    disagreeing: list[str] = field(default_factory=list)


async def compact_archive(
    client: Client,
    archive: Archive,
    older_than: timedelta,
    *,
    to_snapshot: bool = False,
    reader: EnvelopeReader = PLAIN,
    seal: SnapshotSeal = _PLAIN_SEAL,
    dry_run: bool = False,
    concurrency: int = 8,
    on_progress: Callable[[int, int], None] | None = None,
) -> Compaction:
    """Empty the raw history (`to_snapshot`: and the envelopes) of each archived order
    closed before `older_than` ago that has its snapshot and that Temporal no longer
    holds. `reader` and `seal` open the envelopes and snapshots (with the shop's keys)."""
    result = Compaction(
        already=await asyncio.to_thread(archive.compacted_to_snapshots if to_snapshot else archive.compacted)
    )
    horizon = datetime.now(UTC) - older_than
    total = await asyncio.to_thread(archive.count)
    seen = result.already
    asking = asyncio.Semaphore(concurrency)

    async def compact_one(order_id: str, run_id: str) -> None:
        async with asking:
            held = await _held_by_temporal(client, order_id)
        if held:
            result.held_by_temporal += 1
        elif to_snapshot:
            dropped = await asyncio.to_thread(_to_snapshot, archive, order_id, run_id, reader, seal, dry_run, result)
            result.compacted += dropped
        elif dry_run:
            result.compacted += 1
        else:
            compacted = await asyncio.to_thread(archive.compact, order_id, run_id, datetime.now(UTC))
            result.compacted += compacted

    rows = archive.kept_envelopes() if to_snapshot else archive.kept_histories()  # a page read at a time
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


def _to_snapshot(
    archive: Archive,
    order_id: str,
    run_id: str,
    reader: EnvelopeReader,
    seal: SnapshotSeal,
    dry_run: bool,
    result: Compaction,
) -> int:
    """Drop the order's envelopes, once its snapshot is shown to be their fold: 1 if this
    call did (or, dry, would)."""
    order = archive.get(order_id)
    if order is None or order.run_id != run_id or order.snapshot is None:
        return 0  # replaced since it was listed: the next run takes the new row
    try:
        agrees = not seal.opened(order.snapshot, f"order {order_id!r}").differences(order.stream(reader))
    except SnapshotSchemaError:
        agrees = False  # a layout this build does not read: it cannot vouch for it
    if not agrees:
        result.disagreeing.append(order_id)
        return 0
    if dry_run:
        return 1
    return int(archive.compact_to_snapshot(order, Tombstone.of(order, datetime.now(UTC))))


async def _held_by_temporal(client: Client, order_id: str) -> bool:
    """Whether Temporal still holds the order's workflow (any run of it)."""
    try:
        await client.get_workflow_handle(workflow_id_for(order_id)).describe()
        return True
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
