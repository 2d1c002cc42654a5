"""A worker killed between charging and reporting the charge: real processes, SIGKILL.

Temporal retries the payment activity once its start-to-close timeout (30 s) passes;
the gateway answers the retried idempotency key with the first charge. The order is
charged exactly once and its stream records that one payment."""

import asyncio
import signal

from activities.ledger import LedgerDatabase
from client import start_order
from contract import EventsQuery
from domain import OrderStatus
from tests.integration.helpers import address_of, read_until, spawn_script
from tests.orders import ORDER_001, renamed
from workflows.order_workflow import OrderWorkflow


async def test_a_worker_killed_after_charging_leaves_the_order_charged_exactly_once(dev_env, unique, tmp_path):
    env = {"TEMPORAL_ADDRESS": address_of(dev_env), "ORDERS_DATA_DIR": str(tmp_path)}
    order = renamed(ORDER_001, unique)
    doomed = spawn_script("tests/integration/worker_that_dies_after_charging.py", env=env)
    survivor = None
    try:
        await read_until(doomed, "serving")
        handle = await start_order(dev_env.client, order)
        charged = await read_until(doomed, "charged")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)

        survivor = spawn_script("worker.py", env=env)
        await read_until(survivor, "Serving task queue")
        final = await asyncio.wait_for(handle.result(), timeout=120)
        envelopes = await handle.query(OrderWorkflow.events, EventsQuery())
    finally:
        for process in (doomed, survivor):
            if process and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(30)

    payments = LedgerDatabase(tmp_path / "ledger.sqlite").rows("SELECT payment_id, status FROM payments")
    assert final.status is OrderStatus.FULFILLED
    assert len(payments) == 1, "charged exactly once"
    assert payments[0] == (final.payment_id, "Completed")
    assert charged.split()[-1] == final.payment_id, "the retry got the first charge back"
    assert [envelope.event_type for envelope in envelopes].count("PaymentProcessed") == 1
