"""What an order's events do to each read model: pure, testable without a database.

The store (projections.store) reads what it holds of the order, asks `answer` once, and
writes the answer (the order's row and what the change adds to and takes from each
aggregate) with the order's checkpoint, in one transaction. Nothing here reads or writes
a database.

- `order_summaries`: one row per order, its latest state and the version folded to.
- the aggregates (`customer_totals`, `sales_per_day`, `validation_errors_by_code`): each
  order contributes to them; a change takes its old contribution out and puts its new one
  in, with exact decimal arithmetic.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from contract import as_text
from domain import (
    EventStreamError,
    OrderSnapshot,
    OrderState,
    OrderStatus,
    OrderStream,
    ValidationProblem,
    apply_event,
    validation_problems,
)


class ProjectionError(RuntimeError):
    """A stream that cannot be applied even from its first event."""


@dataclass(frozen=True)
class RunMark:
    """Which run of an order its events were read from, and when that run was made: a
    reset makes a later run whose events replace the earlier one's from the reset point."""

    run_id: str
    began_at: datetime


@dataclass(frozen=True)
class OrderRow:
    """An order's row as the read models hold it."""

    version: int
    closed: bool
    state: OrderState
    problems: tuple[ValidationProblem, ...]
    received_at: str | None
    run: RunMark | None = None  # None in rows applied before runs were kept


@dataclass(frozen=True)
class _Folded:
    """The order's state after the events offered, and whether the stored state had to be
    set aside (the stream did not continue it) and the stream folded from its first event."""

    state: OrderState
    repaired: bool


@dataclass(frozen=True)
class Answer:
    """Everything one change does to the read models: the order's row, and what it takes
    out of and puts into each aggregate, in order; the events it applies, and whether the
    stored state was set aside and the stream folded from its first event. An answer with
    no row changes nothing (the change was not news)."""

    row: dict[str, object] | None = None
    deltas: tuple["Delta", ...] = ()
    events: int = 0
    repaired: bool = False


def answer(
    stored: OrderRow | None, latest: OrderStream | OrderSnapshot, closed: bool, run: RunMark | None = None
) -> Answer:
    """What `latest` (the order's stream read whole from `run`, or its snapshot: a closed
    order's as archived) does to the read models that hold `stored` of the order, `closed`
    or not: the store writes it as it is."""
    if isinstance(latest, OrderSnapshot):
        return _answer_snapshot(stored, latest, closed, run)
    if not _is_news(stored, latest.version, closed, run):
        return Answer()
    folded = _fold_whole(stored, latest, run)
    problems = _problems_of(latest, stored, run)
    received_at = _received_at_of(latest, stored, run)
    before = 0 if folded.repaired or stored is None else stored.version
    return _answered(
        stored, folded.state, closed, problems, received_at, run, folded.state.version - before, folded.repaired
    )


def _answer_snapshot(stored: OrderRow | None, snapshot: OrderSnapshot, closed: bool, run: RunMark | None) -> Answer:
    """As `answer`, from a snapshot: the state, the problems and when the order was
    received are its own, nothing folded; every event after what is stored of the same
    run counts as applied."""
    if not _is_news(stored, snapshot.last_event_version, closed, run):
        return Answer()
    received_at = snapshot.received_at.isoformat() if snapshot.received_at else None
    before = stored.version if stored is not None and not _is_another_run(stored, run) else 0
    events = snapshot.last_event_version - min(before, snapshot.last_event_version)
    return _answered(stored, snapshot.state, closed, snapshot.problems, received_at, run, events, repaired=False)


def _answered(
    stored: OrderRow | None,
    state: OrderState,
    closed: bool,
    problems: tuple[ValidationProblem, ...],
    received_at: str | None,
    run: RunMark | None,
    events: int,
    repaired: bool,
) -> Answer:
    """The row of `state` and the deltas: the stored order's contribution out, the new one in."""
    taken_out = _Contribution.of(stored.state, stored.problems, stored.received_at).deltas(-1) if stored else ()
    put_in = _Contribution.of(state, problems, received_at).deltas(+1)
    row = _summary_row(state, closed, problems, received_at, run or (stored.run if stored else None))
    return Answer(row, (*taken_out, *put_in), events, repaired)


def _is_another_run(stored: OrderRow | None, run: RunMark | None) -> bool:
    """Whether `run` is not the run the stored row was folded from (as far as both say)."""
    return stored is not None and stored.run is not None and run is not None and run.run_id != stored.run.run_id


def _is_news(stored: OrderRow | None, version: int, closed: bool, run: RunMark | None = None) -> bool:
    """Whether a stream at `version` (`closed` or not) of `run` changes what is stored. A
    later run (a reset since) replaces the stored one whatever its version; an earlier run
    (read before the reset, by a slow reader) never does. In one run, a read older than what
    is applied (two projectors, a slow read) never takes an order back; a closed order stays closed."""
    if stored is None:
        return True
    if _is_another_run(stored, run):
        assert stored.run is not None and run is not None
        return run.began_at > stored.run.began_at
    return version > stored.version or (version == stored.version and closed and not stored.closed)


