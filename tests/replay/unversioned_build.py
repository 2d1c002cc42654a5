"""The last unversioned build of OrderWorkflow (main at 637a6ac, before its patches were
retired), frozen: every change it took behind `workflow.patched`, all six branches in
place. It is the code that serves the histories recorded before today's build, and
the replay suite replays them against it (tests/replay/test_golden_histories.py), as
Worker Versioning would serve them from that build's workers (docs/deploying.md).

Kept as it was, but for its class name and this docstring; never changed again.
"""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any, NoReturn, TypeVar

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy, SearchAttributeUpdate, VersioningBehavior
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
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
    from contract import (
        APPROVE_PAYMENT,
        CANCEL_ORDER,
        CUSTOMER_ID,
        DECISION_REFUSED,
        DOMAIN_EVENT_MEMO_KEY,
        FULFILLMENT,
        ORDER_STATUS,
        ORDER_TOTAL,
        ORDER_UPDATED_AT,
        ORDER_VERSION,
        OUT_OF_STOCK,
        PAYMENT,
        REFUND,
        REJECT_PAYMENT,
        RESERVATION,
        STEP_FAILED,
        WORKFLOW_TYPE,
        EventsQuery,
        StateAtQuery,
        idempotency_key,
    )
    from contract.metrics import OrderMetrics
    from domain import (
        DomainEvent,
        EventEnvelope,
        OrderCancelled,
        OrderInput,
        OrderReceived,
        OrderState,
        OrderStatus,
        OrderStream,
        OrderValidated,
        PaymentProcessed,
        PaymentStatus,
        apply_event,
        needs_fraud_screening,
    )
    from domain.decisions import ApprovePayment, CancelOrder, Decision, RejectPayment, refusal
    from views import web_ui_details
    from workflows.cancellation import CANCEL_REQUEST, Cancellation, CancellationDue, stopped_by, this_update
    from workflows.inputs import NO_INPUT, OneOrderPerStart, read_argument, read_order

# Orders recorded before the approval timeout existed waited for a decision with no
# timer; replaying them must not start one.
APPROVAL_TIMEOUT_PATCH = "approval-timeout"
# Orders recorded before fraud screening existed paid without being screened.
FRAUD_SCREENING_PATCH = "fraud-screening"
# Orders recorded before this change ended on an unexpected failure with nothing
# undone; replaying them must not compensate.
COMPENSATE_ON_FAILURE_PATCH = "compensate-on-failure"
# Orders recorded before this change stopped dead when Temporal was asked to cancel
# them (the Web UI's button, `temporal workflow cancel`), undoing nothing.
CANCEL_REQUEST_PATCH = "cancel-request-unwinds"
# Orders recorded before this change validated in a normal activity (a round trip
# through the server), set their search attributes themselves, and upserted OrderStatus
# at every event; replaying them must issue those commands the same way.
FEWER_ROUND_TRIPS_PATCH = "fewer-round-trips"
# Orders recorded before this change published their status alone; today's also publish
# OrderVersion and OrderUpdatedAt with it, in the same upsert, for the projector.
PROJECTION_CLOCK_PATCH = "projection-clock"

# Under Worker Versioning, each order runs to its end on the build that started it: an
# order lives seconds, or as long as its approval may wait (48 hours by default), and a
# build that served it is kept until its last order ends (`orders deployments` says when).
# A new build never replays an older build's orders, so its changes need no patch for
# them. (Auto-upgrade would move every open order to the new build at its next task, a
# patch for each change again.) Workers apply it as their default (hosting.build_worker):
# a behaviour declared on the workflow itself would be refused from unversioned workers.
VERSIONING_BEHAVIOR = VersioningBehavior.PINNED

# Validation is pure computation: anything that fails it is transient (a worker died).
_VALIDATION_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10))
_VALIDATION_TIMEOUT = timedelta(seconds=10)
# Gateways and warehouses answer an idempotency key with their first answer, so a
# retry after a timeout can never charge, reserve or ship twice: retry until it answers.
# Compensation uses it too: a refund that fails transiently is retried until it happens.
_EXTERNAL_SYSTEM_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_interval=timedelta(minutes=1)
)
_EXTERNAL_CALL_TIMEOUT = timedelta(seconds=30)
# Undoes one step; returns the amount it refunded, if it refunded anything.
Undo = Callable[[], Awaitable[Decimal | None]]
ResultT = TypeVar("ResultT")


