"""Copying closed orders to the archive, and checking the archive against Temporal.

Visibility lists the closed runs of orders; for those the archive lacks (or holds an
earlier run of) the order's current run is read, `concurrency` at a time, and archived
if it has closed; each is committed on its own: a run killed at any moment has archived
what it committed, and the next run skips those (the archive's key makes a second copy
impossible even when two runs race, and a later run of an order always wins over an
earlier one). Visibility lists every run of an order, the ones a reset abandoned too; what
is archived is always the current run, read by workflow id as every reader reads it.
Each order is archived with its snapshot, folded from its envelopes as the run archives
it (so with encryption on the archiver needs the shop's keys, and seals the snapshot
with them); rows archived before snapshots were made get theirs on the next run.
Memory holds one page of the listing.
"""

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode

from contract import WORKFLOW_TYPE, as_text, order_id_of, workflow_id_for
from domain import OrderSnapshot, SnapshotSchemaError
from eventstore.archive import Archive, ArchivedOrder, ArchivedRun, ArchiveError, history_digest
from eventstore.history import EnvelopeReader, HistoryReadError, recorded_carriers, run_of
from eventstore.snapshots import SnapshotSeal
from storage import SeenIds

CLOSED = f"WorkflowType='{WORKFLOW_TYPE}' AND ExecutionStatus != 'Running'"
_PAGE = 100
_LISTED_UP_TO = 20


def closed_before(moment: datetime) -> str:
    """The orders closed before `moment`: those retention deletes first."""
    return f"{CLOSED} AND CloseTime < '{as_text(moment)}'"


@dataclass
class ArchiveRun:
    listed: int = 0  # closed orders visibility listed (each once, whatever runs it lists of them)
    archived: int = 0  # of those, archived by this run (new to the archive, or a later run of one in it)
    already: int = 0  # of those, in the archive before this run reached them, as their current run
    replaced: int = 0  # of the archived, orders whose earlier run the archive held (a reset since)
    open: int = 0  # of those, orders whose current run is open (reset into a new run): archived once it closes
    snapshotted: int = 0  # orders archived before, given their snapshot by this run


@dataclass
class Verification:
    checked: int = 0  # archived orders checked
    matching: int = 0  # their history in Temporal is the archived one, byte for byte
    only_in_archive: int = 0  # Temporal no longer holds their current run (retention ended, or it was deleted)
    not_archived: int = 0  # closed orders Temporal holds that the archive lacks
    snapshots_matching: int = 0  # archived orders whose snapshot is the fold of their envelopes
    without_snapshot: int = 0  # archived orders with no snapshot yet (the next `orders archive` makes them)
    compacted: int = 0  # archived orders whose raw history was compacted away: checked by their envelopes
    tombstones_matching: int = 0  # of those, compacted to their snapshots: tombstone and snapshot as sealed
    problems: list[str] = field(default_factory=list)


async def archive_closed_orders(
    client: Client,
    archive: Archive,
    on_progress: Callable[[int, int], None] | None = None,
    concurrency: int = 8,
    query: str = CLOSED,
) -> ArchiveRun:
    """Archive the current run of every closed order the archive lacks, or holds an
    earlier run of."""
    total = (await client.count_workflows(query)).count
    run = ArchiveRun()
    reads = asyncio.Semaphore(concurrency)
    reader, seal = EnvelopeReader.of(client), SnapshotSeal.of(client)

    async def archive_one(order_id: str, held: ArchivedRun | None) -> None:
        async with reads:
            history = await _history_of(client, workflow_id_for(order_id))
        if history is None:  # deleted since it was listed (or its current run was): nothing to archive
            return
        if run_of(history.events).running:
            run.open += 1
            return
        now = datetime.now(UTC)
        snapshot = seal.sealed(OrderSnapshot.of(reader.stream(history), now))
        order = ArchivedOrder.of(order_id, history, now, snapshot)
        if held is not None and held.run_id == order.run_id:
            run.already += 1
        elif await asyncio.to_thread(archive.put, order):
            run.archived += 1
            run.replaced += held is not None
        else:
            run.already += 1

    async for page in _pages(client, query):
        run.listed += len(page)
        known = await asyncio.to_thread(archive.known, list(page))
        wanted = {order_id: known.get(order_id) for order_id, listed in page.items() if _may_be_news(listed, known)}
        run.already += len(page) - len(wanted)
        await asyncio.gather(*(archive_one(order_id, held) for order_id, held in wanted.items()))
        if on_progress:
            on_progress(run.listed, max(total, run.listed))
    run.snapshotted = await asyncio.to_thread(snapshot_the_rest, archive, reader, seal)
    return run


