"""Start orders and report how they ended.

    python starter.py                     # the tutorial's three orders (examples/tutorial-orders.json)
    python starter.py --file FILE         # a JSON order, a JSON list of orders, or JSON Lines (one a line)
    python starter.py --file FILE --json  # the outcome for machines
    python starter.py --no-wait           # do not keep an embedded server up afterwards
    python starter.py --worker-here       # serve the orders in this process, whoever else polls

Every order in a file is checked before any is started: one malformed order and none of
the file starts. An order id is processed once, ever: one Temporal still holds reports that
run's outcome; one only the archive or the read models know (Temporal's retention deleted
its history) is reported as it ended there; neither is started again. Orders are started
a bounded number at a time, their outcomes awaited as they come (results for orders that
end, one visibility query a second for those that wait for approval), with progress on
stderr; then a summary. Each order's detail is printed for small runs, or with --verbose.

Exit codes: 0 done; 1 an order failed, or could not be read (a key missing); 2 a malformed
file or setting; 3 Temporal could not be reached (or the embedded server was given up);
4 the namespace lacks search attributes orders need; 130 stopped by Ctrl-C or SIGTERM,
saying how many orders were started.
"""

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

import views
from activities.order_activities import OrderActivities
from connection import (
    Connection,
    NamespaceNotSetUp,
    Settings,
    SettingsError,
    TemporalUnavailable,
    has_live_worker,
    load_settings,
    open_connection,
    silence_of,
)
from connection.core_logs import forward_core_logs
from connection.embedded_server import EmbeddedServerError
from connection.encryption import EncryptionKeyError, PayloadOpener, customer_ref
from connection.process import ExitCode, exit_now, wait_for_interrupt
from contract import (
    ORDER_STATUS,
    SEARCH_ATTRIBUTES,
    TASK_QUEUE,
    WORKFLOW_TYPE,
    order_id_of,
    search_attributes_at_start,
    workflow_id_for,
)
from domain import OrderInput, OrderState, OrderStatus, describe_validation_error
from eventstore import Archive, EventStore, HistoryReadError, open_archive
from hosting import build_worker
from observability.tracing import correlated, start_tracing, stop_tracing
from projections import ProjectionError, ReadModels, open_read_models

TUTORIAL_ORDERS = Path(__file__).resolve().parent / "examples" / "tutorial-orders.json"

# Start requests at once, and orders started but not yet settled: enough to keep a server
# and its workers busy, few enough that ten thousand orders never mean ten thousand open
# requests, nor ten thousand workflows crowding the workers' caches (1,000 each) at once.
_CONCURRENT_STARTS = 64
_ORDERS_IN_FLIGHT = 512
_PENDING_POLL = timedelta(seconds=1)
# Up to this many orders, each one's detail is printed; above, the summary alone.
_DETAIL_UP_TO = 20
_LISTED_UP_TO = 20
_REASONS_UP_TO = 5
_PLAIN_PROGRESS_EVERY = timedelta(seconds=5)
# With another worker trusted to serve the orders: how long to wait for a first order to
# settle before saying that none may be serving (a killed worker looks alive for a while).
_NO_WORKER_WARNING_AFTER = timedelta(seconds=15)


class UnreadableOrder(Exception):
    """An order whose outcome this process cannot read (a key it lacks); the message names both."""


class OrderFileError(Exception):
    """A file of orders that cannot be started; the message names the file and the field."""


# -- Reading orders ------------------------------------------------------------------------


def parse_orders(entries: Iterable[tuple[str, object]]) -> list[OrderInput]:
    """(where, entry) pairs into orders; every problem is collected before any is raised."""
    orders: list[OrderInput] = []
    problems: list[str] = []
    seen: set[str] = set()
    for where, entry in entries:
        label = where
        if isinstance(entry, dict) and isinstance(entry.get("order_id"), str):
            label += f" ({entry['order_id'][:64]})"
        try:
            order = OrderInput.model_validate(entry)
        except ValidationError as err:
            problems.append(f"{label}: {describe_validation_error(err)}")
            continue
        if order.order_id in seen:
            problems.append(f"{label}: order_id {order.order_id!r} appears more than once")
        seen.add(order.order_id)
        orders.append(order)
    if problems:
        shown = problems[:_LISTED_UP_TO]
        if len(problems) > len(shown):
            shown.append(f"… and {len(problems) - len(shown)} more problems")
        raise OrderFileError("\n".join(shown))
    if not orders:
        raise OrderFileError("no orders to start")
    return orders