@workflow.defn(name=WORKFLOW_TYPE)
class UnversionedOrderWorkflow(metaclass=OneOrderPerStart):
    @workflow.init
    def __init__(self, order_input: RawValue = NO_INPUT) -> None:
        self._order = read_order(order_input)
        # The start request is the command that caused the first event; its id also
        # correlates the whole order unless the caller brought a correlation id of its own.
        self._start_command_id = workflow.info().run_id
        self._correlation_id = self._order.correlation_id or self._start_command_id
        self._state = OrderState(order_id=self._order.order_id)
        self._events: list[EventEnvelope] = []
        self._undo: list[Undo] = []
        self._cancellation: Cancellation | None = None
        self._decision_in_progress = False
        self._fulfillment_started = False
        self._closing = False
        self._fewer_round_trips = False
        # Search attributes decided but not yet upserted, and OrderStatus as the server has it.
        self._unpublished: dict[str, SearchAttributeUpdate[Any]] = {}
        self._published_status: str | None = None
        self._publishes_version = False
        self._published_version = 0
        # Replay-safe: the SDK records nothing while a history is being replayed.
        self._metrics = OrderMetrics(workflow.metric_meter())

    @workflow.run
    async def run(self, order_input: RawValue = NO_INPUT) -> OrderState:
        self._metrics.started()
        try:
            await self._take(self._order)
        except CancellationDue as due:
            await self._unwind(due.cancellation)
            if due.cancellation is CANCEL_REQUEST:
                await self._finish()
                # Made whole first; the workflow then ends as the requester asked: cancelled.
                raise asyncio.CancelledError(CANCEL_REQUEST.reason) from None
        except (ActivityError, ApplicationError) as failure:
            if not self._compensates_failures():
                raise
            step, self._cancellation = stopped_by(failure)
            await self._unwind(self._cancellation)
            await self._finish()
            # The order is made whole; the fault stays visible as the workflow's outcome.
            # A new, bounded failure: the original, in full, is in the history already.
            raise ApplicationError(self._cancellation.reason, step, type=STEP_FAILED, non_retryable=True) from None
        return await self._finish()

    async def _take(self, order: OrderInput) -> None:
        """The order's story, step by step. Returns early where the order ends by itself."""
        self._publishes_version = self._publishes_the_projection_clock()
        self._fewer_round_trips = self._takes_fewer_round_trips()
        self._set_search_attributes_the_start_left_out(order)
        self._record(
            OrderReceived(
                order_id=order.order_id,
                customer_id=order.customer_id,
                items=order.items,
                total_amount=order.total_amount,
            ),
            created_by=WORKFLOW_TYPE,
            causation_id=self._start_command_id,
        )

        # A local activity: this workflow task goes on after it, nothing to publish yet.
        validated = await self._let_finish(self._validate(order), publish=not self._fewer_round_trips)
        self._record(validated, created_by="validate_order")
        self._checkpoint()
        if not validated.validation_result.is_valid:
            return

        if self._takes_fraud_screening(order):
            screening = await self._call(
                OrderActivities.screen_for_fraud,
                ScreenForFraud(order_id=order.order_id, customer_id=order.customer_id, amount=order.total_amount),
                summary=f"Screen {order.customer_shown} for fraud before charging {order.total_amount}",
            )
            if not screening.passed:
                self._cancel_at_once(
                    Cancellation(f"Failed fraud screening: {screening.reason}", "screen_for_fraud", None)
                )
            self._checkpoint()

        payment = await self._call(
            OrderActivities.process_payment,
            ProcessPayment(
                order_id=order.order_id,
                customer_id=order.customer_id,
                amount=order.total_amount,
                idempotency_key=self._key(PAYMENT),
            ),
            summary=f"Charge {order.total_amount} to {order.customer_shown}",
        )
        self._record(payment, created_by="process_payment")
        self._undo.append(self._give_the_money_back)
        if payment.status is PaymentStatus.PENDING:
            await self._wait_for_payment_decision(order.approval_timeout)
        self._checkpoint()
        if self._state.status is not OrderStatus.PAYMENT_COMPLETED:
            return  # the payment failed: nothing was taken

        try:
            reserved = await self._call(
                OrderActivities.reserve_inventory,
                ReserveInventory(order_id=order.order_id, items=order.items, idempotency_key=self._key(RESERVATION)),
                summary=f"Reserve stock for {len(order.items)} line(s)",
            )
        except ActivityError as err:
            if not (isinstance(err.cause, ApplicationError) and err.cause.type == OUT_OF_STOCK):
                raise
            self._cancel_at_once(Cancellation(err.cause.message, "reserve_inventory", None))
        self._record(reserved, created_by="reserve_inventory")
        self._undo.append(self._release_the_stock)

        if order.cancellation_window > timedelta(0):
            # Shops hold an order for a while before the warehouse starts on it.
            await self._wait(
                lambda: self._cancellation is not None,
                timeout=order.cancellation_window,
                timeout_summary="cancellation window",
            )
        self._checkpoint()

        self._fulfillment_started = True
        fulfilled = await self._call(
            OrderActivities.fulfill_order,
            FulfillOrder(
                order_id=order.order_id, reservations=reserved.reservations, idempotency_key=self._key(FULFILLMENT)
            ),
            summary=f"Ship {len(reserved.reservations)} reservation(s)",
        )
        self._record(fulfilled, created_by="fulfill_order")

    def _set_search_attributes_the_start_left_out(self, order: OrderInput) -> None:
        """Our clients set CustomerId, OrderTotal and OrderStatus as they start an order,
        which costs no command here; a start by any other client is completed here."""
        given = workflow.info().typed_search_attributes
        # Orders whose client keeps the customer id or the total off the server say so.
        wanted: list[SearchAttributeUpdate[Any]] = [CUSTOMER_ID.value_set(order.customer_shown)]
        if order.publish_total:
            wanted.append(ORDER_TOTAL.value_set(float(order.total_amount)))
        if not self._fewer_round_trips:
            workflow.upsert_search_attributes(wanted)
            return
        self._published_status = given.get(ORDER_STATUS)
        for update in wanted:
            if given.get(update.key) != update.value:
                self._unpublished[update.key.name] = update

    def _validate(self, order: OrderInput) -> workflow.ActivityHandle[OrderValidated]:
        """Validation is pure computation: a local activity, run by this worker in this
        workflow task, with no round trip through the server. Orders recorded before ran
        it as a normal activity, and replay the same way."""
        request = ValidateOrder(order_id=order.order_id, items=order.items, total_amount=order.total_amount)
        summary = f"Validate {len(order.items)} item(s) against the total {order.total_amount}"
        if self._fewer_round_trips:
            return workflow.start_local_activity_method(
                OrderActivities.validate_order,
                request,
                start_to_close_timeout=_VALIDATION_TIMEOUT,
                retry_policy=_VALIDATION_RETRY,
                summary=summary,
            )
        return workflow.start_activity_method(
            OrderActivities.validate_order,
            request,
            start_to_close_timeout=_VALIDATION_TIMEOUT,
            retry_policy=_VALIDATION_RETRY,
            summary=summary,
        )

    # Each change below was made while orders it would alter were open. Orders recorded
    # since the newest change (PROJECTION_CLOCK_PATCH) were recorded by code that had
    # all the older ones too: for them no older patch is asked, which spares their
    # history a marker each, and keeps every marker ahead of the local activity in the
    # first workflow task (a marker after a local activity's, in one workflow task, does
    # not replay: the core meets it before the code that asks for it has run).

    def _publishes_the_projection_clock(self) -> bool:
        return workflow.patched(PROJECTION_CLOCK_PATCH)

    def _takes_fewer_round_trips(self) -> bool:
        return self._publishes_version or workflow.patched(FEWER_ROUND_TRIPS_PATCH)

    def _compensates_failures(self) -> bool:
        # Asked only once a step has failed: orders that never fail carry no marker.
        return self._fewer_round_trips or workflow.patched(COMPENSATE_ON_FAILURE_PATCH)

    def _takes_fraud_screening(self, order: OrderInput) -> bool:
        # Orders recorded before screening existed went straight to payment; replaying
        # them must not schedule a screening. `patched` is asked only for orders the
        # rule selects, so orders below the threshold carry no marker either way.
        if not needs_fraud_screening(order.total_amount):
            return False
        return self._fewer_round_trips or workflow.patched(FRAUD_SCREENING_PATCH)

    def _times_out_approvals(self) -> bool:
        # Orders recorded before the approval timeout existed waited with no timer.
        return self._fewer_round_trips or workflow.patched(APPROVAL_TIMEOUT_PATCH)

    # -- Cancellation and compensation -------------------------------------------------

    def _checkpoint(self) -> None:
        """Where a cancellation asked for since the last step takes effect."""
        if self._cancellation is not None:
            raise CancellationDue(self._cancellation)

    def _cancel_at_once(self, cancellation: Cancellation) -> NoReturn:
        """The order cannot go on: cancel it now, unless a cancellation already waits."""
        self._cancellation = self._cancellation or cancellation
        raise CancellationDue(self._cancellation)

    async def _unwind(self, cancellation: Cancellation) -> None:
        """Undo what was done, newest first; then record OrderCancelled, once."""
        refunded = None
        while self._undo:
            undo = self._undo.pop()
            refunded = await undo() or refunded
            self._metrics.compensated(undo.__name__.strip("_"))
        # Recorded only now: the stream never claims a refund that did not happen.
        self._record(
            OrderCancelled(order_id=self._state.order_id, reason=cancellation.reason, refund_amount=refunded),
            created_by=cancellation.created_by,
            causation_id=cancellation.causation_id,
        )

    async def _give_the_money_back(self) -> Decimal | None:
        """Refund a captured payment, void an authorised one; a failed payment took nothing."""
        state = self._state
        if state.payment_status is PaymentStatus.COMPLETED:
            refund = await self._call(
                OrderActivities.refund_payment,
                RefundPayment(
                    order_id=state.order_id,
                    payment_id=state.payment_id,
                    amount=state.total_amount,
                    idempotency_key=self._key(REFUND),
                ),
                summary=f"Refund {state.total_amount} of {state.payment_id}",
            )
            return refund.amount
        if state.payment_status is PaymentStatus.PENDING:
            await self._call(
                OrderActivities.void_payment,
                SettlePayment(order_id=state.order_id, idempotency_key=self._key(PAYMENT)),
                summary=f"Void the authorisation {state.payment_id}",
            )
        return None

    async def _release_the_stock(self) -> None:
        if self._state.reservations:
            await self._call(
                OrderActivities.release_inventory,
                ReleaseInventory(order_id=self._state.order_id, idempotency_key=self._key(RESERVATION)),
                summary=f"Release the stock of {len(self._state.reservations)} reservation(s)",
            )

    async def _finish(self) -> OrderState:
        self._closing = True
        await self._wait(workflow.all_handlers_finished)
        # One line an order at INFO; every event is at DEBUG.
        workflow.logger.info(
            "Order %s ended %s at version %s",
            self._state.order_id,
            self._state.status,
            self._state.version,
            extra=self._log_context(self._state.version),
        )
        if self._state.status is not None:
            self._metrics.ended(self._state.status.value)
        return self._state

    def log_context(self) -> dict[str, object]:
        """What every log line of this order carries (see observability.logs); read by
        the worker's interceptor too, which hands the correlation id to activities."""
        return {"order_id": self._state.order_id, "correlation_id": self._correlation_id}

    def _log_context(self, version: int) -> dict[str, object]:
        return {**self.log_context(), "event_version": version}

    # -- Decisions -------------------------------------------------------------------

    @workflow.update(name=APPROVE_PAYMENT)
    async def approve_payment(self, request: RawValue = NO_INPUT) -> OrderState:
        decision = self._refuse_if_not_allowed(request, ApprovePayment)
        self._decision_in_progress = True
        try:
            captured = await self._call(
                OrderActivities.capture_payment,
                SettlePayment(order_id=self._state.order_id, idempotency_key=self._key(PAYMENT)),
                summary=f"Capture the payment approved by {decision.approver}",
            )
            self._record(captured, created_by=decision.approver, causation_id=this_update())
        finally:
            self._decision_in_progress = False
        return self._state

    @workflow.update(name=REJECT_PAYMENT)
    async def reject_payment(self, request: RawValue = NO_INPUT) -> OrderState:
        decision = self._refuse_if_not_allowed(request, RejectPayment)
        return await self._ask_to_cancel(
            f"Payment rejected by {decision.approver}: {decision.reason}", created_by=decision.approver
        )

    @workflow.update(name=CANCEL_ORDER)
    async def cancel_order(self, request: RawValue = NO_INPUT) -> OrderState:
        decision = self._refuse_if_not_allowed(request, CancelOrder)
        return await self._ask_to_cancel(decision.reason, created_by=decision.requested_by or "cancel_order")

    @approve_payment.validator
    def _validate_approval(self, request: RawValue = NO_INPUT) -> None:
        self._refuse_if_not_allowed(request, ApprovePayment)

    @reject_payment.validator
    def _validate_rejection(self, request: RawValue = NO_INPUT) -> None:
        self._refuse_if_not_allowed(request, RejectPayment)

    @cancel_order.validator
    def _validate_cancellation(self, request: RawValue = NO_INPUT) -> None:
        self._refuse_if_not_allowed(request, CancelOrder)

    def _refuse_if_not_allowed(self, request: RawValue, kind: type[Decision]) -> Any:
        """The decision, read and checked; a malformed or disallowed one is refused.

        Run by the validator, before anything reaches history, and again as the handler
        starts: two decisions that arrive in one workflow task both pass their
        validators before either handler runs.
        """
        try:
            decision = read_argument(request, kind, default_if_missing=False)
        except ApplicationError:
            self._metrics.refused(kind.__name__, "malformed")
            raise
        reason = refusal(
            self._state,
            decision,
            decision_in_progress=self._decision_in_progress,
            cancellation_requested=self._cancellation is not None,
            fulfillment_started=self._fulfillment_started,
            now=workflow.now(),
        )
        if reason:
            self._metrics.refused(kind.__name__, reason.code)
            raise ApplicationError(reason, type=DECISION_REFUSED, non_retryable=True)
        return decision

    async def _ask_to_cancel(self, reason: str, *, created_by: str) -> OrderState:
        self._cancellation = Cancellation(reason, created_by, this_update())
        # The story takes it up at its next checkpoint.
        await workflow.wait_condition(lambda: self._state.status is OrderStatus.CANCELLED or self._closing)
        if self._state.status is not OrderStatus.CANCELLED:
            self._metrics.refused(CancelOrder.__name__, "ended_first")
            raise ApplicationError(
                f"order {self._state.order_id} ended {self._state.status} before it could be cancelled",
                type=DECISION_REFUSED,
                non_retryable=True,
            )
        return self._state

    async def _wait_for_payment_decision(self, approval_timeout: timedelta) -> None:
        def decided() -> bool:
            return self._state.payment_status is not PaymentStatus.PENDING or self._cancellation is not None

        began = workflow.now()
        await self._wait_for_a_decision(decided, approval_timeout)
        self._metrics.waited_for_approval(workflow.now() - began)

    async def _wait_for_a_decision(self, decided: Callable[[], bool], approval_timeout: timedelta) -> None:
        if not self._times_out_approvals():
            await self._wait(decided)
            return
        if not await self._wait(decided, timeout=approval_timeout, timeout_summary="approval timeout"):
            # An approval already under way when time ran out is let finish.
            await self._wait(lambda: not self._decision_in_progress)
            if not decided():
                self._cancellation = Cancellation(f"No payment decision within {approval_timeout}", WORKFLOW_TYPE, None)

    # -- Queries ---------------------------------------------------------------------

    @workflow.query
    def state(self) -> OrderState:
        return self._state

    @workflow.query
    def events(self, request: RawValue = NO_INPUT) -> list[EventEnvelope]:
        """The envelopes from `from_version` on, at most `limit` of them, in version order."""
        window = read_argument(request, EventsQuery)
        return self._stream().read(window.from_version, window.limit)

    @workflow.query
    def state_at(self, request: RawValue = NO_INPUT) -> OrderState:
        """Time travel: the state after `version`, or as of the time `at`; the latest if neither."""
        moment = read_argument(request, StateAtQuery)
        return self._stream().state_at(moment.version, moment.at)

    def _stream(self) -> OrderStream:
        """The order's stream as every reader sees it, from what this run has recorded."""
        return OrderStream(self._state.order_id, tuple(self._events))

    # -- Plumbing --------------------------------------------------------------------

    def _key(self, effect: str) -> str:
        return idempotency_key(workflow.info().workflow_id, effect)

    async def _call(
        self, activity: Callable[[OrderActivities, Any], Awaitable[ResultT]], request: Any, *, summary: str
    ) -> ResultT:
        """A call to an external system, retried until it answers (see _EXTERNAL_SYSTEM_RETRY)."""
        return await self._let_finish(
            workflow.start_activity_method(
                activity,
                request,
                start_to_close_timeout=_EXTERNAL_CALL_TIMEOUT,
                retry_policy=_EXTERNAL_SYSTEM_RETRY,
                summary=summary,
            )
        )

    async def _let_finish(self, step: workflow.ActivityHandle[ResultT], *, publish: bool = True) -> ResultT:
        """The step's result, even if Temporal is asked to cancel the order while it runs.

        A charge or a shipment in flight may already have happened outside; abandoning
        it would leave it undone by nobody. It finishes, is recorded, and the cancel
        request takes effect at the next checkpoint, where it is undone with the rest.
        """
        if publish:
            self._publish_search_attributes()
        while True:
            try:
                return await asyncio.shield(step)
            except asyncio.CancelledError:
                if not self._unwinds_cancel_requests():
                    step.cancel()  # as before: the step is abandoned and the order stops dead
                    return await step
                self._accept_cancel_request()

    async def _wait(
        self,
        condition: Callable[[], bool],
        *,
        timeout: timedelta | None = None,
        timeout_summary: str | None = None,
    ) -> bool:
        """Wait until `condition` holds (True) or `timeout` passes (False). A cancel request
        that arrives meanwhile becomes a cancellation, for the caller's next checkpoint."""
        self._publish_search_attributes()
        try:
            await workflow.wait_condition(condition, timeout=timeout, timeout_summary=timeout_summary)
            return True
        except TimeoutError:
            return False
        except asyncio.CancelledError:
            if not self._unwinds_cancel_requests():
                raise
            self._accept_cancel_request()
            return await self._wait(condition, timeout=timeout, timeout_summary=timeout_summary)

    def _unwinds_cancel_requests(self) -> bool:
        # Asked only when a cancel request arrives: other orders carry no marker.
        return self._fewer_round_trips or workflow.patched(CANCEL_REQUEST_PATCH)

    def _accept_cancel_request(self) -> None:
        """Treat Temporal's cancel request as a cancellation, by the rules a person's
        cancel_order meets: an order that has ended or started shipping goes on."""
        _let_the_task_go_on()
        if refusal(
            self._state, CancelOrder(reason=CANCEL_REQUEST.reason), fulfillment_started=self._fulfillment_started
        ):
            return
        self._cancellation = self._cancellation or CANCEL_REQUEST

    def _publish_search_attributes(self) -> None:
        """Upsert what changed, in one command, where the order is about to wait for the
        server: once a workflow task rather than at every event. Visibility shows where the
        order rests. (Orders recorded before published at every event instead, in _record.)"""
        if not self._fewer_round_trips:
            return
        status = self._state.status.value if self._state.status else None
        if status is not None and status != self._published_status:
            self._unpublished[ORDER_STATUS.name] = ORDER_STATUS.value_set(status)
            self._published_status = status
        if self._publishes_version and self._state.version != self._published_version:
            latest = self._events[-1]
            self._unpublished[ORDER_VERSION.name] = ORDER_VERSION.value_set(latest.version)
            self._unpublished[ORDER_UPDATED_AT.name] = ORDER_UPDATED_AT.value_set(latest.created_at)
            self._published_version = latest.version
        if self._unpublished:
            workflow.upsert_search_attributes(list(self._unpublished.values()))
            self._unpublished.clear()

    def _record(self, event: DomainEvent, *, created_by: str, causation_id: str | None = None) -> None:
        """Put `event` in its envelope, fold it into the state and write it into the history."""
        state = self._state
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
        if not self._fewer_round_trips and self._state.status is not None and self._state.status is not state.status:
            workflow.upsert_search_attributes([ORDER_STATUS.value_set(self._state.status.value)])
        workflow.set_current_details(web_ui_details(self._state))
        self._count(event)
        workflow.logger.debug(
            "Order %s v%s %s",
            state.order_id,
            envelope.version,
            envelope.event_type,
            extra=self._log_context(envelope.version),
        )

    def _count(self, event: DomainEvent) -> None:
        self._metrics.recorded(type(event).__name__)
        if isinstance(event, PaymentProcessed) and event.status is PaymentStatus.COMPLETED:
            self._metrics.charged(event.amount)
        if isinstance(event, OrderCancelled) and event.refund_amount:
            self._metrics.refunded(event.refund_amount)


def _let_the_task_go_on() -> None:
    """Forget the cancellation just caught, so the task's later awaits run normally
    (Python 3.11 counts cancellations on the task; the SDK does the same)."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()
