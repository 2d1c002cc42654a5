"""How entry points reach Temporal: the SDK's env config, the pydantic converter, and
an embedded dev server when nothing answers on this machine.

The settings load at once; reaching Temporal (the client, the embedded server) when first
used (PEP 562), so reading the settings or printing help never imports the SDK's client."""

import importlib
from typing import TYPE_CHECKING, Any

from connection.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from connection.embedded_server import EmbeddedServer, start_embedded_server
    from connection.session import Connection, open_connection
    from connection.temporal import (
        NamespaceNotSetUp,
        TemporalUnavailable,
        connect,
        ensure_search_attributes,
        has_live_worker,
        is_local_address,
        silence_of,
        something_answers,
    )

_LATER = {
    "EmbeddedServer": "connection.embedded_server",
    "start_embedded_server": "connection.embedded_server",
    "Connection": "connection.session",
    "open_connection": "connection.session",
    **dict.fromkeys(
        (
            "NamespaceNotSetUp",
            "TemporalUnavailable",
            "connect",
            "ensure_search_attributes",
            "has_live_worker",
            "is_local_address",
            "silence_of",
            "something_answers",
        ),
        "connection.temporal",
    ),
}


def __getattr__(name: str) -> Any:
    if name in _LATER:
        return getattr(importlib.import_module(_LATER[name]), name)
    raise AttributeError(f"module 'connection' has no attribute {name!r}")


__all__ = [
    "Connection",
    "EmbeddedServer",
    "NamespaceNotSetUp",
    "Settings",
    "SettingsError",
    "TemporalUnavailable",
    "connect",
    "ensure_search_attributes",
    "has_live_worker",
    "is_local_address",
    "load_settings",
    "open_connection",
    "silence_of",
    "something_answers",
    "start_embedded_server",
]
