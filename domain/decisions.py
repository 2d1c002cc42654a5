"""Decisions people make about an order, and when the order refuses them.

These are commands (imperative), not events: a decision that is refused leaves no
trace in the stream. `refusal` is the single source of the rules, used by the
workflow's update validators before anything is written to history.
"""

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.orders import Identifier
from domain.state import OrderState, OrderStatus

# A reason is recorded in OrderCancelled and shown in the Web UI: a paragraph, not a file.
MAX_REASON_LENGTH = 1_000
Reason = Annotated[str, Field(min_length=1, max_length=MAX_REASON_LENGTH)]


class _Decision(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    expected_version: int | None = Field(
        default=None, ge=0, description="Optimistic concurrency: refuse unless the order is at exactly this version."
    )
    expires_at: AwareDatetime | None = Field(
        default=None,
        description="Refuse the decision if the order takes it up after this moment: its sender stopped waiting"
        " (no worker took it in time) and was told it was withdrawn.",
    )


class ApprovePayment(_Decision):
    approver: Identifier
    comment: Reason | None = None


class RejectPayment(_Decision):
    approver: Identifier
    reason: Reason


class CancelOrder(_Decision):
    reason: Reason
    requested_by: Identifier | None = None


Decision = ApprovePayment | RejectPayment | CancelOrder


class Refusal(str):
    """Why a decision is refused: the message people read, and a short `code` to count
    refusals by (a metric label must not carry an order id)."""

    code: str

    def __new__(cls, code: str, message: str) -> "Refusal":
        refusal = super().__new__(cls, message)
        refusal.code = code
        return refusal


# Nothing left to undo or to stop: the order has ended.
_ENDED = {OrderStatus.FULFILLED, OrderStatus.CANCELLED, OrderStatus.VALIDATION_FAILED, OrderStatus.PAYMENT_FAILED}


def refusal(
    state: OrderState,
    decision: Decision,
    *,
    decision_in_progress: bool = False,
    cancellation_requested: bool = False,
    fulfillment_started: bool = False,
    now: datetime | None = None,
) -> Refusal | None:
    """Why `decision` cannot be taken now, naming the order's status and version; None if it can."""
    where = (
        f"order {state.order_id} is {state.status.value if state.status else 'not started'} at version {state.version}"
    )
    if decision.expires_at is not None and now is not None and now > decision.expires_at:
        return Refusal("expired", f"the decision expired at {decision.expires_at.isoformat()}, before {where} took it")
    if decision.expected_version is not None and decision.expected_version != state.version:
        return Refusal("stale_version", f"stale expected_version {decision.expected_version}: {where}")
    if cancellation_requested:
        return Refusal("being_cancelled", f"{where} and is being cancelled")
    if decision_in_progress:
        return Refusal("decision_in_progress", f"{where} and a payment decision on it is being carried out")
    if isinstance(decision, CancelOrder):
        if state.status in _ENDED:
            return Refusal("order_ended", f"cannot cancel: {where}")
        if fulfillment_started:
            return Refusal("fulfillment_started", f"cannot cancel: {where} and fulfillment has started")
        return None
    if state.status is not OrderStatus.PAYMENT_PENDING:
        verb = "approve" if isinstance(decision, ApprovePayment) else "reject"
        return Refusal("not_payment_pending", f"cannot {verb} payment: {where}, not PaymentPending")
    return None
