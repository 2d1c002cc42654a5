"""`orders approve | reject | cancel`: decisions sent to a running order as updates."""

import argparse
from typing import Any

from pydantic import ValidationError
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

import views
from connection import has_live_worker
from contract import APPROVE_PAYMENT, CANCEL_ORDER, REJECT_PAYMENT, workflow_id_for
from domain import OrderState, describe_validation_error
from domain.decisions import ApprovePayment, CancelOrder, Decision, RejectPayment, refusal
from eventstore import EventStore, StreamNotFound
from orders_cli.session import print_json, temporal

_UPDATES: dict[type, str] = {ApprovePayment: APPROVE_PAYMENT, RejectPayment: REJECT_PAYMENT, CancelOrder: CANCEL_ORDER}


class DecisionRefused(Exception):
    """The order refused a decision; the message says why, naming its status and version."""


async def decision_command(args: argparse.Namespace) -> int:
    try:
        decision = _decision(args)
    except ValidationError as err:
        raise ValueError(describe_validation_error(err)) from None
    async with temporal() as client:
        state = await decide(client, args.order_id, decision)
    print_json(state) if args.json else print(views.order_state(state))
    return 0


def _decision(args: argparse.Namespace) -> Decision:
    version = {"expected_version": args.expected_version}
    if args.command == "approve":
        return ApprovePayment(approver=args.approver, comment=args.comment, **version)
    if args.command == "reject":
        return RejectPayment(approver=args.approver, reason=args.reason, **version)
    return CancelOrder(reason=args.reason, requested_by=args.requested_by, **version)


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
    if not await has_live_worker(client, description.task_queue):
        raise DecisionRefused(
            f"no worker is polling {description.task_queue!r}: start `python worker.py` and try again"
        )
    return await send_decision(client, handle, order_id, decision)


async def send_decision(
    client: Client, handle: WorkflowHandle[Any, Any], order_id: str, decision: Decision
) -> OrderState:
    try:
        state: OrderState = await handle.execute_update(_UPDATES[type(decision)], decision, result_type=OrderState)
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
