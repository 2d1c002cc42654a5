"""orders: read, audit and time-travel orders from Temporal's history, and decide on them.

Every read goes to the workflow history, not to a worker: it works after an order
closed and with no worker running, and on a history exported from the Web UI or with
`temporal workflow show --output json` (give its path instead of an order id).
Decisions (approve, reject, cancel) are workflow updates and need a worker polling
`orders`. Connection settings are the Temporal SDK's env config (TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, ...); when nothing answers at a local address, the embedded dev
server is started on this machine's `.temporal/` data.

Exit codes, the same for every program of the project: 0 done (health: healthy); 1 not
found, refused, unreadable, a replay that failed, discrepancies found by reconcile, or
health degraded; 2 malformed arguments or settings; 3 Temporal could not be reached;
130 stopped by Ctrl-C or SIGTERM.
"""

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any

from temporalio.service import RPCError, RPCStatusCode

from activities.ledger import LedgerError
from connection import Settings, SettingsError, TemporalUnavailable
from domain import EventStreamError, VersionNotFound
from eventstore import ArchiveError, HistoryReadError, StreamNotFound
from orders_cli import (
    archiving,
    codec_server,
    decisions,
    deploying,
    exporting,
    health,
    projecting,
    reads,
    reconcile,
    references,
    replaying,
)
from orders_cli.arguments import OneLineErrors, Subcommands
from orders_cli.session import first_line
from programs import CommandError, ExitCode, exit_now, prologue
from projections import ProjectionError
from storage import DatabaseError, PlaceError

# Each registers its own subcommands and their flags, in the order `orders --help` lists them.
_SUBCOMMANDS = (
    reads,
    decisions,
    replaying,
    reconcile,
    projecting,
    exporting,
    deploying,
    archiving,
    health,
    codec_server,
    references,
)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrors(prog="orders", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = Subcommands(parser)
    for module in _SUBCOMMANDS:
        module.register(commands)
    return parser


def run(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None, stop: threading.Event | None = None
) -> int:
    """`orders` with `argv` (the process's arguments by default), its settings read from
    `environ` (the process's environment by default); the exit code. `stop`, when set,
    stops it as SIGTERM would (for a command run in-process, which takes no signals)."""
    args = build_parser().parse_args(argv)
    try:
        # A replay that diverges is reported by us, once; the core's own warning would repeat it.
        with prologue("orders-cli", core_log_level=logging.ERROR, environ=environ) as settings:
            return _run(args, settings, stop)
    except SettingsError as err:
        print(f"orders {args.command}: {err}", file=sys.stderr)
        return ExitCode.USAGE


def _run(args: argparse.Namespace, settings: Settings, stop: threading.Event | None) -> int:
    args.settings = settings
    try:
        code: int = asyncio.run(_stopped_by_signals(args.run(args), stop))
        return code
    except KeyboardInterrupt:
        besides = f"; {args.on_interrupt}" if getattr(args, "on_interrupt", None) else ""
        print(f"orders {args.command}: stopped by a signal{besides}", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except PlaceError as err:
        print(f"orders {args.command}: {err}", file=sys.stderr)
        return ExitCode.USAGE
    except (
        CommandError,
        StreamNotFound,
        VersionNotFound,
        HistoryReadError,
        ArchiveError,
        ProjectionError,
        EventStreamError,
        LedgerError,
    ) as err:
        print(f"orders {args.command}: {first_line(err)}", file=sys.stderr)
        return err.code if isinstance(err, CommandError) else ExitCode.FAILED
    except TemporalUnavailable as err:
        print(f"orders {args.command}: {err}", file=sys.stderr)
        return ExitCode.UNAVAILABLE
    except DatabaseError as err:
        what = "a database (read models, archive or ledger) failed"
        print(f"orders {args.command}: {what}: {first_line(err)}", file=sys.stderr)
        return ExitCode.FAILED
    except RPCError as err:
        print(
            f"orders {args.command}: Temporal refused the request ({err.status.name}): {err.message}", file=sys.stderr
        )
        unavailable = err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED)
        return ExitCode.UNAVAILABLE if unavailable else ExitCode.FAILED


async def _stopped_by_signals(command: Coroutine[Any, Any, int], stop: threading.Event | None = None) -> int:
    """`command`, cancelled by SIGTERM or Ctrl-C (or `stop`) as a whole, so that each of
    its waits unwinds in order (an update it waits on, an embedded server it started)
    before the one line that says it was stopped; never an exception left behind in a task."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    # Only the main thread takes signals (a command run in-process elsewhere has none).
    signalled = threading.current_thread() is threading.main_thread()
    for signum in (signal.SIGINT, signal.SIGTERM) if signalled else ():
        loop.add_signal_handler(signum, task.cancel)
    stopping = loop.create_task(_cancel_when_set(stop, task)) if stop is not None else None
    try:
        return await command
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    finally:
        if stopping is not None:
            stopping.cancel()
        for signum in (signal.SIGINT, signal.SIGTERM) if signalled else ():
            loop.remove_signal_handler(signum)


async def _cancel_when_set(stop: threading.Event, task: "asyncio.Task[Any]") -> None:
    while not stop.is_set():
        await asyncio.sleep(0.05)
    task.cancel()


def main() -> None:
    try:
        code = run()
    except BrokenPipeError:
        # The reader went away (`orders events X | head`): nothing more to say to it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = ExitCode.FAILED
    exit_now(code)


if __name__ == "__main__":
    main()
