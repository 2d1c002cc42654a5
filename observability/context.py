"""The order's correlation id, handed from the workflow to each of its activities.

An activity's request names its order, but not the correlation id the workflow holds
(the caller's, or the start's run id). The workflow side of this interceptor puts it in
a header of every activity it schedules; the activity side puts it where the log
filter finds it. Headers are not part of the commands a replay compares, so recorded
histories replay unchanged.
"""

from collections import OrderedDict
from contextvars import ContextVar
from typing import Any

from temporalio import activity, workflow
from temporalio.converter import PayloadConverter
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    StartActivityInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

CORRELATION_HEADER = "orders-correlation-id"
# The correlation id of the activity running in this context, if its workflow sent one.
current_correlation_id: ContextVar[str | None] = ContextVar("current_correlation_id", default=None)

_CONVERTER = PayloadConverter.default
# The correlation id of each order run this process has seen lately, by run id: the
# SDK's own lines about an activity ("Starting activity") come before any interceptor runs.
_SEEN: OrderedDict[str, str] = OrderedDict()
_SEEN_AT_MOST = 10_000


def remember(run_id: str, correlation_id: str) -> None:
    _SEEN[run_id] = correlation_id
    _SEEN.move_to_end(run_id)
    if len(_SEEN) > _SEEN_AT_MOST:
        _SEEN.popitem(last=False)


def correlation_of(run_id: str) -> str:
    """The correlation id of the order run `run_id`: as seen in this process, else the
    run id itself, which is what the workflow takes when its caller brought none."""
    return _SEEN.get(run_id, run_id)


class CorrelationToActivities(Interceptor):
    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        return _WorkflowInbound

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityInbound(next)


class _WorkflowInbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_WorkflowOutbound(outbound))


class _WorkflowOutbound(WorkflowOutboundInterceptor):
    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
        input.headers = _with_correlation(input.headers)
        return super().start_activity(input)

    def start_local_activity(self, input: StartLocalActivityInput) -> workflow.ActivityHandle[Any]:
        input.headers = _with_correlation(input.headers)
        return super().start_local_activity(input)


def _with_correlation(headers: Any) -> Any:
    context = getattr(workflow.instance(), "log_context", None)
    correlation_id = context().get("correlation_id") if context else None
    if not isinstance(correlation_id, str):
        return headers
    return {**headers, CORRELATION_HEADER: _CONVERTER.to_payload(correlation_id)}


class _ActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        header = input.headers.get(CORRELATION_HEADER)
        correlation_id = _CONVERTER.from_payload(header, str) if header is not None else None
        if correlation_id is not None:
            remember(activity.info().workflow_run_id or "", correlation_id)
        token = current_correlation_id.set(correlation_id)
        try:
            return await super().execute_activity(input)
        finally:
            current_correlation_id.reset(token)
