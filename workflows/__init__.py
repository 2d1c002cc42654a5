"""Temporal workflows. Workflow code is deterministic: see workflows/order_workflow.py.

The face loads nothing until a name is asked for (PEP 562): the sandbox imports this
package afresh for every workflow run, before the workflow's own module."""

from typing import TYPE_CHECKING

from contract import loaded_when_asked

if TYPE_CHECKING:
    from workflows.inputs import NO_INPUT
    from workflows.order_workflow import VERSIONING_BEHAVIOR, OrderWorkflow

__getattr__ = loaded_when_asked(
    "workflows",
    {
        "inputs": ("NO_INPUT",),
        "order_workflow": ("VERSIONING_BEHAVIOR", "OrderWorkflow"),
    },
)


__all__ = ["NO_INPUT", "VERSIONING_BEHAVIOR", "OrderWorkflow"]
