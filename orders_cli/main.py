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
from collections.abc import Coroutine, Sequence
from typing import Any

from temporalio.service import RPCError, RPCStatusCode

from connection import Settings, SettingsError, TemporalUnavailable
from domain import VersionNotFound
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
from storage.databases import DatabaseError

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


def run(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        # A replay that diverges is reported by us, once; the core's own warning would repeat it.
        with prologue("orders-cli", core_log_level=logging.ERROR) as settings:
            return _run(args, settings)
    except SettingsError as err:
        print(f"orders {args.command}: {err}", file=sys.stderr)
        return ExitCode.USAGE


def _run(args: argparse.Namespace, settings: Settings) -> int:
    args.settings = settings
    try:
        code: int = asyncio.run(_stopped_by_signals(args.run(args)))
        return code
    except KeyboardInterrupt:
        besides = f"; {args.on_interrupt}" if getattr(args, "on_interrupt", None) else ""
        print(f"orders {args.command}: stopped by a signal{besides}", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except (CommandError, StreamNotFound, VersionNotFound, HistoryReadError, ArchiveError, ProjectionError) as err:
        print(f"orders {args.command}: {err}", file=sys.stderr)
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


async def _stopped_by_signals(command: Coroutine[Any, Any, int]) -> int:
    """`command`, cancelled by SIGTERM or Ctrl-C as a whole, so that each of its waits
    unwinds in order (an update it waits on, an embedded server it started) before the
    one line that says it was stopped; never an exception left behind in a task."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, task.cancel)
    try:
        return await command
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


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