def load_orders(path: Path) -> list[OrderInput]:
    """A JSON order, a JSON list of orders, or JSON Lines (one order a line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise OrderFileError(f"{path}: cannot read it: {err}") from None
    try:
        # Decimal, not float: 150.10 must stay 150.10.
        document = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as err:
        if path.suffix != ".jsonl" and not (err.msg == "Extra data" and text.lstrip().startswith("{")):
            raise OrderFileError(
                f"{path}: not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}"
            ) from None
        return _parse(path, _json_lines(path, text))
    entries = document if isinstance(document, list) else [document]
    return _parse(path, ((f"order {n}", entry) for n, entry in enumerate(entries, start=1)))


def _json_lines(path: Path, text: str) -> Iterable[tuple[str, object]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield f"line {number}", json.loads(line, parse_float=Decimal)
        except json.JSONDecodeError as err:
            raise OrderFileError(f"{path}: line {number}: not valid JSON: {err.msg}, column {err.colno}") from None


def _parse(path: Path, entries: Iterable[tuple[str, object]]) -> list[OrderInput]:
    try:
        return parse_orders(entries)
    except OrderFileError as err:
        raise OrderFileError("\n".join(f"{path}: {line}" for line in str(err).splitlines())) from None


# -- Starting and following ----------------------------------------------------------------


@dataclass
class PastOrders:
    """Where an order id is still known once Temporal's retention deleted its history:
    the archive, then the read models (each None when there is none)."""

    archive: Archive | None
    read_models: ReadModels | None
    open_payload: PayloadOpener

    def ended(self, order_id: str) -> tuple[OrderState, str, str | None] | None:
        """How the order ended, where that is known, and its run id; None if nowhere."""
        if self.archive is not None and (archived := self.archive.get(order_id)) is not None:
            as_archived = archived.stream(self.open_payload).state_at()
            return as_archived, f"the archive at {self.archive.where}", archived.run_id
        if self.read_models is not None and (as_projected := self.read_models.state_of(order_id)) is not None:
            return as_projected, f"the read models in {self.read_models.where}", None
        return None

    def close(self) -> None:
        for store in (self.archive, self.read_models):
            if store is not None:
                store.close()


async def past_orders(client: Client, settings: Settings) -> PastOrders:
    archive = await asyncio.to_thread(open_archive, settings.archive)
    projections = settings.projections
    read_models = None
    if not isinstance(projections, Path) or projections.exists():
        try:
            read_models = await open_read_models(client, projections)
        except ProjectionError as err:
            logging.getLogger(__name__).warning("Not asking the read models whether an order is known: %s", err)
    return PastOrders(archive, read_models, EventStore(client).open_payload)


@dataclass
class Outcome:
    order: OrderInput
    already_existed: bool = False
    known_from: str | None = None  # where an order Temporal no longer holds was found
    run_id: str | None = None
    state: OrderState | None = None
    waiting_for_approval: bool = False
    failure: str | None = None

    @property
    def status(self) -> str:
        """How the order stands, as its state says, or that it failed."""
        if self.failure:
            return "Failed"
        return self.state.status.value if self.state and self.state.status else "Not started"

    @property
    def kind(self) -> str:
        """What the summary counts it as."""
        return "Waiting for approval" if self.waiting_for_approval and not self.failure else self.status

    @property
    def reason(self) -> str | None:
        """Why an order that ended did not ship, in the words of its events."""
        state = self.state
        if self.failure or state is None or state.status in (None, OrderStatus.FULFILLED) or self.waiting_for_approval:
            return None
        return state.cancellation_reason or next(iter(state.validation_errors), None) or state.payment_skipped_reason

    def headline(self) -> str:
        text = self.status
        if self.waiting_for_approval:
            text += " (waiting for manual approval)"
        if self.known_from:
            text += f" (already processed, as {self.known_from} says: not processed again)"
        elif self.already_existed:
            text += " (already existed: reported, not processed again)"
        return text


@dataclass
class Run:
    """Orders on their way: started, then settled (ended, or waiting for a person)."""

    outcomes: dict[str, Outcome]
    past: PastOrders | None = None
    started: int = 0
    settled: int = 0
    # The result each started order is awaited for, until it ends or is found waiting.
    results: dict[str, asyncio.Future[OrderState]] = field(default_factory=dict)
    on_change: Callable[[], None] = lambda: None

    def count(self, *, started: int = 0, settled: int = 0) -> None:
        self.started += started
        self.settled += settled
        self.on_change()

    def awaited(self) -> list[str]:
        return [order_id for order_id, result in self.results.items() if not result.done()]


async def follow(client: Client, orders: Sequence[OrderInput], run: Run, *, eager: bool) -> None:
    """Start every order, a bounded number at a time, and wait until each has settled:
    the next order starts as an earlier one ends or is found waiting for a person."""
    starts, in_flight = asyncio.Semaphore(_CONCURRENT_STARTS), asyncio.Semaphore(_ORDERS_IN_FLIGHT)
    began = datetime.now(UTC) - timedelta(minutes=1)  # the server's clock may differ a little

    async def start_and_follow(order: OrderInput) -> None:
        outcome = run.outcomes[order.order_id]
        async with in_flight:
            async with starts:
                handle = await _start(client, order, outcome, run.past, eager=eager)
            run.count(started=1)
            if handle is not None:
                await _await_end(client, handle, outcome, run)
            run.count(settled=1)

    watcher = asyncio.create_task(_watch_for_approvals(client, run, began))
    try:
        await asyncio.gather(*(start_and_follow(order) for order in orders))
    finally:
        watcher.cancel()


async def _start(
    client: Client, order: OrderInput, outcome: Outcome, past: PastOrders | None, *, eager: bool
) -> WorkflowHandle[Any, OrderState] | None:
    """The order's handle, started now or found running or closed; None for an order
    only the archive or the read models know, reported as it ended there."""
    workflow_id = workflow_id_for(order.order_id)
    try:
        # A local look-up; Temporal is asked whether it still holds the order only if so.
        ended = await asyncio.to_thread(past.ended, order.order_id) if past is not None else None
    except (EncryptionKeyError, HistoryReadError) as err:
        raise UnreadableOrder(f"order {order.order_id!r} cannot be read: {err}") from None
    if ended is not None and not await EventStore(client).existing([workflow_id]):
        state, outcome.known_from, outcome.run_id = ended
        outcome.state, outcome.already_existed = state, True
        return None
    try:
        # By name: the workflow takes its input raw, to refuse malformed input itself.
        with correlated(order.correlation_id):
            handle: WorkflowHandle[Any, OrderState] = await client.start_workflow(
                WORKFLOW_TYPE,
                order,
                id=workflow_id,
                task_queue=TASK_QUEUE,
                result_type=OrderState,
                # An order id is processed once, ever: a second start reports the first run.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                static_summary=f"Order {order.order_id} for {order.customer_shown}, total {order.total_amount}",
                # Set now, they cost the workflow no command.
                search_attributes=search_attributes_at_start(
                    order.customer_shown, float(order.total_amount) if order.publish_total else None
                ),
                # With the worker in this process, its first task is handed over with the start.
                request_eager_start=eager,
            )
        outcome.run_id = handle.result_run_id
        return handle
    except WorkflowAlreadyStartedError:
        outcome.already_existed = True
        return client.get_workflow_handle(workflow_id, result_type=OrderState)


async def _await_end(client: Client, handle: WorkflowHandle[Any, OrderState], outcome: Outcome, run: Run) -> None:
    order_id = outcome.order.order_id
    result = run.results[order_id] = asyncio.ensure_future(handle.result())
    try:
        try:
            outcome.state = await result
        except WorkflowFailureError as err:
            # What the order recorded before it failed, if anything, is in its history.
            outcome.state = (await EventStore(client).read_stream(order_id)).state_at()
            outcome.failure = str(getattr(err.cause, "message", None) or err.cause or err)
    except (EncryptionKeyError, HistoryReadError) as err:
        # An order written under a key this process lacks: named, never a traceback.
        raise UnreadableOrder(f"order {order_id!r} cannot be read: {err}") from None
    except asyncio.CancelledError:
        if not result.cancelled() or not outcome.waiting_for_approval:
            raise  # this run itself is being cancelled
    if outcome.run_id is None:
        outcome.run_id = (await handle.describe()).run_id


async def _watch_for_approvals(client: Client, run: Run, began: datetime) -> None:
    """Once a second, one visibility query for this run's orders that wait for a person:
    their result would not come before someone decides."""
    pending = (
        f"WorkflowType='{WORKFLOW_TYPE}' AND ExecutionStatus='Running'"
        f" AND {ORDER_STATUS.name}='{OrderStatus.PAYMENT_PENDING.value}'"
    )
    while True:
        await asyncio.sleep(_PENDING_POLL.total_seconds())
        awaited = set(run.awaited())
        if not awaited:
            continue
        # Orders this run started began after it; an order found already there may be older.
        older = any(run.outcomes[order_id].already_existed for order_id in awaited)
        query = pending if older else f"{pending} AND StartTime >= '{began.isoformat()}'"
        async for execution in client.list_workflows(query):
            order_id = order_id_of(execution.id)
            if order_id not in awaited:
                continue
            outcome = run.outcomes[order_id]
            outcome.waiting_for_approval = True
            outcome.run_id = execution.run_id
            outcome.state = (await EventStore(client).read_stream(order_id)).state_at()
            run.results[order_id].cancel()


# -- Reporting -----------------------------------------------------------------------------


def summary(outcomes: Sequence[Outcome], elapsed: float) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    amounts: dict[str, Decimal] = {}
    for outcome in outcomes:
        counts[outcome.kind] += 1
        amounts[outcome.kind] = amounts.get(outcome.kind, Decimal(0)) + outcome.order.total_amount
    return {
        "orders": len(outcomes),
        "seconds": round(elapsed, 1),
        "per_second": round(len(outcomes) / elapsed, 1) if elapsed else None,
        "already_existed": sum(outcome.already_existed for outcome in outcomes),
        "by_outcome": {kind: {"orders": counts[kind], "amount": str(amounts[kind])} for kind in sorted(counts)},
        "not_shipped_because": dict(Counter(o.reason for o in outcomes if o.reason).most_common()),
        "failed": [{"order_id": o.order.order_id, "failure": o.failure} for o in outcomes if o.failure],
        "waiting_for_approval": [o.order.order_id for o in outcomes if o.waiting_for_approval],
    }


def render_summary(figures: dict[str, Any]) -> str:
    lines = [
        f"{figures['orders']} order(s) in {figures['seconds']} s ({figures['per_second']} a second);"
        f" {figures['already_existed']} already existed and were reported, not processed again",
        "",
        views.table(
            ("OUTCOME", "ORDERS", "AMOUNT"),
            [(kind, row["orders"], row["amount"]) for kind, row in figures["by_outcome"].items()],
        ),
    ]
    reasons = list(figures["not_shipped_because"].items())
    if reasons:
        lines += ["", "Why orders did not ship:"]
        lines += [f"  {count:>6}  {reason}" for reason, count in reasons[:_REASONS_UP_TO]]
        if len(reasons) > _REASONS_UP_TO:
            lines.append(f"  … and {len(reasons) - _REASONS_UP_TO} other reasons")
    if figures["failed"]:
        lines += ["", "Failed:"]
        lines += [f"  {row['order_id']}: {row['failure']}" for row in figures["failed"][:_LISTED_UP_TO]]
        lines += _more(figures["failed"])
        lines.append("  see how each ended: orders events ORDER_ID")
    if figures["waiting_for_approval"]:
        lines += ["", "Waiting for approval:"]
        lines += [f"  {order_id}" for order_id in figures["waiting_for_approval"][:_LISTED_UP_TO]]
        lines += _more(figures["waiting_for_approval"])
        lines.append("  decide with: orders approve ORDER_ID --approver NAME  (or orders reject / orders cancel)")
        lines.append("  list them:   orders report --query \"OrderStatus='PaymentPending'\"")
    lines += ["", "Look next: orders report (every order), orders events ORDER_ID (one order's story)"]
    return "\n".join(lines)


def _more(rows: Sequence[object]) -> list[str]:
    return [f"  … and {len(rows) - _LISTED_UP_TO} more"] if len(rows) > _LISTED_UP_TO else []


def detail(outcome: Outcome, link: str | None) -> str:
    state = outcome.state or OrderState(order_id=outcome.order.order_id)
    text = views.order_report(state, outcome.headline(), link=link)
    if outcome.failure:
        headline, _, facts = text.partition("\n")
        text = "\n".join(filter(None, [headline, f"  failure     {outcome.failure}", facts]))
    return text


class ProgressDisplay:
    """Progress on stderr: a bar on a terminal, a line every few seconds otherwise."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.bar: Progress | None = None
        self.last_line = 0.0
        self.run: Run | None = None

    def __enter__(self) -> "ProgressDisplay":
        if sys.stderr.isatty():
            self.bar = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                transient=True,
            )  # fmt: skip
            self.bar.start()
            self.started_task = self.bar.add_task("started", total=self.total)
            self.settled_task = self.bar.add_task("settled", total=self.total)
        return self

    def update(self) -> None:
        assert self.run is not None
        if self.bar is not None:
            self.bar.update(self.started_task, completed=self.run.started)
            self.bar.update(self.settled_task, completed=self.run.settled)
        elif (
            time.monotonic() - self.last_line >= _PLAIN_PROGRESS_EVERY.total_seconds() or self.run.settled == self.total
        ):
            self.last_line = time.monotonic()
            print(
                f"orders: {self.run.started}/{self.total} started, {self.run.settled} settled",
                file=sys.stderr,
                flush=True,
            )

    def __exit__(self, *exc_info: object) -> None:
        if self.bar is not None:
            self.bar.stop()


