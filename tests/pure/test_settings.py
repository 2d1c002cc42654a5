"""Settings read from the environment: where the read models go, and the timeouts."""

from datetime import timedelta
from pathlib import Path

import pytest

from connection import SettingsError, load_settings


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
