"""The order-summary projection: a read model folded from order streams.

Statuses and amounts come from each order's state; validation problems are counted by
their code, read from the OrderValidated events themselves.
"""

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from domain.events import OrderValidated
from domain.orders import Money
from domain.problems import ProblemCode, ValidationProblem
from domain.state import OrderState, OrderStatus
from domain.stream import OrderStream


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

    code: ProblemCode
    orders: int
    example: str  # one message of this code, for people


class OrderSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    orders: int
    by_status: tuple[StatusTotals, ...]
    awaiting_approval: tuple[AwaitingApproval, ...]
    top_validation_errors: tuple[ValidationErrorCount, ...]


_NEVER = datetime.max.replace(tzinfo=UTC)


class SummarySource(Protocol):
    """A read model that may answer for the summary of every order."""

    async def current_summary(self) -> OrderSummary | None:
        """The summary of every order, if the read model is current; else None."""
        ...


def summarize(streams: Iterable[OrderStream], top_errors: int = 5) -> OrderSummary:
    return summarize_orders(((stream.state_at(), validation_problems(stream)) for stream in streams), top_errors)


def summarize_orders(
    orders: Iterable[tuple[OrderState, tuple[ValidationProblem, ...]]], top_errors: int = 5
) -> OrderSummary:
    """The summary of orders given as their latest state and validation problems, as a
    read model keeps them; taken in order-id order, so the same orders always give the
    same summary, whichever order they are read in."""
    counts: Counter[OrderStatus] = Counter()
    amounts: dict[OrderStatus, Decimal] = {}
    awaiting: list[AwaitingApproval] = []
    errors: Counter[ProblemCode] = Counter()
    examples: dict[ProblemCode, str] = {}
    total = 0
    for state, problems in sorted(orders, key=lambda order: order[0].order_id):
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
        errors.update({problem.code for problem in problems})
        for problem in problems:
            examples.setdefault(problem.code, problem.message)
    return OrderSummary(
        orders=total,
        by_status=tuple(
            StatusTotals(status=status, orders=counts[status], amount=amounts[status])
            for status in OrderStatus
            if counts[status]
        ),
        awaiting_approval=tuple(sorted(awaiting, key=lambda order: order.waiting_since or _NEVER)),
        top_validation_errors=tuple(
            ValidationErrorCount(code=code, orders=count, example=examples[code])
            for code, count in sorted(errors.items(), key=lambda error: (-error[1], error[0].value))[:top_errors]
        ),
    )


def validation_problems(stream: OrderStream) -> tuple[ValidationProblem, ...]:
    validated = [envelope.data for envelope in stream.envelopes if isinstance(envelope.data, OrderValidated)]
    return validated[-1].validation_result.errors if validated else ()
