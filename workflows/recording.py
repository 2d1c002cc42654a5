"""An order's events as its workflow records them, and what visibility hears of them.

Workflow code: deterministic, no I/O. Ids and times come from `workflow.uuid4()` and
`workflow.now()`; the SDK records no metric while a history is replayed.

Each event travels in an envelope the workflow writes before the event exists (its id,
version, correlation and causation): a step is handed it and seals its event in it, so
the step's result, which the history keeps anyway, is the event (docs/event-store.md).
"""

from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ApplicationError

from contract import (
    CUSTOMER_ID,
    ORDER_STATUS,
    ORDER_TOTAL,
    ORDER_UPDATED_AT,
    ORDER_VERSION,
    STEP_FAILED,
    WORKFLOW_TYPE,
    OrderMetrics,
)
from domain import (
    DomainEvent,
    EnvelopeHeader,
    EventEnvelope,
    OrderCancelled,
    OrderInput,
    OrderReceived,
    OrderState,
    OrderStream,
    PaymentProcessed,
    PaymentStatus,
    apply_event,
)
from views import web_ui_details

EventT = TypeVar("EventT", bound=DomainEvent)


class OrderRecord:
    """The envelopes this run has recorded, the state they fold into, and the log context
    every line of the order carries."""

    def __init__(self, order: OrderInput, metrics: OrderMetrics) -> None:
        # The start request is the command that caused the first event; its id also
        # correlates the whole order unless the caller brought a correlation id of its own.
        self.start_command_id = workflow.info().run_id
        self.correlation_id = order.correlation_id or self.start_command_id
        self.state = OrderState(order_id=order.order_id)
        self.events: list[EventEnvelope] = []
        self._metrics = metrics

    def next_header(self, created_by: str, causation_id: str | None = None) -> EnvelopeHeader:
        """The envelope of the next event, waiting for the event."""
        return EnvelopeHeader(
            event_id=workflow.uuid4(),
            stream_id=self.state.order_id,
            version=self.state.version + 1,
            correlation_id=self.correlation_id,
            causation_id=causation_id or str(self.events[-1].event_id),
            created_by=created_by,
        )

    def receive(self, order: OrderInput) -> EventEnvelope:
        """OrderReceived, caused by the start request."""
        received = OrderReceived(
            order_id=order.order_id,
            customer_id=order.customer_id,
            items=order.items,
            total_amount=order.total_amount,
            personal=order.personal,
        )
        return self.record(received, created_by=WORKFLOW_TYPE, causation_id=self.start_command_id)

    def recorded(self, result: object, kind: type[EventT]) -> EventT:
        """Fold the envelopes a step sealed its event in (validation's result holds
        OrderReceived too, folded already); returns the step's event."""
        sealed = result if isinstance(result, list) else [result]
        new = [e for e in sealed if isinstance(e, EventEnvelope) and e.version > self.state.version]
        if not new or not isinstance(new[-1].data, kind):
            # A worker of another build answered: the order stops, its compensation runs.
            raise ApplicationError(
                f"the step returned {type(result).__name__}, not {kind.__name__} sealed in its envelope",
                type=STEP_FAILED,
                non_retryable=True,
            )
        for envelope in new:
            self.fold(envelope)
        return new[-1].data

    def record(self, event: DomainEvent, *, created_by: str, causation_id: str | None = None) -> EventEnvelope:
        """Put an event the workflow decided in its envelope and fold it into the state."""
        envelope = self.next_header(created_by, causation_id).seal(event, workflow.now())
        self.fold(envelope)
        return envelope

    def fold(self, envelope: EventEnvelope) -> None:
        self.state = apply_event(self.state, envelope)
        self.events.append(envelope)
        workflow.set_current_details(web_ui_details(self.state))
        self._count(envelope.data)
        workflow.logger.debug(
            "Order %s v%s %s",
            self.state.order_id,
            envelope.version,
            envelope.event_type,
            extra=self.log_context(envelope.version),
        )

    def stream(self) -> OrderStream:
        """The order's stream as every reader sees it, from what this run has recorded."""
        return OrderStream(self.state.order_id, tuple(self.events))

    def log_context(self, version: int | None = None) -> dict[str, object]:
        """What every log line of this order carries (see observability.logs)."""
        context: dict[str, object] = {"order_id": self.state.order_id, "correlation_id": self.correlation_id}
        if version is not None:
            context["event_version"] = version
        return context

    def _count(self, event: DomainEvent) -> None:
        self._metrics.recorded(type(event).__name__)
        if isinstance(event, PaymentProcessed) and event.status is PaymentStatus.COMPLETED:
            self._metrics.charged(event.amount)
        if isinstance(event, OrderCancelled) and event.refund_amount:
            self._metrics.refunded(event.refund_amount)


class Visibility:
    """What the server's visibility store holds of the order, upserted only where the
    order rests or ends: each upsert rewrites the order's visibility record."""

    def __init__(self, order: OrderInput) -> None:
        # Our clients set CustomerId, OrderTotal and OrderStatus as they start an order,
        # which costs no command; a start by any other client is completed here. Orders
        # whose client keeps the customer id or the total off the server say so.
        given = workflow.info().typed_search_attributes
        wanted: list[SearchAttributeUpdate[Any]] = [CUSTOMER_ID.value_set(order.customer_shown)]
        if order.publish_total:
            wanted.append(ORDER_TOTAL.value_set(float(order.total_amount)))
        self._unpublished = {update.key.name: update for update in wanted if given.get(update.key) != update.value}
        self._published_status: str | None = given.get(ORDER_STATUS)
        self._published_version = 0

    def publish(self, record: OrderRecord) -> None:
        """Upsert what changed since the last upsert, in one command."""
        status = record.state.status.value if record.state.status else None
        if status is not None and status != self._published_status:
            self._unpublished[ORDER_STATUS.name] = ORDER_STATUS.value_set(status)
            self._published_status = status
        if record.state.version != self._published_version:
            latest = record.events[-1]
            self._unpublished[ORDER_VERSION.name] = ORDER_VERSION.value_set(latest.version)
            self._unpublished[ORDER_UPDATED_AT.name] = ORDER_UPDATED_AT.value_set(latest.created_at)
            self._published_version = latest.version
        if self._unpublished:
            workflow.upsert_search_attributes(list(self._unpublished.values()))
            self._unpublished.clear()
