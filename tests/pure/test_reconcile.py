"""`orders reconcile`'s rules, on streams and ledger effects built by hand: each kind of
disagreement between what the stream says and what the outside world did is named."""

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from activities.ledger import OrderEffects
from domain import (
    InventoryReservation,
    InventoryReserved,
    OrderCancelled,
    OrderFulfilled,
    OrderSnapshot,
    OrderStream,
    OrderValidated,
    PaymentProcessed,
    PaymentStatus,
    ValidationResult,
)
from eventstore import FoundSnapshot
from orders_cli.reconcile import Discrepancy, _rendered, reconcile
from tests.builders import envelope, received

LINE = InventoryReservation(product_id="PROD-1", quantity=2, warehouse_id="WH-1")


def stream(*events, order_id: str = "ORDER-1", running: bool = False) -> FoundSnapshot:
    """The order of `events` as reconcile reads it: its snapshot (as an archived order's is kept)."""
    order = OrderStream(order_id, tuple(envelope(e, n) for n, e in enumerate(events, 1)))
    return FoundSnapshot(OrderSnapshot.of(order, datetime.now(UTC)), running)


def shipped_order(order_id: str = "ORDER-1") -> FoundSnapshot:
    return stream(
        received(order_id),
        OrderValidated(order_id=order_id, validation_result=ValidationResult(is_valid=True)),
        PaymentProcessed(
            order_id=order_id, payment_id="PAY-1", amount=Decimal("150.50"), status=PaymentStatus.COMPLETED
        ),
        InventoryReserved(order_id=order_id, reservations=(LINE,)),
        OrderFulfilled(order_id=order_id, fulfillment_id="FUL-1", tracking_number="TRK1"),
        order_id=order_id,
    )


def its_effects(**changes) -> OrderEffects:
    effects = OrderEffects(
        charge=("PAY-1", Decimal("150.50"), "Completed"), reserved=[LINE], held=[LINE], shipment="FUL-1"
    )
    for name, value in changes.items():
        setattr(effects, name, value)
    return effects


def test_one_order_is_counted_in_numbers_not_truth_values():
    result = reconcile([shipped_order()], {"order-ORDER-1": its_effects()})
    said = _rendered(result, Path("ledger.sqlite"))
    assert "(1 charges, 0 refunds, 1 reserved lines, 1 shipments)" in said, said
    assert json.dumps(dict(result.effects)) == '{"charges": 1, "refunds": 0, "reserved lines": 1, "shipments": 1}'


def problems(orders: list[FoundSnapshot], ledger: dict[str, OrderEffects]) -> list[Discrepancy]:
    return reconcile(orders, ledger).discrepancies


def test_a_shipped_order_and_its_effects_agree():
    result = reconcile([shipped_order()], {"order-ORDER-1": its_effects()})
    assert result.discrepancies == []
    assert result.effects == {"charges": 1, "refunds": 0, "reserved lines": 1, "shipments": 1}


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"charge": None}, "PaymentProcessed PAY-1 is in the stream, but the ledger has no payment"),
        ({"charge": ("PAY-2", Decimal("150.50"), "Completed")}, "the stream's payment is PAY-1, the ledger's PAY-2"),
        ({"charge": ("PAY-1", Decimal("1.00"), "Completed")}, "payment PAY-1: the stream says 150.50, the ledger 1.00"),
        ({"charge": ("PAY-1", Decimal("150.50"), "Pending")}, "closed holding an authorisation never captured"),
        ({"shipment": None}, "OrderFulfilled FUL-1 is in the stream, the ledger has no shipment"),
        ({"reserved": [], "held": []}, "reservations: the stream records 1 line(s), the ledger 0"),
        ({"refunds": [("PAY-1", Decimal("150.50"))]}, "refunds: the stream records 0, the ledger 150.50"),
    ],
)
def test_each_disagreement_is_named_with_the_order(changes, named):
    found = problems([shipped_order()], {"order-ORDER-1": its_effects(**changes)})
    assert any(d.order_id == "ORDER-1" and named in d.problem for d in found), found


def test_a_cancelled_order_must_have_its_refund_and_its_stock_back():
    order = stream(
        received(),
        OrderValidated(order_id="ORDER-1", validation_result=ValidationResult(is_valid=True)),
        PaymentProcessed(
            order_id="ORDER-1", payment_id="PAY-1", amount=Decimal("150.50"), status=PaymentStatus.COMPLETED
        ),
        InventoryReserved(order_id="ORDER-1", reservations=(LINE,)),
        OrderCancelled(order_id="ORDER-1", reason="changed mind", refund_amount=Decimal("150.50")),
    )
    refunded = its_effects(shipment=None, held=[], refunds=[("PAY-1", Decimal("150.50"))])
    assert problems([order], {"order-ORDER-1": refunded}) == []

    found = {d.problem for d in problems([order], {"order-ORDER-1": its_effects(shipment=None)})}
    assert found == {
        "refunds: the stream records 150.50, the ledger 0",
        "closed Cancelled with 1 reserved line(s) never released",
        "closed holding a completed charge with neither a shipment nor a refund",
    }


def test_a_charge_without_a_stream_is_named_and_a_running_order_is_not_judged():
    ledger = {"order-GHOST": its_effects(reserved=[], held=[], shipment=None), "order-ORDER-2": OrderEffects()}
    running = stream(received("ORDER-2"), order_id="ORDER-2", running=True)
    ledger["order-ORDER-2"] = its_effects()  # done outside, not yet recorded: it is on its way
    result = reconcile([running], ledger)
    assert result.running == 1
    assert result.discrepancies == [
        Discrepancy("GHOST", "the ledger holds payment PAY-1 (150.50 Completed) but no such order exists")
    ]
