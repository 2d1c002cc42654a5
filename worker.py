"""Serve the `orders` task queue until SIGINT or SIGTERM.

Connects through the SDK's env config (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS and
API key variables; `localhost:7233` by default). If nothing answers at a local address,
starts the embedded dev server there first.

The composition root of a worker process: settings are read here, once, and the
activities, client and worker are built from them.
"""

import asyncio
import logging

from activities.order_activities import OrderActivities
from connection import SettingsError, TemporalUnavailable, load_settings, open_connection
from connection.core_logs import forward_core_logs
from connection.process import EXIT_UNAVAILABLE, exit_now, wait_for_interrupt
from contract import SEARCH_ATTRIBUTES, TASK_QUEUE
from hosting import build_worker

log = logging.getLogger("worker")

EXIT_BAD_SETTINGS = 2


async def serve() -> None:
    settings = load_settings()
    activities = OrderActivities.over_ledger(settings.ledger_path)
    connection = await open_connection(settings, SEARCH_ATTRIBUTES)
    try:
        async with build_worker(connection.client, activities=activities):
            log.info("Serving task queue %r in namespace %r; Ctrl-C to stop", TASK_QUEUE, connection.client.namespace)
            await wait_for_interrupt()
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
