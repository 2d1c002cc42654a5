"""Serve the `orders` task queue until SIGINT or SIGTERM.

    python worker.py                  # one worker process
    python worker.py --processes 2    # two: one Python process uses one core at a time
    python worker.py --build-id B     # a versioned worker of build B (Worker Versioning)

Connects through the SDK's env config (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS and
API key variables; `localhost:7233` by default). If nothing answers at a local address,
starts the embedded dev server there first.

The composition root of a worker process: settings are read here, once, and the
activities, client and worker are built from them. With --processes N, this process
serves as one worker and starts N - 1 more like it, each with a client of its own,
against the same server and the same ledger; a stop stops them all.

With --build-id ID (or ORDERS_BUILD_ID) the worker is version ID of the Worker Deployment
ORDERS_DEPLOYMENT (`orders`): it takes new orders once `orders deploy ID` makes it current,
and each order it starts stays with it to its end. Without, it is unversioned.

With ORDERS_METRICS_ADDRESS or --metrics-address host:port, it serves Prometheus metrics
at /metrics (the SDK's `temporal_` metrics and the domain metrics of contract.metrics),
liveness at /healthz and readiness at /readyz. With --processes N, process i of the
others serves port + i. With OTEL_EXPORTER_OTLP_ENDPOINT set, it exports traces.
ORDERS_LOG_FORMAT=json writes JSON lines; at INFO, one line an order.

Exit codes: 0 stopped; 2 a malformed setting or argument; 3 Temporal could not be reached;
4 the namespace lacks search attributes the orders need and they could not be created
from here (the line names them and the commands that create them); polled nothing.
"""

import argparse
import asyncio
import dataclasses
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from functools import partial

from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion

from activities import OrderActivities
from connection import (
    EmbeddedServerError,
    NamespaceNotSetUp,
    Settings,
    SettingsError,
    check_version_name,
    open_connection,
)
from contract import SEARCH_ATTRIBUTES, TASK_QUEUE, host_and_port
from hosting import GRACEFUL_SHUTDOWN, build_worker, keep_workflow_bytecode
from observability import Health
from observability import serve as serve_endpoint
from programs import ExitCode, Way, give_up, leave, prologue, run_program, stop_requested, until_stopped, whole_number
from storage import customer_keys_when_needed

log = logging.getLogger("worker")


async def serve(
    settings: Settings, processes: int, started_by: int | None = None, health: Health | None = None
) -> None:
    health = health or Health()
    watching = [asyncio.create_task(_mark_the_loop_alive(health))]
    activities = OrderActivities.over_ledger(
        settings.ledger, customer_keys_when_needed(settings.customer_keys, settings.master_keyring)
    )
    connection = await open_connection(settings, SEARCH_ATTRIBUTES)
    try:
        connection.require_search_attributes()
    except NamespaceNotSetUp:
        await connection.close()
        raise
    watching.append(asyncio.create_task(_check_the_server(connection.client, health)))
    others: list[subprocess.Popen[bytes]] = []
    try:
        # The others find the server this one found or started; none starts another.
        address = connection.client.service_client.config.target_host
        others = [_start_another(address, settings, number) for number in range(1, processes)]
        try:
            version = WorkerDeploymentVersion(settings.deployment, settings.build_id) if settings.build_id else None
            keep_workflow_bytecode(settings.bytecode_cache)
            async with build_worker(connection.client, activities=activities, version=version):
                health.polling = True
                log.info(
                    "Serving task queue %r in namespace %r with %d process(es)%s; Ctrl-C to stop",
                    TASK_QUEUE,
                    connection.client.namespace,
                    processes,
                    f" as build {settings.build_id!r} of deployment {settings.deployment!r}" if version else "",
                )
                try:
                    await connection.unless_server_given_up(_until_stopped(started_by))
                except EmbeddedServerError as err:
                    # Nothing can be finished or reported with no server: stop now, not
                    # gracefully. The other processes see this one gone and stop too.
                    raise give_up(ExitCode.UNAVAILABLE, str(err)) from None
                health.stopping = True
                log.info("Stopping: finishing running activities first")
                for other in others:
                    other.send_signal(signal.SIGTERM)
        except asyncio.CancelledError:
            # A stop cancels this process's work (before it serves: _until_stopped takes the
            # stop once it does); otherwise the SDK cancelled the block because the worker
            # failed for good, as when its server is gone.
            if stop_requested():
                raise
            raise connection.worker_failed(settings.rpc_timeout) from None
    finally:
        health.stopping = True
        for task in watching:
            task.cancel()
        await asyncio.to_thread(_wait_for, others)
        await connection.close()
    log.info("Stopped")


