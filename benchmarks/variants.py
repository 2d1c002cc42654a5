"""OrderWorkflow with a lever off, for measuring what the lever is worth. A module of its
own: the sandbox imports a workflow's module afresh for every run, which it cannot do
with a script run as __main__."""

from temporalio import workflow
from temporalio.common import RawValue

from domain import OrderState
from workflows.inputs import NO_INPUT
from workflows.order_workflow import OrderWorkflow


@workflow.defn(name="OrderWorkflow")
class OrderWorkflowWithMoreRoundTrips(OrderWorkflow):
    """As recorded before FEWER_ROUND_TRIPS_PATCH: validation a normal activity, search
    attributes upserted by the workflow, OrderStatus at every event."""

    @workflow.run
    async def run(self, order_input: RawValue = NO_INPUT) -> OrderState:
        return await super().run(order_input)

    def _takes_fewer_round_trips(self) -> bool:
        return False


@workflow.defn(name="OrderWorkflow")
class OrderWorkflowWithoutProjectionClock(OrderWorkflow):
    """As recorded before PROJECTION_CLOCK_PATCH: OrderStatus published without
    OrderVersion and OrderUpdatedAt."""

    @workflow.run
    async def run(self, order_input: RawValue = NO_INPUT) -> OrderState:
        return await super().run(order_input)

    def _publishes_the_projection_clock(self) -> bool:
        return False
