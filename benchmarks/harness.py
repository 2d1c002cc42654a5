"""The benchmark harness: a server of the run's own, worker processes whose CPU is theirs,
orders of the happy path started through the client door, an `orders projector` beside
them, and what the scenarios report (figures, quantiles, a table).

The scenarios (benchmarks/volume.py, benchmarks/report.py, ...) compose these; a lever is
an option handed to a worker process (another workflow class, other activities, other
poller counts), never a patch of production code.
"""

import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from temporalio.client import WorkflowHandle

from activities import LedgerDatabase
from connection import EmbeddedServer, free_local_port, start_embedded_server
from contract import SEARCH_ATTRIBUTES
from domain import OrderInput, OrderItem
from storage import open_database

PROJECT = Path(__file__).resolve().parents[1]
_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0 < q < 1) of `values`, by the standard library's inclusive method."""
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 1000) - 1]


def spread(values: Sequence[float], scale: float = 1.0, unit: str = "s", digits: int = 2) -> tuple[str, str]:
    """`median M`, and `p99 P, max X`, of `values` times `scale`."""

    def shown(value: float) -> str:
        return f"{scale * value:.{digits}f} {unit}"

    return (
        f"median {shown(statistics.median(values))}",
        f"p99 {shown(quantile(values, 0.99))}, max {shown(max(values))}",
    )


# -- Worker processes ----------------------------------------------------------------------


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
            command = [
                sys.executable,
                str(PROJECT / "benchmarks" / "volume.py"),
                "worker",
                "--kind",
                kind,
                "--task-queue",
                task_queue,
            ]
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
            # Read what it writes from now on (the SDK core's warnings go to stdout): a pipe
            # nobody reads fills, and the core's thread writing to it blocks the worker.
            threading.Thread(target=_copy, args=(process.stdout, log), daemon=True).start()
        return workers

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(process.pid) for process in self.processes)

    def resident_mb(self) -> float:
        return sum(resident_mb(process.pid) for process in self.processes)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            process.wait(60)


def _copy(output: IO[str], log: Path) -> None:
    with log.open("a") as kept:
        for line in output:
            kept.write(line)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def resident_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE / 2**20


class _PeakWatch:
    """A process's peak resident memory, as its own memory's high-water mark (VmHWM) last
    read before it ended, every 10 ms. Not wait4's ru_maxrss: a child's counts the memory
    of the process that forked it (here, the benchmark's own), which it inherits on exec."""

    def __init__(self, pid: int) -> None:
        self._status = Path(f"/proc/{pid}/status")
        self._peak_kb = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.is_set():
            with contextlib.suppress(OSError):
                for line in self._status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        self._peak_kb = max(self._peak_kb, int(line.split()[1]))
            self._done.wait(0.01)

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return self._peak_kb / 1024


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mb: float
    stdout: str
    stderr: str


def run(command: list[str], env: dict[str, str]) -> Run:
    """One command to its end, with its wall time and its peak resident memory."""
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        started = time.monotonic()
        process = subprocess.Popen(command, env={**os.environ, **env}, stdout=stdout, stderr=stderr, text=True)
        peak = _PeakWatch(process.pid)
        _, status, _ = os.wait4(process.pid, 0)
        seconds = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        done = Run(seconds, peak.stop(), stdout.read(), stderr.read())
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {process.returncode}: {done.stderr[-2000:]}")
    return done


# -- Orders --------------------------------------------------------------------------------


async def start_bench_server(scratch: Path) -> tuple[EmbeddedServer, dict[str, str]]:
    """An embedded server of the run's own on `scratch`, its ledger stocked up, and the
    environment that points workers and commands at both."""
    address = f"127.0.0.1:{free_local_port()}"
    server = await start_embedded_server(address, "default", scratch, SEARCH_ATTRIBUTES)
    stock_up(scratch / "ledger.sqlite")
    return server, {"TEMPORAL_ADDRESS": address, "ORDERS_DATA_DIR": str(scratch)}


def stock_up(ledger: Path | str) -> None:
    """Stock enough of every product that each order measured takes the happy path: the
    seeded stock runs out after a few thousand orders, and orders cancelled for want of
    stock would be measured in their place."""
    database = LedgerDatabase(ledger)
    try:
        with database.transaction() as db:
            db.execute("UPDATE stock SET on_hand = 10000000")
    finally:
        database.close()


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


class Projector:
    """`orders projector` as a process of its own, polling every half second."""

    def __init__(self, process: subprocess.Popen[str], read_models: Path) -> None:
        self.process, self.read_models = process, read_models
        self.cpu_at_start = cpu_seconds(process.pid)

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
        log = Path(env["ORDERS_DATA_DIR"]) / "projector.log"
        threading.Thread(target=_copy, args=(process.stderr, log), daemon=True).start()
        return cls(process, path)

    async def delays(self, prefix: str, count: int, status: str | None = None) -> list[float]:
        """Once the projector has every order of the run (at `status`), how soon each one came."""
        deadline = time.monotonic() + 120
        while len(delays := self._delays(prefix, status)) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        return delays

    def _delays(self, prefix: str, status: str | None) -> list[float]:
        """Seconds from each matching order's latest event to its row being written."""
        query = "SELECT updated_at, applied_at FROM order_summaries WHERE order_id LIKE ? AND updated_at IS NOT NULL"
        arguments: tuple[str, ...] = (f"{prefix}%",)
        if status is not None:
            query, arguments = query + " AND status = ?", (*arguments, status)
        db = open_database(self.read_models, read_only=True)
        try:
            rows = db.execute(query, arguments).fetchall()
        finally:
            db.close()
        return [
            (datetime.fromisoformat(applied) - datetime.fromisoformat(updated)).total_seconds()
            for updated, applied in rows
        ]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)


# -- The table -----------------------------------------------------------------------------


def row(*cells: object, width: int = 6) -> list[object]:
    """A row of the table, blank where a measurement has no figure for a column."""
    return [*cells, *[""] * (width - len(cells))]


def table(rows: Sequence[Sequence[object]]) -> str:
    widths = [max(len(str(row[column])) for row in rows) for column in range(len(rows[0]))]
    return "\n".join("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows)
