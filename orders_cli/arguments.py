"""How `orders` subcommands take their arguments: one line for a malformed one (exit 2,
before anything is reached), and the registry where each module adds its own
subcommands and flags. The argument types themselves are every program's (programs)."""

import argparse
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import NoReturn

from orders_cli.catalogue import CATALOGUE
from programs import ExitCode

TARGET_HELP = "an order id, or the path of a history exported from the Web UI or `temporal workflow show --output json`"


class OneLineErrors(argparse.ArgumentParser):
    """Bad arguments get one line naming the problem, not the whole usage text."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(ExitCode.USAGE)


Command = Callable[[argparse.Namespace], Awaitable[int]]


class Subcommands:
    """Where each module of `orders` registers its subcommands, each with its own flags (its
    synopsis is the catalogue's); a subcommand whose module is not loaded is listed from the
    catalogue alone (`stub`)."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self._commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineErrors)
        self._output = OneLineErrors(add_help=False)
        self._output.add_argument("--json", action="store_true", help="print JSON for machines instead of a table")

    def stub(self, name: str) -> None:
        """`name` listed with its synopsis, its module not loaded (nothing chose it)."""
        self._commands.add_parser(name, help=CATALOGUE[name].synopsis, add_help=False)

    def add(
        self,
        name: str,
        run: Command,
        *,
        json: bool = True,
        parents: Sequence["OneLineErrors"] = (),
        writes: Sequence[str] = (),
        serves: bool = False,
    ) -> argparse.ArgumentParser:
        """`writes`: the settings naming places this subcommand writes (ORDERS_ARCHIVE, …):
        every other place it only reads, and opens so. `serves`: it runs until stopped."""
        given: list[OneLineErrors] = [self._output, *parents] if json else list(parents)
        parser: argparse.ArgumentParser = self._commands.add_parser(name, parents=given, help=CATALOGUE[name].synopsis)
        parser.set_defaults(run=run, writes=frozenset(writes), serves=serves)
        return parser
