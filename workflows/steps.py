"""How the order workflow calls its steps: timeouts, retries, and a step that is let
finish even when the order is cancelled under it.

Workflow code: deterministic, no I/O.
"""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

from activities import OrderActivities, Recording, ValidateOrder
from domain import DomainEvent, EventEnvelope, RecordedEnvelope
from workflows.recording import OrderRecord

# Validation is pure computation: anything that fails it is transient (a worker died).
_VALIDATION_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10))
_VALIDATION_TIMEOUT = timedelta(seconds=10)
# Gateways and warehouses answer an idempotency key with their first answer, so a
# retry after a timeout can never charge, reserve or ship twice: retry until it answers.
# Compensation uses it too: a refund that fails transiently is retried until it happens.
_EXTERNAL_SYSTEM_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=1)
)
_EXTERNAL_CALL_TIMEOUT = timedelta(seconds=30)

ResultT = TypeVar("ResultT")
EventT = TypeVar("EventT", bound=DomainEvent)


def _external_call(
    activity: Callable[[OrderActivities, Any], Awaitable[ResultT]], request: Any, *, summary: str
) -> workflow.ActivityHandle[ResultT]:
    """A call to an external system, retried until it answers."""
    return workflow.start_activity_method(
        activity,
        request,
        start_to_close_timeout=_EXTERNAL_CALL_TIMEOUT,
        retry_policy=_EXTERNAL_SYSTEM_RETRY,
        summary=summary,
    )


def _sealing_call(
    activity: Callable[..., Awaitable[object]], request: Any, *, summary: str
) -> workflow.ActivityHandle[EventEnvelope]:
    """A call to an external system that returns its event sealed in the envelope the
    request carries. Named (each activity is defined under its method's name) so that its
    result decodes as the one model EventEnvelope, whose decoder is cheap to build: for
    the method's declared union (bare events too, for the builds before) pydantic would
    build one for every order."""
    return workflow.start_activity(
        activity.__name__,
        request,
        result_type=RecordedEnvelope,
        start_to_close_timeout=_EXTERNAL_CALL_TIMEOUT,
        retry_policy=_EXTERNAL_SYSTEM_RETRY,
        summary=summary,
    )


def validation(request: ValidateOrder, *, summary: str) -> workflow.ActivityHandle[list[EventEnvelope]]:
    """Validation is pure computation: a local activity, run by this worker in this
    workflow task, with no round trip through the server. Its result, a marker, carries
    OrderReceived and OrderValidated."""
    return workflow.start_local_activity(
        OrderActivities.validate_order.__name__,
        request,
        result_type=list[RecordedEnvelope],
        start_to_close_timeout=_VALIDATION_TIMEOUT,
        retry_policy=_VALIDATION_RETRY,
        summary=summary,
    )


def marker(envelope: EventEnvelope, *, summary: str) -> workflow.ActivityHandle[EventEnvelope]:
    """An event the workflow decided alone, into the history as a local activity's result
    (a marker: no visibility write)."""
    return workflow.start_local_activity(
        OrderActivities.record_event.__name__,
        envelope,
        result_type=RecordedEnvelope,
        start_to_close_timeout=_VALIDATION_TIMEOUT,
        retry_policy=_VALIDATION_RETRY,
        summary=summary,
    )


def let_the_task_go_on() -> None:
    """Forget the cancellation just caught, so the task's later awaits run normally
    (Python 3.11 counts cancellations on the task; the SDK does the same)."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()


class Steps:
    """The order's steps as its workflow calls them: each let finish (a cancel request
    that arrives meanwhile is handed to `on_cancel_request`), each that establishes an
    event handed its envelope and its result folded into the record."""

    def __init__(self, record: OrderRecord, on_cancel_request: Callable[[], None]) -> None:
        self._record = record
        self._on_cancel_request = on_cancel_request

    async def call(
        self, activity: Callable[[OrderActivities, Any], Awaitable[ResultT]], request: Any, *, summary: str
    ) -> ResultT:
        """A call to an external system, retried until it answers."""
        return await self.let_finish(_external_call(activity, request, summary=summary))

    async def establish(
        self,
        activity: Callable[..., Awaitable[object]],
        kind: type[EventT],
        request: Recording,
        *,
        summary: str,
        created_by: str | None = None,
        causation_id: str | None = None,
    ) -> EventT:
        """A call to an external system that establishes an event of `kind`, handed the
        envelope to seal it in (created by the activity unless a person decided it); its
        result, the event sealed in its envelope, is folded into the record."""
        header = self._record.next_header(created_by or activity.__name__, causation_id)
        sealing = request.model_copy(update={"record_as": header})
        return self._record.recorded(await self.let_finish(_sealing_call(activity, sealing, summary=summary)), kind)

    async def let_finish(self, step: workflow.ActivityHandle[ResultT]) -> ResultT:
        """The step's result, even if Temporal is asked to cancel the order while it runs.

        A charge or a shipment in flight may already have happened outside; abandoning it
        would leave it undone by nobody. It finishes, is recorded, and the cancel request is
        handed to `on_cancel_request`, to take effect at the next checkpoint, where the step
        is undone with the rest.
        """
        while True:
            try:
                return await asyncio.shield(step)
            except asyncio.CancelledError:
                self._on_cancel_request()
