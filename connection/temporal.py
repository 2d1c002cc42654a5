"""Connecting to Temporal and checking what is there."""

import asyncio
import logging
import socket
import time

from temporalio.api.enums.v1 import IndexedValueType, TaskQueueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from connection.settings import Settings
from workflows.contract import SEARCH_ATTRIBUTES

log = logging.getLogger(__name__)

# A poller idle on a long poll (about a minute) still counts as live; one silent for
# longer than this belonged to a worker that has gone.
_LIVE_POLLER_WINDOW_SECONDS = 90

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"Temporal address {address!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def is_local_address(address: str) -> bool:
    host, _ = split_address(address)
    return host in _LOCAL_HOSTS or host.startswith("127.")


def something_answers(address: str, timeout_seconds: float = 1.0) -> bool:
    host, port = split_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_seconds):
            return True
    except OSError:
        return False


class TemporalUnavailable(ConnectionError):
    """Temporal could not be reached; the message names the address and what happened."""


async def connect(settings: Settings) -> Client:
    """A client with the pydantic converter, so payloads are plain, readable JSON."""
    where = f"Temporal at {settings.address} (namespace {settings.namespace})"
    started = time.monotonic()
    try:
        return await asyncio.wait_for(
            Client.connect(**settings.connect_config, data_converter=pydantic_data_converter),
            timeout=settings.connect_timeout.total_seconds(),
        )
    except TimeoutError:
        raise TemporalUnavailable(
            f"{where} did not answer within {settings.connect_timeout.total_seconds():g} s "
            "(ORDERS_CONNECT_TIMEOUT); is a Temporal frontend listening there?"
        ) from None
    except RuntimeError as err:
        # The SDK says why in one RuntimeError (refused, TLS, credentials); its text is
        # shown as it is, shortened, never parsed.
        raise TemporalUnavailable(
            f"cannot connect to {where} after {time.monotonic() - started:.0f} s: {_first_line(str(err))}"
        ) from None


def _first_line(message: str, limit: int = 300) -> str:
    line = message.strip().splitlines()[0] if message.strip() else "no reason given"
    return line if len(line) <= limit else line[:limit] + "…"


async def ensure_search_attributes(client: Client) -> None:
    """Register OrderStatus, CustomerId and OrderTotal where they are missing.

    Works on a dev server and a self-hosted cluster; Temporal Cloud refuses it, and
    there they are created once with `tcld` (see the README).
    """
    namespace = client.namespace
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        missing = {
            # The SDK's enum and the API's share their numbers.
            key.name: IndexedValueType.ValueType(key.indexed_value_type.value)
            for key in SEARCH_ATTRIBUTES
            if key.name not in existing.custom_attributes
        }
        if missing:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
            )
            log.info("Registered search attributes %s in namespace %s", ", ".join(missing), namespace)
    except Exception as err:  # noqa: BLE001 - the worker can still run; the upsert will say what is missing
        log.warning("Could not check or register search attributes in %s: %s", namespace, err)


async def has_live_poller(client: Client, task_queue: str) -> bool:
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    now = time.time()
    return any(now - poller.last_access_time.ToSeconds() < _LIVE_POLLER_WINDOW_SECONDS for poller in response.pollers)
