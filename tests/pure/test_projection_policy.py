"""What an order's events do to each read model, decided without a database
(projections.policy): one answer a change, the row and what it adds to and takes from each
aggregate; a stale read, a close, a repaired gap. And the store asks once a change."""

import ast
from decimal import Decimal
from pathlib import Path

import pytest

import projections.store
from domain import OrderStream
from eventstore import read_history_file
from projections import ProjectionError, ReadModels
from projections.policy import Answer, OrderRow, answer
from projections.store import amount

GOLDEN = Path(__file__).resolve().parents[1] / "histories" / "golden"
FULFILLED = read_history_file(GOLDEN / "fulfilled.json")
INVALID = read_history_file(GOLDEN / "invalid.json")
STORE = Path(projections.store.__file__)


def upto(stream: OrderStream, version: int) -> OrderStream:
    return OrderStream(stream.order_id, stream.envelopes[:version])


def row_at(stream: OrderStream, version: int, *, closed: bool = False) -> OrderRow:
    """The order as the read models hold it once `version` of `stream` is applied."""
    said = answer(None, upto(stream, version), closed)
    assert said.row is not None
    partial = upto(stream, version)
    return OrderRow(
        version=version,
        closed=closed,
        state=partial.state_at(),
        problems=(),
        received_at=str(said.row["received_at"]),
    )


def by_table(said: Answer, sign: int) -> dict[str, dict[str, int | Decimal]]:
    """The deltas of `said` that add (`sign` +1) or take out (-1), by table."""
    return {delta.table: delta.changes for delta in said.deltas if (delta.changes["orders"] > 0) == (sign > 0)}


def test_a_fulfilled_order_is_one_answer_its_row_and_what_it_adds_to_its_customer_and_its_day():
    said = answer(None, FULFILLED, closed=True)
    state = FULFILLED.state_at()
    assert said.row is not None and said.row["version"] == FULFILLED.version and said.row["closed"] == 1
    assert (said.events, said.repaired) == (FULFILLED.version, False)
    added = by_table(said, +1)
    assert set(added) == {"customer_totals", "sales_per_day"} and by_table(said, -1) == {}
    assert added["customer_totals"]["fulfilled_amount"] == state.total_amount
    assert added["sales_per_day"] == {"orders": 1, "revenue": state.total_amount, "refunds": Decimal(0)}


def test_an_invalid_order_counts_each_of_its_error_codes_once():
    said = answer(None, INVALID, closed=True)
    codes = [delta.value for delta in said.deltas if delta.table == "validation_errors_by_code"]
    assert codes and len(codes) == len(set(codes))


def test_a_change_takes_the_orders_old_contribution_out_before_it_puts_the_new_one_in():
    said = answer(row_at(FULFILLED, 2), FULFILLED, closed=True)
    signs = [next(iter(delta.changes.values())) for delta in said.deltas if delta.table == "customer_totals"]
    assert signs == [-1, 1]
    assert said.events == FULFILLED.version - 2
    taken, put = by_table(said, -1)["sales_per_day"], by_table(said, +1)["sales_per_day"]
    assert taken["revenue"] == 0 and put["revenue"] == FULFILLED.state_at().total_amount


def test_a_read_older_than_what_is_stored_is_no_news_and_a_close_is():
    at_three = row_at(FULFILLED, 3)
    assert answer(at_three, upto(FULFILLED, 2), closed=False) == Answer()
    assert answer(at_three, upto(FULFILLED, 3), closed=False) == Answer()
    closing = answer(at_three, upto(FULFILLED, 3), closed=True)
    assert closing.row is not None and closing.events == 0
    assert answer(row_at(FULFILLED, 3, closed=True), upto(FULFILLED, 3), closed=True) == Answer()


def test_a_stored_state_the_stream_does_not_continue_is_set_aside_and_a_stream_with_a_gap_is_refused():
    foreign = row_at(INVALID, 2)  # another order's state: the stream does not continue it
    repaired = answer(foreign, FULFILLED, closed=True)
    assert (repaired.events, repaired.repaired) == (FULFILLED.version, True)
    gap = OrderStream(FULFILLED.order_id, (FULFILLED.envelopes[0], *FULFILLED.envelopes[2:]))
    with pytest.raises(ProjectionError, match=FULFILLED.order_id):
        answer(None, gap, closed=False)


def test_amounts_are_spelled_one_way():
    assert amount(Decimal("10.00")) == amount(Decimal("10.0")) == "10"


def test_the_store_asks_the_policy_once_a_change_and_nothing_else(tmp_path, monkeypatch):
    asked: list[str] = []
    real = projections.store.answer

    def counted(*args, **kwargs):
        asked.append(args[1].order_id)
        return real(*args, **kwargs)

    monkeypatch.setattr(projections.store, "answer", counted)
    models = ReadModels(tmp_path / "read-models.sqlite")
    try:
        for version in range(1, FULFILLED.version + 1):
            models.apply(upto(FULFILLED, version), closed=False)
        models.apply(FULFILLED, closed=True)
        models.apply(FULFILLED, closed=True)  # no news: still one answer
    finally:
        models.close()
    assert asked == [FULFILLED.order_id] * (FULFILLED.version + 2)
    # What the store takes from the policy: the one question and the types of its answer.
    taken = {
        alias.name
        for node in ast.walk(ast.parse(STORE.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module == "projections.policy"
        for alias in node.names
    }
    assert taken <= {"answer", "Delta", "ProjectionError", "RunMark", "OrderRow"}
    assert "policy." not in STORE.read_text()
