"""Starting an order: the one way every client of ours does it (the starter, the
benchmarks, the tests).

An order id is processed once, ever: the workflow id is `order-<order_id>`, a second
start of it is refused and reports the first run. What search attributes the order is
found by are set with the start, where they cost the workflow no command; its summary in
the Web UI too. With the worker in the starting process, the first workflow task comes
back with the start (eager start).
"""

from collections.abc import Sequence
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from connection import Settings
from contract import TASK_QUEUE, WORKFLOW_TYPE, search_attributes_at_start, workflow_id_for
from domain import OrderInput, OrderState, PersonalData, is_sealed
from encryption import DataKey, customer_ref, seal_value
from observability import correlated
from storage import CustomerKeys


async def start_order(
    client: Client,
    order: OrderInput,
    *,
    task_queue: str = TASK_QUEUE,
    search_attributes: bool = True,
    eager: bool = False,
    **options: Any,
) -> WorkflowHandle[Any, OrderState]:
    """Start `order`; WorkflowAlreadyStartedError if its id was ever started. `search_attributes`
    False leaves them to the workflow (a namespace without ours, as the test server's);
    `options` go to `Client.start_workflow` as they are."""
    attributes = None
    if search_attributes:
        total = float(order.total_amount) if order.publish_total else None
        attributes = search_attributes_at_start(order.customer_shown, total)
    with correlated(order.correlation_id):
        # By name: the workflow takes its input raw, to refuse malformed input itself.
        return await client.start_workflow(
            WORKFLOW_TYPE,
            order,
            id=workflow_id_for(order.order_id),
            task_queue=task_queue,
            result_type=OrderState,
            id_reuse_policy=options.pop("id_reuse_policy", WorkflowIDReusePolicy.REJECT_DUPLICATE),
            id_conflict_policy=options.pop("id_conflict_policy", WorkflowIDConflictPolicy.FAIL),
            static_summary=f"Order {order.order_id} for {order.customer_shown}, total {order.total_amount}",
            search_attributes=attributes,
            request_eager_start=eager,
            **options,
        )


def kept_private(order: OrderInput, settings: Settings) -> OrderInput:
    """The order as the settings let the server see it: the customer id replaced by a keyed
    hash in search attributes and summaries (ORDERS_CUSTOMER_ID_KEY), the total kept out
    of search attributes (ORDERS_PUBLISH_ORDER_TOTAL=false). The input itself is whole."""
    if settings.customer_id_key is None and settings.publish_order_total:
        return order
    reference = customer_ref(settings.customer_id_key, order.customer_id) if settings.customer_id_key else None
    return order.model_copy(update={"customer_ref": reference, "publish_total": settings.publish_order_total})


def sealed_personal(orders: Sequence[OrderInput], settings: Settings) -> list[OrderInput]:
    """The orders with their personal data sealed under each customer's own key, made in the
    key store on a customer's first order (docs/personal-data.md); all sealed before any is
    started, so a key store that cannot be used (KeyStoreError, one line) starts none."""
    customers = {order.customer_id for order in orders if _in_clear(order)}
    if not customers:
        return list(orders)
    store = CustomerKeys(settings.customer_keys, settings.master_keyring)
    try:
        keys = store.keys_for(customers)
    finally:
        store.close()
    return [_sealed(order, keys[order.customer_id]) if _in_clear(order) else order for order in orders]


def _in_clear(order: OrderInput) -> bool:
    return order.personal is not None and bool(order.personal.unsealed())


def _sealed(order: OrderInput, key: DataKey) -> OrderInput:
    assert order.personal is not None
    sealed = {
        field: value if is_sealed(value) else seal_value(key, order.customer_id, order.order_id, field, value)
        for field, value in order.personal.fields()
    }
    return order.model_copy(update={"personal": PersonalData(**sealed)})
