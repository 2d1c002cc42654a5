"""One connection for an entry point: to the configured Temporal, or to an embedded
dev server started because nothing answered at a local address."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from temporalio.client import Client
from temporalio.common import SearchAttributeKey

from connection.embedded_server import DEFAULT_UI_PORT_OFFSET, EmbeddedServer, start_embedded_server
from connection.settings import Settings
from connection.temporal import connect, ensure_search_attributes, is_local_address, something_answers, split_address

log = logging.getLogger(__name__)


@dataclass
class Connection:
    client: Client
    embedded: EmbeddedServer | None
    ui_url: str | None

    def workflow_link(self, workflow_id: str, run_id: str | None) -> str | None:
        if not self.ui_url:
            return None
        link = f"{self.ui_url}/namespaces/{self.client.namespace}/workflows/{workflow_id}"
        return f"{link}/{run_id}/history" if run_id else link

    async def close(self) -> None:
        if self.embedded:
            await self.embedded.stop()


async def open_connection(settings: Settings, search_attributes: Sequence[SearchAttributeKey[Any]]) -> Connection:
    """Connect as `settings` say, with `search_attributes` registered where they are missing."""
    address = settings.address
    if is_local_address(address) and not something_answers(address):
        server = await start_embedded_server(address, settings.namespace, settings.data_dir, search_attributes)
        log.info(
            "Nothing answered at %s, so started the embedded Temporal dev server there "
            "(Web UI %s, SQLite at %s, log at %s)",
            address,
            server.ui_url,
            server.database,
            server.log,
        )
        return Connection(server.client, server, settings.ui_url_override or server.ui_url)
    client = await connect(settings)
    await ensure_search_attributes(client, search_attributes)
    return Connection(client, None, settings.ui_url_override or _guess_ui_url(address))


def _guess_ui_url(address: str) -> str | None:
    host, port = split_address(address)
    if host.endswith(".tmprl.cloud"):
        return "https://cloud.temporal.io"
    if is_local_address(address):
        return f"http://{host}:{port + DEFAULT_UI_PORT_OFFSET}"
    return None