# -- The run -------------------------------------------------------------------------------


def kept_private(order: OrderInput, settings: Settings) -> OrderInput:
    """The order as the settings let the server see it: the customer id replaced by a keyed
    hash in search attributes and summaries (ORDERS_CUSTOMER_ID_KEY), the total kept out
    of search attributes (ORDERS_PUBLISH_ORDER_TOTAL=false). The input itself is whole."""
    if settings.customer_id_key is None and settings.publish_order_total:
        return order
    reference = customer_ref(settings.customer_id_key, order.customer_id) if settings.customer_id_key else None
    return order.model_copy(update={"customer_ref": reference, "publish_total": settings.publish_order_total})


async def start_orders(
    orders: Sequence[OrderInput], *, keep_up: bool, verbose: bool, as_json: bool, worker_here: bool = False
) -> int:
    settings = load_settings()
    orders = [kept_private(order, settings) for order in orders]
    connection = await open_connection(settings, SEARCH_ATTRIBUTES)
    run: Run | None = None
    try:
        connection.require_search_attributes()
        async with AsyncExitStack() as running:
            ours = (
                worker_here
                or connection.embedded is not None
                or not await has_live_worker(connection.client, TASK_QUEUE)
            )
            if ours:
                # Nobody else serves the orders: serve them here, over this machine's ledger.
                activities = OrderActivities.over_ledger(settings.ledger_path)
                await running.enter_async_context(build_worker(connection.client, activities=activities))
                if not worker_here:
                    print(
                        f"No worker was polling {TASK_QUEUE!r}: running one inside this process.",
                        file=_chatter(as_json),
                    )
            past = await past_orders(connection.client, settings)
            running.callback(past.close)
            run = Run({order.order_id: Outcome(order) for order in orders}, past)
            began = time.monotonic()
            with ProgressDisplay(len(orders)) as progress:
                progress.run, run.on_change = run, progress.update
                if not ours:
                    running.push_async_callback(_cancelled, asyncio.create_task(_warn_if_nothing_settles(run)))
                following = connection.unless_server_given_up(follow(connection.client, orders, run, eager=ours))
                try:
                    finished = await _unless_interrupted(following)
                except RPCError as err:
                    if (silent := silence_of(err, settings)) is None:
                        raise
                    # A worker stops by telling the server; one fallen silent would hold this
                    # run for the core's own deadline. The worker here is left as a crashed
                    # one is (Temporal retries its activities elsewhere); a server this run
                    # started is stopped.
                    print(f"error: {silent}", file=sys.stderr)
                    _say_where_it_stopped(run, len(orders))
                    await connection.close()
                    exit_now(ExitCode.UNAVAILABLE)
                if not finished:
                    # Leaving the block stops the worker gracefully, then the server.
                    print("Stopped by a signal.", file=sys.stderr)
                    _say_where_it_stopped(run, len(orders))
                    return ExitCode.INTERRUPTED
            outcomes = list(run.outcomes.values())
            figures = summary(outcomes, time.monotonic() - began)
            _print_outcomes(connection, outcomes, figures, verbose=verbose, as_json=as_json)
            if keep_up and (connection.embedded or ours):
                _say_what_stays_up(connection)
                await wait_for_interrupt()
        return ExitCode.FAILED if figures["failed"] else ExitCode.OK
    except (asyncio.CancelledError, EmbeddedServerError) as stopped:
        # Cancelled: by Ctrl-C or SIGTERM, or by the SDK, which cancels a worker's block
        # when the worker fails for good (as when the embedded server was given up).
        given_up = connection.given_up()
        if given_up is None and isinstance(stopped, asyncio.CancelledError):
            print("Stopped by a signal.", file=sys.stderr)
            _say_where_it_stopped(run, len(orders))
            raise
        print(f"error: {given_up or stopped}", file=sys.stderr)
        _say_where_it_stopped(run, len(orders))
        return ExitCode.UNAVAILABLE
    except RPCError as err:
        if (silent := silence_of(err, settings)) is None:
            raise
        print(f"error: {silent}", file=sys.stderr)
        _say_where_it_stopped(run, len(orders))
        return ExitCode.UNAVAILABLE
    finally:
        await connection.close()


