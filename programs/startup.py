"""What every program does before its work, in one place: read the settings (once: they
are passed down from here), route log lines, forward the SDK core's logs, and export
traces where the settings say so. (How it stops on a signal is programs.runner's.)"""

import logging
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TextIO

from connection import Settings, load_settings
from observability import configure_logging, start_tracing, stop_tracing
from programs.runtime import forward_core_logs


@contextmanager
def prologue(
    program: str,
    *,
    messages: TextIO | None = None,
    core_log_level: int = logging.WARNING,
    adjust: Callable[[Settings], Settings] = lambda settings: settings,
    service: bool = False,
    core_metrics_at: Callable[[Settings], str | None] = lambda settings: None,
    environ: Mapping[str, str] | None = None,
) -> Iterator[Settings]:
    """The settings, with `adjust` applied (a program's flags over its environment); a
    malformed one raises SettingsError before anything is set up.

    A command (`service` False) speaks to people: plain messages on `messages` (stderr by
    default), and "started the embedded server" among them. A service logs records as
    ORDERS_LOG_FORMAT and ORDERS_LOG_LEVEL say, and `core_metrics_at` says where the SDK's
    core serves its metrics, if anywhere. Tracing stops as the block ends. `environ`: the
    environment to read (the process's by default; a test running a program in-process
    gives its own)."""
    settings = adjust(load_settings(environ))
    if service:
        configure_logging(settings.log_format, settings.log_level)
    else:
        logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=messages or sys.stderr)
        logging.getLogger("connection").setLevel(logging.INFO)
    forward_core_logs(level=core_log_level, metrics_at=core_metrics_at(settings))
    if settings.traces_exported:
        start_tracing(program)
    try:
        yield settings
    finally:
        stop_tracing()
