"""`orders projector`: keep the read models current, catch up once, rebuild them from
zero, or say how far behind the histories they are."""

import argparse
import asyncio
import sys
from datetime import timedelta

from pydantic import BaseModel
from temporalio.client import Client

from connection import Settings
from eventstore import ArchiveError, EnvelopeReader, SnapshotSeal
from orders_cli.arguments import Subcommands
from orders_cli.sources import archive_to_read, progress_on_stderr, temporal
from programs import CommandError, ExitCode, until_stopped
from projections import (
    READ_MODELS,
    CatchUp,
    Lag,
    ReadModels,
    catch_up,
    include_archived,
    keep_current,
    lag,
    open_read_models,
    rebuild,
)
from storage import where_of

ACTIONS = ("run", "rebuild", "status")


def register(commands: Subcommands) -> None:
    projector = commands.add(
        "projector",
        projector_command,
        writes=("ORDERS_PROJECTIONS_DSN",),
        serves=True,
    )
    projector.add_argument("action", nargs="?", choices=ACTIONS, default="run")
    projector.add_argument("name", nargs="?", choices=READ_MODELS, help="the read model to rebuild")
    projector.add_argument("--once", action="store_true", help="catch up and exit")
    projector.add_argument(
        "--interval", type=float, default=0.5, metavar="S", help="seconds between polls (default 0.5)"
    )


async def projector_command(args: argparse.Namespace) -> int:
    if args.name is not None and args.action != "rebuild":
        raise CommandError(f"a read model's name goes with `rebuild`, not `{args.action}`")
    target = args.settings.projections
    async with temporal(args.settings) as client:
        if args.action == "rebuild":
            return await _rebuild(client, args)
        models = await open_read_models(client, target, writing=args.action != "status")
        if args.action == "status":
            behind = await lag(client, models)
            _print_status(models, behind, as_json=args.json)
            return ExitCode.OK
        done = await catch_up(client, models, on_progress=progress_on_stderr("Catching up"))
        _say(done, "Caught up", models.where)
        await _include_archived(client, models, args.settings)
        if args.once:
            return ExitCode.OK
        print(f"Keeping {models.where} current every {args.interval:g} s; Ctrl-C to stop", file=sys.stderr)
        # Until stopped: only a failure ends it otherwise.
        await until_stopped(keep_current(client, models, timedelta(seconds=args.interval), on_catch_up=_say_if_applied))
        print("Stopped", file=sys.stderr)
        return ExitCode.OK


async def _rebuild(client: Client, args: argparse.Namespace) -> int:
    if args.name is not None:
        # One transaction per order moves every table and the order's checkpoint
        # together, so one table cannot be rebuilt apart from the others.
        print(f"{args.name} shares its checkpoints with every read model: rebuilding them all", file=sys.stderr)
    archive = archive_to_read(args.settings)
    try:
        done, from_archive = await rebuild(
            client, args.settings.projections, archive=archive, on_progress=progress_on_stderr("Rebuilding")
        )
    finally:
        if archive is not None:
            archive.close()
    where = where_of(args.settings.projections)
    _say(done, "Rebuilt", where)
    if from_archive and archive is not None:
        print(f"Applied {from_archive} order(s) from the archive at {archive.where}", file=sys.stderr)
    return ExitCode.OK


async def _include_archived(client: Client, models: ReadModels, settings: Settings) -> None:
    """The orders only the archive holds, which no catch-up lists any more."""
    archive = archive_to_read(settings)
    if archive is None:
        return
    try:
        reader, seal = EnvelopeReader.of(client), SnapshotSeal.of(client)
        applied = await asyncio.to_thread(include_archived, models, archive, reader, seal)
    except ArchiveError as trouble:
        # What Temporal holds is kept current all the same; the archive's orders once it reads.
        print(f"warning: {trouble}; the orders only it holds are not in the read models", file=sys.stderr)
        return
    finally:
        archive.close()
    if applied:
        print(f"Applied {applied} order(s) from the archive at {archive.where}", file=sys.stderr)


def _say(done: CatchUp, what: str, where: str) -> None:
    repaired = f"; {len(done.repaired)} folded again from their first event" if done.repaired else ""
    print(
        f"{what} {where}: {done.listed} order(s) listed, {done.applied} brought up to date,"
        f" {done.events} event(s) applied{repaired}",
        file=sys.stderr,
    )


def _say_if_applied(done: CatchUp) -> None:
    if done.applied:
        print(f"Applied {done.events} event(s) of {done.applied} order(s)", file=sys.stderr, flush=True)


class ReadModelLag(BaseModel):
    name: str
    checkpoint: str | None
    caught_up_at: str | None
    orders_behind: int
    events_behind: int
    seconds_behind: float


class ProjectorStatus(BaseModel):
    """What `orders projector status` reports: the database, and how far behind each read model is."""

    database: str
    orders: int
    read_models: list[ReadModelLag]


def _print_status(models: ReadModels, behind: Lag, *, as_json: bool) -> None:
    status = ProjectorStatus(
        database=models.where,
        orders=models.order_count(),
        read_models=[
            ReadModelLag(
                name=name,
                checkpoint=behind.high_water.isoformat() if behind.high_water else None,
                caught_up_at=behind.caught_up_at.isoformat() if behind.caught_up_at else None,
                orders_behind=behind.orders,
                events_behind=behind.events,
                seconds_behind=round(behind.seconds, 3),
            )
            for name in READ_MODELS
        ],
    )
    if as_json:
        print(status.model_dump_json(indent=2))
        return
    print(f"{status.database}: {status.orders} order(s)")
    print(f"{'read model':<26} {'checkpoint':<33} {'orders behind':>13} {'events behind':>13} {'seconds behind':>14}")
    for model in status.read_models:
        print(
            f"{model.name:<26} {model.checkpoint or '-':<33} {model.orders_behind:>13}"
            f" {model.events_behind:>13} {model.seconds_behind:>14}"
        )
