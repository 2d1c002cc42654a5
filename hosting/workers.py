"""The worker that serves OrderWorkflow and the replayer that checks it, built here
alone. A replay proves something only if it runs the workflow exactly as
the worker does, so both take the same workflow options.

Nothing here reads settings: the entry points build the activities and the client and
hand them in.
"""

import compileall
import sys
import uuid
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.common import WorkerDeploymentVersion
from temporalio.worker import Replayer, Worker, WorkerDeploymentConfig
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import workflows
from activities import OrderActivities
from connection import data_converter
from contract import TASK_QUEUE
from encryption import Keyring
from observability import CorrelationToActivities
from workflows import VERSIONING_BEHAVIOR, OrderWorkflow

# The sandbox stays on. These modules are deterministic and side-effect free at import,
# so the sandbox shares them instead of re-importing them for every workflow run.
PASSTHROUGH_MODULES = (
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "contract",
    "domain",
    "views",
    "activities",
    "workflows.inputs",
    "workflows.cancellation",
    "workflows.deciding",
    "workflows.recording",
    "workflows.steps",
    # The interceptors the workflow runs through: ours, and the SDK's tracing.
    "observability",
    "opentelemetry",
)

# Running activities may finish this long after a worker is asked to stop.
GRACEFUL_SHUTDOWN = timedelta(seconds=10)

# Measured by benchmarks/volume.py with 300 orders in flight: ten pollers of each kind
# keep the server's tasks moving where the default five leave them waiting (about +8%
# orders a second on a 2-core machine). More gained nothing; fewer lost.
DEFAULT_TUNING: dict[str, Any] = {"max_concurrent_workflow_task_polls": 10, "max_concurrent_activity_task_polls": 10}

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
        # Activities' log lines name their order's correlation id (observability.context).
        "interceptors": [CorrelationToActivities()],
    }


def build_worker(
    client: Client,
    task_queue: str = TASK_QUEUE,
    *,
    activities: OrderActivities,
    version: WorkerDeploymentVersion | None = None,
    **tuning: Any,
) -> Worker:
    """A worker serving OrderWorkflow and `activities` on `task_queue`; `tuning` goes to
    the SDK's Worker as it is (slots, pollers, cache), over DEFAULT_TUNING. With a
    `version` (deployment and build id) it is a versioned worker of that build, whose
    orders are pinned to it (workflows.order_workflow.VERSIONING_BEHAVIOR)."""
    if version is not None:
        tuning["deployment_config"] = WorkerDeploymentConfig(
            version=version, use_worker_versioning=True, default_versioning_behavior=VERSIONING_BEHAVIOR
        )
    return Worker(
        client,
        task_queue=task_queue,
        # An identity of its own, not just its process's: the server can then say which
        # of a process's workers polled, and which announced they stopped.
        identity=f"{client.identity}/{uuid.uuid4().hex[:8]}",
        activities=activities.all(),
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        **{**workflow_options(), **DEFAULT_TUNING, **tuning},
    )


def keep_workflow_bytecode(cache: Path) -> None:
    """Keep the workflow modules' bytecode compiled under `cache`, outside the source tree,
    and have this process read bytecode from there (unless PYTHONPYCACHEPREFIX already
    chose where: then there).

    The sandbox imports the workflow modules afresh for every workflow run. With cached
    bytecode that is a load; without (PYTHONDONTWRITEBYTECODE set, a checkout that cannot
    be written) it is a compile of the source, every run: about 2.5 ms of a worker's CPU
    per order here. For the process that serves orders (worker.py, the starter's worker).
    """
    if sys.pycache_prefix is None:
        sys.pycache_prefix = str(cache)
    compileall.compile_dir(Path(workflows.__file__).parent, quiet=2, legacy=False)


def build_replayer(debug_mode: bool = False, keyring: Keyring | None = None) -> Replayer:
    """Replays recorded histories with today's workflow code, sandbox on, with the data
    converter the worker has (encrypted histories need the `keyring` they were written with).

    `debug_mode` lifts the deadlock detector so `breakpoint()` in workflow code works.
    """
    return Replayer(data_converter=data_converter(keyring), debug_mode=debug_mode, **workflow_options())
