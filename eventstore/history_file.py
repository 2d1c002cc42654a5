"""A history exported from the Web UI's download button or `temporal workflow show --output json`.

Both write Temporal's history as proto JSON; the SDK reads either spelling of the enums
("EVENT_TYPE_WORKFLOW_EXECUTION_STARTED" and "WorkflowExecutionStarted").
"""

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from temporalio.client import WorkflowHistory

from domain import EventEnvelope, OrderState, read_window, state_as_of
from eventstore.history import HistoryReadError, envelopes_in_history
from workflows.contract import workflow_id_for


@dataclass(frozen=True)
class HistoryFile:
    path: Path
    order_id: str
    history: WorkflowHistory
    envelopes: tuple[EventEnvelope, ...]

    def read_stream(self, from_version: int = 1, limit: int | None = None) -> list[EventEnvelope]:
        return read_window(self.envelopes, from_version, limit)

    def state_at(self, version: int | None = None, at: datetime | None = None) -> OrderState:
        return state_as_of(self.order_id, self.envelopes, version, at)


def load_history_file(path: Path | str) -> HistoryFile:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise HistoryReadError(f"{path}: cannot read it: {err}") from None
    try:
        # The export names no workflow id; the order's own events name the stream.
        history = WorkflowHistory.from_json("unknown", text)
    except Exception as err:  # noqa: BLE001 - json and protobuf raise many kinds; all mean "not a history"
        raise HistoryReadError(f"{path}: not a Temporal history JSON export: {err}") from None
    if not history.events:
        raise HistoryReadError(f"{path}: the history holds no events")
    try:
        envelopes = envelopes_in_history(history.events)
    except HistoryReadError as err:
        raise HistoryReadError(f"{path}: {err}") from None
    if not envelopes:
        raise HistoryReadError(f"{path}: no order events in this history (is it an OrderWorkflow?)")
    order_id = envelopes[0].stream_id
    return HistoryFile(
        path=path,
        order_id=order_id,
        history=WorkflowHistory(workflow_id_for(order_id), history.events),
        envelopes=tuple(envelopes),
    )
