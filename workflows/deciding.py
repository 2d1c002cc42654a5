"""A person's decision on an order (approve, reject, cancel), read and checked against the
order's state by the rules in `domain.decisions`.

Workflow code: deterministic, no I/O.
"""

from typing import Any

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from contract import DECISION_REFUSED, OrderMetrics
from domain import Decision, OrderState, refusal
from workflows.inputs import read_argument


def checked_decision(
    request: RawValue,
    kind: type[Decision],
    state: OrderState,
    metrics: OrderMetrics,
    *,
    decision_in_progress: bool,
    cancellation_requested: bool,
    fulfillment_started: bool,
) -> Any:
    """The decision; a malformed or disallowed one is refused (an update validator's
    refusal is never written to history), and counted by why."""
    try:
        decision = read_argument(request, kind, default_if_missing=False)
    except ApplicationError:
        metrics.refused(kind.__name__, "malformed")
        raise
    reason = refusal(
        state,
        decision,
        decision_in_progress=decision_in_progress,
        cancellation_requested=cancellation_requested,
        fulfillment_started=fulfillment_started,
        now=workflow.now(),
    )
    if reason:
        metrics.refused(kind.__name__, reason.code)
        raise ApplicationError(reason, type=DECISION_REFUSED, non_retryable=True)
    return decision
