"""Running the real entry points and the real `temporal` CLI as subprocesses."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable
from pathlib import Path

from temporalio.client import Client

from connection.embedded_server import temporal_cli_path
from tests.commands import Ran, orders_in_process, starter_in_process
from tests.integration.refusing_proxy import RefusingProxy
from tests.orders import one_line_order
from tests.waiting import wait_until

PROJECT = Path(__file__).resolve().parents[2]
ORDERS_COMMAND = str(Path(sysconfig.get_path("scripts")) / "orders")


def address_of(env) -> str:
    return env.client.service_client.config.target_host


async def temporal_cli(
    address: str, *args: str, check: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess:
    """Run the real CLI off the event loop, so a worker in this process can answer it."""
    return await asyncio.to_thread(
        subprocess.run,
        [temporal_cli_path(), *args, "--address", address],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


async def cli_start(address: str, task_queue: str, workflow_id: str, plain_json: str, *options: str) -> None:
    """`temporal workflow start` of an OrderWorkflow with `plain_json` as its input, as any client could."""
    await temporal_cli(
        address, "workflow", "start", "--type", "OrderWorkflow", "--task-queue", task_queue,
        "--workflow-id", workflow_id, "--input", plain_json, *options,
    )  # fmt: skip


async def temporal_cli_json(address: str, *args: str):
    return json.loads((await temporal_cli(address, *args, "--output", "json")).stdout)


def run_script(script: str, *args: str, env: dict[str, str], timeout: float = 120, cwd: Path = PROJECT):
    return subprocess.run(
        [sys.executable, str(PROJECT / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def spawn_script(script: str, *args: str, env: dict[str, str], checkout: Path = PROJECT) -> subprocess.Popen:
    """One of this project's scripts (of `checkout`) as a process of its own, `env` over
    ours, its output and errors merged into one text stream to read as it comes."""
    return subprocess.Popen(
        [sys.executable, str(checkout / script), *args],
        env={**os.environ, **env},
        cwd=checkout,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def read_until(process: subprocess.Popen, marker: str) -> str:
    """What the process printed up to and including the line with `marker`."""
    seen = ""
    while marker not in seen:
        line = await asyncio.to_thread(process.stdout.readline)
        assert line, f"the process exited before printing {marker!r}:\n{seen}"
        seen += line
    return seen


def processes_mentioning(*texts: str) -> dict[int, str]:
    """Pid and command line of every running process whose command line holds all `texts`."""
    found = {}
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            line = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if all(text in line for text in texts):
            found[int(cmdline.parent.name)] = line
    return found


async def listed(client: Client, query: str, expected: int) -> list:
    """Visibility is eventually consistent: wait until `expected` workflows match."""

    async def enough() -> list | None:
        found = [execution async for execution in client.list_workflows(query)]
        return found if len(found) >= expected else None

    return await wait_until(enough, seconds=10, what=f"{expected} workflow(s) to match {query!r}")


def run_orders_command(*args: str, address: str = "127.0.0.1:1", timeout: float = 120) -> subprocess.CompletedProcess:
    """The installed `orders` console script, as a user runs it (by default pointing nowhere)."""
    return subprocess.run(
        [ORDERS_COMMAND, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        # Its data directory a temporary one: never the checkout's `.temporal/`.
        env={"PATH": "/usr/bin:/bin", "TEMPORAL_ADDRESS": address, "ORDERS_DATA_DIR": _NOTHING_KEPT},
    )


# A data directory nothing is kept in, for commands run against the dev server: never the
# checkout's own `.temporal/`, whose archive or read models would be read.
_NOTHING_KEPT = tempfile.mkdtemp(prefix="orders-tests-data-")


async def orders_cli(env, *args: str) -> Ran:
    """`orders` against the dev server, in-process and off the event loop so a worker here
    can answer it (tests.commands); `run_orders_command` runs the console script itself."""
    return await orders_in_process({"TEMPORAL_ADDRESS": address_of(env), "ORDERS_DATA_DIR": _NOTHING_KEPT}, *args)


def spawn_worker(env: dict[str, str], log: Path | None = None) -> subprocess.Popen:
    """worker.py as a process of its own, `env` over ours; its output to `log`, or nowhere
    (a pipe that nobody reads would fill up and stop it)."""
    output = log.open("a") if log else subprocess.DEVNULL
    try:
        return subprocess.Popen(
            [sys.executable, str(PROJECT / "worker.py")],
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=PROJECT,
        )
    finally:
        if log:
            output.close()  # type: ignore[union-attr]


async def spawn_codec_server(address: str, env: dict[str, str]) -> subprocess.Popen:
    """`orders codec-server` at `address`, once it says it listens."""
    codec_server = subprocess.Popen(
        [ORDERS_COMMAND, "codec-server", "--address", address],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    await read_until(codec_server, "Codec server at")
    return codec_server


async def stop_processes(*processes: subprocess.Popen) -> None:
    """SIGTERM each, and wait for it to exit."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        await asyncio.to_thread(process.wait, 30)


