"""Reading a stream: windows of versions, time travel, upcasting and the summary projection."""

import itertools
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError

from domain import (
    EventEnvelope,
    EventSchemaError,
    OrderFulfilled,
    OrderReceived,
    OrderStatus,
    OrderStream,
    OrderValidated,
    PaymentProcessed,
    PaymentStatus,
    ProblemCode,
    ValidationProblem,
    ValidationResult,
    VersionNotFound,
    fold_events,
    read_window,
    state_as_of,
    upcast,
)
from domain.problems import problem_from_message
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
    assert lifted.schema_version == OrderReceived.SCHEMA_VERSION
    assert [item.currency for item in lifted.data.items] == ["USD"]


def test_an_old_event_is_not_folded_without_upcasting():
    with pytest.raises(ValidationError, match=f"schema_version 1 is not the current {OrderReceived.SCHEMA_VERSION}"):
        EventEnvelope.model_validate(schema_v1_order_received())


def test_a_current_event_passes_upcasting_unchanged():
    current = json.loads(envelope(received(), 1).model_dump_json())
    assert upcast(current) == current


def test_an_event_from_newer_code_is_refused_rather_than_misread():
    current = json.loads(envelope(received(), 1).model_dump_json())
    newer = {**current, "schema_version": OrderReceived.SCHEMA_VERSION + 1}
    with pytest.raises(EventSchemaError, match="newer than this code knows"):
        upcast(newer)


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"event_type": "OrderTeleported"}, "unknown event_type"), ({"schema_version": 0}, "no valid schema_version")],
)
def test_an_unreadable_envelope_is_named(changes, message):
    with pytest.raises(EventSchemaError, match=message):
        upcast({**schema_v1_order_received(), **changes})


def test_validation_messages_recorded_before_codes_are_told_apart_by_their_form():
    assert problem_from_message("Item PROD-7 has zero quantity") == ValidationProblem(
        code=ProblemCode.ZERO_QUANTITY, subject="PROD-7", message="Item PROD-7 has zero quantity"
    )
    assert problem_from_message("Total amount mismatch: expected 0, got 100.00").code is ProblemCode.TOTAL_MISMATCH
    assert problem_from_message("Order must contain at least one item").code is ProblemCode.NO_ITEMS
    assert problem_from_message("Large order amount - manual review recommended").code is ProblemCode.LARGE_ORDER
    assert problem_from_message("Something nobody wrote").code is ProblemCode.OTHER


def test_an_order_validated_of_schema_1_is_upcast_with_codes_and_reads_the_same_to_people():
    current = envelope(
        validated("ORDER-1", "Item P-1 has invalid price", "Total amount mismatch: expected 2, got 3"), 2
    )
    recorded = json.loads(current.model_dump_json())
    result = recorded["data"]["validation_result"]
    result["errors"] = [problem["message"] for problem in result["errors"]]
    result["warnings"] = [problem["message"] for problem in result["warnings"]]
    lifted = EventEnvelope.model_validate(upcast({**recorded, "schema_version": 1}))
    assert lifted == current
    assert [problem.code for problem in lifted.data.validation_result.errors] == [
        ProblemCode.INVALID_PRICE,
        ProblemCode.TOTAL_MISMATCH,
    ]


def validated(order_id: str, *errors: str) -> OrderValidated:
    problems = tuple(problem_from_message(error) for error in errors)
    return OrderValidated(order_id=order_id, validation_result=ValidationResult(is_valid=not errors, errors=problems))


def stream_of(order_id: str, *events) -> OrderStream:
    return OrderStream(order_id, tuple(envelope(event, version) for version, event in enumerate(events, start=1)))


def test_the_summary_counts_and_adds_up_orders_by_status_and_lists_those_waiting():
    fulfilled = stream_of(
        "A",
        received("A", "150.50"),
        validated("A"),
        PaymentProcessed(order_id="A", payment_id="P-A", amount=Decimal("150.50"), status=PaymentStatus.COMPLETED),
        OrderFulfilled(order_id="A", fulfillment_id="F-A"),
    )
    pending = stream_of(
        "B",
        received("B", "60000"),
        validated("B"),
        PaymentProcessed(order_id="B", payment_id="P-B", amount=Decimal("60000"), status=PaymentStatus.PENDING),
    )
    invalid = stream_of(
        "C",
        received("C", "1"),
        validated(
            "C", "Item X has zero quantity", "Item Y has zero quantity", "Total amount mismatch: expected 0, got 1"
        ),
    )
    another_invalid = stream_of("D", received("D", "1"), validated("D", "Item Z has zero quantity"))

    summary = summarize([fulfilled, pending, invalid, another_invalid, OrderStream("E", ())])

    assert summary.orders == 4, "an order with no events yet is not counted"
    assert [(s.status, s.orders, s.amount) for s in summary.by_status] == [
        (OrderStatus.VALIDATION_FAILED, 2, Decimal("2")),
        (OrderStatus.PAYMENT_PENDING, 1, Decimal("60000")),
        (OrderStatus.FULFILLED, 1, Decimal("150.50")),
    ]
    waiting_since = pending.envelopes[-1].created_at
    assert [(o.order_id, o.amount, o.waiting_since) for o in summary.awaiting_approval] == [
        ("B", Decimal("60000"), waiting_since)
    ]
    assert [(e.code, e.orders, e.example) for e in summary.top_validation_errors] == [
        (ProblemCode.ZERO_QUANTITY, 2, "Item X has zero quantity"),
        (ProblemCode.TOTAL_MISMATCH, 1, "Total amount mismatch: expected 0, got 1"),
    ]


def test_the_summary_is_the_same_in_whatever_order_the_orders_come():
    """Folded one order at a time (a walk over histories reads them as they arrive), the
    summary is still one answer: examples from the smallest order id, ties among orders
    waiting since the same moment by id."""
    orders = [
        stream_of("D", received("D", "1"), validated("D", "Item Z has zero quantity")),
        stream_of("C", received("C", "1"), validated("C", "Item Y has zero quantity", "Item X has zero quantity")),
        stream_of("F", received("F", "1"), validated("F", "Total amount mismatch: expected 0, got 1")),
    ]
    for order_id in ("B", "A", "G"):
        orders.append(
            stream_of(
                order_id,
                received(order_id, "60000"),
                validated(order_id),
                PaymentProcessed(
                    order_id=order_id, payment_id=f"P-{order_id}", amount=Decimal("60000"), status=PaymentStatus.PENDING
                ),
            )
        )
    answers = {summarize(arranged).model_dump_json() for arranged in itertools.permutations(orders)}

    assert len(answers) == 1
    summary = summarize(orders)
    assert summary.top_validation_errors[0].example == "Item Y has zero quantity", "C's first, C < D"
    assert [o.order_id for o in summary.awaiting_approval] == ["A", "B", "G"]
