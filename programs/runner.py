"""One way out of every program (`orders`, `starter.py`, `worker.py`).

A program is a coroutine that takes its settings and returns its exit code. The runner
reads the settings (the prologue), runs the coroutine, stops it as a whole on SIGINT or
SIGTERM (the task is cancelled, so each wait unwinds in order: an update it waits on, a
worker that finishes its activities, an embedded server it started), maps whatever error
escapes it to its exit code and one line from one table (`FAILURES`), and returns the code
for `main` to `leave` with.

A program that must stop without unwinding in full (a server fallen silent would hold a
worker's shutdown, or asyncio's own thread join, for the SDK's deadline) calls `give_up`:
the runner alone ends the process, hard, if the program has not ended by itself within a
bounded time. In-process runs (tests) never end the process.

Leaving: the SDK's Rust core keeps threads that may call back into Python while the
interpreter finalizes, which aborts the process with "PyGILState_Release: thread state
must be current" (temporalio/sdk-python#300, open). Once a program's work is done and its
output flushed, nothing is left to finalize, so `leave` exits without interpreter teardown.
"""

import asyncio
import os
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass
from typing import Any, NoReturn

from temporalio.service import RPCError, RPCStatusCode

from activities import LedgerError
from client import OrderFileError, UnreadableOrder
from connection import NamespaceNotSetUp, Settings, SettingsError, TemporalUnavailable
from domain import EventStreamError, VersionNotFound
from eventstore import ArchiveError, HistoryReadError, StreamNotFound
from programs.exits import CommandError, ExitCode
from projections import CheckpointMismatch, ProjectionError
from storage import DatabaseError, KeyStoreError, PlaceError

Program = Callable[[Settings], Coroutine[Any, Any, int]]


def first_line(err: BaseException) -> str:
    """An error's first line, for the one line a failure gets."""
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def _rpc_code(err: BaseException) -> ExitCode:
    unavailable = isinstance(err, RPCError) and err.status in (
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
    )
    return ExitCode.UNAVAILABLE if unavailable else ExitCode.FAILED


def _rpc_line(err: BaseException) -> str:
    assert isinstance(err, RPCError)
    return f"Temporal refused the request ({err.status.name}): {err.message}"


@dataclass(frozen=True)
class Failure:
    """What an error that escapes a program means: its exit code and its one line."""

    kinds: tuple[type[BaseException], ...]
    code: ExitCode | Callable[[BaseException], ExitCode]
    line: Callable[[BaseException], str] = first_line

    def code_of(self, err: BaseException) -> ExitCode:
        return self.code(err) if callable(self.code) else self.code


_UNREADABLE_OR_REFUSED = (
    StreamNotFound, VersionNotFound, HistoryReadError, ArchiveError, ProjectionError, EventStreamError, LedgerError,
    UnreadableOrder,
)  # fmt: skip

# The one table: the first row whose kinds the error is of decides. Anything else that
# escapes a program is a fault of ours, and shows as one (a traceback).
FAILURES: tuple[Failure, ...] = (
    Failure((CommandError,), lambda err: err.code if isinstance(err, CommandError) else ExitCode.FAILED),
    Failure((SettingsError, PlaceError, OrderFileError, CheckpointMismatch), ExitCode.USAGE),
    Failure((NamespaceNotSetUp,), ExitCode.NOT_SET_UP),
    Failure((TemporalUnavailable,), ExitCode.UNAVAILABLE),
    Failure(
        (
            StreamNotFound,
            VersionNotFound,
            HistoryReadError,
            ArchiveError,
            ProjectionError,
            EventStreamError,
            LedgerError,
            UnreadableOrder,
            KeyStoreError,
        ),
        ExitCode.FAILED,
    ),
    Failure(
        DatabaseError,
        ExitCode.FAILED,
        lambda err: f"a database (read models, archive or ledger) failed: {first_line(err)}",
    ),
    Failure((RPCError,), _rpc_code, _rpc_line),
)


def failure_of(err: BaseException) -> Failure | None:
    return next((row for row in FAILURES if isinstance(err, row.kinds)), None)


@dataclass
class Way:
    """How one program speaks on its way out: `say` takes its one line (a command prints
    it on stderr, prefixed with its name; a service logs it); `on_signal`, its code when a
    signal stops it before it ends by itself (a command: 130; a service, whose normal end
    a signal is, 0), and `stopped`, what it says then."""

    say: Callable[[str], None]
    on_signal: ExitCode = ExitCode.INTERRUPTED
    stopped: Callable[[], str] = lambda: "stopped by a signal"
    # Where the stopped line goes, when not where failures go (a service logs it as news).
    tell_stopped: Callable[[str], None] | None = None
    # The longest a program may take to end once it gave up, before the runner ends it.
    give_up_within: float = 10.0
    # Whether the runner may end the process (not a program run in-process, under a test).
    may_end_the_process: bool = True