def in_namespace(env: dict[str, str]) -> tuple[str, ...]:
    return ("--namespace", env.get("TEMPORAL_NAMESPACE", "default"))


async def delete_as_retention_does(env: dict[str, str], order_ids: list[str], *, from_visibility: bool = True) -> None:
    """`temporal workflow delete` each order's workflow (its current run), then wait until
    the server holds none of them, and (`from_visibility`) nor does visibility list any order."""
    address = env["TEMPORAL_ADDRESS"]
    for order_id in order_ids:
        await temporal_cli(
            address, "workflow", "delete", "--workflow-id", f"order-{order_id}", "--yes", *in_namespace(env)
        )

    async def all_gone() -> bool:
        if from_visibility and await temporal_cli_json(address, "workflow", "list", *in_namespace(env)):
            return False
        for order_id in order_ids:
            described = await temporal_cli(
                address, "workflow", "describe", "--workflow-id", f"order-{order_id}", *in_namespace(env), check=False
            )
            if described.returncode == 0:
                return False
        return True

    await wait_until(all_gone, seconds=120, what="the deleted workflows to be gone from the server and visibility")


async def delete_every_order_as_retention_does(env: dict[str, str]) -> None:
    """Every order's workflow in the namespace deleted by one batch job (as retention would
    delete them); returns once visibility lists none."""
    address = env["TEMPORAL_ADDRESS"]
    await temporal_cli(
        address, "workflow", "delete", "--query", "WorkflowType='OrderWorkflow'", "--yes", *in_namespace(env)
    )

    async def none_listed() -> bool:
        return not await temporal_cli_json(address, "workflow", "list", *in_namespace(env))

    await wait_until(none_listed, seconds=120, what="every order to be deleted")


async def orders_killed_midway(
    env: dict[str, str], args: list[str], *, slowed: dict[str, float], done: Callable[[], int], at_least: int
) -> int:
    """`orders ARGS` as a real process, its calls to Temporal slowed by `slowed` (so it is
    surely midway), SIGKILLed once `done()` counts `at_least`: what `done()` counts then."""
    proxy = await RefusingProxy(env["TEMPORAL_ADDRESS"], refused=(), delays=slowed).start()
    try:
        slow = {**os.environ, **env, "TEMPORAL_ADDRESS": proxy.address}
        running = subprocess.Popen([ORDERS_COMMAND, *args], env=slow, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        await wait_until(lambda: asyncio.sleep(0, done() >= at_least), seconds=60, what=f"orders {args[0]} midway")
        os.kill(running.pid, signal.SIGKILL)
        await asyncio.to_thread(running.wait)
    finally:
        await proxy.stop()
    return done()


async def start_small_orders(env: dict[str, str], folder: Path, prefix: str, count: int) -> None:
    """`count` one-line orders PREFIX-000… started by the starter (not waited for)."""
    order_file = folder / f"{prefix}-orders.jsonl"
    order_file.write_text(
        "\n".join(one_line_order(f"{prefix}-{n:03}", "PROD-001", 1, "1.00").model_dump_json() for n in range(count))
    )
    started = await starter_in_process(env, "--no-wait", "--file", str(order_file))
    assert started.returncode == 0, started.stdout + started.stderr
