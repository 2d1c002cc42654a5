"""One order, one workflow: its history is the order's event store.

Determinism: ids, times and randomness come only from `workflow.uuid4()` and
`workflow.now()`; there is no I/O here and no configuration is read. A change that
would alter the commands of a recorded history goes behind `workflow.patched()`.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    import pydantic

    from activities.order_activities import OrderActivities
    from activities.requests import FulfillOrder, ProcessPayment, ReserveInventory, ValidateOrder
    from domain import (
        DomainEvent,
        EventEnvelope,
        OrderInput,
        OrderReceived,
        OrderState,
        OrderStatus,
        PaymentStatus,
        apply_event,
        describe_validation_error,
        read_window,
        state_as_of,
    )
    from workflows.contract import (
        CUSTOMER_ID,
        DOMAIN_EVENT_MEMO_KEY,
        MALFORMED_ORDER_INPUT,
        ORDER_STATUS,
        ORDER_TOTAL,
        WORKFLOW_TYPE,
        EventsQuery,
        StateAtQuery,
        workflow_id_for,
    )

# Stands in for a start request that carried no input at all, so that case fails the
# workflow with a clear message instead of failing every workflow task with a TypeError.
_NO_INPUT = RawValue(Payload())

# Validation is pure computation: anything that fails it is transient (a worker died).
_VALIDATION_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10))
# Gateways and warehouses answer an idempotency key with their first answer, so a
# retry after a timeout can never charge, reserve or ship twice: retry until it answers.
_EXTERNAL_SYSTEM_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=1)
)


@workflow.defn(name=WORKFLOW_TYPE)
class OrderWorkflow:
    def __init__(self) -> None:
        self._state: OrderState | None = None
        self._events: list[EventEnvelope] = []
        self._correlation_id = ""

    @workflow.run
    async def run(self, order_input: RawValue = _NO_INPUT) -> OrderState:
        order = self._read_order(order_input)
        info = workflow.info()
        # The start request is the command that caused the first event; its id also
        # correlates the whole order unless the caller brought a correlation id of its own.
        start_command_id = info.run_id
        self._correlation_id = order.correlation_id or start_command_id
        self._state = OrderState(order_id=order.order_id)
        workflow.upsert_search_attributes(
            [CUSTOMER_ID.value_set(order.customer_id), ORDER_TOTAL.value_set(float(order.total_amount))]
        )

        self._record(
            OrderReceived(
                order_id=order.order_id,
                customer_id=order.customer_id,
                items=order.items,
                total_amount=order.total_amount,
            ),
            created_by=WORKFLOW_TYPE,
            causation_id=start_command_id,
        )

        validated = await workflow.execute_activity_method(
            OrderActivities.validate_order,
            ValidateOrder(order_id=order.order_id, items=order.items, total_amount=order.total_amount),
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=_VALIDATION_RETRY,
            summary=f"Validate {len(order.items)} item(s) against the total {order.total_amount}",
        )
        self._record(validated, created_by="validate_order")
        if not validated.validation_result.is_valid:
            return self._state

        payment = await workflow.execute_activity_method(
            OrderActivities.process_payment,
            ProcessPayment(
                order_id=order.order_id,
                customer_id=order.customer_id,
                amount=order.total_amount,
                idempotency_key=f"{info.workflow_id}-payment",
            ),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=_EXTERNAL_SYSTEM_RETRY,
            summary=f"Charge {order.total_amount} to {order.customer_id}",
        )
        self._record(payment, created_by="process_payment")

        # Pending means a person must decide. The order waits durably (no timer, no
        # polling) and keeps answering queries; decisions arrive as updates.
        await workflow.wait_condition(lambda: self._state.payment_status is not PaymentStatus.PENDING)
        if self._state.payment_status is not PaymentStatus.COMPLETED:
            return self._state

        reserved = await workflow.execute_activity_method(
            OrderActivities.reserve_inventory,
            ReserveInventory(
                order_id=order.order_id, items=order.items, idempotency_key=f"{info.workflow_id}-reservation"
            ),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=_EXTERNAL_SYSTEM_RETRY,
            summary=f"Reserve stock for {len(order.items)} line(s)",
        )
        self._record(reserved, created_by="reserve_inventory")

        fulfilled = await workflow.execute_activity_method(
            OrderActivities.fulfill_order,
            FulfillOrder(
                order_id=order.order_id,
                reservations=reserved.reservations,
                idempotency_key=f"{info.workflow_id}-fulfillment",
            ),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=_EXTERNAL_SYSTEM_RETRY,
            summary=f"Ship {len(reserved.reservations)} reservation(s)",
        )
        self._record(fulfilled, created_by="fulfill_order")
        return self._state

    @workflow.query
    def state(self) -> OrderState:
        return self._current_state()

    @workflow.query
    def events(self, request: EventsQuery | None = None) -> list[EventEnvelope]:
        """The envelopes from `from_version` on, at most `limit` of them, in version order."""
        request = request or EventsQuery()
        return read_window(self._events, request.from_version, request.limit)

    @workflow.query
    def state_at(self, request: StateAtQuery | None = None) -> OrderState:
        """Time travel: the state after `version`, or as of the time `at`; the latest if neither."""
        request = request or StateAtQuery()
        return state_as_of(self._current_state().order_id, self._events, request.version, request.at)

    def _current_state(self) -> OrderState:
        if self._state is None:
            raise ApplicationError("The order has no state: its input was never read", type=MALFORMED_ORDER_INPUT)
        return self._state

    def _read_order(self, order_input: RawValue) -> OrderInput:
        """Structurally broken input fails the workflow at once, naming the field.

        Decoding inside the workflow (rather than letting the SDK decode the argument)
        is what turns a bad payload from any client into a closed, explained failure
        instead of a workflow task that is retried forever.
        """
        if order_input is _NO_INPUT:
            raise ApplicationError(
                "Malformed order input: the start request carried no order", type=MALFORMED_ORDER_INPUT, non_retryable=True
            )
        try:
            order = workflow.payload_converter().from_payload(order_input.payload, OrderInput)
        except pydantic.ValidationError as err:
            raise ApplicationError(
                f"Malformed order input: {describe_validation_error(err)}",
                type=MALFORMED_ORDER_INPUT,
                non_retryable=True,
            ) from None
        except Exception as err:  # not JSON, or an encoding no converter reads
            raise ApplicationError(
                f"Malformed order input: {err}", type=MALFORMED_ORDER_INPUT, non_retryable=True
            ) from None
        expected_id = workflow_id_for(order.order_id)
        if workflow.info().workflow_id != expected_id:
            raise ApplicationError(
                f"Malformed order input: workflow id {workflow.info().workflow_id!r} does not match "
                f"order_id {order.order_id!r}; start it as {expected_id!r}",
                type=MALFORMED_ORDER_INPUT,
                non_retryable=True,
            )
        return order

    def _record(self, event: DomainEvent, *, created_by: str, causation_id: str | None = None) -> None:
        """Put `event` in its envelope, fold it into the state and write it into the history."""
        state = self._current_state()
        envelope = EventEnvelope(
            event_id=workflow.uuid4(),
            stream_id=state.order_id,
            event_type=type(event).__name__,
            version=state.version + 1,
            schema_version=event.SCHEMA_VERSION,
            correlation_id=self._correlation_id,
            causation_id=causation_id or str(self._events[-1].event_id),
            created_by=created_by,
            created_at=workflow.now(),
            data=event,
        )
        self._state = apply_event(state, envelope)
        self._events.append(envelope)
        workflow.upsert_memo({DOMAIN_EVENT_MEMO_KEY: envelope})
        if self._state.status is not state.status:
            workflow.upsert_search_attributes([ORDER_STATUS.value_set(self._state.status.value)])
        workflow.set_current_details(_describe(self._state))
        workflow.logger.info("Order %s v%s %s", state.order_id, envelope.version, envelope.event_type)


def _describe(state: OrderState) -> str:
    """A few lines of Markdown for the Web UI's current details."""
    lines = [f"**{state.status.value}** at version {state.version}", f"Customer {state.customer_id}, total {state.total_amount}"]
    if state.validation_errors:
        lines.append("Errors: " + "; ".join(state.validation_errors))
    if state.warnings:
        lines.append("Warnings: " + "; ".join(state.warnings))
    if state.payment_id:
        lines.append(f"Payment {state.payment_id} ({state.payment_status.value})")
    if state.tracking_number:
        lines.append(f"Tracking {state.tracking_number}")
    return "\n\n".join(lines)
