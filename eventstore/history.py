"""Finding the domain events in a workflow history, on either carrier.

Each envelope is the result of the step that established it, which the history records
anyway: an activity's (ActivityTaskCompleted) or a local activity's (MarkerRecorded),
among the steps named in contract.RECORDING_ACTIVITIES; validation's result carries the
order's first two. Orders recorded by the build before (tests/replay/memo_carrier_build.py)
upserted every envelope into the memo instead: a WorkflowPropertiesModified history event
carrying exactly that envelope. A history holds one carrier or the other, never both.
"""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory

from contract import DOMAIN_EVENT_MEMO_KEY, RECORDING_ACTIVITIES, order_id_of
from domain import (
    EventEnvelope,
    EventSchemaError,
    EventStreamError,
    OrderStream,
    check_sequence,
    describe_validation_error,
    upcast,
)
from encryption import (
    EncryptionKeyError,
    Keyring,
    MalformedPayloadError,
    PayloadOpener,
    opener,
    opener_of,
    refuse_encrypted,
)

_JSON_ENCODING = b"json/plain"
# Where a local activity's result is recorded is the SDK core's own layout, which the SDK
# does not promise: a marker named "core_local_activity" whose details hold "data", JSON
# naming the "activity_type", and "result", the result's payloads. `local_activity_result`
# alone reads it; tests/workflow/test_sdk_layout.py fails naming it if an upgrade changes it.
LOCAL_ACTIVITY_LAYOUT = (
    "a marker named 'core_local_activity' whose details hold 'data' (JSON naming the 'activity_type') "
    "and 'result' (the result's payloads)"
)
_LOCAL_ACTIVITY_MARKER = "core_local_activity"
# Validation's result carries OrderReceived with OrderValidated; every other step's, one event.
_ENVELOPES_CARRIED = {"validate_order": 2}


class HistoryReadError(ValueError):
    """A history whose domain events cannot be read."""


# How a history ends when its run has closed, and what each ending is called (as
# visibility's ExecutionStatus names it, upper case).
_CLOSINGS = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED: "COMPLETED",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: "FAILED",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: "TIMED_OUT",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: "CANCELED",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: "TERMINATED",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: "CONTINUED_AS_NEW",
}


@dataclass(frozen=True)
class RunOf:
    """Which run of its workflow a history is, when that run was made, and how it closed.

    A reset (`temporal workflow reset`, the Web UI's Reset) makes a new run from a chosen
    workflow task of an earlier one and abandons the rest of that one; the new run's
    history holds the earlier run's events up to that point (its WorkflowExecutionStarted
    among them, naming the first run), then a WorkflowTaskFailed of cause RESET_WORKFLOW
    naming the run it replaced and itself. So a history names its own run in its last
    reset marker (else in its start), and when the run was made by that marker's time
    (else its start's): a later run of a reset chain was always made later. The SDK's
    `WorkflowHistory.run_id` names the first run of the chain, which is not this one."""

    run_id: str
    began_at: datetime
    closed_as: str | None  # COMPLETED, FAILED, TERMINATED, ...; None while the run is open
    closed_at: datetime | None

    @property
    def running(self) -> bool:
        return self.closed_as is None


def run_of(events: Sequence[HistoryEvent]) -> RunOf:
    """The run `events` are the history of."""
    if not events or events[0].event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        raise HistoryReadError("the history does not begin with WorkflowExecutionStarted")
    started = events[0]
    run_id, began_at = started.workflow_execution_started_event_attributes.original_execution_run_id, started.event_time
    for event in events:
        if event.event_type != EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            continue
        failed = event.workflow_task_failed_event_attributes
        if failed.cause == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW and failed.new_run_id:
            run_id, began_at = failed.new_run_id, event.event_time
    last = events[-1]
    closed_as = _CLOSINGS.get(last.event_type)
    return RunOf(
        run_id=run_id,
        began_at=began_at.ToDatetime(tzinfo=UTC),
        closed_as=closed_as,
        closed_at=last.event_time.ToDatetime(tzinfo=UTC) if closed_as else None,
    )


@dataclass(frozen=True)
class Carrier:
    """A payload in a history that holds recorded envelopes, as the history holds it
    (encrypted when it was written so), and how many envelopes it holds."""

    history_event_id: int
    payload: Payload
    envelopes: int = 1


