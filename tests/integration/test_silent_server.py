"""A server that answered and then went silent, connections open (frozen, or a network
that stalls): `orders` and the starter give up within a bounded time with one line naming
the address and ORDERS_RPC_TIMEOUT, exit 3; a worker waits and carries on when the server
answers again. The server is a real dev server behind `SilentProxy`.
"""

import asyncio
import os
import signal
import subprocess
import sys

from temporalio.testing import WorkflowEnvironment

from connection.embedded_server import temporal_cli_path
from contract import SEARCH_ATTRIBUTES, TASK_QUEUE
from domain import OrderStatus
from programs.exits import ExitCode
from tests.integration.helpers import ORDERS_COMMAND, PROJECT, address_of, listed, read_until, spawn_script
from tests.integration.silent_proxy import SilentProxy
from tests.orders import one_line_order

RPC_TIMEOUT = "2"
# Connecting takes two calls (the server's info, the search attributes registered).
CONNECTING = 2


def environment(address: str, data_dir) -> dict[str, str]:
    return {"TEMPORAL_ADDRESS": address, "ORDERS_RPC_TIMEOUT": RPC_TIMEOUT, "ORDERS_DATA_DIR": str(data_dir)}


async def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    # The bound every entry point must keep, whatever the silence: never a hang.
    return await asyncio.to_thread(
        subprocess.run,
        argv,
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, **env},
        cwd=PROJECT,
        stdin=subprocess.DEVNULL,
    )


def assert_says_it_stopped_answering(result: subprocess.CompletedProcess, address: str) -> None:
    assert result.returncode == ExitCode.UNAVAILABLE, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert f"Temporal at {address} (namespace default) stopped answering" in result.stderr, result.stderr
    assert "ORDERS_RPC_TIMEOUT" in result.stderr


async def test_orders_commands_give_up_on_a_server_that_stops_answering(dev_env, tmp_path):
    for command in (["events", "ORDER-001"], ["report"], ["approve", "ORDER-001", "--approver", "finance"]):
        async with SilentProxy(address_of(dev_env), answered=CONNECTING) as proxy:
            result = await run([ORDERS_COMMAND, *command], environment(proxy.address, tmp_path))
            assert proxy.silent.is_set(), f"orders {command[0]} made no call after connecting"
        assert_says_it_stopped_answering(result, proxy.address)
        assert result.stderr.startswith(f"orders {command[0]}: "), result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def orders_file(tmp_path, unique: str, count: int = 3):
    orders = tmp_path / "orders.jsonl"
    lines = (one_line_order(f"SILENT-{unique}-{n}", "PROD-001", 1, "10.00").model_dump_json() for n in range(count))
    orders.write_text("\n".join(lines))
    return orders


async def test_the_starter_gives_up_on_a_server_that_stops_answering_its_starts(dev_env, tmp_path, unique):
    orders = orders_file(tmp_path, unique)
    # Its own worker's calls come first; the silence falls among them or the starts.
    for answered in (CONNECTING + 3, CONNECTING + 12):
        async with SilentProxy(address_of(dev_env), answered=answered) as proxy:
            result = await run(
                [sys.executable, "starter.py", "--file", str(orders), "--worker-here", "--no-wait"],
                environment(proxy.address, tmp_path),
            )
        assert_says_it_stopped_answering(result, proxy.address)
        assert "No order was started." in result.stderr or "of 3 order(s) were started" in result.stderr, result.stderr


async def test_the_starter_gives_up_on_a_server_that_stops_answering_while_it_follows(tmp_path, unique):
    """The orders are started and the starter waits for their ends (long polls, which no
    deadline fits): the keepalive finds the silence, and the starter says how far it got."""
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli_path(), search_attributes=SEARCH_ATTRIBUTES
    ) as env:
        # A worker that polled and then froze: the starter counts on it and waits.
        worker = spawn_script("worker.py", env={"TEMPORAL_ADDRESS": address_of(env), "ORDERS_DATA_DIR": str(tmp_path)})
        try:
            await read_until(worker, "Serving task queue")
            worker.send_signal(signal.SIGSTOP)
            async with SilentProxy(address_of(env), answered=1 << 60) as proxy:
                starter = asyncio.create_task(
                    run(
                        [sys.executable, "starter.py", "--file", str(orders_file(tmp_path, unique)), "--no-wait"],
                        environment(proxy.address, tmp_path),
                    )
                )
                await listed(env.client, f"WorkflowId STARTS_WITH 'order-SILENT-{unique}'", expected=3)
                proxy.answered = proxy.calls
                result = await starter
            assert_says_it_stopped_answering(result, proxy.address)
            assert "3 of 3 order(s) were started and 0 settled." in result.stderr, result.stderr
        finally:
            worker.kill()
            worker.wait(30)


async def test_a_worker_waits_through_a_silence_and_carries_on(dev_env, tmp_path, unique):
    """A worker is there to serve whenever the server answers: it does not exit when the
    server falls silent, and the orders started meanwhile end once it answers again."""
    async with SilentProxy(address_of(dev_env), answered=1 << 60) as proxy:
        worker = spawn_script("worker.py", env=environment(proxy.address, tmp_path))
        try:
            await read_until(worker, "Serving task queue")
            proxy.answered = proxy.calls  # silent from the next call on
            client = dev_env.client
            order = one_line_order(f"WAITED-{unique}", "PROD-001", 1, "10.00")
            handle = await client.start_workflow(
                "OrderWorkflow", order, id=f"order-{order.order_id}", task_queue=TASK_QUEUE
            )
            await asyncio.wait_for(proxy.silent.wait(), 30)  # the worker's next call goes unanswered
            await asyncio.sleep(20)  # longer than a call may wait, and than the connection is kept
            assert worker.poll() is None, "the worker exited while the server was silent"
            proxy.thaw()
            result = await asyncio.wait_for(handle.result(), 90)
            assert result["status"] == OrderStatus.FULFILLED.value
        finally:
            worker.terminate()
            worker.wait(30)
