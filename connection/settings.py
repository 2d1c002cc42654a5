"""Configuration, read once at start-up by the entry points (never by workflow code).

Connection settings are the SDK's env config: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
TEMPORAL_API_KEY, TEMPORAL_TLS*, TEMPORAL_PROFILE and the TOML file at
TEMPORAL_CONFIG_FILE; `localhost:7233` when nothing is set. Two settings are ours:
ORDERS_DATA_DIR (where the embedded server and the simulated payment gateway,
inventory and shipping keep their SQLite files, `.temporal/` by default)
and ORDERS_UI_URL (the Web UI's base address, when it is not the dev server's).
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from temporalio.envconfig import ClientConfig, ClientConnectConfig

DEFAULT_ADDRESS = "localhost:7233"
DEFAULT_NAMESPACE = "default"
DEFAULT_DATA_DIR = ".temporal"
LEDGER_FILENAME = "ledger.sqlite"


@dataclass(frozen=True)
class Settings:
    connect_config: ClientConnectConfig
    data_dir: Path
    ui_url_override: str | None

    @property
    def address(self) -> str:
        return self.connect_config["target_host"]

    @property
    def namespace(self) -> str:
        return self.connect_config["namespace"]

    @property
    def ledger_path(self) -> Path:
        """The SQLite file of the simulated payment gateway, inventory and shipping."""
        return self.data_dir / LEDGER_FILENAME


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    config = ClientConfig.load_client_connect_config(override_env_vars=dict(environ))
    config.setdefault("target_host", DEFAULT_ADDRESS)
    config.setdefault("namespace", DEFAULT_NAMESPACE)
    return Settings(
        connect_config=config,
        data_dir=Path(environ.get("ORDERS_DATA_DIR") or DEFAULT_DATA_DIR),
        ui_url_override=environ.get("ORDERS_UI_URL") or None,
    )
