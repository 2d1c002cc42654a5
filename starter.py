"""Start orders and report how they ended.

    python starter.py                     # the tutorial's three orders (examples/tutorial-orders.json)
    python starter.py --file FILE         # a JSON order, a JSON list of orders, or JSON Lines (one a line)
    python starter.py --file FILE --json  # the outcome for machines
    python starter.py --no-wait           # do not keep an embedded server up afterwards
    python starter.py --worker-here       # serve the orders in this process, whoever else polls

Every order in a file is checked before any is started: one malformed order and none of
the file starts. An order id is processed once, ever: one Temporal still holds reports that
run's outcome; one only the archive or the read models know (Temporal's retention deleted
its history) is reported as it ended there; neither is started again. Orders are started
a bounded number at a time, their outcomes awaited as they come (results for orders that
end, one visibility query a second for those that wait for approval), with progress on
stderr; then a summary. Each order's detail is printed for small runs, or with --verbose.

Exit codes: 0 done; 1 an order failed, or could not be read (a key missing); 2 a malformed
file or setting; 3 Temporal could not be reached (or the embedded server was given up);
4 the namespace lacks search attributes orders need; 130 stopped by Ctrl-C or SIGTERM,
saying how many orders were started.
"""

import argparse
import asyncio
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TextIO

from temporalio.service import RPCError

from activities import OrderActivities
from client import (
    DETAIL_UP_TO,
    TUTORIAL_ORDERS,
    Outcome,
    ProgressDisplay,
    Run,
    RunSummary,
    detail,
    follow,
    kept_private,
    load_orders,
    past_orders,
    render_summary,
    report,
    sealed_personal,
    summarize,
    warn_if_nothing_settles,
)
from connection import Connection, Settings, open_connection, silence_of
from contract import SEARCH_ATTRIBUTES, TASK_QUEUE, workflow_id_for
from domain import OrderInput
from hosting import build_worker, has_live_worker, keep_workflow_bytecode
from programs import ExitCode, Way, cancelled, give_up, leave, prologue, run_program, stop_requested, until_stopped
from storage import customer_keys_when_needed


