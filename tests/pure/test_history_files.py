"""Reading committed history files: no server, no worker."""

import base64
import json
import re
from pathlib import Path

import pytest

from domain import OrderReceived, OrderState
from eventstore import HistoryReadError, load_history_file, read_history_file

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
SCHEMA_V1 = sorted((HISTORIES / "schema-v1").glob("order-*[0-9].json"))


def expected_state(history: Path) -> OrderState:
    return OrderState.model_validate_json(history.with_suffix(".state.json").read_text())


@pytest.mark.parametrize("history", SCHEMA_V1, ids=lambda path: path.stem)
def test_a_history_recorded_under_schema_1_is_upcast_and_folds_to_its_recorded_result(history):
    recorded = read_history_file(history)
    assert recorded.state_at() == expected_state(history)
    received = recorded.read(limit=1)[0]
    assert received.event_type == "OrderReceived"
    assert received.schema_version == OrderReceived.SCHEMA_VERSION
    assert all(item.currency == "USD" for item in received.data.items)
    assert received.data.personal is None


def test_the_schema_1_files_really_hold_schema_1_events():
    raw = (HISTORIES / "schema-v1" / "order-ORDER-001.json").read_text()
    assert len(SCHEMA_V1) == 2
    assert "currency" not in raw  # nor in the base64 payloads: those encode '"schema_version":1'
    assert b'"schema_version":1' in _decoded_payloads(raw)


def _decoded_payloads(raw: str) -> bytes:
    return b"\n".join(base64.b64decode(data) for data in re.findall(r'"data": "([A-Za-z0-9+/=]+)"', raw))


def test_both_enum_spellings_of_an_export_give_the_same_stream(tmp_path):
    cli_export = HISTORIES / "schema-v1" / "order-ORDER-001.json"
    pascal_case = re.sub(
        r'"EVENT_TYPE_([A-Z_]+)"', lambda m: '"' + m.group(1).title().replace("_", "") + '"', cli_export.read_text()
    )
    assert '"eventType": "WorkflowPropertiesModified"' in pascal_case
    other_spelling = tmp_path / "ui-export.json"
    other_spelling.write_text(pascal_case)
    assert read_history_file(other_spelling) == read_history_file(cli_export)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not a Temporal history JSON export"),
        ('{"events": []}', "the history holds no events"),
        (
            json.dumps({"events": [{"eventId": "1", "eventType": "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"}]}),
            "no order events",
        ),
    ],
)
def test_a_file_that_is_not_an_order_history_is_refused_naming_the_file(tmp_path, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(HistoryReadError, match=re.escape(f"{bad}: ") + ".*" + message):
        load_history_file(bad)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(HistoryReadError, match=r"nope\.json: cannot read it"):
        load_history_file(tmp_path / "nope.json")
