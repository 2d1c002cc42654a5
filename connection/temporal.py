"""Connecting to Temporal and checking what is there."""

import asyncio
import dataclasses
import logging
import socket
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import HeaderCodecBehavior, SearchAttributeIndexedValueType, SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.service import RPCError

from connection.deadlines import CallDeadlines, call_timeout, keep_alive, stopped_answering
from connection.settings import DEFAULT_RPC_TIMEOUT, Settings
from contract import host_and_port
from encryption import EncryptionCodec, Keyring
from observability import tracing_interceptors

log = logging.getLogger(__name__)

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}


def is_local_address(address: str) -> bool:
    host, _ = host_and_port(address)
    return host in _LOCAL_HOSTS or host.startswith("127.")


def something_answers(address: str, timeout_seconds: float = 1.0) -> bool:
    host, port = host_and_port(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_seconds):
            return True
    except OSError:
        return False


class TemporalUnavailable(ConnectionError):
    """Temporal could not be reached; the message names the address and what happened."""


def data_converter(keyring: Keyring | None = None) -> DataConverter:
    """The pydantic converter, so payloads are plain, readable JSON; with a keyring, each
    payload encrypted on its way out (encryption), and failures' messages and
    stack traces moved into their encoded attributes, so that they are encrypted too."""
    if keyring is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(keyring),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def client_options(rpc_timeout: timedelta = DEFAULT_RPC_TIMEOUT, keyring: Keyring | None = None) -> dict[str, Any]:
    """What every client of ours is connected with, besides where: our data converter;
    and deadlines, so a server that falls silent fails the call instead of holding it
    (connection.deadlines)."""
    return {
        "data_converter": data_converter(keyring),
        # Headers too (the correlation id activities log, trace context): nothing in clear.
        "header_codec_behavior": HeaderCodecBehavior.CODEC if keyring else HeaderCodecBehavior.NO_CODEC,
        # Traces, when an entry point started them: the worker takes its client's.
        "interceptors": [CallDeadlines(rpc_timeout), *tracing_interceptors()],
        "keep_alive_config": keep_alive(rpc_timeout),
    }


async def connect(settings: Settings) -> Client:
    where = f"Temporal at {settings.address} (namespace {settings.namespace})"
    started = time.monotonic()
    try:
        return await asyncio.wait_for(
            Client.connect(**settings.connect_config, **client_options(settings.rpc_timeout, settings.keyring)),
            timeout=settings.connect_timeout.total_seconds(),
        )
    except TimeoutError:
        raise TemporalUnavailable(
            f"{where} did not answer within {settings.connect_timeout.total_seconds():g} s "
            "(ORDERS_CONNECT_TIMEOUT); is a Temporal frontend listening there?"
        ) from None
    except RuntimeError as err:
        # The SDK says why in one RuntimeError (refused, TLS, credentials); its text is
        # shown as it is, shortened, never parsed.
        raise TemporalUnavailable(
            f"cannot connect to {where} after {time.monotonic() - started:.0f} s: {_first_line(str(err))}"
        ) from None


def silence_of(err: RPCError, settings: Settings) -> TemporalUnavailable | None:
    """`err` as TemporalUnavailable when it says the server fell silent or went away;
    None when it is the server's own answer to the call."""
    message = stopped_answering(err, settings.address, settings.namespace, settings.rpc_timeout)
    return None if message is None else TemporalUnavailable(message)


def _first_line(message: str, limit: int = 300) -> str:
    line = message.strip().splitlines()[0] if message.strip() else "no reason given"
    return line if len(line) <= limit else line[:limit] + "…"


_TYPE_NAMES = {
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.TEXT: "Text",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.KEYWORD_LIST: "KeywordList",
}


def type_name(key: SearchAttributeKey[Any]) -> str:
    """A search attribute's type as the `temporal` CLI and `tcld` spell it."""
    return _TYPE_NAMES[key.indexed_value_type]


def is_temporal_cloud(address: str) -> bool:
    return host_and_port(address)[0].endswith(".tmprl.cloud")


def search_attribute_commands(
    search_attributes: Sequence[SearchAttributeKey[Any]], namespace: str, *, cloud: bool
) -> list[str]:
    """The commands an operator runs once to create `search_attributes` in `namespace`:
    `tcld` for Temporal Cloud, the `temporal` CLI for a self-hosted cluster (one command
    a type, as the CLI takes one type a call)."""
    if cloud:
        pairs = " ".join(f"--sa {key.name}={type_name(key)}" for key in search_attributes)
        return [f"tcld namespace search-attributes add --namespace {namespace} {pairs}"]
    return [
        f"temporal operator search-attribute create --namespace {namespace} --name {key.name} --type {type_name(key)}"
        for key in search_attributes
    ]


class NamespaceNotSetUp(Exception):
    """The namespace lacks search attributes the orders need, and they could not be
    created from here; the message names them and the commands that create them."""


async def missing_search_attributes(client: Client, search_attributes: Sequence[SearchAttributeKey[Any]]) -> list[str]:
    """The names of `search_attributes` the namespace does not have."""
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace), timeout=call_timeout(client)
    )
    return [key.name for key in search_attributes if key.name not in existing.custom_attributes]


async def ensure_search_attributes(
    client: Client, search_attributes: Sequence[SearchAttributeKey[Any]]
) -> list[SearchAttributeKey[Any]]:
    """Register `search_attributes` where they are missing; return those still missing.

    Works on a dev server and a self-hosted cluster; Temporal Cloud refuses it (an API
    key cannot change a namespace's search attributes), and there they are created once
    with `tcld` (search_attribute_commands).
    """
    namespace = client.namespace
    try:
        names = set(await missing_search_attributes(client, search_attributes))
    except RPCError as err:
        log.warning("Could not list the search attributes of %s: %s", namespace, err.message)
        return []  # a server that cannot list them is told by the first start what it lacks
    missing = [key for key in search_attributes if key.name in names]
    if not missing:
        return []
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=namespace,
                # The SDK's enum and the API's share their numbers.
                search_attributes={
                    key.name: IndexedValueType.ValueType(key.indexed_value_type.value) for key in missing
                },
            ),
            timeout=call_timeout(client),
        )
    except RPCError as err:
        log.debug("Registering search attributes in %s was refused: %s", namespace, err.message)
        return missing
    log.info("Registered search attributes %s in namespace %s", ", ".join(key.name for key in missing), namespace)
    return []


def not_set_up(missing: Sequence[SearchAttributeKey[Any]], namespace: str, address: str) -> NamespaceNotSetUp:
    commands = search_attribute_commands(missing, namespace, cloud=is_temporal_cloud(address))
    return NamespaceNotSetUp(
        f"namespace {namespace!r} at {address} lacks the search attributes "
        f"{', '.join(key.name for key in missing)}, which every order publishes, and they could not be "
        f"created from here; create them once, then start again: {' && '.join(commands)}"
    )
