"""Customer data encrypted end to end: worker.py as a real process, the starter, `orders` and
the codec server in-process, in a namespace of the module's own on the dev server, read back
with the real `temporal` CLI, with and without the codec server. The embedded server's own
Web UI configuration is tested on an embedded server."""

import asyncio
import base64
import json
import re
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError

from connection import load_settings
from connection.embedded_server import free_local_port
from connection.temporal import client_options
from contract import CUSTOMER_ID, ORDER_TOTAL, TASK_QUEUE, WORKFLOW_TYPE
from encryption import ENCRYPTED_ENCODING, KEY_ID_METADATA, Keyring
from hosting import has_live_worker
from orders_cli.codec_server import allowed_origins, make_app, serve
from tests.commands import Ran, orders_here, starter_in_process
from tests.conftest import take_namespace
from tests.integration.helpers import (
    cli_start,
    processes_mentioning,
    spawn_worker,
    stop_processes,
    temporal_cli_json,
)
from tests.orders import ORDER_001
from tests.waiting import wait_until

KEY_A = f"A={Keyring.new_key()}"
CUSTOMER_ID_KEY = Keyring.new_key()
KEY_B = f"B={Keyring.new_key()}"
# What the tutorial's ORDER-001 would show in clear: its customer and every amount in it.
SECRETS = (b"CUSTOMER-123", b"150.5", b"75.25")
CODEC_TOKEN = "a-token-for-the-test"


@dataclass
class Server:
    """Where the module's orders live: the dev server's address, the namespace, a client
    that reads them with key A."""

    address: str
    namespace: str
    client: Client

    def cli(self, *args: str) -> tuple[str, ...]:
        """A `temporal` CLI command's arguments, in the namespace."""
        return (*args, "--namespace", self.namespace)

    async def show(self, workflow_id: str, *options: str) -> dict:
        """`temporal workflow show` of one workflow, as JSON."""
        return await temporal_cli_json(self.address, *self.cli("workflow", "show", "-w", workflow_id), *options)


@dataclass
class Encrypted:
    server: Server
    env: dict[str, str]  # with the key
    codec: str  # the codec server's address

    def orders(self, *args: str, **env: str) -> Ran:
        return orders_here({**self.env, **env}, *args)


async def a_namespace_client(dev_env, namespace: str, keys: str | None = None) -> Client:
    """A client of the dev server in `namespace`, with our converter (encrypting with `keys`)."""
    options = client_options(keyring=Keyring.parse(keys) if keys else None)
    options.pop("keep_alive_config")  # the connection's, which the session's client made
    return Client(dev_env.client.service_client, namespace=namespace, **options)


async def a_namespace_of_its_own(dev_env, keys: str | None = None) -> Server:
    namespace = take_namespace()
    address = dev_env.client.service_client.config.target_host
    return Server(address, namespace, await a_namespace_client(dev_env, namespace, keys))


@pytest.fixture(scope="module")
async def encrypted(dev_env, tmp_path_factory):
    scratch = tmp_path_factory.mktemp("encrypted")
    server = await a_namespace_of_its_own(dev_env, KEY_A)
    env = {
        "TEMPORAL_ADDRESS": server.address,
        "TEMPORAL_NAMESPACE": server.namespace,
        "ORDERS_DATA_DIR": str(scratch / "data"),
        "ORDERS_ENCRYPTION_KEYS": KEY_A,
        # Nothing of the customer's in search attributes either: a keyed hash, and no total.
        "ORDERS_CUSTOMER_ID_KEY": CUSTOMER_ID_KEY,
        "ORDERS_PUBLISH_ORDER_TOTAL": "false",
    }
    codec = f"127.0.0.1:{free_local_port()}"
    settings = load_settings({**env, "ORDERS_CODEC_TOKEN": CODEC_TOKEN})
    assert settings.keyring is not None
    codec_server = await serve(make_app(settings.keyring, allowed_origins(settings, ()), settings.codec_token), codec)
    worker = spawn_worker(env)
    try:
        await wait_until(lambda: has_live_worker(server.client, TASK_QUEUE), what="worker.py to poll")
        started = await starter_in_process(env, "--no-wait")
        assert started.returncode == 0, started.stdout + started.stderr
        yield Encrypted(server, env, codec)
    finally:
        await stop_processes(worker)
        await codec_server.cleanup()


