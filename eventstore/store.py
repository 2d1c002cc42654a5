"""Reading order streams from a Temporal server's histories."""

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode

from domain import EventEnvelope, OrderState, read_window, state_as_of
from domain.summary import OrderSummary, summarize
from eventstore.history import HistoryReadError, envelopes_in_history
from workflows.contract import WORKFLOW_TYPE, workflow_id_for


class StreamNotFound(LookupError):
    """No order with this id has ever been started."""


class EventStore:
    def __init__(self, client: Client, page_size: int | None = None) -> None:
        """`page_size`: history events per page fetched; None lets the server choose."""
        self._client = client
        self._page_size = page_size

    async def read_stream(self, order_id: str, from_version: int = 1, limit: int | None = None) -> list[EventEnvelope]:
        """The order's envelopes from `from_version` on, at most `limit` of them."""
        return read_window(await self._read_whole_stream(order_id), from_version, limit)

    async def state_at(self, order_id: str, version: int | None = None, at: datetime | None = None) -> OrderState:
        """The order's state after `version`, or as of `at`; None for both means the latest."""
        return state_as_of(order_id, await self._read_whole_stream(order_id), version, at)

    async def read_all(self, query: str | None = None) -> AsyncIterator[tuple[str, list[EventEnvelope]]]:
        """(order id, envelopes) for every order the visibility `query` selects, newest first."""
        async for order_id in self.order_ids(query):
            yield order_id, await self._read_whole_stream(order_id)

    async def order_ids(self, query: str | None = None) -> AsyncIterator[str]:
        """Ids of the orders the visibility `query` selects (e.g. "OrderStatus='Fulfilled'")."""
        selection = f"WorkflowType='{WORKFLOW_TYPE}'"
        if query:
            selection += f" AND ({query})"
        prefix = workflow_id_for("")
        async for execution in self._client.list_workflows(selection):
            if execution.id.startswith(prefix):
                yield execution.id.removeprefix(prefix)

    async def summarize(
        self,
        query: str | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        concurrency: int = 8,
    ) -> OrderSummary:
        """The order-summary projection over the orders `query` selects: visibility picks
        them, each one's state is folded from its own history."""
        order_ids = [order_id async for order_id in self.order_ids(query)]
        limit = asyncio.Semaphore(concurrency)
        done = 0

        async def state_of(order_id: str) -> OrderState:
            nonlocal done
            async with limit:
                state = await self.state_at(order_id)
            done += 1
            if on_progress:
                on_progress(done, len(order_ids))
            return state

        return summarize(await asyncio.gather(*(state_of(order_id) for order_id in order_ids)))

    async def history(self, order_id: str) -> WorkflowHistory:
        """The order's whole Temporal history, page by page."""
        handle = self._client.get_workflow_handle(workflow_id_for(order_id))
        try:
            events = [event async for event in handle.fetch_history_events(page_size=self._page_size)]
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise StreamNotFound(f"no order {order_id!r}: no workflow {handle.id!r} in namespace {self._client.namespace!r}") from None
            raise
        return WorkflowHistory(handle.id, events)

    async def _read_whole_stream(self, order_id: str) -> list[EventEnvelope]:
        history = await self.history(order_id)
        try:
            return envelopes_in_history(history.events)
        except HistoryReadError as err:
            raise HistoryReadError(f"workflow {history.workflow_id!r}: {err}") from None
