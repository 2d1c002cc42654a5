"""The history read as an event store, against what the workflow itself answers."""

import pytest

from contract import EventsQuery, StateAtQuery
from domain import VersionNotFound, fold_events
from eventstore import EventStore, StreamNotFound, load_history_file, read_history_file
from hosting import build_worker
from tests.orders import ORDER_001, ORDER_002, ORDER_003, Shop, open_shop, renamed
from tests.replay.memo_carrier_build import MemoCarrierOrderWorkflow
from workflows.order_workflow import OrderWorkflow

TUTORIAL = [ORDER_001, ORDER_002, ORDER_003]


async def run_to_the_end(env, task_queue, ledger, order):
    """Run `order` with a worker; return the workflow's own events and state_at answers, then stop the worker."""
    async with open_shop(env, task_queue, ledger) as shop:
        handle = await shop.start(order)
        await handle.result()
        queried = await handle.query(OrderWorkflow.events, EventsQuery())
        states = [await handle.query(OrderWorkflow.state_at, StateAtQuery(version=n)) for n in range(len(queried) + 1)]
    return handle, queried, states


@pytest.mark.parametrize("order", TUTORIAL, ids=lambda order: order.order_id)
async def test_the_history_holds_the_stream_the_workflow_answers_version_by_version(
    time_skipping_env, task_queue, ledger, unique, order
):
    order = renamed(order, unique)
    _, queried, queried_states = await run_to_the_end(time_skipping_env, task_queue, ledger, order)

    # The worker has stopped and the order has closed: the history alone answers.
    stream = await EventStore(time_skipping_env.client).read_stream(order.order_id)
    assert stream.read() == queried
    assert stream.version == len(queried)
    for version in range(len(queried) + 1):
        assert (
            stream.state_at(version=version)
            == fold_events(order.order_id, queried[:version])
            == queried_states[version]
        )
        assert stream.read(from_version=version + 1) == queried[version:]


async def test_a_history_read_in_small_pages_gives_the_same_stream(time_skipping_env, task_queue, ledger, unique):
    order = renamed(ORDER_001, unique)
    _, queried, _ = await run_to_the_end(time_skipping_env, task_queue, ledger, order)
    for page_size in (1, 2, 3):
        stream = await EventStore(time_skipping_env.client, page_size=page_size).read_stream(order.order_id)
        assert stream.read() == queried


async def test_time_travel_by_time_matches_time_travel_by_version(time_skipping_env, task_queue, ledger, unique):
    order = renamed(ORDER_001, unique)
    _, queried, _ = await run_to_the_end(time_skipping_env, task_queue, ledger, order)
    stream = await EventStore(time_skipping_env.client).read_stream(order.order_id)
    for envelope in queried:
        assert stream.state_at(at=envelope.created_at) == stream.state_at(version=envelope.version)


async def test_a_history_file_reads_as_the_same_stream_as_the_server(
    time_skipping_env, task_queue, ledger, unique, tmp_path
):
    order = renamed(ORDER_002, unique)
    handle, queried, queried_states = await run_to_the_end(time_skipping_env, task_queue, ledger, order)
    exported = tmp_path / "history.json"
    exported.write_text((await handle.fetch_history()).to_json())

    from_file = read_history_file(exported)

    assert from_file == await EventStore(time_skipping_env.client).read_stream(order.order_id)
    assert from_file.order_id == order.order_id
    assert load_history_file(exported).workflow_id == handle.id
    assert from_file.read(from_version=2, limit=2) == queried[1:3]
    assert [from_file.state_at(version=n) for n in range(len(queried) + 1)] == queried_states


async def test_an_unknown_order_is_reported_as_not_found(time_skipping_env):
    with pytest.raises(StreamNotFound, match="no order 'NO-SUCH-ORDER'"):
        await EventStore(time_skipping_env.client).read_stream("NO-SUCH-ORDER")


async def test_a_version_past_the_end_is_reported(time_skipping_env, task_queue, ledger, unique):
    order = renamed(ORDER_003, unique)
    await run_to_the_end(time_skipping_env, task_queue, ledger, order)
    stream = await EventStore(time_skipping_env.client).read_stream(order.order_id)
    with pytest.raises(VersionNotFound, match="has versions 1 to 2; there is no version 3"):
        stream.state_at(version=3)


@pytest.mark.parametrize("order", TUTORIAL, ids=lambda order: order.order_id)
async def test_an_order_of_the_build_before_reads_back_as_that_build_answered(
    time_skipping_env, task_queue, ledger, unique, order
):
    """The build that upserted every event into the memo still serves its own orders
    under Worker Versioning; the event store reads those histories as well as today's."""
    order = renamed(order, unique)
    worker = build_worker(
        time_skipping_env.client, task_queue, activities=ledger.activities(), workflows=[MemoCarrierOrderWorkflow]
    )
    async with worker:
        handle = await Shop(time_skipping_env.client, task_queue, ledger).start(order)
        await handle.result()
        queried = await handle.query(MemoCarrierOrderWorkflow.events, EventsQuery())
    events = [event async for event in handle.fetch_history_events()]
    assert any(event.HasField("workflow_properties_modified_event_attributes") for event in events)
    stream = await EventStore(time_skipping_env.client).read_stream(order.order_id)
    assert stream.read() == queried
    assert stream.state_at() == fold_events(order.order_id, queried)
