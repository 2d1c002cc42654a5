"""Serve the `orders` task queue until SIGINT or SIGTERM.

    python worker.py                  # one worker process
    python worker.py --processes 2    # two: one Python process uses one core at a time

Connects through the SDK's env config (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS and
API key variables; `localhost:7233` by default). If nothing answers at a local address,
starts the embedded dev server there first.

The composition root of a worker process: settings are read here, once, and the
activities, client and worker are built from them. With --processes N, this process
serves as one worker and starts N - 1 more like it, each with a client of its own,
against the same server and the same ledger; a stop stops them all.

Exit codes: 0 stopped; 2 a malformed setting or argument; 3 Temporal could not be reached.
"""

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Sequence

from activities.order_activities import OrderActivities
from connection import SettingsError, TemporalUnavailable, load_settings, open_connection
from connection.core_logs import forward_core_logs
from connection.embedded_server import EmbeddedServerError
from connection.process import EXIT_UNAVAILABLE, exit_now, wait_for_interrupt
from contract import SEARCH_ATTRIBUTES, TASK_QUEUE
from hosting import GRACEFUL_SHUTDOWN, build_worker

log = logging.getLogger("worker")

EXIT_BAD_SETTINGS = 2


async def serve(processes: int, started_by: int | None = None) -> None:
    settings = load_settings()
    activities = OrderActivities.over_ledger(settings.ledger_path)
    connection = await open_connection(settings, SEARCH_ATTRIBUTES)
    others: list[subprocess.Popen[bytes]] = []
    try:
        # The others find the server this one found or started; none starts another.
        others = [_start_another(connection.client.service_client.config.target_host) for _ in range(processes - 1)]
        try:
            async with build_worker(connection.client, activities=activities):
                log.info(
                    "Serving task queue %r in namespace %r with %d process(es); Ctrl-C to stop",
                    TASK_QUEUE,
                    connection.client.namespace,
                    processes,
                )
                try:
                    await connection.unless_server_given_up(_until_stopped(started_by))
                except EmbeddedServerError as err:
                    # Nothing can be finished or reported with no server: stop now, not
                    # gracefully. The other processes see this one gone and stop too.
                    log.error("%s", err)
                    exit_now(EXIT_UNAVAILABLE)
                log.info("Stopping: finishing running activities first")
                for other in others:
                    other.send_signal(signal.SIGTERM)
        except asyncio.CancelledError:
            # Signals stop this process through _until_stopped, never by cancelling it; the
            # SDK cancels the block when the worker fails for good, as when its server is gone.
            address = connection.client.service_client.config.target_host
            raise connection.given_up() or TemporalUnavailable(
                f"the worker stopped: Temporal at {address} stopped answering; see the log above"
            ) from None
    finally:
        await asyncio.to_thread(_wait_for, others)
        await connection.close()
    log.info("Stopped")


async def _until_stopped(started_by: int | None) -> None:
    """Until SIGINT or SIGTERM; for a process another started, also until that one is gone,
    even killed outright (SIGKILL sends no signal on): a worker is never left behind."""
    stops = [asyncio.create_task(wait_for_interrupt())]
    if started_by is not None:
        stops.append(asyncio.create_task(_gone(started_by)))
    _, pending = await asyncio.wait(stops, return_when=asyncio.FIRST_COMPLETED)
    for stop in pending:
        stop.cancel()


async def _gone(parent: int) -> None:
    while os.getppid() == parent:
        await asyncio.sleep(1)
    log.warning("The worker process that started this one (%d) is gone: stopping too", parent)


def _start_another(address: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--processes", "1", "--started-by", str(os.getpid())],
        env={**os.environ, "TEMPORAL_ADDRESS": address},
        start_new_session=True,  # a Ctrl-C reaches this process, which stops the others in order
    )


def _wait_for(others: Sequence[subprocess.Popen[bytes]]) -> None:
    for other in others:
        if other.poll() is None:
            other.send_signal(signal.SIGTERM)
        try:
            other.wait(GRACEFUL_SHUTDOWN.total_seconds() + 20)
        except subprocess.TimeoutExpired:
            other.kill()
            other.wait()


def _processes(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= count <= 64:
        raise argparse.ArgumentTypeError(f"{count} is not between 1 and 64")
    return count


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--processes", type=_processes, default=1, metavar="N", help="worker processes to run (default 1)"
    )
    parser.add_argument("--started-by", type=int, help=argparse.SUPPRESS)  # set by --processes for the others
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s %(levelname)s [{os.getpid()}] %(name)s: %(message)s")
    forward_core_logs()
    try:
        asyncio.run(serve(args.processes, args.started_by))
    except TemporalUnavailable as err:
        log.error("%s", err)
        exit_now(EXIT_UNAVAILABLE)
    except SettingsError as err:
        log.error("%s", err)
        exit_now(EXIT_BAD_SETTINGS)
    exit_now(0)


if __name__ == "__main__":
    main()
