"""Reading order streams from a Temporal server's histories (and the archive's, once
retention deleted them); which orders there are comes from visibility (eventstore.listing)."""

import asyncio
import itertools
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode

from contract import order_id_of, workflow_id_for
from domain import OrderState, OrderStream, OrderSummary, SummaryFold, SummarySource, validation_problems
from eventstore.archive import Archive, ArchiveError
from eventstore.history import EnvelopeReader, HistoryReadError, RunOf, run_of
from eventstore.listing import Listing
from storage import SeenIds

_Read = TypeVar("_Read")


class StreamNotFound(LookupError):
    """No order with this id has ever been started."""


@dataclass(frozen=True)
class FoundStream:
    """An order's stream, whether its current run is open (so more may be recorded), and
    which run it was read from."""

    stream: OrderStream
    running: bool
    run_id: str | None = None
    began_at: datetime | None = None  # when that run was made (started, or reset into)


@dataclass(frozen=True)
class FoundHistory:
    """An order's history (its current run's), and where it was read: Temporal, or the
    archive when Temporal holds it no longer (`archived_in` names the archive)."""

    history: WorkflowHistory
    archived_in: str | None = None

    @property
    def run(self) -> RunOf:
        try:
            return run_of(self.history.events)
        except HistoryReadError as err:
            raise HistoryReadError(f"workflow {self.history.workflow_id!r}: {err}") from None


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
        # Which orders there are: visibility, read through a listing of its own.
        self.listing = Listing(client)
        # Encrypted envelopes open with the client's own keys (encryption).
        self.reader = EnvelopeReader.of(client)
        self._page_size = page_size
        self._summaries = summaries
        self.archive = archive
        # How many orders were read from the archive, for a reader to say so; and why the
        # archive could not be read, when a walk went on without it.
        self.archived_reads = 0
        self.archive_trouble: str | None = None

    async def state_at(self, order_id: str, version: int | None = None) -> OrderState:
        """The order's state after `version` (the latest if None), folded from its first
        event: an order's stream is a handful of events, read whole from its history."""
        return (await self.read_stream(order_id)).state_at(version)

    async def read_stream(self, order_id: str) -> OrderStream:
        """The order's stream, read from its current run's history: `.read(from_version,
        limit)`, `.state_at(…)`."""
        return self.reader.stream((await self.locate(order_id)).history)

    async def read_stored(self, order_id: str) -> FoundStream:
        """The order's stream, with whether its current run is open and which run it is."""
        located = await self.locate(order_id)
        run = located.run
        stream = self.reader.stream(located.history)
        return FoundStream(stream, run.running and not located.archived_in, run.run_id, run.began_at)

    async def read_all(self, query: str | None = None) -> AsyncIterator[OrderStream]:
        """The stream of every order the visibility `query` selects, each once, from its current run."""
        async for stored in self.read_each(query):
            yield stored.stream

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

    async def histories(self, query: str | None = None, concurrency: int = 8) -> AsyncIterator[WorkflowHistory]:
        """The whole history of every order the visibility `query` selects, its current run's
        (each order once), read `concurrency` ahead as consumed."""
        async for located in self._each(query, self.locate, concurrency):
            yield located.history

    async def history(self, order_id: str) -> WorkflowHistory:
        """The order's whole Temporal history, page by page (from the archive once
        Temporal holds it no longer)."""
        return (await self.locate(order_id)).history

    async def locate(self, order_id: str) -> FoundHistory:
        """The order's whole history, its current run's (the one a reset chain ends in, as
        Temporal names it by workflow id alone), and where it was read: Temporal, else the
        archive, which holds the current run of each order it holds."""
        handle = self._client.get_workflow_handle(workflow_id_for(order_id))
        try:
            events = [event async for event in handle.fetch_history_events(page_size=self._page_size)]
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            archive = self.archive
            missing = f"no order {order_id!r}: no workflow {handle.id!r} in namespace {self._client.namespace!r}"
            try:
                archived = await asyncio.to_thread(archive.get, order_id) if archive else None
            except ArchiveError as trouble:
                raise StreamNotFound(f"{missing}, and {trouble}") from None
            if archive is None or archived is None:
                raise StreamNotFound(missing + (f" nor in the archive at {archive.where}" if archive else "")) from None
            self.archived_reads += 1
            return FoundHistory(archived.history(), archived_in=archive.where)
        return FoundHistory(WorkflowHistory(handle.id, events))

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
            folding.add(order.stream.state_at(), validation_problems(order.stream), running=order.running)
        return folding.summary()

    async def read_many(
        self,
        query: str | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        concurrency: int = 8,
    ) -> list[FoundStream]:
        """Every stream `read_each` gives, in a list: for a few orders."""
        return [order async for order in self.read_each(query, on_progress, concurrency)]

    async def read_each(
        self,
        query: str | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        concurrency: int = 8,
    ) -> AsyncIterator[FoundStream]:
        """The stream of every order `query` selects, each once, from its current run, with
        whether that run is open, in the listing's order, `concurrency` histories read
        ahead: memory holds the streams in flight, never those already given. Without a
        query, every order: those only the archive holds as well (a query goes to
        visibility, which has forgotten them). An order deleted since it was listed is left out."""
        async for stored in self._each(query, self.read_stored, concurrency, on_progress):
            yield stored

    async def _each(
        self,
        query: str | None,
        read: Callable[[str], Awaitable[_Read]],
        concurrency: int,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> AsyncIterator[_Read]:
        """`read(order_id)` of each order `query` selects, `concurrency` ahead, in order."""
        total = await self.listing.count(query)
        given = 0
        ahead: deque[asyncio.Task[_Read | None]] = deque()

        async def read_unless_gone(order_id: str) -> _Read | None:
            try:
                return await read(order_id)
            except StreamNotFound:
                return None

        async def give() -> _Read | None:
            nonlocal given, total
            read = await ahead.popleft()
            given += 1
            total = max(total, given + len(ahead))
            if on_progress:
                on_progress(given, total)
            return read

        try:
            async for order_id in self._selected(query):
                ahead.append(asyncio.create_task(read_unless_gone(order_id)))
                if len(ahead) >= concurrency and (done := await give()) is not None:
                    yield done
            while ahead:
                if (done := await give()) is not None:
                    yield done
        finally:
            for task in ahead:
                task.cancel()
            if ahead:
                await asyncio.gather(*ahead, return_exceptions=True)
        if on_progress and given != total:
            on_progress(given, given)  # visibility counted runs it lists as one order, or no longer lists

    async def _selected(self, query: str | None) -> AsyncIterator[str]:
        """Each order `query` selects, once: visibility's listing (which lists every run of
        an order, those a reset abandoned too), then (without a query) the orders only the
        archive holds, a page of ids at a time. An archive that cannot be read is named in
        `archive_trouble`, and the walk goes on without it."""
        archive = self.archive if query is None else None
        with SeenIds() as listed:
            async for order_id in self.listing.order_ids(query, seen=listed):
                yield order_id
            if archive is None:
                return
            archived = archive.order_ids()
            try:
                while page := await asyncio.to_thread(lambda: list(itertools.islice(archived, _ARCHIVE_PAGE))):
                    for order_id in listed.unseen(page):
                        yield order_id
            except ArchiveError as trouble:
                self.archive_trouble = str(trouble)


_ARCHIVE_PAGE = 1000