def main(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None, stop: threading.Event | None = None
) -> int:
    """The starter with `argv`, its settings read from `environ` (the process's by default);
    its exit code. `stop` stops it as SIGTERM would (for a run in-process, under a test)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--file", type=Path, default=TUTORIAL_ORDERS, help="orders as JSON or JSON Lines")
    parser.add_argument("--no-wait", action="store_true", help="stop the server and worker this run started, and exit")
    parser.add_argument("--verbose", action="store_true", help="each order's detail, however many there are")
    parser.add_argument("--json", action="store_true", help="print the outcome as JSON for machines")
    parser.add_argument(
        "--worker-here",
        action="store_true",
        help=f"serve the orders inside this process even if another worker polled {TASK_QUEUE!r} lately",
    )
    args = parser.parse_args(argv)
    args.keep_up = stop is None and not args.no_wait and sys.stdin.isatty() and sys.stdout.isatty()
    run = Run({})

    async def starting(settings: Settings) -> int:
        orders = sealed_personal([kept_private(order, settings) for order in load_orders(args.file)], settings)
        return await start_orders(orders, settings, args, run)

    def say(line: str) -> None:
        print(f"error: {line}{'' if line.endswith(('.', '?', '!')) else '.'} {_how_far(run)}", file=sys.stderr)

    way = Way(
        say=say,
        stopped=lambda: f"Stopped by a signal. {_how_far(run)}",
        tell_stopped=lambda line: print(line, file=sys.stderr),
        give_up_within=5.0,
        may_end_the_process=stop is None,
    )
    # Same stream as the report, so "started the embedded server" comes first.
    return run_program(
        starting, lambda: prologue("orders-starter", messages=_words_for_people(args.json), environ=environ), way, stop
    )


async def start_orders(
    orders: Sequence[OrderInput], settings: Settings, args: argparse.Namespace, run: Run | None = None
) -> int:
    run = run or Run({})
    run.outcomes = {order.order_id: Outcome(order) for order in orders}
    connection = await open_connection(settings, SEARCH_ATTRIBUTES)
    try:
        connection.require_search_attributes()
        async with AsyncExitStack() as running:
            client = connection.client
            serve_here = (
                args.worker_here or connection.embedded is not None or not await has_live_worker(client, TASK_QUEUE)
            )
            if serve_here:
                # Nobody else serves the orders: serve them here, over this machine's ledger.
                activities = OrderActivities.over_ledger(
                    settings.ledger, customer_keys_when_needed(settings.customer_keys, settings.master_keyring)
                )
                keep_workflow_bytecode(settings.bytecode_cache)
                await running.enter_async_context(build_worker(client, activities=activities))
                if not args.worker_here:
                    print(
                        f"No worker was polling {TASK_QUEUE!r}: running one inside this process.",
                        file=_words_for_people(args.json),
                    )
            else:
                running.push_async_callback(cancelled, asyncio.create_task(warn_if_nothing_settles(run)))
            run.past = await past_orders(client, settings)
            running.callback(run.past.close)
            began = time.monotonic()
            with ProgressDisplay(len(orders)) as progress:
                progress.run, run.on_change = run, progress.update
                # A stop (SIGINT, SIGTERM) cancels the run here: leaving the block stops the
                # worker gracefully, then the server; the runner says how far it got.
                await connection.unless_server_given_up(follow(client, orders, run, eager=serve_here))
            summary = summarize(list(run.outcomes.values()), time.monotonic() - began)
            _print_outcomes(connection, run, summary, args)
            if args.keep_up and (connection.embedded or serve_here):
                _say_what_stays_up(connection)
                await until_stopped()
        return ExitCode.FAILED if summary.failed else ExitCode.OK
    except asyncio.CancelledError:
        # The runner's stop; else the SDK cancelled the worker's block: the worker failed for good.
        if stop_requested() and connection.given_up() is None:
            raise
        raise connection.worker_failed(settings.rpc_timeout) from None
    except RPCError as err:
        if (silent := silence_of(err, settings)) is None:
            raise
        # A worker stops by telling the server; one fallen silent would hold this run for
        # the core's own deadline. The worker here is left as a crashed one is (Temporal
        # retries its activities elsewhere); a server this run started is stopped.
        await connection.close()
        raise give_up(ExitCode.UNAVAILABLE, str(silent)) from None
    finally:
        await connection.close()


def _how_far(run: Run) -> str:
    """How far a run got, when it ends before its orders settle."""
    if not run.started:
        return "No order was started."
    return (
        f"{run.started} of {len(run.outcomes)} order(s) were started and {run.settled} settled. Temporal keeps the"
        f" started ones: they go on whenever a worker serves {TASK_QUEUE!r}. Run the same file again to start the"
        " rest; orders already started are reported, not processed again."
    )


def _words_for_people(as_json: bool) -> TextIO:
    """Where words for people go: stdout, unless stdout carries JSON."""
    return sys.stderr if as_json else sys.stdout


def _print_outcomes(connection: Connection, run: Run, summary: RunSummary, args: argparse.Namespace) -> None:
    outcomes = list(run.outcomes.values())
    if args.json:
        print(report(summary, outcomes).model_dump_json(indent=2))
        return
    if args.verbose or len(outcomes) <= DETAIL_UP_TO:
        for outcome in outcomes:
            # Temporal no longer holds an order known elsewhere: no link to show it there.
            link = (
                None
                if outcome.known_from
                else connection.workflow_link(workflow_id_for(outcome.order.order_id), outcome.run_id)
            )
            print(f"\n{detail(outcome, link)}")
    print(f"\n{render_summary(summary)}")


def _say_what_stays_up(connection: Connection) -> None:
    print()
    if connection.ui_url:
        print(f"Web UI: {connection.ui_url}")
    print("Keeping the server and worker up for inspection; Ctrl-C to stop.")


if __name__ == "__main__":
    leave(main())
