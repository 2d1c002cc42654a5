"""Whether a worker serves a task queue now, and which builds: what the server says of
its pollers, and what workers announce of themselves (the SDK's worker heartbeats).

Beside the worker: `starter.py` runs a worker of its own when none is live, `orders
approve` says an order will wait when nobody serves it, `orders deploy` counts each
build's workers before routing to one, and `orders health` names the live ones."""

import time
from datetime import UTC, datetime

from temporalio.api.enums.v1 import TaskQueueType, WorkerStatus, WorkerVersioningMode
from temporalio.api.taskqueue.v1 import PollerInfo, TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, ListWorkersRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from connection import call_timeout

# A worker heartbeats every minute, and a poller idles on a long poll for about as long:
# one silent for longer than this belonged to a worker that has gone.
_LIVE_WINDOW_SECONDS = 90


async def has_live_worker(client: Client, task_queue: str) -> bool:
    """Whether some worker serves `task_queue` now (see live_pollers)."""
    running, stopped = await _announced_workers(client, task_queue)
    return running or bool(await _recent_pollers(client, task_queue, stopped))


async def live_pollers(client: Client, task_queue: str) -> dict[str, datetime]:
    """The workers that polled `task_queue`'s workflow tasks lately, by identity, with
    when each was last seen.

    The task queue's recent pollers say who polled in the last minute or so, which
    includes workers that have since stopped. Workers also announce themselves (the SDK's
    worker heartbeats, read with `ListWorkers`), and one that stops says so as it stops:
    a recent poller that has announced its own shutdown is not counted. A worker's first
    announcement can come later than its first poll, so a poller not announced at all
    counts as live. Servers without `ListWorkers` are judged by their pollers alone.
    """
    _, stopped = await _announced_workers(client, task_queue)
    return await _recent_pollers(client, task_queue, stopped)


async def live_builds(client: Client, task_queue: str, deployment: str) -> dict[str | None, int]:
    """How many workers poll `task_queue` now, by the build of `deployment` each serves
    (None: unversioned, or another deployment's), judged as live_pollers judges them."""
    _, stopped = await _announced_workers(client, task_queue)
    counts: dict[str | None, int] = {}
    for poller in await _live(client, task_queue, stopped):
        options = poller.deployment_options
        versioned = options.worker_versioning_mode == WorkerVersioningMode.WORKER_VERSIONING_MODE_VERSIONED
        build = options.build_id if versioned and options.deployment_name == deployment else None
        counts[build] = counts.get(build, 0) + 1
    return counts


async def _recent_pollers(client: Client, task_queue: str, stopped: set[str]) -> dict[str, datetime]:
    return {
        poller.identity: poller.last_access_time.ToDatetime(UTC) for poller in await _live(client, task_queue, stopped)
    }


async def _live(client: Client, task_queue: str, stopped: set[str]) -> list[PollerInfo]:
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        ),
        timeout=call_timeout(client),
    )
    now = time.time()
    return [
        poller
        for poller in response.pollers
        if now - poller.last_access_time.ToSeconds() < _LIVE_WINDOW_SECONDS and poller.identity not in stopped
    ]


async def _announced_workers(client: Client, task_queue: str) -> tuple[bool, set[str]]:
    """Whether a worker on `task_queue` announced itself running lately, and the
    identities of those that announced they stopped."""
    request = ListWorkersRequest(namespace=client.namespace, query=f"TaskQueue='{task_queue}'")
    running, stopped = False, set()
    now = time.time()
    while True:
        try:
            response = await client.workflow_service.list_workers(request, timeout=call_timeout(client))
        except RPCError as err:
            if err.status != RPCStatusCode.UNIMPLEMENTED:
                raise
            return False, set()
        for info in response.workers_info:
            heartbeat = info.worker_heartbeat
            if heartbeat.status == WorkerStatus.WORKER_STATUS_RUNNING:
                running = running or now - heartbeat.heartbeat_time.ToSeconds() < _LIVE_WINDOW_SECONDS
            else:
                stopped.add(heartbeat.worker_identity)
        if not response.next_page_token:
            return running, stopped
        request.next_page_token = response.next_page_token
