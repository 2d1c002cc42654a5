"""The programs run in-process: the same entry function the console script calls, with the
test's own environment and captured output. A test runs a command in-process unless its
claim is about a process (signals, crashes, pipes, the console script itself).

One command at a time: a program's output is the process's stdout and stderr, swapped for
the run. It runs on a thread of its own (it has an event loop of its own, as a process
has), so a worker in the test's event loop can serve it meanwhile."""

import asyncio
import contextlib
import io
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from orders_cli.main import run

_ONE_AT_A_TIME = threading.Lock()


@dataclass(frozen=True)
class Ran:
    """What a program did: as subprocess.CompletedProcess names it."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def orders_here(environ: Mapping[str, str], *args: str, stop_after: float | None = None) -> Ran:
    """`orders ARGS` in this process, its settings read from `environ` over a bare one
    (PATH and HOME only: nothing of the test process's own settings leaks in); stopped as
    by SIGTERM after `stop_after` seconds, if given (for a command that serves until stopped)."""
    out, err = io.StringIO(), io.StringIO()
    bare = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    stop = threading.Event()
    timer = threading.Timer(stop_after, stop.set) if stop_after is not None else None
    with _ONE_AT_A_TIME, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        if timer is not None:
            timer.start()
        try:
            code = run(list(args), {**bare, **environ}, stop)
        except SystemExit as exit:  # argparse refusing an argument
            code = exit.code if isinstance(exit.code, int) else 2
        finally:
            if timer is not None:
                timer.cancel()
    return Ran(tuple(args), code, out.getvalue(), err.getvalue())


async def orders_in_process(environ: Mapping[str, str], *args: str, stop_after: float | None = None) -> Ran:
    """`orders_here` off the event loop, so a worker on this loop can serve the command."""
    return await asyncio.to_thread(orders_here, environ, *args, stop_after=stop_after)
