"""How OrderWorkflow is hosted, shared by the worker and the replayer: a replay proves
something only if it runs the workflow exactly as the worker does."""

import warnings
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from workflows.order_workflow import OrderWorkflow

# The sandbox stays on. These modules are deterministic and side-effect free at import,
# so the sandbox shares them instead of re-importing them for every workflow run.
PASSTHROUGH_MODULES = (
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "domain",
    "activities",
    "workflows.contract",
    "workflows.inputs",
)


# A start whose input is malformed fails in OrderWorkflow.__init__, before the SDK awaits
# the run coroutine it had already made; Python then warns that it was never awaited.
# The workflow has failed as intended, with the problem named: nothing to warn about.
warnings.filterwarnings(
    "ignore",
    message=r"coroutine '_WorkflowInstanceImpl\._apply_initialize_workflow\.<locals>\.run_workflow' was never awaited",
    category=RuntimeWarning,
)


def workflow_options() -> dict[str, Any]:
    return {
        "workflows": [OrderWorkflow],
        "workflow_runner": SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
        ),
    }


def build_replayer(debug_mode: bool = False) -> Replayer:
    """Replays recorded histories with today's workflow code, sandbox on.

    `debug_mode` lifts the deadlock detector so `breakpoint()` in workflow code works.
    """
    return Replayer(data_converter=pydantic_data_converter, debug_mode=debug_mode, **workflow_options())
