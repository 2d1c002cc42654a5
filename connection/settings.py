"""Configuration, read once at start-up by the entry points (never by workflow code).

Connection settings are the SDK's env config: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
TEMPORAL_API_KEY, TEMPORAL_TLS*, TEMPORAL_PROFILE and the TOML file at
TEMPORAL_CONFIG_FILE; `localhost:7233` when nothing is set. The rest are ours (the
README's Configuration table lists each, and a test holds it to this module):
ORDERS_DATA_DIR (where the embedded server and the simulated payment gateway,
inventory and shipping keep their SQLite files, `.temporal/` by default), ORDERS_LEDGER
(where the simulated payment gateway, inventory and shipping keep what they did: a SQLite
file under ORDERS_DATA_DIR by default, or a postgresql:// DSN every worker shares),
ORDERS_UI_URL (the Web UI's base address, when it is not the dev server's),
ORDERS_CONNECT_TIMEOUT (seconds to wait for Temporal to answer before giving up),
ORDERS_RPC_TIMEOUT (seconds a call may go unanswered once connected),
ORDERS_DECISION_TIMEOUT (seconds a decision waits for a worker to take it up) and
ORDERS_PROJECTIONS_DSN (where the read models are kept; a SQLite file under
ORDERS_DATA_DIR by default), ORDERS_BUILD_ID (the build a worker serves as, under Worker Versioning; unversioned when
unset) and ORDERS_DEPLOYMENT (the Worker Deployment it belongs to, `orders` by default),
ORDERS_METRICS_ADDRESS (host:port where a worker serves
/metrics, /healthz and /readyz; none by default), ORDERS_LOG_FORMAT (text or json) and
ORDERS_LOG_LEVEL (INFO by default: one line an order; DEBUG: a line an event and activity).
Traces follow OpenTelemetry's own OTEL_EXPORTER_OTLP_ENDPOINT: set, they are exported.
ORDERS_ENCRYPTION_KEYS turns payload encryption on (encryption);
ORDERS_CODEC_ENDPOINT is where `orders codec-server` listens and where the embedded
server's Web UI sends payloads to be decoded (one address for both);
ORDERS_CODEC_ORIGINS and ORDERS_CODEC_TOKEN say which Web UI origins may call it, and
the bearer token it requires (without one it listens on loopback only).
ORDERS_CUSTOMER_ID_KEY (base64) replaces the customer id in search attributes and
summaries by a keyed hash; ORDERS_PUBLISH_ORDER_TOTAL=false keeps OrderTotal off the server.
ORDERS_CUSTOMER_KEYS is where each customer's data key is kept, which seals their personal
data (a SQLite file under ORDERS_DATA_DIR by default, or a postgresql:// DSN a fleet shares);
ORDERS_MASTER_KEYS (as ORDERS_ENCRYPTION_KEYS) wraps those keys.
"""

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from temporalio.envconfig import ClientConfig, ClientConnectConfig

from contract import host_and_port
from encryption import Keyring
from observability import LOG_FORMATS, LOG_LEVELS

DEFAULT_ADDRESS = "localhost:7233"
DEFAULT_NAMESPACE = "default"
DEFAULT_DATA_DIR = ".temporal"
LEDGER_FILENAME = "ledger.sqlite"
CUSTOMER_KEYS_FILENAME = "customer-keys.sqlite"
PROJECTIONS_FILENAME = "projections.sqlite"
ARCHIVE_DIRNAME = "archive"
# A server that accepts the connection and never answers would otherwise hold every
# command for the SDK's own 30 s; a Temporal that answers at all does so in well under this.
DEFAULT_CONNECT_TIMEOUT = timedelta(seconds=10)
# A call to a server that answered once and then fell silent (frozen, or a network that
# stalls) fails after this; the SDK's own default, made a setting and applied to every
# call but the long polls, which wait by design (see connection.temporal).
DEFAULT_RPC_TIMEOUT = timedelta(seconds=30)
# How long `orders approve|reject|cancel` waits for a worker to take its decision up; a
# decision not taken by then is withdrawn (the order refuses it as expired).
DEFAULT_DECISION_TIMEOUT = timedelta(seconds=30)
# Where `orders codec-server` listens unless ORDERS_CODEC_ENDPOINT says otherwise, and so
# where the embedded server's Web UI is told to send payloads to be decoded.
DEFAULT_CODEC_ENDPOINT = "http://127.0.0.1:8081"
# The Worker Deployment every versioned worker of this project joins unless told otherwise.
DEFAULT_DEPLOYMENT = "orders"


