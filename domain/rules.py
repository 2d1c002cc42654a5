"""The tutorial's business rules, exactly, over exact money."""

import re
from collections.abc import Sequence
from decimal import Decimal

from domain.events import PaymentStatus, ValidationResult
from domain.orders import OrderItem

TOTAL_TOLERANCE = Decimal("0.01")
LARGE_ORDER_THRESHOLD = Decimal("10000")
MANUAL_APPROVAL_THRESHOLD = Decimal("50000")

# Orders above this are screened for fraud before any payment is taken.
FRAUD_SCREENING_THRESHOLD = LARGE_ORDER_THRESHOLD

LARGE_ORDER_WARNING = "Large order amount - manual review recommended"
PAYMENT_SKIPPED_REASON = "Order validation failed"


def validate_order(items: Sequence[OrderItem], total_amount: Decimal) -> ValidationResult:
    """Every error is reported, not only the first."""
    errors: list[str] = []
    warnings: list[str] = []

    if not items:
        errors.append("Order must contain at least one item")
    for item in items:
        if item.quantity == 0:
            errors.append(f"Item {item.product_id} has zero quantity")
        elif item.quantity < 0:
            errors.append(f"Item {item.product_id} has negative quantity")
        if item.unit_price <= 0:
            errors.append(f"Item {item.product_id} has invalid price")

    calculated_total = sum((item.quantity * item.unit_price for item in items), Decimal(0))
    if abs(calculated_total - total_amount) > TOTAL_TOLERANCE:
        errors.append(f"Total amount mismatch: expected {calculated_total}, got {total_amount}")

    if total_amount > LARGE_ORDER_THRESHOLD:
        warnings.append(LARGE_ORDER_WARNING)

    return ValidationResult(is_valid=not errors, errors=tuple(errors), warnings=tuple(warnings))


def needs_fraud_screening(total_amount: Decimal) -> bool:
    return total_amount > FRAUD_SCREENING_THRESHOLD


def payment_status_for(amount: Decimal) -> PaymentStatus:
    """Above the approval threshold a human decides; nothing positive, nothing to charge."""
    if amount <= 0:
        return PaymentStatus.FAILED
    if amount > MANUAL_APPROVAL_THRESHOLD:
        return PaymentStatus.PENDING
    return PaymentStatus.COMPLETED


_ITEM_NAMED = re.compile(r"^Item \S+ has ")
_MISMATCH_FIGURES = re.compile(r"^(Total amount mismatch):.*$")


def error_kind(message: str) -> str:
    """A validation error without the figures and product that make each one unique,
    so errors can be counted by kind: "Item PROD-7 has zero quantity" -> "Item * has zero quantity"."""
    return _MISMATCH_FIGURES.sub(r"\1", _ITEM_NAMED.sub("Item * has ", message))
