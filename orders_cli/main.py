"""orders: read, audit and time-travel orders from Temporal's history, and decide on them.

Every read goes to the workflow history, not to a worker: it works after an order
closed and with no worker running, and on a history exported from the Web UI or with
`temporal workflow show --output json` (give its path instead of an order id).
Decisions (approve, reject, cancel) are workflow updates and need a worker polling
`orders`. Connection settings are the Temporal SDK's env config (TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, ...); when nothing answers at a local address, the embedded dev
server is started on this machine's `.temporal/` data.

Exit codes, the same for every program of the project: 0 done (health: healthy); 1 not
found, refused, unreadable, a replay that failed, discrepancies found by reconcile, or
health degraded; 2 malformed arguments or settings; 3 Temporal could not be reached;
130 stopped by Ctrl-C or SIGTERM.
"""

import argparse
import importlib
import logging
import sys
import threading
from collections.abc import Mapping, Sequence

from orders_cli.arguments import OneLineErrors, Subcommands
from orders_cli.catalogue import CATALOGUE


def build_parser(chosen: str | None = None, *, every: bool = False) -> argparse.ArgumentParser:
    """The command tree: the modules of `chosen` (or, `every`, of all subcommands) loaded
    and registering their flags; the others listed from the catalogue."""
    parser = OneLineErrors(prog="orders", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = Subcommands(parser)
    loaded: set[str] = set()
    for name, entry in CATALOGUE.items():
        if entry.module in loaded:
            continue
        if every or name == chosen or (chosen is not None and CATALOGUE.get(chosen, entry).module == entry.module):
            importlib.import_module(entry.module).register(commands)
            loaded.add(entry.module)
        else:
            commands.stub(name)
    return parser


def run(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None, stop: threading.Event | None = None
) -> int:
    """`orders` with `argv` (the process's arguments by default), its settings read from
    `environ` (the process's environment by default); the exit code. `stop`, when set,
    stops it as SIGTERM would (for a command run in-process, which takes no signals, and
    which the runner never ends hard)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    chosen = next((arg for arg in argv if not arg.startswith("-")), None)
    args = build_parser(chosen).parse_args(argv)
    # What running a command needs, once it is known to run (`--help` has exited by now).
    from programs import Way, prologue, run_program

    def say(line: str) -> None:
        print(f"orders {args.command}: {line}", file=sys.stderr)

    def stopped() -> str:
        besides = getattr(args, "on_interrupt", None)
        return "stopped by a signal" + (f"; {besides}" if besides else "")

    async def command(settings: object) -> int:
        args.settings = settings
        code: int = await args.run(args)
        return code

    way = Way(say=say, stopped=stopped, may_end_the_process=stop is None)
    # A replay that diverges is reported by us, once; the core's own warning would repeat it.
    return run_program(
        command, lambda: prologue("orders-cli", core_log_level=logging.ERROR, environ=environ), way, stop
    )


def main() -> None:
    code = run()
    from programs import leave  # (after the run: `--help` has left by argparse's own exit)

    leave(code)


if __name__ == "__main__":
    main()
