"""What a program ends with: its exit code, and the error that names a user's mistake.
How it ends is programs.runner's."""

import asyncio
from enum import IntEnum


class ExitCode(IntEnum):
    """What every program of this project exits with; one number means one thing everywhere."""

    OK = 0
    # An order failed; a request was refused, not found or unreadable; health degraded;
    # reconcile found discrepancies; a replay diverged.
    FAILED = 1
    # Malformed arguments, file or setting: nothing was done.
    USAGE = 2
    # Temporal could not be reached (or the embedded server was given up): something to
    # retry later, not a fault in what was asked.
    UNAVAILABLE = 3
    # The namespace lacks what orders need (search attributes) and this program may not
    # create it: an operator's one-time step, named in the message.
    NOT_SET_UP = 4
    # Stopped by Ctrl-C or SIGTERM: the shell's code for SIGINT.
    INTERRUPTED = 130


class CommandError(Exception):
    """What was asked cannot be done as asked (a refusal, something not found, a flag that
    does not go with another): the message names the problem, for one line on stderr.
    Anything else that escapes a program is a fault of ours, and shows as one."""

    def __init__(self, message: str, code: ExitCode = ExitCode.FAILED) -> None:
        super().__init__(message)
        self.code = code


async def cancelled(task: "asyncio.Task[None]") -> None:
    """Cancel `task`: an exit callback for a task that runs beside a program's work."""
    task.cancel()
