"""How OrderWorkflow is hosted, shared by the worker and the replayer: a replay proves
something only if it runs the workflow exactly as the worker does."""

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from workflows.order_workflow import OrderWorkflow
from workflows.start_guard import SingleInputGuard

# The sandbox stays on. These modules are deterministic and side-effect free at import,
# so the sandbox shares them instead of re-importing them for every workflow run.
PASSTHROUGH_MODULES = ("pydantic", "pydantic_core", "annotated_types", "domain", "activities", "workflows.contract")


def workflow_options() -> dict:
    return {
        "workflows": [OrderWorkflow],
        "workflow_runner": SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
        ),
        "interceptors": [SingleInputGuard()],
    }


def build_replayer(debug_mode: bool = False) -> Replayer:
    """Replays recorded histories with today's workflow code, sandbox on.

    `debug_mode` lifts the deadlock detector so `breakpoint()` in workflow code works.
    """
    return Replayer(data_converter=pydantic_data_converter, debug_mode=debug_mode, **workflow_options())
