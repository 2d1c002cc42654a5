"""OrderWorkflow on the time-skipping test server, with the real activities."""

import itertools
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowHandle
from temporalio.common import RawValue
from temporalio.worker import Replayer

import views
from activities.ledger import LedgerPaymentGateway
from contract import DOMAIN_EVENT_MEMO_KEY, ORDER_STATUS, PAYMENT, EventsQuery, idempotency_key, workflow_id_for
from domain import (
    LARGE_ORDER_WARNING,
    PAYMENT_SKIPPED_REASON,
    EventEnvelope,
    OrderStatus,
    PaymentStatus,
    fold_events,
)
from eventstore import EventStore
from hosting import build_replayer
from tests.orders import ORDER_001, ORDER_002, ORDER_003, one_line_order, open_shop, renamed, wait_for_status
from tests.waiting import wait_until
from workflows.order_workflow import OrderWorkflow

FULFILLED_STREAM = ["OrderReceived", "OrderValidated", "PaymentProcessed", "InventoryReserved", "OrderFulfilled"]


async def events_of(handle: WorkflowHandle, request: EventsQuery | None = None) -> list[EventEnvelope]:
    return await handle.query(OrderWorkflow.events, request)


async def test_order_001_is_fulfilled_with_a_tracking_number(shop, unique):
    handle = await shop.start(renamed(ORDER_001, unique))
    state = await handle.result()
    assert state.status is OrderStatus.FULFILLED
    assert state.payment_status is PaymentStatus.COMPLETED
    assert state.payment_id.startswith("PAY-")
    assert state.tracking_number.startswith("TRK")
    assert state.reservations[0].product_id == "PROD-001"
    assert state.total_amount == Decimal("150.50")
    assert list(state.events_applied) == FULFILLED_STREAM
    assert state.version == 5


async def test_order_002_is_fulfilled_with_the_large_order_warning(shop, unique):
    state = await (await shop.start(renamed(ORDER_002, unique))).result()
    assert state.status is OrderStatus.FULFILLED
    assert state.warnings == (LARGE_ORDER_WARNING,)
    assert state.validation_errors == ()


async def test_order_003_fails_validation_and_skips_payment(shop, unique):
    state = await (await shop.start(renamed(ORDER_003, unique))).result()
    assert state.status is OrderStatus.VALIDATION_FAILED
    assert state.validation_errors == (
        "Order must contain at least one item",
        "Total amount mismatch: expected 0, got 100.00",
    )
    assert state.payment_id is None
    assert state.payment_skipped_reason == PAYMENT_SKIPPED_REASON
    assert list(state.events_applied) == ["OrderReceived", "OrderValidated"]


async def test_a_valid_order_with_nothing_to_charge_ends_payment_failed(shop, unique):
    # Within the 0.01 tolerance an order can be valid with a total of zero.
    free = one_line_order(f"FREE-{unique}", "SAMPLE", 1, "0.01", total="0")
    state = await (await shop.start(free)).result()
    assert state.status is OrderStatus.PAYMENT_FAILED
    assert state.payment_status is PaymentStatus.FAILED
    assert list(state.events_applied) == ["OrderReceived", "OrderValidated", "PaymentProcessed"]


@pytest.mark.parametrize("order", [ORDER_001, ORDER_002, ORDER_003], ids=lambda order: order.order_id)
async def test_every_envelope_is_complete_and_versions_run_one_to_n(shop, unique, order):
    order = renamed(order, unique)
    handle = await shop.start(order)
    await handle.result()
    envelopes = await events_of(handle)
    assert [envelope.version for envelope in envelopes] == list(range(1, len(envelopes) + 1))
    assert len({envelope.event_id for envelope in envelopes}) == len(envelopes)
    for envelope in envelopes:
        assert envelope.stream_id == order.order_id
        assert envelope.event_type == type(envelope.data).__name__
        assert envelope.schema_version == type(envelope.data).SCHEMA_VERSION
        assert envelope.correlation_id and envelope.causation_id and envelope.created_by
        assert envelope.created_at.tzinfo is not None
    assert [envelope.created_by for envelope in envelopes][:2] == ["OrderWorkflow", "validate_order"]
    assert [envelope.created_at for envelope in envelopes] == sorted(envelope.created_at for envelope in envelopes)


