"""The projector against the dev server, in a namespace of this module's own (it holds only
these tests' orders): caught up, its report equals the fold of every history with zero
lag; killed mid-batch and restarted (a process, SIGKILLed), it converges to a rebuild;
running (a process), it picks up new orders by itself and stops on SIGTERM. `orders` runs
in-process where the claim is its output."""

import asyncio
import json
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import Client

from domain import OrderStatus
from domain.decisions import ApprovePayment, CancelOrder
from eventstore import EventStore
from projections import ReadModels
from storage import open_database
from storage.databases import DatabaseError
from tests.commands import Ran, orders_in_process
from tests.conftest import client_in, take_namespace
from tests.integration.helpers import ORDERS_COMMAND, address_of
from tests.integration.refusing_proxy import GET_HISTORY, RefusingProxy
from tests.orders import ORDER_001, ORDER_002, ORDER_003, Ledger, one_line_order, open_shop, renamed, wait_for_status
from tests.read_models import contents
from tests.waiting import wait_until
from workflows.order_workflow import OrderWorkflow


@dataclass(frozen=True)
class Namespaced:
    """What `open_shop` and the helpers here take of an environment: a client (in the
    module's own namespace) and a data directory nothing else keeps in."""

    client: Client
    data_dir: Path


@pytest.fixture(scope="module")
def own_env(dev_env, tmp_path_factory) -> Namespaced:
    return Namespaced(client_in(dev_env, take_namespace()), tmp_path_factory.mktemp("projector-data"))


def orders_env(env: Namespaced, projections: Path | str) -> dict[str, str]:
    return {
        "TEMPORAL_ADDRESS": address_of(env),
        "TEMPORAL_NAMESPACE": env.client.namespace,
        "ORDERS_DATA_DIR": str(env.data_dir),
        "ORDERS_PROJECTIONS_DSN": str(projections),
    }


async def orders(env: Namespaced, projections: Path | str, *args: str) -> Ran:
    return await orders_in_process(orders_env(env, projections), *args)


