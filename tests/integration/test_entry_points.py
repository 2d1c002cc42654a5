"""starter.py and worker.py as real processes, against servers of their own or the dev server."""

import argparse
import asyncio
import contextlib
import json
import shutil
import signal
import subprocess
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

import starter
from connection import TemporalUnavailable, load_settings
from connection.embedded_server import free_local_port, is_listening
from contract import TASK_QUEUE, workflow_id_for
from hosting import build_worker, has_live_worker
from tests.commands import starter_in_process
from tests.integration.helpers import (
    ORDERS_COMMAND,
    PROJECT,
    address_of,
    processes_mentioning,
    read_until,
    run_script,
    spawn_script,
)
from tests.orders import ORDER_001, one_line_order, renamed
from tests.waiting import wait_until


def test_starter_runs_the_tutorial_orders_on_an_embedded_server_and_leaves_nothing_behind(tmp_path):
    port = free_local_port()
    data_dir = tmp_path / "data"
    env = {"TEMPORAL_ADDRESS": f"127.0.0.1:{port}", "ORDERS_DATA_DIR": str(data_dir)}

    first = run_script("starter.py", "--no-wait", env=env)

    assert first.returncode == 0, first.stdout + first.stderr
    out = first.stdout
    assert f"started the embedded Temporal dev server there (Web UI http://127.0.0.1:{port + 1000}" in out
    assert "ORDER-001: Fulfilled\n" in out
    assert "ORDER-002: Fulfilled\n" in out
    assert "warning   Large order amount - manual review recommended" in out
    assert "ORDER-003: ValidationFailed\n" in out
    assert "error     Order must contain at least one item" in out
    assert "payment     skipped: Order validation failed" in out
    assert out.count("events      5") == 2 and out.count("events      2") == 1
    assert out.count("tracking    TRK") == 2
    assert f"web ui      http://127.0.0.1:{port + 1000}/namespaces/default/workflows/order-ORDER-001/" in out
    assert (data_dir / "temporal.db").exists()
    assert not is_listening(port) and not is_listening(port + 1000)
    assert not processes_mentioning(str(data_dir))

    # Without --no-wait but with no terminal, it must not wait either.
    second = run_script("starter.py", env=env)

    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout.count("(already existed: reported, not processed again)") == 3
    payment_ids = [line for line in out.splitlines() if line.strip().startswith("payment")]
    assert payment_ids == [line for line in second.stdout.splitlines() if line.strip().startswith("payment")]
    assert not processes_mentioning(str(data_dir))


async def test_a_file_with_one_malformed_order_starts_none_of_its_orders(dev_env, tmp_path, unique):
    good = renamed(ORDER_001, unique).model_dump(mode="json")
    bad = {
        **renamed(ORDER_001, f"{unique}-bad").model_dump(mode="json"),
        "items": [{"product_id": "P", "quantity": "many", "unit_price": 1}],
    }
    orders_file = tmp_path / "orders.json"
    orders_file.write_text(json.dumps([good, bad]))

    result = await asyncio.to_thread(
        run_script, "starter.py", "--file", str(orders_file), "--no-wait", env={"TEMPORAL_ADDRESS": address_of(dev_env)}
    )

    assert result.returncode == 2
    assert (
        f"{orders_file}: order 2 ({bad['order_id']}): items.0.quantity: Input should be a valid integer"
        in result.stderr
    )
    assert "No order was started." in result.stderr
    assert result.stdout == ""
    listed = [
        execution
        async for execution in dev_env.client.list_workflows(f"WorkflowId='{workflow_id_for(good['order_id'])}'")
    ]
    assert listed == []


def test_a_file_that_is_not_json_is_refused_naming_the_file_and_the_place(tmp_path):
    orders_file = tmp_path / "orders.json"
    orders_file.write_text('{"order_id": "X",\n "items": [}')
    result = run_script("starter.py", "--file", str(orders_file), env={"TEMPORAL_ADDRESS": "127.0.0.1:1"})
    assert result.returncode == 2
    assert f"{orders_file}: not valid JSON:" in result.stderr
    assert "line 2" in result.stderr


def test_a_missing_file_is_refused_naming_it(tmp_path):
    result = run_script("starter.py", "--file", str(tmp_path / "nope.json"), env={"TEMPORAL_ADDRESS": "127.0.0.1:1"})
    assert result.returncode == 2
    assert f"{tmp_path / 'nope.json'}: cannot read it" in result.stderr


