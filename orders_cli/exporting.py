"""`orders export`: every domain event of every order as JSON Lines, for a warehouse;
incremental with a checkpoint file (docs/export.md)."""

import argparse
import json
import sys
from pathlib import Path

from eventstore import open_archive
from orders_cli.arguments import Subcommands
from orders_cli.session import progress_on_stderr, temporal
from programs import ExitCode
from projections.export import ExportCheckpoint, export, export_schema, finish_output


def register(commands: Subcommands) -> None:
    exporting = commands.add(
        "export",
        export_command,
        "every domain event of every order as JSON Lines (one envelope a line); incremental with --checkpoint",
        json=False,
    )
    exporting.add_argument("--query", help="a visibility query choosing the orders (default: every order)")
    exporting.add_argument(
        "--output", type=Path, metavar="FILE", help="write here (renamed into place once complete); default stdout"
    )
    exporting.add_argument(
        "--checkpoint",
        type=Path,
        metavar="FILE",
        help="remember what was exported here, and export only what is new since (created if missing)",
    )
    exporting.add_argument("--schema", action="store_true", help="print the JSON Schema of one line, and exit")


async def export_command(args: argparse.Namespace) -> int:
    if args.schema:
        print(json.dumps(export_schema(), indent=2))
        return ExitCode.OK
    checkpoint = ExportCheckpoint(args.checkpoint)
    partial = args.output.with_name(args.output.name + ".partial") if args.output else None
    out = partial.open("w", encoding="utf-8") if partial else sys.stdout
    try:
        async with temporal(args.settings) as client:
            archive = open_archive(args.settings.archive)
            run, high_water = await export(
                client, out, checkpoint, query=args.query, archive=archive, on_progress=progress_on_stderr("Exporting")
            )
        if partial is not None:
            finish_output(partial, args.output, out)
        else:
            out.flush()
        checkpoint.commit(high_water)
    except BaseException:
        if partial is not None:
            out.close()
            partial.unlink(missing_ok=True)
        raise
    finally:
        checkpoint.close()
    where = args.output or "stdout"
    print(
        f"Exported {run.events} event(s) of {run.exported_orders} order(s) to {where}; {run.listed} order(s)"
        f" listed, {run.unchanged} unchanged since the checkpoint",
        file=sys.stderr,
    )
    return ExitCode.OK
