"""`orders report` over many orders: from the read models against folding every history,
both through the real command, in one run on one server.

    python benchmarks/report.py                  # 10,000 orders: about fifteen minutes
    python benchmarks/report.py --orders 1000

One embedded dev server and one worker process (as `worker.py` runs it) record the orders;
`orders projector --once` builds the read models from zero; then `orders report --json`
runs alternately from the read models and, with ORDERS_PROJECTIONS_DSN pointing where
there are none, from the histories. Both answers must be the same summary.
"""

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from benchmarks.harness import Workers, an_order, run, start_bench_server, table  # noqa: E402
from contract import TASK_QUEUE, WORKFLOW_TYPE  # noqa: E402
from programs import ExitCode, leave  # noqa: E402

ORDERS_COMMAND = str(Path(sys.executable).parent / "orders")


def record(count: int, env: dict[str, str], scratch: Path) -> None:
    orders_file = scratch / "orders.jsonl"
    orders_file.write_text("".join(an_order("REPORT", n).model_dump_json() + "\n" for n in range(count)))
    started = run([sys.executable, str(PROJECT / "starter.py"), "--file", str(orders_file), "--no-wait"], env)
    print(f"started {count} orders in {started.seconds:.0f} s", file=sys.stderr)


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        server, env = await start_bench_server(scratch)
        workers = Workers.spawn("orders", TASK_QUEUE, 1, env)
        rows: list[list[object]] = []
        try:
            await asyncio.to_thread(record, args.orders, env, scratch)
            running = f"WorkflowType='{WORKFLOW_TYPE}' AND ExecutionStatus='Running'"
            while (left := (await server.client.count_workflows(running)).count) > 0:
                print(f"\r{left} orders still running   ", end="", file=sys.stderr)
                await asyncio.sleep(2)
            print(file=sys.stderr)
            workers.stop()

            built = run([ORDERS_COMMAND, "projector", "--once"], env)
            rows.append(
                [
                    "orders projector --once (read models built from zero)",
                    f"{built.seconds:.1f} s",
                    "",
                    f"{built.peak_mb:.0f}",
                ]
            )
            from_models, from_histories = [], []
            no_read_models = {**env, "ORDERS_PROJECTIONS_DSN": str(scratch / "none" / "projections.sqlite")}
            for _ in range(args.rounds):
                from_models.append(run([ORDERS_COMMAND, "report", "--json"], env))
                from_histories.append(run([ORDERS_COMMAND, "report", "--json"], no_read_models))
            assert all("From the read models" in done.stderr for done in from_models), from_models[0].stderr
            assert all("From the read models" not in done.stderr for done in from_histories)
            answers = {done.stdout for done in from_models + from_histories}
            if len(answers) != 1:
                raise AssertionError("the read models and the histories gave different reports")
            models = statistics.median(done.seconds for done in from_models)
            histories = statistics.median(done.seconds for done in from_histories)
            peak_models = max(done.peak_mb for done in from_models)
            peak_histories = max(done.peak_mb for done in from_histories)
            rows.append(
                [
                    f"orders report --json, from the read models ({args.orders} orders)",
                    f"{models:.2f} s",
                    "",
                    f"{peak_models:.0f}",
                ]
            )
            rows.append(
                [
                    f"orders report --json, folding {args.orders} histories",
                    f"{histories:.2f} s",
                    f"{histories / models:.0f}x the read models' time",
                    f"{peak_histories:.0f}",
                ]
            )
            rows.append(["the two reports", "identical", f"one answer over {2 * args.rounds} runs", ""])
        finally:
            workers.stop()
            await server.stop()
        print(f"{args.orders} orders, medians of {args.rounds} round(s); {os.cpu_count()} cores\n")
        print(table([["measured", "time", "ratio", "peak MB"], *rows]))


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=10_000, help="orders recorded and reported (default 10000)")
    parser.add_argument("--rounds", type=int, default=3, help="reports of each kind (default 3)")
    asyncio.run(main(parser.parse_args()))
    leave(ExitCode.OK)


if __name__ == "__main__":
    cli()
