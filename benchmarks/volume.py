"""Orders at volume, against Temporal's own floor, in one run on one server.

    python benchmarks/volume.py                      # the whole table: about ten minutes
    python benchmarks/volume.py --only floor,ours    # some rows of it

Everything runs on one embedded dev server (file SQLite, WAL) started for the run. The
workers run in processes of their own, as `worker.py` runs them, so their CPU is theirs.

- floor: a no-op workflow with the same four activities, on a default worker: what
  Temporal itself needs per order on this machine.
- ours: OrderWorkflow on the worker `worker.py` builds, with every lever on; then with
  each lever off in turn, to see what it is worth; and with 1 and 2 worker processes.
- before: the build before today's, which upserted every event into the memo
  (tests/replay/memo_carrier_build.py), on the same server in the same run.
- projector: an `orders projector` running all along (its cost to recording, and how soon
  each order's last event reaches the read models), and how soon visibility itself shows
  each order closed (the floor of any projector that polls it).
- paced: orders arriving at a steady rate the machine can take (--paced-rate), and how
  long each takes to be recorded, with and without an `orders projector` beside them;
  with the projector, how soon each order's last event reaches its read-model row, and
  how soon an order that starts waiting for approval (one in ten) shows as waiting.
- eager: the starter's in-process worker, with and without eager workflow start.
- starter: `starter.py --file` against a plain client, on as many orders each.
- report: `orders report`'s projection against fetching the same histories raw.
- memory: a worker's resident memory after 1,000 and after 5,000 orders.

Timings on a shared 2-core machine are noisy: read the ratios, each measured side by side
in the same run, and the medians over --rounds.
"""

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from temporalio.client import Client, WorkflowHandle  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

import hosting  # noqa: E402
from activities.ledger import LedgerDatabase  # noqa: E402
from activities.order_activities import OrderActivities  # noqa: E402
from benchmarks.floor import Floor, floor_step  # noqa: E402
from connection import load_settings  # noqa: E402
from connection.embedded_server import EmbeddedServer, free_local_port, start_embedded_server  # noqa: E402
from connection.temporal import connect  # noqa: E402
from contract import SEARCH_ATTRIBUTES, TASK_QUEUE, WORKFLOW_TYPE, search_attributes_at_start, workflow_id_for  # noqa: E402
from domain import OrderInput, OrderItem, OrderStatus  # noqa: E402
from eventstore import EventStore  # noqa: E402
from programs.exits import exit_now, wait_for_interrupt  # noqa: E402
from projections import ReadModels  # noqa: E402

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")
_SDK_DEFAULT_POLLERS = {"max_concurrent_workflow_task_polls": 5, "max_concurrent_activity_task_polls": 5}


# -- Worker processes ----------------------------------------------------------------------


async def serve(kind: str, task_queue: str, levers_off: Sequence[str]) -> None:
    """Run as a process of its own: one worker of `kind` until SIGTERM."""
    settings = load_settings()
    client = await connect(settings)
    if kind == "floor":
        worker = Worker(client, task_queue=task_queue, workflows=[Floor], activities=[floor_step])
    else:
        options = _levers_off(levers_off)
        worker = hosting.build_worker(
            client, task_queue, activities=_activities(levers_off, settings.ledger_path), **options
        )
    async with worker:
        print("ready", flush=True)
        await wait_for_interrupt()


def _activities(levers: Sequence[str], ledger_path: Path) -> OrderActivities:
    """The real activities over the SQLite ledger; with the `ledger` lever off, over
    gateways that answer at once from memory (what the ledger's own work costs)."""
    if "ledger" not in levers:
        return OrderActivities.over_ledger(ledger_path)
    from benchmarks.answering_gateways import (
        AnsweringFraudScreen,
        AnsweringInventory,
        AnsweringPayments,
        AnsweringShipping,
    )

    return OrderActivities(AnsweringPayments(), AnsweringInventory(), AnsweringShipping(), AnsweringFraudScreen())


