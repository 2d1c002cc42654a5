"""Replaying recorded histories with today's workflow code.

A replay that diverges names the history event where it did: taken from the SDK's
message when it says, otherwise found by replaying ever longer prefixes of the
history until one fails.
"""

import re
from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from domain import OrderState, fold_events
from eventstore.history import HistoryReadError, envelopes_in_history
from workflows.hosting import build_replayer

_EVENT_ID_IN_MESSAGE = re.compile(r"HistoryEvent\(id: (\d+)")


@dataclass(frozen=True)
class ReplayReport:
    workflow_id: str
    error: str | None  # None: the code reproduces the history
    event_id: int | None  # where replay diverged
    event_type: str | None
    state: OrderState | None  # folded from the history's domain events

    @property
    def ok(self) -> bool:
        return self.error is None


async def replay(history: WorkflowHistory, *, debug: bool = False) -> ReplayReport:
    replayer = build_replayer(debug_mode=debug)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    state = _state_in(history)
    if result.replay_failure is None:
        return ReplayReport(history.workflow_id, None, None, None, state)
    error = _readable(str(result.replay_failure))
    event_id = await _diverging_event(replayer, history, error)
    event_type = next(
        (EventType.Name(event.event_type).removeprefix("EVENT_TYPE_") for event in history.events if event.event_id == event_id),
        None,
    )
    return ReplayReport(history.workflow_id, error, event_id, event_type, state)


def _readable(message: str) -> str:
    # The core's message wraps the useful part in debug formatting.
    found = re.search(r'message: "(.*?)", source:', message)
    return found.group(1).replace("\\'", "'") if found else message


async def _diverging_event(replayer: Replayer, history: WorkflowHistory, error: str) -> int | None:
    named = _EVENT_ID_IN_MESSAGE.search(error)
    if named:
        return int(named.group(1))
    # Replay prefixes that end as a workflow task starts: the first that fails ends just
    # after the task whose recorded commands the code no longer issues.
    events = list(history.events)
    ends = [i for i, event in enumerate(events) if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED]
    low, high = 0, len(ends) - 1
    first_failing = None
    while low <= high:
        middle = (low + high) // 2
        prefix = WorkflowHistory(history.workflow_id, events[: ends[middle] + 1])
        failed = (await replayer.replay_workflow(prefix, raise_on_replay_failure=False)).replay_failure is not None
        if failed:
            first_failing, high = middle, middle - 1
        else:
            low = middle + 1
    if first_failing is None or first_failing == 0:
        return None
    # The diverging task is the one completed after the previous prefix's last task
    # started; the events after its WorkflowTaskCompleted are the commands it recorded.
    recorded = []
    for event in events[ends[first_failing - 1] + 1 : ends[first_failing]]:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            recorded = [event]
        elif recorded:
            recorded.append(event)
    commands = recorded[1:]
    quoted = set(re.findall(r"'([^']+)'", error))
    for event in commands:
        if event.activity_task_scheduled_event_attributes.activity_type.name in quoted:
            return event.event_id
    return commands[0].event_id if commands else None


def _state_in(history: WorkflowHistory) -> OrderState | None:
    try:
        envelopes = envelopes_in_history(history.events)
    except HistoryReadError:
        return None
    return fold_events(envelopes[0].stream_id, envelopes) if envelopes else None
