"""Orders on their way: started a bounded number at a time, each followed until it has
settled (ended, or waits for a person), and what an order id already processed is known
as where Temporal's retention deleted its history (the archive, the read models).

How an order ends is its workflow's result; one that waits for a person gives none
until someone decides, so once a second one visibility query asks which of the awaited
orders wait for approval, and their state is read from their histories.
"""

import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import WorkflowAlreadyStartedError

from client.starting import start_order
from connection import Settings
from contract import ORDER_STATUS, TASK_QUEUE, WORKFLOW_TYPE, order_id_of, workflow_id_for
from domain import OrderInput, OrderState, OrderStatus
from encryption import EncryptionKeyError
from eventstore import (
    Archive,
    EnvelopeReader,
    EventStore,
    HistoryReadError,
    SnapshotSeal,
    open_archive,
    snapshot_of_archived,
)
from projections import ProjectionError, ReadModels, open_read_models

# Start requests at once, and orders started but not yet settled: enough to keep a server
# and its workers busy, few enough that ten thousand orders never mean ten thousand open
# requests, nor ten thousand workflows crowding the workers' caches (1,000 each) at once.
_CONCURRENT_STARTS = 64
_ORDERS_IN_FLIGHT = 512
_PENDING_POLL = timedelta(seconds=1)
# With another worker trusted to serve the orders: how long to wait for a first order to
# settle before saying that none may be serving (a killed worker looks alive for a while).
_NO_WORKER_WARNING_AFTER = timedelta(seconds=15)

log = logging.getLogger(__name__)


class UnreadableOrder(Exception):
    """An order whose outcome this process cannot read (a key it lacks); the message names both."""


@dataclass
class PastOrders:
    """Where an order id is still known once Temporal's retention deleted its history:
    the archive, then the read models (each None when there is none)."""

    archive: Archive | None
    read_models: ReadModels | None
    reader: EnvelopeReader
    seal: SnapshotSeal

    def ended(self, order_id: str) -> tuple[OrderState, str, str | None] | None:
        """How the order ended (the archive's snapshot of it, else the read models' row),
        where that is known, and its run id; None if nowhere."""
        archived = next(iter(self.archive.snapshots([order_id])), None) if self.archive is not None else None
        if self.archive is not None and archived is not None:
            snapshot = snapshot_of_archived(archived, self.archive, self.reader, self.seal)
            if snapshot is not None:
                return snapshot.state, f"the archive at {self.archive.where}", archived.run_id
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
            read_models = await open_read_models(client, projections, writing=False)
        except ProjectionError as err:
            log.warning("Not asking the read models whether an order is known: %s", err)
    return PastOrders(archive, read_models, EnvelopeReader.of(client), SnapshotSeal.of(client))


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


async def follow(
    client: Client, orders: Sequence[OrderInput], run: Run, *, eager: bool, in_flight: int = _ORDERS_IN_FLIGHT
) -> None:
    """Start every order, a bounded number at a time, and wait until each has settled:
    the next order starts as an earlier one ends or is found waiting for a person."""
    starts, settling = asyncio.Semaphore(_CONCURRENT_STARTS), asyncio.Semaphore(in_flight)
    began = datetime.now(UTC) - timedelta(minutes=1)  # the server's clock may differ a little

    async def start_and_follow(order: OrderInput) -> None:
        outcome = run.outcomes[order.order_id]
        async with settling:
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
        handle = await start_order(client, order, eager=eager)
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


async def warn_if_nothing_settles(run: Run, after: timedelta | None = None) -> None:
    """A worker killed outright still looks alive to the server for a minute or so; if
    the orders are left to it, say so rather than wait without a word."""
    after = after or _NO_WORKER_WARNING_AFTER
    await asyncio.sleep(after.total_seconds())
    if run.started and not run.settled:
        print(
            f"warning: no order has settled in {after.seconds} s. A worker polled "
            f"{TASK_QUEUE!r} lately, so none was started here; if it has stopped, start one "
            "(python worker.py), or stop this run and start it again with --worker-here. "
            "Orders already started wait for a worker; none is lost.",
            file=sys.stderr,
            flush=True,
        )
