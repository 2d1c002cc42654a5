"""Refuses a workflow start that carries more than one input argument.

OrderWorkflow decodes its single input itself, so malformed input fails the workflow
with a clear message. A start with several arguments never reaches that code: the SDK
would call `run` with too many arguments and the TypeError would fail the workflow
task, retried forever. This interceptor fails the workflow instead; every workflow of this project takes
one input model, so it guards them all.
"""

from typing import Any

from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from workflows.contract import MALFORMED_ORDER_INPUT


class _RefuseExtraArguments(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        if len(input.args) > 1:
            raise ApplicationError(
                f"Malformed order input: expected one order, got {len(input.args)} arguments",
                type=MALFORMED_ORDER_INPUT,
                non_retryable=True,
            )
        return await self.next.execute_workflow(input)


class SingleInputGuard(Interceptor):
    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        return _RefuseExtraArguments
