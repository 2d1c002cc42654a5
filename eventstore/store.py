"""Reading order streams from a Temporal server's histories (and the archive's, once
retention deleted them); which orders there are comes from visibility (eventstore.listing)."""

import asyncio
import itertools
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode

from contract import order_id_of, workflow_id_for
from domain import OrderSnapshot, OrderState, OrderStream, OrderSummary, SummaryFold, SummarySource
from eventstore.archive import Archive, ArchivedOrder, ArchivedSnapshot, ArchiveError
from eventstore.history import EnvelopeReader, HistoryReadError, RunOf, run_of
from eventstore.listing import Listing
from eventstore.snapshots import SnapshotSeal, snapshot_of_archived
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
    archived_in: str | None = None  # the archive it was read from, when Temporal holds it no longer


@dataclass(frozen=True)
class FoundSnapshot:
    """An order's snapshot, whether its current run is open, and where it was read: folded
    from its history where Temporal holds it, as archived where only the archive does
    (`archived_in`), folded from its archived events where the archive has no snapshot
    this code reads."""

    snapshot: OrderSnapshot
    running: bool
    archived_in: str | None = None


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
        # Encrypted envelopes and snapshots open with the client's own keys (encryption).
        self.reader = EnvelopeReader.of(client)
        self.seal = SnapshotSeal.of(client)
        self._page_size = page_size
        self._summaries = summaries
        self.archive = archive
        # How many orders were read from the archive, for a reader to say so; and why the
        # archive could not be read, when a walk went on without it.
        self.archived_reads = 0
        self.archive_trouble: str | None = None
        # Archived orders a walk over raw histories left out: their raw history was compacted away.
        self.compacted_skipped = 0

    async def state_at(self, order_id: str, version: int | None = None) -> OrderState:
        """The order's state after `version`, folded from its first event (an order's
        stream is a handful of events); the latest if None, which an archived order's
        snapshot holds."""
        if version is None:
            return (await self.snapshot_of(order_id)).snapshot.state
        return (await self.read_stream(order_id)).state_at(version)

    async def read_stream(self, order_id: str) -> OrderStream:
        """The order's stream, read from its current run's history (from its archived
        events once Temporal holds it no longer): `.read(from_version, limit)`, `.state_at(…)`."""
        return (await self.read_stored(order_id)).stream

    async def read_stored(self, order_id: str) -> FoundStream:
        """The order's stream, with whether its current run is open, which run it is, and
        the archive it was read from when Temporal holds it no longer."""
        history = await self._temporal_history(order_id)
        if history is None:
            return self._archived_stream(await self._archived(order_id))
        run = FoundHistory(history).run
        return FoundStream(self.reader.stream(history), run.running, run.run_id, run.began_at)

    async def snapshot_of(self, order_id: str) -> FoundSnapshot:
        """The order's snapshot: folded from its history now where Temporal holds it, as
        archived where only the archive does."""
        history = await self._temporal_history(order_id)
        if history is None:
            archived = await self._archived(order_id)
            return self._archived_snapshots([archived.snapshot_row()])[0]
        return FoundSnapshot(
            OrderSnapshot.of(self.reader.stream(history), datetime.now(UTC)), FoundHistory(history).run.running
        )

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
        async for located in self._each(query, self.locate, self._archived_histories, concurrency):
            yield located.history

    def _archived_histories(self, order_ids: Sequence[str]) -> list[FoundHistory]:
        """The archived raw histories of `order_ids`; those compacted away are counted in
        `compacted_skipped`, nothing being left of them to give."""
        assert self.archive is not None
        found = []
        for archived in self.archive.orders(order_ids):
            if archived.compacted_at is not None:
                self.compacted_skipped += 1
            else:
                found.append(FoundHistory(archived.history(), archived_in=self.archive.where))
        return found

    async def history(self, order_id: str) -> WorkflowHistory:
        """The order's whole Temporal history, page by page (from the archive once
        Temporal holds it no longer)."""
        return (await self.locate(order_id)).history

    async def locate(self, order_id: str) -> FoundHistory:
        """The order's whole history, its current run's (the one a reset chain ends in, as
        Temporal names it by workflow id alone), and where it was read: Temporal, else the
        archive, which holds the current run of each order it holds (an ArchiveError for
        one whose raw history was compacted away, saying when)."""
        history = await self._temporal_history(order_id)
        if history is not None:
            return FoundHistory(history)
        archived = await self._archived(order_id)
        assert self.archive is not None
        return FoundHistory(archived.history(), archived_in=self.archive.where)

    async def _temporal_history(self, order_id: str) -> WorkflowHistory | None:
        """The whole history of the order's current run, page by page; None when Temporal holds it no longer."""
        handle = self._client.get_workflow_handle(workflow_id_for(order_id))
        try:
            return WorkflowHistory(
                handle.id, [event async for event in handle.fetch_history_events(page_size=self._page_size)]
            )
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            return None

    async def _archived(self, order_id: str) -> ArchivedOrder:
        """The order as the archive holds it; StreamNotFound naming where it was looked for."""
        archive = self.archive
        missing = (
            f"no order {order_id!r}: no workflow {workflow_id_for(order_id)!r} in namespace {self._client.namespace!r}"
        )
        try:
            archived = await asyncio.to_thread(archive.get, order_id) if archive else None
        except ArchiveError as trouble:
            raise StreamNotFound(f"{missing}, and {trouble}") from None
        if archive is None or archived is None:
            raise StreamNotFound(missing + (f" nor in the archive at {archive.where}" if archive else ""))
        self.archived_reads += 1
        return archived

    def _archived_stream(self, archived: ArchivedOrder) -> FoundStream:
        assert self.archive is not None
        return FoundStream(
            archived.stream(self.reader), False, archived.run_id, archived.run_began_at, self.archive.where
        )

    def _archived_snapshots(self, rows: Sequence[ArchivedSnapshot]) -> list[FoundSnapshot]:
        """The archived orders' snapshots as stored; folded from their archived events where
        there is none yet, or one of a layout this code does not read."""
        archive = self.archive
        assert archive is not None
        # The rows to fold (no snapshot, or one of another layout) are read in one go.
        unsnapshotted = [row.order_id for row in rows if row.snapshot is None]
        rows_read = {order.order_id: order for order in archive.orders(unsnapshotted)} if unsnapshotted else {}
        snapshots = (
            snapshot_of_archived(row, archive, self.reader, self.seal, rows_read.get(row.order_id)) for row in rows
        )
        return [FoundSnapshot(snapshot, False, archive.where) for snapshot in snapshots if snapshot is not None]

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
        async for order in self.snapshots(query, on_progress, concurrency):
            folding.add(order.snapshot.state, order.snapshot.problems, running=order.running)
        return folding.summary()

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
        visibility, which has forgotten them), from their archived events, a page of the
        archive at a time. An order deleted since it was listed is left out."""
        async for found in self._each(query, self.read_stored, self._archived_streams, concurrency, on_progress):
            yield found

    async def snapshots(
        self,
        query: str | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        concurrency: int = 8,
    ) -> AsyncIterator[FoundSnapshot]:
        """The snapshot of every order `query` selects, as `read_each` gives their streams:
        folded from the history of each order Temporal holds, and without a query, for the
        orders only the archive holds, their archived snapshots (no event decoded, upcast
        or folded again), a page of the archive at a time."""
        async for found in self._each(query, self.snapshot_of, self._archived_page_snapshots, concurrency, on_progress):
            yield found

    def _archived_streams(self, order_ids: Sequence[str]) -> list[FoundStream]:
        """The archived streams of `order_ids`; those compacted to their snapshots, which
        have no events left, are counted in `compacted_skipped`."""
        assert self.archive is not None
        found = []
        for archived in self.archive.orders(order_ids):
            if archived.tombstone is not None:
                self.compacted_skipped += 1
            else:
                found.append(self._archived_stream(archived))
        return found

    def _archived_page_snapshots(self, order_ids: Sequence[str]) -> list[FoundSnapshot]:
        assert self.archive is not None
        return self._archived_snapshots(list(self.archive.snapshots(order_ids)))

    async def _each(
        self,
        query: str | None,
        read: Callable[[str], Awaitable[_Read]],
        read_archived: Callable[[Sequence[str]], list[_Read]],
        concurrency: int,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> AsyncIterator[_Read]:
        """`read(order_id)` of each order visibility lists for `query`, `concurrency` ahead,
        in order; then (without a query) `read_archived(page)` of the orders only the
        archive holds, a page of ids at a time. An archive that cannot be read is named in
        `archive_trouble`, and the walk goes on without it."""
        progress = _Progress(await self.listing.count(query), on_progress)
        ahead: deque[asyncio.Task[_Read | None]] = deque()

        async def read_unless_gone(order_id: str) -> _Read | None:
            try:
                return await read(order_id)
            except StreamNotFound:
                return None

        async def give() -> _Read | None:
            found = await ahead.popleft()
            progress.gave(1, len(ahead))
            return found

        with SeenIds() as listed:
            try:
                async for order_id in self.listing.order_ids(query, seen=listed):
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
            if self.archive is not None and query is None:
                async for page in self._only_archived(listed):
                    found = await asyncio.to_thread(read_archived, page)
                    self.archived_reads += len(found)
                    progress.gave(len(page), 0)
                    for each in found:
                        yield each
        progress.end()

    async def _only_archived(self, listed: SeenIds) -> AsyncIterator[list[str]]:
        """The ids of the orders only the archive holds (not `listed`), a page at a time."""
        assert self.archive is not None
        archived = self.archive.order_ids()
        try:
            while page := await asyncio.to_thread(lambda: list(itertools.islice(archived, _ARCHIVE_PAGE))):
                if unseen := listed.unseen(page):
                    yield unseen
        except ArchiveError as trouble:
            self.archive_trouble = str(trouble)


@dataclass
class _Progress:
    """How far a walk over many orders is: `total` grows as more are found than visibility counted."""

    total: int
    on_progress: Callable[[int, int], None] | None
    given: int = 0

    def gave(self, count: int, ahead: int) -> None:
        self.given += count
        self.total = max(self.total, self.given + ahead)
        if self.on_progress:
            self.on_progress(self.given, self.total)

    def end(self) -> None:
        if self.on_progress and self.given != self.total:
            # visibility counted runs it lists as one order, or no longer lists
            self.on_progress(self.given, self.given)


_ARCHIVE_PAGE = 1000
