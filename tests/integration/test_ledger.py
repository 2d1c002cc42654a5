"""The ledger's contract, on SQLite and on PostgreSQL alike: the simulated payment gateway,
inventory and shipping answer every call idempotently by its key, the same key always the
first answer, and stock never goes below zero, however many workers (each with a ledger
of its own on the one database) call at once. No Temporal server."""

import asyncio
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from activities.gateways import OutOfStock, PaymentNotFound
from activities.ledger import (
    LedgerDatabase,
    LedgerError,
    LedgerFraudScreen,
    LedgerInventory,
    LedgerPaymentGateway,
    LedgerShipping,
)
from domain import OrderItem, PaymentStatus
from tests.places import a_regular_file, garbage, read_only

RACERS = 50
WORKERS = 5  # ledgers on one database, as that many worker processes would have


@pytest.fixture
def ledger_at(projections_at) -> Callable[[str], Path | str]:
    """Ledger targets by name, each new: a SQLite file, or a database on the tests' PostgreSQL."""
    return projections_at


@pytest.fixture
def db(ledger_at) -> Iterator[LedgerDatabase]:
    ledger = LedgerDatabase(ledger_at("ledger"))
    yield ledger
    ledger.close()


def workers_on(target: Path | str) -> list[LedgerDatabase]:
    return [LedgerDatabase(target) for _ in range(WORKERS)]


def line(product_id: str, quantity: int) -> OrderItem:
    return OrderItem(product_id=product_id, quantity=quantity, unit_price=Decimal("1"))


def stock(db: LedgerDatabase, product_id: str) -> int:
    return db.rows("SELECT COALESCE(SUM(on_hand), 0) FROM stock WHERE product_id = ?", product_id)[0][0]


async def test_a_retried_charge_returns_the_first_result_and_charges_once(db):
    gateway = LedgerPaymentGateway(db)
    first = await gateway.charge("order-A-payment", "C", Decimal("150.50"))
    again = await gateway.charge("order-A-payment", "C", Decimal("150.50"))
    assert again == first and first.status is PaymentStatus.COMPLETED
    assert db.rows("SELECT amount FROM payments") == [("150.50",)]


async def test_a_retried_refund_never_refunds_twice(db):
    gateway = LedgerPaymentGateway(db)
    charge = await gateway.charge("order-A-payment", "C", Decimal("10.00"))
    await gateway.refund("order-A-refund", charge.payment_id, Decimal("10.00"))
    await gateway.refund("order-A-refund", charge.payment_id, Decimal("10.00"))
    assert db.rows("SELECT COUNT(*) FROM refunds") == [(1,)]


async def test_only_a_completed_payment_can_be_refunded(db):
    gateway = LedgerPaymentGateway(db)
    pending = await gateway.charge("order-B-payment", "C", Decimal("60000"))
    with pytest.raises(PaymentNotFound):
        await gateway.refund("order-B-refund", pending.payment_id, Decimal("60000"))


async def test_an_authorisation_is_captured_or_voided_once_and_retries_see_the_outcome(db):
    gateway = LedgerPaymentGateway(db)
    await gateway.charge("order-A-payment", "C", Decimal("60000"))
    await gateway.charge("order-B-payment", "C", Decimal("60000"))
    assert (await gateway.capture("order-A-payment")).status is PaymentStatus.COMPLETED
    assert (await gateway.void("order-A-payment")).status is PaymentStatus.COMPLETED, "captured stays captured"
    assert (await gateway.void("order-B-payment")).status is PaymentStatus.CANCELLED
    assert (await gateway.capture("order-B-payment")).status is PaymentStatus.CANCELLED, "voided stays voided"


async def test_a_declined_customer_is_charged_nothing(db):
    gateway = LedgerPaymentGateway(db)
    await gateway.decline_customer("C-BAD")
    assert (await gateway.charge("order-A-payment", "C-BAD", Decimal("5"))).status is PaymentStatus.FAILED


async def test_a_retried_reservation_takes_stock_once_and_a_retried_release_returns_it_once(db):
    inventory = LedgerInventory(db)
    first = await inventory.reserve("order-A-reservation", [line("PROD-001", 3)])
    assert await inventory.reserve("order-A-reservation", [line("PROD-001", 3)]) == first
    assert stock(db, "PROD-001") == 1000 - 3
    await inventory.release("order-A-reservation")
    await inventory.release("order-A-reservation")
    assert stock(db, "PROD-001") == 1000


async def test_a_line_larger_than_one_warehouse_is_split_across_warehouses(db):
    reservations = await LedgerInventory(db).reserve("order-A-reservation", [line("PROD-001", 700)])
    assert sorted((r.warehouse_id, r.quantity) for r in reservations) == [("WH-EAST-1", 500), ("WH-WEST-1", 200)]


async def test_an_order_short_for_one_line_reserves_nothing(db):
    inventory = LedgerInventory(db)
    with pytest.raises(OutOfStock, match="Out of stock: PROD-010 \\(wanted 11, available 10\\)"):
        await inventory.reserve("order-A-reservation", [line("PROD-001", 1), line("PROD-010", 11)])
    assert (stock(db, "PROD-001"), stock(db, "PROD-010")) == (1000, 10)
    assert db.rows("SELECT COUNT(*) FROM reservations") == [(0,)]


async def test_two_orders_racing_for_the_last_units_cannot_both_get_them(ledger_at):
    # Two ledgers on one database, as two workers would have.
    target = ledger_at("shared")
    first, second = (LedgerInventory(LedgerDatabase(target)) for _ in range(2))
    outcomes = await asyncio.gather(
        first.reserve("order-A-reservation", [line("PROD-010", 7)]),
        second.reserve("order-B-reservation", [line("PROD-010", 7)]),
        return_exceptions=True,
    )
    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["OutOfStock", "list"]
    assert stock(LedgerDatabase(target), "PROD-010") == 3


