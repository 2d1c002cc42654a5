"""Start orders and report how each one ended.

    python starter.py                  # the tutorial's three orders
    python starter.py --file FILE      # one order, or a list of orders, as JSON
    python starter.py --no-wait        # do not keep an embedded server up afterwards

Every order in a file is checked before any is started: one malformed order and
none of the file starts. An order id that already exists is never processed twice;
the existing run's outcome is reported instead.
"""

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from pydantic import ValidationError
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError
from temporalio.worker import Worker

from connection import Connection, SettingsError, TemporalUnavailable, has_live_poller, load_settings, open_connection
from connection.core_logs import forward_core_logs
from connection.process_exit import EXIT_UNAVAILABLE, exit_now
from domain import OrderInput, OrderState, OrderStatus, describe_validation_error
from worker import build_worker
from workflows.contract import TASK_QUEUE, WORKFLOW_TYPE, workflow_id_for

EXIT_BAD_INPUT = 2
EXIT_ORDER_FAILED = 1

TUTORIAL_ORDERS = [
    {
        "order_id": "ORDER-001",
        "customer_id": "CUSTOMER-123",
        "total_amount": "150.50",
        "items": [{"product_id": "PROD-001", "quantity": 2, "unit_price": "75.25"}],
    },
    {
        "order_id": "ORDER-002",
        "customer_id": "CUSTOMER-456",
        "total_amount": "25000.00",
        "items": [{"product_id": "PROD-002", "quantity": 1, "unit_price": "25000.00"}],
    },
    {
        "order_id": "ORDER-003",
        "customer_id": "CUSTOMER-789",
        "total_amount": "100.00",
        "items": [],
    },
]

_SETTLE_POLL_SECONDS = 0.5
_PICK_UP_SECONDS = 5.0


class OrderFileError(Exception):
    """A file of orders that cannot be started; the message names the file and the field."""


def parse_orders(entries: object, source: str) -> list[OrderInput]:
    entries = entries if isinstance(entries, list) else [entries]
    if not entries:
        raise OrderFileError(f"{source}: the list holds no orders")
    orders: list[OrderInput] = []
    problems: list[str] = []
    for position, entry in enumerate(entries, start=1):
        label = f"order {position}"
        if isinstance(entry, dict) and isinstance(entry.get("order_id"), str):
            label += f" ({entry['order_id']})"
        try:
            orders.append(OrderInput.model_validate(entry))
        except ValidationError as err:
            problems.append(f"{source}: {label}: {describe_validation_error(err)}")
    seen: set[str] = set()
    for order in orders:
        if order.order_id in seen:
            problems.append(f"{source}: order_id {order.order_id!r} appears more than once")
        seen.add(order.order_id)
    if problems:
        raise OrderFileError("\n".join(problems))
    return orders


def load_orders(path: Path) -> list[OrderInput]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise OrderFileError(f"{path}: cannot read it: {err}") from None
    try:
        # Decimal, not float: 150.10 must stay 150.10.
        entries = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as err:
        raise OrderFileError(f"{path}: not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}") from None
    return parse_orders(entries, str(path))


@dataclass
class OrderOutcome:
    order_id: str
    run_id: str | None
    already_existed: bool
    state: OrderState | None = None
    waiting_for_approval: bool = False
    failure: str | None = None


@dataclass
class StartedOrder:
    order_id: str
    handle: WorkflowHandle
    already_existed: bool


async def start_order(connection: Connection, order: OrderInput) -> StartedOrder:
    client = connection.client
    workflow_id = workflow_id_for(order.order_id)
    try:
        handle: WorkflowHandle = await client.start_workflow(
            WORKFLOW_TYPE,
            order,
            id=workflow_id,
            task_queue=TASK_QUEUE,
            result_type=OrderState,
            # An order id is processed once, ever: a second start reports the first run.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            static_summary=f"Order {order.order_id} for {order.customer_id}, total {order.total_amount}",
        )
        return StartedOrder(order.order_id, handle, already_existed=False)
    except WorkflowAlreadyStartedError:
        return StartedOrder(order.order_id, client.get_workflow_handle(workflow_id, result_type=OrderState), True)


async def outcome_of(started: StartedOrder) -> OrderOutcome:
    outcome = OrderOutcome(started.order_id, started.handle.result_run_id, started.already_existed)
    try:
        outcome.state, outcome.waiting_for_approval = await settle(started.handle)
    except WorkflowFailureError as err:
        outcome.failure = str(err.cause or err)
    if outcome.run_id is None:
        outcome.run_id = (await started.handle.describe()).run_id
    return outcome


async def picked_up(started: Sequence[StartedOrder], within_seconds: float) -> bool:
    """Whether a worker has started on every running order within the time given."""
    deadline = asyncio.get_running_loop().time() + within_seconds
    while True:
        descriptions = [await order.handle.describe() for order in started]
        # Started, task scheduled: a history of two events has not been touched by a worker.
        if all(d.status is not WorkflowExecutionStatus.RUNNING or d.history_length > 2 for d in descriptions):
            return True
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.2)


