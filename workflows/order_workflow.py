"""One order, one workflow: its history is the order's event store.

Determinism: ids, times and randomness come only from `workflow.uuid4()` and
`workflow.now()`; there is no I/O here and no configuration is read. A change that
would alter the commands of a recorded history goes behind `workflow.patched()`.

Decisions arrive as updates. Their validators refuse, before anything is written to
history, what the order's state does not allow (`domain.decisions.refusal`). A
cancellation is carried out by the main flow at its next step boundary, which undoes
what was done in reverse order: release the stock, refund or void the payment, then
record OrderCancelled.
"""

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue, RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    import pydantic

    from activities.order_activities import OrderActivities
    from activities.requests import (
        FulfillOrder,
        ProcessPayment,
        RefundPayment,
        ReleaseInventory,
        ReserveInventory,
        ScreenForFraud,
        SettlePayment,
        ValidateOrder,
    )
    from domain import (
        DomainEvent,
        EventEnvelope,
        OrderCancelled,
        OrderInput,
        OrderReceived,
        OrderState,
        OrderStatus,
        PaymentStatus,
        apply_event,
        describe_validation_error,
        needs_fraud_screening,
        read_window,
        state_as_of,
    )
    from domain.decisions import ApprovePayment, CancelOrder, RejectPayment, refusal
    from workflows.contract import (
        CUSTOMER_ID,
        DECISION_REFUSED,
        DOMAIN_EVENT_MEMO_KEY,
        MALFORMED_INPUT,
        MALFORMED_ORDER_INPUT,
        ORDER_STATUS,
        ORDER_TOTAL,
        OUT_OF_STOCK,
        WORKFLOW_TYPE,
        EventsQuery,
        StateAtQuery,
        workflow_id_for,
    )

# Stands in for a start request that carried no input at all, so that case fails the
# workflow with a clear message instead of failing every workflow task with a TypeError.
NO_INPUT = RawValue(Payload())

# Orders recorded before the approval timeout existed waited for a decision with no
# timer; replaying them must not start one.
APPROVAL_TIMEOUT_PATCH = "approval-timeout"
# Orders recorded before fraud screening existed paid without being screened.
FRAUD_SCREENING_PATCH = "fraud-screening"

# Validation is pure computation: anything that fails it is transient (a worker died).
_VALIDATION_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10))
# Gateways and warehouses answer an idempotency key with their first answer, so a
# retry after a timeout can never charge, reserve or ship twice: retry until it answers.
# Compensation uses it too: a refund that fails transiently is retried until it happens.
_EXTERNAL_SYSTEM_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=1)
)
_EXTERNAL_CALL_TIMEOUT = timedelta(seconds=30)

DecisionT = TypeVar("DecisionT", bound=pydantic.BaseModel)


@dataclass(frozen=True)
class _Cancellation:
    reason: str
    created_by: str
    causation_id: str | None  # None: caused by the latest event


