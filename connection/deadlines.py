"""How long a call to Temporal may go unanswered, and what a caller is told when a server
that answered once falls silent.

Two kinds of call. A plain call (start, describe, query, list, count, a page of history)
is answered at once by a server that is up; each gets ORDERS_RPC_TIMEOUT. A long poll
(waiting for a workflow's result, an update's outcome, a worker's next task) waits at the
server by design, for as long as there is nothing to say; no deadline fits it. What tells
a silent server from a quiet one is the connection itself: HTTP/2 keepalive pings every
15 s, which any live server answers at once even when it has nothing else to say; one
not answered within the timeout drops the connection, and the long poll fails with it.
"""

from dataclasses import replace
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    CountWorkflowsInput,
    DescribeWorkflowInput,
    FetchWorkflowHistoryEventsInput,
    Interceptor,
    ListWorkflowsInput,
    OutboundInterceptor,
    QueryWorkflowInput,
    StartWorkflowInput,
    WorkflowExecutionAsyncIterator,
    WorkflowExecutionCount,
    WorkflowExecutionDescription,
    WorkflowHandle,
    WorkflowHistoryEventAsyncIterator,
)
from temporalio.service import KeepAliveConfig, RPCError, RPCStatusCode

# Servers refuse pings more often than every 10 s (Temporal's keepAliveMinTime) with
# "too many pings" and drop the connection, so no less than that, with a margin.
_PING_EVERY = timedelta(seconds=15)
_PING_ANSWER_AT_MOST = timedelta(seconds=15)


def keep_alive(rpc_timeout: timedelta) -> KeepAliveConfig:
    """Pings that drop a silent connection within 15 s + min(ORDERS_RPC_TIMEOUT, 15 s)."""
    answer_within = min(rpc_timeout, _PING_ANSWER_AT_MOST)
    return KeepAliveConfig(
        interval_millis=int(_PING_EVERY.total_seconds() * 1000),
        timeout_millis=int(answer_within.total_seconds() * 1000),
    )


class CallDeadlines(Interceptor):
    """Gives every plain call through the client ORDERS_RPC_TIMEOUT unless its caller
    chose one; long polls are left to the keepalive."""

    def __init__(self, rpc_timeout: timedelta) -> None:
        self.rpc_timeout = rpc_timeout

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Deadlines(next, self.rpc_timeout)


class _Deadlines(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, rpc_timeout: timedelta) -> None:
        super().__init__(next)
        self.rpc_timeout = rpc_timeout

    def _bounded(self, call_input: Any) -> Any:
        return call_input if call_input.rpc_timeout else replace(call_input, rpc_timeout=self.rpc_timeout)

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        return await super().start_workflow(self._bounded(input))

    async def describe_workflow(self, input: DescribeWorkflowInput) -> WorkflowExecutionDescription:
        return await super().describe_workflow(self._bounded(input))

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        return await super().query_workflow(self._bounded(input))

    def list_workflows(self, input: ListWorkflowsInput) -> WorkflowExecutionAsyncIterator:
        return super().list_workflows(self._bounded(input))

    async def count_workflows(self, input: CountWorkflowsInput) -> WorkflowExecutionCount:
        return await super().count_workflows(self._bounded(input))

    def fetch_workflow_history_events(
        self, input: FetchWorkflowHistoryEventsInput
    ) -> WorkflowHistoryEventAsyncIterator:
        # Waiting for a new event is a long poll (a workflow's result is awaited so).
        return super().fetch_workflow_history_events(input if input.wait_new_event else self._bounded(input))


def call_timeout(client: Client) -> timedelta | None:
    """The deadline the client gives plain calls, for calls made on its services directly."""
    for interceptor in client.config()["interceptors"]:
        if isinstance(interceptor, CallDeadlines):
            return interceptor.rpc_timeout
    return None


def stopped_answering(err: RPCError, address: str, namespace: str, rpc_timeout: timedelta) -> str | None:
    """What to tell a person when `err` says the server fell silent or went away; None
    when it is the server's answer to the call (not found, refused, invalid)."""
    seconds = f"{rpc_timeout.total_seconds():g}"
    if err.status == RPCStatusCode.DEADLINE_EXCEEDED or (
        # The SDK's core reports a call it timed out itself as cancelled.
        err.status == RPCStatusCode.CANCELLED and "timeout" in err.message.lower()
    ):
        why = f"a call got no answer within {seconds} s"
    elif err.status == RPCStatusCode.UNAVAILABLE:
        why = f"the connection failed ({err.message.strip() or 'unavailable'})"
    else:
        return None
    return fell_silent(address, namespace, rpc_timeout, why)


def fell_silent(address: str, namespace: str, rpc_timeout: timedelta, why: str) -> str:
    """What to tell a person when the server fell silent or went away, and `why` it is thought so."""
    seconds = f"{rpc_timeout.total_seconds():g}"
    return (
        f"Temporal at {address} (namespace {namespace}) stopped answering: {why}; calls wait at most {seconds} s "
        "(ORDERS_RPC_TIMEOUT). Is the server up, and the network to it?"
    )