_current: "_Run | None" = None


@dataclass
class _Run:
    way: Way
    code: int | None = None
    stop_requested: bool = False


def stop_requested() -> bool:
    """Whether the runner is stopping the program (a signal, or a test's stop): a cancellation
    seen then is the stop, not some other part of the program giving up."""
    return _current is not None and _current.stop_requested


def run_program(
    program: Program,
    prologue: Callable[[], AbstractContextManager[Settings]],
    way: Way,
    stop: threading.Event | None = None,
) -> int:
    """Run `program` with the settings `prologue` reads; its exit code, every way it ends."""
    global _current
    run = _current = _Run(way)
    if threading.current_thread() is threading.main_thread():
        # Until the program's event loop takes both signals, SIGTERM stops it as Ctrl-C does
        # (a KeyboardInterrupt), so nothing it started is left behind.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with prologue() as settings:
            return _run(program, settings, run, stop)
    except (SettingsError, PlaceError) as err:
        way.say(first_line(err))
        return ExitCode.USAGE
    except KeyboardInterrupt:  # before the program's event loop ran
        (way.tell_stopped or way.say)(way.stopped())
        return way.on_signal
    finally:
        _current = None


def _run(program: Program, settings: Settings, run: _Run, stop: threading.Event | None) -> int:
    way = run.way
    try:
        return asyncio.run(_stopped_by_signals(program(settings), stop))
    except KeyboardInterrupt:
        (way.tell_stopped or way.say)(way.stopped())
        return way.on_signal
    except BrokenPipeError:
        # The reader went away (`orders events X | head`): nothing more to say to it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.FAILED
    except BaseException as err:
        if run.code is not None:  # it gave up: said already
            return run.code
        failure = failure_of(err)
        if failure is None:
            raise
        way.say(failure.line(err))
        return failure.code_of(err)


def give_up(code: ExitCode, line: str | None = None) -> "GaveUp":
    """For a program that cannot end in full (a silent server holds its shutdown): says
    `line`, and the runner ends the process with `code` within the program's bound if the
    program has not ended by itself. Raise what it returns."""
    run = _current
    if run is not None:
        run.code = code
        if line:
            run.way.say(line)
        if run.way.may_end_the_process:
            timer = threading.Timer(run.way.give_up_within, leave, (code,))
            timer.daemon = True
            timer.start()
    return GaveUp(code)


class GaveUp(Exception):
    """A program that gave up, its line said; the runner returns its code."""

    def __init__(self, code: ExitCode) -> None:
        super().__init__(f"gave up ({code.name})")
        self.code = code


async def _stopped_by_signals(command: Coroutine[Any, Any, int], stop: threading.Event | None = None) -> int:
    """`command`, cancelled by SIGTERM or Ctrl-C (or `stop`) as a whole: the one way every
    program stops on a signal. A program that ends normally on one catches the cancellation
    and returns its code; otherwise it surfaces here as KeyboardInterrupt."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None

    def stopping_now() -> None:
        if _current is not None:
            _current.stop_requested = True
        task.cancel()

    # Only the main thread takes signals (a program run in-process elsewhere has none).
    signalled = threading.current_thread() is threading.main_thread()
    for signum in (signal.SIGINT, signal.SIGTERM) if signalled else ():
        loop.add_signal_handler(signum, stopping_now)
    stopping = loop.create_task(_cancel_when_set(stop, stopping_now)) if stop is not None else None
    try:
        return await command
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    finally:
        if stopping is not None:
            stopping.cancel()
        for signum in (signal.SIGINT, signal.SIGTERM) if signalled else ():
            loop.remove_signal_handler(signum)


async def until_stopped(work: Awaitable[Any] | None = None) -> None:
    """`work` (by default, nothing) until the program is stopped (SIGINT, SIGTERM, or a
    test's stop), then return, so that what follows (finishing its work, saying so) runs as
    its normal end. A failure of `work`, or a cancellation that is not the stop, is raised."""
    try:
        await (work if work is not None else asyncio.Event().wait())
    except asyncio.CancelledError:
        if not stop_requested():
            raise
        _stopped_here()


def _stopped_here() -> None:
    """The program caught the runner's stop where it means to end in order: the rest of
    its way out (a worker finishing its activities, a server stopped) runs uncancelled."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()


async def _cancel_when_set(stop: threading.Event, stopping_now: Callable[[], None]) -> None:
    while not stop.is_set():
        await asyncio.sleep(0.05)
    stopping_now()


def leave(code: int) -> NoReturn:
    """The process's end: its output flushed, no interpreter teardown (see above)."""
    for stream in (sys.stdout, sys.stderr):
        with suppress(BrokenPipeError, ValueError):
            stream.flush()
    os._exit(code)
