"""`orders codec-server`: decrypts and encrypts payloads for the Web UI and the `temporal`
CLI, with the keys of ORDERS_ENCRYPTION_KEYS, so people who may read orders see them
decoded while the server keeps only ciphertext.

The protocol is Temporal's remote codec: `POST /decode` and `POST /encode` take and
return `{"payloads": [...]}` in protobuf JSON. It listens where ORDERS_CODEC_ENDPOINT
says (the address the embedded server's Web UI is given), or at --address.

Who can decode:
- With ORDERS_CODEC_TOKEN set, only a caller presenting `Authorization: Bearer <token>`
  (the CLI's --codec-auth, or the UI's "pass access token"); 401 otherwise.
- Without it, any program that can reach the port: so it listens on loopback only, and
  refuses to start on any other address without a token.
- Browsers only from the origins allowed (ORDERS_CODEC_ORIGINS or --origin; by default
  the Web UI of the configured server): a request, preflight or POST, whose `Origin` is
  another is refused with 403.

aiohttp answers every request, malformed ones included, with a status: a body that is
not protobuf JSON, not UTF-8, or over 16 MiB gets 400 or 413, never a dropped connection.
A payload /decode cannot open (a key this server lacks) is passed back as it is, so the
rest of a history still shows decoded. Runs until Ctrl-C or SIGTERM.
"""

import argparse
import hmac
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import urlsplit

from aiohttp import web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from connection import Settings, SettingsError, is_local_address
from contract import host_and_port
from encryption import EncryptionKeyError, Keyring, MalformedPayloadError, opened_in_json
from orders_cli.arguments import Subcommands
from programs import CommandError, ExitCode, until_stopped
from storage import CustomerKeys, customer_keys_when_needed, where_of

MAX_BODY_BYTES = 16 * 1024 * 1024  # far above a page of history; a guard, not a limit anyone meets
# Connections waiting to be accepted: a Web UI opening a long history sends a burst.
LISTEN_BACKLOG = 1024


_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class CodecServerError(CommandError):
    """The codec server cannot listen where it was asked; the message says why."""


def allowed_origins(settings: Settings, given: Sequence[str]) -> tuple[str, ...]:
    """The origins given, else ORDERS_CODEC_ORIGINS, else the Web UI of the configured server."""
    if given:
        return tuple(origin.rstrip("/") for origin in given)
    if settings.codec_origins:
        return settings.codec_origins
    if settings.ui_url_override:
        return (settings.ui_url_override.rstrip("/"),)
    _, port = host_and_port(settings.address)
    return (f"http://127.0.0.1:{port + 1000}", f"http://localhost:{port + 1000}")


def listen_address(settings: Settings, given: str | None) -> str:
    """--address, else the host:port of ORDERS_CODEC_ENDPOINT: the one address the Web UI
    is pointed at and the codec server answers."""
    if given:
        try:
            host_and_port(given)
        except ValueError as err:
            raise SettingsError(f"--address: {err}") from None
        return given
    endpoint = urlsplit(settings.codec_endpoint)
    if endpoint.scheme != "http" or not endpoint.hostname:
        raise SettingsError(
            f"ORDERS_CODEC_ENDPOINT={settings.codec_endpoint!r}: the codec server listens where an http:// "
            "endpoint says; behind a TLS proxy, give the address it listens on with --address"
        )
    host = f"[{endpoint.hostname}]" if ":" in endpoint.hostname else endpoint.hostname
    return f"{host}:{endpoint.port or 80}"


def has_token(header: str, token: str) -> bool:
    """`Authorization: Bearer <token>`; the scheme's name is case-insensitive (RFC 9110)."""
    scheme, _, given = header.strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def _message(status: type[web.HTTPException], text: str) -> web.HTTPException:
    return status(text=json.dumps({"message": text}), content_type="application/json")


# What an allowed origin's browser is told besides that it is allowed.
_CORS = {
    "Access-Control-Allow-Credentials": "true",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, X-Namespace, Authorization",
    "Vary": "Origin",
}


def make_app(
    keyring: Keyring | None,
    origins: Sequence[str],
    token: str | None,
    customer_keys: Callable[[], CustomerKeys | None] = lambda: None,
) -> web.Application:
    """`keyring` opens encrypted payloads; `customer_keys`, the personal fields inside them."""
    allowed = {origin.rstrip("/") for origin in origins}

    def origin_of(request: web.Request) -> str | None:
        origin = request.headers.get("Origin")
        return origin.rstrip("/") if origin else None

    @web.middleware
    async def guard(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        origin = origin_of(request)
        try:
            if origin is not None and origin not in allowed:
                raise _message(web.HTTPForbidden, f"origin {origin} may not call this codec server")
            if request.method == "OPTIONS":
                response: web.StreamResponse = web.Response(status=204)
            elif token is not None and not has_token(request.headers.get("Authorization", ""), token):
                raise _message(web.HTTPUnauthorized, "a bearer token is required (ORDERS_CODEC_TOKEN)")
            else:
                response = await handler(request)
        except web.HTTPException as refused:
            # Answered as a response of its own (aiohttp will not take an exception returned),
            # so the CORS headers below reach a refusal too.
            response = web.Response(status=refused.status, text=refused.text, content_type=refused.content_type)
        if origin is not None and origin in allowed:
            response.headers.update({"Access-Control-Allow-Origin": origin, **_CORS})
        return response

    async def decode(request: web.Request) -> web.Response:
        try:
            return _answer(_decoded((await _payloads_of(request)).payloads, keyring, customer_keys()))
        except MalformedPayloadError as err:
            raise _message(web.HTTPBadRequest, str(err)) from None

    async def encode(request: web.Request) -> web.Response:
        payloads = (await _payloads_of(request)).payloads
        return _answer([keyring.seal(payload) for payload in payloads] if keyring else list(payloads))

    async def elsewhere(request: web.Request) -> web.Response:
        raise _message(web.HTTPNotFound, "POST /encode or /decode")

    async def quietly(app: web.Application) -> None:
        # A malformed request is answered 400; aiohttp's traceback of it adds nothing to a log.
        logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)

    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[guard])
    app.on_startup.append(quietly)
    app.router.add_post("/decode", decode)
    app.router.add_post("/encode", encode)
    app.router.add_route("OPTIONS", "/{tail:.*}", elsewhere)  # answered by the guard
    app.router.add_route("*", "/{tail:.*}", elsewhere)
    return app