async def test_starter_serves_its_orders_itself_once_the_last_worker_has_stopped(
    ledger, own_client, own_settings, tmp_path, unique
):
    """The server still lists a worker that stopped a moment ago among the task queue's
    pollers; the worker's own heartbeat says it stopped, and the starter believes that.
    A namespace of its own: no other test's workers on `orders`."""
    order = renamed(ORDER_001, unique).model_dump(mode="json")
    orders_file = tmp_path / "orders.json"
    orders_file.write_text(json.dumps(order))
    async with build_worker(own_client, TASK_QUEUE, activities=ledger.activities()):
        await wait_until(lambda: has_live_worker(own_client, TASK_QUEUE), what="the worker to poll")
    assert not await has_live_worker(own_client, TASK_QUEUE)

    result = await starter_in_process(own_settings, "--file", str(orders_file), "--no-wait")

    assert result.returncode == 0, result.stderr
    assert "No worker was polling 'orders': running one inside this process." in result.stdout
    assert f"{order['order_id']}: Fulfilled\n" in result.stdout
    assert "embedded" not in result.stdout
    description = await own_client.get_workflow_handle(workflow_id_for(order["order_id"])).describe()
    assert await description.static_summary() == f"Order {order['order_id']} for CUSTOMER-123, total 150.50"


async def serve_one_order_then_sigterm(
    client: Client | None, address: str, order_id: str, checkout: Path = PROJECT, **env: str
) -> str:
    """Run worker.py (of `checkout`) at `address`, have it process one order, stop it with SIGTERM; its output."""
    worker = spawn_script("worker.py", env={"TEMPORAL_ADDRESS": address, **env}, checkout=checkout)
    try:
        output = ""
        while "Serving task queue" not in output:
            line = await asyncio.to_thread(worker.stdout.readline)
            assert line, f"worker exited before serving:\n{output}"
            output += line
        client = client or await Client.connect(address, data_converter=pydantic_data_converter)
        order = renamed(ORDER_001, order_id)
        handle = await client.start_workflow(
            "OrderWorkflow", order, id=workflow_id_for(order.order_id), task_queue="orders"
        )
        assert (await handle.result())["status"] == "Fulfilled"
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 30) == 0
        return output + worker.stdout.read()
    finally:
        if worker.poll() is None:
            worker.kill()


async def test_worker_serves_orders_and_stops_gracefully_on_sigterm(dev_env, unique, tmp_path):
    # Its ledger in a data directory of the test's own: never the checkout's `.temporal/`.
    data = str(tmp_path / "data")
    output = await serve_one_order_then_sigterm(dev_env.client, address_of(dev_env), unique, ORDERS_DATA_DIR=data)
    assert "Stopped" in output
    assert "embedded" not in output


