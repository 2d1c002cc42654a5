"""Settings read from the environment: where the read models go, and the timeouts."""

from datetime import timedelta
from pathlib import Path

import pytest

from connection import SettingsError, load_settings
from tests.commands import orders_here


def test_the_read_models_go_under_the_data_dir_unless_a_dsn_says_otherwise():
    assert load_settings({"ORDERS_DATA_DIR": "/data"}).projections == Path("/data/projections.sqlite")
    assert load_settings({"ORDERS_PROJECTIONS_DSN": "sqlite:///tmp/p.sqlite"}).projections == Path("tmp/p.sqlite")
    assert load_settings({"ORDERS_PROJECTIONS_DSN": "/var/p.sqlite"}).projections == Path("/var/p.sqlite")
    dsn = "postgresql://orders@db.example:5432/orders"
    assert load_settings({"ORDERS_PROJECTIONS_DSN": dsn}).projections == dsn


def test_a_database_the_read_models_do_not_use_is_refused_naming_the_setting():
    with pytest.raises(SettingsError, match="ORDERS_PROJECTIONS_DSN: mysql://"):
        _ = load_settings({"ORDERS_PROJECTIONS_DSN": "mysql://db/orders"}).projections


def test_the_rpc_timeout_is_a_setting_with_the_sdks_default():
    assert load_settings({}).rpc_timeout == timedelta(seconds=30)
    assert load_settings({"ORDERS_RPC_TIMEOUT": "2.5"}).rpc_timeout == timedelta(seconds=2.5)
    with pytest.raises(SettingsError, match="ORDERS_RPC_TIMEOUT='never'"):
        load_settings({"ORDERS_RPC_TIMEOUT": "never"})


def test_operating_settings_are_off_or_quiet_by_default_and_a_malformed_one_is_named():
    quiet = load_settings({})
    assert (quiet.metrics_address, quiet.log_format, quiet.log_level, quiet.traces_exported) == (
        None,
        "text",
        "INFO",
        False,
    )
    loud = load_settings(
        {
            "ORDERS_METRICS_ADDRESS": "0.0.0.0:9464",
            "ORDERS_LOG_FORMAT": "json",
            "ORDERS_LOG_LEVEL": "DEBUG",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
        }
    )
    assert (loud.metrics_address, loud.log_format, loud.log_level, loud.traces_exported) == (
        "0.0.0.0:9464",
        "json",
        "DEBUG",
        True,
    )
    with pytest.raises(SettingsError, match="ORDERS_METRICS_ADDRESS: '9464' is not host:port"):
        load_settings({"ORDERS_METRICS_ADDRESS": "9464"})
    with pytest.raises(SettingsError, match="ORDERS_LOG_FORMAT='yaml' is not one of: text, json"):
        load_settings({"ORDERS_LOG_FORMAT": "yaml"})


@pytest.mark.parametrize("address", ["nonsense", "nonsense:abc", "localhost:0"])
def test_a_temporal_address_that_is_not_host_and_port_is_one_line_before_anything_is_reached(address):
    with pytest.raises(
        SettingsError, match=f"TEMPORAL_ADDRESS, or the profile's address\\): '{address}' is not host:port"
    ):
        load_settings({"TEMPORAL_ADDRESS": address})
    ran = orders_here({"TEMPORAL_ADDRESS": address}, "state", "ORDER-001")
    assert ran.returncode == 2
    assert ran.stderr.strip().splitlines() == [
        "orders state: the Temporal address (TEMPORAL_ADDRESS, or the profile's address): "
        f"'{address}' is not host:port (for example 127.0.0.1:7233)"
    ]