def payloads_in(value: object, path: str = "") -> list[tuple[str, dict]]:
    """Every payload in a history's JSON: (where, payload)."""
    found = []
    if isinstance(value, dict):
        if "metadata" in value and "data" in value:
            found.append((path, value))
        for key, item in value.items():
            found += payloads_in(item, f"{path}/{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += payloads_in(item, f"{path}/{index}")
    return found


def decoded(payload: dict) -> tuple[bytes, bytes]:
    """(encoding, data) of a payload in proto JSON."""
    return base64.b64decode(payload["metadata"].get("encoding", "")), base64.b64decode(payload.get("data", ""))


async def test_the_server_holds_no_customer_id_nor_amount_in_any_payload(encrypted):
    history = await temporal_cli_json(
        encrypted.server.address, *encrypted.server.cli("workflow", "show", "-w", "order-ORDER-001")
    )
    payloads = payloads_in(history)
    assert len(payloads) > 10
    for where, payload in payloads:
        encoding, data = decoded(payload)
        assert not any(secret in data for secret in SECRETS), where
        if "/searchAttributes/" in where:
            continue  # never encrypted: what the server indexes (see the next test)
        if re.search(r"/markerRecordedEventAttributes/details/(patch-data|data)/", where):
            continue  # the SDK's own marker details (a patch id; a local activity's attempt): no data of ours
        assert encoding == ENCRYPTED_ENCODING, f"{where} is {encoding!r}"
        assert base64.b64decode(payload["metadata"][KEY_ID_METADATA]) == b"A"


async def test_search_attributes_hold_a_keyed_hash_of_the_customer_and_no_total_yet_filters_work(encrypted):
    reference = encrypted.orders("customer-ref", "CUSTOMER-123")
    assert reference.returncode == 0, reference.stderr
    customer_ref = reference.stdout.strip()
    assert customer_ref.startswith("cust-") and "CUSTOMER" not in customer_ref
    described = await encrypted.server.client.get_workflow_handle("order-ORDER-001").describe()
    attributes = described.typed_search_attributes
    assert attributes.get(CUSTOMER_ID) == customer_ref
    assert attributes.get(ORDER_TOTAL) is None
    found = [w.id async for w in encrypted.server.client.list_workflows(f"CustomerId='{customer_ref}'")]
    assert found == ["order-ORDER-001"]
    # Decrypted, the order is whole: the stream keeps the real customer.
    assert "CUSTOMER-123 ordered" in encrypted.orders("events", "ORDER-001").stdout


async def test_the_starter_without_the_orders_key_says_so_in_one_line_naming_the_key(encrypted):
    """The orders exist, written under A; a starter holding only B reports them as they
    ended, and cannot read them: one line naming key 'A', exit 1, no traceback."""
    again = await starter_in_process({**encrypted.env, "ORDERS_ENCRYPTION_KEYS": KEY_B}, "--no-wait")
    assert again.returncode == 1, again.stdout + again.stderr
    assert "Traceback" not in again.stderr, again.stderr
    said = [line for line in again.stderr.strip().splitlines() if not line.startswith("orders: ")]  # progress
    errors = [line for line in said if line.startswith("error:")]
    assert len(said) == len(errors) == 1, again.stderr
    assert errors[0].startswith("error: order 'ORDER-00") and "key 'A'" in errors[0], errors


async def test_with_the_codec_server_the_cli_shows_them_decoded(encrypted):
    history = await temporal_cli_json(
        encrypted.server.address, *encrypted.server.cli("workflow", "show", "-w", "order-ORDER-001"),
        "--codec-endpoint", f"http://{encrypted.codec}", "--codec-auth", f"Bearer {CODEC_TOKEN}",
    )  # fmt: skip
    started = history["events"][0]["workflowExecutionStartedEventAttributes"]["input"]["payloads"][0]
    encoding, data = decoded(started)
    assert encoding == b"json/plain"
    assert json.loads(data)["customer_id"] == "CUSTOMER-123"
    assert json.loads(data)["total_amount"] == "150.50"


def test_orders_reads_them_with_the_key_and_fails_clearly_without_it(encrypted):
    with_key = encrypted.orders("events", "ORDER-001")
    assert with_key.returncode == 0, with_key.stderr
    assert "CUSTOMER-123 ordered 2 x PROD-001 @ 75.25 USD; total 150.50" in with_key.stdout
    without = encrypted.orders("events", "ORDER-001", ORDERS_ENCRYPTION_KEYS="")
    assert without.returncode == 1
    assert without.stderr.count("\n") == 1 and "Traceback" not in without.stderr
    assert "encrypted with key 'A'; set ORDERS_ENCRYPTION_KEYS with that key" in without.stderr
    wrong = encrypted.orders("events", "ORDER-001", ORDERS_ENCRYPTION_KEYS=f"A={Keyring.new_key()}")
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr
    assert "encrypted with key 'A' does not open with the key of that id" in wrong.stderr


def test_reports_state_and_replay_read_encrypted_histories(encrypted):
    report = encrypted.orders("report", "--json")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["orders"] == 3
    replayed = encrypted.orders("replay", "--query", "WorkflowType='OrderWorkflow'")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "3 replayed: 3 OK, 0 failed" in replayed.stderr
    projected = encrypted.orders("projector", "--once")
    assert projected.returncode == 0, projected.stderr
    from_models = encrypted.orders("report", "--json")
    assert "From the read models" in from_models.stderr
    assert json.loads(from_models.stdout) == json.loads(report.stdout)


async def test_a_failure_message_is_encrypted_too(encrypted, unique):
    # A start by the plain `temporal` CLI, its input malformed: the workflow refuses it,
    # and the failure's message and stack trace travel in its encrypted attributes.
    order_id = f"BAD-{unique}"
    malformed = json.dumps({"order_id": order_id, "customer_id": "CUSTOMER-SECRET", "total_amount": "oops"})
    await cli_start(encrypted.server.address, TASK_QUEUE, f"order-{order_id}", malformed, *encrypted.server.cli())
    handle = encrypted.server.client.get_workflow_handle(f"order-{order_id}")
    with pytest.raises(WorkflowFailureError) as failed_here:
        await handle.result()
    assert "total_amount" in str(failed_here.value.cause)  # our client decrypts it
    history = await temporal_cli_json(
        encrypted.server.address, *encrypted.server.cli("workflow", "show", "-w", f"order-{order_id}")
    )
    failed = next(event for event in history["events"] if "workflowExecutionFailedEventAttributes" in event)
    failure = failed["workflowExecutionFailedEventAttributes"]["failure"]
    assert failure["message"] == "Encoded failure"
    assert "stackTrace" not in failure or not failure["stackTrace"]
    encoding, data = decoded(failure["encodedAttributes"])
    assert encoding == ENCRYPTED_ENCODING and b"total_amount" not in data


async def test_orders_written_under_key_a_stay_readable_once_key_b_encrypts(dev_env, tmp_path):
    """Rotation as the README says: B joins every process's keys, then goes first; what A
    wrote stays readable while A is kept; dropped, A's orders are named as unreadable."""
    server = await a_namespace_of_its_own(dev_env)
    env = {
        "TEMPORAL_ADDRESS": server.address,
        "TEMPORAL_NAMESPACE": server.namespace,
        "ORDERS_DATA_DIR": str(tmp_path / "data"),
    }
    rotated = f"{KEY_B},{KEY_A}"

    def orders(*args: str, keys: str) -> Ran:
        return orders_here({**env, "ORDERS_ENCRYPTION_KEYS": keys}, *args)

    async def record(order_id: str, keys: str) -> None:
        """One order, written and served by processes holding `keys`."""
        worker = spawn_worker({**env, "ORDERS_ENCRYPTION_KEYS": keys})
        try:
            await wait_until(lambda: has_live_worker(server.client, TASK_QUEUE), what="worker.py to poll")
            orders_file = tmp_path / f"{order_id}.json"
            orders_file.write_text(ORDER_001.model_copy(update={"order_id": order_id}).model_dump_json())
            started = await starter_in_process(
                {**env, "ORDERS_ENCRYPTION_KEYS": keys}, "--file", str(orders_file), "--no-wait"
            )
            assert started.returncode == 0, started.stdout + started.stderr
            assert f"{order_id}: Fulfilled" in started.stdout
        finally:
            worker.terminate()
            await asyncio.to_thread(worker.wait, 30)

    await record("UNDER-A", KEY_A)
    await record("UNDER-B", rotated)
    for order_id, key_id in (("UNDER-A", b"A"), ("UNDER-B", b"B")):
        history = await temporal_cli_json(server.address, *server.cli("workflow", "show", "-w", f"order-{order_id}"))
        first = history["events"][0]["workflowExecutionStartedEventAttributes"]["input"]["payloads"][0]
        assert base64.b64decode(first["metadata"][KEY_ID_METADATA]) == key_id
        read = await asyncio.to_thread(orders, "events", order_id, keys=rotated)
        assert read.returncode == 0, read.stderr
        assert "CUSTOMER-123 ordered" in read.stdout
    only_b = await asyncio.to_thread(orders, "events", "UNDER-A", keys=KEY_B)
    assert only_b.returncode == 1
    assert "encrypted with key 'A', which ORDERS_ENCRYPTION_KEYS does not hold" in only_b.stderr
    # A key file, one entry a line, is the same keyring.
    keys = tmp_path / "keys"
    keys.write_text(f"# newest first\n{KEY_B}\n{KEY_A}\n")
    from_file = await asyncio.to_thread(orders, "events", "UNDER-A", keys=f"@{keys}")
    assert from_file.returncode == 0, from_file.stderr


def post(url: str, body: bytes, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


async def test_the_codec_server_speaks_the_remote_codec_protocol_to_allowed_origins_with_the_token(encrypted):
    # The codec server is served on this test's event loop: its calls go from a thread.
    await asyncio.to_thread(_speaks_the_remote_codec_protocol, encrypted)


def _speaks_the_remote_codec_protocol(encrypted: Encrypted) -> None:
    ui_origin = f"http://127.0.0.1:{int(encrypted.server.address.rsplit(':', 1)[1]) + 1000}"
    auth = {"Authorization": f"Bearer {CODEC_TOKEN}", "Content-Type": "application/json"}
    payload = {"metadata": {"encoding": base64.b64encode(b"json/plain").decode()}}
    plain = {"payloads": [{**payload, "data": base64.b64encode(b'"CUSTOMER-123"').decode()}]}
    status, _, body = post(f"http://{encrypted.codec}/encode", json.dumps(plain).encode(), **auth)
    assert status == 200
    sealed = json.loads(body)
    assert b"CUSTOMER-123" not in base64.b64decode(sealed["payloads"][0]["data"])
    status, _, body = post(f"http://{encrypted.codec}/decode", json.dumps(sealed).encode(), **auth, Origin=ui_origin)
    assert status == 200 and json.loads(body) == plain

    assert post(f"http://{encrypted.codec}/decode", json.dumps(sealed).encode())[0] == 401
    assert post(f"http://{encrypted.codec}/decode", b"not json", **auth)[0] == 400

    preflight = urllib.request.Request(
        f"http://{encrypted.codec}/decode",
        method="OPTIONS",
        headers={"Origin": ui_origin, "Access-Control-Request-Method": "POST"},
    )
    with urllib.request.urlopen(preflight, timeout=10) as answer:
        assert answer.status == 204
        assert answer.headers["Access-Control-Allow-Origin"] == ui_origin
        assert "X-Namespace" in answer.headers["Access-Control-Allow-Headers"]
    stranger = urllib.request.Request(
        f"http://{encrypted.codec}/decode", method="OPTIONS", headers={"Origin": "http://evil.example"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(stranger, timeout=10)
    assert refused.value.code == 403


async def test_an_order_under_a_key_the_worker_lacks_waits_named_by_health_and_goes_on_with_the_key(dev_env, tmp_path):
    """A worker without the key cannot decrypt the order: its workflow task fails, naming the
    key id; `orders health` names the order; a worker holding the key finishes it."""
    server = await a_namespace_of_its_own(dev_env)
    env = {
        "TEMPORAL_ADDRESS": server.address,
        "TEMPORAL_NAMESPACE": server.namespace,
        "ORDERS_DATA_DIR": str(tmp_path / "data"),
    }
    log = tmp_path / "worker.log"

    def worker(keys: str) -> subprocess.Popen:
        return spawn_worker({**env, "ORDERS_ENCRYPTION_KEYS": keys}, log)

    def health() -> dict:
        return json.loads(orders_here({**env, "ORDERS_ENCRYPTION_KEYS": KEY_A}, "health", "--json").stdout)

    without_b = worker(KEY_A)
    with_b = None
    try:
        await wait_until(lambda: has_live_worker(server.client, TASK_QUEUE), what="worker.py to poll")
        # A client that writes with key B, which this worker does not hold.
        writer = await a_namespace_client(dev_env, server.namespace, KEY_B)
        order = ORDER_001.model_copy(update={"order_id": "UNDER-B-ONLY"})
        await writer.start_workflow(WORKFLOW_TYPE, order, id="order-UNDER-B-ONLY", task_queue=TASK_QUEUE)

        async def named_by_health() -> dict | None:
            report = await asyncio.to_thread(health)
            return report if report["failing_workflow_tasks"]["count"] else None

        report = await wait_until(named_by_health, seconds=150, what="orders health to name the failing order")
        assert report["status"] == "degraded"
        assert report["failing_workflow_tasks"]["orders"] == ["UNDER-B-ONLY"]
        assert "encrypted with key 'B', which ORDERS_ENCRYPTION_KEYS does not hold" in log.read_text()

        await stop_processes(without_b)
        with_b = worker(f"{KEY_A},{KEY_B}")
        handle = server.client.get_workflow_handle("order-UNDER-B-ONLY")

        async def completed() -> bool:
            return (await handle.describe()).status.name == "COMPLETED"

        await wait_until(completed, seconds=150, what="the order to finish with a worker holding key B")
    finally:
        await stop_processes(without_b, *([with_b] if with_b else []))


async def test_with_encryption_on_the_embedded_server_points_its_web_ui_at_the_codec_server(tmp_path):
    """worker.py, finding nothing at a local address, starts the embedded server with its
    Web UI decoding through ORDERS_CODEC_ENDPOINT; without keys, with no codec endpoint.
    Stopped as soon as the server appears (often while it still starts), it leaves none."""
    for keys, expected in ((KEY_A, "--ui-codec-endpoint http://127.0.0.1:18099"), ("", None)):
        data = tmp_path / ("encrypted" if keys else "plain")
        env = {
            "TEMPORAL_ADDRESS": f"127.0.0.1:{free_local_port()}",
            "ORDERS_DATA_DIR": str(data),
            "ORDERS_ENCRYPTION_KEYS": keys,
            "ORDERS_CODEC_ENDPOINT": "http://127.0.0.1:18099",
        }
        worker = spawn_worker(env, tmp_path / "worker.log")
        try:

            async def server_started(data: Path = data) -> dict[int, str] | None:
                return processes_mentioning("start-dev", str(data)) or None

            started = await wait_until(server_started, what="the embedded server to start")
            command_line = next(iter(started.values()))
            if expected:
                assert expected in command_line, command_line
            else:
                assert "--ui-codec-endpoint" not in command_line, command_line
        finally:
            await stop_processes(worker)
        assert not processes_mentioning("start-dev", str(data))


def test_an_encrypted_shop_exports_decrypted_with_the_key_and_refuses_in_one_line_without(encrypted, tmp_path):
    exported, checkpoint = tmp_path / "events.jsonl", tmp_path / "export.checkpoint"
    with_key = encrypted.orders("export", "--output", str(exported), "--checkpoint", str(checkpoint))
    assert with_key.returncode == 0, with_key.stderr
    lines = [json.loads(line) for line in exported.read_text().splitlines()]
    received = next(line for line in lines if line["stream_id"] == "ORDER-001" and line["version"] == 1)
    assert received["data"]["customer_id"] == "CUSTOMER-123"

    again = tmp_path / "again.jsonl"
    without = encrypted.orders("export", "--output", str(again), ORDERS_ENCRYPTION_KEYS="")
    assert without.returncode == 1
    assert without.stderr.count("\n") == 1 and "Traceback" not in without.stderr
    assert "encrypted with key 'A'; set ORDERS_ENCRYPTION_KEYS with that key" in without.stderr
    assert not again.exists() and not again.with_name("again.jsonl.partial").exists(), "nothing half-written"
