"""Names that clients, workers, tools and tests agree on. Changing one breaks them all.

The ground floor: every layer imports it, and it imports nothing of this project.
"""

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from contract.addresses import host_and_port as host_and_port
from contract.faces import loaded_when_asked as loaded_when_asked
from contract.metrics import DOMAIN_METRICS as DOMAIN_METRICS
from contract.metrics import OrderMetrics as OrderMetrics
from contract.times import as_text as as_text
from contract.times import from_text as from_text

TASK_QUEUE = "orders"
WORKFLOW_TYPE = "OrderWorkflow"

ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
ORDER_TOTAL = SearchAttributeKey.for_float("OrderTotal")
# The version of the order's latest event and when it was recorded, published with the
# status: how a projector finds the orders changed since its checkpoint, and how far
# behind it is, from visibility alone.
ORDER_VERSION = SearchAttributeKey.for_int("OrderVersion")
ORDER_UPDATED_AT = SearchAttributeKey.for_datetime("OrderUpdatedAt")
SEARCH_ATTRIBUTES = (ORDER_STATUS, CUSTOMER_ID, ORDER_TOTAL, ORDER_VERSION, ORDER_UPDATED_AT)
# The status of an order that has just arrived: domain.OrderStatus.RECEIVED.
RECEIVED = "Received"


def search_attributes_at_start(customer: str, total_amount: float | None) -> TypedSearchAttributes:
    """What a client sets as it starts an order, so the workflow need not upsert them:
    `customer` as the server may see it, the total unless it is kept off the server."""
    pairs: list[SearchAttributePair[Any]] = [SearchAttributePair(CUSTOMER_ID, customer)]
    if total_amount is not None:
        pairs.append(SearchAttributePair(ORDER_TOTAL, total_amount))
    return TypedSearchAttributes([*pairs, SearchAttributePair(ORDER_STATUS, RECEIVED)])


# Where an order's domain events are in its history (docs/event-store.md): each envelope
# is the result of the step that established it, an activity's (ActivityTaskCompleted)
# or a local activity's (MarkerRecorded), among the steps named here.
RECORDING_ACTIVITIES = frozenset(
    {"validate_order", "process_payment", "capture_payment", "reserve_inventory", "fulfill_order", "record_event"}
)
# Orders recorded by the build before: each envelope was upserted under this memo key,
# every upsert a WorkflowPropertiesModified history event carrying that one envelope.
DOMAIN_EVENT_MEMO_KEY = "domain_event"

# ApplicationError types; clients and the workflow match on these, never on messages.
MALFORMED_ORDER_INPUT = "MalformedOrderInput"
MALFORMED_INPUT = "MalformedInput"  # of a query or an update
DECISION_REFUSED = "DecisionRefused"
OUT_OF_STOCK = "OutOfStock"
# An order stopped by a step that failed unexpectedly, after its compensation ran.
STEP_FAILED = "StepFailed"
PAYMENT_NOT_FOUND = "PaymentNotFound"


# The workflow's updates (decisions) and queries, for clients that name them.
APPROVE_PAYMENT = "approve_payment"
REJECT_PAYMENT = "reject_payment"
CANCEL_ORDER = "cancel_order"

_WORKFLOW_ID_PREFIX = "order-"


def workflow_id_for(order_id: str) -> str:
    return f"{_WORKFLOW_ID_PREFIX}{order_id}"


def order_id_of(workflow_id: str) -> str | None:
    """The order id in an OrderWorkflow's id; None for any other id."""
    return workflow_id.removeprefix(_WORKFLOW_ID_PREFIX) if workflow_id.startswith(_WORKFLOW_ID_PREFIX) else None


# The side effects an order causes outside, each under an idempotency key of its own.
PAYMENT, RESERVATION, FULFILLMENT, REFUND = "payment", "reservation", "fulfillment", "refund"


def idempotency_key(workflow_id: str, effect: str) -> str:
    """The key an external system sees for one effect of one order: `order-X-payment`.

    Derived from the workflow id, so every retry and every replay presents the same key
    and the system answers with its first answer.
    """
    return f"{workflow_id}-{effect}"


class EventsQuery(BaseModel):
    """The `events` query's optional argument: the tutorial's read_stream(from_version, limit)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    from_version: int = Field(default=1, ge=1)
    limit: int | None = Field(default=None, ge=0)


class StateAtQuery(BaseModel):
    """The `state_at` query's argument: a version (0 = before the first event) or a time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int | None = Field(default=None, ge=0)
    at: AwareDatetime | None = None
