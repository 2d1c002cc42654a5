"""What sealing personal data costs an order: orders with a name, an email and an address
against the same orders without, side by side on one server and one worker.

    python benchmarks/personal_data.py [--orders 300] [--rounds 3]

An embedded dev server and one worker.py process; each round starts `--orders` orders
through starter.py (a process, which waits for them to settle) without personal data, then
as many with it (sealed by the starter under keys it makes, the first order of each
customer, in the key store), alternating so that drift hits both alike. Per order: the
history's bytes (protobuf, as the server gives it), the worker's CPU (user + system, read
from /proc), and the starter's orders a second (wall time, start to last settled). Medians
over rounds; the ratio is with / without.
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from temporalio.api.history.v1 import History  # noqa: E402
from temporalio.client import Client  # noqa: E402
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402

from benchmarks.harness import cpu_seconds, run, start_bench_server, table  # noqa: E402
from contract import TASK_QUEUE, workflow_id_for  # noqa: E402
from hosting import has_live_worker  # noqa: E402
from programs import ExitCode, leave  # noqa: E402

_MEASURED = (
    ("history bytes an order", ".0f"),
    ("worker CPU an order (ms)", ".2f"),
    ("starter: orders a second", ".1f"),
)
PERSON = {"name": "Ada Lovelace", "email": "ada@example.org", "address": "12 St James's Square, London SW1Y 4LE"}


def order_file(folder: Path, label: str, count: int, personal: bool) -> tuple[Path, list[str]]:
    ids = [f"PD-{label}-{n}" for n in range(count)]
    orders = [
        {
            "order_id": order_id,
            "customer_id": f"CUSTOMER-{n % 97}",
            "total_amount": "150.50",
            "items": [{"product_id": f"PROD-00{1 + n % 9}", "quantity": 2, "unit_price": "75.25"}],
            **({"personal": PERSON} if personal else {}),
        }
        for n, order_id in enumerate(ids)
    ]
    path = folder / f"{label}.json"
    path.write_text(json.dumps(orders))
    return path, ids


async def history_bytes(client: Client, order_ids: list[str]) -> float:
    sizes = []
    for order_id in order_ids:
        handle = client.get_workflow_handle(workflow_id_for(order_id))
        events = [event async for event in handle.fetch_history_events()]
        sizes.append(len(History(events=events).SerializeToString()))
    return statistics.mean(sizes)


async def measure(args: argparse.Namespace, scratch: Path) -> dict[str, list[tuple[float, float, float]]]:
    server, env = await start_bench_server(scratch)
    worker = subprocess.Popen(
        [sys.executable, str(PROJECT / "worker.py")],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = await Client.connect(env["TEMPORAL_ADDRESS"], data_converter=pydantic_data_converter)
    figures: dict[str, list[tuple[float, float, float]]] = {"without": [], "with": []}
    try:
        while not await has_live_worker(client, TASK_QUEUE):
            await asyncio.sleep(0.2)
        for round_number in range(args.rounds):
            for kind in ("without", "with"):
                path, ids = order_file(scratch, f"{kind}-{round_number}", args.orders, kind == "with")
                cpu_before, began = cpu_seconds(worker.pid), time.monotonic()
                run([sys.executable, str(PROJECT / "starter.py"), "--file", str(path), "--json"], env)
                wall, cpu = time.monotonic() - began, cpu_seconds(worker.pid) - cpu_before
                size = await history_bytes(client, ids[:50])
                figures[kind].append((size, 1000 * cpu / args.orders, args.orders / wall))
                print(f"round {round_number + 1}, {kind}: {args.orders / wall:.1f} orders/s", file=sys.stderr)
    finally:
        worker.terminate()
        worker.wait(30)
        await server.stop()
    return figures


def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as temporary:
        figures = asyncio.run(measure(args, Path(temporary)))
    medians = {
        kind: [statistics.median(column) for column in zip(*rounds, strict=True)] for kind, rounds in figures.items()
    }
    without, with_personal = medians["without"], medians["with"]
    rows = [
        [what, f"{without[i]:{spec}}", f"{with_personal[i]:{spec}}", f"{with_personal[i] / without[i]:.2f} x"]
        for i, (what, spec) in enumerate(_MEASURED)
    ]
    print(f"{args.orders} orders a round, {args.rounds} rounds, medians; one worker.py, one embedded server\n")
    print(table([["measured", "without personal data", "with", "ratio"], *rows]))


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    main(parser.parse_args())
    leave(ExitCode.OK)


if __name__ == "__main__":
    cli()