@workflow.defn(name=WORKFLOW_TYPE)
class OrderWorkflow:
    def __init__(self) -> None:
        self._state: OrderState | None = None
        self._events: list[EventEnvelope] = []
        self._correlation_id = ""
        self._cancellation: _Cancellation | None = None
        self._decision_in_progress = False
        self._fulfilment_started = False
        self._closing = False

    @workflow.run
    async def run(self, order_input: RawValue = NO_INPUT) -> OrderState:
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
        if await self._cancelled_if_requested() or not validated.validation_result.is_valid:
            return await self._finish()

        if self._takes_fraud_screening(order):
            screening = await self._external_call(
                OrderActivities.screen_for_fraud,
                ScreenForFraud(order_id=order.order_id, customer_id=order.customer_id, amount=order.total_amount),
                summary=f"Screen {order.customer_id} for fraud before charging {order.total_amount}",
            )
            if not screening.passed and self._cancellation is None:
                self._cancellation = _Cancellation(
                    f"Failed fraud screening: {screening.reason}", "screen_for_fraud", None
                )
            if await self._cancelled_if_requested():
                return await self._finish()

        payment = await self._external_call(
            OrderActivities.process_payment,
            ProcessPayment(
                order_id=order.order_id,
                customer_id=order.customer_id,
                amount=order.total_amount,
                idempotency_key=self._key("payment"),
            ),
            summary=f"Charge {order.total_amount} to {order.customer_id}",
        )
        self._record(payment, created_by="process_payment")
        if payment.status is PaymentStatus.PENDING:
            await self._wait_for_payment_decision(order.approval_timeout)
        if await self._cancelled_if_requested() or self._state.status is not OrderStatus.PAYMENT_COMPLETED:
            return await self._finish()

        try:
            reserved = await self._external_call(
                OrderActivities.reserve_inventory,
                ReserveInventory(order_id=order.order_id, items=order.items, idempotency_key=self._key("reservation")),
                summary=f"Reserve stock for {len(order.items)} line(s)",
            )
        except ActivityError as err:
            if not (isinstance(err.cause, ApplicationError) and err.cause.type == OUT_OF_STOCK):
                raise
            self._cancellation = self._cancellation or _Cancellation(err.cause.message, "reserve_inventory", None)
            await self._cancelled_if_requested()
            return await self._finish()
        self._record(reserved, created_by="reserve_inventory")

        if order.cancellation_window > timedelta(0):
            # Shops hold an order for a while before the warehouse starts on it.
            try:
                await workflow.wait_condition(
                    lambda: self._cancellation is not None,
                    timeout=order.cancellation_window,
                    timeout_summary="cancellation window",
                )
            except asyncio.TimeoutError:
                pass
        if await self._cancelled_if_requested():
            return await self._finish()

        self._fulfilment_started = True
        fulfilled = await self._external_call(
            OrderActivities.fulfill_order,
            FulfillOrder(order_id=order.order_id, reservations=reserved.reservations, idempotency_key=self._key("fulfillment")),
            summary=f"Ship {len(reserved.reservations)} reservation(s)",
        )
        self._record(fulfilled, created_by="fulfill_order")
        return await self._finish()

    def _takes_fraud_screening(self, order: OrderInput) -> bool:
        # Orders recorded before screening existed went straight to payment; replaying
        # them must not schedule a screening. `patched` is asked only for orders the
        # rule selects, so orders below the threshold carry no marker either way.
        return needs_fraud_screening(order.total_amount) and workflow.patched(FRAUD_SCREENING_PATCH)

    # -- Decisions -------------------------------------------------------------------

    @workflow.update
    async def approve_payment(self, request: RawValue = NO_INPUT) -> OrderState:
        decision = self._refuse_if_not_allowed(request, ApprovePayment)
        self._decision_in_progress = True
        try:
            captured = await self._external_call(
                OrderActivities.capture_payment,
                SettlePayment(order_id=self._current_state().order_id, idempotency_key=self._key("payment")),
                summary=f"Capture the payment approved by {decision.approver}",
            )
            self._record(captured, created_by=decision.approver, causation_id=workflow.current_update_info().id)
        finally:
            self._decision_in_progress = False
        return self._current_state()

    @workflow.update
    async def reject_payment(self, request: RawValue = NO_INPUT) -> OrderState:
        decision = self._refuse_if_not_allowed(request, RejectPayment)
        return await self._request_cancellation(
            f"Payment rejected by {decision.approver}: {decision.reason}", created_by=decision.approver
        )

    @workflow.update
    async def cancel_order(self, request: RawValue = NO_INPUT) -> OrderState:
        decision = self._refuse_if_not_allowed(request, CancelOrder)
        return await self._request_cancellation(decision.reason, created_by=decision.requested_by or "cancel_order")

    @approve_payment.validator
    def _validate_approval(self, request: RawValue = NO_INPUT) -> None:
        self._refuse_if_not_allowed(request, ApprovePayment)

    @reject_payment.validator
    def _validate_rejection(self, request: RawValue = NO_INPUT) -> None:
        self._refuse_if_not_allowed(request, RejectPayment)

    @cancel_order.validator
    def _validate_cancellation(self, request: RawValue = NO_INPUT) -> None:
        self._refuse_if_not_allowed(request, CancelOrder)

    def _refuse_if_not_allowed(self, request: RawValue, kind: type[DecisionT]) -> DecisionT:
        """The decision, read and checked; a malformed or disallowed one is refused.

        Run by the validator, before anything reaches history, and again as the handler
        starts: two decisions that arrive in one workflow task both pass their
        validators before either handler runs.
        """
        decision = _read_argument(request, kind, default_if_missing=False)
        reason = refusal(
            self._current_state(),
            decision,
            decision_in_progress=self._decision_in_progress,
            cancellation_requested=self._cancellation is not None,
            fulfilment_started=self._fulfilment_started,
        )
        if reason:
            raise ApplicationError(reason, type=DECISION_REFUSED, non_retryable=True)
        return decision

    async def _request_cancellation(self, reason: str, *, created_by: str) -> OrderState:
        self._cancellation = _Cancellation(reason, created_by, workflow.current_update_info().id)
        # The main flow carries it out at its next step boundary.
        await workflow.wait_condition(lambda: self._state.status is OrderStatus.CANCELLED or self._closing)
        if self._state.status is not OrderStatus.CANCELLED:
            raise ApplicationError(
                f"order {self._state.order_id} ended {self._state.status.value} before it could be cancelled",
                type=DECISION_REFUSED,
                non_retryable=True,
            )
        return self._state

    async def _wait_for_payment_decision(self, approval_timeout: timedelta) -> None:
        def decided() -> bool:
            return self._state.payment_status is not PaymentStatus.PENDING or self._cancellation is not None

        if not workflow.patched(APPROVAL_TIMEOUT_PATCH):
            await workflow.wait_condition(decided)
            return
        try:
            await workflow.wait_condition(decided, timeout=approval_timeout, timeout_summary="approval timeout")
        except asyncio.TimeoutError:
            # An approval already under way when time ran out is let finish.
            await workflow.wait_condition(lambda: not self._decision_in_progress)
            if not decided():
                self._cancellation = _Cancellation(
                    f"No payment decision within {approval_timeout}", WORKFLOW_TYPE, None
                )

    # -- Compensation ----------------------------------------------------------------

    async def _cancelled_if_requested(self) -> bool:
        """Carry out a requested cancellation, undoing what was done in reverse order."""
        if self._cancellation is None:
            return False
        state = self._current_state()
        if state.reservations:
            await self._external_call(
                OrderActivities.release_inventory,
                ReleaseInventory(order_id=state.order_id, idempotency_key=self._key("reservation")),
                summary=f"Release the stock of {len(state.reservations)} reservation(s)",
            )
        refunded = None
        if state.payment_status is PaymentStatus.COMPLETED:
            refund = await self._external_call(
                OrderActivities.refund_payment,
                RefundPayment(
                    order_id=state.order_id,
                    payment_id=state.payment_id,
                    amount=state.total_amount,
                    idempotency_key=self._key("refund"),
                ),
                summary=f"Refund {state.total_amount} of {state.payment_id}",
            )
            refunded = refund.amount
        elif state.payment_status is PaymentStatus.PENDING:
            await self._external_call(
                OrderActivities.void_payment,
                SettlePayment(order_id=state.order_id, idempotency_key=self._key("payment")),
                summary=f"Void the authorisation {state.payment_id}",
            )
        # Recorded only now: the stream never claims a refund that did not happen.
        self._record(
            OrderCancelled(order_id=state.order_id, reason=self._cancellation.reason, refund_amount=refunded),
            created_by=self._cancellation.created_by,
            causation_id=self._cancellation.causation_id,
        )
        return True

    async def _finish(self) -> OrderState:
        self._closing = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._current_state()

    # -- Queries ---------------------------------------------------------------------

    @workflow.query
    def state(self) -> OrderState:
        return self._current_state()

    @workflow.query
    def events(self, request: RawValue = NO_INPUT) -> list[EventEnvelope]:
        """The envelopes from `from_version` on, at most `limit` of them, in version order."""
        window = _read_argument(request, EventsQuery)
        return read_window(self._events, window.from_version, window.limit)

    @workflow.query
    def state_at(self, request: RawValue = NO_INPUT) -> OrderState:
        """Time travel: the state after `version`, or as of the time `at`; the latest if neither."""
        moment = _read_argument(request, StateAtQuery)
        return state_as_of(self._current_state().order_id, self._events, moment.version, moment.at)

    # -- Plumbing --------------------------------------------------------------------

    def _key(self, step: str) -> str:
        """The idempotency key of one side effect, derived from the workflow id."""
        return f"{workflow.info().workflow_id}-{step}"

    async def _external_call(self, activity, request, *, summary: str):
        return await workflow.execute_activity_method(
            activity,
            request,
            start_to_close_timeout=_EXTERNAL_CALL_TIMEOUT,
            retry_policy=_EXTERNAL_SYSTEM_RETRY,
            summary=summary,
        )

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
        if order_input is NO_INPUT:
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


