"""Replaying recorded histories with today's workflow code.

Many histories go through one replayer, the SDK's batch API (`map_histories` and
`workflow_replay_iterator`). Where a replay fails, the history event where it diverged
is found by replaying: the shortest prefix of the history that fails ends at that event.
Nothing is read out of the SDK's message text, which changes between releases.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from domain import OrderState
from encryption import Keyring
from eventstore import EnvelopeReader, HistoryReadError
from hosting.workers import build_replayer


@dataclass(frozen=True)
class ReplayReport:
    workflow_id: str
    error: str | None  # None: the code reproduces the history
    error_type: str | None  # the kind of failure: NondeterminismError, or what else replay raised
    event_id: int | None  # where replay diverged: the history event the code no longer reproduces
    event_type: str | None
    state: OrderState | None  # folded from the history's domain events, whatever the replay said

    @property
    def ok(self) -> bool:
        return self.error is None


async def replay(history: WorkflowHistory, *, debug: bool = False, keyring: Keyring | None = None) -> ReplayReport:
    """Replay one history; an encrypted one with `keyring`."""
    replayer = build_replayer(debug_mode=debug, keyring=keyring)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    return await _report(replayer, history, result.replay_failure, keyring)


async def replay_all(
    histories: AsyncIterator[WorkflowHistory], *, debug: bool = False, keyring: Keyring | None = None
) -> AsyncIterator[ReplayReport]:
    """Replay every history, one replayer for all, reporting each as it finishes."""
    replayer = build_replayer(debug_mode=debug, keyring=keyring)
    async with replayer.workflow_replay_iterator(histories) as results:
        async for result in results:
            yield await _report(replayer, result.history, result.replay_failure, keyring)


async def _report(
    replayer: Replayer, history: WorkflowHistory, failure: Exception | None, keyring: Keyring | None
) -> ReplayReport:
    state = _state_in(history, keyring)
    if failure is None:
        return ReplayReport(history.workflow_id, None, None, None, None, state)
    diverging = await _diverging_event(replayer, history)
    return ReplayReport(
        history.workflow_id,
        error=str(failure),
        error_type=type(failure).__name__,
        event_id=diverging.event_id if diverging else None,
        event_type=EventType.Name(diverging.event_type).removeprefix("EVENT_TYPE_") if diverging else None,
        state=state,
    )


async def _diverging_event(replayer: Replayer, history: WorkflowHistory) -> HistoryEvent | None:
    """The first event whose prefix fails to replay, among the events the workflow's own
    commands recorded (and the task completions that precede them).

    A prefix that ends among a task's commands replays as far as it goes: every command
    it holds must match what the code issues, and commands the code issues beyond it are
    merely new. So the shortest failing prefix ends exactly at the first command the
    code no longer issues. Replay failure only grows with the prefix: binary search.
    """
    events = list(history.events)
    ends = [index for index, event in enumerate(events) if _recorded_by_a_workflow_task(event)]
    low, high, first_failing = 0, len(ends) - 1, None
    while low <= high:
        middle = (low + high) // 2
        prefix = WorkflowHistory(history.workflow_id, events[: ends[middle] + 1])
        if (await replayer.replay_workflow(prefix, raise_on_replay_failure=False)).replay_failure is not None:
            first_failing, high = middle, middle - 1
        else:
            low = middle + 1
    return events[ends[first_failing]] if first_failing is not None else None


def _recorded_by_a_workflow_task(event: HistoryEvent) -> bool:
    """A task's completion, or an event one of its commands recorded (they name the task)."""
    if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
        return True
    attributes = event.WhichOneof("attributes")
    return attributes is not None and getattr(getattr(event, attributes), "workflow_task_completed_event_id", 0) > 0


def _state_in(history: WorkflowHistory, keyring: Keyring | None) -> OrderState | None:
    try:
        return EnvelopeReader.with_keys(keyring).stream(history).state_at()
    except HistoryReadError:
        return None
