"""A worker killed between charging and reporting the charge: real processes, SIGKILL.

Temporal retries the payment activity once its start-to-close timeout (30 s) passes;
the gateway answers the retried idempotency key with the first charge. The order is
charged exactly once and its stream records that one payment."""

import asyncio
import os
import signal
import subprocess
import sys

from activities.ledger import LedgerDatabase
from contract import TASK_QUEUE, EventsQuery, workflow_id_for
from domain import OrderState, OrderStatus
from tests.integration.helpers import PROJECT, address_of
from tests.orders import ORDER_001, renamed
from workflows.order_workflow import OrderWorkflow


def spawn(script: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(PROJECT / script)],
        env={**os.environ, **env},
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def read_until(process: subprocess.Popen, marker: str) -> str:
    seen = ""
    while marker not in seen:
        line = await asyncio.to_thread(process.stdout.readline)
        assert line, f"process exited before printing {marker!r}:\n{seen}"
        seen += line
    return seen


async def test_a_worker_killed_after_charging_leaves_the_order_charged_exactly_once(dev_env, unique, tmp_path):
    env = {"TEMPORAL_ADDRESS": address_of(dev_env), "ORDERS_DATA_DIR": str(tmp_path)}
    order = renamed(ORDER_001, unique)
    doomed = spawn("tests/integration/worker_that_dies_after_charging.py", env)
    survivor = None
    try:
        await read_until(doomed, "serving")
        handle = await dev_env.client.start_workflow(
            OrderWorkflow.run, order, id=workflow_id_for(order.order_id), task_queue=TASK_QUEUE, result_type=OrderState
        )
        charged = await read_until(doomed, "charged")
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(10)

        survivor = spawn("worker.py", env)
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
