"""What keeping the event store in Temporal's history costs, as ratios against a baseline
measured in the same process, against the same dev server, in the same run.

    python benchmarks/event_store_costs.py [--orders 30]

1. Recording: end-to-end time of an order through OrderWorkflow, which writes every
   domain event into its history (each step's result sealed in its envelope),
   against the same four activities in a workflow that records nothing.
2. Reading: an order's stream read from its history (no worker needed) against the
   same stream from the `events` query (answered by a worker), and paging one event
   at a time against the server's default page size.

Timings on a shared 2-core machine are noisy: read the ratios, not the milliseconds,
and compare runs of this script only with each other.
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Worker

from activities import FulfillOrder, OrderActivities, ProcessPayment, ReserveInventory, ValidateOrder
from client import start_order
from connection import free_local_port, start_embedded_server
from contract import SEARCH_ATTRIBUTES, EventsQuery, workflow_id_for
from domain import OrderInput, OrderItem
from eventstore import EventStore
from hosting import workflow_options
from programs import ExitCode, leave
from workflows import OrderWorkflow

_CALL = {"start_to_close_timeout": timedelta(seconds=30)}


@workflow.defn(name="OrderWithoutEvents", sandboxed=False)
class OrderWithoutEvents:
    """The baseline: OrderWorkflow's four activities, recording no domain events."""

    @workflow.run
    async def run(self, order: OrderInput) -> str:
        key = workflow.info().workflow_id
        await workflow.execute_activity_method(
            OrderActivities.validate_order,
            ValidateOrder(order_id=order.order_id, items=order.items, total_amount=order.total_amount),
            **_CALL,
        )
        await workflow.execute_activity_method(
            OrderActivities.process_payment,
            ProcessPayment(
                order_id=order.order_id,
                customer_id=order.customer_id,
                amount=order.total_amount,
                idempotency_key=f"{key}-payment",
            ),
            **_CALL,
        )
        reserved = await workflow.execute_activity_method(
            OrderActivities.reserve_inventory,
            ReserveInventory(order_id=order.order_id, items=order.items, idempotency_key=f"{key}-reservation"),
            **_CALL,
        )
        await workflow.execute_activity_method(
            OrderActivities.fulfill_order,
            FulfillOrder(
                order_id=order.order_id, reservations=reserved.reservations, idempotency_key=f"{key}-fulfillment"
            ),
            **_CALL,
        )
        return "Fulfilled"


def an_order() -> OrderInput:
    return OrderInput(
        order_id=f"BENCH-{uuid.uuid4().hex[:10]}",
        customer_id="CUSTOMER-BENCH",
        total_amount="150.50",
        items=(OrderItem(product_id="PROD-001", quantity=2, unit_price="75.25"),),
    )


async def timed(action: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await action()
    return time.perf_counter() - started


async def interleaved(count: int, baseline: Callable[[], Awaitable[object]], measured: Callable[[], Awaitable[object]]):
    """Alternate the two so drift in the machine's load hits both alike."""
    base, other = [], []
    for _ in range(count):
        base.append(await timed(baseline))
        other.append(await timed(measured))
    return statistics.median(base), statistics.median(other)


def report(name: str, baseline: str, base: float, other: float) -> None:
    print(f"{name:<58} {other / base:5.2f} x  ({other * 1000:7.1f} ms against {baseline} {base * 1000:7.1f} ms)")


async def main(orders: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        address = f"127.0.0.1:{free_local_port()}"
        server = await start_embedded_server(address, "default", Path(scratch), SEARCH_ATTRIBUTES)
        try:
            await run_benchmarks(server.client, Path(scratch), orders)
        finally:
            await server.stop()


async def run_benchmarks(client: Client, scratch: Path, orders: int) -> None:
    queue = f"bench-{uuid.uuid4().hex[:6]}"
    activities = OrderActivities.over_ledger(scratch / "ledger.sqlite")
    options = workflow_options()
    options["workflows"] = [*options["workflows"], OrderWithoutEvents]
    async with Worker(client, task_queue=queue, activities=activities.all(), **options):

        async def order_with_events():
            order = an_order()
            await client.execute_workflow(
                OrderWorkflow.run, order, id=workflow_id_for(order.order_id), task_queue=queue
            )

        async def order_without_events():
            order = an_order()
            await client.execute_workflow(
                OrderWithoutEvents.run, order, id=workflow_id_for(order.order_id), task_queue=queue
            )

        await order_with_events()  # warm up both paths
        await order_without_events()
        base, other = await interleaved(orders, order_without_events, order_with_events)
        print(f"{orders} orders each way, medians\n")
        report("an order, recording its events in the history", "no events", base, other)

        order = an_order()
        handle = await start_order(client, order, task_queue=queue)
        await handle.result()
        store, paged = EventStore(client), EventStore(client, page_size=1)
        base, other = await interleaved(
            orders, lambda: handle.query(OrderWorkflow.events, EventsQuery()), lambda: store.read_stream(order.order_id)
        )
        report("reading a 5-event stream from the history", "the events query", base, other)
        base, other = await interleaved(
            orders, lambda: store.read_stream(order.order_id), lambda: paged.read_stream(order.order_id)
        )
        report("reading it one history event per page", "default page size", base, other)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=30, help="measurements of each kind (default 30)")
    asyncio.run(main(parser.parse_args().orders))
    leave(ExitCode.OK)
