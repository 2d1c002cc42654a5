"""New workflow code without breaking open orders: Worker Versioning in a namespace of the
test's own (deployments are the namespace's), with real worker processes of two builds.
Build B (tests/integration/build_b.py) runs an extra activity before payment, unpatched: it
cannot replay build A's orders."""

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.client import Client

from contract import workflow_id_for
from tests.commands import Ran, orders_in_process, starter_in_process
from tests.integration.helpers import read_until, spawn_script, stop_processes
from tests.orders import one_line_order
from tests.waiting import wait_until

BUILD_B = "tests/integration/worker_of_build_b.py"


@dataclass(frozen=True)
class Server:
    """A namespace of the test's own: setting a deployment's current build reroutes `orders`."""

    client: Client
    env: dict[str, str]


@pytest.fixture
def server(own_client, own_settings) -> Server:
    return Server(own_client, own_settings)


async def orders_off_loop(env: dict[str, str], *args: str) -> Ran:
    return await orders_in_process(env, *args)


async def start_orders(env: dict[str, str], tmp_path: Path, *order_ids: str, amount: str = "5.00") -> None:
    """Through the starter, which returns once each has ended or waits for approval."""
    path = tmp_path / f"{order_ids[0]}.jsonl"
    path.write_text("\n".join(one_line_order(o, "PROD-009", 1, amount).model_dump_json() for o in order_ids))
    started = await starter_in_process(env, "--no-wait", "--file", str(path))
    assert started.returncode == 0, started.stdout + started.stderr


async def spawn_worker_of(script: str, env: dict[str, str], *args: str) -> subprocess.Popen:
    worker = spawn_script(script, *args, env=env)
    await read_until(worker, "Serving task queue")
    return worker


async def build_of(client: Client, order_id: str) -> str | None:
    described = await client.get_workflow_handle(workflow_id_for(order_id)).describe()
    return described.raw_description.workflow_execution_info.versioning_info.deployment_version.build_id or None


async def nondeterminism_failures(client: Client, order_id: str) -> int:
    handle = client.get_workflow_handle(workflow_id_for(order_id))
    failed = [
        event
        async for event in handle.fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
        and event.workflow_task_failed_event_attributes.cause
        == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR
    ]
    return len(failed)


async def build_state(env: dict[str, str], build_id: str) -> dict:
    listed = json.loads((await orders_off_loop(env, "deployments", "--json")).stdout)
    return next(build for build in listed["builds"] if build["build_id"] == build_id)


async def test_without_versioning_the_new_build_breaks_an_order_the_old_one_started(server, tmp_path):
    """What versioning is for, shown so the test can fail: the same change, deployed by
    replacing the workers, fails the waiting order with a non-determinism error."""
    env = server.env
    old = await spawn_worker_of("worker.py", env)
    await start_orders(env, tmp_path, "PLAIN-WAITING", amount="60000.00")
    await stop_processes(old)
    new = await spawn_worker_of(BUILD_B, env)
    try:
        approving = await orders_off_loop(
            {**env, "ORDERS_DECISION_TIMEOUT": "3"}, "approve", "PLAIN-WAITING", "--approver", "ann"
        )
        assert approving.returncode != 0

        async def failed() -> int | None:
            return await nondeterminism_failures(server.client, "PLAIN-WAITING") or None

        assert await wait_until(failed, what="a non-determinism failure") >= 1
    finally:
        await stop_processes(new)


async def test_a_new_build_takes_new_orders_while_the_old_one_finishes_its_own(server, tmp_path):
    env = server.env
    client = server.client
    build_a = await spawn_worker_of("worker.py", env, "--build-id", "A")
    build_b = None
    try:
        refused = await orders_off_loop(env, "deploy", "B")
        assert refused.returncode == 1
        assert "build 'B' of deployment 'orders' has no worker polling 'orders'" in refused.stderr
        await wait_until(lambda: _polled_by(env, "A"), what="the deployment to know build A's worker")
        assert (await orders_off_loop(env, "deploy", "A")).returncode == 0
        await start_orders(env, tmp_path, "WAITING-1", "WAITING-2", amount="60000.00")
        assert {await build_of(client, "WAITING-1"), await build_of(client, "WAITING-2")} == {"A"}

        build_b = await spawn_worker_of(BUILD_B, env, "--build-id", "B")
        await wait_until(lambda: _polled_by(env, "B"), what="the deployment to know build B's worker")
        ramped = await orders_off_loop(env, "deploy", "B", "--ramp", "50")
        assert ramped.returncode == 0, ramped.stderr
        ramp = [f"RAMP-{n:02}" for n in range(20)]
        await start_orders(env, tmp_path, *ramp)
        builds = [await build_of(client, order_id) for order_id in ramp]
        print(f"a 50% ramp: {builds.count('A')} of 20 new orders on A, {builds.count('B')} on B")
        assert 0 < builds.count("B") < 20 and builds.count("A") == 20 - builds.count("B"), builds

        deployed = await orders_off_loop(env, "deploy", "B")
        assert deployed.returncode == 0, deployed.stderr
        assert "Build 'A' keeps its 2 open order(s) until they end." in deployed.stdout
        await start_orders(env, tmp_path, "NEW-1", "NEW-2")
        assert {await build_of(client, "NEW-1"), await build_of(client, "NEW-2")} == {"B"}
        a = await build_state(env, "A")
        assert (a["state"], a["open_orders"], a["by_status"]) == ("draining", 2, {"PaymentPending": 2}), a

        # Build A's workers gone while it holds orders: health names it; they come back.
        await stop_processes(build_a)
        health = json.loads((await orders_off_loop(env, "health", "--json")).stdout)
        assert any("build 'A' holds 2 open order(s) but no worker of it polls" in r for r in health["reasons"])
        build_a = await spawn_worker_of("worker.py", env, "--build-id", "A")

        for order_id in ("WAITING-1", "WAITING-2"):
            approved = await orders_off_loop(env, "approve", order_id, "--approver", "ann")
            assert approved.returncode == 0, approved.stderr
        for order_id in ("WAITING-1", "WAITING-2"):
            state = await client.get_workflow_handle(workflow_id_for(order_id)).result()
            assert state["status"] == "Fulfilled"
            assert await build_of(client, order_id) == "A"
            assert await nondeterminism_failures(client, order_id) == 0
        await wait_until(lambda: _drained(env, "A"), seconds=30, what="build A to drain")
        await stop_processes(build_a)

        reconciled = await orders_off_loop(env, "reconcile", "--json")
        assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
        assert json.loads(reconciled.stdout)["orders"] == 24
        assert (await client.count_workflows("ExecutionStatus='Running'")).count == 0
    finally:
        await stop_processes(*(worker for worker in (build_a, build_b) if worker is not None))


async def _polled_by(env: dict[str, str], build_id: str) -> bool:
    listed = json.loads((await orders_off_loop(env, "deployments", "--json")).stdout)
    return any(build["build_id"] == build_id and build["workers"] for build in listed["builds"])


async def _drained(env: dict[str, str], build_id: str) -> bool:
    return (await build_state(env, build_id))["state"] == "drained"
