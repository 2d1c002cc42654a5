"""`orders codec-server`, probed through real sockets: who may decode, where it listens,
and malformed, oversized and bursty requests. It needs no Temporal. The app is served
in-process, as the command serves it (`serve`: aiohttp, its listen backlog); the command
runs in-process where its claim is its output, and as a real process once, where it
listens by ORDERS_CODEC_ENDPOINT."""

import asyncio
import base64
import json
import logging
import os
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from temporalio.api.common.v1 import Payload

from benchmarks.http_burst import burst
from connection.embedded_server import free_local_port
from encryption import Keyring
from orders_cli.codec_server import make_app, serve
from tests.commands import orders_in_process
from tests.integration.helpers import ORDERS_COMMAND, stop_processes

KEY_A = "A=" + base64.b64encode(bytes(range(32))).decode()
KEY_OTHER = "Z=" + base64.b64encode(bytes(range(1, 33))).decode()
TOKEN = "s3cret-token"
UI_ORIGIN = "http://127.0.0.1:18233"


def post(url: str, body: bytes, **headers: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def payload_json(payload: Payload) -> dict:
    return {
        "metadata": {name: base64.b64encode(value).decode() for name, value in payload.metadata.items()},
        "data": base64.b64encode(payload.data).decode(),
    }


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(text).encode())


def raw_request(address: str, head: str, body: bytes = b"") -> bytes:
    """Bytes sent as they are, to say what urllib would refuse to send; the answer's first line."""
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        answer = b""
        while b"\r\n" not in answer and (chunk := sock.recv(65536)):
            answer += chunk
    return answer.split(b"\r\n", 1)[0]


@asynccontextmanager
async def codec_app(token: str | None = None) -> AsyncIterator[str]:
    """The codec server's app (key A, the Web UI origin allowed) served in-process on a
    loopback port as the command serves it: its address."""
    address = f"127.0.0.1:{free_local_port()}"
    runner = await serve(make_app(Keyring.parse(KEY_A), (UI_ORIGIN,), token), address)
    try:
        yield f"http://{address}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def codec(caplog) -> AsyncIterator[str]:
    """A codec server with no token (so loopback only); what it logs is watched."""
    async with codec_app() as url:
        yield url
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR], caplog.text


async def test_the_codec_server_refuses_to_listen_beyond_loopback_without_a_token():
    settings = {"ORDERS_ENCRYPTION_KEYS": KEY_A, "ORDERS_CODEC_TOKEN": ""}
    refused = await orders_in_process(settings, "codec-server", "--address", f"0.0.0.0:{free_local_port()}")
    assert refused.returncode == 2, refused.stderr
    assert "ORDERS_CODEC_TOKEN" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1


async def test_a_post_from_an_origin_not_allowed_is_refused(codec):
    url = codec
    body = json.dumps({"payloads": [payload_json(Keyring.parse(KEY_A).seal(plain("CUSTOMER-123")))]}).encode()
    status, answer = await asyncio.to_thread(post, f"{url}/decode", body, Origin="http://evil.example")
    assert status == 403 and b"CUSTOMER-123" not in answer
    status, answer = await asyncio.to_thread(post, f"{url}/decode", body, Origin=UI_ORIGIN)
    assert status == 200 and b"CUSTOMER-123" in base64.b64decode(json.loads(answer)["payloads"][0]["data"])


async def test_with_a_token_a_request_without_it_gets_401_and_the_scheme_is_case_insensitive():
    async with codec_app(TOKEN) as address:
        body = json.dumps({"payloads": [payload_json(plain("x"))]}).encode()
        url = f"{address}/encode"
        assert (await asyncio.to_thread(post, url, body))[0] == 401
        assert (await asyncio.to_thread(post, url, body, Authorization="Bearer wrong"))[0] == 401
        assert (await asyncio.to_thread(post, url, body, Authorization=f"Bearer {TOKEN}"))[0] == 200
        assert (await asyncio.to_thread(post, url, body, Authorization=f"bearer {TOKEN}"))[0] == 200


async def test_orders_codec_endpoint_is_where_the_codec_server_listens():
    """The one address the embedded server's Web UI is given (tested in test_encryption)
    is where the codec server answers, with no --address: the console script itself, a
    process of its own, stopped by SIGTERM."""
    port = free_local_port()
    process = subprocess.Popen(
        [ORDERS_COMMAND, "codec-server"],
        env={**os.environ, "ORDERS_ENCRYPTION_KEYS": KEY_A, "ORDERS_CODEC_ENDPOINT": f"http://127.0.0.1:{port}/"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        said = await asyncio.to_thread(process.stdout.readline)
        assert f"Codec server at http://127.0.0.1:{port} " in said, said
        body = json.dumps({"payloads": [payload_json(plain("x"))]}).encode()
        assert (await asyncio.to_thread(post, f"http://127.0.0.1:{port}/encode", body))[0] == 200
    finally:
        await stop_processes(process)


async def test_malformed_requests_get_a_400_naming_the_problem_and_no_traceback(codec):
    url = codec
    address = url.removeprefix("http://")
    status, answer = await asyncio.to_thread(post, f"{url}/decode", b"\xff\xfe\x00garbage")
    assert status == 400 and b"not UTF-8" in answer
    for nonce in (b"", b"abc"):
        short = Payload(metadata={"encoding": b"binary/encrypted", "encryption-key-id": b"A"}, data=nonce)
        body = json.dumps({"payloads": [payload_json(short)]}).encode()
        status, answer = await asyncio.to_thread(post, f"{url}/decode", body)
        assert status == 400 and b"shorter than its 12-byte nonce" in answer, answer
    head = "POST /decode HTTP/1.1\nHost: x\nContent-Length: abc\n"
    assert b" 400 " in await asyncio.to_thread(raw_request, address, head, b"{}")
    # Still answering; and nothing logged for any of it (the fixture holds the log to that).
    assert (await asyncio.to_thread(post, f"{url}/decode", b'{"payloads": []}'))[0] == 200


async def test_a_body_of_unbounded_or_excessive_length_is_refused_without_reading_it(codec):
    url = codec
    address = url.removeprefix("http://")
    negative = "POST /decode HTTP/1.1\nHost: x\nContent-Length: -1\n"
    assert b" 400 " in await asyncio.to_thread(raw_request, address, negative, b"x" * 1024)
    # 20 MiB declared and sent: refused at the 16 MiB guard.
    huge = b'{"payloads": [], "x": "' + b"a" * (20 * 1024 * 1024) + b'"}'
    status, _ = await asyncio.to_thread(post, f"{url}/decode", huge)
    assert status == 413


async def test_a_payload_under_a_key_it_lacks_comes_back_as_it_is_and_the_rest_decoded(codec):
    url = codec
    foreign = Keyring.parse(KEY_OTHER).seal(plain("SEALED-ELSEWHERE"))
    ours = Keyring.parse(KEY_A).seal(plain("CUSTOMER-123"))
    body = json.dumps({"payloads": [payload_json(foreign), payload_json(ours)]}).encode()
    status, answer = await asyncio.to_thread(post, f"{url}/decode", body)
    assert status == 200
    first, second = json.loads(answer)["payloads"]
    assert first == payload_json(foreign)
    assert base64.b64decode(second["data"]) == b'"CUSTOMER-123"'


async def test_a_burst_of_two_thousand_requests_is_answered_in_full(codec):
    url = codec
    body = json.dumps({"payloads": [payload_json(Keyring.parse(KEY_A).seal(plain("x")))]}).encode()
    answered, _ = await asyncio.to_thread(burst, f"{url}/decode", body, 2000, 500)
    assert answered == 2000
