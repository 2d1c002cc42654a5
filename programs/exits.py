"""How an entry point's process ends: its exit code, a user's mistake named, waiting to
be stopped, and leaving.

Leaving: the SDK's Rust core keeps threads that may call back into Python while the
interpreter finalizes, which aborts the process with "PyGILState_Release: thread state
must be current" (temporalio/sdk-python#300, open). Once an entry point's work is done
and its output flushed, nothing is left to finalize, so it exits without interpreter
teardown.
"""

import asyncio
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Awaitable
from enum import IntEnum
from typing import NoReturn


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


async def wait_for_interrupt() -> None:
    """Return once SIGINT (Ctrl-C) or SIGTERM arrives (off the main thread, which takes
    no signals, wait until cancelled)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
    await stop.wait()


async def unless_interrupted(work: Awaitable[None]) -> bool:
    """True once `work` is done; False if Ctrl-C or SIGTERM came first (`work` is cancelled)."""
    working = asyncio.ensure_future(work)
    interrupted = asyncio.ensure_future(wait_for_interrupt())
    try:
        await asyncio.wait([working, interrupted], return_when=asyncio.FIRST_COMPLETED)
        if working.done():
            working.result()
            return True
        working.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await working
        return False
    finally:
        interrupted.cancel()


async def cancelled(task: "asyncio.Task[None]") -> None:
    """Cancel `task`: an exit callback for a task that runs beside a program's work."""
    task.cancel()


def exit_now(code: int) -> NoReturn:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