class SettingsError(ValueError):
    """A setting that cannot be used; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    connect_config: ClientConnectConfig
    data_dir: Path
    ui_url_override: str | None
    connect_timeout: timedelta = DEFAULT_CONNECT_TIMEOUT
    rpc_timeout: timedelta = DEFAULT_RPC_TIMEOUT
    decision_timeout: timedelta = DEFAULT_DECISION_TIMEOUT
    projections_dsn: str | None = None
    archive_target: str | None = None
    ledger_target: str | None = None
    customer_keys_target: str | None = None
    master_keyring: Keyring | None = None
    build_id: str | None = None
    deployment: str = DEFAULT_DEPLOYMENT
    metrics_address: str | None = None
    log_format: str = "text"
    log_level: str = "INFO"
    traces_exported: bool = False
    keyring: Keyring | None = None
    codec_endpoint: str = DEFAULT_CODEC_ENDPOINT
    codec_origins: tuple[str, ...] = ()
    codec_token: str | None = None
    customer_id_key: bytes | None = None
    publish_order_total: bool = True
    # The user's cache directory (XDG_CACHE_HOME, else ~/.cache): what a process keeps to
    # go faster next time, never in the checkout.
    cache_home: Path = Path.home() / ".cache"

    @property
    def bytecode_cache(self) -> Path:
        """Where a worker keeps the workflow modules' bytecode (hosting.keep_workflow_bytecode)."""
        return self.cache_home / "temporal-event-sourced-orders" / "bytecode"

    @property
    def address(self) -> str:
        return self.connect_config["target_host"]

    @property
    def namespace(self) -> str:
        return self.connect_config["namespace"]

    @property
    def ledger(self) -> Path | str:
        """Where the simulated payment gateway, inventory and shipping keep what they did:
        ORDERS_LEDGER, a SQLite path, sqlite:///PATH or a postgresql:// DSN (one a fleet of
        workers on many hosts shares); else ledger.sqlite under ORDERS_DATA_DIR."""
        return _database(self.ledger_target, "ORDERS_LEDGER", "the ledger", self.data_dir / LEDGER_FILENAME)

    @property
    def customer_keys(self) -> Path | str:
        """Where each customer's data key is kept: ORDERS_CUSTOMER_KEYS, a SQLite path,
        sqlite:///PATH or a postgresql:// DSN; else customer-keys.sqlite under ORDERS_DATA_DIR."""
        return _database(
            self.customer_keys_target,
            "ORDERS_CUSTOMER_KEYS",
            "the customer key store",
            self.data_dir / CUSTOMER_KEYS_FILENAME,
        )

    @property
    def has_customer_keys(self) -> bool:
        """Whether the shop seals personal data: a key store is named, or one was made here."""
        target = self.customer_keys
        return isinstance(target, str) or target.is_file()

    @property
    def projections(self) -> Path | str:
        """Where the read models are kept: ORDERS_PROJECTIONS_DSN, a SQLite path,
        sqlite:///PATH or a postgresql:// DSN; else projections.sqlite under ORDERS_DATA_DIR."""
        return _database(
            self.projections_dsn, "ORDERS_PROJECTIONS_DSN", "the read models", self.data_dir / PROJECTIONS_FILENAME
        )

    @property
    def archive(self) -> Path | str:
        """Where closed orders are archived: ORDERS_ARCHIVE, a directory or a postgresql://
        DSN; else archive/ under ORDERS_DATA_DIR."""
        target = self.archive_target
        if target is None:
            return self.data_dir / ARCHIVE_DIRNAME
        if target.startswith(("postgresql://", "postgres://")):
            return target
        if "://" in target:
            scheme = target.split("://", 1)[0]
            raise SettingsError(
                f"ORDERS_ARCHIVE: {scheme}:// is not an archive this project writes; give a directory or postgresql://…"
            )
        return Path(target)