def _levers_off(levers: Sequence[str]) -> dict[str, Any]:
    """Turn levers off in this worker process; the Worker options that go with them."""
    options: dict[str, Any] = {}
    if "fewer-round-trips" in levers:
        from benchmarks.variants import OrderWorkflowWithMoreRoundTrips

        options["workflows"] = [OrderWorkflowWithMoreRoundTrips]
    if "events-in-history" in levers:
        from tests.replay.memo_carrier_build import MemoCarrierOrderWorkflow

        options["workflows"] = [MemoCarrierOrderWorkflow]
    if "projection-clock" in levers:
        from benchmarks.variants import OrderWorkflowWithoutProjectionClock

        options["workflows"] = [OrderWorkflowWithoutProjectionClock]
    if "pollers" in levers:
        options.update(_SDK_DEFAULT_POLLERS)
    if "bytecode" in levers:
        sys.dont_write_bytecode = True
        hosting._cache_workflow_bytecode = lambda: None  # type: ignore[attr-defined]
        for cached in (PROJECT / "workflows" / "__pycache__").glob("order_workflow.*.pyc"):
            cached.unlink()
    if "ledger-connections" in levers:
        _open_a_connection_per_ledger_call()
    return options


def _open_a_connection_per_ledger_call() -> None:
    """The ledger as it was: a connection opened and closed per call, a sync per commit."""
    import sqlite3
    from contextlib import contextmanager

    @contextmanager
    def transaction(self: LedgerDatabase):  # type: ignore[no-untyped-def]
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        connection.execute("PRAGMA busy_timeout = 30000")
        try:
            connection.execute("BEGIN IMMEDIATE")
            yield connection
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        finally:
            connection.close()

    LedgerDatabase.transaction = transaction  # type: ignore[method-assign]


@dataclass
class Workers:
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    @classmethod
    def spawn(
        cls, kind: str, task_queue: str, count: int, env: dict[str, str], levers_off: Sequence[str] = ()
    ) -> "Workers":
        workers = cls()
        log = Path(env["ORDERS_DATA_DIR"]) / f"worker-{task_queue}.log"
        for _ in range(count):
            command = [sys.executable, __file__, "worker", "--kind", kind, "--task-queue", task_queue]
            command += [f"--lever-off={lever}" for lever in levers_off]
            with log.open("a") as errors:
                workers.processes.append(
                    subprocess.Popen(
                        command, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=errors, text=True
                    )
                )
        for process in workers.processes:
            assert process.stdout is not None
            while (line := process.stdout.readline()) and line.strip() != "ready":
                pass
            if not line:
                workers.stop()
                raise RuntimeError(f"a {kind} worker did not start: {log.read_text()[-2000:]}")
        return workers

    def cpu_seconds(self) -> float:
        return sum(_cpu_seconds(process.pid) for process in self.processes)

    def resident_mb(self) -> float:
        return sum(_resident_mb(process.pid) for process in self.processes)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            process.wait(60)


def _projector_cpu(runs: "Sequence[Figures]") -> str:
    cpu = statistics.median(figures.projector_cpu_ms for figures in runs)
    return f"projector {cpu:.1f}" if cpu else ""


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _resident_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE / 2**20


# -- Orders --------------------------------------------------------------------------------


async def start_bench_server(scratch: Path) -> tuple[EmbeddedServer, dict[str, str]]:
    """An embedded server of the run's own on `scratch`, its ledger stocked up, and the
    environment that points workers and commands at both."""
    address = f"127.0.0.1:{free_local_port()}"
    server = await start_embedded_server(address, "default", scratch, SEARCH_ATTRIBUTES)
    stock_up(scratch / "ledger.sqlite")
    return server, {"TEMPORAL_ADDRESS": address, "ORDERS_DATA_DIR": str(scratch)}


def stock_up(ledger_path: Path) -> None:
    """Stock enough of every product that each order measured takes the happy path: the
    seeded stock runs out after a few thousand orders, and orders cancelled for want of
    stock would be measured in their place."""
    with LedgerDatabase(ledger_path).transaction() as db:
        db.execute("UPDATE stock SET on_hand = 10000000")


def an_order(run: str, n: int, customer: str | None = None, *, waits: bool = False) -> OrderInput:
    """An order of the happy path: charged, reserved and shipped, four activities. One
    that `waits` is large enough to wait for a person's approval (after fraud screening)."""
    price = Decimal("30000.00") if waits else Decimal("75.25")
    return OrderInput(
        order_id=f"BENCH-{run}-{n}",
        customer_id=customer or f"CUSTOMER-{n % 97}",
        total_amount=2 * price,
        items=(OrderItem(product_id=f"PROD-00{1 + n % 9}", quantity=2, unit_price=price),),
    )