async def test_fifty_workers_charging_one_key_at_once_charge_once_and_all_get_the_first_answer(ledger_at):
    target = ledger_at("racing-charges")
    gateways = [LedgerPaymentGateway(db) for db in workers_on(target)]
    answers = await asyncio.gather(
        *(gateways[n % WORKERS].charge("order-R-payment", "C", Decimal("42.00")) for n in range(RACERS))
    )
    assert len(set(answers)) == 1
    assert LedgerDatabase(target).rows("SELECT COUNT(*) FROM payments") == [(1,)]

    refunds = await asyncio.gather(
        *(
            gateways[n % WORKERS].refund("order-R-refund", answers[0].payment_id, Decimal("42.00"))
            for n in range(RACERS)
        )
    )
    assert len(set(refunds)) == 1
    assert LedgerDatabase(target).rows("SELECT COUNT(*) FROM refunds") == [(1,)]


async def test_fifty_workers_reserving_and_shipping_one_key_at_once_take_stock_once(ledger_at):
    target = ledger_at("racing-reservations")
    databases = workers_on(target)
    inventories, shipping = [LedgerInventory(db) for db in databases], [LedgerShipping(db) for db in databases]
    reserved = await asyncio.gather(
        *(inventories[n % WORKERS].reserve("order-R-reservation", [line("PROD-001", 3)]) for n in range(RACERS))
    )
    assert all(answer == reserved[0] for answer in reserved)
    assert stock(databases[0], "PROD-001") == 1000 - 3
    shipped = await asyncio.gather(
        *(shipping[n % WORKERS].ship("order-R-fulfillment", reserved[0]) for n in range(RACERS))
    )
    assert len(set(shipped)) == 1
    await asyncio.gather(*(inventories[n % WORKERS].release("order-R-reservation") for n in range(RACERS)))
    assert stock(databases[0], "PROD-001") == 1000


async def test_fifty_orders_racing_for_ten_units_leave_stock_at_zero_never_below(ledger_at):
    target = ledger_at("racing-stock")
    inventories = [LedgerInventory(db) for db in workers_on(target)]
    outcomes = await asyncio.gather(
        *(inventories[n % WORKERS].reserve(f"order-S{n}-reservation", [line("PROD-010", 1)]) for n in range(RACERS)),
        return_exceptions=True,
    )
    assert sum(isinstance(outcome, list) for outcome in outcomes) == 10
    assert sum(isinstance(outcome, OutOfStock) for outcome in outcomes) == RACERS - 10
    assert stock(LedgerDatabase(target), "PROD-010") == 0


async def test_a_retried_shipment_ships_once(db):
    shipping = LedgerShipping(db)
    assert await shipping.ship("order-A-fulfillment", []) == await shipping.ship("order-A-fulfillment", [])
    assert db.rows("SELECT COUNT(*) FROM shipments") == [(1,)]


async def test_only_watched_customers_fail_fraud_screening(db):
    screen = LedgerFraudScreen(db)
    await screen.watch("C-WATCHED", "stolen card")
    assert (await screen.screen("C-WATCHED", Decimal("20000"))).reason == "stolen card"
    assert (await screen.screen("C-FINE", Decimal("20000"))).passed


async def test_reopening_the_ledger_keeps_its_stock_and_does_not_seed_again(ledger_at):
    target = ledger_at("reopened")
    db = LedgerDatabase(target)
    await LedgerInventory(db).reserve("order-A-reservation", [line("PROD-001", 5)])
    assert stock(LedgerDatabase(target), "PROD-001") == 995


async def test_a_ledger_of_another_shape_is_refused_in_one_line_and_left_as_it_was(ledger_at):
    target = ledger_at("foreign")
    db = LedgerDatabase(target)
    with db.transaction() as tables:
        tables.execute("DROP TABLE shipments")
        tables.execute("CREATE TABLE shipments (id INTEGER PRIMARY KEY, what TEXT)")
    with pytest.raises(LedgerError, match="holds a table shipments that is not the ledger's"):
        LedgerDatabase(target)
    assert db.rows("SELECT COUNT(*) FROM shipments") == [(0,)]


def test_a_dsn_nobody_answers_is_one_line():
    with pytest.raises(LedgerError, match=r"the ledger at postgresql://127\.0\.0\.1:1/nowhere cannot be used"):
        LedgerDatabase("postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=2")


def test_a_read_only_or_garbage_sqlite_ledger_is_one_line_to_a_writer_and_read_by_a_reader(tmp_path):
    path = tmp_path / "kept" / "ledger.sqlite"
    made = LedgerDatabase(path)
    asyncio.run(LedgerPaymentGateway(made).charge("order-A-payment", "C", Decimal("5")))
    made.close()
    with read_only(path.parent):
        with pytest.raises(LedgerError, match="cannot be used"):
            LedgerDatabase(path)
        reader = LedgerDatabase(path, read_only=True)
        assert reader.rows("SELECT COUNT(*) FROM payments") == [(1,)]
        reader.close()
    for wrong in (garbage(tmp_path / "garbage.sqlite"), a_regular_file(tmp_path / "a-file") / "ledger.sqlite"):
        with pytest.raises(LedgerError):
            LedgerDatabase(wrong)
    with pytest.raises(LedgerError, match="no ledger at"):
        LedgerDatabase(tmp_path / "nothing-here.sqlite", read_only=True)
