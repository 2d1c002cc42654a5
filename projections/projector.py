"""Keeping the read models current from the order histories.

Temporal has no ordered stream across workflows; what it has is visibility, which hears
of an order where it rests: as it starts (StartTime), when it waits for a person and as it
ends, when the order publishes its status with the version of its latest event and when
it was recorded (OrderVersion, OrderUpdatedAt), in the one upsert it makes there; and as
it closes (CloseTime). No event costs a visibility write of its own. So a catch-up asks
visibility for the orders changed since the high-water mark (less an overlap for
visibility's own lag), skips those whose published version the read models already
have, and reads only the others' histories, applying each after its checkpoint: a poll
costs what changed, not every order. The events an order records between two resting
places reach the read models with the second. (An order of the build that upserted each
envelope into the memo, whose one new event is its latest, is brought up to date from
the listing itself.) No event is ever skipped, none applied twice.
"""

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus

from connection import call_timeout
from contract import ORDER_UPDATED_AT, ORDER_VERSION, as_text, order_id_of
from domain import OrderSummary
from eventstore import (
    Archive,
    ArchivedSnapshot,
    EnvelopeReader,
    EventStore,
    Listing,
    SnapshotSeal,
    StreamNotFound,
    snapshot_of_archived,
)
from projections.policy import RunMark
from projections.store import OrderCheckpoint, ReadModels

# How far back each poll looks again before the high-water mark: an order whose change
# reached visibility after a later one was listed is still found. Orders seen again
# cost a version comparison, no history read.
OVERLAP = timedelta(seconds=3)
_BATCH = 64
_CONCURRENT_READS = 8
# Orders behind whose histories `lag` reads, for the exact age of their oldest event.
_READ_FOR_LAG = 100
# Archived orders read at a time by a rebuild.
_ARCHIVE_PAGE = 200


@dataclass(frozen=True)
class Change:
    """What visibility says of one order."""

    order_id: str
    version: int | None  # None for orders recorded before they published it
    closed: bool
    changed_at: datetime
    # Which run visibility listed, and when it was made: visibility lists every run of an
    # order, those a reset abandoned too.
    run_id: str | None = None
    started_at: datetime | None = None

    def is_another_run_than(self, stored: OrderCheckpoint | None) -> bool:
        return stored is not None and stored.run_id is not None and self.run_id != stored.run_id

    def is_ahead_of(self, stored: OrderCheckpoint | None) -> bool:
        if stored is None:
            return True
        if self.is_another_run_than(stored):
            # A run made after the one applied (a reset since) is news whatever its
            # version; one made before it (the run a reset abandoned) never is.
            made = self.started_at
            return stored.run_began_at is None or made is None or made > stored.run_began_at
        if self.closed and not stored.closed:
            return True
        if self.version is None:
            return not (self.closed and stored.closed)
        return self.version > stored.version


@dataclass
class CatchUp:
    listed: int = 0  # orders visibility listed as changed
    applied: int = 0  # of those, orders the read models lacked events of
    events: int = 0
    repaired: list[str] = field(default_factory=list)


async def open_read_models(client: Client, target: Path | str, *, writing: bool = True) -> ReadModels:
    """The read models at `target`, as this client's namespace's: ProjectionError if they
    are another namespace's (a rebuild takes them over: `rebuild`), or not ours at all.
    `writing` False: for a reader, which opens them to read only and writes nothing."""
    namespace_id = await _namespace_id(client)
    models = await asyncio.to_thread(ReadModels, target, read_only=not writing)
    check = models.claim if writing else models.check_owner
    try:
        await asyncio.to_thread(check, client.namespace, namespace_id)
    except BaseException:
        models.close()
        raise
    return models


async def _namespace_id(client: Client) -> str:
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=client.namespace), timeout=call_timeout(client)
    )
    return described.namespace_info.id


