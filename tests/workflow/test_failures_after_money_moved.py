"""A step that fails unexpectedly: the order is made whole before it ends.

Whatever stops an order after money moved (a warehouse fault, a shipping fault, a
failure whose details the server dropped), the workflow undoes what was done, newest
first, records OrderCancelled with the refund, and only then fails, so the fault stays
visible. Real activities over a SQLite ledger of each test's own; the faulty systems
are real ones with one call that breaks.
"""

from decimal import Decimal

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from activities.ledger import LedgerInventory, LedgerShipping
from contract import STEP_FAILED, EventsQuery
from domain import OrderStatus, PaymentStatus
from domain.decisions import ApprovePayment
from tests.orders import one_line_order, open_shop, wait_for_status
from workflows.order_workflow import OrderWorkflow


class WarehouseWithAFault(LedgerInventory):
    """Reservations fail with an error nobody planned for, and retrying cannot help."""

    async def reserve(self, idempotency_key, items):
        raise ApplicationError(
            "warehouse system rejected the request: schema error", type="WarehouseFault", non_retryable=True
        )


class CarrierThatRefuses(LedgerShipping):
    async def ship(self, idempotency_key, reservations):
        raise ApplicationError("carrier refused the parcel", type="CarrierRefused", non_retryable=True)


async def run_to_failure(env, task_queue, ledger, activities, order):
    async with open_shop(env, task_queue, ledger, activities) as shop:
        handle = await shop.start(order)
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        state = await handle.query(OrderWorkflow.state)
        envelopes = await handle.query(OrderWorkflow.events, EventsQuery())
    kinds = [event.event_type async for event in handle.fetch_history_events()]
    return failed.value, state, envelopes, kinds


async def test_a_reservation_that_fails_unexpectedly_after_the_charge_refunds_it(
    time_skipping_env, task_queue, unique, ledger
):
    order = one_line_order(f"FAULT-{unique}", "PROD-001", 2, "10.00")
    activities = ledger.activities(inventory=WarehouseWithAFault(ledger.db))

    failure, state, envelopes, kinds = await run_to_failure(time_skipping_env, task_queue, ledger, activities, order)

    assert failure.cause.type == STEP_FAILED, "the fault stays the workflow's outcome"
    assert failure.cause.details == ("reserve_inventory",)
    assert failure.cause.message == state.cancellation_reason
    assert state.status is OrderStatus.CANCELLED
    assert state.refund_amount == Decimal("20.00")
    assert state.cancellation_reason == (
        "Stopped by a failure in reserve_inventory: warehouse system rejected the request: schema error"
    )
    assert [envelope.event_type for envelope in envelopes][-2:] == ["PaymentProcessed", "OrderCancelled"]
    assert envelopes[-1].created_by == "OrderWorkflow"
    assert ledger.charges(order.order_id) == [("Completed", "20.00")]
    assert ledger.refunds(order.order_id) == [("20.00",)]
    assert ledger.money_held_without_goods() == []
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in kinds


async def test_a_shipment_that_fails_unexpectedly_releases_the_stock_and_refunds(
    time_skipping_env, task_queue, unique, ledger
):
    order = one_line_order(f"NOSHIP-{unique}", "PROD-003", 3, "5.00")
    activities = ledger.activities(shipping=CarrierThatRefuses(ledger.db))

    failure, state, envelopes, _ = await run_to_failure(time_skipping_env, task_queue, ledger, activities, order)

    assert failure.cause.message == "Stopped by a failure in fulfill_order: carrier refused the parcel"
    assert state.status is OrderStatus.CANCELLED
    assert state.reservations == ()
    assert state.refund_amount == Decimal("15.00")
    assert [envelope.event_type for envelope in envelopes][-2:] == ["InventoryReserved", "OrderCancelled"]
    assert ledger.stock("PROD-003") == 1000, "released before the refund"
    assert ledger.refunds(order.order_id) == [("15.00",)]
    assert ledger.money_held_without_goods() == []


async def test_an_approved_payment_is_refunded_when_the_warehouse_fails_afterwards(
    time_skipping_env, task_queue, unique, ledger
):
    order = one_line_order(f"BIGFAULT-{unique}", "PROD-009", 2, "30000.00")
    activities = ledger.activities(inventory=WarehouseWithAFault(ledger.db))
    async with open_shop(time_skipping_env, task_queue, ledger, activities) as shop:
        handle = await shop.start(order)
        await wait_for_status(handle, OrderStatus.PAYMENT_PENDING)
        await handle.execute_update(OrderWorkflow.approve_payment, ApprovePayment(approver="ops-lead"))
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        state = await handle.query(OrderWorkflow.state)
    assert state.status is OrderStatus.CANCELLED
    assert state.payment_status is PaymentStatus.COMPLETED
    assert state.refund_amount == Decimal("60000.00")
    assert ledger.money_held_without_goods() == []


async def test_a_new_history_carries_no_patch_marker(time_skipping_env, task_queue, unique, ledger):
    order = one_line_order(f"MARKED-{unique}", "PROD-001", 1, "10.00")
    activities = ledger.activities(inventory=WarehouseWithAFault(ledger.db))
    async with open_shop(time_skipping_env, task_queue, ledger, activities) as shop:
        handle = await shop.start(order)
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    events = [event async for event in handle.fetch_history_events()]
    markers = {event.marker_recorded_event_attributes.marker_name for event in events}
    upserted = {
        name
        for event in events
        for name in event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
    }
    # Changes ship as new builds (docs/deploying.md): a patch would cost a marker and an
    # upsert of TemporalChangeVersion, a visibility write, on every order.
    assert "core_patch" not in markers
    assert "TemporalChangeVersion" not in upserted
