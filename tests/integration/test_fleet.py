"""Workers on several hosts share one ledger: a payment retried on another host is answered
with the first charge, stock is counted once, and `orders reconcile` against the one ledger
is clean. Real worker processes, each standing for a host (a data directory of its own),
over one PostgreSQL ledger (ORDERS_LEDGER); one SIGKILLed mid-charge, or midway through a
run of orders."""

import asyncio
import json
import signal
from decimal import Decimal

from activities.ledger import LedgerDatabase
from benchmarks.postgres import new_database
from client import start_order
from contract import EventsQuery
from domain import OrderStatus
from storage import where_of
from tests.commands import orders_in_process
from tests.conftest import client_in, settings_for, take_namespace
from tests.integration.helpers import read_until, run_script, spawn_script, spawn_worker, stop_processes
from tests.orders import one_line_order
from tests.waiting import wait_until
from workflows.order_workflow import OrderWorkflow

ORDERS = 200
NOBODY = "postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=2"


def host(dev_env, namespace: str, tmp_path, name: str, ledger: str) -> dict[str, str]:
    """What a host's worker is given: the one Temporal and ledger, a data directory of its own."""
    return {**settings_for(dev_env, namespace, tmp_path / name), "ORDERS_LEDGER": ledger}


async def test_a_payment_retried_on_another_host_is_charged_once(dev_env, postgres, tmp_path):
    namespace, ledger = take_namespace(), new_database(postgres, "fleet_charge")
    first_host, second_host = (host(dev_env, namespace, tmp_path, name, ledger) for name in ("host-a", "host-b"))
    client = client_in(dev_env, namespace)
    doomed = spawn_script("tests/integration/worker_that_dies_after_charging.py", env=first_host)
    survivor = None
    try:
        await read_until(doomed, "serving")
        handle = await start_order(client, one_line_order("FLEET-1", "PROD-001", 2, "75.25"))
        charged = await read_until(doomed, "charged")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)

        survivor = spawn_worker(second_host, tmp_path / "host-b.log")
        final = await asyncio.wait_for(handle.result(), timeout=120)
        envelopes = await handle.query(OrderWorkflow.events, EventsQuery())
    finally:
        await stop_processes(*(process for process in (doomed, survivor) if process is not None))

    payments = LedgerDatabase(ledger, read_only=True).rows("SELECT payment_id, status FROM payments")
    assert final.status is OrderStatus.FULFILLED
    assert payments == [(final.payment_id, "Completed")], "charged exactly once, in the one ledger"
    assert charged.split()[-1] == final.payment_id, "the other host's retry got the first charge back"
    assert [envelope.event_type for envelope in envelopes].count("PaymentProcessed") == 1
    assert not (tmp_path / "host-a" / "ledger.sqlite").exists() and not (tmp_path / "host-b" / "ledger.sqlite").exists()


async def test_two_hundred_orders_across_two_hosts_one_killed_midway_balance_in_the_one_ledger(
    dev_env, postgres, tmp_path
):
    namespace, ledger = take_namespace(), new_database(postgres, "fleet_run")
    hosts = [host(dev_env, namespace, tmp_path, name, ledger) for name in ("host-a", "host-b")]
    client = client_in(dev_env, namespace)
    workers = [spawn_worker(settings, tmp_path / f"worker-{n}.log") for n, settings in enumerate(hosts)]
    try:
        orders = [one_line_order(f"RUN-{n}", f"PROD-00{1 + n % 8}", 1 + n % 3, "10.00") for n in range(ORDERS)]
        stock_before = sum(
            row[0] for row in await _ledger_rows(ledger, "SELECT on_hand FROM stock", wait_for_tables=True)
        )
        handles = await asyncio.gather(*(start_order(client, order) for order in orders))
        settled = 0

        async def halfway() -> bool:
            nonlocal settled
            settled = sum(1 for row in await _ledger_rows(ledger, "SELECT 1 FROM shipments"))
            return settled >= ORDERS // 4

        await wait_until(halfway, seconds=120, what="a quarter of the orders to ship")
        workers[0].send_signal(signal.SIGKILL)  # host A goes down with orders in its hands
        workers[0].wait(10)
        results = await asyncio.wait_for(asyncio.gather(*(handle.result() for handle in handles)), timeout=240)
    finally:
        await stop_processes(*workers)

    assert settled < ORDERS, "host A was killed while orders were still on their way"
    assert {result.status for result in results} == {OrderStatus.FULFILLED}
    payments = await _ledger_rows(ledger, "SELECT payment_key, amount, status FROM payments")
    assert len(payments) == ORDERS and len({key for key, _, _ in payments}) == ORDERS, "each order charged once"
    assert sum(Decimal(amount) for _, amount, _ in payments) == sum(order.total_amount for order in orders)
    stock_after = sum(row[0] for row in await _ledger_rows(ledger, "SELECT on_hand FROM stock"))
    assert stock_before - stock_after == sum(item.quantity for order in orders for item in order.items)

    reconciled = await orders_in_process({**hosts[1], "ORDERS_LEDGER": ledger}, "reconcile", "--json")
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
    assert json.loads(reconciled.stdout)["orders"] == ORDERS
    health = json.loads((await orders_in_process(hosts[0], "health", "--json")).stdout)
    assert health["ledger"] == {"ledger": where_of(ledger), "payments": ORDERS}


async def test_a_worker_whose_ledger_nobody_answers_stops_in_one_line_before_serving(dev_env, tmp_path):
    settings = {**settings_for(dev_env, take_namespace(), tmp_path), "ORDERS_LEDGER": NOBODY}
    worker = await asyncio.to_thread(run_script, "worker.py", env=settings, timeout=60)
    assert worker.returncode == 1
    lines = [line for line in worker.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "the ledger at postgresql://127.0.0.1:1/nowhere cannot be used" in lines[0], lines


async def _ledger_rows(ledger: str, sql: str, *, wait_for_tables: bool = False) -> list[tuple]:
    async def read() -> list[tuple] | None:
        try:
            database = LedgerDatabase(ledger, read_only=True)
        except ValueError:
            if wait_for_tables:
                return None
            raise
        try:
            return database.rows(sql)
        finally:
            database.close()

    return await wait_until(read, seconds=60, what="the ledger to be made")
