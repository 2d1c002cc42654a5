"""Orders at volume, against Temporal's own floor, in one run on one server.

    python benchmarks/volume.py                      # the whole table: about ten minutes
    python benchmarks/volume.py --only floor,ours    # some rows of it

Everything runs on one embedded dev server (file SQLite, WAL) started for the run. The
workers run in processes of their own, as `worker.py` runs them, so their CPU is theirs.

- floor: a no-op workflow with the same four activities, on a default worker: what
  Temporal itself needs per order on this machine.
- ours: OrderWorkflow on the worker `worker.py` builds, with every lever on; then with
  each lever off in turn, to see what it is worth; and with 1 and 2 worker processes.
- postgres: ours with the ledger in PostgreSQL (ORDERS_LEDGER, as a fleet of workers on
  several hosts shares it), on a PostgreSQL server started for the run, beside the SQLite
  ledger of `ours`.
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

The harness (benchmarks/harness.py) starts the server, the worker processes and the
projector; each lever is an option handed to a worker process.

Timings on a shared 2-core machine are noisy: read the ratios, each measured side by side
in the same run, and the medians over --rounds.
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from temporalio.client import Client, WorkflowHandle  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

import hosting  # noqa: E402
from activities import OrderActivities  # noqa: E402
from benchmarks.floor import Floor, floor_step  # noqa: E402
from benchmarks.harness import (  # noqa: E402
    Figures,
    Projector,
    Workers,
    an_order,
    cpu_seconds,
    quantile,
    run_all,
    spread,
    start_bench_server,
    stock_up,
    table,
)
from benchmarks.postgres import local_postgres, new_database  # noqa: E402
from client import start_order  # noqa: E402
from connection import (  # noqa: E402
    Settings,
    connect,
    load_settings,
)
from contract import TASK_QUEUE, WORKFLOW_TYPE  # noqa: E402
from domain import OrderStatus  # noqa: E402
from eventstore import EventStore  # noqa: E402
from programs import ExitCode, Way, leave, run_program, until_stopped  # noqa: E402

_SDK_DEFAULT_POLLERS = {"max_concurrent_workflow_task_polls": 5, "max_concurrent_activity_task_polls": 5}
Row = list[object]


# -- Worker processes and their levers -----------------------------------------------------


async def serve(settings: Settings, kind: str, task_queue: str, levers_off: Sequence[str]) -> int:
    """Run as a process of its own: one worker of `kind` until SIGTERM."""
    client = await connect(settings)
    if kind == "floor":
        worker = Worker(client, task_queue=task_queue, workflows=[Floor], activities=[floor_step])
    else:
        options = _levers_off(levers_off)
        _bytecode(levers_off, settings.bytecode_cache)
        worker = hosting.build_worker(
            client, task_queue, activities=_activities(levers_off, settings.ledger), **options
        )
    async with worker:
        print("ready", flush=True)
        await until_stopped()
    return ExitCode.OK


def _activities(levers: Sequence[str], ledger: Path | str) -> OrderActivities:
    """The real activities over the ledger (SQLite, or ORDERS_LEDGER's PostgreSQL); with the
    `ledger` lever off, over gateways that answer at once from memory (what the ledger's own work costs)."""
    if "ledger" not in levers:
        return OrderActivities.over_ledger(ledger)
    from benchmarks.answering_gateways import (
        AnsweringFraudScreen,
        AnsweringInventory,
        AnsweringPayments,
        AnsweringShipping,
    )

    return OrderActivities(AnsweringPayments(), AnsweringInventory(), AnsweringShipping(), AnsweringFraudScreen())


def _levers_off(levers: Sequence[str]) -> dict[str, Any]:
    """The Worker options that turn levers off in this worker process."""
    options: dict[str, Any] = {}
    if "pollers" in levers:
        options.update(_SDK_DEFAULT_POLLERS)
    return options


def _bytecode(levers: Sequence[str], cache: Path) -> None:
    """The workflow modules' bytecode kept under `cache`, as worker.py keeps it; with the
    `bytecode` lever off, none written and none read (bytecode looked for in an empty place)."""
    if "bytecode" in levers:
        sys.dont_write_bytecode = True
        sys.pycache_prefix = tempfile.mkdtemp(prefix="no-bytecode-")
    else:
        hosting.keep_workflow_bytecode(cache)


# -- Measurements --------------------------------------------------------------------------


@dataclass
class Paced:
    durations: list[float]  # each order's start to its result
    delays: list[float]  # each order's last event to its read-model row
    # each waiting order's PaymentProcessed (Pending) to its row showing PaymentPending
    waiting_delays: list[float] = field(default_factory=list)


@dataclass
class Bench:
    client: Client
    server_pid: int
    env: dict[str, str]
    orders: int
    postgres_ledger: str | None = None  # a PostgreSQL ledger's DSN, when the run measures one

    async def throughput(
        self,
        kind: str,
        *,
        processes: int = 1,
        levers_off: Sequence[str] = (),
        attributes: bool = True,
        projector: bool = False,
        watch_visibility: bool = False,
        postgres_ledger: bool = False,
    ) -> Figures:
        """`orders` workflows in flight at once against fresh worker processes; with
        `projector`, an `orders projector` keeping read models current all along; with
        `postgres_ledger`, the workers' ledger in PostgreSQL."""
        task_queue, run = f"bench-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:6]
        env = (
            {**self.env, "ORDERS_LEDGER": self.postgres_ledger}
            if postgres_ledger and self.postgres_ledger
            else self.env
        )
        workers = Workers.spawn(kind, task_queue, processes, env, levers_off)
        projecting = Projector.spawn(self.env) if projector else None
        seen: dict[str, float] = {}
        watching = asyncio.create_task(self._watch_closings(run, seen)) if watch_visibility else None
        try:
            worker_cpu, server_cpu = workers.cpu_seconds(), cpu_seconds(self.server_pid)
            started = time.monotonic()
            if kind == "floor":
                starts = (
                    self.client.start_workflow(Floor.run, f"{run}-{n}", id=f"floor-{run}-{n}", task_queue=task_queue)
                    for n in range(self.orders)
                )
            else:
                starts = (
                    start_order(self.client, an_order(run, n), task_queue=task_queue, search_attributes=attributes)
                    for n in range(self.orders)
                )
            handles = await run_all(starts, self.orders)
            elapsed = time.monotonic() - started
            worker_cpu = workers.cpu_seconds() - worker_cpu
            server_cpu = cpu_seconds(self.server_pid) - server_cpu
            delays = await projecting.delays(f"BENCH-{run}-", self.orders) if projecting else []
            projector_cpu = cpu_seconds(projecting.process.pid) - projecting.cpu_at_start if projecting else 0.0
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
                waiting.append(
                    await start_order(self.client, an_order(f"{run}w", n, waits=True), task_queue=task_queue)
                )
                return
            began = time.monotonic()
            handle = await start_order(self.client, an_order(run, n), task_queue=task_queue)
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
        return Paced(durations, delays, waited)

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
            starts = (
                start_order(self.client, an_order(run, n), task_queue=task_queue, eager=eager)
                for n in range(self.orders)
            )
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
        starts = (start_order(bench.client, an_order(f"C{run}", n, customer)) for n in range(count))
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
            starts = (start_order(bench.client, an_order(run, n), task_queue=task_queue) for n in range(done, count))
            await run_all(starts, 300)
            done = count
            await asyncio.sleep(2)  # let finished orders leave the worker's cache
            resident.append(workers.resident_mb())
    finally:
        workers.stop()
    return resident


# -- Scenarios -----------------------------------------------------------------------------


LEVERS = {
    "ledger": "with gateways answering at once from memory, no SQLite ledger",
    "pollers": "with the SDK's default 5 pollers of each kind",
    "bytecode": "without cached bytecode for the workflow modules",
}


def _variants(wanted: set[str] | None) -> list[tuple[str, dict[str, Any]]]:
    def chosen(name: str) -> bool:
        return wanted is None or name in wanted

    variants: list[tuple[str, dict[str, Any]]] = [("floor", {"kind": "floor"}), ("ours", {"kind": "orders"})]
    if chosen("levers"):
        variants += [(f"ours {text}", {"kind": "orders", "levers_off": [lever]}) for lever, text in LEVERS.items()]
        variants.append(("ours without start attributes (client)", {"kind": "orders", "attributes": False}))
    if chosen("ledger"):
        variants.append((f"ours {LEVERS['ledger']}", {"kind": "orders", "levers_off": ["ledger"]}))
    if chosen("postgres"):
        variants.append(("ours, ledger in PostgreSQL", {"kind": "orders", "postgres_ledger": True}))
    if chosen("processes"):
        variants.append(("ours, 2 worker processes", {"kind": "orders", "processes": 2}))
    if chosen("projector"):
        variants.append(("ours, projector running", {"kind": "orders", "projector": True}))
        variants.append(("ours, visibility watched", {"kind": "orders", "watch_visibility": True}))
    return variants


async def throughput_rows(bench: "Bench", wanted: set[str] | None, rounds: int) -> list[Row]:
    """Each variant side by side with the floor, in rounds that each start one variant
    later: the server's database grows all run long, and no variant should always come last."""
    variants = _variants(wanted)
    measured: dict[str, list[Figures]] = {}
    for round_number in range(rounds):
        shift = round_number % len(variants)
        for name, options in variants[shift:] + variants[:shift]:
            measured.setdefault(name, []).append(await bench.throughput(**options))
    floor = statistics.median(figures.per_second for figures in measured["floor"])
    rows: list[Row] = []
    for name, runs in measured.items():
        rate = statistics.median(figures.per_second for figures in runs)
        worker_cpu = statistics.median(f.worker_cpu_ms for f in runs)
        server_cpu = statistics.median(f.server_cpu_ms for f in runs)
        rows.append(
            [
                name,
                f"{rate:.1f}",
                f"{rate / floor:.2f} x floor",
                f"{worker_cpu:.1f}",
                f"{server_cpu:.1f}",
                runs[0].events,
            ]
        )
    for name, runs in measured.items():
        if delays := [delay for figures in runs for delay in figures.delays]:
            what = "close to visibility" if "visibility" in name else "last event to read model"
            projector_cpu = statistics.median(figures.projector_cpu_ms for figures in runs)
            rows.append(
                [f"{name}: {what}", *spread(delays), f"projector {projector_cpu:.1f}" if projector_cpu else "", "", ""]
            )
    return rows


async def paced_rows(bench: "Bench", rate: float, orders: int, rounds: int) -> list[Row]:
    """Recording time of each order at a steady arrival rate the machine can take, with
    and without a projector beside it, alternating."""
    without: list[Paced] = []
    beside: list[Paced] = []
    for round_number in range(rounds):
        for projector_on in [False, True] if round_number % 2 == 0 else [True, False]:
            paced = await bench.paced(rate, orders, projector=projector_on)
            (beside if projector_on else without).append(paced)
    alone = [d for paced in without for d in paced.durations]
    shared = [d for paced in beside for d in paced.durations]
    rows: list[Row] = []
    for label, every in (("no projector", alone), ("projector running", shared)):
        p95, p99 = 1000 * quantile(every, 0.95), 1000 * quantile(every, 0.99)
        median = 1000 * statistics.median(every)
        rows.append(
            [
                f"recording an order at {rate:g}/s, {label}",
                f"median {median:.0f} ms",
                f"p95 {p95:.0f} ms, p99 {p99:.0f} ms",
                "",
                "",
                "",
            ]
        )
    ratio = statistics.median(shared) / statistics.median(alone)
    rows.append(
        [
            "  projector running / no projector",
            f"{ratio:.3f} x median",
            f"{quantile(shared, 0.95) / quantile(alone, 0.95):.3f} x p95",
            "",
            "",
            "",
        ]
    )
    lags = [d for paced in beside for d in paced.delays]
    waits = [d for paced in beside for d in paced.waiting_delays]
    for label, values in (("last event to read-model row", lags), ("waiting to shown waiting", waits)):
        rows.append([f"  {label} at {rate:g}/s ({len(values)} orders)", *spread(values), "", "", ""])
    return rows


async def eager_rows(bench: "Bench", scratch: Path, rounds: int) -> list[Row]:
    on, off = [], []
    for _ in range(rounds):
        off.append((await bench.eager(False, scratch)).per_second)
        on.append((await bench.eager(True, scratch)).per_second)
    rate_on, rate_off = statistics.median(on), statistics.median(off)
    return [["in-process worker, eager start", f"{rate_on:.1f}", f"{rate_on / rate_off:.2f} x without", "", "", ""]]


async def starter_rows(bench: "Bench", orders: int, scratch: Path, with_report: bool) -> list[Row]:
    starter, client, customer = await starter_against_client(bench, orders, scratch)
    ratio = f"{starter.per_second / client.per_second:.2f} x plain client ({client.per_second:.1f})"
    rows: list[Row] = [[f"starter.py --file, {orders} orders", f"{starter.per_second:.1f}", ratio, "", "", ""]]
    if with_report:
        report, raw, count = await report_against_raw(bench.client, customer)
        ratio = f"{report.per_second / raw.per_second:.2f} x raw fetch ({raw.per_second:.1f})"
        rows.append([f"orders report over {count} orders", f"{report.per_second:.1f}", ratio, "", "", ""])
    return rows


async def memory_rows(bench: "Bench", counts: Sequence[int]) -> list[Row]:
    resident = await memory(bench, counts)
    return [
        [
            f"worker memory after {count} orders",
            f"{megabytes:.0f} MB",
            f"{megabytes / resident[0]:.2f} x first",
            "",
            "",
            "",
        ]
        for count, megabytes in zip(counts, resident, strict=True)
    ]


async def unshipped(client: Client) -> int:
    """Orders measured that did not ship: any other ending measured something else (the
    paced run's orders that waited for approval are terminated once measured). Visibility
    shows the last orders' ends a moment after their results: wait for it."""
    query = f"WorkflowType='{WORKFLOW_TYPE}' AND OrderStatus!='Fulfilled' AND ExecutionStatus!='Terminated'"
    for _ in range(20):
        if (await client.count_workflows(query)).count == 0:
            return 0
        await asyncio.sleep(0.5)
    async for execution in client.list_workflows(query):
        print(f"not Fulfilled: {execution.id} {execution.status} {execution.search_attributes}")
    return (await client.count_workflows(query)).count


async def main(args: argparse.Namespace) -> None:
    wanted = set(args.only.split(",")) if args.only else None
    Projector.interval = args.projector_interval
    with tempfile.TemporaryDirectory() as scratch_dir, ExitStack() as postgres:
        scratch = Path(scratch_dir)
        server, env = await start_bench_server(scratch)
        bench = Bench(server.client, server.process.pid, env, args.orders)
        if wanted is None or "postgres" in wanted:
            bench.postgres_ledger = new_database(postgres.enter_context(local_postgres()), "bench_ledger")
            stock_up(bench.postgres_ledger)
        try:
            await Bench(server.client, server.process.pid, env, 20).throughput("orders")  # warm the server up
            rows = await throughput_rows(bench, wanted, args.rounds)
            if wanted is None or "paced" in wanted:
                rows += await paced_rows(bench, args.paced_rate, args.paced_orders, args.rounds)
            if wanted is None or "eager" in wanted:
                rows += await eager_rows(bench, scratch, args.rounds)
            if wanted is None or wanted & {"starter", "report"}:
                rows += await starter_rows(bench, args.starter_orders, scratch, wanted is None or "report" in wanted)
            if wanted is None or "memory" in wanted:
                rows += await memory_rows(bench, [int(count) for count in args.memory.split(",")])
            not_shipped = await unshipped(server.client)
        finally:
            await server.stop()
    header = ["measured", "per second", "ratio", "worker CPU ms/order", "server CPU ms/order", "events/order"]
    print(f"{args.orders} orders in flight, medians of {args.rounds} round(s); {os.cpu_count()} cores\n")
    print(table([header, *rows]))
    print(f"\norders that did not end Fulfilled: {not_shipped} (should be 0)")


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
        help="comma-separated: ledger, postgres, levers, processes, projector, paced, eager, starter, report, memory",
    )
    parser.add_argument("--paced-rate", type=float, default=10, help="orders a second for paced (default 10)")
    parser.add_argument(
        "--projector-interval", type=float, default=0.5, help="the projector's seconds between polls (default 0.5)"
    )
    parser.add_argument("--paced-orders", type=int, default=300, help="orders each paced run (default 300)")
    args = parser.parse_args()
    if args.command == "worker":
        way = Way(say=lambda line: print(line, file=sys.stderr), on_signal=ExitCode.OK)
        leave(
            run_program(
                lambda settings: serve(settings, args.kind, args.task_queue, args.lever_off),
                lambda: nullcontext(load_settings()),
                way,
            )
        )
    asyncio.run(main(args))
    leave(ExitCode.OK)


if __name__ == "__main__":
    cli()
