"""What a run of orders came to: a typed summary (counts and amounts by outcome, why
orders did not ship, which failed, which wait for a person), each order's outcome for
machines, and the text people read."""

from collections import Counter
from collections.abc import Sequence
from decimal import Decimal

from pydantic import BaseModel

import views
from client.following import Outcome
from domain import OrderState

# Up to this many orders, each one's detail is printed; above, the summary alone.
DETAIL_UP_TO = 20
_LISTED_UP_TO = 20
_REASONS_UP_TO = 5


class OutcomeCount(BaseModel):
    orders: int
    amount: Decimal


class FailedOrder(BaseModel):
    order_id: str
    failure: str | None


class OrderOutcome(BaseModel):
    order_id: str
    outcome: str
    already_existed: bool
    known_from: str | None
    failure: str | None
    state: OrderState | None


class RunSummary(BaseModel):
    orders: int
    seconds: float
    per_second: float | None
    already_existed: int
    by_outcome: dict[str, OutcomeCount]
    not_shipped_because: dict[str, int]
    failed: list[FailedOrder]
    waiting_for_approval: list[str]


class RunReport(RunSummary):
    """The summary and each order's outcome: what `starter.py --json` prints."""

    outcomes: list[OrderOutcome]


def summarize(outcomes: Sequence[Outcome], elapsed: float) -> RunSummary:
    counts: Counter[str] = Counter()
    amounts: dict[str, Decimal] = {}
    for outcome in outcomes:
        counts[outcome.kind] += 1
        amounts[outcome.kind] = amounts.get(outcome.kind, Decimal(0)) + outcome.order.total_amount
    return RunSummary(
        orders=len(outcomes),
        seconds=round(elapsed, 1),
        per_second=round(len(outcomes) / elapsed, 1) if elapsed else None,
        already_existed=sum(outcome.already_existed for outcome in outcomes),
        by_outcome={kind: OutcomeCount(orders=counts[kind], amount=amounts[kind]) for kind in sorted(counts)},
        not_shipped_because=dict(Counter(o.reason for o in outcomes if o.reason).most_common()),
        failed=[FailedOrder(order_id=o.order.order_id, failure=o.failure) for o in outcomes if o.failure],
        waiting_for_approval=[o.order.order_id for o in outcomes if o.waiting_for_approval],
    )


def report(summary: RunSummary, outcomes: Sequence[Outcome]) -> RunReport:
    return RunReport(
        **dict(summary),
        outcomes=[
            OrderOutcome(
                order_id=o.order.order_id,
                outcome=o.kind,
                already_existed=o.already_existed,
                known_from=o.known_from,
                failure=o.failure,
                state=o.state,
            )
            for o in outcomes
        ],
    )


def render_summary(summary: RunSummary) -> str:
    lines = [
        f"{summary.orders} order(s) in {summary.seconds} s ({summary.per_second} a second);"
        f" {summary.already_existed} already existed and were reported, not processed again",
        "",
        views.table(
            ("OUTCOME", "ORDERS", "AMOUNT"),
            [(kind, row.orders, str(row.amount)) for kind, row in summary.by_outcome.items()],
        ),
    ]
    reasons = list(summary.not_shipped_because.items())
    if reasons:
        lines += ["", "Why orders did not ship:"]
        lines += [f"  {count:>6}  {reason}" for reason, count in reasons[:_REASONS_UP_TO]]
        if len(reasons) > _REASONS_UP_TO:
            lines.append(f"  … and {len(reasons) - _REASONS_UP_TO} other reasons")
    if summary.failed:
        lines += ["", "Failed:"]
        lines += _listed([f"{row.order_id}: {row.failure}" for row in summary.failed])
        lines.append("  see how each ended: orders events ORDER_ID")
    if summary.waiting_for_approval:
        lines += ["", "Waiting for approval:"]
        lines += _listed(summary.waiting_for_approval)
        lines.append("  decide with: orders approve ORDER_ID --approver NAME  (or orders reject / orders cancel)")
        lines.append("  list them:   orders report --query \"OrderStatus='PaymentPending'\"")
    lines += ["", "Look next: orders report (every order), orders events ORDER_ID (one order's story)"]
    return "\n".join(lines)


def _listed(rows: Sequence[str]) -> list[str]:
    more = [f"  … and {len(rows) - _LISTED_UP_TO} more"] if len(rows) > _LISTED_UP_TO else []
    return [f"  {row}" for row in rows[:_LISTED_UP_TO]] + more


def detail(outcome: Outcome, link: str | None) -> str:
    """One order's outcome as people read it, with a link to it in the Web UI."""
    state = outcome.state or OrderState(order_id=outcome.order.order_id)
    text = views.order_report(state, outcome.headline(), link=link)
    if outcome.failure:
        headline, _, facts = text.partition("\n")
        text = "\n".join(filter(None, [headline, f"  failure     {outcome.failure}", facts]))
    return text