@pytest.mark.parametrize("order", [ORDER_001, ORDER_002, ORDER_003], ids=lambda order: order.order_id)
async def test_folding_the_events_query_gives_the_state_query(shop, unique, order):
    order = renamed(order, unique)
    handle = await shop.start(order)
    result = await handle.result()
    envelopes = await events_of(handle)
    state = await handle.query(OrderWorkflow.state)
    assert fold_events(order.order_id, envelopes) == state == result


async def test_every_event_is_written_into_the_history_as_it_is_recorded(shop, unique):
    order = renamed(ORDER_001, unique)
    handle = await shop.start(order)
    await handle.result()
    queried = await events_of(handle)
    assert (await EventStore(shop.client).read_stream(order.order_id)).envelopes == tuple(queried)
    assert DOMAIN_EVENT_MEMO_KEY not in await (await handle.describe()).memo(), "the memo holds no event"

    # Each envelope is the result of the step that established it; OrderReceived rides
    # with validation's, a local activity's marker, before the first activity is scheduled.
    events = [event async for event in handle.fetch_history_events()]
    kinds = [event.event_type for event in events]
    first_activity = kinds.index(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    assert EventType.EVENT_TYPE_MARKER_RECORDED in kinds[:first_activity]
    assert EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED not in kinds, "no memo upsert"
    # Started with its search attributes, the order tells visibility only where it ends.
    assert kinds.count(EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES) == 1
    completed = [event for event in events if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED]
    assert [
        json.loads(event.activity_task_completed_event_attributes.result.payloads[0].data)["version"]
        for event in completed
    ] == [3, 4, 5]


async def test_activities_carry_summaries_and_the_workflow_shows_its_state_as_current_details(shop, unique):
    order = renamed(ORDER_002, unique)
    handle = await shop.start(order)
    state = await handle.result()
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    converter = shop.client.data_converter.payload_converter
    summaries = [
        converter.from_payload(event.user_metadata.summary, str)
        async for event in handle.fetch_history_events()
        if event.user_metadata.HasField("summary")  # the start, activities, and the local one's marker
    ]
    assert summaries == [
        f"Order {order.order_id} for CUSTOMER-456, total 25000.00",
        "Validate 1 item(s) against the total 25000.00",
        "Screen CUSTOMER-456 for fraud before charging 25000.00",
        "Charge 25000.00 to CUSTOMER-456",
        "Reserve stock for 1 line(s)",
        "Ship 1 reservation(s)",
    ]
    assert metadata.current_details == views.web_ui_details(state), "the same view people get everywhere"
    assert metadata.current_details.startswith("**Fulfilled** at version 5")
    assert f"**tracking** {state.tracking_number}" in metadata.current_details
    assert f"**warning** {LARGE_ORDER_WARNING}" in metadata.current_details


async def test_histories_replay_with_the_code_that_recorded_them(shop, unique):
    handles = [await shop.start(renamed(order, unique)) for order in (ORDER_001, ORDER_002, ORDER_003)]
    for handle in handles:
        await handle.result()
    replayer = build_replayer()
    for handle in handles:
        result = await replayer.replay_workflow(await handle.fetch_history(), raise_on_replay_failure=False)
        assert result.replay_failure is None, f"{handle.id}: {result.replay_failure}"


@workflow.defn(name="OrderWorkflow", sandboxed=False)
class OrderWorkflowThatWaitsBeforeValidating:
    """A changed workflow: its commands differ from what OrderWorkflow recorded."""

    @workflow.run
    async def run(self, order: RawValue) -> None:
        await workflow.sleep(timedelta(seconds=1))


async def test_a_changed_workflow_fails_to_replay_a_recorded_history(shop, unique):
    handle = await shop.start(renamed(ORDER_001, unique))
    await handle.result()
    replayer = Replayer(workflows=[OrderWorkflowThatWaitsBeforeValidating], data_converter=shop.client.data_converter)
    result = await replayer.replay_workflow(await handle.fetch_history(), raise_on_replay_failure=False)
    assert result.replay_failure is not None
    assert type(result.replay_failure).__name__ == "NondeterminismError"


async def test_events_query_reads_from_a_version_and_up_to_a_limit(shop, unique):
    handle = await shop.start(renamed(ORDER_001, unique))
    await handle.result()
    everything = await events_of(handle)
    assert await events_of(handle, EventsQuery(from_version=3)) == everything[2:]
    assert await events_of(handle, EventsQuery(from_version=2, limit=2)) == everything[1:3]
    assert await events_of(handle, EventsQuery(from_version=9)) == []
    assert await events_of(handle, EventsQuery(limit=0)) == []


async def test_all_events_share_the_correlation_id_and_each_is_caused_by_the_one_before(shop, unique):
    handle = await shop.start(renamed(ORDER_001, unique))
    await handle.result()
    envelopes = await events_of(handle)
    run_id = (await handle.describe()).run_id
    assert {envelope.correlation_id for envelope in envelopes} == {run_id}
    assert envelopes[0].causation_id == run_id, "the start command caused OrderReceived"
    for before, after in itertools.pairwise(envelopes):
        assert after.causation_id == str(before.event_id)


async def test_a_callers_correlation_id_is_carried_by_every_event(shop, unique):
    order = renamed(ORDER_001, unique, correlation_id="checkout-session-42")
    handle = await shop.start(order)
    await handle.result()
    envelopes = await events_of(handle)
    assert {envelope.correlation_id for envelope in envelopes} == {"checkout-session-42"}


async def test_a_pending_payment_waits_for_days_and_still_answers_queries(shop, time_skipping_env, unique):
    large = one_line_order(f"LARGE-{unique}", "PROD-009", 2, "30000.00", approval_timeout=timedelta(days=7))
    handle = await shop.start(large)
    await wait_for_status(handle, OrderStatus.PAYMENT_PENDING)

    async def timer_started() -> int | None:
        # The task that recorded PaymentProcessed ends by starting the approval timer.
        kinds = [event.event_type async for event in handle.fetch_history_events()]
        return len(kinds) if kinds[-1] == EventType.EVENT_TYPE_TIMER_STARTED else None

    waiting_since = await wait_until(timer_started, what="the approval timer to start")
    await time_skipping_env.sleep(timedelta(days=3))
    state = await handle.query(OrderWorkflow.state)
    description = await handle.describe()
    history_length = len([event async for event in handle.fetch_history_events()])
    assert state.status is OrderStatus.PAYMENT_PENDING
    assert state.payment_status is PaymentStatus.PENDING
    assert description.status.name == "RUNNING"
    assert description.typed_search_attributes.get(ORDER_STATUS) == OrderStatus.PAYMENT_PENDING.value
    assert history_length == waiting_since, "waiting must not spin: three days, no new history event"
    await handle.terminate("test over")


class GatewayThatTimesOutTwice(LedgerPaymentGateway):
    def __init__(self, db) -> None:
        super().__init__(db)
        self.keys_presented: list[str] = []

    async def charge(self, idempotency_key, customer_id, amount):
        self.keys_presented.append(idempotency_key)
        if len(self.keys_presented) <= 2:
            raise ConnectionError("payment gateway timed out")
        return await super().charge(idempotency_key, customer_id, amount)


async def test_a_transient_payment_failure_is_retried_and_invisible_in_the_stream(
    time_skipping_env, task_queue, unique, ledger
):
    gateway = GatewayThatTimesOutTwice(ledger.db)
    order = renamed(ORDER_001, unique)
    async with open_shop(time_skipping_env, task_queue, ledger, ledger.activities(payments=gateway)) as shop:
        state = await shop.place(order)
    assert state.status is OrderStatus.FULFILLED
    assert list(state.events_applied) == FULFILLED_STREAM
    assert gateway.keys_presented == [idempotency_key(workflow_id_for(order.order_id), PAYMENT)] * 3
    assert ledger.charges(order.order_id) == [("Completed", "150.50")]
