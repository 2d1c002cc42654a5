"""Leaving a process that used the Temporal client.

The SDK's Rust core keeps threads that may call back into Python while the
interpreter finalizes, which aborts the process with "PyGILState_Release: thread
state must be current" (temporalio/sdk-python#300, open). Once an entry point's
work is done and its output flushed, nothing is left to finalize, so it exits
without interpreter teardown.
"""

import os
import sys

# Every entry point exits with this when Temporal cannot be reached (or the embedded
# server cannot be started): something to retry later, not a fault in what was asked.
EXIT_UNAVAILABLE = 3


def exit_now(code: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
