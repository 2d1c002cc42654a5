"""Every place an `orders` command reads or writes, tried by the role it plays, over the whole
command tree: a new subcommand or flag is walked here without editing this test.

- an input file (a history file, a ledger) that is a directory, missing or garbage: one
  line, a non-zero exit; read-only: read as usual;
- an output file that is a directory, under a regular file, in a missing or read-only
  directory: one line, before any work; an existing file: replaced;
- a file read and rewritten (a checkpoint): as an output, and garbage is one line;
- a directory or database setting (ORDERS_DATA_DIR, ORDERS_ARCHIVE, ORDERS_PROJECTIONS_DSN,
  ORDERS_LEDGER) that is a regular file, under one, read-only or garbage: one line for a command that
  writes it, and a read as usual (or one line naming why not) for a command that only reads.
No traceback in any case. Commands run in-process (the entry function the console script
calls), in a shop of the test's own: one order, archived and projected.
"""

import argparse
import json
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.api.export.v1 import WorkflowExecution, WorkflowExecutions
from temporalio.api.history.v1 import History

from eventstore import Archive
from orders_cli.main import build_parser
from programs.arguments import PathArgument
from storage.places import Role
from tests.commands import Ran, orders_in_process
from tests.conftest import settings_for, shop_in, take_namespace
from tests.orders import one_line_order
from tests.places import a_regular_file, backup_of, garbage, read_only

GOLDEN = Path(__file__).resolve().parents[1] / "histories" / "golden"
ORDER = "WALK-1"
# What a positional argument is given, by its name; any other takes the order id.
POSITIONAL_EXAMPLES = {"build_id": "walk-build", "customer_id": "CUSTOMER-WALK"}
# What comes before a path positional that only an action takes: `orders archive import PATH`.
BEFORE_PATHS = {("archive", "paths"): ["import"]}
# The settings naming a directory or database, and what each holds by default under the data directory.
STORE_SETTINGS = ("ORDERS_DATA_DIR", "ORDERS_ARCHIVE", "ORDERS_PROJECTIONS_DSN", "ORDERS_LEDGER")
# A command that serves until stopped is stopped after this long (as SIGTERM would).
SERVING_SECONDS = 1.0


@dataclass(frozen=True)
class Subcommand:
    name: str
    parser: argparse.ArgumentParser

    @property
    def writes(self) -> frozenset[str]:
        return self.parser.get_default("writes")

    @property
    def serves(self) -> bool:
        return bool(self.parser.get_default("serves"))

    def argv(self) -> list[str]:
        """The least it runs with: each required argument an example."""
        argv = [self.name]
        for action in self.parser._actions:
            if action.option_strings:
                if action.required:
                    argv += [action.option_strings[-1], "walk"]
            elif action.nargs not in ("?", "*") and not isinstance(action, argparse._SubParsersAction):
                argv.append(POSITIONAL_EXAMPLES.get(action.dest, ORDER))
        return argv

    def paths(self) -> Iterator[argparse.Action]:
        for action in self.parser._actions:
            if isinstance(action.type, PathArgument):
                yield action


def subcommands() -> list[Subcommand]:
    parser = build_parser(every=True)
    (choices,) = [action.choices for action in parser._actions if isinstance(action, argparse._SubParsersAction)]
    return [Subcommand(name, sub) for name, sub in choices.items()]


SUBCOMMANDS = subcommands()


def test_the_walk_finds_every_subcommand_and_every_path_argument():
    names = {sub.name for sub in SUBCOMMANDS}
    assert {"events", "state", "report", "replay", "export", "archive", "projector", "reconcile", "health"} <= names
    with_paths = {(sub.name, action.dest) for sub in SUBCOMMANDS for action in sub.paths()}
    expected = {("events", "target"), ("export", "output"), ("export", "checkpoint"), ("reconcile", "ledger")}
    assert expected | {("archive", "paths")} <= with_paths


@dataclass
class WalkShop:
    settings: dict[str, str]
    data: Path
    scratch: Path
    history_file: Path
    checkpoint: Path

    async def run(self, sub: Subcommand, argv: list[str], **settings: str) -> Ran:
        ran = await orders_in_process(
            {**self.settings, **settings}, *argv, stop_after=SERVING_SECONDS if sub.serves else None
        )
        assert "Traceback" not in ran.stderr, (argv, settings, ran.stderr)
        return ran


