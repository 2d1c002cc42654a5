"""`orders forget`, through the real programs on the dev server: customer A forgotten,
customer B kept. Every copy scanned as tests/integration/test_personal_data.py does, and
every sealed value found in it opened with the shop's key store: none of A's values, all
of B's. Every read, replay and reconcile of A's orders still succeeds, the report's totals
are unchanged, and a new order of A reads back while the old ones stay erased. Open
orders refuse it, or are cancelled and refunded once; a SIGKILLed forget run again
forgets once; what it cannot do is said in one line."""

import contextlib
import json
import re
import sqlite3
from functools import partial
from pathlib import Path

import pytest

from encryption import ERASED, Keyring, open_value
from storage import open_customer_keys
from tests.commands import orders_in_process
from tests.integration.helpers import (
    orders_killed_midway,
    run_script,
    spawn_script,
    stop_processes,
    temporal_cli_json,
)
from tests.integration.test_personal_data import (
    KEYS,
    ORDERS,
    PEOPLE,
    Scan,
    order_file,
    scan_database,
    served,
    serving,
)
from tests.places import read_only
from tests.waiting import wait_until

LIST = "/temporal.api.workflowservice.v1.WorkflowService/ListWorkflowExecutions"
A, B = "C-ALICE", "C-BOB"
A_VALUES = list(PEOPLE[A].values())
B_VALUES = list(PEOPLE[B].values())
SEALED = re.compile(r"sealed:v1:[0-9a-f]+:[A-Za-z0-9_=-]+")


def opened_with_the_key_store(scan: Scan, env: dict[str, str]) -> set[str]:
    """Every personal value a sealed value anywhere in the scan opens to, with the shop's keys."""
    keys = open_customer_keys(Path(env["ORDERS_DATA_DIR"]) / "customer-keys.sqlite", None)
    assert keys is not None
    found = set()
    try:
        for text in scan.texts:
            for sealed in set(SEALED.findall(text)):
                for order_id, customer in ORDERS.items():
                    for field in PEOPLE[customer]:
                        with contextlib.suppress(ValueError):
                            found.add(open_value(sealed, customer, order_id, field, keys.key_named))
    finally:
        keys.close()
    return found


async def answered(env: dict[str, str], *args: str) -> str:
    ran = await orders_in_process(env, *args)
    assert ran.returncode == 0, (args, ran.stdout, ran.stderr)
    return ran.stdout


async def one_line(env: dict[str, str], *args: str, code: int = 1) -> str:
    ran = await orders_in_process(env, *args)
    lines = ran.stderr.strip().splitlines()
    assert ran.returncode == code and len(lines) == 1 and "Traceback" not in ran.stderr, (args, ran.stderr)
    return lines[0]


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_a_forgotten_customers_data_is_unreadable_in_every_copy_and_everything_else_works(
    own_settings, own_client, tmp_path, encrypted
):
    env = {**own_settings, **({"ORDERS_ENCRYPTION_KEYS": KEYS} if encrypted else {})}
    data = Path(env["ORDERS_DATA_DIR"])
    worker = await serving(env, own_client)
    try:
        started = run_script("starter.py", "--file", str(order_file(tmp_path)), env=env)
        assert started.returncode == 0, started.stdout + started.stderr
        for command in (("archive",), ("projector", "--once"), ("export", "--output", str(tmp_path / "before.jsonl"))):
            await answered(env, *command)
        report = json.loads(await answered(env, "report", "--json"))

        forgotten = json.loads(await answered(env, "forget", A, "--requested-by", "privacy-officer", "--json"))
        assert (forgotten["customer_id"], forgotten["orders"]) == (A, 2)
        await answered(env, "export", "--output", str(tmp_path / "after.jsonl"))

        scan = Scan(Keyring.parse(KEYS) if encrypted else None)
        for order_id in ORDERS:
            scan.add_text(await answered(env, "events", order_id, "--json"))
            where = ("--workflow-id", f"order-{order_id}", "--namespace", env["TEMPORAL_NAMESPACE"])
            scan.add_json(await temporal_cli_json(env["TEMPORAL_ADDRESS"], "workflow", "show", *where))
        for database in ("archive/orders-archive.sqlite", "projections.sqlite"):
            scan_database(scan, data / database)
        for exported in ("before.jsonl", "after.jsonl"):
            scan.add_text((tmp_path / exported).read_text())
        found = opened_with_the_key_store(scan, env) | set(scan.found())
        assert not found & set(A_VALUES), "none of A's values"
        assert found >= set(B_VALUES), "all of B's"

        for order_id in ("PD-1", "PD-2"):  # A's
            events = json.loads(await answered(env, "events", order_id, "--json"))
            assert events[0]["data"]["personal"] == dict.fromkeys(PEOPLE[A], ERASED)
            state = json.loads(await answered(env, "state", order_id, "--json"))
            assert state["personal"] == dict.fromkeys(PEOPLE[A], ERASED) and state["status"] == "Fulfilled"
            await answered(env, "state", order_id, "--version", "1")
            await answered(env, "replay", order_id)
        after = [json.loads(line) for line in (tmp_path / "after.jsonl").read_text().splitlines()]
        erased_lines = [line["data"]["personal"] for line in after if line["stream_id"] in ("PD-1", "PD-2")
                        and "personal" in line.get("data", {})]  # fmt: skip
        assert erased_lines and all(personal == dict.fromkeys(PEOPLE[A], ERASED) for personal in erased_lines)
        await answered(env, "reconcile")
        assert json.loads(await answered(env, "report", "--json")) == report, "the totals are unchanged"

        started = run_script("starter.py", "--file", str(order_file(tmp_path, {"PD-5": A})), env=env)
        assert started.returncode == 0, started.stdout + started.stderr
    finally:
        await stop_processes(worker)
    new = json.loads(await answered(env, "state", "PD-5", "--json"))
    assert new["personal"] == PEOPLE[A], "a new order of A gets a new key"
    old = json.loads(await answered(env, "state", "PD-1", "--json"))
    assert old["personal"] == dict.fromkeys(PEOPLE[A], ERASED), "which never opens the old orders"


