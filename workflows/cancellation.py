"""How an order stops early: a cancellation, asked for or forced, and what ended it.

Workflow code: deterministic, no I/O.
"""

from dataclasses import dataclass

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from contract import WORKFLOW_TYPE
from domain import shortened

# Enough of a failure's message to say what happened, in OrderCancelled and the Web UI.
_MAX_FAILURE_MESSAGE = 300


@dataclass(frozen=True)
class Cancellation:
    """Why the order is being cancelled, and who or what caused it: OrderCancelled's envelope."""

    reason: str
    created_by: str
    causation_id: str | None  # None: caused by the latest event


# Temporal was asked to cancel the workflow: the Web UI's button, `temporal workflow
# cancel`, a client's `handle.cancel()`. It is carried out as any cancellation is.
CANCEL_REQUEST = Cancellation("Cancellation requested through Temporal", WORKFLOW_TYPE, None)


class CancellationDue(Exception):
    """Raised at a checkpoint once a cancellation has been asked for: the story stops there."""

    def __init__(self, cancellation: Cancellation) -> None:
        super().__init__(cancellation.reason)
        self.cancellation = cancellation


def stopped_by(failure: ActivityError | ApplicationError) -> tuple[str, Cancellation]:
    """The step that failed unexpectedly, and the cancellation it forces, in a line of
    bounded length."""
    if isinstance(failure, ActivityError):
        cause = failure.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause or failure)
        step = failure.activity_type or "an activity"
    else:
        step, message = WORKFLOW_TYPE, failure.message
    reason = f"Stopped by a failure in {step}: {shortened(message, _MAX_FAILURE_MESSAGE)}"
    return step, Cancellation(reason, WORKFLOW_TYPE, None)


def this_update() -> str | None:
    """The id of the update being handled: the command that causes what it records."""
    info = workflow.current_update_info()
    return info.id if info else None
