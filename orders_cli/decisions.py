"""`orders approve | reject | cancel`: decisions sent to a running order as updates.

A decision waits at most ORDERS_DECISION_TIMEOUT for a worker to take it up (a worker
killed outright still looks alive to the server for a minute or so). It carries that
deadline (`expires_at`): an order that takes it up later refuses it as expired, so a
decision its sender was told is withdrawn is never applied behind their back.
"""

import argparse
import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateHandle,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.service import RPCError, RPCStatusCode

import views
from contract import APPROVE_PAYMENT, CANCEL_ORDER, REJECT_PAYMENT, workflow_id_for
from domain import ApprovePayment, CancelOrder, Decision, OrderState, RejectPayment, describe_validation_error, refusal
from eventstore import EventStore, StreamNotFound
from hosting import has_live_worker
from orders_cli.arguments import OneLineErrors, Subcommands
from orders_cli.sources import print_json, temporal
from programs import CommandError, ExitCode, whole_number

_UPDATES: dict[type, str] = {ApprovePayment: APPROVE_PAYMENT, RejectPayment: REJECT_PAYMENT, CancelOrder: CANCEL_ORDER}


# Past the decision's deadline, how long to go on listening for a worker's acceptance
# that was on its way: the sender is told "withdrawn" only once none can still come.
_ACCEPTANCE_IN_FLIGHT = timedelta(seconds=5)


class DecisionRefused(CommandError):
    """The order refused a decision; the message says why, naming its status and version."""


def register(commands: Subcommands) -> None:
    decision = OneLineErrors(add_help=False)
    decision.add_argument("order_id")
    decision.add_argument(
        "--expected-version", type=whole_number(0), metavar="N", help="refuse unless the order is at version N"
    )
    approve = commands.add("approve", decision_command, parents=[decision])
    approve.add_argument("--approver", required=True)
    approve.add_argument("--comment")
    reject = commands.add("reject", decision_command, parents=[decision])
    reject.add_argument("--approver", required=True)
    reject.add_argument("--reason", required=True)
    cancel = commands.add("cancel", decision_command, parents=[decision])
    cancel.add_argument("--reason", required=True)
    cancel.add_argument("--requested-by")


async def decision_command(args: argparse.Namespace) -> int:
    wait = args.settings.decision_timeout
    try:
        decision = _decision(args, expires_at=datetime.now(UTC) + wait)
    except ValidationError as err:
        raise CommandError(describe_validation_error(err)) from None
    # Said if a signal stops the wait: what becomes of the decision.
    args.on_interrupt = (
        f"the decision stays pending until {decision.expires_at:%H:%M:%S} UTC: a worker that takes it up before"
        f" then carries it out, after then the order refuses it (see `orders state {args.order_id}`)"
    )
    async with temporal(args.settings) as client:
        state = await decide(client, args.order_id, decision, wait)
    print_json(state) if args.json else print(views.order_state(state))
    return ExitCode.OK


def _decision(args: argparse.Namespace, expires_at: datetime) -> Decision:
    version = {"expected_version": args.expected_version, "expires_at": expires_at}
    if args.command == "approve":
        return ApprovePayment(approver=args.approver, comment=args.comment, **version)
    if args.command == "reject":
        return RejectPayment(approver=args.approver, reason=args.reason, **version)
    return CancelOrder(reason=args.reason, requested_by=args.requested_by, **version)


async def decide(client: Client, order_id: str, decision: Decision, wait: timedelta) -> OrderState:
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
    if not await has_live_worker(client, description.task_queue):
        raise DecisionRefused(
            f"no worker is polling {description.task_queue!r}: start `python worker.py` and try again"
        )
    return await send_decision(client, handle, order_id, decision, wait)


async def send_decision(
    client: Client, handle: WorkflowHandle[Any, Any], order_id: str, decision: Decision, wait: timedelta
) -> OrderState:
    try:
        update = await _accepted(handle, decision, wait + _ACCEPTANCE_IN_FLIGHT)
        if update is None:
            raise DecisionRefused(
                f"no worker took the decision on {order_id} within {wait.total_seconds():g} s"
                " (ORDERS_DECISION_TIMEOUT): it is withdrawn, and the order refuses it as expired if a worker"
                " takes it up later; start one (python worker.py) and decide again"
            )
        # Taken up by a worker: it is carried out now, however long its activities take.
        state: OrderState = await update.result()
        return state
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
    state = (await EventStore(client).read_stream(order_id)).state_at()
    if reason := refusal(state, decision):
        return reason
    # Closed from outside (terminated, timed out) where its own rules would still allow it.
    closed = (await client.get_workflow_handle(workflow_id_for(order_id)).describe()).status
    where = f"at {state.status.value} (version {state.version})" if state.status else "before its first event"
    return (
        f"order {order_id} was closed ({closed.name if closed else 'unknown'}) {where} before the decision reached it"
    )


async def _accepted(
    handle: WorkflowHandle[Any, Any], decision: Decision, wait: timedelta
) -> WorkflowUpdateHandle[OrderState] | None:
    """The decision once a worker has accepted it (or refused it); None if none took it
    up within `wait`. Stopped by a signal, the wait ends as a plain cancellation."""
    sending = asyncio.ensure_future(
        handle.start_update(
            _UPDATES[type(decision)], decision, wait_for_stage=WorkflowUpdateStage.ACCEPTED, result_type=OrderState
        )
    )
    try:
        done, _ = await asyncio.wait({sending}, timeout=wait.total_seconds())
    finally:
        if not sending.done():
            sending.cancel()
            # The SDK reports its own cancellation as a timeout-or-cancelled error.
            with contextlib.suppress(asyncio.CancelledError, WorkflowUpdateRPCTimeoutOrCancelledError):
                await sending
    return sending.result() if done else None
