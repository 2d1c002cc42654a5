"""`orders archive import` killed midway (SIGKILL, a real process) and run again: every
order of the export files archived once, none lost, as `orders archive` would keep it.
The files are built with the SDK's protobuf classes from real dev-server histories."""

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
from pathlib import Path

from temporalio.api.export.v1 import WorkflowExecution, WorkflowExecutions
from temporalio.api.history.v1 import History

from tests.commands import orders_in_process
from tests.integration.helpers import ORDERS_COMMAND, start_small_orders
from tests.integration.test_compaction import archive_file

TOTAL = 60
FIRST_FILE = 5  # orders in the first file: the kill is aimed at the second


def archived(env: dict[str, str]) -> int:
    if not archive_file(env).exists():
        return 0
    try:
        with sqlite3.connect(archive_file(env)) as db:
            return int(db.execute("SELECT COUNT(*) FROM archived_orders").fetchone()[0])
    except sqlite3.OperationalError:  # made, its table not yet
        return 0


async def killed_between(env: dict[str, str], paths: list[Path], low: int, high: int) -> int | None:
    """Import `paths` as a process, SIGKILLed once more than `low` orders are archived; the
    count then, if it is below `high` (the kill landed midway), else None."""
    importing = subprocess.Popen(
        [ORDERS_COMMAND, "archive", "import", *map(str, paths)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while importing.poll() is None and archived(env) <= low:
            await asyncio.sleep(0.002)
        importing.send_signal(signal.SIGKILL)
    finally:
        await asyncio.to_thread(importing.wait)
    count = archived(env)
    return count if low < count < high else None


async def test_an_import_killed_midway_and_run_again_archives_every_order_once(own_settings, own_client, tmp_path):
    env = own_settings
    await start_small_orders(env, tmp_path, "EXPORTED", TOTAL)
    ids = [f"order-EXPORTED-{n:03}" for n in range(TOTAL)]

    async def history(workflow_id: str) -> History:
        handle = own_client.get_workflow_handle(workflow_id)
        await handle.result()
        return History(events=[event async for event in handle.fetch_history_events()])

    histories = [await history(workflow_id) for workflow_id in ids]
    files = []
    for name, part in (("first.pb", histories[:FIRST_FILE]), ("second.pb", histories[FIRST_FILE:])):
        executions = WorkflowExecutions(items=[WorkflowExecution(history=h) for h in part])
        (tmp_path / name).write_bytes(executions.SerializeToString())
        files.append(tmp_path / name)

    after_kill = None
    for _ in range(5):  # a kill aimed midway may land after the end on a fast run: then again, afresh
        archive_file(env).parent.mkdir(parents=True, exist_ok=True)
        for stale in archive_file(env).parent.glob("*"):
            stale.unlink()
        after_kill = await killed_between(env, files, FIRST_FILE, TOTAL)
        if after_kill is not None:
            break
    assert after_kill is not None, "no kill landed midway in five tries"
    print(f"killed with {after_kill} of {TOTAL} imported")

    rerun = await orders_in_process(env, "archive", "import", *map(str, files), "--json")
    assert rerun.returncode == 0, rerun.stderr
    counted = json.loads(rerun.stdout)
    assert (counted["already"], counted["imported"], counted["in_archive"]) == (after_kill, TOTAL - after_kill, TOTAL)
    verified = json.loads((await orders_in_process(env, "archive", "--verify", "--json")).stdout)
    assert (verified["checked"], verified["matching"], verified["problems"]) == (TOTAL, TOTAL, [])
