"""A history exported from the Web UI's download button or `temporal workflow show --output json`.

Both write Temporal's history as proto JSON; the SDK reads either spelling of the enums
("EVENT_TYPE_WORKFLOW_EXECUTION_STARTED" and "WorkflowExecutionStarted").
"""

from pathlib import Path

from temporalio.client import WorkflowHistory

from contract import workflow_id_for
from domain import OrderStream
from eventstore.history import PLAIN, EnvelopeReader, HistoryReadError, checked_stream


def read_history_file(path: Path | str, reader: EnvelopeReader = PLAIN) -> OrderStream:
    """The order stream in an exported history: the same value the server reader returns."""
    return _load(Path(path), reader)[1]


def load_history_file(path: Path | str, reader: EnvelopeReader = PLAIN) -> WorkflowHistory:
    """The whole history, for replay, named `order-<order id>` after its events: the
    export itself names no workflow id."""
    return _load(Path(path), reader)[0]


def _load(path: Path, reader: EnvelopeReader) -> tuple[WorkflowHistory, OrderStream]:
    try:
        text = path.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise HistoryReadError(f"{path}: cannot read it: a directory, not a history file") from None
    except FileNotFoundError:
        raise HistoryReadError(f"{path}: cannot read it: it does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise HistoryReadError(f"{path}: cannot read it: {err}") from None
    try:
        history = WorkflowHistory.from_json("unknown", text)
    except Exception as err:  # noqa: BLE001 - json and protobuf raise many kinds; all mean "not a history"
        raise HistoryReadError(f"{path}: not a Temporal history JSON export: {err}") from None
    if not history.events:
        raise HistoryReadError(f"{path}: the history holds no events")
    try:
        envelopes = reader.in_events(history.events)
    except HistoryReadError as err:
        raise HistoryReadError(f"{path}: {err}") from None
    if not envelopes:
        raise HistoryReadError(f"{path}: no order events in this history (is it an OrderWorkflow?)")
    stream = checked_stream(envelopes[0].stream_id, envelopes, str(path))
    return WorkflowHistory(workflow_id_for(stream.order_id), history.events), stream
