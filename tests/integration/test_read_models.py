"""The read models' store over recorded histories, in SQLite and in PostgreSQL (no Temporal
server; the histories are the golden files): an event is applied once however often it
is offered, a gap is repaired from the stream, and the rows summarize as the fold."""

import dataclasses
from pathlib import Path

import pytest

from domain import OrderStream
from domain.summary import summarize
from eventstore import read_history_file
from projections import ProjectionError, ReadModels
from storage import open_database
from tests.read_models import contents

HISTORIES = Path(__file__).resolve().parents[1] / "histories"
GOLDEN = sorted(path for path in (HISTORIES / "golden").glob("*.json") if not path.name.endswith(".state.json"))
STREAMS = [read_history_file(path) for path in GOLDEN]


def first(stream: OrderStream, versions: int) -> OrderStream:
    return OrderStream(stream.order_id, stream.envelopes[:versions])


def test_the_read_models_of_every_golden_history_summarize_as_the_fold(projections_at):
    models = ReadModels(projections_at("projections"))
    for stream in STREAMS:
        models.apply(stream, closed=True)
    assert models.summary() == summarize(STREAMS)
    for stream in STREAMS:
        assert models.state_of(stream.order_id) == stream.state_at()


def test_an_event_offered_again_changes_nothing(projections_at):
    target = projections_at("projections")
    models = ReadModels(target)
    for stream in STREAMS:
        models.apply(first(stream, 2), closed=False)
        models.apply(stream, closed=True)
    once = contents(target)
    for stream in STREAMS:
        assert models.apply(stream, closed=True).events == 0
        models.apply(first(stream, 2), closed=True)  # an older, shorter read: never goes back
    assert contents(target) == once


def test_step_by_step_and_all_at_once_give_the_same_read_models(projections_at):
    stepwise_at, at_once_at = projections_at("stepwise"), projections_at("at-once")
    stepwise, at_once = ReadModels(stepwise_at), ReadModels(at_once_at)
    for stream in STREAMS:
        for version in range(1, stream.version + 1):
            stepwise.apply(first(stream, version), closed=False)
        stepwise.apply(stream, closed=True)
        at_once.apply(stream, closed=True)
    assert contents(stepwise_at) == contents(at_once_at)


def test_a_stored_state_the_stream_does_not_continue_is_folded_again_from_the_first_event(projections_at):
    target = projections_at("projections")
    models = ReadModels(target)
    stream = max(STREAMS, key=lambda stream: stream.version)
    models.apply(first(stream, 2), closed=False)
    # A checkpoint that says version 2 over a state of version 1: the next event would leave a gap.
    tampered = open_database(target)
    older_state = stream.state_at(1).model_dump_json()
    tampered.execute("UPDATE order_summaries SET state = ? WHERE order_id = ?", (older_state, stream.order_id))
    tampered.close()
    applied = models.apply(stream, closed=True)
    assert applied.repaired
    fresh_at = projections_at("fresh")
    ReadModels(fresh_at).apply(stream, closed=True)
    assert contents(target)["order_summaries"] == contents(fresh_at)["order_summaries"]


def test_a_stream_with_a_gap_of_its_own_is_refused_naming_the_order(projections_at):
    from projections import ProjectionError

    stream = max(STREAMS, key=lambda stream: stream.version)
    broken = OrderStream(stream.order_id, (stream.envelopes[0], *stream.envelopes[2:]))
    with pytest.raises(ProjectionError, match=stream.order_id):
        ReadModels(projections_at("projections")).apply(broken, closed=True)


def test_aggregates_are_exact_and_leave_no_empty_rows(projections_at):
    target = projections_at("projections")
    models = ReadModels(target)
    for stream in STREAMS:
        models.apply(stream, closed=True)
    held = contents(target)
    assert all(row[1] > 0 for row in held["customer_totals"])
    assert sum(row[1] for row in held["sales_per_day"]) == len(STREAMS)
    assert dataclasses.is_dataclass(models.checkpoint_of(STREAMS[0].order_id))


def test_read_models_never_write_into_another_programs_table_of_the_same_name(tmp_path):
    foreign = open_database(tmp_path / "shared.sqlite")
    with foreign.transaction():
        foreign.execute("CREATE TABLE order_summaries (ticket TEXT, seat TEXT)")
    with pytest.raises(ProjectionError, match="holds a table order_summaries that is not one of the read models'"):
        ReadModels(tmp_path / "shared.sqlite")
    assert foreign.tables() == {"order_summaries"}  # nothing created beside it


def test_read_models_belong_to_one_namespace_and_refuse_another_unless_started_over(projections_at):
    target = projections_at("owned")
    models = ReadModels(target)
    models.claim("nsa", "id-of-nsa")
    models.apply(STREAMS[0], closed=True)
    again = ReadModels(target)
    again.claim("nsa", "id-of-nsa")  # the same namespace: as before
    with pytest.raises(ProjectionError, match=r"are those of namespace 'nsa' .* not of 'default'"):
        again.claim("default", "id-of-default")
    with pytest.raises(ProjectionError, match="not of 'nsa'"):
        again.claim("nsa", "id-of-another-server's-nsa")  # the same name on another server is another
    ReadModels(target, rebuilding=True).swap_in("default", "id-of-default")  # a rebuild starts them over
    ReadModels(target).claim("default", "id-of-default")
