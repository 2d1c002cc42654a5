"""One connection for an entry point: to the configured Temporal, or to an embedded
dev server started because nothing answered at a local address."""

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.client import Client
from temporalio.common import SearchAttributeKey

from connection.deadlines import fell_silent
from connection.embedded_server import (
    DEFAULT_UI_PORT_OFFSET,
    EmbeddedServer,
    EmbeddedServerError,
    start_embedded_server,
)
from connection.settings import Settings
from connection.temporal import (
    TemporalUnavailable,
    connect,
    ensure_search_attributes,
    is_local_address,
    is_temporal_cloud,
    not_set_up,
    something_answers,
)
from contract import host_and_port

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class Connection:
    client: Client
    embedded: EmbeddedServer | None
    ui_url: str | None
    # Watches the embedded server and starts it again when it dies; fails once it gives up.
    supervision: asyncio.Task[None] | None = None
    # Search attributes the namespace lacks and that could not be registered from here.
    unregistered: Sequence[SearchAttributeKey[Any]] = ()

    def require_search_attributes(self) -> None:
        """Raise NamespaceNotSetUp, naming what is missing and the commands that create it,
        unless every search attribute an order publishes is registered: a worker or a
        starter must not run orders whose every workflow task would fail."""
        if self.unregistered:
            config = self.client.service_client.config
            raise not_set_up(self.unregistered, self.client.namespace, config.target_host)

    async def server_given_up(self) -> None:
        """Returns never while the server is Temporal's business or is kept up; raises
        EmbeddedServerError, naming the server's log, once the embedded one is given up."""
        if self.supervision is None:
            await asyncio.Event().wait()
        else:
            await asyncio.shield(self.supervision)

    def workflow_link(self, workflow_id: str, run_id: str | None) -> str | None:
        if not self.ui_url:
            return None
        link = f"{self.ui_url}/namespaces/{self.client.namespace}/workflows/{workflow_id}"
        return f"{link}/{run_id}/history" if run_id else link

    def worker_failed(self, rpc_timeout: timedelta) -> TemporalUnavailable:
        """Why the SDK cancelled a worker's block (it does when the worker fails for good):
        the embedded server given up, else a server that stopped answering the worker."""
        config = self.client.service_client.config
        why = "the worker's calls went unanswered, and it stopped"
        return self.given_up() or TemporalUnavailable(
            fell_silent(config.target_host, self.client.namespace, rpc_timeout, why)
        )

    def given_up(self) -> EmbeddedServerError | None:
        """Why the embedded server was given up, once it has been."""
        supervision = self.supervision
        if supervision is None or not supervision.done() or supervision.cancelled():
            return None
        error = supervision.exception()
        return error if isinstance(error, EmbeddedServerError) else None

    async def unless_server_given_up(self, work: Awaitable[T]) -> T:
        """`work`'s result; or EmbeddedServerError, if the embedded server is given up first.
        A stop of the program (its task cancelled) reaches `work` itself, which may end in
        order and return: then that is this call's result."""
        working = asyncio.ensure_future(work)
        watching = asyncio.ensure_future(self.server_given_up())
        watching.add_done_callback(lambda _: working.cancel())  # given up (or done with): the work ends

        def given_up() -> BaseException | None:
            return watching.exception() if watching.done() and not watching.cancelled() else None

        try:
            result = await working  # a cancel of this task is passed on to `working` by the await
        except asyncio.CancelledError:
            if (why := given_up()) is not None:
                raise why from None
            raise
        finally:
            watching.cancel()
        if (why := given_up()) is not None:  # the work ended in order, but because the server is gone
            raise why
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            task.uncancel()  # a stop reached `work`, which ended in order
        return result

    async def close(self) -> None:
        if self.supervision:
            self.supervision.cancel()
            with contextlib.suppress(asyncio.CancelledError, EmbeddedServerError):
                await self.supervision
        if self.embedded:
            await self.embedded.stop()


async def open_connection(settings: Settings, search_attributes: Sequence[SearchAttributeKey[Any]]) -> Connection:
    """Connect as `settings` say, with `search_attributes` registered where they are missing."""
    address = settings.address
    if is_local_address(address) and not something_answers(address):
        server = await start_embedded_server(
            address,
            settings.namespace,
            settings.data_dir,
            search_attributes,
            settings.rpc_timeout,
            settings.keyring,
            # The Web UI decodes through the codec server only when there is something to decode:
            # encrypted payloads, or personal data sealed under the customers' keys.
            settings.codec_endpoint if settings.keyring or settings.has_customer_keys else None,
        )
        log.info(
            "Nothing answered at %s, so started the embedded Temporal dev server there "
            "(Web UI %s, SQLite at %s, log at %s)",
            address,
            server.ui_url,
            server.database,
            server.log,
        )
        supervision = asyncio.create_task(server.supervise(), name="embedded server supervision")
        return Connection(server.client, server, settings.ui_url_override or server.ui_url, supervision)
    client = await connect(settings)
    unregistered = await ensure_search_attributes(client, search_attributes)
    return Connection(client, None, settings.ui_url_override or _guess_ui_url(address), unregistered=unregistered)


def _guess_ui_url(address: str) -> str | None:
    host, port = host_and_port(address)
    if is_temporal_cloud(address):
        return "https://cloud.temporal.io"
    if is_local_address(address):
        return f"http://{host}:{port + DEFAULT_UI_PORT_OFFSET}"
    return None
