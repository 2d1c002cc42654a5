"""How entry points reach Temporal: the SDK's env config, the pydantic converter, and
an embedded dev server when nothing answers on this machine."""

from connection.embedded_server import EmbeddedServer, start_embedded_server
from connection.session import Connection, open_connection
from connection.settings import Settings, SettingsError, load_settings
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
