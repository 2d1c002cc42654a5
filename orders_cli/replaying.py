"""`orders replay`: today's workflow code against recorded histories, to gate a deploy."""

import argparse
import json
import sys
from collections.abc import AsyncIterator

from temporalio.client import WorkflowHistory

import views
from encryption import Keyring
from eventstore import EnvelopeReader, EventStore, load_history_file, open_archive
from hosting import ReplayReport, replay, replay_all
from orders_cli.arguments import TARGET_HELP, Subcommands
from orders_cli.sources import event_store, is_history_file, say_if_archived, temporal
from programs import CommandError, ExitCode, OrderOrHistoryFile
from storage import where_of


def register(commands: Subcommands) -> None:
    replaying = commands.add("replay", replay_command)
    replaying.add_argument("target", nargs="?", type=OrderOrHistoryFile(), metavar="ORDER_ID|PATH", help=TARGET_HELP)
    replaying.add_argument(
        "--query", help="replay every order a visibility query selects, e.g. \"OrderStatus='Fulfilled'\""
    )
    replaying.add_argument(
        "--archived",
        action="store_true",
        help="replay every archived order (those whose histories retention deleted, too)",
    )
    replaying.add_argument(
        "--debug", action="store_true", help="the SDK's debug mode: breakpoint() in workflow code works"
    )


async def replay_command(args: argparse.Namespace) -> int:
    if sum((args.target is not None, args.query is not None, args.archived)) != 1:
        raise CommandError("give one of: an ORDER_ID, a history file PATH, --query, --archived")
    keyring = args.settings.keyring
    if args.archived:
        return await _replay_archived(args, keyring)
    if args.target is not None:
        if is_history_file(args.target):
            report = await replay(
                load_history_file(args.target, EnvelopeReader.with_keys(keyring)), debug=args.debug, keyring=keyring
            )
        else:
            async with temporal(args.settings) as client:
                located = await event_store(client, args.settings).locate(args.target)
                say_if_archived(args.target, located.archived_in)
                report = await replay(located.history, debug=args.debug, keyring=keyring)
        _print(report, args.json, with_state=True)
        return ExitCode.OK if report.ok else ExitCode.FAILED

    async with temporal(args.settings) as client:
        store = EventStore(client)
        total = await store.listing.count(args.query)
        return await _replay_many(store.histories(args.query), total, "order histories", args, keyring)


async def _replay_archived(args: argparse.Namespace, keyring: Keyring | None) -> int:
    """Every archived order's history, a page of the archive at a time."""
    target = args.settings.archive
    archive = open_archive(target)
    if archive is None:
        raise CommandError(f"nothing was ever archived at {where_of(target)} (ORDERS_ARCHIVE)")

    compacted = 0

    async def histories() -> AsyncIterator[WorkflowHistory]:
        nonlocal compacted
        for order in archive.orders():
            if order.compacted_at is not None:
                compacted += 1  # nothing left to replay: its raw history was compacted away
                continue
            yield order.history()

    try:
        total = archive.count() - archive.compacted()
        code = await _replay_many(histories(), total, f"the archive at {archive.where}", args, keyring)
    finally:
        archive.close()
    if compacted:
        print(
            f"{compacted} archived order(s) not replayed: their raw histories were compacted away"
            " (orders archive compact); their events and snapshots are kept",
            file=sys.stderr,
        )
    return code


async def _replay_many(
    histories: AsyncIterator[WorkflowHistory], total: int, what: str, args: argparse.Namespace, keyring: Keyring | None
) -> int:
    """Each history through one replayer, a line each, progress on stderr, then a summary."""
    replayed = failed = 0
    async for report in replay_all(histories, debug=args.debug, keyring=keyring):
        replayed += 1
        failed += not report.ok
        _print(report, args.json, with_state=False)
        print(f"\rReplaying {what}: {replayed}/{total}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    print(f"{replayed} replayed: {replayed - failed} OK, {failed} failed", file=sys.stderr)
    return ExitCode.FAILED if failed else ExitCode.OK


def _print(report: ReplayReport, as_json: bool, *, with_state: bool) -> None:
    if as_json:
        print(
            json.dumps(
                {
                    "workflow_id": report.workflow_id,
                    "ok": report.ok,
                    "error": report.error,
                    "error_type": report.error_type,
                    "event_id": report.event_id,
                    "event_type": report.event_type,
                    "state": report.state.model_dump(mode="json") if report.state else None,
                }
            )
        )
        return
    if report.ok:
        print(f"{report.workflow_id}: OK")
    else:
        where = f"event {report.event_id} ({report.event_type})" if report.event_id else "the end of the history"
        print(f"{report.workflow_id}: FAILED at {where}: {report.error_type}: {report.error}")
    if with_state and report.state:
        print(views.order_state(report.state))