async def start_order(
    client: Client, order: OrderInput, task_queue: str, *, attributes: bool = True, eager: bool = False
) -> WorkflowHandle[Any, Any]:
    return await client.start_workflow(
        WORKFLOW_TYPE,
        order,
        id=workflow_id_for(order.order_id),
        task_queue=task_queue,
        search_attributes=search_attributes_at_start(order.customer_id, float(order.total_amount))
        if attributes
        else None,
        request_eager_start=eager,
    )


async def run_all(
    starts: Iterable[Awaitable[WorkflowHandle[Any, Any]]], in_flight: int
) -> list[WorkflowHandle[Any, Any]]:
    """Start, at most `in_flight` at a time, and wait for every result."""
    limit = asyncio.Semaphore(in_flight)

    async def one(start: Awaitable[WorkflowHandle[Any, Any]]) -> WorkflowHandle[Any, Any]:
        async with limit:
            handle = await start
            await handle.result()
            return handle

    return await asyncio.gather(*(one(start) for start in starts))


# -- Measurements --------------------------------------------------------------------------


@dataclass
class Figures:
    per_second: float
    worker_cpu_ms: float = 0.0
    server_cpu_ms: float = 0.0
    events: int = 0
    # Seconds from each order's last event to the projector's row for it.
    delays: list[float] = field(default_factory=list)
    projector_cpu_ms: float = 0.0


@dataclass
class Paced:
    durations: list[float]  # each order's start to its result, sorted
    delays: list[float]  # each order's last event to its read-model row, sorted
    # each waiting order's PaymentProcessed (Pending) to its row showing PaymentPending, sorted
    waiting_delays: list[float] = field(default_factory=list)

    @staticmethod
    def quantile(values: Sequence[float], q: float) -> float:
        return values[int(q * (len(values) - 1))] if values else 0.0


class Projector:
    """`orders projector` as a process of its own, polling every half second."""

    def __init__(self, process: subprocess.Popen[str], models: ReadModels) -> None:
        self.process, self.models = process, models
        self.cpu_at_start = _cpu_seconds(process.pid)

    interval = 0.5  # seconds between polls: --projector-interval

    @classmethod
    def spawn(cls, env: dict[str, str]) -> "Projector":
        path = Path(env["ORDERS_DATA_DIR"]) / "projections.sqlite"
        command = [str(Path(sys.executable).parent / "orders"), "projector", "--interval", str(cls.interval)]
        process = subprocess.Popen(
            command, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        assert process.stderr is not None
        while (line := process.stderr.readline()) and not line.startswith("Keeping"):
            pass
        return cls(process, ReadModels(path))

    async def delays(self, prefix: str, count: int, status: str | None = None) -> list[float]:
        """Once the projector has every order of the run (at `status`), how soon each one came."""
        deadline = time.monotonic() + 120
        while len(delays := self.models.delays(prefix, status)) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        return delays

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)