def _say_where_it_stopped(run: "Run | None", total: int) -> None:
    if run is None or not run.started:
        print("No order was started.", file=sys.stderr)
        return
    print(
        f"{run.started} of {total} order(s) were started and {run.settled} settled. Temporal keeps the started ones: "
        f"they go on whenever a worker serves {TASK_QUEUE!r}. Run the same file again to start the rest; "
        "orders already started are reported, not processed again.",
        file=sys.stderr,
    )


async def _unless_interrupted(work: Awaitable[None]) -> bool:
    """True once `work` is done; False if Ctrl-C or SIGTERM came first (`work` is cancelled)."""
    working = asyncio.ensure_future(work)
    interrupted = asyncio.ensure_future(wait_for_interrupt())
    try:
        await asyncio.wait([working, interrupted], return_when=asyncio.FIRST_COMPLETED)
        if working.done():
            working.result()
            return True
        working.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await working
        return False
    finally:
        interrupted.cancel()


async def _warn_if_nothing_settles(run: Run) -> None:
    """A worker killed outright still looks alive to the server for a minute or so; if
    the orders are left to it, say so rather than wait without a word."""
    await asyncio.sleep(_NO_WORKER_WARNING_AFTER.total_seconds())
    if run.started and not run.settled:
        print(
            f"warning: no order has settled in {_NO_WORKER_WARNING_AFTER.seconds} s. A worker polled "
            f"{TASK_QUEUE!r} lately, so none was started here; if it has stopped, start one "
            "(python worker.py), or stop this run and start it again with --worker-here. "
            "Orders already started wait for a worker; none is lost.",
            file=sys.stderr,
            flush=True,
        )


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()