@dataclass(frozen=True)
class EnvelopeReader:
    """Reads the domain events out of histories, history files, memos and the archive:
    each carrier opened with the codec it was written with (encrypted when the order was),
    upcast to today's schemas and checked. Built once, from the client's codec
    (`EnvelopeReader.of(client)`) or a keyring; the default reads plain payloads and
    refuses encrypted ones, naming the missing key."""

    open_payload: PayloadOpener = refuse_encrypted

    @classmethod
    def of(cls, client: Client) -> "EnvelopeReader":
        """As the client decodes: with its encryption codec's keys, if it has one."""
        return cls(opener_of(client.data_converter.payload_codec))

    @classmethod
    def with_keys(cls, keyring: Keyring | None) -> "EnvelopeReader":
        return cls(opener(keyring))

    def stream(self, history: WorkflowHistory) -> OrderStream:
        """The order stream recorded in `history`."""
        try:
            envelopes = self.in_events(history.events)
        except HistoryReadError as err:
            raise HistoryReadError(f"workflow {history.workflow_id!r}: {err}") from None
        order_id = envelopes[0].stream_id if envelopes else order_id_of(history.workflow_id)
        if order_id is None:
            raise HistoryReadError(f"workflow {history.workflow_id!r} holds no order events (is it an OrderWorkflow?)")
        return checked_stream(order_id, envelopes, f"workflow {history.workflow_id!r}")

    def in_events(self, events: Iterable[HistoryEvent]) -> list[EventEnvelope]:
        """Every envelope recorded in `events`, in version order."""
        return [
            envelope
            for carrier in recorded_carriers(events)
            for envelope in self.envelopes(carrier.payload, f"history event {carrier.history_event_id}")
        ]

    def envelope(self, payload: Payload, where: str) -> EventEnvelope:
        """One recorded envelope; `where` names it in an error."""
        return _envelope(self._opened_json(payload, where), where)

    def envelopes(self, payload: Payload, where: str) -> list[EventEnvelope]:
        """The envelopes a carrier holds: one, or (validation's result) a list of them."""
        raw = self._opened_json(payload, where)
        return [_envelope(item, where) for item in raw] if isinstance(raw, list) else [_envelope(raw, where)]

    def _opened_json(self, payload: Payload, where: str) -> Any:
        try:
            payload = self.open_payload(payload)
        except (EncryptionKeyError, MalformedPayloadError) as err:
            raise HistoryReadError(f"{where}: {err}") from None
        encoding = payload.metadata.get("encoding")
        if encoding != _JSON_ENCODING:
            raise HistoryReadError(f"{where}: domain event encoded as {encoding!r}, expected json/plain")
        try:
            # Decimal, not float: amounts are read exactly as they were written.
            return json.loads(payload.data, parse_float=Decimal)
        except json.JSONDecodeError as err:
            raise HistoryReadError(f"{where}: domain event is not JSON: {err}") from None


def checked_stream(order_id: str, envelopes: Sequence[EventEnvelope], where: str) -> OrderStream:
    """The envelopes as the order's stream, once they are one: its own, versions 1, 2, 3…
    with none missing. A history that was altered (a step renamed, an event cut out) is
    named here, with the gap, instead of failing later in a fold."""
    try:
        check_sequence(order_id, envelopes)
    except EventStreamError as err:
        raise HistoryReadError(f"{where}: order {order_id!r} is inconsistent: {err}") from None
    return OrderStream(order_id, tuple(envelopes))


def recorded_carriers(events: Iterable[HistoryEvent]) -> list[Carrier]:
    """The payloads that hold the history's envelopes, in the order the history holds them."""
    events = list(events)
    return _memo_upserts(events) or _step_results(events)


def _memo_upserts(events: Iterable[HistoryEvent]) -> list[Carrier]:
    recorded = []
    for event in events:
        if event.event_type != EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
            continue
        fields = event.workflow_properties_modified_event_attributes.upserted_memo.fields
        if DOMAIN_EVENT_MEMO_KEY in fields:
            recorded.append(Carrier(event.event_id, fields[DOMAIN_EVENT_MEMO_KEY]))
    return recorded


def _step_results(events: Iterable[HistoryEvent]) -> list[Carrier]:
    scheduled: dict[int, str] = {}
    recorded = []
    for event in events:
        step: str | None = None
        result: Sequence[Payload] | None = None
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            completed = event.activity_task_completed_event_attributes
            step, result = scheduled.get(completed.scheduled_event_id), completed.result.payloads
        elif event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            step, result = local_activity_result(event) or (None, None)
        if step in RECORDING_ACTIVITIES and result:
            recorded.append(Carrier(event.event_id, result[0], _ENVELOPES_CARRIED.get(step, 1)))
    return recorded


def local_activity_result(event: HistoryEvent) -> tuple[str, Sequence[Payload]] | None:
    """The activity type and the result payloads of a local activity's marker, read by the
    SDK core's layout (LOCAL_ACTIVITY_LAYOUT; its "data" is never encrypted); None for any
    other marker, or one of another layout."""
    marker = event.marker_recorded_event_attributes
    if marker.marker_name != _LOCAL_ACTIVITY_MARKER or "data" not in marker.details:
        return None
    try:
        data = json.loads(marker.details["data"].payloads[0].data)
    except (IndexError, ValueError):
        return None
    activity_type = data.get("activity_type") if isinstance(data, dict) else None
    if not isinstance(activity_type, str):
        return None
    return activity_type, marker.details["result"].payloads if "result" in marker.details else ()


def _envelope(raw: Any, where: str) -> EventEnvelope:
    if not isinstance(raw, dict):
        raise HistoryReadError(f"{where}: domain event is JSON but not an object")
    try:
        return EventEnvelope.model_validate(upcast(raw))
    except EventSchemaError as err:
        raise HistoryReadError(f"{where}: {err}") from None
    except ValidationError as err:
        raise HistoryReadError(f"{where}: malformed domain event: {describe_validation_error(err)}") from None


# Reads plain payloads; refuses an encrypted one, naming the key it needs.
PLAIN = EnvelopeReader()
