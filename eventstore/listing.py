"""What visibility says of orders: the workflows of the order type a query selects,
listed, counted, and their order ids, each once however many runs of it are listed
(visibility lists every run, those a reset abandoned too). Streams are read elsewhere
(eventstore.store); a listing says which orders there are and where they rest."""

from collections.abc import AsyncIterator
from contextlib import nullcontext

from temporalio.client import Client, WorkflowExecution

from contract import WORKFLOW_TYPE, order_id_of
from storage import SeenIds


class Listing:
    def __init__(self, client: Client) -> None:
        self._client = client

    def executions(self, query: str | None = None) -> AsyncIterator[WorkflowExecution]:
        """What visibility says of each run of the orders `query` selects: status, times,
        search attributes."""
        return self._client.list_workflows(selection(query))

    async def count(self, query: str | None = None) -> int:
        """How many runs of orders the visibility `query` selects."""
        return (await self._client.count_workflows(selection(query))).count

    async def order_ids(self, query: str | None = None, seen: SeenIds | None = None) -> AsyncIterator[str]:
        """Ids of the orders the visibility `query` selects (e.g. "OrderStatus='Fulfilled'"),
        in the listing's order, each once however many runs of it are listed; the ids seen
        are kept on disk (in `seen`, for a caller that goes on past the listing), so memory
        stays flat over any number of orders."""
        with nullcontext(seen) if seen is not None else SeenIds() as listed:
            async for execution in self.executions(query):
                order_id = order_id_of(execution.id)
                if order_id is not None and listed.unseen([order_id]):
                    listed.add((order_id,))
                    yield order_id


def selection(query: str | None) -> str:
    """`query` narrowed to this project's orders."""
    order_type = f"WorkflowType='{WORKFLOW_TYPE}'"
    return f"{order_type} AND ({query})" if query else order_type
