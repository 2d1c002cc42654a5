"""What an order's events do to each read model, decided without a database
(projections.policy): the golden histories' contributions, a stale read, a repaired gap."""

from decimal import Decimal
from pathlib import Path

import pytest

from domain import OrderStream
from eventstore import read_history_file
from projections import policy
from projections.policy import Contribution, NeedsWholeStream, ProjectionError, StoredOrder

GOLDEN = Path(__file__).resolve().parents[1] / "histories" / "golden"
FULFILLED = read_history_file(GOLDEN / "fulfilled.json")
INVALID = read_history_file(GOLDEN / "invalid.json")


def stored(stream: OrderStream, version: int, *, closed: bool = False) -> StoredOrder:
    partial = OrderStream(stream.order_id, stream.envelopes[:version])
    return StoredOrder(
        version=version,
        closed=closed,
        state=partial.state_at(),
        problems=policy.problems_of(partial, None),
        received_at=policy.received_at_of(partial, None),
    )


def test_a_fulfilled_order_adds_to_its_customer_its_day_and_no_error_code():
    state = FULFILLED.state_at()
    part = Contribution.of(state, policy.problems_of(FULFILLED, None), policy.received_at_of(FULFILLED, None))
    deltas = {delta.table: delta for delta in part.deltas(+1)}
    assert set(deltas) == {"customer_totals", "sales_per_day"}
    assert deltas["customer_totals"].value == state.customer_id
    assert deltas["customer_totals"].changes["fulfilled_amount"] == state.total_amount
    assert deltas["sales_per_day"].changes == {"orders": 1, "revenue": state.total_amount, "refunds": Decimal(0)}
    # Taking it out again is the exact opposite.
    assert [delta.changes for delta in part.deltas(-1)] == [
        {name: -value for name, value in delta.changes.items()} for delta in part.deltas(+1)
    ]


def test_an_invalid_order_counts_each_of_its_error_codes_once():
    part = Contribution.of(INVALID.state_at(), policy.problems_of(INVALID, None), None)
    codes = [delta.value for delta in part.deltas(+1) if delta.table == "validation_errors_by_code"]
    assert codes and len(codes) == len(set(codes))


def test_a_read_older_than_what_is_stored_is_no_news_and_a_close_is():
    at_three = stored(FULFILLED, 3)
    assert not policy.is_news(at_three, 2, closed=False)
    assert not policy.is_news(at_three, 3, closed=False)
    assert policy.is_news(at_three, 3, closed=True)
    assert not policy.is_news(stored(FULFILLED, 3, closed=True), 3, closed=True)
    assert policy.is_news(None, 1, closed=False)


def test_the_whole_stream_folds_on_from_what_is_stored_and_repairs_a_state_it_does_not_continue():
    assert policy.fold_whole(stored(FULFILLED, 2), FULFILLED) == policy.Folded(FULFILLED.state_at(), repaired=False)
    foreign = stored(INVALID, 2)  # another order's state: the stream does not continue it
    assert policy.fold_whole(foreign, FULFILLED) == policy.Folded(FULFILLED.state_at(), repaired=True)
    gap = OrderStream(FULFILLED.order_id, (FULFILLED.envelopes[0], *FULFILLED.envelopes[2:]))
    with pytest.raises(ProjectionError, match=FULFILLED.order_id):
        policy.fold_whole(None, gap)


def test_the_latest_events_alone_continue_only_the_version_before_them():
    latest = OrderStream(FULFILLED.order_id, FULFILLED.envelopes[-1:])
    assert policy.fold_latest(stored(FULFILLED, FULFILLED.version - 1), latest).state == FULFILLED.state_at()
    with pytest.raises(NeedsWholeStream):
        policy.fold_latest(stored(FULFILLED, 1), latest)
    with pytest.raises(NeedsWholeStream):
        policy.fold_latest(None, latest)


def test_amounts_are_spelled_one_way_and_added_exactly():
    assert policy.amount(Decimal("10.00")) == policy.amount(Decimal("10.0")) == "10"
    assert policy.changed({"orders": 1, "revenue": Decimal("0.10")}, {"orders": 2, "revenue": "0.20"}) == {
        "orders": 3,
        "revenue": "0.3",
    }
