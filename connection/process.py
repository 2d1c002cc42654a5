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
from typing import NoReturn

# Every entry point exits with this when Temporal cannot be reached (or the embedded
# server cannot be started): something to retry later, not a fault in what was asked.
EXIT_UNAVAILABLE = 3


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