def snapshot_the_rest(archive: Archive, reader: EnvelopeReader, seal: SnapshotSeal) -> int:
    """Give each archived order that has no snapshot its snapshot, folded from its archived
    envelopes; how many were given one. Each is written on its own, and only where the row
    still lacks one: a run killed midway, or two racing, give each order one snapshot."""
    given = 0
    for order in archive.without_snapshot():  # a page read at a time
        snapshot = OrderSnapshot.of(order.stream(reader), datetime.now(UTC))
        given += archive.put_snapshot(order, seal.sealed(snapshot))
    return given


def _may_be_news(listed: list[WorkflowExecution], known: dict[str, ArchivedRun]) -> bool:
    """Whether an order's listed runs may hold one the archive lacks: none of them is the
    archived run, nor older than it (visibility's StartTime of a run is when it was made)."""
    held = known.get(order_id_of(listed[0].id) or "")
    if held is None:
        return True
    return not all(
        execution.run_id == held.run_id or (held.began_at is not None and execution.start_time < held.began_at)
        for execution in listed
    )


async def verify_archive(
    client: Client, archive: Archive, on_progress: Callable[[int, int], None] | None = None, concurrency: int = 8
) -> Verification:
    """Each archived order against itself (its history reads back to the digest it was
    archived with, its envelopes are the history's) and against Temporal's history when
    Temporal still holds it; then the closed orders not archived yet, counted."""
    result = Verification()
    total = await asyncio.to_thread(archive.count)
    reads = asyncio.Semaphore(concurrency)
    reader, seal = EnvelopeReader.of(client), SnapshotSeal.of(client)

    async def check(order: ArchivedOrder) -> None:
        problem = _snapshot_problem(order, reader, seal, result)
        if order.compacted_at is not None:
            # Compacted only once Temporal held it no longer: its envelopes and snapshot are what is left to check.
            result.compacted += 1
            result.only_in_archive += problem is None
        else:
            try:
                problem = _inconsistency(order, order.history()) or problem
            except ArchiveError as err:
                problem = str(err)
        if problem is None and order.compacted_at is None:
            async with reads:
                live = await _history_of(client, order.workflow_id)
            current = run_of(live.events) if live is not None else None
            if live is None or current is None:
                result.only_in_archive += 1
            elif current.run_id != order.run_id:
                problem = (
                    f"order {order.order_id!r}: the archived run {order.run_id} is no longer the order's current run"
                    f" ({current.run_id}, {'open' if current.running else 'closed'} since a reset):"
                    + (" it is archived once it closes" if current.running else " run `orders archive` to archive it")
                )
            elif history_digest(live.events) != order.history_sha256:
                problem = (
                    f"order {order.order_id!r}: Temporal's history ({len(live.events)} events) is not the archived"
                    f" one ({order.history_events} events)"
                )
            else:
                result.matching += 1
        if problem is not None:
            result.problems.append(problem)
        result.checked += 1
        if on_progress:
            on_progress(result.checked, total)

    batch: list[ArchivedOrder] = []
    for order in archive.orders():  # a page read at a time
        batch.append(order)
        if len(batch) >= _PAGE:
            await asyncio.gather(*(check(each) for each in batch))
            batch.clear()
    await asyncio.gather(*(check(each) for each in batch))

    async for page in _pages(client, CLOSED):
        result.not_archived += await _unarchived(client, archive, page)
    return result


async def unarchived_closed_before(client: Client, archive: Archive | None, moment: datetime) -> int:
    """How many orders closed before `moment` the archive lacks (all of them without one)."""
    missing = 0
    async for page in _pages(client, closed_before(moment)):
        missing += await _unarchived(client, archive, page)
    return missing


