"""The entry-point room: what every program of the project (`starter.py`, `worker.py`,
the `orders` command) does the same way: its prologue (settings read once, logging, the
SDK core's logs, SIGTERM, tracing), the exit codes it leaves with, and the error that
names a user's mistake."""

from programs.exits import CommandError, ExitCode, cancelled, exit_now, unless_interrupted, wait_for_interrupt
from programs.prologue import prologue

__all__ = [
    "CommandError", "ExitCode", "cancelled", "exit_now", "prologue", "unless_interrupted", "wait_for_interrupt",
]  # fmt: skip
