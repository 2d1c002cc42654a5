"""The order-summary projection: a read model folded from order states."""

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from domain.orders import Money
from domain.rules import error_kind
from domain.state import OrderState, OrderStatus


class StatusTotals(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: OrderStatus
    orders: int
    amount: Money


class AwaitingApproval(BaseModel):
    model_config = ConfigDict(frozen=True)

    order_id: str
    customer_id: str | None
    amount: Money | None
    payment_id: str | None
    waiting_since: datetime | None


class ValidationErrorCount(BaseModel):
    model_config = ConfigDict(frozen=True)

    error: str
    orders: int


class OrderSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    orders: int
    by_status: tuple[StatusTotals, ...]
    awaiting_approval: tuple[AwaitingApproval, ...]
    top_validation_errors: tuple[ValidationErrorCount, ...]


_NEVER = datetime.max.replace(tzinfo=UTC)


def summarize(states: Iterable[OrderState], top_errors: int = 5) -> OrderSummary:
    counts: Counter[OrderStatus] = Counter()
    amounts: dict[OrderStatus, Decimal] = {}
    awaiting: list[AwaitingApproval] = []
    errors: Counter[str] = Counter()
    total = 0
    for state in states:
        if state.status is None:
            continue
        total += 1
        counts[state.status] += 1
        amounts[state.status] = amounts.get(state.status, Decimal(0)) + (state.total_amount or Decimal(0))
        if state.status is OrderStatus.PAYMENT_PENDING:
            awaiting.append(
                AwaitingApproval(
                    order_id=state.order_id,
                    customer_id=state.customer_id,
                    amount=state.total_amount,
                    payment_id=state.payment_id,
                    waiting_since=state.updated_at,
                )
            )
        errors.update({error_kind(error) for error in state.validation_errors})
    return OrderSummary(
        orders=total,
        by_status=tuple(
            StatusTotals(status=status, orders=counts[status], amount=amounts[status])
            for status in OrderStatus
            if counts[status]
        ),
        awaiting_approval=tuple(sorted(awaiting, key=lambda order: order.waiting_since or _NEVER)),
        top_validation_errors=tuple(
            ValidationErrorCount(error=error, orders=count) for error, count in errors.most_common(top_errors)
        ),
    )
