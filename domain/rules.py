"""The tutorial's business rules, exactly, over exact money."""

from collections.abc import Sequence
from decimal import Decimal

from domain.events import PaymentStatus, ValidationResult
from domain.orders import OrderItem
from domain.problems import ProblemCode, ValidationProblem

TOTAL_TOLERANCE = Decimal("0.01")
LARGE_ORDER_THRESHOLD = Decimal("10000")
MANUAL_APPROVAL_THRESHOLD = Decimal("50000")

# Orders above this are screened for fraud before any payment is taken.
FRAUD_SCREENING_THRESHOLD = LARGE_ORDER_THRESHOLD

LARGE_ORDER_WARNING = "Large order amount - manual review recommended"
PAYMENT_SKIPPED_REASON = "Order validation failed"


def validate_order(items: Sequence[OrderItem], total_amount: Decimal) -> ValidationResult:
    """Every error is reported, not only the first."""
    errors: list[ValidationProblem] = []
    warnings: list[ValidationProblem] = []

    if not items:
        errors.append(ValidationProblem(code=ProblemCode.NO_ITEMS, message="Order must contain at least one item"))
    for item in items:
        product = item.product_id
        if item.quantity == 0:
            errors.append(_about(product, ProblemCode.ZERO_QUANTITY, f"Item {product} has zero quantity"))
        elif item.quantity < 0:
            errors.append(_about(product, ProblemCode.NEGATIVE_QUANTITY, f"Item {product} has negative quantity"))
        if item.unit_price <= 0:
            errors.append(_about(product, ProblemCode.INVALID_PRICE, f"Item {product} has invalid price"))

    calculated_total = sum((item.quantity * item.unit_price for item in items), Decimal(0))
    if abs(calculated_total - total_amount) > TOTAL_TOLERANCE:
        errors.append(
            ValidationProblem(
                code=ProblemCode.TOTAL_MISMATCH,
                message=f"Total amount mismatch: expected {calculated_total}, got {total_amount}",
            )
        )

    if total_amount > LARGE_ORDER_THRESHOLD:
        warnings.append(ValidationProblem(code=ProblemCode.LARGE_ORDER, message=LARGE_ORDER_WARNING))

    return ValidationResult(is_valid=not errors, errors=tuple(errors), warnings=tuple(warnings))


def _about(product_id: str, code: ProblemCode, message: str) -> ValidationProblem:
    return ValidationProblem(code=code, subject=product_id, message=message)


def needs_fraud_screening(total_amount: Decimal) -> bool:
    return total_amount > FRAUD_SCREENING_THRESHOLD


def payment_status_for(amount: Decimal) -> PaymentStatus:
    """Above the approval threshold a human decides; nothing positive, nothing to charge."""
    if amount <= 0:
        return PaymentStatus.FAILED
    if amount > MANUAL_APPROVAL_THRESHOLD:
        return PaymentStatus.PENDING
    return PaymentStatus.COMPLETED