async def settle(handle: WorkflowHandle) -> tuple[OrderState, bool]:
    """The final state, or the state of an order that now waits for a person to approve it."""
    result = asyncio.ensure_future(handle.result())
    try:
        while True:
            done, _ = await asyncio.wait({result}, timeout=_SETTLE_POLL_SECONDS)
            if done:
                return result.result(), False
            try:
                state = await handle.query("state", result_type=OrderState)
            except RPCError:
                continue  # its first workflow task has not run yet
            if state.status is OrderStatus.PAYMENT_PENDING:
                return state, True
    finally:
        result.cancel()


def describe_outcome(outcome: OrderOutcome, link: str | None) -> str:
    state = outcome.state
    headline = "Failed" if outcome.failure else state.status.value
    if outcome.waiting_for_approval:
        headline += " (waiting for manual approval)"
    if outcome.already_existed:
        headline += " (already existed: reported, not processed again)"
    lines = [f"{outcome.order_id}: {headline}"]
    if outcome.failure:
        lines.append(f"  failure     {outcome.failure}")
    else:
        lines.append(f"  validation  {'failed' if state.validation_errors else 'passed'}")
        lines += [f"    error     {error}" for error in state.validation_errors]
        lines += [f"    warning   {warning}" for warning in state.warnings]
        if state.payment_id:
            lines.append(f"  payment     {state.payment_id} ({state.payment_status.value})")
        else:
            lines.append(f"  payment     skipped: {state.payment_skipped_reason or 'not reached'}")
        lines.append(f"  tracking    {state.tracking_number or '-'}")
        if state.cancellation_reason:
            refund = state.refund_amount if state.refund_amount is not None else "none"
            lines.append(f"  cancelled   {state.cancellation_reason}; refund {refund}")
        if outcome.waiting_for_approval:
            lines.append(f"  decide      orders approve {state.order_id} --approver NAME  (or: orders reject / orders cancel)")
        lines.append(f"  events      {state.version}")
    if link:
        lines.append(f"  web ui      {link}")
    return "\n".join(lines)


async def wait_for_interrupt() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


async def start_orders(orders: Sequence[OrderInput], keep_up: bool) -> int:
    connection = await open_connection(load_settings())
    worker: Worker | None = None
    worker_run: asyncio.Task | None = None

    def run_worker_here(why: str) -> None:
        nonlocal worker, worker_run
        worker = build_worker(connection.client)
        worker_run = asyncio.create_task(worker.run())
        print(f"{why}: running one inside this process.")

    try:
        if connection.embedded or not await has_live_poller(connection.client, TASK_QUEUE):
            run_worker_here(f"No worker was polling {TASK_QUEUE!r}")
        started = [await start_order(connection, order) for order in orders]
        # The server lists a worker that stopped a minute ago as a poller still; trust,
        # but check that some worker really picks the orders up.
        if worker is None and not await picked_up(started, _PICK_UP_SECONDS):
            run_worker_here(f"No worker picked the orders up within {_PICK_UP_SECONDS:.0f} s")
        outcomes = await asyncio.gather(*(outcome_of(order) for order in started))
        for outcome in outcomes:
            print()
            print(describe_outcome(outcome, connection.workflow_link(workflow_id_for(outcome.order_id), outcome.run_id)))
        started_something = bool(connection.embedded or worker)
        if keep_up and started_something:
            print()
            if connection.ui_url:
                print(f"Web UI: {connection.ui_url}")
            print("Keeping the server and worker up for inspection; Ctrl-C to stop.")
            await wait_for_interrupt()
        return EXIT_ORDER_FAILED if any(outcome.failure for outcome in outcomes) else 0
    finally:
        if worker:
            await worker.shutdown()
            await worker_run
        await connection.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, help="JSON file holding one order or a list of orders")
    parser.add_argument(
        "--no-wait", action="store_true", help="stop the server and worker this run started, and exit"
    )
    args = parser.parse_args(argv)
    # Same stream as the report, so "started the embedded server" comes first.
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stdout)
    logging.getLogger("connection").setLevel(logging.INFO)
    forward_core_logs()

    try:
        orders = load_orders(args.file) if args.file else parse_orders(TUTORIAL_ORDERS, "tutorial orders")
    except OrderFileError as err:
        print(f"error: {err}", file=sys.stderr)
        print("No order was started.", file=sys.stderr)
        return EXIT_BAD_INPUT

    keep_up = not args.no_wait and sys.stdin.isatty() and sys.stdout.isatty()
    try:
        return asyncio.run(start_orders(orders, keep_up))
    except TemporalUnavailable as err:
        print(f"error: {err}", file=sys.stderr)
        print("No order was started.", file=sys.stderr)
        return EXIT_UNAVAILABLE
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    exit_now(main())