@dataclass
class Bench:
    client: Client
    server_pid: int
    env: dict[str, str]
    orders: int

    async def throughput(
        self,
        kind: str,
        *,
        processes: int = 1,
        levers_off: Sequence[str] = (),
        attributes: bool = True,
        projector: bool = False,
        watch_visibility: bool = False,
    ) -> Figures:
        """`orders` workflows in flight at once against fresh worker processes; with
        `projector`, an `orders projector` keeping read models current all along."""
        task_queue, run = f"bench-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:6]
        workers = Workers.spawn(kind, task_queue, processes, self.env, levers_off)
        projecting = Projector.spawn(self.env) if projector else None
        seen: dict[str, float] = {}
        watching = asyncio.create_task(self._watch_closings(run, seen)) if watch_visibility else None
        try:
            worker_cpu, server_cpu = workers.cpu_seconds(), _cpu_seconds(self.server_pid)
            started = time.monotonic()
            if kind == "floor":
                starts = (
                    self.client.start_workflow(Floor.run, f"{run}-{n}", id=f"floor-{run}-{n}", task_queue=task_queue)
                    for n in range(self.orders)
                )
            else:
                starts = (
                    start_order(self.client, an_order(run, n), task_queue, attributes=attributes)
                    for n in range(self.orders)
                )
            handles = await run_all(starts, self.orders)
            elapsed = time.monotonic() - started
            worker_cpu = workers.cpu_seconds() - worker_cpu
            server_cpu = _cpu_seconds(self.server_pid) - server_cpu
            delays = await projecting.delays(f"BENCH-{run}-", self.orders) if projecting else []
            projector_cpu = _cpu_seconds(projecting.process.pid) - projecting.cpu_at_start if projecting else 0.0
            if watching:
                delays = await self._closing_delays(run, seen)
        finally:
            if watching:
                watching.cancel()
            workers.stop()
            if projecting:
                projecting.stop()
        events = len([event async for event in handles[0].fetch_history_events()])
        n = self.orders
        return Figures(
            n / elapsed, 1000 * worker_cpu / n, 1000 * server_cpu / n, events, delays, 1000 * projector_cpu / n
        )

    async def paced(self, rate: float, count: int, *, projector: bool) -> "Paced":
        """`count` orders arriving at `rate` a second, below what the machine can take, and
        how long each takes to be recorded, from its start to its last event (its result);
        with `projector`, an `orders projector` keeping read models current all along, and
        one order in ten one that waits for approval."""
        task_queue, run = f"bench-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:6]
        workers = Workers.spawn("orders", task_queue, 1, self.env)
        projecting = Projector.spawn(self.env) if projector else None
        durations: list[float] = []
        waiting: list[WorkflowHandle[Any, Any]] = []

        async def one(n: int) -> None:
            if projecting and n % 10 == 9:
                waiting.append(await start_order(self.client, an_order(f"{run}w", n, waits=True), task_queue))
                return
            began = time.monotonic()
            handle = await start_order(self.client, an_order(run, n), task_queue)
            await handle.result()
            durations.append(time.monotonic() - began)

        try:
            arrivals, first = [], time.monotonic()
            for n in range(count):
                await asyncio.sleep(max(0.0, first + n / rate - time.monotonic()))
                arrivals.append(asyncio.create_task(one(n)))
            await asyncio.gather(*arrivals)
            delays = await projecting.delays(f"BENCH-{run}-", len(durations)) if projecting else []
            pending = OrderStatus.PAYMENT_PENDING.value
            waited = await projecting.delays(f"BENCH-{run}w-", len(waiting), pending) if projecting else []
        finally:
            await asyncio.gather(*(handle.terminate("measured") for handle in waiting))
            workers.stop()
            if projecting:
                projecting.stop()
        return Paced(sorted(durations), sorted(delays), sorted(waited))

    async def _watch_closings(self, run: str, seen: dict[str, float]) -> None:
        """Four times a second, when visibility first shows each order of the run closed:
        the floor of any projector that learns of changes from visibility."""
        query = f"WorkflowId STARTS_WITH 'order-BENCH-{run}-' AND ExecutionStatus != 'Running'"
        while True:
            async for execution in self.client.list_workflows(query):
                seen.setdefault(execution.id, time.time())
            await asyncio.sleep(0.25)

    async def _closing_delays(self, run: str, seen: dict[str, float]) -> list[float]:
        deadline = time.monotonic() + 60
        while len(seen) < self.orders and time.monotonic() < deadline:
            await asyncio.sleep(0.25)
        query = f"WorkflowId STARTS_WITH 'order-BENCH-{run}-'"
        closed = {
            execution.id: execution.close_time.timestamp()
            async for execution in self.client.list_workflows(query)
            if execution.close_time is not None
        }
        return [at - closed[id] for id, at in seen.items() if id in closed]

    async def eager(self, eager: bool, scratch: Path) -> Figures:
        """A worker in this process, as the starter runs one, with or without eager start."""
        task_queue, run = f"bench-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:6]
        activities = OrderActivities.over_ledger(scratch / "ledger.sqlite")
        async with hosting.build_worker(self.client, task_queue, activities=activities):
            started = time.monotonic()
            starts = (start_order(self.client, an_order(run, n), task_queue, eager=eager) for n in range(self.orders))
            await run_all(starts, self.orders)
            return Figures(self.orders / (time.monotonic() - started))


