"""Reading a stream: windows of versions, time travel, upcasting and the summary projection."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from domain import (
    EventEnvelope,
    EventSchemaError,
    OrderStatus,
    OrderValidated,
    ValidationResult,
    VersionNotFound,
    fold_events,
    read_window,
    state_as_of,
    upcast,
)
from domain.rules import error_kind
from domain.summary import summarize
from tests.builders import T0, envelope, received

STREAM = [
    envelope(received(), 1),
    envelope(OrderValidated(order_id="ORDER-1", validation_result=ValidationResult(is_valid=True)), 2),
]


def test_a_window_starts_at_from_version_and_holds_at_most_limit_events():
    assert read_window(STREAM) == STREAM
    assert read_window(STREAM, from_version=2) == STREAM[1:]
    assert read_window(STREAM, limit=1) == STREAM[:1]
    assert read_window(STREAM, from_version=3) == []
    assert read_window(STREAM, limit=0) == []


@pytest.mark.parametrize(("from_version", "limit"), [(0, None), (1, -1)])
def test_a_window_refuses_impossible_bounds(from_version, limit):
    with pytest.raises(ValueError):
        read_window(STREAM, from_version, limit)


def test_the_state_at_a_version_folds_that_many_events():
    assert state_as_of("ORDER-1", STREAM, version=0).version == 0
    assert state_as_of("ORDER-1", STREAM, version=1).status is OrderStatus.RECEIVED
    assert state_as_of("ORDER-1", STREAM, version=2) == fold_events("ORDER-1", STREAM)
    assert state_as_of("ORDER-1", STREAM) == fold_events("ORDER-1", STREAM)


def test_a_version_the_stream_does_not_have_is_named():
    with pytest.raises(VersionNotFound, match="order ORDER-1 has versions 1 to 2; there is no version 3"):
        state_as_of("ORDER-1", STREAM, version=3)


def test_the_state_at_a_time_folds_the_events_recorded_by_then():
    recorded_first = STREAM[0].created_at
    assert state_as_of("ORDER-1", STREAM, at=recorded_first).version == 1
    assert state_as_of("ORDER-1", STREAM, at=recorded_first - timedelta(microseconds=1)).version == 0
    assert state_as_of("ORDER-1", STREAM, at=T0 + timedelta(days=1)).version == 2


def test_time_travel_takes_a_version_or_a_time_not_both_and_never_a_naive_time():
    with pytest.raises(ValueError, match="not both"):
        state_as_of("ORDER-1", STREAM, version=1, at=T0)
    with pytest.raises(ValueError, match="no time zone"):
        state_as_of("ORDER-1", STREAM, at=T0.replace(tzinfo=None))


def schema_v1_order_received() -> dict:
    """OrderReceived as recorded before order lines had a currency."""
    data = json.loads(envelope(received(), 1).model_dump_json())
    for item in data["data"]["items"]:
        del item["currency"]
    return {**data, "schema_version": 1}


def test_an_order_received_of_schema_1_is_upcast_with_every_line_in_us_dollars():
    lifted = EventEnvelope.model_validate(upcast(schema_v1_order_received()))
    assert lifted.schema_version == 2
    assert [item.currency for item in lifted.data.items] == ["USD"]


def test_an_old_event_is_not_folded_without_upcasting():
    with pytest.raises(ValidationError, match="schema_version 1 is not the current 2"):
        EventEnvelope.model_validate(schema_v1_order_received())


def test_a_current_event_passes_upcasting_unchanged():
    current = json.loads(envelope(received(), 1).model_dump_json())
    assert upcast(current) == current


def test_an_event_from_newer_code_is_refused_rather_than_misread():
    newer = {**json.loads(envelope(received(), 1).model_dump_json()), "schema_version": 3}
    with pytest.raises(EventSchemaError, match="newer than this code knows"):
        upcast(newer)


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"event_type": "OrderTeleported"}, "unknown event_type"), ({"schema_version": 0}, "no valid schema_version")],
)
def test_an_unreadable_envelope_is_named(changes, message):
    with pytest.raises(EventSchemaError, match=message):
        upcast({**schema_v1_order_received(), **changes})


def test_validation_errors_are_counted_by_kind_not_by_their_figures():
    assert error_kind("Item PROD-7 has zero quantity") == "Item * has zero quantity"
    assert error_kind("Total amount mismatch: expected 0, got 100.00") == "Total amount mismatch"
    assert error_kind("Order must contain at least one item") == "Order must contain at least one item"


def test_the_summary_counts_and_adds_up_orders_by_status_and_lists_those_waiting():
    fulfilled = fold_events("A", []).model_copy(
        update={"status": OrderStatus.FULFILLED, "total_amount": Decimal("150.50"), "version": 5}
    )
    pending = fold_events("B", []).model_copy(
        update={"status": OrderStatus.PAYMENT_PENDING, "total_amount": Decimal("60000"), "customer_id": "C", "updated_at": T0}
    )
    invalid = fold_events("C", []).model_copy(
        update={
            "status": OrderStatus.VALIDATION_FAILED,
            "total_amount": Decimal("1"),
            "validation_errors": ("Item X has zero quantity", "Item Y has zero quantity", "Total amount mismatch: expected 0, got 1"),
        }
    )
    another_invalid = invalid.model_copy(update={"order_id": "D", "validation_errors": ("Item Z has zero quantity",)})

    summary = summarize([fulfilled, pending, invalid, another_invalid, fold_events("E", [])])

    assert summary.orders == 4, "an order with no events yet is not counted"
    assert [(s.status, s.orders, s.amount) for s in summary.by_status] == [
        (OrderStatus.VALIDATION_FAILED, 2, Decimal("2")),
        (OrderStatus.PAYMENT_PENDING, 1, Decimal("60000")),
        (OrderStatus.FULFILLED, 1, Decimal("150.50")),
    ]
    assert [(o.order_id, o.amount, o.waiting_since) for o in summary.awaiting_approval] == [("B", Decimal("60000"), T0)]
    assert [(e.error, e.orders) for e in summary.top_validation_errors] == [
        ("Item * has zero quantity", 2),
        ("Total amount mismatch", 1),
    ]
