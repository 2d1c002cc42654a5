"""How the `orders` command reaches what it reads: a Temporal server, or a history file;
and how it shows progress while it reads many."""

import json
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.service import RPCError

from connection import Settings, open_connection, silence_of
from contract import SEARCH_ATTRIBUTES
from domain import OrderStream, SummarySource
from eventstore import Archive, EnvelopeReader, EventStore, open_archive, read_history_file
from programs import is_history_path
from storage import PlaceError


@asynccontextmanager
async def temporal(settings: Settings) -> AsyncIterator[Client]:
    """A client as the settings say (or on the embedded server), closed afterwards."""
    connection = await open_connection(settings, SEARCH_ATTRIBUTES)
    try:
        yield connection.client
    except RPCError as err:
        # A server that answered and then fell silent is said as such, in one line.
        if (silent := silence_of(err, settings)) is None:
            raise
        raise silent from None
    finally:
        await connection.close()


def first_line(err: Exception) -> str:
    """An error's first line, for the one line a failure gets on stderr."""
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def is_history_file(target: str) -> bool:
    """Whether TARGET names an exported history rather than an order id."""
    return is_history_path(target)


def archive_to_read(settings: Settings) -> Archive | None:
    """The archive, opened to read only (only `orders archive` writes it); None when
    nothing was ever archived where ORDERS_ARCHIVE says, or nothing can be there (said in
    one warning line: the read goes on from Temporal)."""
    try:
        return open_archive(settings.archive)
    except PlaceError as err:
        print(f"warning: no archive read: ORDERS_ARCHIVE: {err}", file=sys.stderr)
        return None


def event_store(client: Client, settings: Settings, summaries: SummarySource | None = None) -> EventStore:
    """The event store over this client's histories, falling back to the archive (when
    anything was archived) for orders whose histories retention has deleted."""
    return EventStore(client, summaries=summaries, archive=archive_to_read(settings))


async def read_stream(target: str, settings: Settings) -> OrderStream:
    """The order's stream, from an exported history file or from the server's history
    (from the archive, saying so, when Temporal holds it no longer)."""
    if is_history_file(target):
        return read_history_file(target, EnvelopeReader.with_keys(settings.keyring))
    async with temporal(settings) as client:
        found = await event_store(client, settings).read_stored(target)
        say_if_archived(target, found.archived_in)
        return found.stream


def say_how_many_archived(store: EventStore) -> None:
    """One line on stderr when a read of many orders took some from the archive, and one
    when it went on without an archive it could not read."""
    if store.archive_trouble is not None:
        print(f"warning: {store.archive_trouble}; the orders only it holds are left out", file=sys.stderr)
    if store.archived_reads and store.archive is not None:
        print(
            f"{store.archived_reads} order(s) read from the archive at {store.archive.where}:"
            " Temporal no longer holds their histories.",
            file=sys.stderr,
        )


def say_if_archived(order_id: str, archive: str | None) -> None:
    """One line on stderr naming the archive an order was read from."""
    if archive is not None:
        print(
            f"Order {order_id} read from the archive at {archive}: Temporal no longer holds its history"
            " (the namespace's retention ended).",
            file=sys.stderr,
        )


def print_json(value: BaseModel | Sequence[BaseModel]) -> None:
    if not isinstance(value, BaseModel):
        print(json.dumps([item.model_dump(mode="json") for item in value], indent=2))
    else:
        print(value.model_dump_json(indent=2))


# Reads of more orders than this show their progress on stderr.
_PROGRESS_ABOVE = 20
_PLAIN_PROGRESS_EVERY_SECONDS = 5.0


def progress_on_stderr(what: str) -> Callable[[int, int], None]:
    """An on_progress(done, total) that redraws one line on a terminal, and otherwise
    writes a line every few seconds (and the last), so a log never gets one line per order."""
    on_terminal = sys.stderr.isatty()
    last_line = 0.0

    def show(done: int, total: int) -> None:
        nonlocal last_line
        if total <= _PROGRESS_ABOVE:
            return
        if on_terminal:
            print(f"\r{what}: {done}/{total}", end="\n" if done == total else "", file=sys.stderr, flush=True)
        elif done == total or time.monotonic() - last_line >= _PLAIN_PROGRESS_EVERY_SECONDS:
            last_line = time.monotonic()
            print(f"{what}: {done}/{total}", file=sys.stderr, flush=True)

    return show