def _chatter(as_json: bool) -> TextIO:
    """Where words for people go: stdout, unless stdout carries JSON."""
    return sys.stderr if as_json else sys.stdout


def _print_outcomes(
    connection: Connection, outcomes: Sequence[Outcome], figures: dict[str, Any], *, verbose: bool, as_json: bool
) -> None:
    if as_json:
        figures = {
            **figures,
            "outcomes": [
                {
                    "order_id": o.order.order_id,
                    "outcome": o.kind,
                    "already_existed": o.already_existed,
                    "known_from": o.known_from,
                    "failure": o.failure,
                    "state": o.state.model_dump(mode="json") if o.state else None,
                }
                for o in outcomes
            ],
        }
        print(json.dumps(figures, indent=2))
        return
    if verbose or len(outcomes) <= _DETAIL_UP_TO:
        for outcome in outcomes:
            print()
            # Temporal no longer holds an order known elsewhere: no link to show it there.
            link = (
                None
                if outcome.known_from
                else connection.workflow_link(workflow_id_for(outcome.order.order_id), outcome.run_id)
            )
            print(detail(outcome, link))
    print()
    print(render_summary(figures))


def _say_what_stays_up(connection: Connection) -> None:
    print()
    if connection.ui_url:
        print(f"Web UI: {connection.ui_url}")
    print("Keeping the server and worker up for inspection; Ctrl-C to stop.")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, default=TUTORIAL_ORDERS, help="orders as JSON or JSON Lines")
    parser.add_argument("--no-wait", action="store_true", help="stop the server and worker this run started, and exit")
    parser.add_argument("--verbose", action="store_true", help="each order's detail, however many there are")
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON for machines")
    parser.add_argument(
        "--worker-here",
        action="store_true",
        help=f"serve the orders inside this process even if another worker polled {TASK_QUEUE!r} lately",
    )
    args = parser.parse_args(argv)
    # Same stream as the report, so "started the embedded server" comes first.
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=_chatter(args.json))
    logging.getLogger("connection").setLevel(logging.INFO)
    forward_core_logs()

    try:
        orders = load_orders(args.file)
    except OrderFileError as err:
        print(f"error: {err}", file=sys.stderr)
        print("No order was started.", file=sys.stderr)
        return ExitCode.USAGE

    keep_up = not args.no_wait and sys.stdin.isatty() and sys.stdout.isatty()
    # SIGTERM stops a run as Ctrl-C does: the worker and the embedded server it started
    # are stopped in order, and what was started is said; nothing is left running. While
    # orders are followed, both signals are the event loop's (start_orders); before, they
    # interrupt whatever runs.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        if load_settings().traces_exported:
            start_tracing("orders-starter")
        return asyncio.run(
            start_orders(orders, keep_up=keep_up, verbose=args.verbose, as_json=args.json, worker_here=args.worker_here)
        )
    except TemporalUnavailable as err:
        print(f"error: {err}", file=sys.stderr)
        print("No order was started.", file=sys.stderr)
        return ExitCode.UNAVAILABLE
    except NamespaceNotSetUp as err:
        print(f"error: {err}", file=sys.stderr)
        print("No order was started.", file=sys.stderr)
        return ExitCode.NOT_SET_UP
    except SettingsError as err:
        print(f"error: {err}", file=sys.stderr)
        return ExitCode.USAGE
    except UnreadableOrder as err:
        print(f"error: {err}", file=sys.stderr)
        return ExitCode.FAILED
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    finally:
        stop_tracing()


if __name__ == "__main__":
    exit_now(main())
