"""Personal data sealed per customer in every copy of every event, through the real
programs on the dev server, with and without payload encryption: orders of two customers
with names, emails and addresses started by starter.py (a process), served by worker.py
(a process, logging at DEBUG), archived, projected and exported; then every copy is
scanned for each personal value in clear — histories as `temporal workflow show` gives
them (payloads decoded, and opened with the shop's codec), the archive's, read models'
and ledger's database files (compressed values inflated, payloads opened), the export
file, and the worker's, starter's and projector's output. None is found; the same scan
finds each of them in `orders events` run with the key store (so it finds what it looks
for). A sealed value altered, or moved to another order, is unreadable for that field
and order only, in one line."""

import base64
import binascii
import contextlib
import json
import sqlite3
import threading
import urllib.request
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import History

from connection import free_local_port
from contract import TASK_QUEUE
from encryption import Keyring, seal_value
from hosting import has_live_worker
from storage import CustomerKeys, open_customer_keys
from tests.commands import orders_in_process
from tests.integration.helpers import (
    delete_as_retention_does,
    run_script,
    spawn_codec_server,
    spawn_worker,
    stop_processes,
    temporal_cli,
    temporal_cli_json,
)
from tests.places import read_only
from tests.waiting import wait_until

KEYS = "K1=" + base64.b64encode(bytes(range(32))).decode()
PEOPLE = {
    "C-ALICE": {
        "name": "Alice Zephyrine Quill", "email": "zephyrine.quill@example.org", "address": "17 Lindenweg, Berlin",
    },
    "C-BOB": {
        "name": "Bartholomew Okonkwo-Vance", "email": "b.okonkwo-vance@example.net", "address": "4 Rue Gaspard, Lyon",
    },
}  # fmt: skip
ORDERS = {"PD-1": "C-ALICE", "PD-2": "C-ALICE", "PD-3": "C-BOB", "PD-4": "C-BOB"}
SECRETS = [value for person in PEOPLE.values() for value in person.values()]


def order_file(folder: Path, customers: dict[str, str] = ORDERS, **fields: str) -> Path:
    """A file of `customers`' orders (order id: customer), each with its customer's personal data."""
    orders = [
        {
            "order_id": order_id,
            "customer_id": customer,
            "total_amount": "30.00",
            "items": [{"product_id": "PROD-001", "quantity": 1, "unit_price": "30.00"}],
            "personal": PEOPLE[customer],
            **fields,
        }
        for order_id, customer in customers.items()
    ]
    path = folder / f"orders-{'-'.join(customers)}.json"
    path.write_text(json.dumps(orders))
    return path


class Scan:
    """Every text a copy holds, payloads decoded and opened with the shop's codec."""

    def __init__(self, keyring: Keyring | None) -> None:
        self.keyring = keyring
        self.texts: list[str] = []

    def found(self) -> dict[str, list[str]]:
        """Each personal value, and where (the first 60 characters around it) it was found in clear."""
        return {
            secret: [text[max(0, text.find(secret) - 30) : text.find(secret) + 30]]
            for secret in SECRETS
            for text in self.texts
            if secret in text
        }

    def add_text(self, text: str) -> None:
        self.texts.append(text)
        with contextlib.suppress(ValueError):
            self.add_json(json.loads(text))

    def add_bytes(self, blob: bytes) -> None:
        self.texts.append(blob.decode("utf-8", errors="replace"))
        for inflated in _inflated(blob):
            self.texts.append(inflated.decode("utf-8", errors="replace"))
            self.add_json_text(inflated)
            self.add_history(inflated)
        self.add_payload_bytes(blob)
        self.add_json_text(blob)

    def add_json_text(self, blob: bytes) -> None:
        with contextlib.suppress(ValueError):
            self.add_json(json.loads(blob))

    def add_history(self, blob: bytes) -> None:
        try:
            history = History.FromString(blob)
        except DecodeError:
            return
        if history.events:
            self.add_json(json_format.MessageToDict(history))

    def add_payload_bytes(self, blob: bytes) -> None:
        try:
            payload = Payload.FromString(blob)
        except DecodeError:
            return
        if payload.metadata.get("encoding"):
            self.add_payload(payload)

    def add_payload(self, payload: Payload) -> None:
        if payload.metadata.get("encoding") == b"binary/encrypted" and self.keyring is not None:
            payload = self.keyring.open(payload)
        self.texts.append(payload.data.decode("utf-8", errors="replace"))

    def add_json(self, document: object) -> None:
        for found in _walk(document):
            if isinstance(found, dict) and "data" in found and isinstance(found.get("metadata"), dict):
                try:
                    payload = json_format.ParseDict(found, Payload())
                except json_format.ParseError:
                    continue
                self.add_payload(payload)
            elif isinstance(found, str) and len(found) > 16:
                with contextlib.suppress(binascii.Error, ValueError):
                    self.add_bytes(base64.b64decode(found, validate=True))


