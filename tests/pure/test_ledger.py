"""The simulated payment gateway, inventory and shipping over a real SQLite file:
every call idempotent by its key. No Temporal server."""

import asyncio
from decimal import Decimal

import pytest

from activities.gateways import OutOfStock, PaymentNotFound
from activities.ledger import LedgerDatabase, SqliteFraudScreen, SqliteInventory, SqlitePaymentGateway, SqliteShipping
from domain import OrderItem, PaymentStatus


@pytest.fixture
def db(tmp_path) -> LedgerDatabase:
    return LedgerDatabase(tmp_path / "ledger.sqlite")


def line(product_id: str, quantity: int) -> OrderItem:
    return OrderItem(product_id=product_id, quantity=quantity, unit_price=Decimal("1"))


def stock(db: LedgerDatabase, product_id: str) -> int:
    return db.rows("SELECT COALESCE(SUM(on_hand), 0) FROM stock WHERE product_id = ?", product_id)[0][0]


async def test_a_retried_charge_returns_the_first_result_and_charges_once(db):
    gateway = SqlitePaymentGateway(db)
    first = await gateway.charge("order-A-payment", "C", Decimal("150.50"))
    again = await gateway.charge("order-A-payment", "C", Decimal("150.50"))
    assert again == first and first.status is PaymentStatus.COMPLETED
    assert db.rows("SELECT COUNT(*), amount FROM payments") == [(1, "150.50")]


async def test_a_retried_refund_never_refunds_twice(db):
    gateway = SqlitePaymentGateway(db)
    charge = await gateway.charge("order-A-payment", "C", Decimal("10.00"))
    await gateway.refund("order-A-refund", charge.payment_id, Decimal("10.00"))
    await gateway.refund("order-A-refund", charge.payment_id, Decimal("10.00"))
    assert db.rows("SELECT COUNT(*) FROM refunds") == [(1,)]


async def test_only_a_completed_payment_can_be_refunded(db):
    gateway = SqlitePaymentGateway(db)
    pending = await gateway.charge("order-B-payment", "C", Decimal("60000"))
    with pytest.raises(PaymentNotFound):
        await gateway.refund("order-B-refund", pending.payment_id, Decimal("60000"))


async def test_an_authorisation_is_captured_or_voided_once_and_retries_see_the_outcome(db):
    gateway = SqlitePaymentGateway(db)
    await gateway.charge("order-A-payment", "C", Decimal("60000"))
    await gateway.charge("order-B-payment", "C", Decimal("60000"))
    assert (await gateway.capture("order-A-payment")).status is PaymentStatus.COMPLETED
    assert (await gateway.void("order-A-payment")).status is PaymentStatus.COMPLETED, "captured stays captured"
    assert (await gateway.void("order-B-payment")).status is PaymentStatus.CANCELLED
    assert (await gateway.capture("order-B-payment")).status is PaymentStatus.CANCELLED, "voided stays voided"


async def test_a_declined_customer_is_charged_nothing(db):
    gateway = SqlitePaymentGateway(db)
    await gateway.decline_customer("C-BAD")
    assert (await gateway.charge("order-A-payment", "C-BAD", Decimal("5"))).status is PaymentStatus.FAILED


async def test_a_retried_reservation_takes_stock_once_and_a_retried_release_returns_it_once(db):
    inventory = SqliteInventory(db)
    first = await inventory.reserve("order-A-reservation", [line("PROD-001", 3)])
    assert await inventory.reserve("order-A-reservation", [line("PROD-001", 3)]) == first
    assert stock(db, "PROD-001") == 1000 - 3
    await inventory.release("order-A-reservation")
    await inventory.release("order-A-reservation")
    assert stock(db, "PROD-001") == 1000


async def test_a_line_larger_than_one_warehouse_is_split_across_warehouses(db):
    reservations = await SqliteInventory(db).reserve("order-A-reservation", [line("PROD-001", 700)])
    assert sorted((r.warehouse_id, r.quantity) for r in reservations) == [("WH-EAST-1", 500), ("WH-WEST-1", 200)]


async def test_an_order_short_for_one_line_reserves_nothing(db):
    inventory = SqliteInventory(db)
    with pytest.raises(OutOfStock, match="Out of stock: PROD-010 \\(wanted 11, available 10\\)"):
        await inventory.reserve("order-A-reservation", [line("PROD-001", 1), line("PROD-010", 11)])
    assert (stock(db, "PROD-001"), stock(db, "PROD-010")) == (1000, 10)
    assert db.rows("SELECT COUNT(*) FROM reservations") == [(0,)]


async def test_two_orders_racing_for_the_last_units_cannot_both_get_them(tmp_path):
    # Two ledgers on one file, as two workers would have.
    first, second = (SqliteInventory(LedgerDatabase(tmp_path / "shared.sqlite")) for _ in range(2))
    outcomes = await asyncio.gather(
        first.reserve("order-A-reservation", [line("PROD-010", 7)]),
        second.reserve("order-B-reservation", [line("PROD-010", 7)]),
        return_exceptions=True,
    )
    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["OutOfStock", "list"]
    assert stock(LedgerDatabase(tmp_path / "shared.sqlite"), "PROD-010") == 3


async def test_a_retried_shipment_ships_once(db):
    shipping = SqliteShipping(db)
    assert await shipping.ship("order-A-fulfillment", []) == await shipping.ship("order-A-fulfillment", [])
    assert db.rows("SELECT COUNT(*) FROM shipments") == [(1,)]


async def test_only_watched_customers_fail_fraud_screening(db):
    screen = SqliteFraudScreen(db)
    await screen.watch("C-WATCHED", "stolen card")
    assert (await screen.screen("C-WATCHED", Decimal("20000"))).reason == "stolen card"
    assert (await screen.screen("C-FINE", Decimal("20000"))).passed


def test_reopening_the_ledger_keeps_its_stock_and_does_not_seed_again(tmp_path):
    path = tmp_path / "ledger.sqlite"
    db = LedgerDatabase(path)
    asyncio.run(SqliteInventory(db).reserve("order-A-reservation", [line("PROD-001", 5)]))
    assert stock(LedgerDatabase(path), "PROD-001") == 995
