"""What one order costs Temporal, read from its history: for the floor, for today's build
and for the build before (each event upserted into the memo), on the paths that matter.

    python benchmarks/order_costs.py

The floor is recorded here, on an embedded dev server of its own: Temporal's no-op
workflow with the same four activities (benchmarks/floor.py). Today's orders are the
golden histories (tests/histories/golden/), the build before's the same paths recorded
by it (tests/histories/before-events-in-history/); scripts/record_golden_histories.py
records both the same way, from a real dev server.

Counted from the history, per order:
- events and bytes: the history events, and the size of the history as the server
  stores it (protobuf);
- commands: the history events a workflow task's commands wrote (activities scheduled,
  timers, markers, upserts, the workflow's end);
- visibility writes: the start and the close, and one for each upsert of search
  attributes or of the memo: each rewrites the order's visibility record (a task of its
  own on SQL visibility and on Elasticsearch alike);
- Temporal Cloud Actions (docs.temporal.io/cloud/actions): the start; each activity
  attempt; each timer; each search-attribute upsert (TemporalChangeVersion's excepted);
  each accepted update; one per workflow task that recorded markers (local activities,
  patches). Queries and rejected updates count too but leave nothing in the history.
"""

import asyncio
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from temporalio.api.enums.v1 import EventType  # noqa: E402
from temporalio.api.history.v1 import History, HistoryEvent  # noqa: E402
from temporalio.client import WorkflowHistory  # noqa: E402
from temporalio.worker import Worker  # noqa: E402

from benchmarks.floor import Floor, floor_step  # noqa: E402
from connection import free_local_port, start_embedded_server  # noqa: E402
from contract import SEARCH_ATTRIBUTES  # noqa: E402
from programs import ExitCode, leave  # noqa: E402

HISTORIES = PROJECT / "tests" / "histories"
PATHS = {
    "fulfilled": "a plain order, fulfilled",
    "approved": "an order that waited for approval, approved",
    "cancelled-with-refund": "an order cancelled after its charge, refunded",
    "approval-timeout": "an order whose approval never came",
}
_COMMAND_EVENTS = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED,
    EventType.EVENT_TYPE_TIMER_STARTED,
    EventType.EVENT_TYPE_TIMER_CANCELED,
    EventType.EVENT_TYPE_MARKER_RECORDED,
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
    EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
}
_UPSERTS = {EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES, EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED}
_VERSIONING_ATTRIBUTE = "TemporalChangeVersion"


@dataclass(frozen=True)
class Cost:
    events: int
    bytes: int
    commands: int
    visibility_writes: int
    actions: int

    @staticmethod
    def of(events: Sequence[HistoryEvent]) -> "Cost":
        kinds = [event.event_type for event in events]
        return Cost(
            events=len(events),
            bytes=History(events=events).ByteSize(),
            commands=sum(kind in _COMMAND_EVENTS for kind in kinds),
            visibility_writes=2 + sum(kind in _UPSERTS for kind in kinds),
            actions=_actions(events),
        )


def _actions(events: Sequence[HistoryEvent]) -> int:
    actions = 1  # the start
    tasks_with_markers = set()
    for event in events:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            actions += max(1, event.activity_task_started_event_attributes.attempt)
        elif kind in (EventType.EVENT_TYPE_TIMER_STARTED, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED):
            actions += 1
        elif kind == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
            actions += set(fields) != {_VERSIONING_ATTRIBUTE}
        elif kind == EventType.EVENT_TYPE_MARKER_RECORDED:
            tasks_with_markers.add(event.marker_recorded_event_attributes.workflow_task_completed_event_id)
    return actions + len(tasks_with_markers)


async def floor_history() -> WorkflowHistory:
    """One floor workflow, recorded on an embedded server of its own."""
    with tempfile.TemporaryDirectory() as scratch:
        server = await start_embedded_server(
            f"127.0.0.1:{free_local_port()}", "default", Path(scratch), SEARCH_ATTRIBUTES
        )
        try:
            async with Worker(server.client, task_queue="floor", workflows=[Floor], activities=[floor_step]):
                handle = await server.client.start_workflow(Floor.run, "FLOOR", id="floor-1", task_queue="floor")
                await handle.result()
            return await handle.fetch_history()
        finally:
            await server.stop()


def recorded(directory: str, path: str) -> Cost:
    text = (HISTORIES / directory / f"{path}.json").read_text()
    return Cost.of(WorkflowHistory.from_json("recorded", text).events)


def row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


async def main() -> None:
    floor = Cost.of((await floor_history()).events)
    print(row(["order", "build", "history events", "history bytes", "commands", "visibility writes", "Cloud Actions"]))
    print(row(["---"] * 7))
    print(row(["the floor: four no-op activities", "", *_figures(floor)]))
    for path, meaning in PATHS.items():
        for build, directory in (("before", "before-events-in-history"), ("today", "golden")):
            print(row([meaning if build == "before" else "", build, *_figures(recorded(directory, path))]))


def _figures(cost: Cost) -> list[int]:
    return [cost.events, cost.bytes, cost.commands, cost.visibility_writes, cost.actions]


if __name__ == "__main__":
    asyncio.run(main())
    leave(ExitCode.OK)
