"""The reads that walk every order, at two sizes of one shop: peak memory and time per order.

    python benchmarks/reads_at_scale.py                          # 10,000 then 40,000 orders
    python benchmarks/reads_at_scale.py --sizes 1000 4000
    python benchmarks/reads_at_scale.py --scratch DIR            # keep the shops in DIR (shop-N);
                                                                 # a later run measures them again
    python benchmarks/reads_at_scale.py --scratch DIR --record-only

One embedded dev server and one worker process (as `worker.py` runs it) record a day of
orders (scripts/day_of_orders.py: 1 in 100 fails validation, 1 in 250 waits for approval,
the rest ship) through `starter.py --file`, until the shop holds the first size. Then each
read runs as its own process, as a user runs it, and its peak resident memory (the
kernel's high-water mark of its own memory, VmHWM) and wall time are taken:

- `orders reconcile`: every stream against the ledger of side effects;
- `orders report`, folding every history (the read models pointed where there are none);
- `orders replay --query`: today's workflow code over every closed order;
- `orders projector rebuild`: the read models built afresh and swapped in;
- `orders export --output FILE`: every domain event as JSON Lines.

The next size's shop starts as a copy of this one and grows; the reads run again. The last table holds each
read's peak memory and time per order at the largest size against the smallest: a read
whose memory is bounded keeps the first near 1.00 x, however many orders there are.
"""

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from temporalio.client import Client

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from benchmarks.harness import Run, Workers, run, start_bench_server, table  # noqa: E402
from contract import TASK_QUEUE, WORKFLOW_TYPE  # noqa: E402
from programs import ExitCode, leave  # noqa: E402
from scripts.day_of_orders import a_day_of_orders  # noqa: E402

ORDERS_COMMAND = str(Path(sys.executable).parent / "orders")
READS = ("reconcile", "report (fold)", "replay --query", "projector rebuild", "export")


def reads(env: dict[str, str], scratch: Path) -> dict[str, list[str]]:
    """Each read as a user runs it; every one exits 0 or the run stops."""
    return {
        "reconcile": [ORDERS_COMMAND, "reconcile", "--json"],
        "report (fold)": [ORDERS_COMMAND, "report", "--json"],
        "replay --query": [ORDERS_COMMAND, "replay", "--query", "ExecutionStatus='Completed'"],
        "projector rebuild": [ORDERS_COMMAND, "projector", "rebuild"],
        "export": [ORDERS_COMMAND, "export", "--output", str(scratch / "export.jsonl")],
    }


async def grow(size: int, env: dict[str, str], scratch: Path, client: Client) -> None:
    """Record orders BENCH-DAY-(held+1) … BENCH-DAY-size; the starter returns once each
    has shipped, failed or started waiting for a person."""
    held = await orders_held(client)
    if held >= size:
        print(f"the shop holds {held} orders already", file=sys.stderr)
        return
    orders_file = scratch / f"orders-{held + 1}-{size}.jsonl"
    with orders_file.open("w") as out:
        for order in a_day_of_orders(size)[held:]:
            out.write(json.dumps(order) + "\n")
    workers = Workers.spawn("orders", TASK_QUEUE, 1, env)
    try:
        started = await asyncio.to_thread(
            run, [sys.executable, str(PROJECT / "starter.py"), "--file", str(orders_file), "--no-wait"], env
        )
    finally:
        workers.stop()
    print(f"recorded {size - held} orders in {started.seconds:.0f} s", file=sys.stderr)


async def orders_held(client: Client) -> int:
    return (await client.count_workflows(f"WorkflowType='{WORKFLOW_TYPE}'")).count


def measure(size: int, env: dict[str, str], scratch: Path) -> dict[str, Run]:
    no_read_models = {**env, "ORDERS_PROJECTIONS_DSN": str(scratch / "none" / "projections.sqlite")}
    done: dict[str, Run] = {}
    for name, command in reads(env, scratch).items():
        print(f"{size} orders: {name} …", file=sys.stderr)
        done[name] = run(command, no_read_models if name == "report (fold)" else env)
    if "From the read models" in done["report (fold)"].stderr:
        raise AssertionError("the report was to fold the histories, and read the read models")
    return done


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        scratch = args.scratch or Path(temporary)
        measured: dict[int, dict[str, Run]] = {}
        for size in sorted(args.sizes):
            shop = _shop(scratch, size)
            server, env = await start_bench_server(shop)
            try:
                await grow(size, env, shop, server.client)
                held = await orders_held(server.client)
                if not args.record_only:
                    measured[held] = await asyncio.to_thread(measure, held, env, shop)
            finally:
                await server.stop()
    if not measured:
        return
    print(f"{os.cpu_count()} cores; one embedded dev server; each read a process of its own\n")
    print(table([["read", "orders", "time", "ms an order", "peak MB"], *_rows(measured)]))
    print()
    print(table([["read", "peak MB, largest against smallest", "time an order"], *_ratios(measured)]))


def _shop(scratch: Path, size: int) -> Path:
    """The shop of `size` orders: kept from an earlier run, or grown from a copy of the
    largest smaller one (its server stopped), or new."""
    shop = scratch / f"shop-{size}"
    if not shop.exists():
        smaller = sorted((int(p.name.removeprefix("shop-")), p) for p in scratch.glob("shop-*") if p.is_dir())
        smaller = [(n, p) for n, p in smaller if n < size]
        if smaller:
            shutil.copytree(smaller[-1][1], shop)
    return shop


def _rows(measured: dict[int, dict[str, Run]]) -> list[list[object]]:
    return [
        [name, size, f"{done.seconds:.1f} s", f"{1000 * done.seconds / size:.2f}", f"{done.peak_mb:.0f}"]
        for name in READS
        for size, runs in measured.items()
        if (done := runs[name])
    ]


def _ratios(measured: dict[int, dict[str, Run]]) -> list[list[object]]:
    sizes = sorted(measured)
    (small, first), (large, last) = (sizes[0], measured[sizes[0]]), (sizes[-1], measured[sizes[-1]])
    return [
        [
            name,
            f"{last[name].peak_mb / first[name].peak_mb:.2f} x",
            f"{(last[name].seconds / large) / (first[name].seconds / small):.2f} x",
        ]
        for name in READS
    ]


def cli(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 40_000], metavar="N")
    parser.add_argument(
        "--scratch", type=Path, help="keep the shops here, shop-N for N orders (default: a directory of the run's own)"
    )
    parser.add_argument("--record-only", action="store_true", help="grow the shops; measure nothing")
    asyncio.run(main(parser.parse_args(argv)))
    leave(ExitCode.OK)


if __name__ == "__main__":
    cli()
