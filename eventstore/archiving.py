"""Copying closed orders to the archive, and checking the archive against Temporal.

Visibility lists the closed orders; those the archive lacks have their histories read,
`concurrency` at a time, and each is committed on its own: a run killed at any moment
has archived what it committed, and the next run skips those (the archive's key makes a
second copy impossible even when two runs race). Memory holds one page of the listing.
"""

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode

from contract import WORKFLOW_TYPE, order_id_of
from eventstore.archive import Archive, ArchivedOrder, ArchiveError, history_digest
from eventstore.history import recorded_carriers

CLOSED = f"WorkflowType='{WORKFLOW_TYPE}' AND ExecutionStatus != 'Running'"
_PAGE = 100
_LISTED_UP_TO = 20


def closed_before(moment: datetime) -> str:
    """The orders closed before `moment`: those retention deletes first."""
    return f"{CLOSED} AND CloseTime < '{moment.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}'"


@dataclass
class ArchiveRun:
    listed: int = 0  # closed orders visibility listed
    archived: int = 0  # of those, archived by this run
    already: int = 0  # of those, in the archive before this run reached them


@dataclass
class Verification:
    checked: int = 0  # archived orders checked
    matching: int = 0  # their history in Temporal is the archived one, byte for byte
    only_in_archive: int = 0  # Temporal no longer holds their history (retention ended)
    not_archived: int = 0  # closed orders Temporal holds that the archive lacks
    problems: list[str] = field(default_factory=list)


async def archive_closed_orders(
    client: Client,
    archive: Archive,
    on_progress: Callable[[int, int], None] | None = None,
    concurrency: int = 8,
    query: str = CLOSED,
) -> ArchiveRun:
    """Archive every closed order the archive lacks."""
    total = (await client.count_workflows(query)).count
    run = ArchiveRun()
    reads = asyncio.Semaphore(concurrency)

    async def archive_one(order_id: str, execution: WorkflowExecution) -> None:
        async with reads:
            history = await _history_of(client, execution.id, execution.run_id)
        if history is None:  # deleted since it was listed: nothing left to archive
            return
        closed_at = execution.close_time or datetime.now(UTC)
        status = execution.status.name if execution.status else "UNKNOWN"
        order = ArchivedOrder.of(order_id, history, status, closed_at, datetime.now(UTC))
        if await asyncio.to_thread(archive.put, order):
            run.archived += 1
        else:
            run.already += 1

    async for page in _pages(client, query):
        run.listed += len(page)
        known = await asyncio.to_thread(archive.known, list(page))
        run.already += len(known)
        await asyncio.gather(
            *(archive_one(order_id, execution) for order_id, execution in page.items() if order_id not in known)
        )
        if on_progress:
            on_progress(run.listed, max(total, run.listed))
    return run


async def verify_archive(
    client: Client, archive: Archive, on_progress: Callable[[int, int], None] | None = None, concurrency: int = 8
) -> Verification:
    """Each archived order against itself (its history reads back to the digest it was
    archived with, its envelopes are the history's) and against Temporal's history when
    Temporal still holds it; then the closed orders not archived yet, counted."""
    result = Verification()
    total = await asyncio.to_thread(archive.count)
    reads = asyncio.Semaphore(concurrency)

    async def check(order: ArchivedOrder) -> None:
        try:
            archived = order.history()
            problem = _inconsistency(order, archived)
        except ArchiveError as err:
            problem = str(err)
        if problem is None:
            async with reads:
                live = await _history_of(client, order.workflow_id, order.run_id)
            if live is None:
                result.only_in_archive += 1
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
        result.not_archived += len(page) - len(await asyncio.to_thread(archive.known, list(page)))
    return result


async def unarchived_closed_before(client: Client, archive: Archive | None, moment: datetime) -> int:
    """How many orders closed before `moment` the archive lacks (all of them without one)."""
    missing = 0
    async for page in _pages(client, closed_before(moment)):
        known = await asyncio.to_thread(archive.known, list(page)) if archive else set()
        missing += len(page) - len(known)
    return missing


def _inconsistency(order: ArchivedOrder, archived: WorkflowHistory) -> str | None:
    if history_digest(archived.events) != order.history_sha256:
        return f"order {order.order_id!r}: the archived history does not read back to the digest it was archived with"
    in_history = [carrier.payload for carrier in recorded_carriers(archived.events)]
    if in_history != order.payloads():
        return f"order {order.order_id!r}: the archived envelopes are not the ones in its archived history"
    return None


async def _pages(client: Client, query: str) -> AsyncIterator[dict[str, WorkflowExecution]]:
    """The orders `query` lists, a page at a time, by order id."""
    page: dict[str, WorkflowExecution] = {}
    async for execution in client.list_workflows(query, page_size=_PAGE):
        order_id = order_id_of(execution.id)
        if order_id is not None and execution.status != WorkflowExecutionStatus.RUNNING:
            page.setdefault(order_id, execution)
        if len(page) >= _PAGE:
            yield page
            page = {}
    if page:
        yield page


async def _history_of(client: Client, workflow_id: str, run_id: str) -> WorkflowHistory | None:
    """The run's whole history; None when Temporal holds it no longer."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
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
