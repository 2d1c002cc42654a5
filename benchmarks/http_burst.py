"""A burst of requests against the two HTTP servers a deployment exposes: `orders
codec-server` (POST /decode) and a worker's metrics endpoint (GET /metrics), each a real
process on loopback.

    python benchmarks/http_burst.py                      # 2,000 requests, 500 at a time
    python benchmarks/http_burst.py --requests 5000 --at-once 1000

Prints, for each, how many were answered 200 and the latency percentiles
(statistics.quantiles). Each request opens a connection of its own, as a burst of
browsers and scrapers would. The tests send the same burst and assert only that every
request is answered (tests/integration/test_codec_server.py, test_operations.py).
"""

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from connection import free_local_port  # noqa: E402

_KEY = "A=" + base64.b64encode(bytes(range(32))).decode()


def burst(url: str, body: bytes | None, count: int, at_once: int) -> tuple[int, list[float]]:
    """`count` requests to `url` (POST `body`, or GET), `at_once` at a time, each on a
    connection of its own: how many were answered 200, and each one's seconds."""

    def one(_: int) -> tuple[bool, float]:
        began = time.monotonic()
        request = urllib.request.Request(url, data=body, method="GET" if body is None else "POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                answer.read()
                return answer.status == 200, time.monotonic() - began
        except OSError:
            return False, time.monotonic() - began

    with ThreadPoolExecutor(at_once) as pool:
        results = list(pool.map(one, range(count)))
    return sum(ok for ok, _ in results), [seconds for _, seconds in results]


def _wait_for(url: str, body: bytes | None) -> None:
    for _ in range(300):
        if burst(url, body, 1, 1)[0]:
            return
        time.sleep(0.2)
    raise SystemExit(f"{url} never answered")


def _report(name: str, count: int, answered: int, seconds: list[float]) -> None:
    cuts = statistics.quantiles(seconds, n=100)
    print(
        f"{name:<24} {answered}/{count} answered   p50 {cuts[49] * 1000:7.1f} ms   "
        f"p99 {cuts[98] * 1000:7.1f} ms   max {max(seconds) * 1000:7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--at-once", type=int, default=500)
    args = parser.parse_args()
    scripts = Path(sys.executable).parent
    codec = f"127.0.0.1:{free_local_port()}"
    metrics = f"127.0.0.1:{free_local_port()}"
    data = tempfile.mkdtemp(prefix="orders-burst-")
    env = {**os.environ, "ORDERS_ENCRYPTION_KEYS": _KEY, "ORDERS_CODEC_TOKEN": "", "ORDERS_DATA_DIR": data}
    processes = [
        subprocess.Popen([scripts / "orders", "codec-server", "--address", codec], env=env, stderr=subprocess.DEVNULL),
        subprocess.Popen(
            [sys.executable, PROJECT / "worker.py", "--metrics-address", metrics],
            env={**env, "TEMPORAL_ADDRESS": f"127.0.0.1:{free_local_port()}"},  # its own embedded server
            stderr=subprocess.DEVNULL,
        ),
    ]
    try:
        decode = json.dumps({"payloads": []}).encode()
        for name, url, body in (
            ("codec-server /decode", f"http://{codec}/decode", decode),
            ("worker /metrics", f"http://{metrics}/metrics", None),
        ):
            _wait_for(url, body)
            answered, seconds = burst(url, body, args.requests, args.at_once)
            _report(name, args.requests, answered, seconds)
    finally:
        for process in processes:
            process.terminate()
            process.wait(60)


if __name__ == "__main__":
    main()
