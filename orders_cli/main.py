"""orders: read, audit and time-travel orders from Temporal's history, and decide on them.

Every read goes to the workflow history, not to a worker: it works after an order
closed and with no worker running. Decisions (approve, reject, cancel) are workflow
updates and need a worker polling `orders`. Connection settings are the Temporal SDK's env
config (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, ...); when nothing answers at a local
address, the embedded dev server is started on this machine's `.temporal/` data.
"""

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

from pydantic import BaseModel, TypeAdapter, ValidationError
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from connection import SettingsError, TemporalUnavailable, has_live_poller, load_settings, open_connection
from connection.core_logs import forward_core_logs
from connection.process_exit import EXIT_UNAVAILABLE, exit_now
from domain import EventEnvelope, OrderState, VersionNotFound, describe_validation_error, read_window
from domain.decisions import ApprovePayment, CancelOrder, Decision, RejectPayment, refusal
from eventstore import EventStore, HistoryReadError, StreamNotFound, load_history_file
from eventstore.replay import ReplayReport, replay
from orders_cli import render
from workflows.contract import workflow_id_for

EXIT_FAILED = 1
EXIT_USAGE = 2

# Shown when `orders report` reads more histories than this.
_PROGRESS_THRESHOLD = 20


class DecisionRefused(Exception):
    """The order refused a decision; the message says why, naming its status and version."""