async def _unarchived(client: Client, archive: Archive | None, page: dict[str, list[WorkflowExecution]]) -> int:
    """How many of the page's orders the archive lacks, or holds an earlier run of than one
    listed. (A run a reset abandoned whose current run is open or was deleted is counted
    too: visibility does not say which run is current, and asking Temporal of each order
    would cost a call an order.)"""
    known = await asyncio.to_thread(archive.known, list(page)) if archive else {}
    return sum(_may_be_news(listed, known) for listed in page.values())


def _snapshot_problem(
    order: ArchivedOrder, reader: EnvelopeReader, seal: SnapshotSeal, result: Verification
) -> str | None:
    """What is wrong with the order's snapshot, if anything: it must be the fold of its
    archived envelopes, field for field."""
    if order.snapshot is None:
        result.without_snapshot += 1
        return None
    if order.tombstone is not None:
        return _tombstone_problem(order, seal, result)
    try:
        snapshot = seal.opened(order.snapshot, f"order {order.order_id!r} in the archive")
        differing = snapshot.differences(order.stream(reader))
    except (HistoryReadError, SnapshotSchemaError, ArchiveError) as err:
        return str(err)
    if differing:
        return (
            f"order {order.order_id!r}: its snapshot is not the fold of its archived events"
            f" ({', '.join(differing)} differ): run `orders archive` after deleting it, or restore the row"
        )
    result.snapshots_matching += 1
    return None


def _tombstone_problem(order: ArchivedOrder, seal: SnapshotSeal, result: Verification) -> str | None:
    """Of an order compacted to its snapshot, what is wrong: the tombstone must be the one
    sealed with this row's order, run and snapshot, and the snapshot of as many events as
    the tombstone says were dropped."""
    assert order.tombstone is not None and order.snapshot is not None
    if not order.tombstone.holds_for(order):
        return (
            f"order {order.order_id!r}: its tombstone or its snapshot is not as it was when its events were"
            " compacted away (the seal differs): restore the row from a backup"
        )
    try:
        snapshot = seal.opened(order.snapshot, f"order {order.order_id!r} in the archive")
    except (HistoryReadError, SnapshotSchemaError) as err:
        return str(err)
    if snapshot.last_event_version != order.tombstone.events or snapshot.order_id != order.order_id:
        return (
            f"order {order.order_id!r}: its snapshot is of {snapshot.order_id!r} at version"
            f" {snapshot.last_event_version}, its tombstone says {order.tombstone.events} events were dropped"
        )
    result.tombstones_matching += 1
    return None


def _inconsistency(order: ArchivedOrder, archived: WorkflowHistory) -> str | None:
    if history_digest(archived.events) != order.history_sha256:
        return f"order {order.order_id!r}: the archived history does not read back to the digest it was archived with"
    in_history = [carrier.payload for carrier in recorded_carriers(archived.events)]
    if in_history != order.payloads():
        return f"order {order.order_id!r}: the archived envelopes are not the ones in its archived history"
    return None


async def _pages(client: Client, query: str) -> AsyncIterator[dict[str, list[WorkflowExecution]]]:
    """The orders `query` lists, a page at a time, by order id, each with the closed runs
    listed of it on that page (a reset order has more than one); each order once, on the
    first page that lists it (the ids of earlier pages kept on disk)."""
    with SeenIds() as seen:
        page: dict[str, list[WorkflowExecution]] = {}

        def fresh() -> dict[str, list[WorkflowExecution]]:
            new = seen.unseen(list(page))
            seen.add(new)
            return {order_id: page[order_id] for order_id in new}

        async for execution in client.list_workflows(query, page_size=_PAGE):
            order_id = order_id_of(execution.id)
            if order_id is not None and execution.status != WorkflowExecutionStatus.RUNNING:
                page.setdefault(order_id, []).append(execution)
            if len(page) >= _PAGE:
                yield fresh()
                page = {}
        if page:
            yield fresh()


async def _history_of(client: Client, workflow_id: str) -> WorkflowHistory | None:
    """The whole history of the workflow's current run, as readers by order id read it;
    None when Temporal holds it no longer."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        return WorkflowHistory(workflow_id, [event async for event in handle.fetch_history_events()])
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


def listed(problems: Sequence[str]) -> list[str]:
    """The first problems, and how many more."""
    shown = list(problems[:_LISTED_UP_TO])
    if len(problems) > _LISTED_UP_TO:
        shown.append(f"… and {len(problems) - _LISTED_UP_TO} more (--json lists them all)")
    return shown
