"""OrderWorkflow with a lever off, for measuring what the lever is worth. A module of its
own: the sandbox imports a workflow's module afresh for every run, which it cannot do
with a script run as __main__. The levers were patches, retired since: the variants are
of the last build that had them (tests/replay/unversioned_build.py)."""

from temporalio import workflow
from temporalio.common import RawValue

from domain import OrderState
from tests.replay.unversioned_build import UnversionedOrderWorkflow
from workflows.inputs import NO_INPUT


@workflow.defn(name="OrderWorkflow")
class OrderWorkflowWithMoreRoundTrips(UnversionedOrderWorkflow):
    """As recorded before FEWER_ROUND_TRIPS_PATCH: validation a normal activity, search
    attributes upserted by the workflow, OrderStatus at every event."""

    @workflow.run
    async def run(self, order_input: RawValue = NO_INPUT) -> OrderState:
        return await super().run(order_input)

    def _takes_fewer_round_trips(self) -> bool:
        return False


@workflow.defn(name="OrderWorkflow")
class OrderWorkflowWithoutProjectionClock(UnversionedOrderWorkflow):
    """As recorded before PROJECTION_CLOCK_PATCH: OrderStatus published without
    OrderVersion and OrderUpdatedAt."""

    @workflow.run
    async def run(self, order_input: RawValue = NO_INPUT) -> OrderState:
        return await super().run(order_input)

    def _publishes_the_projection_clock(self) -> bool:
        return False
