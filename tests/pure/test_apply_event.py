"""The one pure function that moves an order's state forward, for all six events."""

from decimal import Decimal

import pytest

from domain import (
    PAYMENT_SKIPPED_REASON,
    EventStreamError,
    InventoryReservation,
    InventoryReserved,
    OrderCancelled,
    OrderFulfilled,
    OrderState,
    OrderStatus,
    OrderValidated,
    PaymentProcessed,
    PaymentStatus,
    ValidationResult,
    apply_event,
    fold_events,
)
from tests.builders import T0, envelope, received

ORDER = "ORDER-1"


def state_after(*events) -> OrderState:
    return fold_events(ORDER, [envelope(event, version) for version, event in enumerate(events, start=1)])


def valid() -> OrderValidated:
    return OrderValidated(order_id=ORDER, validation_result=ValidationResult(is_valid=True, warnings=("careful",)))


def paid(status: PaymentStatus = PaymentStatus.COMPLETED) -> PaymentProcessed:
    return PaymentProcessed(order_id=ORDER, payment_id="PAY-1", amount=Decimal("150.50"), status=status)


RESERVATION = InventoryReservation(product_id="PROD-1", quantity=2, warehouse_id="WH-1")


def test_an_order_with_no_events_has_no_status_and_version_zero():
    state = fold_events(ORDER, [])
    assert state == OrderState(order_id=ORDER)
    assert state.status is None and state.version == 0


def test_order_received_sets_customer_total_and_item_count():
    state = state_after(received())
    assert state.status is OrderStatus.RECEIVED
    assert state.customer_id == "CUSTOMER-1"
    assert state.total_amount == Decimal("150.50")
    assert state.items_count == 1
    assert state.events_applied == ("OrderReceived",)
    assert state.version == 1
    assert state.updated_at == T0.replace(second=1)


def test_a_valid_order_is_validated_and_keeps_its_warnings():
    state = state_after(received(), valid())
    assert state.status is OrderStatus.VALIDATED
    assert state.warnings == ("careful",)
    assert state.payment_skipped_reason is None


def test_an_invalid_order_fails_validation_and_says_why_payment_is_skipped():
    invalid = OrderValidated(
        order_id=ORDER, validation_result=ValidationResult(is_valid=False, errors=("no items", "bad total"))
    )
    state = state_after(received(), invalid)
    assert state.status is OrderStatus.VALIDATION_FAILED
    assert state.validation_errors == ("no items", "bad total")
    assert state.payment_skipped_reason == PAYMENT_SKIPPED_REASON


@pytest.mark.parametrize(
    ("payment_status", "order_status"),
    [
        (PaymentStatus.COMPLETED, OrderStatus.PAYMENT_COMPLETED),
        (PaymentStatus.PENDING, OrderStatus.PAYMENT_PENDING),
        (PaymentStatus.FAILED, OrderStatus.PAYMENT_FAILED),
    ],
)
def test_payment_processed_moves_the_order_by_the_payments_status(payment_status, order_status):
    state = state_after(received(), valid(), paid(payment_status))
    assert state.status is order_status
    assert state.payment_id == "PAY-1"
    assert state.payment_status is payment_status


def test_a_cancelled_payment_records_the_payment_but_leaves_the_order_status_to_order_cancelled():
    state = state_after(received(), valid(), paid(), paid(PaymentStatus.CANCELLED))
    assert state.status is OrderStatus.PAYMENT_COMPLETED
    assert state.payment_status is PaymentStatus.CANCELLED


def test_inventory_reserved_records_the_reservations():
    state = state_after(received(), valid(), paid(), InventoryReserved(order_id=ORDER, reservations=(RESERVATION,)))
    assert state.status is OrderStatus.INVENTORY_RESERVED
    assert state.reservations == (RESERVATION,)


def test_order_fulfilled_records_fulfillment_and_tracking():
    state = state_after(
        received(),
        valid(),
        paid(),
        InventoryReserved(order_id=ORDER, reservations=(RESERVATION,)),
        OrderFulfilled(order_id=ORDER, fulfillment_id="FUL-1", tracking_number="TRK1"),
    )
    assert state.status is OrderStatus.FULFILLED
    assert (state.fulfillment_id, state.tracking_number) == ("FUL-1", "TRK1")
    assert state.events_applied == (
        "OrderReceived",
        "OrderValidated",
        "PaymentProcessed",
        "InventoryReserved",
        "OrderFulfilled",
    )
    assert state.version == 5


def test_order_cancelled_records_reason_and_refund():
    state = state_after(
        received(),
        valid(),
        paid(),
        OrderCancelled(order_id=ORDER, reason="changed mind", refund_amount=Decimal("150.50")),
    )
    assert state.status is OrderStatus.CANCELLED
    assert state.cancellation_reason == "changed mind"
    assert state.refund_amount == Decimal("150.50")


def test_apply_leaves_the_previous_state_untouched():
    before = state_after(received())
    apply_event(before, envelope(valid(), 2))
    assert before.status is OrderStatus.RECEIVED and before.version == 1


def test_an_event_that_skips_a_version_is_refused():
    with pytest.raises(EventStreamError, match=r"at version 1; event .* has version 3"):
        apply_event(state_after(received()), envelope(valid(), 3))


def test_an_event_applied_twice_is_refused():
    first = envelope(received(), 1)
    with pytest.raises(EventStreamError, match="at version 1"):
        apply_event(apply_event(OrderState(order_id=ORDER), first), first)


def test_an_event_of_another_stream_is_refused():
    with pytest.raises(EventStreamError, match="belongs to stream 'ORDER-2'"):
        apply_event(OrderState(order_id=ORDER), envelope(received("ORDER-2"), 1))
