"""How programs reach Temporal: the SDK's env config, the pydantic converter, deadlines
on every call, and an embedded dev server when nothing answers on this machine.

The settings load at once; reaching Temporal (the client, the embedded server) when first
used (PEP 562), so reading the settings or printing help never imports the SDK's client."""

from typing import TYPE_CHECKING

from connection.settings import Settings, SettingsError, check_version_name, load_settings
from contract import loaded_when_asked

if TYPE_CHECKING:
    from connection.deadlines import call_timeout
    from connection.embedded_server import (
        EmbeddedServer,
        EmbeddedServerError,
        free_local_port,
        start_embedded_server,
        temporal_cli_path,
    )
    from connection.session import Connection, open_connection
    from connection.temporal import (
        NamespaceNotSetUp,
        TemporalUnavailable,
        client_options,
        connect,
        data_converter,
        ensure_search_attributes,
        is_local_address,
        is_temporal_cloud,
        search_attribute_commands,
        silence_of,
        something_answers,
    )

__getattr__ = loaded_when_asked(
    "connection",
    {
        "deadlines": ("call_timeout",),
        "embedded_server": (
            "EmbeddedServer",
            "EmbeddedServerError",
            "free_local_port",
            "start_embedded_server",
            "temporal_cli_path",
        ),
        "session": ("Connection", "open_connection"),
        "temporal": (
            "NamespaceNotSetUp",
            "TemporalUnavailable",
            "client_options",
            "connect",
            "data_converter",
            "ensure_search_attributes",
            "is_local_address",
            "is_temporal_cloud",
            "search_attribute_commands",
            "silence_of",
            "something_answers",
        ),
    },
)


__all__ = [
    "Connection", "EmbeddedServer", "EmbeddedServerError", "NamespaceNotSetUp", "Settings", "SettingsError",
    "TemporalUnavailable", "call_timeout", "check_version_name", "client_options", "connect", "data_converter",
    "ensure_search_attributes", "free_local_port", "is_local_address", "is_temporal_cloud",
    "load_settings", "open_connection", "search_attribute_commands", "silence_of", "something_answers",
    "start_embedded_server", "temporal_cli_path",
]  # fmt: skip
