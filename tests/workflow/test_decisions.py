"""Approvals, rejections, cancellations and compensation on the time-skipping server,
with the real activities over a SQLite ledger of each test's own.

Every test leaves its order closed (finished or terminated) before its worker stops
(see the `shop` fixture)."""

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from activities.ledger import LedgerFraudScreen, LedgerPaymentGateway
from contract import DECISION_REFUSED, MALFORMED_INPUT, EventsQuery
from domain import OrderState, OrderStatus, PaymentStatus
from domain.decisions import ApprovePayment, CancelOrder, RejectPayment
from tests.orders import large_order, one_line_order, open_shop, wait_for_status
from workflows.order_workflow import OrderWorkflow

APPROVED_STREAM = [
    "OrderReceived",
    "OrderValidated",
    "PaymentProcessed",
    "PaymentProcessed",
    "InventoryReserved",
    "OrderFulfilled",
]


async def history_length(handle: WorkflowHandle) -> int:
    return len([event async for event in handle.fetch_history_events()])


async def events_after(handle: WorkflowHandle, count: int) -> list[str]:
    """The kinds of history event added after the first `count`.

    A refused update leaves nothing on a real server. The time-skipping test server
    keeps the workflow task that ran the validator (a real server drops it): those
    three events are allowed here, anything else is not. The dev-server tests check
    for nothing at all."""
    kinds = [EventType.Name(event.event_type) async for event in handle.fetch_history_events()][count:]
    return [kind for kind in kinds if not kind.startswith("EVENT_TYPE_WORKFLOW_TASK_")]


async def refused(update) -> ApplicationError:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await update
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == DECISION_REFUSED
    return cause


async def test_an_approved_payment_is_captured_and_the_order_fulfilled(shop, unique, ledger):
    order = large_order(f"LARGE-{unique}")
    handle = await shop.start(order)
    await wait_for_status(handle, OrderStatus.PAYMENT_PENDING)
    approved = await handle.execute_update(
        OrderWorkflow.approve_payment, ApprovePayment(approver="ops-lead", comment="known customer"), id="approval-1"
    )
    final = await handle.result()
    envelopes = await handle.query(OrderWorkflow.events, EventsQuery())

    assert approved.status is OrderStatus.PAYMENT_COMPLETED and approved.version == 4
    assert final.status is OrderStatus.FULFILLED
    assert [envelope.event_type for envelope in envelopes] == APPROVED_STREAM
    assert [envelopes[2].data.status, envelopes[3].data.status] == [PaymentStatus.PENDING, PaymentStatus.COMPLETED]
    assert envelopes[3].causation_id == "approval-1"
    assert envelopes[3].created_by == "ops-lead"
    assert envelopes[4].causation_id == str(envelopes[3].event_id)
    assert ledger.charges(order.order_id) == [("Completed", "60000.00")]
    assert ledger.refunds(order.order_id) == []
    assert ledger.stock("PROD-009") == 1000 - 2


async def test_a_rejected_payment_cancels_the_order_without_refund(shop, unique, ledger):
    order = large_order(f"LARGE-{unique}")
    handle = await shop.start(order)
    await wait_for_status(handle, OrderStatus.PAYMENT_PENDING)
    rejected = await handle.execute_update(
        OrderWorkflow.reject_payment,
        RejectPayment(approver="risk-team", reason="card reported stolen"),
        id="rejection-1",
    )
    final = await handle.result()
    envelopes = await handle.query(OrderWorkflow.events, EventsQuery())

    assert rejected == final
    assert final.status is OrderStatus.CANCELLED
    assert final.cancellation_reason == "Payment rejected by risk-team: card reported stolen"
    assert final.refund_amount is None
    assert final.payment_status is PaymentStatus.CANCELLED
    assert envelopes[-1].event_type == "OrderCancelled"
    assert (envelopes[-1].created_by, envelopes[-1].causation_id) == ("risk-team", "rejection-1")
    assert ledger.charges(order.order_id) == [("Cancelled", "60000.00")], "the authorisation is voided, never captured"
    assert ledger.refunds(order.order_id) == []
    assert ledger.stock("PROD-009") == 1000


