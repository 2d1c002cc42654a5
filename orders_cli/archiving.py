"""`orders archive`: copy closed orders to the archive before Temporal's retention deletes
their histories; `--verify` holds the archive against itself and against Temporal;
`orders archive import` reads Temporal Cloud's History Export files into it;
`orders archive compact` drops the raw histories of old orders Temporal holds no longer,
keeping their events and snapshots."""

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from datetime import timedelta

from temporalio.client import Client

from eventstore import (
    Archive,
    ArchiveRun,
    Compaction,
    EnvelopeReader,
    SnapshotSeal,
    archive_closed_orders,
    archive_exists,
    check_export_files,
    compact_archive,
    import_history_exports,
    listed,
    verify_archive,
)
from orders_cli.arguments import Subcommands
from orders_cli.sources import progress_on_stderr, temporal
from programs import CommandError, ExitCode, file_to_read, seconds_above_zero, whole_number


def register(commands: Subcommands) -> None:
    parser = commands.add(
        "archive",
        archive_command,
        writes=("ORDERS_ARCHIVE",),
    )
    parser.add_argument(
        "action",
        nargs="?",
        choices=("compact", "import"),
        help="import: read Temporal Cloud's Workflow History Export files into the archive;"
        " compact: drop the raw Temporal history of archived orders closed before --older-than, keeping"
        " their events and snapshots (--keep events), or their events too, keeping only their snapshots"
        " (--keep snapshot)",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        type=file_to_read("history export"),
        metavar="PATH",
        help="import: Workflow History Export files (binary WorkflowExecutions protobuf, or gzipped)",
    )
    parser.add_argument(
        "--older-than", type=whole_number(0), metavar="DAYS", help="compact: orders closed more than DAYS ago"
    )
    parser.add_argument(
        "--keep",
        choices=("events", "snapshot"),
        help="compact: what each order keeps (events: its envelopes and its snapshot; snapshot: its snapshot and a"
        " tombstone, its events deleted)",
    )
    parser.add_argument("--dry-run", action="store_true", help="compact: say what would be compacted, change nothing")
    parser.add_argument(
        "--yes", action="store_true", help="compact --keep snapshot: delete the events (without it: say what would go)"
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
    _check_flags(args)
    target = args.settings.archive
    if args.action == "compact":
        return await _compact(args)
    if args.action == "import":
        return await _import(args)
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


def _check_flags(args: argparse.Namespace) -> None:
    importing = args.action == "import"
    if importing != bool(args.paths):
        raise CommandError("import needs the export files to read: orders archive import PATH…", ExitCode.USAGE)
    if importing and (args.every is not None or args.verify):
        raise CommandError("import runs once, on its own: --every and --verify go with archiving", ExitCode.USAGE)
    compacting = args.action == "compact"
    if compacting and (args.older_than is None or args.keep is None):
        raise CommandError(
            "compact needs --older-than DAYS and --keep events|snapshot (what each order keeps)", ExitCode.USAGE
        )
    if not compacting and (args.older_than is not None or args.keep is not None or args.dry_run or args.yes):
        raise CommandError("--older-than, --keep, --dry-run and --yes go with `orders archive compact`", ExitCode.USAGE)
    if compacting and (args.every is not None or args.verify):
        raise CommandError("compact runs once, on its own: --every and --verify go with archiving", ExitCode.USAGE)
    if args.every is not None and args.verify:
        raise CommandError("--every keeps archiving; --verify checks once: give one of them")


async def _compact(args: argparse.Namespace) -> int:
    if not archive_exists(args.settings.archive):
        raise CommandError(f"nothing was ever archived at {args.settings.archive} (ORDERS_ARCHIVE): nothing to compact")
    to_snapshot = args.keep == "snapshot"
    dry_run = args.dry_run or (to_snapshot and not args.yes)  # deleting events is asked for in so many words
    # The archive first: what is wrong with it is said before Temporal is asked anything.
    archive = Archive(args.settings.archive, writing=not dry_run)
    try:
        async with temporal(args.settings) as client:
            args.on_interrupt = "each order compacted so far stays compacted; run it again to go on"
            done = await compact_archive(
                client,
                archive,
                timedelta(days=args.older_than),
                to_snapshot=to_snapshot,
                reader=EnvelopeReader.of(client),
                seal=SnapshotSeal.of(client),
                dry_run=dry_run,
                concurrency=args.concurrency,
                on_progress=progress_on_stderr("Compacting the archive"),
            )
    finally:
        archive.close()
    if args.json:
        print(json.dumps({"archive": archive.where, "keep": args.keep, "dry_run": dry_run, **asdict(done)}, indent=2))
    else:
        print(_compacted(args, done, archive.where, dry_run))
    return ExitCode.OK if not done.disagreeing else ExitCode.FAILED


def _compacted(args: argparse.Namespace, done: Compaction, where: str, dry_run: bool) -> str:
    verb = "Would compact" if dry_run else "Compacted"
    closed = f"archived order(s) in {where} closed more than {args.older_than} day(s) ago"
    if args.keep == "snapshot":
        said = f"{verb} {done.compacted} {closed} to their snapshots, deleting their events;"
    else:
        said = f"{verb} the raw histories of {done.compacted} {closed}, keeping their events and snapshots;"
    said += (
        f" {done.already} compacted so before. Left: {done.held_by_temporal} Temporal still holds,"
        f" {done.recent} closed since, {done.without_snapshot} without a snapshot yet (run `orders archive`)."
    )
    if done.disagreeing:
        said += (
            f" Kept whole: {len(done.disagreeing)} whose snapshot is not the fold of their events"
            f" (orders archive --verify): {', '.join(done.disagreeing[:10])}"
        )
    if dry_run and args.keep == "snapshot" and not args.dry_run:
        said += " Nothing was deleted: give --yes to delete their events."
    return said


async def _import(args: argparse.Namespace) -> int:
    """Needs no Temporal: the files are the histories (and the keys, with encryption on).
    Every file is checked before the archive is opened: one that is not an export leaves
    the archive as it was, made or not."""
    await asyncio.to_thread(check_export_files, args.paths)
    archive = Archive(args.settings.archive)
    keys = args.settings.keyring
    try:
        args.on_interrupt = "each order imported so far is kept; run it again to go on"
        done = await asyncio.to_thread(
            import_history_exports,
            archive,
            args.paths,
            EnvelopeReader.with_keys(keys),
            SnapshotSeal.with_keys(keys),
            progress_on_stderr("Importing export files"),
            checked=True,
        )
        total = await asyncio.to_thread(archive.count)
    finally:
        archive.close()
    if args.json:
        print(json.dumps({"archive": archive.where, **asdict(done), "in_archive": total}, indent=2))
    else:
        print(
            f"Imported {done.imported} order(s) from {done.histories} histories in {done.files} file(s) to"
            f" {archive.where} ({done.replaced} over an earlier run); {done.already} held already,"
            f" {done.earlier_runs} earlier runs of orders held (abandoned by a reset), {done.not_orders} not orders;"
            f" {total} in the archive."
        )
    return ExitCode.OK


def _say(run: ArchiveRun, archive: Archive, *, as_json: bool) -> None:
    total = archive.count()
    if as_json:
        print(json.dumps({"archive": archive.where, **asdict(run), "in_archive": total}, indent=2), flush=True)
    else:
        print(
            f"Archived {run.archived} closed order(s) to {archive.where}; {run.already} were archived already;"
            f" {total} in the archive."
            + (f" {run.snapshotted} archived before were given their snapshot." if run.snapshotted else ""),
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
            f" Snapshots: {result.snapshots_matching} the fold of their events, {result.without_snapshot} not made yet;"
            f" {result.compacted} raw histories compacted away, {result.tombstones_matching} of them with their"
            " events, to snapshots and tombstones as sealed."
        )
        for problem in listed(result.problems):
            print(f"  {problem}")
    if result.problems:
        print(f"orders archive: {len(result.problems)} problem(s) in {archive.where}", file=sys.stderr)
        return ExitCode.FAILED
    return ExitCode.OK