def _read_argument(raw: RawValue, kind: type[DecisionT], *, default_if_missing: bool = True) -> DecisionT:
    """Decode a handler's argument ourselves, so a malformed one is refused with the
    fields named, where the SDK could only say "Failed decoding arguments"."""
    if raw is NO_INPUT or raw.payload.metadata.get("encoding") == b"binary/null":
        if default_if_missing:
            return kind()
        raise ApplicationError(f"Malformed {kind.__name__}: no input given", type=MALFORMED_INPUT, non_retryable=True)
    try:
        return workflow.payload_converter().from_payload(raw.payload, kind)
    except pydantic.ValidationError as err:
        raise ApplicationError(
            f"Malformed {kind.__name__}: {describe_validation_error(err)}", type=MALFORMED_INPUT, non_retryable=True
        ) from None
    except Exception as err:  # not JSON, or an encoding no converter reads
        raise ApplicationError(f"Malformed {kind.__name__}: {err}", type=MALFORMED_INPUT, non_retryable=True) from None


def _describe(state: OrderState) -> str:
    """A few lines of Markdown for the Web UI's current details."""
    lines = [f"**{state.status.value}** at version {state.version}", f"Customer {state.customer_id}, total {state.total_amount}"]
    if state.validation_errors:
        lines.append("Errors: " + "; ".join(state.validation_errors))
    if state.warnings:
        lines.append("Warnings: " + "; ".join(state.warnings))
    if state.payment_id:
        lines.append(f"Payment {state.payment_id} ({state.payment_status.value})")
    if state.status is OrderStatus.PAYMENT_PENDING:
        lines.append("Waiting for `approve_payment` or `reject_payment`")
    if state.tracking_number:
        lines.append(f"Tracking {state.tracking_number}")
    if state.cancellation_reason:
        lines.append(f"Cancelled: {state.cancellation_reason}; refund {state.refund_amount or 'none'}")
    return "\n\n".join(lines)