def _fold_whole(stored: OrderRow | None, stream: OrderStream, run: RunMark | None = None) -> _Folded:
    """The stream's latest state, folded on from the stored one. A stored state the stream
    does not continue (a gap in versions), or folded from another run, is never built on:
    the stream is folded from its first event instead."""
    if _is_another_run(stored, run):
        return _refolded(stream)
    start = stored.state if stored else OrderState(order_id=stream.order_id)
    try:
        return _Folded(_fold(start, stream, after=stored.version if stored else 0), repaired=False)
    except EventStreamError:
        return _refolded(stream)


def _refolded(stream: OrderStream) -> _Folded:
    try:
        return _Folded(_fold(OrderState(order_id=stream.order_id), stream, after=0), repaired=True)
    except EventStreamError as err:
        raise ProjectionError(f"order {stream.order_id}: its stream cannot be folded: {err}") from None


def _fold(state: OrderState, stream: OrderStream, after: int) -> OrderState:
    """Fold `stream`'s events after version `after` onto `state`."""
    for envelope in stream.envelopes[after:]:
        state = apply_event(state, envelope)  # raises on a gap in versions
    return state


def _problems_of(
    stream: OrderStream, stored: OrderRow | None, run: RunMark | None = None
) -> tuple[ValidationProblem, ...]:
    """The order's validation problems: from its OrderValidated if `stream` holds it, else as stored."""
    if (
        stored is None
        or _is_another_run(stored, run)
        or any(envelope.event_type == "OrderValidated" for envelope in stream.envelopes)
    ):
        return validation_problems(stream)
    return stored.problems


def _received_at_of(stream: OrderStream, stored: OrderRow | None, run: RunMark | None = None) -> str | None:
    if stream.envelopes and stream.envelopes[0].version == 1:
        return stream.envelopes[0].created_at.isoformat()
    return stored.received_at if stored and not _is_another_run(stored, run) else None


def _summary_row(
    state: OrderState,
    closed: bool,
    problems: tuple[ValidationProblem, ...],
    received_at: str | None,
    run: RunMark | None = None,
) -> dict[str, object]:
    """The order's row of `order_summaries`, column by column."""
    return {
        "run_id": run.run_id if run else None,
        "run_began_at": as_text(run.began_at) if run else None,
        "order_id": state.order_id,
        "version": state.version,
        "closed": int(closed),
        "status": _text(state.status),
        "customer_id": state.customer_id,
        "total_amount": _text(state.total_amount),
        "payment_id": state.payment_id,
        "payment_status": _text(state.payment_status),
        "tracking_number": state.tracking_number,
        "refund_amount": _text(state.refund_amount),
        "received_at": received_at,
        "updated_at": _text(state.updated_at),
        "state": state.model_dump_json(),
        "problems": json.dumps([problem.model_dump(mode="json") for problem in problems]),
        "applied_at": datetime.now(UTC).isoformat(),
    }


@dataclass(frozen=True)
class Delta:
    """Add `changes` to the row `key = value` of `table` (a row of no orders goes)."""

    table: str
    key: str
    value: str
    changes: dict[str, int | Decimal]


@dataclass(frozen=True)
class _Contribution:
    """What one order adds to the aggregates."""

    customer_id: str | None
    day: str | None
    total: Decimal
    fulfilled: bool
    refunded: Decimal
    codes: frozenset[str]

    @staticmethod
    def of(state: OrderState, problems: tuple[ValidationProblem, ...], received_at: str | None) -> "_Contribution":
        return _Contribution(
            customer_id=state.customer_id,
            day=received_at[:10] if received_at else None,
            total=state.total_amount or Decimal(0),
            fulfilled=state.status is OrderStatus.FULFILLED,
            refunded=state.refund_amount or Decimal(0),
            codes=frozenset(problem.code.value for problem in problems),
        )

    def deltas(self, sign: int) -> Iterator[Delta]:
        """What this contribution adds (`sign` +1) or takes out (-1), table by table."""
        fulfilled = self.total if self.fulfilled else Decimal(0)
        if self.customer_id is not None:
            yield Delta(
                "customer_totals", "customer_id", self.customer_id,
                {"orders": sign, "ordered_amount": sign * self.total, "fulfilled_amount": sign * fulfilled,
                 "refunded_amount": sign * self.refunded},
            )  # fmt: skip
        if self.day is not None:
            yield Delta(
                "sales_per_day", "day", self.day,
                {"orders": sign, "revenue": sign * fulfilled, "refunds": sign * self.refunded},
            )  # fmt: skip
        for code in sorted(self.codes):
            yield Delta("validation_errors_by_code", "code", code, {"orders": sign})


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(getattr(value, "value", value))
