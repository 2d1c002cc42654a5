"""Where OrderWorkflow runs: the worker that serves it and the replayer that checks it
(hosting.workers, the same workflow options for both), replaying recorded histories
(hosting.replaying), and whether a worker serves the task queue now (hosting.liveness).

Each loads when first used (PEP 562): `orders approve` asks whether a worker is live
without loading the workflow, its activities and the SDK's worker."""

from typing import TYPE_CHECKING

from contract import loaded_when_asked

if TYPE_CHECKING:
    from hosting.liveness import has_live_worker, live_builds, live_pollers
    from hosting.replaying import ReplayReport, replay, replay_all
    from hosting.workers import (
        GRACEFUL_SHUTDOWN,
        build_replayer,
        build_worker,
        keep_workflow_bytecode,
        workflow_options,
    )

__getattr__ = loaded_when_asked(
    "hosting",
    {
        "liveness": ("has_live_worker", "live_builds", "live_pollers"),
        "replaying": ("ReplayReport", "replay", "replay_all"),
        "workers": (
            "GRACEFUL_SHUTDOWN",
            "build_replayer",
            "build_worker",
            "keep_workflow_bytecode",
            "workflow_options",
        ),
    },
)


__all__ = [
    "GRACEFUL_SHUTDOWN",
    "ReplayReport",
    "build_replayer",
    "build_worker",
    "has_live_worker",
    "keep_workflow_bytecode",
    "live_builds",
    "live_pollers",
    "replay",
    "replay_all",
    "workflow_options",
]  # fmt: skip
