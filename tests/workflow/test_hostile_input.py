"""Whatever a client sends, the order ends at once with the problem named, or is judged
by the business rules; no workflow task ever fails and retries.

Clients in other languages and the `temporal` CLI start orders by name with raw
payloads, so these tests do too. The time-skipping test server; the dev server's own
limits (search attribute sizes) are exercised through the real CLI in
tests/integration/test_hostile_clients.py.
"""

import asyncio
import json

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import WithStartWorkflowOperation, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.common import RawValue, WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

from contract import DECISION_REFUSED, MALFORMED_INPUT, MALFORMED_ORDER_INPUT, EventsQuery, workflow_id_for
from domain import OrderStatus
from domain.decisions import ApprovePayment, CancelOrder
from tests.orders import ORDER_001, one_line_order, plain_order, renamed, wait_for_status
from workflows.order_workflow import OrderWorkflow


async def malformed_start_failure(shop, workflow_id: str, *args) -> ApplicationError:
    """Start OrderWorkflow by name with raw input, as a client in another language would."""
    handle = await shop.client.start_workflow(
        "OrderWorkflow", args=list(args), id=workflow_id, task_queue=shop.task_queue
    )
    with pytest.raises(WorkflowFailureError) as caught:
        await asyncio.wait_for(handle.result(), timeout=30)
    kinds = [event.event_type async for event in handle.fetch_history_events()]
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in kinds, "no workflow task may fail and retry"
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == MALFORMED_ORDER_INPUT
    assert cause.non_retryable
    return cause


def raw(data: bytes, encoding: bytes) -> RawValue:
    return RawValue(Payload(metadata={"encoding": encoding}, data=data))


async def test_an_order_missing_a_field_fails_at_once_naming_the_field(shop, unique):
    order = {"order_id": f"BAD-{unique}", "total_amount": 10, "items": []}
    cause = await malformed_start_failure(shop, f"order-BAD-{unique}", order)
    assert "customer_id: Field required" in cause.message


async def test_an_order_with_a_wrong_type_fails_at_once_naming_the_field(shop, unique):
    order = {
        "order_id": f"BAD-{unique}",
        "customer_id": "C",
        "total_amount": "ten",
        "items": [{"product_id": "P", "quantity": "2x", "unit_price": 1}],
    }
    cause = await malformed_start_failure(shop, f"order-BAD-{unique}", order)
    assert "total_amount:" in cause.message
    assert "items.0.quantity:" in cause.message


async def test_a_start_without_input_fails_at_once(shop, unique):
    cause = await malformed_start_failure(shop, f"order-NONE-{unique}")
    assert "carried no order" in cause.message


async def test_input_that_is_not_an_object_fails_at_once(shop, unique):
    cause = await malformed_start_failure(shop, f"order-LIST-{unique}", [1, 2])
    assert "Malformed order input" in cause.message


async def test_a_start_with_two_inputs_fails_at_once(shop, unique):
    order = plain_order(f"TWO-{unique}")
    cause = await malformed_start_failure(shop, f"order-TWO-{unique}", order, order)
    assert "expected one order, got 2 arguments" in cause.message


async def test_a_workflow_id_that_is_not_order_dash_order_id_is_refused(shop, unique):
    order = plain_order(f"X-{unique}")
    cause = await malformed_start_failure(shop, f"wrong-{unique}", order)
    assert f"start it as 'order-X-{unique}'" in cause.message


# Each value once left an order stuck on a failing workflow task, terminated by the
# server, or charged and never refunded; each is now refused at the door, field named.
OUT_OF_BOUNDS = {
    "total-1e400": ({"total_amount": "1e400"}, "total_amount: Value error, must be between"),
    "total-minus-1e400": ({"total_amount": "-1e400"}, "total_amount: Value error, must be between"),
    "price-1e999999": (
        {"total_amount": "1e1000000", "items": [{"product_id": "PROD-001", "quantity": 10, "unit_price": "1e999999"}]},
        "items.0.unit_price: Value error, must be between",
    ),
    "price-1e308": (
        {"total_amount": "1e308", "items": [{"product_id": "PROD-001", "quantity": 1, "unit_price": 1e308}]},
        "items.0.unit_price: Value error, must be between",
    ),
    "customer-2049-bytes": (
        {"customer_id": "C" * 2047 + "é"},
        "customer_id: String should have at most 256 characters",
    ),
    "customer-700-euro-signs": ({"customer_id": "€" * 700}, "customer_id: String should have at most 256 characters"),
    "product-id-of-a-megabyte": (
        {"items": [{"product_id": "P" * 1_000_000, "quantity": 2, "unit_price": "75.25"}]},
        "items.0.product_id: String should have at most 256 characters",
    ),
    "quantity-beyond-any-warehouse": (
        {"items": [{"product_id": "PROD-001", "quantity": 10**30, "unit_price": "0"}]},
        "items.0.quantity: Input should be less than or equal to 1000000000",
    ),
    "1001-lines": (
        {"items": [{"product_id": "PROD-001", "quantity": 1, "unit_price": "1"}] * 1001},
        "items: Tuple should have at most 1000 items",
    ),
    "approval-window-of-ages": ({"approval_timeout": 10**11}, "approval_timeout:"),
}


