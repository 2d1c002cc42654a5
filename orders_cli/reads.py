"""`orders events`, `orders state` and `orders report`: reads of the histories, so they
work after an order closed and with no worker running."""

import argparse

import views
from eventstore import EventStore
from orders_cli.session import print_json, progress_on_stderr, read_stream, temporal


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
    async with temporal() as client:
        summary = await EventStore(client).summarize(args.query, on_progress=progress_on_stderr("Reading histories"))
    print_json(summary) if args.json else print(views.order_summary(summary))
    return 0