async def test_an_order_nobody_decides_on_cancels_itself_when_the_approval_window_closes(shop, unique, ledger):
    order = large_order(f"LARGE-{unique}", approval_timeout="PT1H")
    handle = await shop.start(order)
    final = await handle.result()  # the test server skips the hour
    envelopes = await handle.query(OrderWorkflow.events, EventsQuery())

    assert final.status is OrderStatus.CANCELLED
    assert final.cancellation_reason == "No payment decision within 1:00:00"
    assert envelopes[-1].created_by == "OrderWorkflow"
    assert envelopes[-1].created_at - envelopes[-2].created_at >= timedelta(hours=1)
    assert ledger.charges(order.order_id) == [("Cancelled", "60000.00")]
    assert ledger.refunds(order.order_id) == []


async def test_the_approval_window_defaults_to_48_hours(shop, time_skipping_env, unique):
    order = large_order(f"LARGE-{unique}")
    handle = await shop.start(order)
    await wait_for_status(handle, OrderStatus.PAYMENT_PENDING)
    await time_skipping_env.sleep(timedelta(hours=47))
    assert (await handle.query(OrderWorkflow.state)).status is OrderStatus.PAYMENT_PENDING
    final = await handle.result()
    assert final.cancellation_reason == "No payment decision within 2 days, 0:00:00"


async def test_a_pending_order_cancelled_by_the_customer_voids_its_payment(shop, unique, ledger):
    order = large_order(f"LARGE-{unique}")
    handle = await shop.start(order)
    await wait_for_status(handle, OrderStatus.PAYMENT_PENDING)
    cancelled = await handle.execute_update(
        OrderWorkflow.cancel_order, CancelOrder(reason="changed my mind", requested_by="CUSTOMER-TEST"), id="cancel-1"
    )
    assert await handle.result() == cancelled
    envelopes = await handle.query(OrderWorkflow.events, EventsQuery())

    assert cancelled.status is OrderStatus.CANCELLED
    assert (cancelled.cancellation_reason, cancelled.refund_amount) == ("changed my mind", None)
    assert (envelopes[-1].created_by, envelopes[-1].causation_id) == ("CUSTOMER-TEST", "cancel-1")
    assert ledger.charges(order.order_id) == [("Cancelled", "60000.00")]
    assert ledger.refunds(order.order_id) == []


async def test_cancelling_after_reservation_releases_the_stock_and_refunds_the_payment_once(shop, unique, ledger):
    order = one_line_order(f"HELD-{unique}", "PROD-001", 2, "75.25", cancellation_window="PT1H")
    handle = await shop.start(order)
    await wait_for_status(handle, OrderStatus.INVENTORY_RESERVED)
    assert ledger.stock("PROD-001") == 1000 - 2
    cancelled = await handle.execute_update(OrderWorkflow.cancel_order, CancelOrder(reason="found it cheaper"))
    final = await handle.result()

    assert cancelled == final
    assert final.status is OrderStatus.CANCELLED
    assert final.refund_amount == Decimal("150.50")
    assert final.reservations == ()
    assert final.events_applied[-2:] == ("InventoryReserved", "OrderCancelled")
    assert ledger.charges(order.order_id) == [("Completed", "150.50")]
    assert ledger.refunds(order.order_id) == [("150.50",)]
    assert ledger.stock("PROD-001") == 1000


async def test_an_order_held_in_its_cancellation_window_is_fulfilled_when_the_window_closes(shop, unique):
    order = one_line_order(f"HELD-{unique}", "PROD-001", 1, "10.00", cancellation_window=3600)
    handle = await shop.start(order)
    final = await handle.result()
    envelopes = await handle.query(OrderWorkflow.events, EventsQuery())
    assert final.status is OrderStatus.FULFILLED
    assert envelopes[-1].created_at - envelopes[-2].created_at >= timedelta(hours=1)


