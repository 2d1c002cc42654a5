"""`orders archive`: copy closed orders to the archive before Temporal's retention deletes
their histories; `--verify` holds the archive against itself and against Temporal."""

import argparse
import asyncio
import json
import sys
from dataclasses import asdict

from temporalio.client import Client

from eventstore import Archive, ArchiveRun, archive_closed_orders, listed, verify_archive
from orders_cli.arguments import Subcommands
from orders_cli.sources import progress_on_stderr, temporal
from programs import CommandError, ExitCode, seconds_above_zero, whole_number


def register(commands: Subcommands) -> None:
    parser = commands.add(
        "archive",
        archive_command,
        writes=("ORDERS_ARCHIVE",),
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="check the archive: each order reads back as archived and matches the history Temporal still holds",
    )
    parser.add_argument(
        "--concurrency", type=whole_number(1), default=8, metavar="N", help="histories read at a time (default 8)"
    )
    parser.add_argument(
        "--every",
        type=seconds_above_zero,
        metavar="S",
        help="keep archiving: again every S seconds, until Ctrl-C or SIGTERM",
    )


async def archive_command(args: argparse.Namespace) -> int:
    if args.every is not None and args.verify:
        raise CommandError("--every keeps archiving; --verify checks once: give one of them")
    target = args.settings.archive
    async with temporal(args.settings) as client:
        # Only archiving writes the archive: --verify reads it (and may read a copy on read-only media).
        archive = Archive(target, writing=not args.verify)
        try:
            if args.verify:
                return await _verify(client, archive, args)
            args.on_interrupt = "each order archived so far is kept; run it again to go on"
            while True:
                run = await archive_closed_orders(
                    client, archive, progress_on_stderr("Archiving closed orders"), concurrency=args.concurrency
                )
                _say(run, archive, as_json=args.json)
                if args.every is None:
                    return ExitCode.OK
                await asyncio.sleep(args.every)
        finally:
            archive.close()


def _say(run: ArchiveRun, archive: Archive, *, as_json: bool) -> None:
    total = archive.count()
    if as_json:
        print(json.dumps({"archive": archive.where, **asdict(run), "in_archive": total}, indent=2), flush=True)
    else:
        print(
            f"Archived {run.archived} closed order(s) to {archive.where}; {run.already} were archived already;"
            f" {total} in the archive.",
            flush=True,
        )


async def _verify(client: Client, archive: Archive, args: argparse.Namespace) -> int:
    result = await verify_archive(client, archive, progress_on_stderr("Verifying the archive"), args.concurrency)
    if args.json:
        print(json.dumps({"archive": archive.where, **asdict(result)}, indent=2))
    else:
        print(
            f"{result.checked} archived order(s) in {archive.where}: {result.matching} match Temporal's history,"
            f" {result.only_in_archive} only in the archive (Temporal no longer holds them),"
            f" {len(result.problems)} problem(s); {result.not_archived} closed order(s) not archived yet."
        )
        for problem in listed(result.problems):
            print(f"  {problem}")
    if result.problems:
        print(f"orders archive: {len(result.problems)} problem(s) in {archive.where}", file=sys.stderr)
        return ExitCode.FAILED
    return ExitCode.OK