async def starter_against_client(bench: Bench, count: int, scratch: Path) -> tuple[Figures, Figures, str]:
    """starter.py --file, and a plain client, each with `count` orders, on one worker
    process serving `orders`. Returns also the customer of the client's orders."""
    run = uuid.uuid4().hex[:6]
    customer = f"REPORT-{run}"
    workers = Workers.spawn("orders", TASK_QUEUE, 1, bench.env)
    try:
        started = time.monotonic()
        starts = (start_order(bench.client, an_order(f"C{run}", n, customer), TASK_QUEUE) for n in range(count))
        await run_all(starts, 300)
        client = Figures(count / (time.monotonic() - started))

        orders_file = scratch / f"orders-{run}.jsonl"
        orders_file.write_text("".join(an_order(f"S{run}", n).model_dump_json() + "\n" for n in range(count)))
        started = time.monotonic()
        result = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, str(PROJECT / "starter.py"), "--file", str(orders_file), "--no-wait"],
            env={**os.environ, **bench.env},
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"starter.py failed: {result.stderr[-2000:]}")
        starter = Figures(count / (time.monotonic() - started))
    finally:
        workers.stop()
    return starter, client, customer


async def report_against_raw(client: Client, customer: str) -> tuple[Figures, Figures, int]:
    """The summary projection over an order set, against fetching the same histories raw."""
    store = EventStore(client)
    query = f"CustomerId='{customer}'"
    order_ids = [order_id async for order_id in store.order_ids(query)]
    limit = asyncio.Semaphore(8)  # the projection's own concurrency

    async def fetch(order_id: str) -> None:
        async with limit:
            await store.history(order_id)

    started = time.monotonic()
    await asyncio.gather(*(fetch(order_id) for order_id in order_ids))
    raw = Figures(len(order_ids) / (time.monotonic() - started))
    started = time.monotonic()
    summary = await store.summarize(query)
    report = Figures(summary.orders / (time.monotonic() - started))
    return report, raw, len(order_ids)


async def memory(bench: Bench, after: Sequence[int]) -> list[float]:
    """A worker process's resident memory after each count of orders, cumulatively."""
    task_queue, run = f"bench-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:6]
    workers = Workers.spawn("orders", task_queue, 1, bench.env)
    resident, done = [], 0
    try:
        for count in after:
            starts = (start_order(bench.client, an_order(run, n), task_queue) for n in range(done, count))
            await run_all(starts, 300)
            done = count
            await asyncio.sleep(2)  # let finished orders leave the worker's cache
            resident.append(workers.resident_mb())
    finally:
        workers.stop()
    return resident


# -- The table -----------------------------------------------------------------------------


