"""The entry-point room: what every program of the project (`starter.py`, `worker.py`,
the `orders` command) does the same way: its prologue (settings read once, logging, the
SDK core's logs, tracing), the one way it runs and ends (programs.runner: errors to exit
codes, signals, leaving), the exit codes it leaves with, and the error that names a
user's mistake.

The exit codes load at once; the rest when first used (PEP 562), so a program that only
prints its help (`orders --help`) never imports what running one needs."""

import importlib
from typing import TYPE_CHECKING, Any

from programs.exits import CommandError, ExitCode, cancelled

if TYPE_CHECKING:
    from programs.arguments import (
        DatabaseToRead,
        OrderOrHistoryFile,
        build_id,
        file_to_keep,
        file_to_read,
        file_to_write,
        is_history_path,
        moment,
        percentage,
        seconds_above_zero,
        whole_number,
    )
    from programs.runner import (
        GaveUp,
        Way,
        give_up,
        leave,
        run_program,
        stop_requested,
        until_stopped,
    )
    from programs.startup import prologue

# Its own loader, not contract's: `orders --help` imports this face, and contract would
# bring pydantic and the SDK with it.
_LATER = {
    **dict.fromkeys(
        (
            "DatabaseToRead",
            "OrderOrHistoryFile",
            "build_id",
            "file_to_keep",
            "file_to_read",
            "file_to_write",
            "is_history_path",
            "moment",
            "percentage",
            "seconds_above_zero",
            "whole_number",
        ),
        "programs.arguments",
    ),
    **dict.fromkeys(("prologue",), "programs.startup"),
    **dict.fromkeys(
        ("GaveUp", "Way", "give_up", "leave", "run_program", "stop_requested", "until_stopped"), "programs.runner"
    ),
}


def __getattr__(name: str) -> Any:
    if name in _LATER:
        return getattr(importlib.import_module(_LATER[name]), name)
    raise AttributeError(f"module 'programs' has no attribute {name!r}")


__all__ = [
    "CommandError",
    "DatabaseToRead",
    "ExitCode",
    "GaveUp",
    "OrderOrHistoryFile",
    "Way",
    "build_id",
    "cancelled",
    "file_to_keep",
    "file_to_read",
    "file_to_write",
    "give_up",
    "is_history_path",
    "leave",
    "moment",
    "percentage",
    "prologue",
    "run_program",
    "seconds_above_zero",
    "stop_requested",
    "until_stopped",
    "whole_number",
]
