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
    from programs.prologue import prologue
    from programs.runner import (
        GaveUp,
        Way,
        give_up,
        leave,
        run_program,
        stop_requested,
        until_stopped,
    )

_LATER = {
    "prologue": "programs.prologue",
    **dict.fromkeys(
        ("GaveUp", "Way", "give_up", "leave", "run_program", "stop_requested", "until_stopped"),
        "programs.runner",
    ),
}


def __getattr__(name: str) -> Any:
    if name in _LATER:
        # Kept as an attribute of the face: importing programs.prologue would otherwise
        # leave the module, not its function, under that name.
        value = globals()[name] = getattr(importlib.import_module(_LATER[name]), name)
        return value
    raise AttributeError(f"module 'programs' has no attribute {name!r}")


__all__ = [
    "CommandError", "ExitCode", "GaveUp", "Way", "cancelled", "give_up", "leave", "prologue", "run_program",
    "stop_requested", "until_stopped",
]  # fmt: skip