async def rebuild(
    client: Client,
    target: Path | str,
    *,
    archive: Archive | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[CatchUp, int]:
    """The read models at `target` rebuilt from the histories (and the archive) into a set of
    their own, swapped in once whole, in one transaction: readers see the old read models
    until then, and a rebuild that dies leaves them serving. Returns the catch-up and how
    many orders came from the archive."""
    namespace_id = await _namespace_id(client)
    rebuilt = await asyncio.to_thread(ReadModels, target, rebuilding=True)
    try:
        done = await catch_up(client, rebuilt, on_progress=on_progress)
        from_archive = 0
        if archive is not None:
            from_archive = await asyncio.to_thread(
                include_archived, rebuilt, archive, EnvelopeReader.of(client), SnapshotSeal.of(client)
            )
        await asyncio.to_thread(rebuilt.swap_in, client.namespace, namespace_id)
    finally:
        rebuilt.close()
    return done, from_archive


def changed_since(since: datetime | None) -> str | None:
    if since is None:
        return None
    at = as_text(since)
    # StartTime finds orders as they arrive; OrderUpdatedAt where they rest and end;
    # CloseTime those closed without a last upsert (terminated, timed out) and those
    # recorded before the projection clock.
    return f"{ORDER_UPDATED_AT.name} >= '{at}' OR CloseTime >= '{at}' OR StartTime >= '{at}'"


async def changes(client: Client, since: datetime | None) -> AsyncIterator[Change]:
    async for execution in Listing(client).executions(changed_since(since)):
        if (change := to_change(execution)) is not None:
            yield change


def to_change(execution: WorkflowExecution) -> Change | None:
    """What visibility says of one order; None for a workflow that is not an order."""
    order_id = order_id_of(execution.id)
    if order_id is None:
        return None
    attributes = execution.typed_search_attributes
    times = [execution.start_time, execution.close_time, attributes.get(ORDER_UPDATED_AT)]
    return Change(
        order_id=order_id,
        version=attributes.get(ORDER_VERSION),
        closed=execution.status is not None and execution.status != WorkflowExecutionStatus.RUNNING,
        changed_at=max(time for time in times if time is not None),
        run_id=execution.run_id,
        started_at=execution.start_time,
    )


async def catch_up(
    client: Client, models: ReadModels, on_progress: Callable[[int, int], None] | None = None
) -> CatchUp:
    """Apply every change visibility shows since the high-water mark; then move the mark."""
    since = models.high_water()
    store = EventStore(client)
    done = CatchUp()
    newest = since
    batch: list[Change] = []
    reads = asyncio.Semaphore(_CONCURRENT_READS)

    async def apply(change: Change) -> None:
        async with reads:
            try:
                order = await store.read_stored(change.order_id)
            except StreamNotFound:  # deleted since it was listed (its current run, at least)
                return
        run = RunMark(order.run_id, order.began_at) if order.run_id and order.began_at else None
        applied = await asyncio.to_thread(models.apply, order.stream, not order.running, run)
        done.applied += 1
        done.events += applied.events
        if applied.repaired:
            done.repaired.append(change.order_id)
        if on_progress:
            on_progress(done.applied, done.applied + len(batch))

    async def flush() -> None:
        await asyncio.gather(*(apply(change) for change in batch))
        batch.clear()

    async for change in changes(client, None if since is None else since - OVERLAP):
        done.listed += 1
        newest = change.changed_at if newest is None else max(newest, change.changed_at)
        if change.is_ahead_of(models.checkpoint_of(change.order_id)):
            batch.append(change)
        if len(batch) >= _BATCH:
            await flush()
    await flush()
    # Only once everything listed is applied: a catch-up killed halfway starts again
    # from the same mark, and what it applied already is skipped by its checkpoints.
    await asyncio.to_thread(models.advance, newest)
    return done


def include_archived(models: ReadModels, archive: Archive, reader: EnvelopeReader, seal: SnapshotSeal) -> int:
    """Apply the orders the read models lack that only the archive may still hold (their
    histories deleted by retention), each as closed, from its snapshot (folded from its
    archived events where it has none yet); returns how many. The archive is read a page
    at a time, and orders the read models have whole cost a row look-up."""
    applied = 0
    rows = archive.snapshots()
    while page := list(itertools.islice(rows, _ARCHIVE_PAGE)):
        held = models.checkpoints_of([row.order_id for row in page])
        wanted = [row for row in page if not _holds(held.get(row.order_id), row)]
        unsnapshotted = [row.order_id for row in wanted if row.snapshot is None]
        read = {order.order_id: order for order in archive.orders(unsnapshotted)} if unsnapshotted else {}
        closed = []
        for row in wanted:
            snapshot = snapshot_of_archived(row, archive, reader, seal, read.get(row.order_id))
            if snapshot is not None:
                began_at = row.run_began_at or _began_at(archive, row.order_id)
                closed.append((snapshot, RunMark(row.run_id, began_at) if began_at else None))
        applied += models.apply_closed(closed)
    return applied


def _holds(stored: OrderCheckpoint | None, row: ArchivedSnapshot) -> bool:
    """Whether the read models hold the archived run, closed."""
    if stored is None or not stored.closed:
        return False
    return stored.run_id == row.run_id or (stored.run_id is None and stored.version >= row.last_version)


def _began_at(archive: Archive, order_id: str) -> datetime | None:
    """When the archived run was made, from its history: for rows archived before it was kept."""
    archived = archive.get(order_id)
    return archived.began_at() if archived is not None else None


@dataclass(frozen=True)
class Lag:
    orders: int  # orders with events the read models have not applied
    events: int  # those events
    seconds: float  # the age of the oldest of them; 0 when none
    high_water: datetime | None
    caught_up_at: datetime | None

    @property
    def current(self) -> bool:
        return self.orders == 0


async def lag(client: Client, models: ReadModels) -> Lag:
    """How far behind the histories the read models are, from visibility, and from the
    histories of the first orders behind (never of all orders): the age of the oldest
    unapplied event is exact among those, events behind from the published versions."""
    since = models.high_water()
    store = EventStore(client)
    orders = events = 0
    oldest: datetime | None = None
    async for change in changes(client, None if since is None else since - OVERLAP):
        stored = await asyncio.to_thread(models.checkpoint_of, change.order_id)
        if not change.is_ahead_of(stored):
            continue
        orders += 1
        applied = stored.version if stored and not change.is_another_run_than(stored) else 0
        first = change.changed_at
        if change.version is None or orders <= _READ_FOR_LAG:
            try:
                unapplied = (await store.read_stream(change.order_id)).envelopes[applied:]
            except StreamNotFound:  # deleted since it was listed
                unapplied = ()
            events += len(unapplied)
            first = unapplied[0].created_at if unapplied else first
        else:
            events += change.version - applied
        oldest = first if oldest is None else min(oldest, first)
    seconds = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
    return Lag(orders, events, max(seconds, 0.0), since, models.caught_up_at())


async def keep_current(
    client: Client,
    models: ReadModels,
    every: timedelta,
    on_catch_up: Callable[[CatchUp], None] | None = None,
) -> None:
    """Catch up, then again every `every` (at once when a catch-up took longer), until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        began = loop.time()
        done = await catch_up(client, models)
        if on_catch_up:
            on_catch_up(done)
        await asyncio.sleep(max(0.0, every.total_seconds() - (loop.time() - began)))


class ProjectedSummaries:
    """The read models as the event store's SummarySource: they answer when they are
    current, and say how far behind they were when they are not."""

    def __init__(self, client: Client, models: ReadModels) -> None:
        self._client, self._models = client, models
        self.where = models.where
        self.lag: Lag | None = None

    async def current_summary(self) -> OrderSummary | None:
        self.lag = await lag(self._client, self._models)
        return await asyncio.to_thread(self._models.summary) if self.lag.current else None
