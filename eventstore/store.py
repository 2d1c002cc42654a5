"""Reading order streams from a Temporal server's histories."""

import asyncio
from collections.abc import AsyncIterator, Callable

from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode

from contract import WORKFLOW_TYPE, order_id_of, workflow_id_for
from domain import OrderStream
from domain.summary import OrderSummary, summarize
from eventstore.history import stream_in


class StreamNotFound(LookupError):
    """No order with this id has ever been started."""


class EventStore:
    def __init__(self, client: Client, page_size: int | None = None) -> None:
        """`page_size`: history events per page fetched; None lets the server choose."""
        self._client = client
        self._page_size = page_size

    async def read_stream(self, order_id: str) -> OrderStream:
        """The order's stream, read from its history: `.read(from_version, limit)`, `.state_at(…)`."""
        return stream_in(await self.history(order_id))

    async def read_all(self, query: str | None = None) -> AsyncIterator[OrderStream]:
        """The stream of every order the visibility `query` selects, newest first."""
        async for order_id in self.order_ids(query):
            yield await self.read_stream(order_id)

    async def order_ids(self, query: str | None = None) -> AsyncIterator[str]:
        """Ids of the orders the visibility `query` selects (e.g. "OrderStatus='Fulfilled'")."""
        async for execution in self._client.list_workflows(_selection(query)):
            order_id = order_id_of(execution.id)
            if order_id is not None:
                yield order_id

    async def count(self, query: str | None = None) -> int:
        """How many orders the visibility `query` selects."""
        return (await self._client.count_workflows(_selection(query))).count

    def histories(self, query: str | None = None) -> AsyncIterator[WorkflowHistory]:
        """The whole history of every order the visibility `query` selects, fetched as consumed."""
        return self._client.list_workflows(_selection(query)).map_histories()

    async def history(self, order_id: str) -> WorkflowHistory:
        """The order's whole Temporal history, page by page."""
        handle = self._client.get_workflow_handle(workflow_id_for(order_id))
        try:
            events = [event async for event in handle.fetch_history_events(page_size=self._page_size)]
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise StreamNotFound(
                    f"no order {order_id!r}: no workflow {handle.id!r} in namespace {self._client.namespace!r}"
                ) from None
            raise
        return WorkflowHistory(handle.id, events)

    async def summarize(
        self,
        query: str | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        concurrency: int = 8,
    ) -> OrderSummary:
        """The order-summary projection over the orders `query` selects: visibility picks
        them, each one's stream is read from its own history."""
        order_ids = [order_id async for order_id in self.order_ids(query)]
        limit = asyncio.Semaphore(concurrency)
        done = 0

        async def stream_of(order_id: str) -> OrderStream:
            nonlocal done
            async with limit:
                stream = await self.read_stream(order_id)
            done += 1
            if on_progress:
                on_progress(done, len(order_ids))
            return stream

        return summarize(await asyncio.gather(*(stream_of(order_id) for order_id in order_ids)))


def _selection(query: str | None) -> str:
    selection = f"WorkflowType='{WORKFLOW_TYPE}'"
    return f"{selection} AND ({query})" if query else selection
