"""Reading order streams from a Temporal server's histories."""

import asyncio
import itertools
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode

from contract import WORKFLOW_TYPE, order_id_of, workflow_id_for
from domain import OrderState, OrderStream
from domain.summary import OrderSummary, SummaryFold, SummarySource, validation_problems
from eventstore.archive import Archive
from eventstore.history import EnvelopeReader
from storage import SeenIds


class StreamNotFound(LookupError):
    """No order with this id has ever been started."""


@dataclass(frozen=True)
class StoredStream:
    """An order's stream, and whether its workflow still runs (so more may be recorded)."""

    stream: OrderStream
    running: bool


@dataclass(frozen=True)
class Located:
    """An order's history, and where it was read: Temporal, or the archive when Temporal
    holds it no longer (`archived_in` names the archive)."""

    history: WorkflowHistory
    archived_in: str | None = None


class EventStore:
    def __init__(
        self,
        client: Client,
        page_size: int | None = None,
        summaries: SummarySource | None = None,
        archive: Archive | None = None,
    ) -> None:
        """`page_size`: history events per page fetched; None lets the server choose.
        `summaries`: a read model `summarize` asks first, when it is current.
        `archive`: where an order is read from once Temporal's retention deleted its history."""
        self._client = client
        # Encrypted envelopes open with the client's own keys (connection.encryption).
        self.reader = EnvelopeReader.of(client)
        self._page_size = page_size
        self._summaries = summaries
        self.archive = archive
        # How many orders were read from the archive, for a reader to say so.
        self.archived_reads = 0

    async def state_at(self, order_id: str, version: int | None = None) -> OrderState:
        """The order's state after `version` (the latest if None), folded from its first
        event: an order's stream is a handful of events, read whole from its history."""
        return (await self.read_stream(order_id)).state_at(version)

    async def read_stream(self, order_id: str) -> OrderStream:
        """The order's stream, read from its history: `.read(from_version, limit)`, `.state_at(…)`."""
        return self.reader.stream((await self.locate(order_id)).history)

    async def read_all(self, query: str | None = None) -> AsyncIterator[OrderStream]:
        """The stream of every order the visibility `query` selects, newest first."""
        async for order_id in self.order_ids(query):
            yield await self.read_stream(order_id)

    def executions(self, query: str | None = None) -> AsyncIterator[WorkflowExecution]:
        """What visibility says of each order the `query` selects: status, times, search attributes."""
        return self._client.list_workflows(_selection(query))

    async def order_ids(self, query: str | None = None) -> AsyncIterator[str]:
        """Ids of the orders the visibility `query` selects (e.g. "OrderStatus='Fulfilled'")."""
        async for execution in self._client.list_workflows(_selection(query)):
            order_id = order_id_of(execution.id)
            if order_id is not None:
                yield order_id

    async def existing(self, workflow_ids: Sequence[str], concurrency: int = 8) -> set[str]:
        """Those of `workflow_ids` that are orders: the server has a workflow for them,
        running or closed, or the archive holds them."""
        archived: set[str] = set()
        if self.archive is not None:
            by_order = {order_id_of(workflow_id): workflow_id for workflow_id in workflow_ids}
            known = await asyncio.to_thread(self.archive.known, [o for o in by_order if o is not None])
            archived = {by_order[order_id] for order_id in known}
        workflow_ids = [workflow_id for workflow_id in workflow_ids if workflow_id not in archived]
        limit = asyncio.Semaphore(concurrency)

        async def exists(workflow_id: str) -> bool:
            async with limit:
                try:
                    await self._client.get_workflow_handle(workflow_id).describe()
                    return True
                except RPCError as err:
                    if err.status == RPCStatusCode.NOT_FOUND:
                        return False
                    raise

        found = await asyncio.gather(*(exists(workflow_id) for workflow_id in workflow_ids))
        return archived | {workflow_id for workflow_id, yes in zip(workflow_ids, found, strict=True) if yes}

    async def count(self, query: str | None = None) -> int:
        """How many orders the visibility `query` selects."""
        return (await self._client.count_workflows(_selection(query))).count

    def histories(self, query: str | None = None) -> AsyncIterator[WorkflowHistory]:
        """The whole history of every order the visibility `query` selects, fetched as consumed."""
        return self._client.list_workflows(_selection(query)).map_histories()

    async def history(self, order_id: str) -> WorkflowHistory:
        """The order's whole Temporal history, page by page (from the archive once
        Temporal holds it no longer)."""
        return (await self.locate(order_id)).history

    async def locate(self, order_id: str) -> Located:
        """The order's whole history, and where it was read."""
        handle = self._client.get_workflow_handle(workflow_id_for(order_id))
        try:
            events = [event async for event in handle.fetch_history_events(page_size=self._page_size)]
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            archive = self.archive
            archived = await asyncio.to_thread(archive.get, order_id) if archive else None
            if archive is None or archived is None:
                raise StreamNotFound(
                    f"no order {order_id!r}: no workflow {handle.id!r} in namespace {self._client.namespace!r}"
                    + (f" nor in the archive at {archive.where}" if archive else "")
                ) from None
            self.archived_reads += 1
            return Located(archived.history(), archived_in=archive.where)
        return Located(WorkflowHistory(handle.id, events))

    async def summarize(
        self,
        query: str | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        concurrency: int = 8,
    ) -> OrderSummary:
        """The order-summary projection over the orders `query` selects: visibility picks
        them, each one's stream is read from its own history and folded in as it comes.
        Over every order, from the read model instead when there is one and it is current."""
        if query is None and self._summaries is not None:
            current = await self._summaries.current_summary()
            if current is not None:
                return current
        folding = SummaryFold()
        async for order in self.read_each(query, on_progress, concurrency):
            folding.add(order.stream.state_at(), validation_problems(order.stream))
        return folding.summary()

    async def read_many(
        self,
        query: str | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        concurrency: int = 8,
    ) -> list[StoredStream]:
        """Every stream `read_each` gives, in a list: for a few orders."""
        return [order async for order in self.read_each(query, on_progress, concurrency)]

    async def read_each(
        self,
        query: str | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        concurrency: int = 8,
    ) -> AsyncIterator[StoredStream]:
        """The stream of every order `query` selects, each with whether its workflow still
        runs, in the listing's order, `concurrency` histories read ahead: memory holds the
        streams in flight, never those already given. Without a query, every order: those
        only the archive holds as well (a query goes to visibility, which has forgotten them)."""
        total = await self.count(query)
        given = 0
        ahead: deque[asyncio.Task[StoredStream]] = deque()

        async def read(order_id: str, running: bool) -> StoredStream:
            return StoredStream(await self.read_stream(order_id), running)

        async def give() -> StoredStream:
            nonlocal given, total
            stored = await ahead.popleft()
            given += 1
            total = max(total, given + len(ahead))
            if on_progress:
                on_progress(given, total)
            return stored

        try:
            async for order_id, running in self._selected(query):
                ahead.append(asyncio.create_task(read(order_id, running)))
                if len(ahead) >= concurrency:
                    yield await give()
            while ahead:
                yield await give()
        finally:
            for task in ahead:
                task.cancel()
            if ahead:
                await asyncio.gather(*ahead, return_exceptions=True)
        if on_progress and given != total:
            on_progress(given, given)  # visibility counted orders it no longer lists

    async def _selected(self, query: str | None) -> AsyncIterator[tuple[str, bool]]:
        """Each order `query` selects and whether it runs: visibility's listing, then
        (without a query) the orders only the archive holds, a page of ids at a time."""
        archive = self.archive if query is None else None
        with SeenIds() as listed:
            async for execution in self._client.list_workflows(_selection(query)):
                if (order_id := order_id_of(execution.id)) is not None:
                    if archive is not None:
                        listed.add((order_id,))
                    yield order_id, execution.status == WorkflowExecutionStatus.RUNNING
            if archive is None:
                return
            archived = archive.order_ids()
            while page := await asyncio.to_thread(lambda: list(itertools.islice(archived, _ARCHIVE_PAGE))):
                for order_id in listed.unseen(page):
                    yield order_id, False


_ARCHIVE_PAGE = 1000


def _selection(query: str | None) -> str:
    selection = f"WorkflowType='{WORKFLOW_TYPE}'"
    return f"{selection} AND ({query})" if query else selection