def _walk(document: object) -> Iterator[object]:
    yield document
    if isinstance(document, dict):
        for value in document.values():
            yield from _walk(value)
    elif isinstance(document, list):
        for value in document:
            yield from _walk(value)


def _inflated(blob: bytes) -> list[bytes]:
    try:
        return [zlib.decompress(blob)]
    except zlib.error:
        return []


def scan_database(scan: Scan, path: Path) -> None:
    scan.add_bytes(path.read_bytes())
    with sqlite3.connect(path) as db:
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            for row in db.execute(f"SELECT * FROM {table}"):
                for value in row:
                    if isinstance(value, bytes):
                        scan.add_bytes(value)
                    elif isinstance(value, str):
                        scan.add_text(value)


async def served(env: dict[str, str], client, orders: Path) -> None:
    """`orders` started by starter.py and served to their end by worker.py."""
    worker = await serving(env, client)
    try:
        started = run_script("starter.py", "--file", str(orders), env=env)
        assert started.returncode == 0, started.stdout + started.stderr
    finally:
        await stop_processes(worker)


async def serving(env: dict[str, str], client, log: Path | None = None):
    """worker.py as a process, once it polls (so that it, not the starter, serves the orders)."""
    worker = spawn_worker(env, log=log)
    await wait_until(lambda: has_live_worker(client, TASK_QUEUE), what="worker.py to poll")
    return worker


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_no_copy_of_any_event_holds_personal_data_in_clear(own_settings, own_client, tmp_path, encrypted):
    env = {**own_settings, "ORDERS_LOG_LEVEL": "DEBUG", **({"ORDERS_ENCRYPTION_KEYS": KEYS} if encrypted else {})}
    data = Path(env["ORDERS_DATA_DIR"])
    worker_log = tmp_path / "worker.log"
    worker = await serving(env, own_client, worker_log)
    try:
        started = run_script("starter.py", "--file", str(order_file(tmp_path)), "--verbose", env=env)
        assert started.returncode == 0, started.stdout + started.stderr
        outputs = [started.stdout, started.stderr]
        for command in (("archive",), ("projector", "--once"), ("export", "--output", str(tmp_path / "export.jsonl"))):
            ran = await orders_in_process(env, *command)
            assert ran.returncode == 0, ran.stderr
            outputs += [ran.stdout, ran.stderr]
    finally:
        await stop_processes(worker)

    scan = Scan(Keyring.parse(KEYS) if encrypted else None)
    address, namespace = env["TEMPORAL_ADDRESS"], env["TEMPORAL_NAMESPACE"]
    for order_id in ORDERS:
        workflow = f"order-{order_id}"
        shown = await temporal_cli_json(
            address, "workflow", "show", "--workflow-id", workflow, "--namespace", namespace
        )
        scan.add_json(shown)
        scan.add_text(json.dumps(shown))
    for database in ("archive/orders-archive.sqlite", "projections.sqlite", "ledger.sqlite"):
        scan_database(scan, data / database)
    scan.add_text((tmp_path / "export.jsonl").read_text())
    for output in (*outputs, worker_log.read_text()):
        scan.add_text(output)
    assert "DEBUG" in worker_log.read_text() or "debug" in worker_log.read_text().lower(), "the worker logged at DEBUG"
    assert scan.found() == {}, "personal data in clear"
    sealed = [json.loads(line) for line in (tmp_path / "export.jsonl").read_text().splitlines()]
    assert all(
        value.startswith("sealed:v1:") for line in sealed if "personal" in line.get("data", {})
        for value in line["data"]["personal"].values()
    )  # fmt: skip

    with_the_key = Scan(None)
    for order_id in ORDERS:
        events = await orders_in_process(env, "events", order_id, "--json")
        assert events.returncode == 0, events.stderr
        with_the_key.add_text(events.stdout)
        state = await orders_in_process(env, "state", order_id)
        with_the_key.add_text(state.stdout)
    assert set(with_the_key.found()) == set(SECRETS), "the scan finds what it looks for, with the key"