def _database(setting: str | None, name: str, what: str, default: Path) -> Path | str:
    """A database named by a setting: a SQLite path, sqlite:///PATH or a postgresql:// DSN."""
    if setting is None:
        return default
    if setting.startswith(("postgresql://", "postgres://")):
        return setting
    if setting.startswith("sqlite:///"):
        return Path(setting.removeprefix("sqlite:///"))
    if "://" in setting:
        scheme = setting.split("://", 1)[0]
        raise SettingsError(
            f"{name}: {scheme}:// is not a database {what} use; give a SQLite path, sqlite:///PATH or postgresql://…"
        )
    return Path(setting)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    config = ClientConfig.load_client_connect_config(override_env_vars=dict(environ))
    config.setdefault("target_host", DEFAULT_ADDRESS)
    config.setdefault("namespace", DEFAULT_NAMESPACE)
    try:
        host_and_port(config["target_host"])
    except ValueError as err:
        raise SettingsError(f"the Temporal address (TEMPORAL_ADDRESS, or the profile's address): {err}") from None
    return Settings(
        connect_config=config,
        data_dir=Path(environ.get("ORDERS_DATA_DIR") or DEFAULT_DATA_DIR),
        ui_url_override=environ.get("ORDERS_UI_URL") or None,
        connect_timeout=_seconds(environ, "ORDERS_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT),
        rpc_timeout=_seconds(environ, "ORDERS_RPC_TIMEOUT", DEFAULT_RPC_TIMEOUT),
        decision_timeout=_seconds(environ, "ORDERS_DECISION_TIMEOUT", DEFAULT_DECISION_TIMEOUT),
        projections_dsn=environ.get("ORDERS_PROJECTIONS_DSN") or None,
        archive_target=environ.get("ORDERS_ARCHIVE") or None,
        ledger_target=environ.get("ORDERS_LEDGER") or None,
        customer_keys_target=environ.get("ORDERS_CUSTOMER_KEYS") or None,
        master_keyring=_keyring(environ, "ORDERS_MASTER_KEYS"),
        build_id=_name(environ, "ORDERS_BUILD_ID"),
        deployment=_name(environ, "ORDERS_DEPLOYMENT") or DEFAULT_DEPLOYMENT,
        metrics_address=_address(environ, "ORDERS_METRICS_ADDRESS"),
        log_format=_choice(environ, "ORDERS_LOG_FORMAT", LOG_FORMATS),
        log_level=_choice(environ, "ORDERS_LOG_LEVEL", LOG_LEVELS),
        traces_exported=bool(
            environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        ),
        keyring=_keyring(environ),
        codec_endpoint=(environ.get("ORDERS_CODEC_ENDPOINT") or DEFAULT_CODEC_ENDPOINT).rstrip("/"),
        codec_origins=tuple(
            origin.strip().rstrip("/")
            for origin in environ.get("ORDERS_CODEC_ORIGINS", "").split(",")
            if origin.strip()
        ),
        codec_token=environ.get("ORDERS_CODEC_TOKEN") or None,
        customer_id_key=_secret(environ, "ORDERS_CUSTOMER_ID_KEY"),
        publish_order_total=_choice(environ, "ORDERS_PUBLISH_ORDER_TOTAL", ("true", "false")) == "true",
        cache_home=Path(environ.get("XDG_CACHE_HOME") or Path(environ.get("HOME") or Path.home()) / ".cache"),
    )


def _name(environ: Mapping[str, str], name: str) -> str | None:
    """A build id or deployment name, as Temporal takes them."""
    text = environ.get(name)
    if not text:
        return None
    try:
        return check_version_name(text)
    except ValueError as err:
        raise SettingsError(f"{name}: {err}") from None


def check_version_name(text: str) -> str:
    if not text:
        raise ValueError("an empty name is not a build id or deployment name")
    if len(text) > 255 or not text.isprintable() or any(ch.isspace() for ch in text):
        raise ValueError(f"{text!r} is not a build id or deployment name: up to 255 characters, no spaces")
    return text


def _secret(environ: Mapping[str, str], name: str) -> bytes | None:
    text = environ.get(name)
    if not text:
        return None
    try:
        secret = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise SettingsError(f"{name} is not base64") from None
    if len(secret) < 16:
        raise SettingsError(f"{name} is {len(secret)} bytes; a keyed hash needs at least 16")
    return secret


def _keyring(environ: Mapping[str, str], name: str = "ORDERS_ENCRYPTION_KEYS") -> Keyring | None:
    text = environ.get(name)
    if not text:
        return None
    try:
        return Keyring.parse(text, name)
    except ValueError as err:
        raise SettingsError(str(err)) from None


def _address(environ: Mapping[str, str], name: str) -> str | None:
    text = environ.get(name)
    if not text:
        return None
    try:
        host_and_port(text)
    except ValueError as err:
        raise SettingsError(f"{name}: {err}") from None
    return text


def _choice(environ: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    text = environ.get(name) or choices[0]
    if text not in choices:
        raise SettingsError(f"{name}={text!r} is not one of: {', '.join(choices)}")
    return text


def _seconds(environ: Mapping[str, str], name: str, default: timedelta) -> timedelta:
    text = environ.get(name)
    if not text:
        return default
    try:
        seconds = float(text)
    except ValueError:
        raise SettingsError(f"{name}={text!r} is not a number of seconds") from None
    if not 0 < seconds < 3600:
        raise SettingsError(f"{name}={text!r} must be more than 0 and less than 3600 seconds")
    return timedelta(seconds=seconds)
