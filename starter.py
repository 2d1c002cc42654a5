"""Start orders and report how each one ended.

    python starter.py                  # the tutorial's three orders (examples/tutorial-orders.json)
    python starter.py --file FILE      # one order, or a list of orders, as JSON
    python starter.py --no-wait        # do not keep an embedded server up afterwards

Every order in a file is checked before any is started: one malformed order and
none of the file starts. An order id that already exists is never processed twice;
the existing run's outcome is reported instead.

Exit codes: 0 done; 1 an order failed; 2 a malformed file or setting; 3 Temporal could
not be reached.
"""

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError
from temporalio.worker import Worker

import views
from activities.order_activities import OrderActivities
from connection import Connection, SettingsError, TemporalUnavailable, has_live_worker, load_settings, open_connection
from connection.core_logs import forward_core_logs
from connection.process import EXIT_UNAVAILABLE, exit_now, wait_for_interrupt
from contract import SEARCH_ATTRIBUTES, TASK_QUEUE, WORKFLOW_TYPE, workflow_id_for
from domain import OrderInput, OrderState, OrderStatus, describe_validation_error
from eventstore import EventStore
from hosting import build_worker
from workflows.order_workflow import OrderWorkflow

EXIT_ORDER_FAILED = 1
EXIT_BAD_INPUT = 2

TUTORIAL_ORDERS = Path(__file__).resolve().parent / "examples" / "tutorial-orders.json"

_SETTLE_POLL_SECONDS = 0.5


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
            label += f" ({entry['order_id'][:64]})"
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
class Outcome:
    order_id: str
    run_id: str | None
    already_existed: bool
    state: OrderState
    waiting_for_approval: bool = False
    failure: str | None = None

    def headline(self) -> str:
        text = "Failed" if self.failure else self.state.status.value if self.state.status else "Not started"
        if self.waiting_for_approval:
            text += " (waiting for manual approval)"
        if self.already_existed:
            text += " (already existed: reported, not processed again)"
        return text


async def start_order(client: Client, order: OrderInput) -> tuple[WorkflowHandle[Any, OrderState], bool]:
    """The order's workflow, and whether it existed already (then it is not started again)."""
    workflow_id = workflow_id_for(order.order_id)
    try:
        # By name: the workflow takes its input raw, to refuse malformed input itself.
        handle: WorkflowHandle[Any, OrderState] = await client.start_workflow(
            WORKFLOW_TYPE,
            order,
            result_type=OrderState,
            id=workflow_id,
            task_queue=TASK_QUEUE,
            # An order id is processed once, ever: a second start reports the first run.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            static_summary=f"Order {order.order_id} for {order.customer_id}, total {order.total_amount}",
        )
        return handle, False
    except WorkflowAlreadyStartedError:
        return client.get_workflow_handle(workflow_id, result_type=OrderState), True


async def outcome_of(
    client: Client, order: OrderInput, handle: WorkflowHandle[Any, OrderState], already_existed: bool
) -> Outcome:
    try:
        state, waiting = await settle(handle)
        failure = None
    except WorkflowFailureError as err:
        # What the order recorded before it failed, if anything, is in its history.
        state, waiting = (await EventStore(client).read_stream(order.order_id)).state_at(), False
        failure = str(getattr(err.cause, "message", None) or err.cause or err)
    run_id = handle.result_run_id or (await handle.describe()).run_id
    return Outcome(order.order_id, run_id, already_existed, state, waiting, failure)


async def settle(handle: WorkflowHandle[Any, OrderState]) -> tuple[OrderState, bool]:
    """The final state, or the state of an order that now waits for a person to approve it."""
    result = asyncio.ensure_future(handle.result())
    try:
        while True:
            done, _ = await asyncio.wait({result}, timeout=_SETTLE_POLL_SECONDS)
            if done:
                return result.result(), False
            try:
                state = await handle.query(OrderWorkflow.state)
            except RPCError:
                continue  # no worker has taken it up yet
            if state.status is OrderStatus.PAYMENT_PENDING:
                return state, True
    finally:
        result.cancel()


def report(outcome: Outcome, link: str | None) -> str:
    text = views.order_report(outcome.state, outcome.headline(), link=link)
    if outcome.failure:
        headline, _, facts = text.partition("\n")
        text = "\n".join(filter(None, [headline, f"  failure     {outcome.failure}", facts]))
    return text


async def start_orders(orders: Sequence[OrderInput], keep_up: bool) -> int:
    settings = load_settings()
    connection = await open_connection(settings, SEARCH_ATTRIBUTES)
    worker: Worker | None = None
    try:
        if connection.embedded or not await has_live_worker(connection.client, TASK_QUEUE):
            # Nobody else serves the orders: serve them here, over this machine's ledger.
            activities = OrderActivities.over_ledger(settings.ledger_path)
            worker = build_worker(connection.client, activities=activities)
            print(f"No worker was polling {TASK_QUEUE!r}: running one inside this process.")
        async with AsyncExitStack() as running:
            if worker:
                await running.enter_async_context(worker)
            started = [(order, *await start_order(connection.client, order)) for order in orders]
            outcomes = await asyncio.gather(*(outcome_of(connection.client, *each) for each in started))
            for outcome in outcomes:
                print()
                print(report(outcome, connection.workflow_link(workflow_id_for(outcome.order_id), outcome.run_id)))
            if keep_up and (connection.embedded or worker):
                _say_what_stays_up(connection)
                await wait_for_interrupt()
        return EXIT_ORDER_FAILED if any(outcome.failure for outcome in outcomes) else 0
    finally:
        await connection.close()


def _say_what_stays_up(connection: Connection) -> None:
    print()
    if connection.ui_url:
        print(f"Web UI: {connection.ui_url}")
    print("Keeping the server and worker up for inspection; Ctrl-C to stop.")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--file", type=Path, default=TUTORIAL_ORDERS, help="JSON file holding one order or a list of orders"
    )
    parser.add_argument("--no-wait", action="store_true", help="stop the server and worker this run started, and exit")
    args = parser.parse_args(argv)
    # Same stream as the report, so "started the embedded server" comes first.
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stdout)
    logging.getLogger("connection").setLevel(logging.INFO)
    forward_core_logs()

    try:
        orders = load_orders(args.file)
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