def a_checkout(place: Path) -> Path:
    """This project's files as git sees them (tracked, or new and not ignored), committed
    in a repository of their own at `place`."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT,
        capture_output=True,
        check=True,
    )
    for name in filter(None, listed.stdout.decode().split("\0")):
        if (PROJECT / name).is_file():
            (place / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT / name, place / name)
    git = ["git", "-c", "user.name=tests", "-c", "user.email=tests@localhost"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "checkout"]):
        subprocess.run([*git, *command], cwd=place, check=True, capture_output=True)
    return place


async def test_a_worker_leaves_its_checkout_as_it_found_it_and_keeps_the_workflows_bytecode_in_the_cache(
    dev_env, tmp_path, unique
):
    """Python itself told to write no bytecode (PYTHONDONTWRITEBYTECODE): what the worker
    writes is its own doing, and none of it lands in the checkout."""
    checkout = a_checkout(tmp_path / "checkout")
    cache = tmp_path / "cache"
    output = await serve_one_order_then_sigterm(
        dev_env.client,
        address_of(dev_env),
        unique,
        checkout,
        PYTHONDONTWRITEBYTECODE="1",
        XDG_CACHE_HOME=str(cache),
        ORDERS_DATA_DIR=str(tmp_path / "data"),
    )
    assert "Stopped" in output
    status = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=checkout, capture_output=True, text=True)
    assert status.stdout == "", f"the worker left in its checkout:\n{status.stdout}"
    kept = {path.name.split(".")[0] for path in cache.rglob("*.pyc")}
    assert {"order_workflow", "recording", "steps"} <= kept


async def test_worker_starts_the_embedded_server_when_nothing_answers_and_stops_it_on_sigterm(tmp_path, unique):
    port = free_local_port()
    data_dir = tmp_path / "data"
    output = await serve_one_order_then_sigterm(None, f"127.0.0.1:{port}", unique, ORDERS_DATA_DIR=str(data_dir))
    assert f"Nothing answered at 127.0.0.1:{port}, so started the embedded Temporal dev server" in output
    assert "Stopped" in output
    assert not is_listening(port)
    assert (data_dir / "temporal.db").exists()
    assert not processes_mentioning(str(data_dir))


async def test_the_starter_says_so_when_a_worker_that_looks_alive_serves_nothing(
    own_client, own_settings, tmp_path, unique, monkeypatch, capsys
):
    """A worker killed outright still counts among the task queue's pollers for a minute or
    so. The starter leaves the orders to it, warns when nothing settles, and a second run
    with --worker-here serves the order the first one left waiting: nothing lost, nothing twice."""
    env = own_settings
    worker = spawn_script("worker.py", env=env)
    try:
        await read_until(worker, "Serving task queue")
        await wait_until(lambda: has_live_worker(own_client, TASK_QUEUE), what="the worker to poll")
        worker.kill()
        worker.wait(10)
        assert await has_live_worker(own_client, TASK_QUEUE), "the killed worker still looks alive"

        order = renamed(ORDER_001, unique)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr("client.following._NO_WORKER_WARNING_AFTER", timedelta(seconds=1))
        options = argparse.Namespace(keep_up=False, verbose=False, json=False, worker_here=False)
        trusting = asyncio.create_task(starter.start_orders([order], load_settings(), options))
        seen = ""

        async def warned() -> bool:
            nonlocal seen
            seen += capsys.readouterr().err
            return "warning: no order has settled in 1 s" in seen

        await wait_until(warned, seconds=30, what="the starter to warn that nothing settles")
        assert "--worker-here" in seen and "none is lost" in seen
        trusting.cancel()  # outside the runner, a cancel is taken for the worker failing: either way it ends
        with contextlib.suppress(asyncio.CancelledError, TemporalUnavailable):
            await trusting

        orders_file = tmp_path / "orders.json"
        orders_file.write_text(order.model_dump_json())
        result = await starter_in_process(env, "--file", str(orders_file), "--no-wait", "--worker-here")
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"{order.order_id}: Fulfilled (already existed" in result.stdout, result.stdout
        assert "warning" not in result.stderr
    finally:
        if worker.poll() is None:
            worker.kill()


async def test_sigterm_stops_a_starter_run_in_order_and_leaves_nothing_running(tmp_path, unique):
    """SIGTERM in the middle of a big file: the in-process worker and the embedded server it
    started are stopped, the run says how far it got, exit 130; no process is left behind."""
    data_dir = tmp_path / "data"
    orders_file = tmp_path / "orders.jsonl"
    orders = [one_line_order(f"TERM-{unique}-{n}", "PROD-001", 1, "10.00") for n in range(2_000)]
    orders_file.write_text("".join(order.model_dump_json() + "\n" for order in orders))
    env = {"TEMPORAL_ADDRESS": f"127.0.0.1:{free_local_port()}", "ORDERS_DATA_DIR": str(data_dir)}
    starter_run = spawn_script("starter.py", "--file", str(orders_file), "--no-wait", env=env)
    try:
        await read_until(starter_run, "orders: ")  # the first progress line: orders are on their way
        starter_run.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(starter_run.wait, 60)
        said = starter_run.stdout.read()
    finally:
        if starter_run.poll() is None:
            starter_run.kill()
    assert code == 130, said
    assert "Stopped by a signal." in said and " of 2000 order(s) were started" in said, said
    assert "Traceback" not in said
    assert not processes_mentioning(str(data_dir)), "the embedded server stopped with the starter"


async def test_sigterm_while_orders_starts_its_embedded_server_leaves_nothing_running(tmp_path):
    data_dir = tmp_path / "data"
    env = {"TEMPORAL_ADDRESS": f"127.0.0.1:{free_local_port()}", "ORDERS_DATA_DIR": str(data_dir)}
    command = await asyncio.to_thread(
        subprocess.Popen,
        [ORDERS_COMMAND, "events", "ORDER-001"],
        env={"PATH": "/usr/bin:/bin", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        await wait_until(lambda: asyncio.sleep(0, (data_dir / "dev-server.log").exists()), what="the server to start")
        command.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(command.wait, 30)
    finally:
        if command.poll() is None:
            command.kill()
    assert code == 130, command.stderr.read()
    assert "orders events: stopped by a signal" in command.stderr.read()
    assert not processes_mentioning(str(data_dir)), "the server it was starting is stopped"
