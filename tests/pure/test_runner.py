"""One way out of every program: whatever kind of error escapes `orders`, `starter.py` or
`worker.py`, the one runner (programs.runner) gives its exit code and one line. Each
program's work is replaced by one that raises; the programs run in-process, no server."""

import json
import logging

import pytest
from temporalio.service import RPCError, RPCStatusCode

import starter
import worker
from activities.ledger import LedgerError
from client import OrderFileError, UnreadableOrder
from connection import NamespaceNotSetUp, SettingsError, TemporalUnavailable
from domain import EventStreamError, VersionNotFound
from eventstore import ArchiveError, HistoryReadError, StreamNotFound
from programs import CommandError, ExitCode
from programs.runner import FAILURES
from projections import ProjectionError
from storage import PlaceError
from storage.databases import PostgresError
from tests.commands import orders_here, run_here

KINDS: list[tuple[BaseException, ExitCode]] = [
    (CommandError("refused as asked"), ExitCode.FAILED),
    (CommandError("malformed as asked", ExitCode.USAGE), ExitCode.USAGE),
    (SettingsError("ORDERS_X is wrong"), ExitCode.USAGE),
    (PlaceError("/x is a directory, not a file"), ExitCode.USAGE),
    (OrderFileError("orders.json: line 2: not JSON"), ExitCode.USAGE),
    (NamespaceNotSetUp("search attribute OrderStatus missing"), ExitCode.NOT_SET_UP),
    (TemporalUnavailable("Temporal at 127.0.0.1:1 did not answer"), ExitCode.UNAVAILABLE),
    (StreamNotFound("no order 'X'"), ExitCode.FAILED),
    (VersionNotFound("there is no version 7"), ExitCode.FAILED),
    (HistoryReadError("history event 5: not JSON"), ExitCode.FAILED),
    (ArchiveError("the archive at /a cannot be read"), ExitCode.FAILED),
    (ProjectionError("order X: its stream cannot be folded"), ExitCode.FAILED),
    (EventStreamError("stream 'X' is at version 2"), ExitCode.FAILED),
    (LedgerError("the ledger at /l cannot be used"), ExitCode.FAILED),
    (UnreadableOrder("order 'X' cannot be read: key 'B'"), ExitCode.FAILED),
    (PostgresError("connection refused\nmore detail"), ExitCode.FAILED),
    (RPCError("no such thing", RPCStatusCode.INVALID_ARGUMENT, b""), ExitCode.FAILED),
    (RPCError("gone", RPCStatusCode.UNAVAILABLE, b""), ExitCode.UNAVAILABLE),
]


def test_every_row_of_the_table_is_tried_here():
    tried = {type(err) for err, _ in KINDS}
    for row in FAILURES:
        assert any(issubclass(kind, row.kinds) for kind in tried), row


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize(("error", "code"), KINDS, ids=lambda value: type(value).__name__)
def test_orders_gives_each_kind_of_error_its_code_and_one_line(monkeypatch, error, code):
    async def raising(args) -> int:
        raise error

    monkeypatch.setattr("orders_cli.reads.events_command", raising)
    ran = orders_here({}, "events", "ORDER-1")
    assert ran.returncode == code
    (line,) = lines(ran.stderr)
    assert line.startswith("orders events: ") and "Traceback" not in ran.stderr


@pytest.mark.parametrize(("error", "code"), KINDS, ids=lambda value: type(value).__name__)
def test_the_starter_gives_each_kind_of_error_its_code_and_one_line_and_how_far_it_got(monkeypatch, error, code):
    async def raising(*args, **kwargs) -> int:
        raise error

    monkeypatch.setattr(starter, "start_orders", raising)
    ran = run_here(starter.main, {}, "--no-wait")
    assert ran.returncode == code
    (said,) = lines(ran.stderr)
    assert said.startswith("error: ") and said.endswith(". No order was started.")


@pytest.mark.parametrize(("error", "code"), KINDS, ids=lambda value: type(value).__name__)
def test_the_worker_gives_each_kind_of_error_its_code_and_one_logged_line(monkeypatch, error, code):
    async def raising(*args, **kwargs) -> None:
        raise error

    monkeypatch.setattr(worker, "serve", raising)
    ran = run_here(worker.main, {"ORDERS_LOG_FORMAT": "json"})
    assert ran.returncode == code
    (line,) = lines(ran.stderr)
    logged = json.loads(line)
    assert (logged["level"], logged["logger"]) == ("ERROR", "worker"), logged


def test_an_error_outside_the_table_is_a_fault_and_shows_as_one(monkeypatch):
    async def raising(args) -> int:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("orders_cli.reads.events_command", raising)
    with pytest.raises(ZeroDivisionError):
        orders_here({}, "events", "ORDER-1")


def test_a_program_run_in_process_leaves_the_process_as_it_found_it():
    """What a program sets up for itself (log handlers and levels, warning filters, the
    SIGTERM handler) is the process's own again once it has run in-process."""
    import signal
    import sys
    import warnings

    root = logging.getLogger()
    before = (
        list(root.handlers),
        root.level,
        list(warnings.filters),
        signal.getsignal(signal.SIGTERM),
        sys.pycache_prefix,
    )
    for program, args in ((orders_here, ("events", "ORDER-1")), (lambda env, *a: run_here(worker.main, env, *a), ())):
        # An address that is not this machine's (TEST-NET): nothing answers, and no embedded server is started.
        program(
            {"ORDERS_LOG_FORMAT": "json", "TEMPORAL_ADDRESS": "192.0.2.1:7233", "ORDERS_CONNECT_TIMEOUT": "1"}, *args
        )
    assert (
        list(root.handlers),
        root.level,
        list(warnings.filters),
        signal.getsignal(signal.SIGTERM),
        sys.pycache_prefix,
    ) == before