async def test_a_sealed_value_altered_or_moved_is_unreadable_for_that_field_and_order_only(
    own_settings, own_client, tmp_path
):
    env = own_settings
    await served(env, own_client, order_file(tmp_path))
    address, namespace = env["TEMPORAL_ADDRESS"], env["TEMPORAL_NAMESPACE"]
    shown = await temporal_cli(address, "workflow", "show", "--workflow-id", "order-PD-1", "--namespace", namespace,
                               "--output", "json")  # fmt: skip
    other = await temporal_cli(address, "workflow", "show", "--workflow-id", "order-PD-2", "--namespace", namespace,
                               "--output", "json")  # fmt: skip
    sealed_here = _sealed_values(shown.stdout)
    sealed_there = _sealed_values(other.stdout)
    moved = _replaced(shown.stdout, sealed_here["email"], sealed_there["email"])  # PD-2's email, same customer
    altered = _replaced(shown.stdout, sealed_here["name"], _flipped(sealed_here["name"]))
    for name, text, field in (("moved", moved, "email"), ("altered", altered, "name")):
        path = tmp_path / f"{name}.json"
        path.write_text(text)
        read = await orders_in_process(env, "events", str(path), "--json")
        assert read.returncode == 0, read.stderr
        warnings = [line for line in read.stderr.splitlines() if line.startswith("warning:")]
        assert warnings == [
            f"warning: order 'PD-1': personal field '{field}' cannot be opened: altered, or sealed for another order,"
            " customer or field"
        ], read.stderr
        received = json.loads(read.stdout)[0]["data"]["personal"]
        others = {key: value for key, value in received.items() if key != field}
        assert others == {key: PEOPLE["C-ALICE"][key] for key in others}, "every other field opens"
        assert received[field].startswith("sealed:v1:"), "the unreadable one is shown sealed"

    assert (await orders_in_process(env, "archive")).returncode == 0
    await delete_as_retention_does(env, ["PD-1"], from_visibility=False)
    archive = Path(env["ORDERS_DATA_DIR"]) / "archive" / "orders-archive.sqlite"
    with sqlite3.connect(archive) as db:
        (envelopes,) = db.execute("SELECT envelopes FROM archived_orders WHERE order_id = 'PD-1'").fetchone()
        tampered = _replaced_in_payloads(envelopes, sealed_here["address"], sealed_there["address"])
        db.execute("UPDATE archived_orders SET envelopes = ? WHERE order_id = 'PD-1'", (tampered,))

    async def deleted() -> bool:
        return "archive" in (await orders_in_process(env, "events", "PD-1")).stderr

    await wait_until(deleted, what="PD-1 to be read from the archive")
    read = await orders_in_process(env, "events", "PD-1", "--json")
    assert [line for line in read.stderr.splitlines() if line.startswith("warning:")] == [
        "warning: order 'PD-1': personal field 'address' cannot be opened: altered, or sealed for another order,"
        " customer or field"
    ], read.stderr


def _sealed_values(history_json: str) -> dict[str, str]:
    """The sealed personal values in the order's recorded OrderReceived."""
    scan = Scan(None)
    scan.add_json(json.loads(history_json))
    for text in scan.texts:
        try:
            document = json.loads(text)
        except ValueError:
            continue
        for found in _walk(document):
            if isinstance(found, dict) and found.get("event_type") == "OrderReceived":
                return dict(found["data"]["personal"])
    raise AssertionError("no OrderReceived with personal data in the history")


def _flipped(sealed: str) -> str:
    return sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:]


def _replaced(history_json: str, old: str, new: str) -> str:
    """The history with `old` replaced by `new` inside every payload (base64 JSON)."""
    document = json.loads(history_json)
    for found in _walk(document):
        if isinstance(found, dict) and isinstance(found.get("data"), str) and isinstance(found.get("metadata"), dict):
            decoded = base64.b64decode(found["data"])
            if old.encode() in decoded:
                found["data"] = base64.b64encode(decoded.replace(old.encode(), new.encode())).decode()
    return json.dumps(document)


def _replaced_in_payloads(envelopes: str, old: str, new: str) -> str:
    payloads = json.loads(envelopes)
    for payload in payloads:
        decoded = base64.b64decode(payload["data"])
        payload["data"] = base64.b64encode(decoded.replace(old.encode(), new.encode())).decode()
    return json.dumps(payloads, separators=(",", ":"))


