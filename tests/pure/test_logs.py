"""Log lines that name their order: the fields every record gets, text and JSON."""

import io
import json
import logging

from observability.context import current_correlation_id
from observability.logs import JsonLines, OrderContext, configure_logging


def record(message: str, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("temporalio.workflow", logging.INFO, __file__, 1, message, None, None)
    made.__dict__.update(extra)
    return made


def test_a_workflow_line_gets_its_order_from_the_workflow_id_and_keeps_what_the_workflow_gave():
    line = record(
        "Order X v2 OrderValidated",
        temporal_workflow={"workflow_id": "order-X", "run_id": "run-1"},
        correlation_id="CART-1",
        event_version=2,
    )
    assert OrderContext().filter(line)
    assert (line.order_id, line.correlation_id, line.event_version) == ("X", "CART-1", 2)
    assert line.order_fields == " [order_id=X correlation_id=CART-1 event_version=2]"


def test_an_activity_line_takes_the_correlation_id_its_workflow_sent_or_the_one_seen_for_its_run():
    activity = {"activity_id": "1", "activity_type": "process_payment", "workflow_id": "order-Y", "attempt": 1}
    token = current_correlation_id.set("CART-2")
    try:
        sent = record("Payment", temporal_activity={**activity, "workflow_run_id": "run-2"})
        OrderContext().filter(sent)
    finally:
        current_correlation_id.reset(token)
    assert (sent.order_id, sent.correlation_id, sent.activity) == ("Y", "CART-2", "process_payment")
    # The SDK's own "Starting activity", before any interceptor: the run's, as seen.
    OrderContext().filter(
        record("v1", temporal_workflow={"workflow_id": "order-Z", "run_id": "run-3"}, correlation_id="CART-3")
    )
    starting = record(
        "Starting activity", temporal_activity={**activity, "workflow_id": "order-Z", "workflow_run_id": "run-3"}
    )
    OrderContext().filter(starting)
    assert starting.correlation_id == "CART-3"
    # A run never seen: the run id, as the workflow defaults it.
    unseen = record("Starting activity", temporal_activity={**activity, "workflow_run_id": "run-4"})
    OrderContext().filter(unseen)
    assert unseen.correlation_id == "run-4"


def test_a_line_of_no_order_has_no_order_fields():
    plain = record("Serving task queue 'orders'")
    OrderContext().filter(plain)
    assert (plain.order_id, plain.correlation_id, plain.order_fields) == (None, None, "")


def test_json_lines_carry_the_order_fields_and_nothing_absent():
    line = record("Order X ended Fulfilled", temporal_workflow={"workflow_id": "order-X", "run_id": "r"})
    OrderContext().filter(line)
    written = json.loads(JsonLines().format(line))
    assert written["order_id"] == "X" and written["correlation_id"] == "r" and written["level"] == "INFO"
    assert written["workflow"] == {"workflow_id": "order-X", "run_id": "r"}
    assert "event_version" not in written


def test_configure_logging_writes_json_lines_at_the_level_asked():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging("json", "WARNING", stream)
    try:
        logging.getLogger("x").info("quiet")
        logging.getLogger("x").warning("heard")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["heard"]
