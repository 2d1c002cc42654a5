"""The tutorial's business rules at their boundaries. No server."""

from decimal import Decimal

import pytest

from domain import (
    LARGE_ORDER_WARNING,
    OrderItem,
    PaymentStatus,
    ProblemCode,
    ValidationProblem,
    payment_status_for,
    validate_order,
)


def messages(problems: tuple[ValidationProblem, ...]) -> tuple[str, ...]:
    return tuple(problem.message for problem in problems)


def item(product_id: str = "PROD-1", quantity: int = 1, unit_price: str = "10.00") -> OrderItem:
    return OrderItem(product_id=product_id, quantity=quantity, unit_price=Decimal(unit_price))


def test_a_consistent_order_is_valid_with_nothing_to_say():
    result = validate_order([item(quantity=2, unit_price="75.25")], Decimal("150.50"))
    assert result.is_valid
    assert messages(result.errors) == ()
    assert messages(result.warnings) == ()


def test_an_order_without_items_is_invalid():
    result = validate_order([], Decimal("0"))
    assert not result.is_valid
    assert messages(result.errors) == ("Order must contain at least one item",)


@pytest.mark.parametrize(
    ("total", "valid"),
    [("20.00", True), ("20.01", True), ("19.99", True), ("20.011", False), ("19.989", False), ("20.02", False)],
)
def test_the_total_may_differ_from_the_lines_by_at_most_one_cent(total, valid):
    result = validate_order([item(quantity=2, unit_price="10.00")], Decimal(total))
    assert result.is_valid is valid
    if not valid:
        assert messages(result.errors) == (f"Total amount mismatch: expected 20.00, got {total}",)


def test_a_zero_quantity_is_an_error_naming_the_product():
    result = validate_order([item("PROD-7", quantity=0)], Decimal("0"))
    assert messages(result.errors) == ("Item PROD-7 has zero quantity",)


def test_a_negative_quantity_is_an_error_naming_the_product():
    result = validate_order([item("PROD-7", quantity=-1)], Decimal("-10.00"))
    assert messages(result.errors) == ("Item PROD-7 has negative quantity",)


@pytest.mark.parametrize("price", ["0", "-5.00"])
def test_a_price_of_zero_or_less_is_an_error_naming_the_product(price):
    result = validate_order([item("PROD-7", unit_price=price)], Decimal(price))
    assert messages(result.errors) == ("Item PROD-7 has invalid price",)


def test_every_error_is_reported_not_only_the_first():
    result = validate_order(
        [item("A", quantity=0, unit_price="-1"), item("B", quantity=-2, unit_price="3.00")], Decimal("999")
    )
    assert messages(result.errors) == (
        "Item A has zero quantity",
        "Item A has invalid price",
        "Item B has negative quantity",
        "Total amount mismatch: expected -6.00, got 999",
    )


@pytest.mark.parametrize(("total", "warned"), [("10000.00", False), ("10000.01", True), ("9999.99", False)])
def test_orders_above_ten_thousand_are_flagged_for_review_but_stay_valid(total, warned):
    result = validate_order([item(unit_price=total)], Decimal(total))
    assert result.is_valid
    assert messages(result.warnings) == ((LARGE_ORDER_WARNING,) if warned else ())


def test_the_large_order_warning_keeps_the_tutorials_wording():
    assert LARGE_ORDER_WARNING == "Large order amount - manual review recommended"


def test_an_invalid_large_order_gets_both_its_errors_and_the_warning():
    result = validate_order([], Decimal("20000"))
    assert not result.is_valid
    assert messages(result.warnings) == (LARGE_ORDER_WARNING,)


@pytest.mark.parametrize(
    ("amount", "status"),
    [
        ("0.01", PaymentStatus.COMPLETED),
        ("150.50", PaymentStatus.COMPLETED),
        ("50000.00", PaymentStatus.COMPLETED),
        ("50000.01", PaymentStatus.PENDING),
        ("60000", PaymentStatus.PENDING),
        ("0", PaymentStatus.FAILED),
        ("-0.01", PaymentStatus.FAILED),
    ],
)
def test_payment_completes_up_to_fifty_thousand_waits_above_and_fails_at_zero_or_less(amount, status):
    assert payment_status_for(Decimal(amount)) is status


def test_money_is_exact_so_sums_read_as_written():
    result = validate_order([item(unit_price="0.10"), item("PROD-2", unit_price="0.20")], Decimal("1.00"))
    assert messages(result.errors) == ("Total amount mismatch: expected 0.30, got 1.00",)


def test_every_problem_carries_a_code_and_the_product_it_is_about():
    result = validate_order(
        [item("PROD-7", quantity=0, unit_price="0"), item("PROD-8", quantity=-1)], Decimal("50000.01")
    )
    assert [(problem.code, problem.subject) for problem in result.errors] == [
        (ProblemCode.ZERO_QUANTITY, "PROD-7"),
        (ProblemCode.INVALID_PRICE, "PROD-7"),
        (ProblemCode.NEGATIVE_QUANTITY, "PROD-8"),
        (ProblemCode.TOTAL_MISMATCH, None),
    ]
    assert [(problem.code, problem.subject) for problem in result.warnings] == [(ProblemCode.LARGE_ORDER, None)]
