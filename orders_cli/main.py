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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from pydantic import TypeAdapter, ValidationError
from temporalio.service import RPCError, RPCStatusCode

from connection import SettingsError, TemporalUnavailable, load_settings
from connection.core_logs import forward_core_logs
from connection.encryption import customer_ref
from connection.process import ExitCode, exit_now
from domain import VersionNotFound
from eventstore import ArchiveError, HistoryReadError, StreamNotFound
from observability.tracing import start_tracing, stop_tracing
from orders_cli.archiving import add_archive_arguments, archive_command
from orders_cli.arguments import whole_number
from orders_cli.codec_server import CodecServerError, add_codec_server_arguments, codec_server_command
from orders_cli.decisions import DecisionRefused, decision_command
from orders_cli.deploying import DeployRefused, add_deploy_arguments, deploy_command, deployments_command
from orders_cli.health import add_health_arguments, health_command
from orders_cli.projecting import ACTIONS, projector_command
from orders_cli.reads import events_command, report_command, state_command
from orders_cli.reconcile import reconcile_command
from orders_cli.replaying import replay_command
from orders_cli.session import first_line
from projections import READ_MODELS, ProjectionError
from storage.databases import DatabaseError


class _OneLineErrors(argparse.ArgumentParser):
    """Bad arguments get one line naming the problem, not the whole usage text."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(ExitCode.USAGE)


def _moment(text: str) -> datetime:
    try:
        moment = TypeAdapter(datetime).validate_python(text)
    except ValidationError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time such as 2026-11-27T14:30:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_TARGET_HELP = (
    "an order id, or the path of a history exported from the Web UI or `temporal workflow show --output json`"
)


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineErrors(prog="orders", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineErrors)
    output = _OneLineErrors(add_help=False)
    output.add_argument("--json", action="store_true", help="print JSON for machines instead of a table")

    events = commands.add_parser("events", parents=[output], help="an order's audit trail, from its history")
    events.add_argument("target", metavar="ORDER_ID|PATH", help=_TARGET_HELP)
    events.add_argument(
        "--from", dest="from_version", type=whole_number(1), default=1, metavar="N", help="first version (default 1)"
    )
    events.add_argument("--limit", type=whole_number(0), metavar="K", help="at most K events")
    events.set_defaults(run=events_command)

    state = commands.add_parser("state", parents=[output], help="an order's state, now or at a past version or time")
    state.add_argument("target", metavar="ORDER_ID|PATH", help=_TARGET_HELP)
    when = state.add_mutually_exclusive_group()
    when.add_argument("--version", type=whole_number(0), metavar="N", help="the state after version N (0: before any)")
    when.add_argument("--at", type=_moment, metavar="TIME", help="the state as of TIME (ISO 8601; UTC if no zone)")
    state.set_defaults(run=state_command)

    decision = _OneLineErrors(add_help=False)
    decision.add_argument("order_id")
    decision.add_argument(
        "--expected-version", type=whole_number(0), metavar="N", help="refuse unless the order is at version N"
    )
    approve = commands.add_parser("approve", parents=[output, decision], help="approve a payment waiting for approval")
    approve.add_argument("--approver", required=True)
    approve.add_argument("--comment")
    reject = commands.add_parser("reject", parents=[output, decision], help="reject a payment waiting for approval")
    reject.add_argument("--approver", required=True)
    reject.add_argument("--reason", required=True)
    cancel = commands.add_parser("cancel", parents=[output, decision], help="cancel an order before it is fulfilled")
    cancel.add_argument("--reason", required=True)
    cancel.add_argument("--requested-by")
    for command in (approve, reject, cancel):
        command.set_defaults(run=decision_command)

    replaying = commands.add_parser(
        "replay",
        parents=[output],
        help="replay orders with today's workflow code: OK, or where it diverged (non-zero exit)",
    )
    replaying.add_argument("target", nargs="?", metavar="ORDER_ID|PATH", help=_TARGET_HELP)
    replaying.add_argument(
        "--query", help="replay every order a visibility query selects, e.g. \"OrderStatus='Fulfilled'\""
    )
    replaying.add_argument(
        "--archived",
        action="store_true",
        help="replay every archived order (those whose histories retention deleted, too)",
    )
    replaying.add_argument(
        "--debug", action="store_true", help="the SDK's debug mode: breakpoint() in workflow code works"
    )
    replaying.set_defaults(run=replay_command)

    report = commands.add_parser("report", parents=[output], help="the order-summary projection over all orders")
    report.add_argument("--query", help="a visibility query choosing the orders, e.g. \"OrderStatus='Fulfilled'\"")
    report.set_defaults(run=report_command)

    reconciling = commands.add_parser(
        "reconcile",
        parents=[output],
        help="hold the event streams against the ledger of side effects; exit 1 if any discrepancy",
    )
    reconciling.add_argument("--query", help="a visibility query choosing the orders (default: every order)")
    reconciling.add_argument(
        "--ledger", type=Path, metavar="PATH", help="the ledger's SQLite file (default: ORDERS_DATA_DIR's)"
    )
    reconciling.set_defaults(run=reconcile_command)

    projector = commands.add_parser(
        "projector",
        parents=[output],
        help="keep the read models current (run), rebuild them from zero, or show their lag (status)",
    )
    projector.add_argument("action", nargs="?", choices=ACTIONS, default="run")
    projector.add_argument("name", nargs="?", choices=READ_MODELS, help="the read model to rebuild")
    projector.add_argument("--once", action="store_true", help="catch up and exit")
    projector.add_argument(
        "--interval", type=float, default=0.5, metavar="S", help="seconds between polls (default 0.5)"
    )
    projector.add_argument(
        "--snapshot-every", type=whole_number(1), metavar="K", help="snapshot an order's state every K versions"
    )
    projector.set_defaults(run=projector_command)

    deploy = commands.add_parser(
        "deploy",
        parents=[output],
        help="make a build current (or ramp to it): new orders go to it, open ones stay where they are",
    )
    add_deploy_arguments(deploy)
    deploy.set_defaults(run=deploy_command)
    deployments = commands.add_parser(
        "deployments",
        parents=[output],
        help="each build with its workers and open orders, and whether it has drained (can be stopped)",
    )
    deployments.set_defaults(run=deployments_command)

    archiving = commands.add_parser(
        "archive",
        parents=[output],
        help="copy closed orders to the archive before Temporal's retention deletes them (--verify: check it)",
    )
    add_archive_arguments(archiving)
    archiving.set_defaults(run=archive_command)

    health = commands.add_parser(
        "health",
        parents=[output],
        help="is the system healthy? exit 0 healthy, 1 degraded (each reason named), 3 Temporal unreachable",
    )
    add_health_arguments(health)
    health.set_defaults(run=health_command)

    codec = commands.add_parser(
        "codec-server",
        help="decrypt and encrypt payloads for the Web UI and the temporal CLI (needs ORDERS_ENCRYPTION_KEYS)",
    )
    add_codec_server_arguments(codec)
    codec.set_defaults(run=codec_server_command)

    reference = commands.add_parser(
        "customer-ref", help="what the server holds for a customer id under ORDERS_CUSTOMER_ID_KEY, to filter by"
    )
    reference.add_argument("customer_id")
    reference.set_defaults(run=customer_ref_command)
    return parser


async def customer_ref_command(args: argparse.Namespace) -> int:
    key = load_settings().customer_id_key
    if key is None:
        raise SettingsError("ORDERS_CUSTOMER_ID_KEY is not set: the server holds customer ids as they are")
    print(customer_ref(key, args.customer_id))
    return 0


def run(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Progress and "started the embedded server" go to stderr; stdout stays clean for --json.
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    logging.getLogger("connection").setLevel(logging.INFO)
    # A replay that diverges is reported by us, once; the core's own warning would repeat it.
    forward_core_logs(level=logging.ERROR)
    # SIGTERM stops a command as Ctrl-C does, so an embedded server it started is stopped too.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        if load_settings().traces_exported:
            start_tracing("orders-cli")
        code: int = asyncio.run(_stopped_by_signals(args.run(args)))
        return code
    except KeyboardInterrupt:
        besides = f"; {args.on_interrupt}" if getattr(args, "on_interrupt", None) else ""
        print(f"orders {args.command}: stopped by a signal{besides}", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except SettingsError as err:
        print(f"orders {args.command}: {err}", file=sys.stderr)
        return ExitCode.USAGE
    except (
        StreamNotFound,
        VersionNotFound,
        HistoryReadError,
        ArchiveError,
        DecisionRefused,
        DeployRefused,
        ProjectionError,
        CodecServerError,
        ValueError,
    ) as err:
        print(f"orders {args.command}: {err}", file=sys.stderr)
        return ExitCode.FAILED
    except TemporalUnavailable as err:
        print(f"orders {args.command}: {err}", file=sys.stderr)
        return ExitCode.UNAVAILABLE
    except DatabaseError as err:
        print(
            f"orders {args.command}: a database (read models, archive or ledger) failed: {first_line(err)}",
            file=sys.stderr,
        )
        return ExitCode.FAILED
    except RPCError as err:
        print(
            f"orders {args.command}: Temporal refused the request ({err.status.name}): {err.message}", file=sys.stderr
        )
        unavailable = err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED)
        return ExitCode.UNAVAILABLE if unavailable else ExitCode.FAILED
    finally:
        stop_tracing()


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
