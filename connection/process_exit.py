"""Leaving a process that used the Temporal client.

The SDK's Rust core keeps threads that may call back into Python while the
interpreter finalizes, which aborts the process with "PyGILState_Release: thread
state must be current" (temporalio/sdk-python#300, open). Once an entry point's
work is done and its output flushed, nothing is left to finalize, so it exits
without interpreter teardown.
"""

import os
import sys


def exit_now(code: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