async def test_a_line_short_of_stock_refunds_the_payment_and_names_the_product(shop, unique, ledger):
    order = one_line_order(f"SHORT-{unique}", "PROD-001", 1, "10.00").model_copy(
        update={
            "items": (
                *one_line_order("x", "PROD-001", 1, "10.00").items,
                *one_line_order("x", "PROD-010", 11, "1.00").items,
            ),
            "total_amount": Decimal("21.00"),
        }
    )
    final = await (await shop.start(order)).result()

    assert final.status is OrderStatus.CANCELLED
    assert final.cancellation_reason == "Out of stock: PROD-010 (wanted 11, available 10)"
    assert final.refund_amount == Decimal("21.00")
    assert final.events_applied == ("OrderReceived", "OrderValidated", "PaymentProcessed", "OrderCancelled")
    assert ledger.refunds(order.order_id) == [("21.00",)]
    assert (ledger.stock("PROD-001"), ledger.stock("PROD-010")) == (1000, 10), (
        "an order is reserved whole or not at all"
    )


async def test_a_declined_payment_fails_the_order_without_retrying(shop, unique, ledger):
    order = one_line_order(f"DECLINED-{unique}", "PROD-001", 1, "10.00", customer_id=f"BAD-CARD-{unique}")
    await ledger.payments.decline_customer(order.customer_id)
    handle = await shop.start(order)
    final = await handle.result()
    attempts = [
        event.activity_task_started_event_attributes.attempt
        async for event in handle.fetch_history_events()
        if event.HasField("activity_task_started_event_attributes")
    ]
    assert final.status is OrderStatus.PAYMENT_FAILED
    assert attempts == [1], "process_payment, once (validate_order runs as a local activity)"
    assert ledger.charges(order.order_id) == [("Failed", "10.00")]


class GatewayWhoseRefundsTimeOutTwice(LedgerPaymentGateway):
    def __init__(self, db) -> None:
        super().__init__(db)
        self.refund_attempts = 0

    async def refund(self, idempotency_key, payment_id, amount):
        self.refund_attempts += 1
        if self.refund_attempts <= 2:
            raise ConnectionError("gateway timed out")
        return await super().refund(idempotency_key, payment_id, amount)


async def test_a_refund_that_fails_transiently_is_retried_until_it_happens_once(
    time_skipping_env, task_queue, unique, ledger
):
    gateway = GatewayWhoseRefundsTimeOutTwice(ledger.db)
    order = one_line_order(f"RETRY-{unique}", "PROD-001", 1, "10.00", cancellation_window="PT1H")
    async with open_shop(time_skipping_env, task_queue, ledger, ledger.activities(payments=gateway)) as shop:
        handle = await shop.start(order)
        await wait_for_status(handle, OrderStatus.INVENTORY_RESERVED)
        final = await handle.execute_update(OrderWorkflow.cancel_order, CancelOrder(reason="test"))
        assert await handle.result() == final
    assert final.refund_amount == Decimal("10.00")
    assert gateway.refund_attempts == 3
    assert ledger.refunds(order.order_id) == [("10.00",)]


async def test_approving_twice_is_refused_with_no_new_history_event(shop, unique, ledger):
    order = large_order(f"LARGE-{unique}", cancellation_window="PT1H")
    handle = await shop.start(order)
    await wait_for_status(handle, OrderStatus.PAYMENT_PENDING)
    await handle.execute_update(OrderWorkflow.approve_payment, ApprovePayment(approver="ops-lead"))
    await wait_for_status(handle, OrderStatus.INVENTORY_RESERVED)
    before = await history_length(handle)
    cause = await refused(handle.execute_update(OrderWorkflow.approve_payment, ApprovePayment(approver="ops-lead")))
    added = await events_after(handle, before)
    await handle.execute_update(OrderWorkflow.cancel_order, CancelOrder(reason="test over"))
    await handle.result()
    assert (
        cause.message
        == f"cannot approve payment: order {order.order_id} is InventoryReserved at version 5, not PaymentPending"
    )
    assert added == []
    assert ledger.charges(order.order_id) == [("Completed", "60000.00")]
    assert ledger.refunds(order.order_id) == [("60000.00",)]


