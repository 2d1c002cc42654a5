"""One order, one workflow: its history is the order's event store.

Determinism: ids, times and randomness come only from `workflow.uuid4()` and
`workflow.now()`; there is no I/O here and no configuration is read. A change that
would alter the commands of a recorded history ships as a new build under Worker
Versioning, each order pinned to the build that started it (docs/deploying.md); one that
must reach orders already open goes behind `workflow.patched()`.

The order's events are where its history holds them anyway (docs/event-store.md): each
step returns its event sealed in the envelope the workflow handed it, so the step's
result is the event; an event the workflow decides alone is a local activity's result,
a marker. Visibility hears of the order where it rests: as it starts, while it waits for
a person, as it ends.

`run` tells the order's story as a straight line of steps (the saga pattern). Each
step that changes something outside registers how to undo it. A cancellation (asked
for by a person, a failed fraud screening, stock running out, an approval that never
came) takes effect at the next checkpoint; a step that fails unexpectedly stops the
order where it is. Either way one path unwinds what was done, newest first, and
records OrderCancelled once: no order ends holding a charge without a shipment or a
refund.

Decisions arrive as updates. Their validators refuse, before anything is written to
history, what the order's state does not allow (`domain.decisions.refusal`). The state
exists before any handler runs (`@workflow.init`), so a decision that arrives with the
start is judged by the same rules as one that arrives later.
"""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any, NoReturn, TypeVar

from temporalio import workflow
from temporalio.common import RawValue, VersioningBehavior
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities import (
        FulfillOrder,
        OrderActivities,
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
        DECISION_REFUSED,
        FULFILLMENT,
        OUT_OF_STOCK,
        PAYMENT,
        REFUND,
        REJECT_PAYMENT,
        RESERVATION,
        STEP_FAILED,
        WORKFLOW_TYPE,
        EventsQuery,
        OrderMetrics,
        StateAtQuery,
        idempotency_key,
    )
    from domain import (
        ApprovePayment,
        CancelOrder,
        Decision,
        DomainEvent,
        EventEnvelope,
        InventoryReserved,
        OrderCancelled,
        OrderFulfilled,
        OrderInput,
        OrderState,
        OrderStatus,
        OrderValidated,
        PaymentProcessed,
        PaymentStatus,
        RejectPayment,
        needs_fraud_screening,
        refusal,
    )
    from workflows import steps
    from workflows.cancellation import CANCEL_REQUEST, Cancellation, CancellationDue, stopped_by, this_update
    from workflows.deciding import checked_decision
    from workflows.inputs import NO_INPUT, OneOrderPerStart, read_argument, read_order
    from workflows.recording import OrderRecord, Visibility

# Under Worker Versioning, each order runs to its end on the build that started it: an
# order lives seconds, or as long as its approval may wait (48 hours by default), and a
# build that served it is kept until its last order ends (`orders deployments` says when).
# A new build never replays an older build's orders, so its changes need no patch for
# them. (Auto-upgrade would move every open order to the new build at its next task, a
# patch for each change again.) Workers apply it as their default (hosting.build_worker):
# a behaviour declared on the workflow itself would be refused from unversioned workers.
VERSIONING_BEHAVIOR = VersioningBehavior.PINNED

# Undoes one step; returns the amount it refunded, if it refunded anything.
Undo = Callable[[], Awaitable[Decimal | None]]
ResultT = TypeVar("ResultT")
EventT = TypeVar("EventT", bound=DomainEvent)


