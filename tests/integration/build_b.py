"""Build B of the deployment tests: today's OrderWorkflow with one change that breaks the
histories of orders build A started: an extra activity before payment (a second fraud
screening for every order), written without `workflow.patched`."""

from typing import Any

from temporalio import workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from activities.order_activities import OrderActivities
    from activities.requests import ProcessPayment, ScreenForFraud
    from contract import WORKFLOW_TYPE
    from domain import OrderState
    from workflows.inputs import NO_INPUT

from workflows.order_workflow import OrderWorkflow
from workflows.steps import Steps


class StepsOfBuildB(Steps):
    async def establish(self, activity: Any, kind: Any, request: Any, *, summary: str, **envelope: Any) -> Any:
        if isinstance(request, ProcessPayment):
            screening = ScreenForFraud(
                order_id=request.order_id, customer_id=request.customer_id, amount=request.amount
            )
            await self.call(OrderActivities.screen_for_fraud, screening, summary="Build B screens every order")
        return await super().establish(activity, kind, request, summary=summary, **envelope)


@workflow.defn(name=WORKFLOW_TYPE)
class OrderWorkflowOfBuildB(OrderWorkflow):
    @workflow.init
    def __init__(self, order_input: RawValue = NO_INPUT) -> None:
        super().__init__(order_input)
        self._steps = StepsOfBuildB(self._record, self._accept_cancel_request)

    @workflow.run
    async def run(self, order_input: RawValue = NO_INPUT) -> OrderState:
        return await super().run(order_input)
