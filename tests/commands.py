"""The programs run in-process: the same entry function each console script or file
calls (`orders_cli.main.run`, `starter.main`, `worker.main`), with the test's own
environment and captured output. A test runs a program in-process unless its claim is
about a process (signals, crashes, pipes, the console script itself).

One program at a time: its output is the process's stdout and stderr, swapped for the
run. It runs on a thread of its own (with an event loop of its own, as a process has), so
a worker in the test's event loop can serve it meanwhile. What a program sets up for
itself in its process is put back after it: the logging handlers and levels, warning
filters; signal handlers it never sets off the main thread, and the settings it reads
come from the environment given, never the test process's."""

import asyncio
import contextlib
import io
import logging
import os
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import starter
import worker
from orders_cli.main import run as orders_main

_ONE_AT_A_TIME = threading.Lock()
_LOGGERS = ("", "connection", "temporalio", "temporalio.core", "aiohttp.server", "worker")


@dataclass(frozen=True)
class Ran:
    """What a program did: as subprocess.CompletedProcess names it."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def _left_as_found() -> Iterator[None]:
    """What a program sets up process-wide, put back as it was once it is done."""
    kept = {name: (logging.getLogger(name).level, list(logging.getLogger(name).handlers)) for name in _LOGGERS}
    pycache_prefix = sys.pycache_prefix  # where a worker keeps bytecode (hosting.keep_workflow_bytecode)
    with warnings.catch_warnings():
        try:
            yield
        finally:
            sys.pycache_prefix = pycache_prefix
            for name, (level, handlers) in kept.items():
                logger = logging.getLogger(name)
                logger.setLevel(level)
                for handler in [h for h in logger.handlers if h not in handlers]:
                    handler.close()
                logger.handlers[:] = handlers


_SCRATCH_DATA = tempfile.mkdtemp(prefix="orders-tests-in-process-")


def _here(main: Callable[..., int], environ: Mapping[str, str], args: tuple[str, ...], stop_after: float | None) -> Ran:
    out, err = io.StringIO(), io.StringIO()
    bare = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    # A data directory of its own unless given one: never the checkout's `.temporal/`.
    bare["ORDERS_DATA_DIR"] = _SCRATCH_DATA
    stop = threading.Event()
    timer = threading.Timer(stop_after, stop.set) if stop_after is not None else None
    ended: list[int | BaseException] = []

    def running() -> None:  # on a thread of its own: a program off the main thread sets no signal handler
        try:
            ended.append(main(list(args), {**bare, **environ}, stop))
        except SystemExit as exit:  # argparse refusing an argument
            ended.append(exit.code if isinstance(exit.code, int) else 2)
        except BaseException as failure:  # noqa: BLE001 - raised again on the caller's thread
            ended.append(failure)

    with _ONE_AT_A_TIME, _left_as_found(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        if timer is not None:
            timer.start()
        program = threading.Thread(target=running, name=f"program {' '.join(args)[:40]}")
        program.start()
        program.join()
        if timer is not None:
            timer.cancel()
    (code,) = ended
    if isinstance(code, BaseException):
        raise code
    return Ran(tuple(args), int(code), out.getvalue(), err.getvalue())


def run_here(main: Callable[..., int], environ: Mapping[str, str], *args: str, stop_after: float | None = None) -> Ran:
    """Any program's entry function (`starter.main`, `worker.main`) in this process."""
    return _here(main, environ, args, stop_after)


def orders_here(environ: Mapping[str, str], *args: str, stop_after: float | None = None) -> Ran:
    """`orders ARGS` in this process, its settings read from `environ` over a bare one
    (PATH and HOME only: nothing of the test process's own settings leaks in); stopped as
    by SIGTERM after `stop_after` seconds, if given (for a command that serves until stopped)."""
    return _here(orders_main, environ, args, stop_after)


async def orders_in_process(environ: Mapping[str, str], *args: str, stop_after: float | None = None) -> Ran:
    """`orders_here` off the event loop, so a worker on this loop can serve the command."""
    return await asyncio.to_thread(orders_here, environ, *args, stop_after=stop_after)


async def starter_in_process(environ: Mapping[str, str], *args: str, stop_after: float | None = None) -> Ran:
    """`python starter.py ARGS`, in this process, off the event loop."""
    return await asyncio.to_thread(_here, starter.main, environ, args, stop_after)


async def worker_in_process(environ: Mapping[str, str], *args: str, stop_after: float) -> Ran:
    """`python worker.py ARGS`, in this process, off the event loop, stopped (as by SIGTERM)
    after `stop_after` seconds."""
    return await asyncio.to_thread(_here, worker.main, environ, args, stop_after)
