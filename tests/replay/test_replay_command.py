"""`orders replay` as a user runs it: on exported files (no server) and on the dev server."""

import asyncio
import json
import subprocess
from pathlib import Path

from tests.integration.helpers import address_of, listed, run_orders_command
from tests.orders import ORDER_001, ORDER_002, ORDER_003, renamed

GOLDEN = Path(__file__).resolve().parents[1] / "histories" / "golden"


def orders_replay(*args: str, address: str = "127.0.0.1:1") -> subprocess.CompletedProcess:
    return run_orders_command("replay", *args, address=address)


def test_replaying_a_cli_export_prints_ok_and_the_final_state():
    result = orders_replay(str(GOLDEN / "approved.json"))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "order-GOLDEN-APPROVED: OK"
    assert any(line.split() == ["status", "Fulfilled"] for line in lines)


def test_replaying_a_file_with_a_renamed_activity_fails_naming_the_event(tmp_path):
    renamed_file = tmp_path / "renamed.json"
    renamed_file.write_text(
        (GOLDEN / "cancelled-with-refund.json")
        .read_text()
        .replace('"name": "refund_payment"', '"name": "refund_charge"')
    )
    result = orders_replay(str(renamed_file), "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["event_type"] == "ACTIVITY_TASK_SCHEDULED"
    assert "'refund_charge'" in report["error"]
    scheduled = [
        event
        for event in json.loads(renamed_file.read_text())["events"]
        if "activityTaskScheduledEventAttributes" in event
    ]
    assert str(report["event_id"]) == next(
        e["eventId"]
        for e in scheduled
        if e["activityTaskScheduledEventAttributes"]["activityType"]["name"] == "refund_charge"
    )
    assert report["state"]["status"] == "Cancelled"
    assert "WARN" not in result.stdout


def test_replay_in_debug_mode_still_replays():
    assert orders_replay(str(GOLDEN / "rejected.json"), "--debug").returncode == 0


async def test_replaying_orders_from_the_server_by_id_and_by_query(dev_shop, dev_env, unique):
    customer = f"REPLAY-{unique}"
    orders = [renamed(order, unique, customer_id=customer) for order in (ORDER_001, ORDER_002, ORDER_003)]
    for order in orders:
        await (await dev_shop.start(order)).result()
    await listed(dev_env.client, f"CustomerId='{customer}' AND ExecutionStatus='Completed'", 3)
    address = address_of(dev_env)

    one = await asyncio.to_thread(orders_replay, orders[0].order_id, address=address)
    many = await asyncio.to_thread(orders_replay, "--query", f"CustomerId='{customer}'", address=address)

    assert one.returncode == 0, one.stderr
    assert one.stdout.startswith(f"order-{orders[0].order_id}: OK")
    assert many.returncode == 0, many.stderr
    assert sorted(line for line in many.stdout.splitlines() if line.endswith(": OK")) == sorted(
        f"order-{order.order_id}: OK" for order in orders
    )
    assert "Replaying order histories: 3/3" in many.stderr
    assert "3 replayed: 3 OK, 0 failed" in many.stderr
