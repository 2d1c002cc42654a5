"""When Temporal cannot be reached, or an order closes under a decision: one line that
names the address or the order, and a documented exit code, never a traceback.

The "server" here is a real listening socket that accepts connections and never
answers: what a hung frontend, a wrong port or a proxy with nothing behind it looks
like from outside.
"""

import asyncio
import socket
import subprocess
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest

from domain import OrderStatus
from domain.decisions import CancelOrder
from orders_cli.decisions import DecisionRefused, send_decision
from programs.exits import ExitCode
from tests.integration.helpers import ORDERS_COMMAND, run_script
from tests.orders import one_line_order, open_shop, wait_for_status

CONNECT_TIMEOUT = "2"


@pytest.fixture
def silent_server() -> Iterator[str]:
    """host:port of a socket that accepts every connection and says nothing."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []

    def hold() -> None:
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=hold, daemon=True).start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    listener.close()
    for connection in accepted:
        connection.close()


def assert_one_line_naming(result: subprocess.CompletedProcess, address: str, lines: int = 1) -> None:
    assert result.returncode == ExitCode.UNAVAILABLE, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) == lines, result.stderr
    assert f"Temporal at {address} (namespace default) did not answer within 2 s" in result.stderr


def run_command(*argv: str, address: str, data_dir) -> subprocess.CompletedProcess:
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "TEMPORAL_ADDRESS": address, "ORDERS_CONNECT_TIMEOUT": CONNECT_TIMEOUT,
             "ORDERS_DATA_DIR": str(data_dir)},
    )  # fmt: skip


async def test_orders_starter_and_worker_say_in_one_line_that_temporal_does_not_answer(silent_server, tmp_path):
    env = {
        "TEMPORAL_ADDRESS": silent_server,
        "ORDERS_CONNECT_TIMEOUT": CONNECT_TIMEOUT,
        "ORDERS_DATA_DIR": str(tmp_path),
    }
    events, starter, worker = await asyncio.gather(
        asyncio.to_thread(run_command, ORDERS_COMMAND, "events", "ORDER-001", address=silent_server, data_dir=tmp_path),
        asyncio.to_thread(run_script, "starter.py", "--no-wait", env=env, timeout=60),
        asyncio.to_thread(run_script, "worker.py", env=env, timeout=60),
    )
    assert_one_line_naming(events, silent_server)
    assert events.stderr.startswith("orders events: ")
    assert_one_line_naming(starter, silent_server)
    assert starter.stderr.strip().endswith("No order was started.")
    assert_one_line_naming(worker, silent_server)


def test_a_connect_timeout_that_is_not_a_number_is_named():
    bad = subprocess.run(
        [ORDERS_COMMAND, "events", "ORDER-001"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "TEMPORAL_ADDRESS": "127.0.0.1:1", "ORDERS_CONNECT_TIMEOUT": "soon"},
    )
    assert bad.returncode == 2
    assert bad.stderr == "orders events: ORDERS_CONNECT_TIMEOUT='soon' is not a number of seconds\n"


async def test_a_cancel_aborted_because_the_order_closed_meanwhile_is_refused_in_one_line(
    dev_env, task_queue, ledger, unique
):
    """The decision reaches the server, then the order closes before any worker takes it up:
    the server aborts the update ("workflow update was aborted by closing workflow"), or,
    had the order closed first, refuses it ("workflow execution already completed")."""
    client = dev_env.client
    order = one_line_order(f"HELD-{unique}", "PROD-001", 1, "10.00", cancellation_window="PT1H")
    async with open_shop(dev_env, task_queue, ledger) as shop:
        handle = await shop.start(order)
        await wait_for_status(handle, OrderStatus.INVENTORY_RESERVED)
    # No worker now: the cancel waits at the server until the order is closed under it.
    cancel = CancelOrder(reason="too late")
    sending = asyncio.create_task(send_decision(client, handle, order.order_id, cancel, timedelta(seconds=60)))
    await asyncio.sleep(1)  # nothing to watch for: a waiting update shows nowhere; either way the answer is the same
    await handle.terminate("closed by an operator")
    with pytest.raises(DecisionRefused) as refused:
        await sending
    assert str(refused.value) == (
        f"order {order.order_id} was closed (TERMINATED) at InventoryReserved (version 4)"
        " before the decision reached it"
    )