def spawn_orders(env: Namespaced, projections: Path | str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [ORDERS_COMMAND, *args],
        env={**os.environ, **orders_env(env, projections)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def test_caught_up_the_report_is_the_fold_of_every_history_with_no_lag(own_env, tmp_path, unique, projections_at):
    client = own_env.client
    ledger = Ledger(tmp_path / "ledger.sqlite")
    async with open_shop(own_env, f"projector-{unique}", ledger) as shop:
        for order in (ORDER_001, ORDER_002, ORDER_003):
            await shop.place(renamed(order, unique))
        pending = await shop.start(one_line_order(f"PENDING-{unique}", "PROD-001", 1, "60000.00"))
        await wait_for_status(pending, OrderStatus.PAYMENT_PENDING)
        held = await shop.start(one_line_order(f"HELD-{unique}", "PROD-001", 1, "10.00", cancellation_window="PT1H"))
        await wait_for_status(held, OrderStatus.INVENTORY_RESERVED)
        await held.execute_update(OrderWorkflow.cancel_order, CancelOrder(reason="changed mind"))
        await held.result()
    projections = projections_at("projections")

    caught_up = await orders(own_env, projections, "projector", "--once")
    assert caught_up.returncode == 0, caught_up.stderr
    report = await orders(own_env, projections, "report", "--json")
    status = await orders(own_env, projections, "projector", "status", "--json")

    assert report.returncode == 0, report.stderr
    assert "From the read models" in report.stderr
    folded = await EventStore(client).summarize()
    assert json.loads(report.stdout) == json.loads(folded.model_dump_json())
    assert {model["name"]: model["orders_behind"] for model in json.loads(status.stdout)["read_models"]} == {
        "order_summaries": 0, "customer_totals": 0, "sales_per_day": 0, "validation_errors_by_code": 0,
    }  # fmt: skip
    assert all(
        model["events_behind"] == 0 and model["seconds_behind"] == 0
        for model in json.loads(status.stdout)["read_models"]
    )

    # A new order puts the read models behind, and the report says so and reads the histories.
    async with open_shop(own_env, f"projector-{unique}", ledger) as shop:
        await shop.place(one_line_order(f"LATER-{unique}", "PROD-001", 1, "10.00"))
    behind = await orders(own_env, projections, "report", "--json")
    assert "behind" in behind.stderr and "reading the histories instead" in behind.stderr
    assert json.loads(behind.stdout) == json.loads((await EventStore(client).summarize()).model_dump_json())


async def place_many(env: Namespaced, ledger: Ledger, task_queue: str, prefix: str, count: int) -> list:
    async with open_shop(env, task_queue, ledger) as shop:
        handles = await asyncio.gather(
            *(shop.start(one_line_order(f"{prefix}-{n}", "PROD-001", 1, "10.00")) for n in range(count))
        )
        await asyncio.gather(*(handle.result() for handle in handles))
        return handles


async def projector_killed_mid_batch(env: Namespaced, projections_at) -> Path | str:
    """The read models of an `orders projector --once` SIGKILLed after it applied some
    orders and before it finished its catch-up (tried again if it finished first)."""
    for attempt in range(5):
        projections = projections_at(f"killed-{attempt}")
        projector = spawn_orders(env, projections, "projector", "--once")

        async def applied_some(projector: subprocess.Popen = projector, projections=projections) -> bool | None:
            if projector.poll() is not None:
                return True
            try:
                return True if ReadModels(projections).order_count() > 0 else None
            except DatabaseError:
                return None

        await wait_until(applied_some, seconds=60, what="the projector to apply some orders")
        projector.send_signal(signal.SIGKILL)
        projector.wait(30)
        if projector.returncode == -signal.SIGKILL and ReadModels(projections).high_water() is None:
            return projections
    pytest.fail("the projector finished every time before it could be killed")


async def test_a_projector_killed_mid_batch_and_restarted_converges_to_a_rebuild(
    own_env, tmp_path, unique, projections_at
):
    ledger = Ledger(tmp_path / "ledger.sqlite")
    task_queue = f"projector-{unique}"
    await place_many(own_env, ledger, task_queue, f"MANY-{unique}", 200)
    async with open_shop(own_env, task_queue, ledger) as shop:
        pending = [await shop.start(one_line_order(f"WAITS-{unique}-{n}", "PROD-001", 1, "60000.00")) for n in range(3)]
        for handle in pending:
            await wait_for_status(handle, OrderStatus.PAYMENT_PENDING)

        projections = await projector_killed_mid_batch(own_env, projections_at)
        killed_at = ReadModels(projections).order_count()

        # Orders move on while it is down.
        for handle in pending[:2]:
            await handle.execute_update(OrderWorkflow.approve_payment, ApprovePayment(approver="finance"))
            await handle.result()

    restarted = await orders(own_env, projections, "projector", "--once")
    assert restarted.returncode == 0, restarted.stderr
    rebuilt_path = projections_at("rebuilt")
    rebuilt = await orders(own_env, rebuilt_path, "projector", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    converged, rebuild = contents(projections), contents(rebuilt_path)
    assert converged == rebuild
    assert 0 < killed_at < len(converged["order_summaries"])


async def test_a_running_projector_picks_up_new_orders_and_stops_on_sigterm(own_env, tmp_path, unique, projections_at):
    projections = projections_at("projections")
    projector = spawn_orders(own_env, projections, "projector", "--interval", "0.2")
    try:
        await asyncio.wait_for(asyncio.to_thread(projector.stdout.readline), 60)  # "Caught up ..."
        ledger = Ledger(tmp_path / "ledger.sqlite")
        await place_many(own_env, ledger, f"projector-{unique}", f"LIVE-{unique}", 1)
        final = (await EventStore(own_env.client).read_stream(f"LIVE-{unique}-0")).version

        async def projected() -> bool | None:
            stored = ReadModels(projections).checkpoint_of(f"LIVE-{unique}-0")
            return True if stored and stored.version == final and stored.closed else None

        await wait_until(projected, seconds=30, what="the running projector to apply the new order")
    finally:
        projector.send_signal(signal.SIGTERM)
        output, _ = projector.communicate(timeout=30)
    assert projector.returncode == 0, output
    assert "Stopped" in output


async def test_projectors_running_side_by_side_apply_each_event_once(own_env, tmp_path, unique, projections_at):
    """Three catch-ups at once over one database: each order's change is exclusive and
    checks the checkpoint it moves, so together they leave what one rebuild leaves."""
    ledger = Ledger(tmp_path / "ledger.sqlite")
    await place_many(own_env, ledger, f"projector-{unique}", f"SIDE-{unique}", 60)
    shared, alone = projections_at("shared"), projections_at("alone")
    results = await asyncio.gather(*(orders(own_env, shared, "projector", "--once") for _ in range(3)))
    assert all(result.returncode == 0 for result in results), [result.stderr for result in results]
    rebuilt = await orders(own_env, alone, "projector", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert contents(shared) == contents(alone)


async def test_read_models_of_another_namespace_are_refused_not_reported_as_current(own_env, tmp_path):
    """Built for another namespace, then asked for in this one at the same location: refused
    in one line naming both, by report and by health; a rebuild there starts them over."""
    other = take_namespace()
    target = tmp_path / "projections.sqlite"
    built = await orders_in_process({**orders_env(own_env, target), "TEMPORAL_NAMESPACE": other}, "projector", "--once")
    assert built.returncode == 0, built.stderr
    report = await orders(own_env, target, "report", "--json")
    assert report.returncode == 1, report.stdout + report.stderr
    this = own_env.client.namespace
    assert f"are those of namespace '{other}'" in report.stderr and f"not of '{this}'" in report.stderr, report.stderr
    assert report.stdout == "" and len(report.stderr.strip().splitlines()) == 1
    health = await orders(own_env, target, "health", "--json")
    reasons = json.loads(health.stdout)["reasons"]
    assert any(reason.startswith("read models unusable: ") and f"'{other}'" in reason for reason in reasons), reasons
    rebuilt = await orders(own_env, target, "projector", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert (await orders(own_env, target, "report", "--json")).returncode == 0


def rows_in(projections: Path | str, table: str) -> int | None:
    """A reader's count of `table`'s rows; None where the table is not there (yet)."""
    database = open_database(projections)
    try:
        return int(database.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    except DatabaseError:
        return None
    finally:
        database.close()


async def test_readers_see_the_old_read_models_until_a_rebuild_is_whole_and_a_killed_one_leaves_them(
    own_env, tmp_path, unique, projections_at
):
    projections = projections_at("rebuilt-while-read")
    await place_many(own_env, Ledger(tmp_path / "ledger.sqlite"), f"rebuild-{unique}", f"REBUILD-{unique}", 30)
    caught_up = await orders(own_env, projections, "projector", "--once")
    assert caught_up.returncode == 0, caught_up.stderr
    before = contents(projections)
    report = await orders(own_env, projections, "report", "--json")
    assert "From the read models" in report.stderr
    # Histories served slowly, so a rebuild is surely midway when it is looked at.
    proxy = await RefusingProxy(address_of(own_env), refused=(), delays={GET_HISTORY: 0.02}).start()
    slow = {**os.environ, **orders_env(own_env, projections), "TEMPORAL_ADDRESS": proxy.address}
    try:
        killed = subprocess.Popen([ORDERS_COMMAND, "projector", "rebuild"], env=slow, stderr=subprocess.DEVNULL)
        await wait_until(
            lambda: asyncio.sleep(0, (rows_in(projections, "order_summaries__rebuilding") or 0) >= 5),
            seconds=60,
            what="the rebuild to be midway",
        )
        killed.send_signal(signal.SIGKILL)
        await asyncio.to_thread(killed.wait)
        assert contents(projections) == before, "a killed rebuild leaves the read models serving"

        rebuilding = subprocess.Popen([ORDERS_COMMAND, "projector", "rebuild"], env=slow, stderr=subprocess.PIPE)
        seen = []
        while rebuilding.poll() is None:
            seen.append(rows_in(projections, "order_summaries"))
            await asyncio.sleep(0.05)
        assert rebuilding.returncode == 0, rebuilding.stderr.read() if rebuilding.stderr else ""
    finally:
        await proxy.stop()
    whole = len(before["order_summaries"])
    print(f"{len(seen)} reads during the rebuild, each of {set(seen)} order(s)")
    assert len(seen) >= 10 and set(seen) == {whole}, "never an empty or partial shop"
    assert contents(projections) == before
    assert rows_in(projections, "order_summaries__rebuilding") is None, "the rebuilt set took the old one's place"
    again = await orders(own_env, projections, "report", "--json")
    assert again.returncode == 0 and json.loads(again.stdout) == json.loads(report.stdout)
