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
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.order_activities import OrderActivities
from connection import load_settings, open_connection
from connection.process_exit import exit_now
from workflows.contract import TASK_QUEUE
from workflows.order_workflow import OrderWorkflow
from workflows.start_guard import SingleInputGuard

log = logging.getLogger("worker")

# The sandbox stays on. These modules are deterministic and side-effect free at import,
# so the sandbox shares them instead of re-importing them for every workflow run.
PASSTHROUGH_MODULES = ("pydantic", "pydantic_core", "annotated_types", "domain", "activities", "workflows.contract")


def _workflow_options() -> dict:
    """What a worker and a replayer must share for a replay to prove anything."""
    return {
        "workflows": [OrderWorkflow],
        "workflow_runner": SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
        ),
        "interceptors": [SingleInputGuard()],
    }


def build_worker(client: Client, task_queue: str = TASK_QUEUE, activities: OrderActivities | None = None) -> Worker:
    """A worker for `task_queue`; its activities use the ledger under ORDERS_DATA_DIR unless given."""
    activities = activities or OrderActivities.over_ledger(load_settings().ledger_path)
    return Worker(
        client,
        task_queue=task_queue,
        activities=activities.all(),
        graceful_shutdown_timeout=timedelta(seconds=10),
        **_workflow_options(),
    )


def build_replayer() -> Replayer:
    """Replays recorded histories with today's workflow code, sandbox on."""
    return Replayer(data_converter=pydantic_data_converter, **_workflow_options())


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
    asyncio.run(serve())
    exit_now(0)


if __name__ == "__main__":
    main()
