"""The edges of archive, export and deploy, as an operator meets them on a bad day: an
export beside an archive, an order terminated while it waited, an archive that is damaged,
read-only or misplaced, a tampered history file, odd build ids. Each what an operator runs
through the real `orders` process, against the dev server, in a namespace of the test's own."""

import asyncio
import json
import os
import subprocess
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from domain import OrderStatus
from eventstore.archive import ARCHIVE_FILENAME
from tests.conftest import settings_for, shop_in, take_namespace
from tests.integration.helpers import ORDERS_COMMAND, delete_as_retention_does
from tests.orders import large_order, one_line_order, wait_for_status
from tests.places import a_regular_file, backup_of, garbage, read_only

GOLDEN = Path(__file__).resolve().parents[1] / "histories" / "golden"


async def orders(settings: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """The installed `orders` console script, as an operator runs it, off the event loop."""
    return await asyncio.to_thread(
        subprocess.run,
        [ORDERS_COMMAND, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": os.environ["PATH"], **settings},
    )


def one_line(result) -> str:
    """The one line a failure is told in; no traceback."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    return lines[0]


def event_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
async def archived_shop(dev_env, tmp_path_factory) -> AsyncIterator[dict[str, str]]:
    """A shop of three orders, all archived, EX-0's history since deleted as retention
    deletes it (so only the archive holds it): the environment its programs are given."""
    namespace, data = take_namespace(), tmp_path_factory.mktemp("archived-shop") / "data"
    settings = settings_for(dev_env, namespace, data)
    async with shop_in(dev_env, namespace, data) as shop:
        for n in range(3):
            await shop.place(one_line_order(f"EX-{n}", "PROD-001", 1, "10.00"))
    assert (await orders(settings, "archive")).returncode == 0
    await delete_as_retention_does(settings, ["EX-0"], from_visibility=False)
    yield settings


async def test_export_beside_an_archive_writes_each_event_of_each_order_once(archived_shop, tmp_path):
    own_settings = archived_shop
    everything = await orders(own_settings, "export", "--output", str(tmp_path / "all.jsonl"))
    assert everything.returncode == 0, everything.stderr
    lines = event_lines((tmp_path / "all.jsonl").read_text())
    keys = Counter((line["stream_id"], line["version"]) for line in lines)
    assert set(keys.values()) == {1}, "an event exported twice"
    assert {stream for stream, _ in keys} == {"EX-0", "EX-1", "EX-2"}
    assert len(lines) == 3 * 5

    selected = await orders(own_settings, "export", "--query", "WorkflowId STARTS_WITH 'order-EX-'")
    assert selected.returncode == 0, selected.stderr
    keys = Counter((line["stream_id"], line["version"]) for line in event_lines(selected.stdout))
    assert set(keys.values()) == {1}
    # A query goes to visibility, which Temporal's deletion took EX-0 from (its history at
    # once, its listing a little later): the orders Temporal holds, each event once.
    assert {stream for stream, _ in keys} == {"EX-1", "EX-2"}


async def test_an_order_terminated_while_waiting_for_approval_is_not_listed_as_awaiting(own_shop, own_settings):
    waiting = await own_shop.start(large_order("PT-1"))
    await wait_for_status(waiting, OrderStatus.PAYMENT_PENDING, seconds=30)
    await own_shop.place(one_line_order("PT-2", "PROD-001", 1, "10.00"))
    await waiting.terminate(reason="an operator gave up on it")

    from_histories = await orders(own_settings, "report", "--json", "--query", "WorkflowId STARTS_WITH 'order-PT-'")
    assert from_histories.returncode == 0, from_histories.stderr
    report = json.loads(from_histories.stdout)
    assert report["orders"] == 2
    assert report["awaiting_approval"] == []

    assert (await orders(own_settings, "projector", "--once")).returncode == 0
    from_read_models = await orders(own_settings, "report", "--json")
    assert from_read_models.returncode == 0, from_read_models.stderr
    assert "From the read models" in from_read_models.stderr
    assert json.loads(from_read_models.stdout)["awaiting_approval"] == []


async def test_a_damaged_archive_does_not_stop_reading_what_temporal_holds(own_shop, own_settings, tmp_path):
    await own_shop.place(one_line_order("K-0100", "PROD-001", 1, "10.00"))
    archive = tmp_path / "damaged-archive"
    garbage(archive / ARCHIVE_FILENAME)
    settings = {**own_settings, "ORDERS_ARCHIVE": str(archive)}

    events = await orders(settings, "events", "K-0100", "--json")
    assert events.returncode == 0, events.stderr
    assert next(line["event_type"] for line in json.loads(events.stdout)) == "OrderReceived"

    report = await orders(settings, "report", "--json")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["orders"] == 1
    assert "cannot be read" in one_line(report)  # the archive's fault, said once

    unknown = await orders(settings, "events", "NOT-THERE")
    assert unknown.returncode == 1
    assert "no order 'NOT-THERE'" in one_line(unknown) and str(archive) in one_line(unknown)

    writing = await orders(settings, "archive")
    assert writing.returncode != 0
    assert "not a database" in one_line(writing)


async def test_a_read_only_archive_is_read_as_usual_and_only_archiving_is_refused(archived_shop, tmp_path):
    """A backup of the archive restored on read-only media (one file, no journal beside it)."""
    archive = tmp_path / "restored-archive"
    backup_of(Path(archived_shop["ORDERS_DATA_DIR"]) / "archive" / ARCHIVE_FILENAME, archive / ARCHIVE_FILENAME)
    own_settings = {**archived_shop, "ORDERS_ARCHIVE": str(archive)}

    with read_only(archive):
        events = await orders(own_settings, "events", "EX-0", "--json")
        assert events.returncode == 0, events.stderr
        assert len(json.loads(events.stdout)) == 5
        report = await orders(own_settings, "report", "--json")
        assert report.returncode == 0, report.stderr
        assert json.loads(report.stdout)["orders"] == 3
        verified = await orders(own_settings, "archive", "--verify")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        replayed = await orders(own_settings, "replay", "--archived")
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr

        archiving = await orders(own_settings, "archive")
        assert archiving.returncode != 0
        assert "cannot" in one_line(archiving) and str(archive) in one_line(archiving)


async def test_an_archive_setting_naming_a_file_is_one_line(own_settings, tmp_path):
    a_file = a_regular_file(tmp_path / "not-a-directory")
    for place in (a_file, a_file / "archive"):
        settings = {**own_settings, "ORDERS_ARCHIVE": str(place)}
        archiving = await orders(settings, "archive")
        assert archiving.returncode != 0
        assert "a file, not a directory" in one_line(archiving)
        reading = await orders(settings, "report", "--json")
        assert reading.returncode == 0, reading.stderr


async def test_an_export_to_a_place_it_cannot_write_is_refused_before_any_work(own_settings, tmp_path):
    for place in (tmp_path, tmp_path / "missing" / "events.jsonl", a_regular_file(tmp_path / "f") / "events.jsonl"):
        refused = await orders(own_settings, "export", "--output", str(place))
        assert refused.returncode == 2
        assert "--output" in one_line(refused)
        assert not list(tmp_path.rglob("*.partial"))


async def test_a_tampered_history_file_is_one_line_naming_the_order_and_the_gap(tmp_path):
    tampered = tmp_path / "tampered.json"
    tampered.write_text((GOLDEN / "fulfilled.json").read_text().replace('"process_payment"', '"process_paymentX"'))
    for command in ("state", "events", "replay"):
        ran = await orders({}, command, str(tampered))
        assert ran.returncode == 1
        line = one_line(ran)
        assert "GOLDEN-FULFILLED" in line and "version 2" in line and "version 4" in line, line


async def test_an_empty_or_odd_build_id_is_a_usage_error_and_the_suggestion_is_quoted(own_settings):
    empty = await orders(own_settings, "deploy", "")
    assert empty.returncode == 2
    assert "BUILD_ID" in one_line(empty)
    spaced = await orders(own_settings, "deploy", "a b")
    assert spaced.returncode == 2
    odd = await orders(own_settings, "deploy", "a;b")
    assert odd.returncode == 1
    assert "--build-id 'a;b'" in one_line(odd)
