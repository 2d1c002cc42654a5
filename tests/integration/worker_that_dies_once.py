"""A real worker over the real activities and ledger that SIGKILLs itself once, at one step:
`during` an activity (its effect is done, its result not yet reported) or right `after`
it returned (the result reported, and the workflow task that would record it about to run
in this process: the death comes as that activation is handed to the workflow thread; if
the workflow lives in another process, two seconds later). The tombstone file makes the
death happen once, whichever of several such processes runs the step.

    python worker_that_dies_once.py TASK_QUEUE [--die-in ACTIVITY --when during|after --tombstone PATH]

Without --die-in it is a plain worker on TASK_QUEUE: the survivor.
"""

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from activities.order_activities import OrderActivities
from connection import connect, load_settings
from hosting import build_worker


class DieOnce(Interceptor):
    def __init__(self, step: str, when: str, tombstone: Path) -> None:
        self.step, self.when, self.tombstone = step, when, tombstone

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Dying(next, self)


class _Dying(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, plan: DieOnce) -> None:
        super().__init__(next)
        self.plan = plan

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        result = await super().execute_activity(input)
        if activity.info().activity_type == self.plan.step and self._first_to_die():
            print(f"dying {self.plan.when} {self.plan.step}", flush=True)
            if self.plan.when == "during":
                _die()  # the effect is done; its result never leaves
            DiesAtNextWorkflowTask.armed = True
            asyncio.get_running_loop().call_later(2, _die)
        return result

    def _first_to_die(self) -> bool:
        try:
            os.close(os.open(self.plan.tombstone, os.O_CREAT | os.O_EXCL))
            return True
        except FileExistsError:
            return False


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class DiesAtNextWorkflowTask(ThreadPoolExecutor):
    """The workflow thread pool: once armed, the next activation handed to it kills the process."""

    armed = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if DiesAtNextWorkflowTask.armed:
            _die()
        return super().submit(fn, *args, **kwargs)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("task_queue")
    parser.add_argument("--die-in")
    parser.add_argument("--when", choices=["during", "after"], default="during")
    parser.add_argument("--tombstone", type=Path)
    args = parser.parse_args()
    settings = load_settings()
    interceptors = [DieOnce(args.die_in, args.when, args.tombstone)] if args.die_in else []
    activities = OrderActivities.over_ledger(settings.ledger)
    async with build_worker(
        await connect(settings),
        args.task_queue,
        activities=activities,
        interceptors=interceptors,
        workflow_task_executor=DiesAtNextWorkflowTask(max_workers=4),
    ):
        print("serving", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
