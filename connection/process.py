"""The life of an entry point's process: waiting to be stopped, and leaving.

Leaving: the SDK's Rust core keeps threads that may call back into Python while the
interpreter finalizes, which aborts the process with "PyGILState_Release: thread state
must be current" (temporalio/sdk-python#300, open). Once an entry point's work is done
and its output flushed, nothing is left to finalize, so it exits without interpreter
teardown.
"""

import asyncio
import os
import signal
import sys
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


async def wait_for_interrupt() -> None:
    """Return once SIGINT (Ctrl-C) or SIGTERM arrives."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


def exit_now(code: int) -> NoReturn:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