async def test_open_orders_refuse_it_or_are_cancelled_and_refunded_once(own_settings, own_client, tmp_path):
    env = own_settings
    worker = await serving(env, own_client)
    try:
        held = order_file(tmp_path, {"PD-HELD": A}, cancellation_window="PT1H")
        starter = spawn_script("starter.py", "--file", str(held), env=env)  # it waits for the order: stopped below

        async def reserved() -> bool:
            ran = await orders_in_process(env, "state", "PD-HELD", "--json")
            return ran.returncode == 0 and json.loads(ran.stdout)["status"] == "InventoryReserved"

        await wait_until(reserved, what="PD-HELD to wait in its cancellation window")
        await stop_processes(starter)
        refused = await one_line(env, "forget", A, "--requested-by", "dpo")
        assert "has 1 open order(s): PD-HELD" in refused, refused
        assert "being forgotten" not in (await orders_in_process(env, "state", "PD-HELD")).stderr

        done = json.loads(await answered(env, "forget", A, "--requested-by", "dpo", "--cancel-open", "--json"))
        assert done["orders"] == 1
    finally:
        await stop_processes(worker)
    state = json.loads(await answered(env, "state", "PD-HELD", "--json"))
    assert state["status"] == "Cancelled" and state["personal"] == dict.fromkeys(PEOPLE[A], ERASED)
    with sqlite3.connect(Path(env["ORDERS_DATA_DIR"]) / "ledger.sqlite") as db:
        refunds = db.execute("SELECT COUNT(*) FROM refunds").fetchone()[0]
    assert refunds == 1, "refunded once"


async def test_a_forget_killed_midway_and_run_again_forgets_once(own_settings, own_client, tmp_path):
    env = own_settings
    await served(env, own_client, order_file(tmp_path))
    keys = Path(env["ORDERS_DATA_DIR"]) / "customer-keys.sqlite"

    def marked() -> int:
        with sqlite3.connect(keys) as db:
            return int(
                db.execute("SELECT COUNT(*) FROM customer_keys WHERE forgetting_since IS NOT NULL").fetchone()[0]
            )

    # Visibility answers slowly: killed while it looks the open orders up, the customer marked.
    forget = ["forget", A, "--requested-by", "dpo"]
    assert await orders_killed_midway(env, forget, slowed={LIST: 2.0}, done=partial(marked), at_least=1) == 1
    meanwhile = run_script("starter.py", "--file", str(order_file(tmp_path, {"PD-7": A})), env=env)
    assert meanwhile.returncode != 0 and "is being forgotten" in meanwhile.stderr, meanwhile.stderr
    await answered(env, *forget)
    with sqlite3.connect(keys) as db:
        assert db.execute("SELECT customer_id FROM customer_keys").fetchall() == [(B,)]
        assert db.execute("SELECT customer_id, orders FROM forgotten_customers").fetchall() == [(A, 2)]


async def test_what_forget_cannot_do_is_said_in_one_line(own_settings, tmp_path):
    env = own_settings
    assert "no customer key store" in await one_line(env, "forget", A, "--requested-by", "dpo")
    started = run_script("starter.py", "--file", str(order_file(tmp_path)), env=env)
    assert started.returncode == 0, started.stdout + started.stderr
    assert "no customer 'C-NOBODY'" in await one_line(env, "forget", "C-NOBODY", "--requested-by", "dpo")
    assert "is not a customer id" in await one_line(env, "forget", "C-'; DROP", "--requested-by", "dpo", code=2)
    assert "is not a customer id" in await one_line(env, "forget", "C-\x07", "--requested-by", "dpo", code=2)
    keys = Path(env["ORDERS_DATA_DIR"]) / "customer-keys.sqlite"
    with read_only(keys.parent):
        assert "customer key store" in await one_line(env, "forget", B, "--requested-by", "dpo")
    await answered(env, "forget", B, "--requested-by", "dpo", "--cancel-open")
    assert "was forgotten already" in await one_line(env, "forget", B, "--requested-by", "dpo")