async def _mark_the_loop_alive(health: Health) -> None:
    """Liveness: the event loop turns; /healthz says so while this keeps running."""
    while True:
        health.loop_turned_at = time.monotonic()
        await asyncio.sleep(1)


async def _check_the_server(client: Client, health: Health) -> None:
    """Readiness: Temporal answers its health check."""
    while True:
        try:
            if await client.service_client.check_health(timeout=timedelta(seconds=5)):
                health.server_answered_at = time.monotonic()
        except Exception:  # noqa: BLE001 - unanswered is all readiness needs to know
            pass
        await asyncio.sleep(5)


async def _until_stopped(started_by: int | None) -> None:
    """Until SIGINT or SIGTERM; for a process another started, also until that one is gone,
    even killed outright (SIGKILL sends no signal on): a worker is never left behind."""
    await until_stopped(_while_alive(started_by) if started_by is not None else None)


async def _while_alive(parent: int) -> None:
    while os.getppid() == parent:
        await asyncio.sleep(1)
    log.warning("The worker process that started this one (%d) is gone: stopping too", parent)


def _start_another(address: str, settings: Settings, number: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, os.path.abspath(__file__), "--processes", "1", "--started-by", str(os.getpid())]
    if settings.metrics_address:
        host, port = host_and_port(settings.metrics_address)
        command += ["--metrics-address", f"{host}:{port + number}"]
    return subprocess.Popen(
        command,
        env={
            **os.environ,
            "TEMPORAL_ADDRESS": address,
            **({"ORDERS_BUILD_ID": settings.build_id} if settings.build_id else {}),
        },
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


def main(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None, stop: threading.Event | None = None
) -> int:
    """The worker with `argv`, its settings read from `environ` (the process's by default),
    until stopped; its exit code. `stop` stops it as SIGTERM does (in-process, under a test)."""
    args = _parser().parse_args(argv)
    # The SDK's core serves its metrics on a loopback port of its own; the endpoint passes
    # them on at the metrics address, beside /healthz and /readyz.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        core_metrics = f"127.0.0.1:{probe.getsockname()[1]}"

    async def serving(settings: Settings) -> int:
        health = Health()
        stop_serving = _serve_metrics_and_health(settings.metrics_address, core_metrics, health)
        try:
            await serve(settings, args.processes, args.started_by, health)
        finally:
            stop_serving()
        return ExitCode.OK

    way = Way(
        say=lambda line: log.error("%s", line),
        on_signal=ExitCode.OK,  # a signal is how a worker is meant to stop
        stopped=lambda: "Stopped before it served",
        tell_stopped=lambda line: log.info("%s", line),
        may_end_the_process=stop is None,
    )
    prologue_of = partial(
        prologue,
        "orders-worker",
        service=True,
        adjust=lambda settings: _flags_over(settings, args),
        core_metrics_at=lambda settings: core_metrics if settings.metrics_address else None,
        environ=environ,
    )
    return run_program(serving, prologue_of, way, stop)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--processes", type=whole_number(1, 64), default=1, metavar="N", help="worker processes to run (default 1)"
    )
    parser.add_argument(
        "--metrics-address",
        metavar="HOST:PORT",
        help="serve /metrics, /healthz and /readyz here (default: ORDERS_METRICS_ADDRESS; none)",
    )
    parser.add_argument(
        "--build-id", metavar="ID", help="serve as this build under Worker Versioning (default: ORDERS_BUILD_ID; none)"
    )
    parser.add_argument("--started-by", type=int, help=argparse.SUPPRESS)  # set by --processes for the others
    return parser


def _flags_over(settings: Settings, args: argparse.Namespace) -> Settings:
    """The settings with the worker's flags over its environment."""
    if args.metrics_address:
        try:
            host_and_port(args.metrics_address)
        except ValueError as err:
            raise SettingsError(f"--metrics-address: {err}") from None
        settings = dataclasses.replace(settings, metrics_address=args.metrics_address)
    if args.build_id:
        try:
            check_version_name(args.build_id)
        except ValueError as err:
            raise SettingsError(f"--build-id: {err}") from None
        settings = dataclasses.replace(settings, build_id=args.build_id)
    return settings


def _serve_metrics_and_health(address: str | None, core_metrics: str, health: Health) -> Callable[[], None]:
    if address is None:
        return lambda: None
    try:
        stop = serve_endpoint(address, core_metrics, health)
    except OSError as err:
        raise SettingsError(
            f"cannot serve metrics at {address} (ORDERS_METRICS_ADDRESS / --metrics-address): {err}"
        ) from None
    log.info("Metrics at http://%s/metrics, health at /healthz and /readyz", address)
    return stop


if __name__ == "__main__":
    leave(main())