@workflow.defn(name=WORKFLOW_TYPE)
class OrderWorkflow(metaclass=OneOrderPerStart):
    @workflow.init
    def __init__(self, order_input: RawValue = NO_INPUT) -> None:
        self._order = read_order(order_input)
        # Replay-safe: the SDK records nothing while a history is being replayed.
        self._metrics = OrderMetrics(workflow.metric_meter())
        self._record = OrderRecord(self._order, self._metrics)
        self._visibility = Visibility(self._order)
        self._steps = steps.Steps(self._record, self._accept_cancel_request)
        self._undo: list[Undo] = []
        self._cancellation: Cancellation | None = None
        self._decision_in_progress = False
        self._fulfillment_started = False
        self._closing = False

    @property
    def _state(self) -> OrderState:
        return self._record.state

    @workflow.run
    async def run(self, order_input: RawValue = NO_INPUT) -> OrderState:
        self._metrics.started()
        try:
            await self._process(self._order)
        except CancellationDue as due:
            await self._unwind(due.cancellation)
            if due.cancellation is CANCEL_REQUEST:
                await self._finish()
                # Made whole first; the workflow then ends as the requester asked: cancelled.
                raise asyncio.CancelledError(CANCEL_REQUEST.reason) from None
        except (ActivityError, ApplicationError) as failure:
            step, self._cancellation = stopped_by(failure)
            await self._unwind(self._cancellation)
            await self._finish()
            # The order is made whole; the fault stays visible as the workflow's outcome.
            # A new, bounded failure: the original, in full, is in the history already.
            raise ApplicationError(self._cancellation.reason, step, type=STEP_FAILED, non_retryable=True) from None
        return await self._finish()

    async def _process(self, order: OrderInput) -> None:
        """The order's story, step by step. Returns early where the order ends by itself."""
        if not await self._validate(order):
            return
        if needs_fraud_screening(order.total_amount):
            await self._screen_for_fraud(order)
        if not await self._pay(order):
            return  # the payment failed: nothing was taken
        reserved = await self._reserve(order)
        if order.cancellation_window > timedelta(0):
            # Shops hold an order for a while before the warehouse starts on it.
            await self._wait(
                lambda: self._cancellation is not None,
                timeout=order.cancellation_window,
                timeout_summary="cancellation window",
            )
        self._checkpoint()
        self._fulfillment_started = True
        await self._steps.establish(
            OrderActivities.fulfill_order,
            OrderFulfilled,
            FulfillOrder(
                order_id=order.order_id,
                reservations=reserved.reservations,
                idempotency_key=self._key(FULFILLMENT),
                customer_id=order.customer_id if order.personal and order.personal.address else None,
                deliver_to=order.personal.address if order.personal else None,
            ),
            summary=f"Ship {len(reserved.reservations)} reservation(s)",
        )

    async def _validate(self, order: OrderInput) -> bool:
        """Record OrderReceived and validate the order: whether it is valid."""
        received = self._record.receive(order)
        request = ValidateOrder(
            order_id=order.order_id,
            items=order.items,
            total_amount=order.total_amount,
            received=received,
            record_as=self._record.next_header(OrderActivities.validate_order.__name__),
        )
        summary = f"Validate {len(order.items)} item(s) against the total {order.total_amount}"
        validated = self._record.recorded(
            await self._steps.let_finish(steps.validation(request, summary=summary)), OrderValidated
        )
        self._checkpoint()
        return validated.validation_result.is_valid

    async def _screen_for_fraud(self, order: OrderInput) -> None:
        screening = await self._steps.call(
            OrderActivities.screen_for_fraud,
            ScreenForFraud(order_id=order.order_id, customer_id=order.customer_id, amount=order.total_amount),
            summary=f"Screen {order.customer_shown} for fraud before charging {order.total_amount}",
        )
        if not screening.passed:
            self._cancel_at_once(Cancellation(f"Failed fraud screening: {screening.reason}", "screen_for_fraud", None))
        self._checkpoint()

    async def _pay(self, order: OrderInput) -> bool:
        """Charge the order, waiting for a person's decision where the gateway asks for
        one: whether the payment completed."""
        payment = await self._steps.establish(
            OrderActivities.process_payment,
            PaymentProcessed,
            ProcessPayment(
                order_id=order.order_id,
                customer_id=order.customer_id,
                amount=order.total_amount,
                idempotency_key=self._key(PAYMENT),
            ),
            summary=f"Charge {order.total_amount} to {order.customer_shown}",
        )
        self._undo.append(self._give_the_money_back)
        if payment.status is PaymentStatus.PENDING:
            await self._wait_for_payment_decision(order.approval_timeout)
        self._checkpoint()
        return self._state.status is OrderStatus.PAYMENT_COMPLETED

    async def _reserve(self, order: OrderInput) -> InventoryReserved:
        try:
            reserved = await self._steps.establish(
                OrderActivities.reserve_inventory,
                InventoryReserved,
                ReserveInventory(order_id=order.order_id, items=order.items, idempotency_key=self._key(RESERVATION)),
                summary=f"Reserve stock for {len(order.items)} line(s)",
            )
        except ActivityError as err:
            if not (isinstance(err.cause, ApplicationError) and err.cause.type == OUT_OF_STOCK):
                raise
            self._cancel_at_once(Cancellation(err.cause.message, "reserve_inventory", None))
        self._undo.append(self._release_the_stock)
        return reserved

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
        if self._decision_in_progress:
            # An approval under way is let finish first, so the undo knows what it undoes
            # and the capture's event takes its version before OrderCancelled does.
            await self._wait(lambda: not self._decision_in_progress)
        refunded = None
        while self._undo:
            undo = self._undo.pop()
            refunded = await undo() or refunded
            self._metrics.compensated(undo.__name__.strip("_"))
        # Recorded only now: the stream never claims a refund that did not happen.
        cancelled = self._record.record(
            OrderCancelled(order_id=self._state.order_id, reason=cancellation.reason, refund_amount=refunded),
            created_by=cancellation.created_by,
            causation_id=cancellation.causation_id,
        )
        summary = f"Record {cancelled.event_type} v{cancelled.version}: {cancellation.reason}"
        await self._steps.let_finish(steps.marker(cancelled, summary=summary))

    async def _give_the_money_back(self) -> Decimal | None:
        """Refund a captured payment, void an authorised one; a failed payment took nothing."""
        state = self._state
        if state.payment_status is PaymentStatus.COMPLETED:
            refund = await self._steps.call(
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
            await self._steps.call(
                OrderActivities.void_payment,
                SettlePayment(order_id=state.order_id, idempotency_key=self._key(PAYMENT)),
                summary=f"Void the authorisation {state.payment_id}",
            )
        return None

    async def _release_the_stock(self) -> None:
        if self._state.reservations:
            await self._steps.call(
                OrderActivities.release_inventory,
                ReleaseInventory(order_id=self._state.order_id, idempotency_key=self._key(RESERVATION)),
                summary=f"Release the stock of {len(self._state.reservations)} reservation(s)",
            )

    async def _finish(self) -> OrderState:
        self._closing = True
        await self._wait(workflow.all_handlers_finished)
        self._visibility.publish(self._record)  # where it ends
        # One line an order at INFO; every event is at DEBUG.
        state = self._state
        context = self._record.log_context(state.version)
        workflow.logger.info(
            "Order %s ended %s at version %s", state.order_id, state.status, state.version, extra=context
        )
        if state.status is not None:
            self._metrics.ended(state.status.value)
        return state

    def log_context(self) -> dict[str, object]:
        """Read by the worker's interceptor, which hands the correlation id to activities."""
        return self._record.log_context()

    # -- Decisions -------------------------------------------------------------------

    @workflow.update(name=APPROVE_PAYMENT)
    async def approve_payment(self, request: RawValue = NO_INPUT) -> OrderState:
        decision = self._refuse_if_not_allowed(request, ApprovePayment)
        self._decision_in_progress = True
        try:
            await self._steps.establish(
                OrderActivities.capture_payment,
                PaymentProcessed,
                SettlePayment(order_id=self._state.order_id, idempotency_key=self._key(PAYMENT)),
                summary=f"Capture the payment approved by {decision.approver}",
                created_by=decision.approver,
                causation_id=this_update(),
            )
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
        """The decision, read and checked: run by the validator, before anything reaches
        history, and again as the handler starts (two decisions that arrive in one
        workflow task both pass their validators before either handler runs)."""
        return checked_decision(
            request,
            kind,
            self._state,
            self._metrics,
            decision_in_progress=self._decision_in_progress,
            cancellation_requested=self._cancellation is not None,
            fulfillment_started=self._fulfillment_started,
        )

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
        if not await self._wait(decided, timeout=approval_timeout, timeout_summary="approval timeout"):
            # An approval already under way when time ran out is let finish.
            await self._wait(lambda: not self._decision_in_progress)
            if not decided():
                self._cancellation = Cancellation(f"No payment decision within {approval_timeout}", WORKFLOW_TYPE, None)
        self._metrics.waited_for_approval(workflow.now() - began)

    # -- Queries ---------------------------------------------------------------------

    @workflow.query
    def state(self) -> OrderState:
        return self._state

    @workflow.query
    def events(self, request: RawValue = NO_INPUT) -> list[EventEnvelope]:
        """The envelopes from `from_version` on, at most `limit` of them, in version order."""
        window = read_argument(request, EventsQuery)
        return self._record.stream().read(window.from_version, window.limit)

    @workflow.query
    def state_at(self, request: RawValue = NO_INPUT) -> OrderState:
        """Time travel: the state after `version`, or as of the time `at`; the latest if neither."""
        moment = read_argument(request, StateAtQuery)
        return self._record.stream().state_at(moment.version, moment.at)

    # -- Plumbing --------------------------------------------------------------------

    def _key(self, effect: str) -> str:
        return idempotency_key(workflow.info().workflow_id, effect)

    async def _wait(
        self, condition: Callable[[], bool], *, timeout: timedelta | None = None, timeout_summary: str | None = None
    ) -> bool:
        """Wait until `condition` holds (True) or `timeout` passes (False). A cancel request
        that arrives meanwhile becomes a cancellation, for the caller's next checkpoint.
        A wait with a timeout is where the order rests, for a person or a shop's window:
        visibility hears of it there."""
        if timeout is not None:
            self._visibility.publish(self._record)
        try:
            await workflow.wait_condition(condition, timeout=timeout, timeout_summary=timeout_summary)
            return True
        except TimeoutError:
            return False
        except asyncio.CancelledError:
            self._accept_cancel_request()
            return await self._wait(condition, timeout=timeout, timeout_summary=timeout_summary)

    def _accept_cancel_request(self) -> None:
        """Treat Temporal's cancel request as a cancellation, by the rules a person's
        cancel_order meets: an order that has ended or started shipping goes on."""
        steps.let_the_task_go_on()
        if refusal(
            self._state, CancelOrder(reason=CANCEL_REQUEST.reason), fulfillment_started=self._fulfillment_started
        ):
            return
        self._cancellation = self._cancellation or CANCEL_REQUEST
