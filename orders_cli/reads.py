"""`orders events`, `orders state` and `orders report`: reads of the histories, so they
work after an order closed and with no worker running."""

import argparse
import sys
from pathlib import Path

import views
from domain import OrderState, VersionNotFound
from eventstore import EventsCompacted
from orders_cli.arguments import TARGET_HELP, Subcommands
from orders_cli.personal import with_personal_opened
from orders_cli.sources import (
    event_store,
    is_history_file,
    print_json,
    progress_on_stderr,
    read_stream,
    say_how_many_archived,
    say_if_archived,
    temporal,
)
from programs import CommandError, ExitCode, OrderOrHistoryFile, moment, whole_number
from projections import ProjectedSummaries, open_read_models


def register(commands: Subcommands) -> None:
    events = commands.add("events", events_command)
    events.add_argument("target", type=OrderOrHistoryFile(), metavar="ORDER_ID|PATH", help=TARGET_HELP)
    events.add_argument(
        "--from", dest="from_version", type=whole_number(1), default=1, metavar="N", help="first version (default 1)"
    )
    events.add_argument("--limit", type=whole_number(0), metavar="K", help="at most K events")

    state = commands.add("state", state_command)
    state.add_argument("target", type=OrderOrHistoryFile(), metavar="ORDER_ID|PATH", help=TARGET_HELP)
    when = state.add_mutually_exclusive_group()
    when.add_argument("--version", type=whole_number(0), metavar="N", help="the state after version N (0: before any)")
    when.add_argument("--at", type=moment, metavar="TIME", help="the state as of TIME (ISO 8601; UTC if no zone)")

    report = commands.add("report", report_command)
    report.add_argument("--query", help="a visibility query choosing the orders, e.g. \"OrderStatus='Fulfilled'\"")


async def events_command(args: argparse.Namespace) -> int:
    stream = await read_stream(args.target, args.settings)
    shown = with_personal_opened(stream.read(args.from_version, args.limit), args.settings)
    print_json(shown) if args.json else print(views.audit_trail(shown, stream.envelopes))
    return ExitCode.OK


async def state_command(args: argparse.Namespace) -> int:
    """The state now is the snapshot's where the archive holds the order (no event folded
    again); a past version or time is folded from the events."""
    if args.version is None and args.at is None and not is_history_file(args.target):
        async with temporal(args.settings) as client:
            found = await event_store(client, args.settings).snapshot_of(args.target)
        say_if_archived(args.target, found.archived_in)
        state = found.snapshot.state
    else:
        try:
            state = (await read_stream(args.target, args.settings)).state_at(args.version, args.at)
        except EventsCompacted as compacted:
            state = await _kept_state(args, compacted)
    (state,) = with_personal_opened([state], args.settings)
    print_json(state) if args.json else print(views.order_state(state))
    return ExitCode.OK


async def _kept_state(args: argparse.Namespace, compacted: EventsCompacted) -> OrderState:
    """Of an order compacted to its snapshot, the one state kept: its last version's, which
    answers for that version and for any time after its last event."""
    kept = compacted.tombstone.events
    async with temporal(args.settings) as client:
        state = (await event_store(client, args.settings).snapshot_of(args.target)).snapshot.state
    if args.version == kept or (args.at is not None and state.updated_at is not None and args.at >= state.updated_at):
        return state
    if args.version is not None and args.version > kept:
        raise VersionNotFound(f"order {args.target} has versions 1 to {kept}; there is no version {args.version}")
    asked = f"version {args.version}" if args.version is not None else f"{args.at.isoformat()}"
    raise CommandError(f"{compacted}; its state at {asked} went with them")


async def report_command(args: argparse.Namespace) -> int:
    """From the read models when they are current (no history read at all); else from
    the histories, saying how far behind the read models are. A --query goes to the
    histories: the read models cannot answer a visibility query."""
    target = args.settings.projections
    async with temporal(args.settings) as client:
        projected = None
        if args.query is None and (not isinstance(target, Path) or target.exists()):
            projected = ProjectedSummaries(client, await open_read_models(client, target, writing=False))
        store = event_store(client, args.settings, summaries=projected)
        summary = await store.summarize(args.query, on_progress=progress_on_stderr("Reading histories"))
    say_how_many_archived(store)
    if projected is not None and projected.lag is not None:
        behind = projected.lag
        if behind.current:
            print(f"From the read models in {projected.where}, current.", file=sys.stderr)
        else:
            print(
                f"The read models in {projected.where} are {behind.orders} order(s), {behind.events} event(s),"
                f" {behind.seconds:.1f} s behind (run `orders projector`); reading the histories instead.",
                file=sys.stderr,
            )
    print_json(summary) if args.json else print(views.order_summary(summary))
    return ExitCode.OK