class _OneLineErrors(argparse.ArgumentParser):
    """Bad arguments get one line naming the problem, not the whole usage text."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def _whole_number(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if number < minimum:
            raise argparse.ArgumentTypeError(f"{number} is below {minimum}")
        return number

    return parse


def _moment(text: str) -> datetime:
    try:
        moment = TypeAdapter(datetime).validate_python(text)
    except ValidationError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time such as 2026-11-27T14:30:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _print_json(value: BaseModel | list[BaseModel]) -> None:
    if isinstance(value, list):
        print(json.dumps([item.model_dump(mode="json") for item in value], indent=2))
    else:
        print(value.model_dump_json(indent=2))


def _show_events(args: argparse.Namespace, stream: list[EventEnvelope]) -> None:
    shown = read_window(stream, args.from_version, args.limit)
    _print_json(shown) if args.json else print(render.audit_trail(shown, stream))


async def _with_store(action: Callable[[EventStore], Awaitable[int]]) -> int:
    connection = await open_connection(load_settings())
    try:
        return await action(EventStore(connection.client))
    finally:
        await connection.close()


async def events_command(args: argparse.Namespace) -> int:
    async def read(store: EventStore) -> int:
        stream = await store.read_stream(args.order_id)
        _show_events(args, stream)
        return 0

    return await _with_store(read)


async def state_command(args: argparse.Namespace) -> int:
    async def read(store: EventStore) -> int:
        state = await store.state_at(args.order_id, args.version, args.at)
        _print_json(state) if args.json else print(render.order_state(state))
        return 0

    return await _with_store(read)


async def history_file_command(args: argparse.Namespace) -> int:
    recorded = load_history_file(args.path)
    if args.version is not None or args.at is not None or args.state:
        state = recorded.state_at(args.version, args.at)
        _print_json(state) if args.json else print(render.order_state(state))
    else:
        _show_events(args, recorded.read_stream())
    return 0


async def report_command(args: argparse.Namespace) -> int:
    def show_progress(done: int, total: int) -> None:
        if total > _PROGRESS_THRESHOLD:
            end = "\n" if done == total else ""
            print(f"\rReading order histories: {done}/{total}", end=end, file=sys.stderr, flush=True)

    async def read(store: EventStore) -> int:
        summary = await store.summarize(args.query, on_progress=show_progress)
        _print_json(summary) if args.json else print(render.order_summary(summary))
        return 0

    return await _with_store(read)


def _print_replay(report: ReplayReport, as_json: bool) -> None:
    if as_json:
        print(
            json.dumps(
                {
                    "workflow_id": report.workflow_id,
                    "ok": report.ok,
                    "error": report.error,
                    "event_id": report.event_id,
                    "event_type": report.event_type,
                    "state": report.state.model_dump(mode="json") if report.state else None,
                }
            )
        )
        return
    if report.ok:
        print(f"{report.workflow_id}: OK")
    else:
        print(f"{report.workflow_id}: FAILED at event {report.event_id} ({report.event_type}): {report.error}")
    if report.state:
        print(render.order_state(report.state))


async def replay_command(args: argparse.Namespace) -> int:
    if args.target and (Path(args.target).exists() or args.target.endswith(".json")):
        reports = [await replay(load_history_file(args.target).history, debug=args.debug)]
    else:
        if not args.target and args.query is None:
            raise ValueError("give an ORDER_ID, a history file PATH, or --query")
        connection = await open_connection(load_settings())
        try:
            store = EventStore(connection.client)
            order_ids = [args.target] if args.target else [order_id async for order_id in store.order_ids(args.query)]
            reports = []
            for done, order_id in enumerate(order_ids, start=1):
                history = await store.history(order_id)
                reports.append(await replay(history, debug=args.debug))
                if args.query is not None:
                    print(f"\rReplaying order histories: {done}/{len(order_ids)}", end="", file=sys.stderr, flush=True)
            if args.query is not None:
                print(file=sys.stderr)
        finally:
            await connection.close()
    for report in reports:
        _print_replay(report, args.json)
    failed = sum(not report.ok for report in reports)
    if len(reports) > 1 or args.query is not None:
        print(f"{len(reports)} replayed: {len(reports) - failed} OK, {failed} failed", file=sys.stderr)
    return EXIT_FAILED if failed else 0


_UPDATES: dict[type, str] = {ApprovePayment: "approve_payment", RejectPayment: "reject_payment", CancelOrder: "cancel_order"}


def _decision(args: argparse.Namespace) -> Decision:
    version = {"expected_version": args.expected_version}
    if args.command == "approve":
        return ApprovePayment(approver=args.approver, comment=args.comment, **version)
    if args.command == "reject":
        return RejectPayment(approver=args.approver, reason=args.reason, **version)
    return CancelOrder(reason=args.reason, requested_by=args.requested_by, **version)


async def decision_command(args: argparse.Namespace) -> int:
    try:
        decision = _decision(args)
    except ValidationError as err:
        raise ValueError(describe_validation_error(err)) from None
    connection = await open_connection(load_settings())
    try:
        state = await decide(connection.client, args.order_id, decision)
    finally:
        await connection.close()
    _print_json(state) if args.json else print(render.order_state(state))
    return 0


async def decide(client: Client, order_id: str, decision: Decision) -> OrderState:
    """Send `decision` to the running order; DecisionRefused says why it was not taken."""
    handle = client.get_workflow_handle(workflow_id_for(order_id), result_type=OrderState)
    try:
        description = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise StreamNotFound(f"no order {order_id!r}") from None
        raise
    if description.status is not WorkflowExecutionStatus.RUNNING:
        raise DecisionRefused(await _why_an_ended_order_refuses(client, order_id, decision))
    if not await has_live_poller(client, description.task_queue):
        raise DecisionRefused(f"no worker is polling {description.task_queue!r}: start `python worker.py` and try again")
    return await send_decision(client, handle, order_id, decision)


async def send_decision(client: Client, handle: WorkflowHandle, order_id: str, decision: Decision) -> OrderState:
    try:
        return await handle.execute_update(_UPDATES[type(decision)], decision, result_type=OrderState)
    except WorkflowUpdateFailedError as err:
        raise DecisionRefused(getattr(err.cause, "message", None) or str(err.cause)) from None
    except RPCError as err:
        # The order closed while the decision was on its way: "workflow execution already
        # completed", or "workflow update was aborted by closing workflow".
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        raise DecisionRefused(await _why_an_ended_order_refuses(client, order_id, decision)) from None


async def _why_an_ended_order_refuses(client: Client, order_id: str, decision: Decision) -> str:
    """Why an order that has ended takes no decision, from its history, as its validator
    would have said, without writing anything."""
    state = await EventStore(client).state_at(order_id)
    if reason := refusal(state, decision):
        return reason
    # Closed from outside (terminated, timed out) where its own rules would still allow it.
    closed = (await client.get_workflow_handle(workflow_id_for(order_id)).describe()).status
    where = f"at {state.status.value} (version {state.version})" if state.status else "before its first event"
    return f"order {order_id} was closed ({closed.name if closed else 'unknown'}) {where} before the decision reached it"


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineErrors(prog="orders", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineErrors)
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--json", action="store_true", help="print JSON for machines instead of a table")
    window = argparse.ArgumentParser(add_help=False)
    window.add_argument("--from", dest="from_version", type=_whole_number(1), default=1, metavar="N", help="first version (default 1)")
    window.add_argument("--limit", type=_whole_number(0), metavar="K", help="at most K events")
    as_of = argparse.ArgumentParser(add_help=False)
    when = as_of.add_mutually_exclusive_group()
    when.add_argument("--version", type=_whole_number(0), metavar="N", help="the state after version N (0: before any)")
    when.add_argument("--at", type=_moment, metavar="TIME", help="the state as of TIME (ISO 8601; UTC if no zone)")

    events = commands.add_parser("events", parents=[output, window], help="an order's audit trail, from its history")
    events.add_argument("order_id")
    events.set_defaults(run=events_command)

    state = commands.add_parser("state", parents=[output, as_of], help="an order's state, now or at a past version or time")
    state.add_argument("order_id")
    state.set_defaults(run=state_command)

    history_file = commands.add_parser(
        "history-file",
        parents=[output, window, as_of],
        help="the same reads on a history exported by the Web UI or `temporal workflow show --output json`",
    )
    history_file.add_argument("path")
    history_file.add_argument("--state", action="store_true", help="print the final state instead of the events")
    history_file.set_defaults(run=history_file_command)

    decision = argparse.ArgumentParser(add_help=False)
    decision.add_argument("order_id")
    decision.add_argument(
        "--expected-version", type=_whole_number(0), metavar="N", help="refuse unless the order is at version N"
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
    replaying.add_argument("target", nargs="?", metavar="ORDER_ID|PATH", help="an order id, or an exported history file")
    replaying.add_argument("--query", help="replay every order a visibility query selects, e.g. \"OrderStatus='Fulfilled'\"")
    replaying.add_argument("--debug", action="store_true", help="the SDK's debug mode: breakpoint() in workflow code works")
    replaying.set_defaults(run=replay_command)

    report = commands.add_parser("report", parents=[output], help="the order-summary projection over all orders")
    report.add_argument("--query", help="a visibility query choosing the orders, e.g. \"OrderStatus='Fulfilled'\"")
    report.set_defaults(run=report_command)
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Progress and "started the embedded server" go to stderr; stdout stays clean for --json.
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    logging.getLogger("connection").setLevel(logging.INFO)
    # A replay that diverges is reported by us, once; the core's own warning would repeat it.
    forward_core_logs(level=logging.ERROR)
    try:
        return asyncio.run(args.run(args))
    except SettingsError as err:
        print(f"orders {args.command}: {err}", file=sys.stderr)
        return EXIT_USAGE
    except (StreamNotFound, VersionNotFound, HistoryReadError, DecisionRefused, ValueError) as err:
        print(f"orders {args.command}: {err}", file=sys.stderr)
        return EXIT_FAILED
    except TemporalUnavailable as err:
        print(f"orders {args.command}: {err}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except RPCError as err:
        print(f"orders {args.command}: Temporal refused the request ({err.status.name}): {err.message}", file=sys.stderr)
        unavailable = err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED)
        return EXIT_UNAVAILABLE if unavailable else EXIT_FAILED


def main() -> None:
    try:
        code = run()
    except BrokenPipeError:
        # The reader went away (`orders events X | head`): nothing more to say to it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_FAILED
    exit_now(code)


if __name__ == "__main__":
    main()
