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
    return summarize_orders(((stream.state_at(), validation_problems(stream), True) for stream in streams), top_errors)


def summarize_orders(
    orders: Iterable[tuple[OrderState, tuple[ValidationProblem, ...], bool]], top_errors: int = 5
) -> OrderSummary:
    """The summary of orders given as their latest state, validation problems and whether
    each still runs, as a read model keeps them."""
    folding = SummaryFold(top_errors)
    for state, problems, running in orders:
        folding.add(state, problems, running=running)
    return folding.summary()


class SummaryFold:
    """The summary folded one order at a time, holding totals rather than orders (those
    waiting for approval aside: the summary lists them). The same orders give the same
    summary in whatever order they come: each code's example is the message of the
    smallest order id that has it, and orders waiting with the same `waiting_since` are
    listed by id."""

    def __init__(self, top_errors: int = 5) -> None:
        self._top_errors = top_errors
        self._counts: Counter[OrderStatus] = Counter()
        self._amounts: dict[OrderStatus, Decimal] = {}
        self._awaiting: list[AwaitingApproval] = []
        self._errors: Counter[ProblemCode] = Counter()
        self._examples: dict[ProblemCode, tuple[str, str]] = {}  # code: (order id, message)

    def add(self, state: OrderState, problems: tuple[ValidationProblem, ...], *, running: bool = True) -> None:
        """Count the order in. One no longer `running` (terminated while it waited, say)
        is counted at the status it rests in, and never listed as waiting for approval:
        nobody can approve it any more."""
        if state.status is None:
            return
        self._counts[state.status] += 1
        self._amounts[state.status] = self._amounts.get(state.status, Decimal(0)) + (state.total_amount or Decimal(0))
        if state.status is OrderStatus.PAYMENT_PENDING and running:
            self._awaiting.append(
                AwaitingApproval(
                    order_id=state.order_id,
                    customer_id=state.customer_id,
                    amount=state.total_amount,
                    payment_id=state.payment_id,
                    waiting_since=state.updated_at,
                )
            )
        self._errors.update({problem.code for problem in problems})
        for problem in problems:
            example = self._examples.get(problem.code)
            # Strictly smaller: of one order's problems of a code, the first is the example.
            if example is None or state.order_id < example[0]:
                self._examples[problem.code] = (state.order_id, problem.message)

    def summary(self) -> OrderSummary:
        return OrderSummary(
            orders=sum(self._counts.values()),
            by_status=tuple(
                StatusTotals(status=status, orders=self._counts[status], amount=self._amounts[status])
                for status in OrderStatus
                if self._counts[status]
            ),
            awaiting_approval=tuple(
                sorted(self._awaiting, key=lambda order: (order.waiting_since or _NEVER, order.order_id))
            ),
            top_validation_errors=tuple(
                ValidationErrorCount(code=code, orders=count, example=self._examples[code][1])
                for code, count in sorted(self._errors.items(), key=lambda error: (-error[1], error[0].value))[
                    : self._top_errors
                ]
            ),
        )


def validation_problems(stream: OrderStream) -> tuple[ValidationProblem, ...]:
    validated = [envelope.data for envelope in stream.envelopes if isinstance(envelope.data, OrderValidated)]
    return validated[-1].validation_result.errors if validated else ()
