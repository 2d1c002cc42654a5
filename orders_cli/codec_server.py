"""`orders codec-server`: decrypts and encrypts payloads for the Web UI and the `temporal`
CLI, with the keys of ORDERS_ENCRYPTION_KEYS, so people who may read orders see them
decoded while the server keeps only ciphertext.

The protocol is Temporal's remote codec: `POST /decode` and `POST /encode` take and
return `{"payloads": [...]}` in protobuf JSON. The Web UI calls it from the browser, so it
answers CORS preflights for the origins allowed (ORDERS_CODEC_ORIGINS or --origin; by
default the Web UI of the configured server). With ORDERS_CODEC_TOKEN set, every call
must carry `Authorization: Bearer <token>` (the CLI's --codec-auth, or the UI's
"pass access token"). Runs until Ctrl-C or SIGTERM.
"""

import argparse
import asyncio
import hmac
import json
import sys
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from connection import Settings, SettingsError, load_settings
from connection.encryption import EncryptionKeyError, Keyring
from connection.process import wait_for_interrupt
from connection.settings import DEFAULT_CODEC_ENDPOINT
from connection.temporal import split_address
from observability.endpoint import parse_address

_MAX_BODY_BYTES = 16 * 1024 * 1024  # far above a page of history; a guard, not a limit anyone meets


def allowed_origins(settings: Settings, given: Sequence[str]) -> tuple[str, ...]:
    """The origins given, else ORDERS_CODEC_ORIGINS, else the Web UI of the configured server."""
    if given:
        return tuple(origin.rstrip("/") for origin in given)
    if settings.codec_origins:
        return settings.codec_origins
    if settings.ui_url_override:
        return (settings.ui_url_override.rstrip("/"),)
    _, port = split_address(settings.address)
    return (f"http://127.0.0.1:{port + 1000}", f"http://localhost:{port + 1000}")


def make_server(address: str, keyring: Keyring, origins: Sequence[str], token: str | None) -> ThreadingHTTPServer:
    allowed = set(origins)

    class Codec(BaseHTTPRequestHandler):
        def do_OPTIONS(self) -> None:
            self._reply(204 if self._origin_allowed() else 403, b"")

        def do_POST(self) -> None:
            path = self.path.split("?")[0].rstrip("/")
            actions: dict[str, Callable[[Payload], Payload]] = {"/decode": keyring.open, "/encode": keyring.seal}
            if path not in actions:
                self._reply(404, b'{"message": "POST /encode or /decode"}')
                return
            if token is not None and not hmac.compare_digest(self.headers.get("Authorization", ""), f"Bearer {token}"):
                self._reply(401, b'{"message": "a bearer token is required (ORDERS_CODEC_TOKEN)"}')
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > _MAX_BODY_BYTES:
                self._reply(413, b'{"message": "too large"}')
                return
            try:
                payloads = json_format.Parse(self.rfile.read(length), Payloads())
                done = Payloads(payloads=[actions[path](payload) for payload in payloads.payloads])
            except json_format.ParseError as err:
                self._reply(400, json.dumps({"message": f'not {{"payloads": [...]}}: {err}'}).encode())
                return
            except EncryptionKeyError as err:
                self._reply(400, json.dumps({"message": str(err)}).encode())
                return
            self._reply(200, json_format.MessageToJson(done).encode())

        def _origin_allowed(self) -> bool:
            origin = self.headers.get("Origin")
            return origin is None or origin.rstrip("/") in allowed

        def _reply(self, status: int, body: bytes) -> None:
            self.send_response(status)
            origin = self.headers.get("Origin")
            if origin and origin.rstrip("/") in allowed:
                self.send_header("Access-Control-Allow-Origin", origin)
                self.send_header("Access-Control-Allow-Credentials", "true")
                self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
                self.send_header("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
                self.send_header("Vary", "Origin")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # payloads are what this keeps private; not even their sizes go to a log

    host, port = parse_address(address)
    server = ThreadingHTTPServer((host, port), Codec)
    server.daemon_threads = True
    return server


async def codec_server_command(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings.keyring is None:
        raise SettingsError("ORDERS_ENCRYPTION_KEYS is not set: a codec server needs the keys it decodes with")
    address = args.address or DEFAULT_CODEC_ENDPOINT.removeprefix("http://")
    try:
        parse_address(address)
    except ValueError as err:
        raise SettingsError(f"--address: {err}") from None
    origins = allowed_origins(settings, args.origin or ())
    try:
        server = make_server(address, settings.keyring, origins, settings.codec_token)
    except OSError as err:
        raise ValueError(f"cannot listen at {address}: {err.strerror}") from None
    threading.Thread(target=server.serve_forever, name="codec-server", daemon=True).start()
    print(
        f"Codec server at http://{address} (keys {', '.join(settings.keyring.keys)}; encrypting with"
        f" {settings.keyring.active!r}) for {', '.join(origins)}"
        f"{'; bearer token required' if settings.codec_token else ''}. Ctrl-C to stop",
        file=sys.stderr,
        flush=True,
    )
    try:
        await wait_for_interrupt()
    finally:
        await asyncio.to_thread(server.shutdown)
        server.server_close()
    print("Stopped", file=sys.stderr)
    return 0


def add_codec_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--address",
        metavar="HOST:PORT",
        help=f"where to listen (default {DEFAULT_CODEC_ENDPOINT.removeprefix('http://')})",
    )
    parser.add_argument(
        "--origin",
        action="append",
        metavar="URL",
        help="a Web UI origin allowed to call it (repeatable; default ORDERS_CODEC_ORIGINS, else the server's Web UI)",
    )