async def _payloads_of(request: web.Request) -> Payloads:
    body = await request.read()  # over client_max_size: 413
    try:
        return json_format.Parse(body.decode("utf-8"), Payloads())
    except UnicodeDecodeError:
        raise _message(web.HTTPBadRequest, "the body is not UTF-8 text") from None
    except json_format.ParseError as err:
        raise _message(web.HTTPBadRequest, f'not {{"payloads": [...]}}: {err}') from None


def _answer(payloads: list[Payload]) -> web.Response:
    return web.Response(text=json_format.MessageToJson(Payloads(payloads=payloads)), content_type="application/json")


def _decoded(payloads: Sequence[Payload], keyring: Keyring | None, keys: CustomerKeys | None) -> list[Payload]:
    return [_personal_opened(_opened_or_as_it_is(keyring, payload), keys) for payload in payloads]


def _opened_or_as_it_is(keyring: Keyring | None, payload: Payload) -> Payload:
    """A payload sealed with a key this server lacks (or another key under the same id)
    goes back as it came: the Web UI shows that one encoded and every other decoded."""
    if keyring is None:
        return payload
    try:
        return keyring.open(payload)
    except EncryptionKeyError:
        return payload


def _personal_opened(payload: Payload, keys: CustomerKeys | None) -> Payload:
    """A JSON payload with its personal fields opened, each where the key store holds the
    customer's key (docs/personal-data.md); one that cannot be opened stays sealed."""
    if keys is None or payload.metadata.get("encoding") != b"json/plain":
        return payload
    data = payload.data
    opened = opened_in_json(data, keys.key_named, keys.was_forgotten)
    return payload if opened is data else Payload(metadata=payload.metadata, data=opened)


async def serve(app: web.Application, address: str) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)  # payloads are private; not even their sizes are logged
    await runner.setup()
    host, port = host_and_port(address)
    try:
        await web.TCPSite(runner, host, port, backlog=LISTEN_BACKLOG).start()
    except OSError as err:
        await runner.cleanup()
        raise CodecServerError(f"cannot listen at {address}: {err.strerror}") from None
    return runner


async def codec_server_command(args: argparse.Namespace) -> int:
    settings = args.settings
    customer_keys = customer_keys_when_needed(settings.customer_keys, settings.master_keyring)
    if settings.keyring is None and customer_keys() is None:
        raise SettingsError(
            "ORDERS_ENCRYPTION_KEYS is not set and there is no customer key store: a codec server needs the keys it"
            " decodes with"
        )
    address = listen_address(settings, args.address)
    if settings.codec_token is None and not is_local_address(address):
        raise SettingsError(
            f"the codec server would decrypt for anyone who can reach {address}: beyond loopback it needs "
            "ORDERS_CODEC_TOKEN, the bearer token every caller must present"
        )
    origins = allowed_origins(settings, args.origin or ())
    runner = await serve(make_app(settings.keyring, origins, settings.codec_token, customer_keys), address)
    keys = (
        f"keys {', '.join(settings.keyring.keys)}; encrypting with {settings.keyring.active!r}"
        if settings.keyring
        else "no payload encryption"
    )
    print(
        f"Codec server at http://{address} ({keys}; personal data opened with the keys in"
        f" {where_of(settings.customer_keys)}) for {', '.join(origins)}"
        f"{'; bearer token required' if settings.codec_token else '; no token: loopback callers only'}."
        " Ctrl-C to stop",
        file=sys.stderr,
        flush=True,
    )
    try:
        await until_stopped()
    finally:
        await runner.cleanup()
    print("Stopped", file=sys.stderr)
    return ExitCode.OK


def register(commands: Subcommands) -> None:
    parser = commands.add(
        "codec-server",
        codec_server_command,
        json=False,
        serves=True,
    )
    parser.add_argument(
        "--address",
        metavar="HOST:PORT",
        help="where to listen (default: the host:port of ORDERS_CODEC_ENDPOINT, http://127.0.0.1:8081)",
    )
    parser.add_argument(
        "--origin",
        action="append",
        metavar="URL",
        help="a Web UI origin allowed to call it (repeatable; default ORDERS_CODEC_ORIGINS, else the server's Web UI)",
    )