@pytest.fixture(scope="module")
async def walk_shop(dev_env, tmp_path_factory) -> AsyncIterator[WalkShop]:
    namespace, root = take_namespace(), tmp_path_factory.mktemp("walk")
    settings = settings_for(dev_env, namespace, root / "data")
    async with shop_in(dev_env, namespace, root / "data") as shop:
        await shop.place(one_line_order(ORDER, "PROD-001", 1, "10.00"))
        shop_ = WalkShop(
            settings, root / "data", root / "scratch", GOLDEN / "fulfilled.json", root / "export.checkpoint"
        )
        for made in (("archive",), ("projector", "--once"), ("export", "--checkpoint", str(shop_.checkpoint))):
            ran = await orders_in_process(settings, *made)
            assert ran.returncode == 0, ran.stderr
    shop_.scratch.mkdir()
    yield shop_


def one_line(ran: Ran) -> str:
    lines = [line for line in ran.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, (ran.args, ran.stderr)
    return lines[0]


def fails_in_one_line(ran: Ran) -> None:
    assert ran.returncode != 0, (ran.args, ran.stdout, ran.stderr)
    one_line(ran)


def reads_as_usual_or_says_why_not(ran: Ran, usual: Ran) -> None:
    if ran.returncode != usual.returncode:
        fails_in_one_line(ran)


# -- Path arguments, by role -------------------------------------------------------


def input_cases(shop: WalkShop, kind: str) -> dict[str, Path]:
    place = shop.scratch / kind.replace(" ", "-")
    place.mkdir(exist_ok=True)
    (place / "a-directory.json").mkdir(exist_ok=True)
    return {
        "a directory": place / "a-directory.json",
        "missing": place / "missing.json",
        "garbage": garbage(place / "garbage.json"),
    }


def valid_input(shop: WalkShop, kind: str) -> Path:
    if kind == "history export":  # Temporal Cloud's export of the shop's one order (archived already: kept as it is)
        archive = Archive(shop.data / "archive", writing=False)
        archived = archive.get(ORDER)
        archive.close()
        assert archived is not None
        history = History(events=archived.history().events)
        exported = shop.scratch / "valid-export.pb"
        exported.write_bytes(WorkflowExecutions(items=[WorkflowExecution(history=history)]).SerializeToString())
        return exported
    return {"history file": shop.history_file, "ledger database": shop.data / "ledger.sqlite"}[kind]


def output_cases(shop: WalkShop, name: str) -> dict[str, Path]:
    place = shop.scratch / f"out-{name}"
    place.mkdir(exist_ok=True)
    (place / "read-only").mkdir(exist_ok=True)
    return {
        "a directory": place,
        "under a regular file": a_regular_file(place / "a-file") / "out",
        "in a missing directory": place / "missing" / "out",
        "in a read-only directory": place / "read-only" / "out",
    }


@pytest.mark.parametrize("sub", [sub for sub in SUBCOMMANDS if any(sub.paths())], ids=lambda sub: sub.name)
async def test_every_path_argument_refuses_a_wrong_place_in_one_line(walk_shop, sub):
    for action in sub.paths():
        kind: PathArgument = action.type  # type: ignore[assignment]
        place = action.option_strings[-1] if action.option_strings else None
        before = BEFORE_PATHS.get((sub.name, action.dest), [])

        def argv(value: Path, place: str | None = place, before: list[str] = before) -> list[str]:
            base = sub.argv()
            if place is None:  # the positional: in the place of the order id
                return [value if arg == ORDER else arg for arg in base] if ORDER in base else [*base, *before, value]
            return [*base, place, str(value)]

        argv_of: Callable[[Path], list[str]] = lambda value: [str(part) for part in argv(value)]  # noqa: E731
        if kind.role is Role.INPUT:
            for value in input_cases(walk_shop, kind.kind).values():
                fails_in_one_line(await walk_shop.run(sub, argv_of(value)))
            valid = valid_input(walk_shop, kind.kind)
            copy = walk_shop.scratch / f"read-only-{sub.name}-{action.dest}" / valid.name
            copy.parent.mkdir(exist_ok=True)
            shutil.copy(valid, copy)
            usual = await walk_shop.run(sub, argv_of(copy))
            with read_only(copy.parent):
                assert (await walk_shop.run(sub, argv_of(copy))).returncode == usual.returncode
        else:
            cases = output_cases(walk_shop, f"{sub.name}-{action.dest}")
            with read_only(cases["in a read-only directory"].parent):
                for case, value in cases.items():
                    refused = await walk_shop.run(sub, argv_of(value))
                    assert refused.returncode == 2, (case, refused.stderr)
                    assert place or "ORDER_ID" in one_line(refused)
                    assert place is None or place in one_line(refused), (case, refused.stderr)
            if kind.role is Role.STATE:
                garbled = garbage(walk_shop.scratch / f"garbage-{sub.name}-{action.dest}")
                fails_in_one_line(await walk_shop.run(sub, argv_of(garbled)))
                kept = walk_shop.scratch / f"kept-{sub.name}-{action.dest}"
                shutil.copy(walk_shop.checkpoint, kept)
                with read_only(kept):
                    fails_in_one_line(await walk_shop.run(sub, argv_of(kept)))
            else:
                existing = a_regular_file(walk_shop.scratch / f"existing-{sub.name}-{action.dest}")
                replaced = await walk_shop.run(sub, argv_of(existing))
                assert replaced.returncode == 0, replaced.stderr
                assert existing.read_text() != "a regular file\n"


# -- Settings naming a directory or database ----------------------------------------


def store_cases(shop: WalkShop, setting: str) -> dict[str, str]:
    """Each wrong place for `setting`, and a read-only copy of the right one."""
    place = shop.scratch / f"store-{setting}"
    if place.exists():
        return json.loads((place / "cases.json").read_text())
    place.mkdir()
    a_file = a_regular_file(place / "a-regular-file")
    if setting == "ORDERS_DATA_DIR":
        valid, damaged = shop.data, place / "garbage-data"
        for inside in ("projections.sqlite", "ledger.sqlite", "archive/orders-archive.sqlite"):
            garbage(damaged / inside)
    elif setting == "ORDERS_ARCHIVE":
        valid, damaged = shop.data / "archive", place / "garbage-archive"
        garbage(damaged / "orders-archive.sqlite")
    else:
        valid = shop.data / ("projections.sqlite" if setting == "ORDERS_PROJECTIONS_DSN" else "ledger.sqlite")
        damaged = garbage(place / "garbage.sqlite")
    # A read-only copy as a backup restores it: each database one file, in rollback-journal mode.
    copy = place / "read-only" / valid.name
    copy.parent.mkdir()
    if valid.is_dir():
        shutil.copytree(valid, copy, ignore=shutil.ignore_patterns("*.sqlite*"))
        for database in valid.rglob("*.sqlite"):
            backup_of(database, copy / database.relative_to(valid))
    else:
        backup_of(valid, copy)
    cases = {
        "a regular file": str(a_file),
        "under a regular file": str(a_file / "below"),
        "garbage": str(damaged),
        "read-only": str(copy),
    }
    (place / "cases.json").write_text(json.dumps(cases))
    return cases


def writes(sub: Subcommand, setting: str) -> bool:
    """Whether `sub` writes the place `setting` names: the data directory is written by
    whoever writes what lives there by default."""
    return setting in sub.writes or (setting == "ORDERS_DATA_DIR" and bool(sub.writes))


@pytest.mark.parametrize("sub", SUBCOMMANDS, ids=lambda sub: sub.name)
async def test_every_command_meets_a_wrong_store_with_one_line_or_reads_as_usual(walk_shop, sub):
    usual = await walk_shop.run(sub, sub.argv())
    for setting in STORE_SETTINGS:
        cases = store_cases(walk_shop, setting)
        for case, value in cases.items():
            if case == "read-only":
                with read_only(Path(value).parent):
                    ran = await walk_shop.run(sub, sub.argv(), **{setting: value})
            else:
                ran = await walk_shop.run(sub, sub.argv(), **{setting: value})
            if writes(sub, setting):
                assert ran.returncode not in (0, 130), (setting, case, ran.stdout, ran.stderr)
                one_line(ran)
            elif case == "read-only":
                assert ran.returncode == usual.returncode, (setting, case, ran.stdout, ran.stderr)
            else:
                reads_as_usual_or_says_why_not(ran, usual)
