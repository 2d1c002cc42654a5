"""Serve the `orders` task queue until SIGINT or SIGTERM.

Connects through the SDK's env config (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS and
API key variables; `localhost:7233` by default). If nothing answers at a local address,
starts the embedded dev server there first.
"""

import asyncio
import logging
import signal
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from activities.order_activities import OrderActivities
from connection import SettingsError, TemporalUnavailable, load_settings, open_connection
from connection.core_logs import forward_core_logs
from connection.process_exit import EXIT_UNAVAILABLE, exit_now
from workflows.contract import TASK_QUEUE
from workflows.hosting import workflow_options

log = logging.getLogger("worker")

EXIT_BAD_SETTINGS = 2


def build_worker(client: Client, task_queue: str = TASK_QUEUE, activities: OrderActivities | None = None) -> Worker:
    """A worker for `task_queue`; its activities use the ledger under ORDERS_DATA_DIR unless given."""
    activities = activities or OrderActivities.over_ledger(load_settings().ledger_path)
    return Worker(
        client,
        task_queue=task_queue,
        activities=activities.all(),
        graceful_shutdown_timeout=timedelta(seconds=10),
        **workflow_options(),
    )


async def serve() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    connection = await open_connection(load_settings())
    try:
        async with build_worker(connection.client):
            log.info("Serving task queue %r in namespace %r; Ctrl-C to stop", TASK_QUEUE, connection.client.namespace)
            await stop.wait()
            log.info("Stopping: finishing running activities first")
    finally:
        await connection.close()
    log.info("Stopped")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    forward_core_logs()
    try:
        asyncio.run(serve())
    except TemporalUnavailable as err:
        log.error("%s", err)
        exit_now(EXIT_UNAVAILABLE)
    except SettingsError as err:
        log.error("%s", err)
        exit_now(EXIT_BAD_SETTINGS)
    exit_now(0)


if __name__ == "__main__":
    main()