def table(rows: Sequence[Sequence[object]]) -> str:
    widths = [max(len(str(row[column])) for row in rows) for column in range(len(rows[0]))]
    return "\n".join("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)


LEVERS = {
    "ledger": "with gateways answering at once from memory, no SQLite ledger",
    "events-in-history": "as the build before: each event upserted into the memo",
    "fewer-round-trips": "as the unversioned build, without local validation, start attributes, one upsert a task",
    "pollers": "with the SDK's default 5 pollers of each kind",
    "bytecode": "without cached bytecode for the workflow module",
    "ledger-connections": "with a ledger connection opened per call",
    "projection-clock": "as the unversioned build, without OrderVersion and OrderUpdatedAt published",
}


async def main(args: argparse.Namespace) -> None:
    only = set(args.only.split(",")) if args.only else None
    Projector.interval = args.projector_interval

    def wanted(name: str) -> bool:
        return only is None or name in only

    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        server, env = await start_bench_server(scratch)
        bench = Bench(server.client, server.process.pid, env, args.orders)
        rows: list[list[object]] = []
        lag_rows: list[list[object]] = []
        try:
            await Bench(server.client, server.process.pid, env, 20).throughput("orders")  # warm the server up
            measured: dict[str, list[Figures]] = {}
            variants: list[tuple[str, dict[str, Any]]] = [("floor", {"kind": "floor"}), ("ours", {"kind": "orders"})]
            if wanted("levers"):
                variants += [
                    (f"ours {text}", {"kind": "orders", "levers_off": [lever]}) for lever, text in LEVERS.items()
                ]
                variants.append(("ours without start attributes (client)", {"kind": "orders", "attributes": False}))
            if wanted("before"):
                before = {"kind": "orders", "levers_off": ["events-in-history"]}
                variants.append((f"ours {LEVERS['events-in-history']}", before))
            if wanted("ledger"):
                variants.append((f"ours {LEVERS['ledger']}", {"kind": "orders", "levers_off": ["ledger"]}))
            if wanted("processes"):
                variants.append(("ours, 2 worker processes", {"kind": "orders", "processes": 2}))
            if wanted("projector"):
                variants.append(("ours, projector running", {"kind": "orders", "projector": True}))
                variants.append(("ours, visibility watched", {"kind": "orders", "watch_visibility": True}))
            for round_number in range(args.rounds):
                # Each round starts one variant later: the server's database grows all run
                # long, and no variant should always come last.
                shift = round_number % len(variants)
                for name, options in variants[shift:] + variants[:shift]:
                    measured.setdefault(name, []).append(await bench.throughput(**options))
            floor = statistics.median(figures.per_second for figures in measured["floor"])
            for name, runs in measured.items():
                if delays := sorted(delay for figures in runs for delay in figures.delays):
                    lag_rows.append(
                        [
                            f"{name}: {'close to visibility' if 'visibility' in name else 'last event to read model'}",
                            f"median {statistics.median(delays):.2f} s",
                            f"p99 {delays[int(0.99 * (len(delays) - 1))]:.2f} s, max {delays[-1]:.2f} s",
                            _projector_cpu(runs), "", "",
                        ]
                    )  # fmt: skip
            for name, runs in measured.items():
                rate = statistics.median(figures.per_second for figures in runs)
                rows.append(
                    [
                        name,
                        f"{rate:.1f}",
                        f"{rate / floor:.2f} x floor",
                        f"{statistics.median(f.worker_cpu_ms for f in runs):.1f}",
                        f"{statistics.median(f.server_cpu_ms for f in runs):.1f}",
                        runs[0].events,
                    ]
                )
            rows += lag_rows
            if wanted("paced"):
                # Recording time of each order at a steady arrival rate the machine can
                # take, with and without a projector beside it, alternating.
                without: list[Paced] = []
                beside: list[Paced] = []
                for round_number in range(args.rounds):
                    pair = [False, True] if round_number % 2 == 0 else [True, False]
                    for projector_on in pair:
                        paced = await bench.paced(args.paced_rate, args.paced_orders, projector=projector_on)
                        (beside if projector_on else without).append(paced)
                for label, runs in (("no projector", without), ("projector running", beside)):
                    every = sorted(d for paced in runs for d in paced.durations)
                    rows.append(
                        [
                            f"recording an order at {args.paced_rate:g}/s, {label}",
                            f"median {1000 * statistics.median(every):.0f} ms",
                            f"p95 {1000 * Paced.quantile(every, 0.95):.0f} ms,"
                            f" p99 {1000 * Paced.quantile(every, 0.99):.0f} ms",
                            "", "", "",
                        ]
                    )  # fmt: skip
                alone = sorted(d for paced in without for d in paced.durations)
                shared = sorted(d for paced in beside for d in paced.durations)
                rows.append(
                    [
                        "  projector running / no projector",
                        f"{statistics.median(shared) / statistics.median(alone):.3f} x median",
                        f"{Paced.quantile(shared, 0.95) / Paced.quantile(alone, 0.95):.3f} x p95",
                        "", "", "",
                    ]
                )  # fmt: skip
                lags = sorted(d for paced in beside for d in paced.delays)
                waits = sorted(d for paced in beside for d in paced.waiting_delays)
                for label, values in (("last event to read-model row", lags), ("waiting to shown waiting", waits)):
                    rows.append(
                        [
                            f"  {label} at {args.paced_rate:g}/s ({len(values)} orders)",
                            f"median {statistics.median(values):.2f} s",
                            f"p99 {Paced.quantile(values, 0.99):.2f} s, max {values[-1]:.2f} s",
                            "", "", "",
                        ]
                    )  # fmt: skip
            if wanted("eager"):
                on, off = [], []
                for _ in range(args.rounds):
                    off.append((await bench.eager(False, scratch)).per_second)
                    on.append((await bench.eager(True, scratch)).per_second)
                rate_on, rate_off = statistics.median(on), statistics.median(off)
                rows.append(
                    [
                        "in-process worker, eager start",
                        f"{rate_on:.1f}",
                        f"{rate_on / rate_off:.2f} x without",
                        "",
                        "",
                        "",
                    ]
                )
            if wanted("starter") or wanted("report"):
                starter, client, customer = await starter_against_client(bench, args.starter_orders, scratch)
                rows.append(
                    [
                        f"starter.py --file, {args.starter_orders} orders",
                        f"{starter.per_second:.1f}",
                        f"{starter.per_second / client.per_second:.2f} x plain client ({client.per_second:.1f})",
                        "", "", "",
                    ]
                )  # fmt: skip
                if wanted("report"):
                    report, raw, count = await report_against_raw(server.client, customer)
                    rows.append(
                        [
                            f"orders report over {count} orders",
                            f"{report.per_second:.1f}",
                            f"{report.per_second / raw.per_second:.2f} x raw fetch ({raw.per_second:.1f})",
                            "", "", "",
                        ]
                    )  # fmt: skip
            if wanted("memory"):
                counts = [int(count) for count in args.memory.split(",")]
                resident = await memory(bench, counts)
                for count, megabytes in zip(counts, resident, strict=True):
                    rows.append(
                        [
                            f"worker memory after {count} orders",
                            f"{megabytes:.0f} MB",
                            f"{megabytes / resident[0]:.2f} x first",
                            "",
                            "",
                            "",
                        ]
                    )
            # Every order measured should have shipped; any other ending measured something else
            # (the paced run's orders that waited for approval are terminated once measured).
            # Visibility shows the last orders' ends a moment after their results: wait for it.
            query = f"WorkflowType='{WORKFLOW_TYPE}' AND OrderStatus!='Fulfilled' AND ExecutionStatus!='Terminated'"
            for _ in range(20):
                unshipped = await server.client.count_workflows(query)
                if unshipped.count == 0:
                    break
                await asyncio.sleep(0.5)
            async for execution in server.client.list_workflows(query):
                print(f"not Fulfilled: {execution.id} {execution.status} {execution.search_attributes}")
        finally:
            await server.stop()
        header = ["measured", "per second", "ratio", "worker CPU ms/order", "server CPU ms/order", "events/order"]
        print(f"{args.orders} orders in flight, medians of {args.rounds} round(s); {os.cpu_count()} cores\n")
        print(table([header, *rows]))
        print(f"\norders that did not end Fulfilled: {unshipped.count} (should be 0)")


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    worker = sub.add_parser("worker", help="(internal) one worker process")
    worker.add_argument("--kind", choices=["floor", "orders"], required=True)
    worker.add_argument("--task-queue", required=True)
    worker.add_argument("--lever-off", action="append", default=[], choices=list(LEVERS))
    parser.add_argument("--orders", type=int, default=300, help="orders in flight at once (default 300)")
    parser.add_argument("--rounds", type=int, default=2, help="measurements of each kind (default 2)")
    parser.add_argument("--starter-orders", type=int, default=2000, help="orders for starter and client (default 2000)")
    parser.add_argument("--memory", default="1000,5000", help="order counts to read memory after (default 1000,5000)")
    parser.add_argument(
        "--only",
        help="comma-separated: before, ledger, levers, processes, projector, paced, eager, starter, report, memory",
    )
    parser.add_argument("--paced-rate", type=float, default=10, help="orders a second for paced (default 10)")
    parser.add_argument(
        "--projector-interval", type=float, default=0.5, help="the projector's seconds between polls (default 0.5)"
    )
    parser.add_argument("--paced-orders", type=int, default=300, help="orders each paced run (default 300)")
    args = parser.parse_args()
    if args.command == "worker":
        asyncio.run(serve(args.kind, args.task_queue, args.lever_off))
    else:
        asyncio.run(main(args))
    exit_now(0)


if __name__ == "__main__":
    cli()