async def test_a_stale_expected_version_is_refused_with_no_new_history_event(shop, unique):
    order = large_order(f"LARGE-{unique}")
    handle = await shop.start(order)
    await wait_for_status(handle, OrderStatus.PAYMENT_PENDING)
    before = await history_length(handle)
    cause = await refused(
        handle.execute_update(OrderWorkflow.cancel_order, CancelOrder(reason="stale view", expected_version=2))
    )
    added = await events_after(handle, before)
    current = await handle.execute_update(
        OrderWorkflow.approve_payment, ApprovePayment(approver="ops", expected_version=3)
    )
    await handle.result()
    assert cause.message == f"stale expected_version 2: order {order.order_id} is PaymentPending at version 3"
    assert added == []
    assert current.status is OrderStatus.PAYMENT_COMPLETED


async def test_a_malformed_decision_is_rejected_naming_the_field_and_the_order_carries_on(shop, unique):
    order = large_order(f"LARGE-{unique}")
    handle = await shop.start(order)
    await wait_for_status(handle, OrderStatus.PAYMENT_PENDING)
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update("approve_payment", {"aprover": "typo"})
    approved = await handle.execute_update(OrderWorkflow.approve_payment, ApprovePayment(approver="ops"))
    await handle.result()
    assert caught.value.cause.type == MALFORMED_INPUT
    assert caught.value.cause.message == (
        "Malformed ApprovePayment: approver: Field required; aprover: Extra inputs are not permitted"
    )
    assert approved.status is OrderStatus.PAYMENT_COMPLETED


async def test_concurrent_approve_and_cancel_exactly_one_wins(shop, unique, ledger):
    order = large_order(f"LARGE-{unique}", cancellation_window="PT1H")
    handle = await shop.start(order)
    await wait_for_status(handle, OrderStatus.PAYMENT_PENDING)
    outcomes = await asyncio.gather(
        handle.execute_update(OrderWorkflow.approve_payment, ApprovePayment(approver="ops-lead")),
        handle.execute_update(OrderWorkflow.cancel_order, CancelOrder(reason="customer called")),
        return_exceptions=True,
    )
    if isinstance(outcomes[0], OrderState):  # approved: it now waits in its cancellation window
        state = await wait_for_status(handle, OrderStatus.INVENTORY_RESERVED)
        await handle.execute_update(OrderWorkflow.cancel_order, CancelOrder(reason="test over"))
    await handle.result()

    won = [outcome for outcome in outcomes if isinstance(outcome, OrderState)]
    lost = [outcome for outcome in outcomes if not isinstance(outcome, OrderState)]
    assert len(won) == 1 and len(lost) == 1
    assert isinstance(lost[0], WorkflowUpdateFailedError) and lost[0].cause.type == DECISION_REFUSED
    if won[0].status is OrderStatus.CANCELLED:
        assert ledger.charges(order.order_id) == [("Cancelled", "60000.00")]
        assert ledger.refunds(order.order_id) == []
    else:
        assert won[0].status is OrderStatus.PAYMENT_COMPLETED
        assert state.events_applied.count("PaymentProcessed") == 2
        assert ledger.charges(order.order_id) == [("Completed", "60000.00")]


async def test_a_large_order_from_a_watched_customer_is_cancelled_before_any_payment(shop, unique, ledger):
    order = one_line_order(f"FRAUD-{unique}", "PROD-001", 1, "10000.01", customer_id=f"WATCHED-{unique}")
    small = one_line_order(f"SMALL-{unique}", "PROD-001", 1, "10000.00", customer_id=f"WATCHED-{unique}")
    await LedgerFraudScreen(ledger.db).watch(order.customer_id, "card used from three countries in an hour")
    blocked = await (await shop.start(order)).result()
    unscreened = await (await shop.start(small)).result()

    assert blocked.status is OrderStatus.CANCELLED
    assert blocked.cancellation_reason == "Failed fraud screening: card used from three countries in an hour"
    assert blocked.events_applied == ("OrderReceived", "OrderValidated", "OrderCancelled")
    assert (blocked.payment_id, blocked.refund_amount) == (None, None)
    assert ledger.charges(order.order_id) == []
    assert unscreened.status is OrderStatus.FULFILLED, "orders up to 10,000 are not screened"
