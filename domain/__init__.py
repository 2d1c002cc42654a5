"""The order domain: input, events, state and business rules.

Pure by design: nothing here imports Temporal. The workflow, the activities, the
tools and the tests all fold events with `apply_event`, so the live state and a
state rebuilt from history cannot drift apart.
"""

from domain.events import (
    EVENT_TYPES,
    DomainEvent,
    EnvelopeHeader,
    EventEnvelope,
    InventoryReservation,
    InventoryReserved,
    OrderCancelled,
    OrderFulfilled,
    OrderReceived,
    OrderValidated,
    PaymentProcessed,
    PaymentStatus,
    ValidationResult,
)
from domain.orders import DEFAULT_CURRENCY, Money, OrderInput, OrderItem, describe_validation_error
from domain.problems import ProblemCode, ValidationProblem
from domain.rules import (
    FRAUD_SCREENING_THRESHOLD,
    LARGE_ORDER_THRESHOLD,
    LARGE_ORDER_WARNING,
    MANUAL_APPROVAL_THRESHOLD,
    PAYMENT_SKIPPED_REASON,
    TOTAL_TOLERANCE,
    needs_fraud_screening,
    payment_status_for,
    validate_order,
)
from domain.state import (
    STATE_SCHEMA_VERSION,
    EventStreamError,
    OrderState,
    OrderStatus,
    apply_event,
    check_sequence,
    fold_events,
)
from domain.stream import OrderStream, VersionNotFound, read_window, state_as_of
from domain.upcasting import EventSchemaError, upcast

__all__ = [
    "DEFAULT_CURRENCY",
    "EVENT_TYPES",
    "FRAUD_SCREENING_THRESHOLD",
    "LARGE_ORDER_THRESHOLD",
    "LARGE_ORDER_WARNING",
    "MANUAL_APPROVAL_THRESHOLD",
    "PAYMENT_SKIPPED_REASON",
    "STATE_SCHEMA_VERSION",
    "TOTAL_TOLERANCE",
    "DomainEvent",
    "EnvelopeHeader",
    "EventEnvelope",
    "EventSchemaError",
    "EventStreamError",
    "InventoryReservation",
    "InventoryReserved",
    "Money",
    "OrderCancelled",
    "OrderFulfilled",
    "OrderInput",
    "OrderItem",
    "OrderReceived",
    "OrderState",
    "OrderStatus",
    "OrderStream",
    "OrderValidated",
    "PaymentProcessed",
    "PaymentStatus",
    "ProblemCode",
    "ValidationProblem",
    "ValidationResult",
    "VersionNotFound",
    "apply_event",
    "check_sequence",
    "describe_validation_error",
    "fold_events",
    "needs_fraud_screening",
    "payment_status_for",
    "read_window",
    "state_as_of",
    "upcast",
    "validate_order",
]
