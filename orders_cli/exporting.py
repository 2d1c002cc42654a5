"""`orders export`: every domain event of every order as JSON Lines, for a warehouse;
incremental with a checkpoint file (docs/export.md)."""

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any, TextIO, cast

from connection import Settings
from encryption import erased_in_line
from orders_cli.arguments import Subcommands
from orders_cli.sources import archive_to_read, progress_on_stderr, temporal
from programs import ExitCode, file_to_keep, file_to_write
from projections import CheckpointMismatch, ExportCheckpoint, export, export_schema, finish_output
from storage import open_customer_keys


def register(commands: Subcommands) -> None:
    exporting = commands.add(
        "export",
        export_command,
        json=False,
    )
    exporting.add_argument("--query", help="a visibility query choosing the orders (default: every order)")
    exporting.add_argument(
        "--output",
        type=file_to_write("export file"),
        metavar="FILE",
        help="write here (a file there is replaced, once this one is complete); default stdout",
    )
    exporting.add_argument(
        "--checkpoint",
        type=file_to_keep("export checkpoint"),
        metavar="FILE",
        help="remember what was exported here, and export only what is new since (created if missing);"
        " bound to the --query it was made with",
    )
    exporting.add_argument("--schema", action="store_true", help="print the JSON Schema of one line, and exit")


class _ErasedOnTheWay:
    """The output, each line's personal values of forgotten customers written as erased
    (docs/privacy.md); every other sealed value goes out sealed, as it is stored."""

    def __init__(self, out: TextIO, erased: Callable[[str], bool]) -> None:
        self._out, self._erased = out, erased

    @classmethod
    def of(cls, out: TextIO, settings: Settings) -> TextIO:
        keys = open_customer_keys(settings.customer_keys, settings.master_keyring)
        if keys is None:
            return out
        try:
            forgotten = keys.forgotten_key_ids()  # read once: a look-up a line would be one query a line
        finally:
            keys.close()
        return cast(TextIO, cls(out, forgotten.__contains__)) if forgotten else out

    def write(self, text: str) -> int:
        return self._out.write(erased_in_line(text, self._erased))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._out, name)


async def export_command(args: argparse.Namespace) -> int:
    if args.schema:
        print(json.dumps(export_schema(), indent=2))
        return ExitCode.OK
    checkpoint = ExportCheckpoint(args.checkpoint)
    try:
        checkpoint.bind(args.query)
    except CheckpointMismatch:
        checkpoint.close()
        raise
    partial = args.output.with_name(args.output.name + ".partial") if args.output else None
    out = _ErasedOnTheWay.of(partial.open("w", encoding="utf-8") if partial else sys.stdout, args.settings)
    try:
        async with temporal(args.settings) as client:
            archive = archive_to_read(args.settings) if args.query is None else None
            try:
                run, high_water = await export(
                    client,
                    out,
                    checkpoint,
                    query=args.query,
                    archive=archive,
                    on_progress=progress_on_stderr("Exporting"),
                )
            finally:
                if archive is not None:
                    archive.close()
        if partial is not None:
            finish_output(partial, args.output, out)
        else:
            out.flush()
        checkpoint.commit(high_water, args.query)
    except BaseException:
        if partial is not None:
            out.close()
            partial.unlink(missing_ok=True)
        raise
    finally:
        checkpoint.close()
    if run.archive_trouble:
        print(f"warning: {run.archive_trouble}; the orders only it holds were not exported", file=sys.stderr)
    where = args.output or "stdout"
    superseded = f"; {run.superseded} order(s) reset since, their superseded events marked" if run.superseded else ""
    if run.compacted:
        superseded += f"; {run.compacted} order(s) compacted to their snapshots, a line each"
    print(
        f"Exported {run.events} event(s) of {run.exported_orders} order(s) to {where}; {run.listed} order(s)"
        f" listed, {run.unchanged} unchanged since the checkpoint{superseded}",
        file=sys.stderr,
    )
    return ExitCode.OK
