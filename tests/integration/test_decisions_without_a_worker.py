"""A decision sent right after the only worker was killed outright (it still looks alive
to the server for a minute or so): `orders approve` waits ORDERS_DECISION_TIMEOUT, says in
one line that the decision is withdrawn, and it is: a worker that takes the order up
later refuses it as expired. Stopped by SIGTERM while it waits: one line, exit 130."""

import asyncio
import os
import re
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta

from temporalio.service import RPCError

from client import start_order
from contract import TASK_QUEUE
from domain import OrderState, OrderStatus
from hosting import has_live_worker
from programs.exits import ExitCode
from tests.commands import orders_in_process
from tests.integration.helpers import ORDERS_COMMAND, spawn_worker
from tests.orders import one_line_order, wait_for_status
from tests.waiting import wait_until

DECISION_TIMEOUT = 3
SIGNALLED_AFTER = 6


async def test_a_decision_no_worker_takes_is_withdrawn_and_stays_so(own_client, own_settings):
    """In a namespace of the test's own, whose only worker is the one killed."""
    env = {**own_settings, "ORDERS_DECISION_TIMEOUT": str(DECISION_TIMEOUT)}
    worker = spawn_worker(env)
    try:
        await wait_until(lambda: has_live_worker(own_client, TASK_QUEUE), what="worker.py to poll")
        order = one_line_order("WAITS-FOR-A-PERSON", "PROD-001", 2, "30000.00")
        handle = await start_order(own_client, order)
        waiting = await wait_for_status(handle, OrderStatus.PAYMENT_PENDING, seconds=60)
        worker.kill()  # SIGKILL: it announces nothing, and looks alive for a while
        worker.wait()

        began = time.monotonic()
        approve = ["approve", order.order_id, "--approver", "ops-lead"]
        withdrawn = await orders_in_process(env, *approve)
        waited = time.monotonic() - began
        assert withdrawn.returncode == ExitCode.FAILED, withdrawn.stdout + withdrawn.stderr
        lines = withdrawn.stderr.strip().splitlines()
        assert len(lines) == 1 and "it is withdrawn" in lines[0] and "ORDERS_DECISION_TIMEOUT" in lines[0], (
            withdrawn.stderr
        )
        assert DECISION_TIMEOUT <= waited < DECISION_TIMEOUT + 20, waited

        # Long enough to be waiting for certain when the signal comes.
        slow = {**env, "ORDERS_DECISION_TIMEOUT": str(SIGNALLED_AFTER + DECISION_TIMEOUT)}
        stopped_by = subprocess.Popen(
            [ORDERS_COMMAND, *approve], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, **slow},
        )  # fmt: skip
        await asyncio.sleep(SIGNALLED_AFTER)
        stopped_by.send_signal(signal.SIGTERM)
        out, err = await asyncio.to_thread(stopped_by.communicate, timeout=30)
        assert stopped_by.returncode == ExitCode.INTERRUPTED, out + err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert "stopped by a signal; the decision stays pending until" in err

        # Past both deadlines, a worker comes back and takes the two waiting decisions
        # up with the order's next workflow task: each is refused as expired, and the
        # order still waits for a person, at the version it had. The deadline is the one
        # the process said (it counts from its own start, which a loaded machine delays).
        await asyncio.sleep(_seconds_until_past(_pending_until(err)))
        worker = spawn_worker({**env, "ORDERS_DECISION_TIMEOUT": "60"})
        state = await wait_until(lambda: _state(handle), seconds=60, what="a worker to answer for the order")
        assert state.status is OrderStatus.PAYMENT_PENDING and state.version == waiting.version, state
        approved = await orders_in_process({**env, "ORDERS_DECISION_TIMEOUT": "60"}, *approve)
        assert approved.returncode == 0, approved.stdout + approved.stderr
        assert (await handle.result()).status is OrderStatus.FULFILLED
    finally:
        if worker.poll() is None:
            worker.terminate()
            worker.wait(30)


def _pending_until(said: str) -> datetime:
    """The deadline in "the decision stays pending until HH:MM:SS UTC" (to the second, cut)."""
    found = re.search(r"pending until (\d\d):(\d\d):(\d\d) UTC", said)
    assert found, said
    now = datetime.now(UTC)
    hour, minute, second = (int(part) for part in found.groups())
    until = now.replace(hour=hour, minute=minute, second=second, microsecond=0) + timedelta(seconds=1)
    return until + timedelta(days=1) if until < now - timedelta(hours=12) else until


def _seconds_until_past(deadline: datetime) -> float:
    return max(0.0, (deadline - datetime.now(UTC)).total_seconds()) + 1


async def _state(handle) -> OrderState | None:
    try:
        return await handle.query("state", result_type=OrderState, rpc_timeout=timedelta(seconds=5))
    except RPCError:
        return None  # no worker has answered yet
