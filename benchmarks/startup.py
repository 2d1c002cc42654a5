"""How long `orders` takes to start: `orders --help`, and `orders events` reading a history
file (no server needed), each run as a process, as a user runs it; the median of --runs.

    python benchmarks/startup.py                         # this checkout's `orders`
    python benchmarks/startup.py --orders OTHER/.venv/bin/orders --label before
"""

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
HISTORY = PROJECT / "tests" / "histories" / "golden" / "fulfilled.json"


def timed(command: list[str], runs: int) -> float:
    seconds = []
    for _ in range(runs):
        began = time.monotonic()
        subprocess.run(command, capture_output=True, check=True, timeout=60)
        seconds.append(time.monotonic() - began)
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", default=str(Path(sys.executable).parent / "orders"), help="the console script")
    parser.add_argument("--label", default="this checkout")
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    for name, command in (
        ("orders --help", [args.orders, "--help"]),
        ("orders events FILE", [args.orders, "events", str(HISTORY)]),
    ):
        print(f"{args.label}: {name}: {1000 * timed(command, args.runs):.0f} ms (median of {args.runs})")


if __name__ == "__main__":
    main()