def test_the_scan_finds_a_value_hidden_in_each_kind_of_copy():
    """The scan itself: a personal value in a compressed protobuf history's payload, in a
    base64 payload of a JSON document and in an encrypted payload is found."""
    keyring = Keyring.parse(KEYS)
    clear = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps({"email": SECRETS[1]}).encode())
    for blob in (
        zlib.compress(History(events=[]).SerializeToString() + b"" + clear.SerializeToString()),
        json.dumps({"payloads": [json_format.MessageToDict(clear)]}).encode(),
        keyring.seal(clear).SerializeToString(),
    ):
        scan = Scan(keyring)
        scan.add_bytes(blob)
        assert SECRETS[1] in scan.found(), blob[:40]


@pytest.mark.parametrize("case", ["a directory", "garbage", "in a read-only directory"])
async def test_a_key_store_the_starter_cannot_use_starts_no_order(own_settings, own_client, tmp_path, case):
    place = tmp_path / "keys"
    place.mkdir()
    target = place if case == "a directory" else place / "customer-keys.sqlite"
    if case == "garbage":
        target.write_bytes(b"not a key store " * 200)
    env = {**own_settings, "ORDERS_CUSTOMER_KEYS": str(target)}
    with read_only(place) if case == "in a read-only directory" else contextlib.nullcontext():
        started = run_script("starter.py", "--file", str(order_file(tmp_path)), "--no-wait", env=env)
    assert started.returncode != 0 and "Traceback" not in started.stderr, started.stderr
    lines = started.stderr.strip().splitlines()
    assert len(lines) == 1 and "customer key store" in lines[0], started.stderr
    listed = [execution async for execution in own_client.list_workflows()]
    assert listed == [], "no order started half-sealed"


async def test_the_codec_server_with_the_key_store_shows_the_web_ui_the_personal_data(own_settings, tmp_path):
    """No payload encryption here: the codec server runs for the personal data alone."""
    key = CustomerKeys(Path(own_settings["ORDERS_DATA_DIR"]) / "customer-keys.sqlite").keys_for(["C-ALICE"])["C-ALICE"]
    sealed = {field: seal_value(key, "C-ALICE", "PD-9", field, value) for field, value in PEOPLE["C-ALICE"].items()}
    received = {"order_id": "PD-9", "customer_id": "C-ALICE", "items": [], "total_amount": "1", "personal": sealed}
    moved = {**received, "order_id": "PD-10"}  # sealed for PD-9: does not open as PD-10's
    payloads = [
        Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(data).encode()) for data in (received, moved)
    ]
    address = f"127.0.0.1:{free_local_port()}"
    codec_server = await spawn_codec_server(address, own_settings)
    try:
        body = json.dumps({"payloads": [json_format.MessageToDict(payload) for payload in payloads]}).encode()
        request = urllib.request.Request(f"http://{address}/decode", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=30) as answer:
            decoded = [base64.b64decode(payload["data"]) for payload in json.loads(answer.read())["payloads"]]
    finally:
        await stop_processes(codec_server)
    assert json.loads(decoded[0])["personal"] == PEOPLE["C-ALICE"]
    assert json.loads(decoded[1])["personal"] == sealed, "a value moved to another order stays sealed"


def test_the_key_store_keeps_one_key_a_customer_on_both_databases(projections_at):
    """SQLite and PostgreSQL alike: starters racing on first orders get one key a customer,
    wrapped by the master key, which a reader with the master key unwraps."""
    target = projections_at("customer-keys")
    master = Keyring.parse("M1=" + Keyring.new_key())
    together = threading.Barrier(4)

    def first_orders(_: int) -> dict[str, str]:
        store = CustomerKeys(target, master)
        together.wait(timeout=60)
        try:
            return {customer: key.key_id for customer, key in store.keys_for(["C-1", "C-2"]).items()}
        finally:
            store.close()

    with ThreadPoolExecutor(4) as pool:
        seen = list(pool.map(first_orders, range(4)))
    assert all(keys == seen[0] for keys in seen)
    reader = open_customer_keys(target, master)
    assert reader is not None
    try:
        assert {key_id for key_id in seen[0].values() if reader.key_named(key_id) is not None} == set(seen[0].values())
        assert reader.count() == 2
    finally:
        reader.close()