@pytest.mark.parametrize("case", OUT_OF_BOUNDS, ids=str)
async def test_values_that_fit_no_temporal_limit_are_refused_naming_the_field(shop, unique, case):
    changes, problem = OUT_OF_BOUNDS[case]
    order_id = f"BOUNDS-{unique}"
    cause = await malformed_start_failure(shop, f"order-{order_id}", plain_order(order_id, **changes))
    assert problem in cause.message
    assert len(cause.message) < 1_000, "a failure message stays small whatever the input held"


@pytest.mark.parametrize("encoding", [b"binary/plain", b"json/protobuf", b"text/csv"])
async def test_an_order_in_another_encoding_fails_at_once_naming_the_encoding(shop, unique, encoding):
    order_id = f"ENC-{unique}"
    payload = raw(json.dumps(plain_order(order_id)).encode(), encoding)
    cause = await malformed_start_failure(shop, f"order-{order_id}", payload)
    assert f"expected JSON (encoding json/plain), got encoding '{encoding.decode()}'" in cause.message


async def test_a_field_name_of_100_kb_is_named_shortened(shop, unique):
    order_id = f"KEY-{unique}"
    order = plain_order(order_id) | {"x" * 100_000: 1}
    cause = await malformed_start_failure(shop, f"order-{order_id}", order)
    assert "…(100000 characters): Extra inputs are not permitted" in cause.message
    assert len(cause.message) < 1_000


def started_with(shop, order) -> WithStartWorkflowOperation:
    """Update-with-start: the decision travels with the start, so the order's first
    workflow task holds both, and its state must exist when the validator runs."""
    return WithStartWorkflowOperation(
        OrderWorkflow.run,
        order,
        id=workflow_id_for(order.order_id),
        task_queue=shop.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
    )


async def test_a_cancel_that_arrives_with_the_start_is_judged_and_carried_out(dev_shop, unique):
    order = renamed(ORDER_001, unique)
    start = started_with(dev_shop, order)
    cancelled = await dev_shop.client.execute_update_with_start_workflow(
        OrderWorkflow.cancel_order,
        CancelOrder(reason="ordered by mistake", requested_by="CUSTOMER-123"),
        id="early-cancel",
        start_workflow_operation=start,
    )
    handle = await start.workflow_handle()
    envelopes = await handle.query(OrderWorkflow.events, EventsQuery())

    assert cancelled == await handle.result()
    assert cancelled.status is OrderStatus.CANCELLED
    assert cancelled.cancellation_reason == "ordered by mistake"
    assert [envelope.event_type for envelope in envelopes] == ["OrderReceived", "OrderValidated", "OrderCancelled"]
    assert (envelopes[-1].created_by, envelopes[-1].causation_id) == ("CUSTOMER-123", "early-cancel")
    assert dev_shop.ledger.charges(order.order_id) == [], "nothing charged, nothing shipped"


async def test_an_approval_that_arrives_with_the_start_is_refused_by_the_same_rule_as_later(dev_shop, unique):
    order = renamed(ORDER_001, unique)
    start = started_with(dev_shop, order)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await dev_shop.client.execute_update_with_start_workflow(
            OrderWorkflow.approve_payment, ApprovePayment(approver="ops-lead"), start_workflow_operation=start
        )
    final = await (await start.workflow_handle()).result()
    assert refused.value.cause.type == DECISION_REFUSED
    assert refused.value.cause.message == (
        f"cannot approve payment: order {order.order_id} is not started at version 0, not PaymentPending"
    )
    assert final.status is OrderStatus.FULFILLED


@pytest.mark.parametrize(
    ("argument", "problem"),
    [
        (raw(b'{"reason": "x"}', b"binary/plain"), "expected JSON (encoding json/plain), got encoding 'binary/plain'"),
        ({"reason": "r" * 1_000_000}, "reason: String should have at most 1000 characters"),
        ({"reason": "ok", "requested_by": "R" * 5_000}, "requested_by: String should have at most 256 characters"),
    ],
    ids=["binary", "reason-of-a-megabyte", "long-requester"],
)
async def test_a_malformed_cancel_is_refused_and_the_order_carries_on(shop, unique, argument, problem):
    order = one_line_order(f"HELD-{unique}", "PROD-001", 1, "10.00", cancellation_window="PT1H")
    handle = await shop.start(order)
    await wait_for_status(handle, OrderStatus.INVENTORY_RESERVED)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("cancel_order", argument)
    final = await handle.result()
    assert refused.value.cause.type == MALFORMED_INPUT
    assert problem in refused.value.cause.message
    assert final.status is OrderStatus.FULFILLED


async def test_personal_data_in_clear_is_refused_before_anything_records_it(shop, unique):
    """A client that did not seal an order's personal data: the order fails at once, naming
    the fields (never their values), and no event of it holds them."""
    order = {
        "order_id": f"CLEAR-{unique}",
        "customer_id": "C",
        "total_amount": "10",
        "items": [{"product_id": "P", "quantity": 1, "unit_price": "10"}],
        "personal": {"name": "Nobody Inclear", "email": "sealed:v1:k:not-really", "address": "1 Clear Street"},
    }
    cause = await malformed_start_failure(shop, f"order-CLEAR-{unique}", order)
    assert "personal.name, personal.address" in cause.message and "in clear" in cause.message
    assert "Nobody" not in cause.message and "Clear Street" not in cause.message
    handle = shop.client.get_workflow_handle(f"order-CLEAR-{unique}")
    kinds = [event.event_type async for event in handle.fetch_history_events()]
    assert EventType.EVENT_TYPE_MARKER_RECORDED not in kinds, "no event recorded"
