"""`orders events`, `orders state` and `orders report`: reads of the histories, so they
work after an order closed and with no worker running."""

import argparse
import sys
from pathlib import Path

import views
from connection import load_settings
from orders_cli.session import event_store, print_json, progress_on_stderr, read_stream, say_how_many_archived, temporal
from projections import ProjectedSummaries, open_read_models


async def events_command(args: argparse.Namespace) -> int:
    stream = await read_stream(args.target)
    shown = stream.read(args.from_version, args.limit)
    print_json(shown) if args.json else print(views.audit_trail(shown, stream.envelopes))
    return 0


async def state_command(args: argparse.Namespace) -> int:
    state = (await read_stream(args.target)).state_at(args.version, args.at)
    print_json(state) if args.json else print(views.order_state(state))
    return 0


async def report_command(args: argparse.Namespace) -> int:
    """From the read models when they are current (no history read at all); else from
    the histories, saying how far behind the read models are. A --query goes to the
    histories: the read models cannot answer a visibility query."""
    target = load_settings().projections
    async with temporal() as client:
        projected = None
        if args.query is None and (not isinstance(target, Path) or target.exists()):
            projected = ProjectedSummaries(client, await open_read_models(client, target))
        store = event_store(client, summaries=projected)
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
    return 0
