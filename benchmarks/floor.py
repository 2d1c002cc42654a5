"""Temporal's own floor: a workflow that does nothing but run four activities that do
nothing. What any workflow with OrderWorkflow's four steps costs on this machine."""

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="floor_step")
async def floor_step(step: int) -> int:
    return step


@workflow.defn(name="Floor")
class Floor:
    @workflow.run
    async def run(self, order_id: str) -> str:
        for step in range(4):
            await workflow.execute_activity(floor_step, step, start_to_close_timeout=timedelta(seconds=30))
        return order_id
