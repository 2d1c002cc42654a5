"""The embedded dev server dying under a running worker, as real processes: worker.py
starts it on its own data, the test kills it (SIGKILL, then SIGTERM) while orders run and
while some wait for approval. The worker starts it again on the same data, the orders go
on, the pending ones still take a decision, and the streams agree with the ledger. A
server that keeps dying is given up, naming its log, with a non-zero exit."""

import asyncio
import os
import signal
import time
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.ledger import LedgerDatabase, effects_by_workflow_id
from client import start_order
from connection.embedded_server import free_local_port, start_embedded_server
from contract import SEARCH_ATTRIBUTES, workflow_id_for
from domain import OrderStatus
from domain.decisions import ApprovePayment
from eventstore import EventStore
from orders_cli.reconcile import reconcile
from tests.integration.helpers import processes_mentioning, spawn_script
from tests.orders import one_line_order, wait_for_status
from workflows.order_workflow import OrderWorkflow


def server_pids(database: Path) -> list[int]:
    """The pids of dev server processes that run on `database`."""
    return list(processes_mentioning("start-dev", str(database)))


def server_pid(database: Path) -> int:
    [pid] = server_pids(database)
    return pid


class Worker:
    """worker.py as a process, its log read as it comes."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = spawn_script("worker.py", env=env)
        self.said = ""

    async def until(self, text: str, seconds: float = 60, times: int = 1) -> None:
        async def read() -> None:
            while self.said.count(text) < times:
                line = await asyncio.to_thread(self.process.stdout.readline)
                assert line, f"worker.py exited before saying {text!r}:\n{self.said}"
                self.said += line

        await asyncio.wait_for(read(), seconds)


async def kill_server_and_wait_until_back(worker: Worker, database: Path, how: signal.Signals) -> float:
    backs = worker.said.count("is back after")
    killed = time.monotonic()
    os.kill(server_pid(database), how)
    await worker.until("is back after", times=backs + 1)
    return time.monotonic() - killed


async def test_the_worker_starts_its_dead_server_again_and_no_order_is_lost_or_doubled(tmp_path, unique):
    port, data = free_local_port(), tmp_path / "data"
    database = (data / "temporal.db").resolve()
    worker = Worker({"TEMPORAL_ADDRESS": f"127.0.0.1:{port}", "ORDERS_DATA_DIR": str(data)})
    try:
        await worker.until("Serving task queue")
        client = await Client.connect(f"127.0.0.1:{port}", data_converter=pydantic_data_converter)
        figures = {}
        handles = []
        for round_, how in enumerate([signal.SIGKILL, signal.SIGTERM]):
            small = [one_line_order(f"RS-{unique}-{round_}-{n}", "PROD-001", 1, "10.00") for n in range(30)]
            large = [one_line_order(f"RS-{unique}-{round_}-BIG-{n}", "PROD-009", 2, "30000.00") for n in range(5)]
            started = [await start_order(client, order) for order in [*small, *large]]
            handles += started
            killed = time.monotonic()
            back_after = await kill_server_and_wait_until_back(worker, database, how)
            await asyncio.wait_for(asyncio.gather(*(handle.result() for handle in started[: len(small)])), 60)
            figures[how.name] = {
                "server back": round(back_after, 1),
                "30 orders ended": round(time.monotonic() - killed, 1),
            }
            for handle in started[len(small) :]:
                await wait_for_status(handle, OrderStatus.PAYMENT_PENDING, seconds=60)
                await handle.execute_update(OrderWorkflow.approve_payment, ApprovePayment(approver="ops"))
        ended = [await asyncio.wait_for(handle.result(), 60) for handle in handles]
        print(f"\nseconds after the kill: {figures}")

        assert [state.status for state in ended] == [OrderStatus.FULFILLED] * len(handles)
        assert worker.said.count("starting it again on the same data") == 2
        ledger = LedgerDatabase(data / "ledger.sqlite")
        assert ledger.rows("SELECT COUNT(*) FROM payments")[0][0] == len(handles), "each order charged once"
        orders = [order async for order in EventStore(client).snapshots(f"WorkflowId STARTS_WITH 'order-RS-{unique}-'")]
        assert len(orders) == len(handles)
        assert reconcile(orders, effects_by_workflow_id(ledger)).discrepancies == []

        worker.process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.process.wait, 30) == 0
        assert not processes_mentioning(str(database)), "the server stopped with the worker"
    finally:
        if worker.process.poll() is None:
            worker.process.kill()
        for pid in server_pids(database):
            os.kill(pid, signal.SIGKILL)


async def test_a_server_that_keeps_dying_is_given_up_naming_its_log(tmp_path):
    port, data = free_local_port(), tmp_path / "data"
    database = (data / "temporal.db").resolve()
    worker = Worker({"TEMPORAL_ADDRESS": f"127.0.0.1:{port}", "ORDERS_DATA_DIR": str(data)})
    try:
        await worker.until("Serving task queue")
        for _ in range(3):
            await kill_server_and_wait_until_back(worker, database, signal.SIGKILL)
        os.kill(server_pid(database), signal.SIGKILL)
        killed = time.monotonic()

        code = await asyncio.to_thread(worker.process.wait, 60)
        print(f"\nworker.py gave up and exited {time.monotonic() - killed:.1f} s after the fourth death")
        worker.said += worker.process.stdout.read()
        assert code == 3, worker.said
        assert "not starting it again" in worker.said and str(data / "dev-server.log") in worker.said, worker.said
        assert not processes_mentioning(str(database))
    finally:
        if worker.process.poll() is None:
            worker.process.kill()
        for pid in server_pids(database):
            os.kill(pid, signal.SIGKILL)


async def test_a_worker_reconnects_by_itself_to_a_server_restarted_under_it(tmp_path, unique):
    """A server of one's own, not the worker's to supervise: killed outright while orders run
    and one waits for approval, then started again on the same data by its operator (here
    the test). worker.py reconnects by itself; every order ends once; the approval is taken."""
    address, data = f"127.0.0.1:{free_local_port()}", tmp_path / "server"
    server = await start_embedded_server(address, "default", data, SEARCH_ATTRIBUTES)
    ledger_dir = tmp_path / "ledger"
    worker = Worker({"TEMPORAL_ADDRESS": address, "ORDERS_DATA_DIR": str(ledger_dir)})
    try:
        await worker.until("Serving task queue")
        small = [one_line_order(f"EXT-{unique}-{n}", "PROD-001", 1, "10.00") for n in range(30)]
        large = one_line_order(f"EXT-{unique}-BIG", "PROD-009", 2, "30000.00")
        for order in [*small, large]:
            await start_order(server.client, order)
        server.process.kill()
        server.process.wait()
        killed = time.monotonic()
        server = await start_embedded_server(address, "default", data, SEARCH_ATTRIBUTES)
        back = time.monotonic() - killed
        client = server.client
        handles = [client.get_workflow_handle(workflow_id_for(order.order_id)) for order in small]
        ended = await asyncio.wait_for(asyncio.gather(*(handle.result() for handle in handles)), 90)
        all_ended = time.monotonic() - killed
        big = client.get_workflow_handle(workflow_id_for(large.order_id))
        await wait_for_status(big, OrderStatus.PAYMENT_PENDING, seconds=60)
        await big.execute_update(OrderWorkflow.approve_payment, ApprovePayment(approver="ops"))
        approved = await asyncio.wait_for(big.result(), 60)
        print(f"\nserver started again after {back:.1f} s; 30 orders ended {all_ended:.1f} s after the kill")

        assert [state["status"] for state in ended] == ["Fulfilled"] * len(small)
        assert approved["status"] == "Fulfilled"
        assert "starting it again" not in worker.said, "not the worker's server to restart"
        ledger = LedgerDatabase(ledger_dir / "ledger.sqlite")
        assert ledger.rows("SELECT COUNT(*) FROM payments")[0][0] == len(small) + 1, "each order charged once"
        orders = [
            order async for order in EventStore(client).snapshots(f"WorkflowId STARTS_WITH 'order-EXT-{unique}-'")
        ]
        assert reconcile(orders, effects_by_workflow_id(ledger)).discrepancies == []
    finally:
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)
            await asyncio.to_thread(worker.process.wait, 30)
        await server.stop()
