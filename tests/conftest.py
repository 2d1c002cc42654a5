"""Real Temporal servers for the tests, from the pip packages: no downloads.

- `time_skipping_env`: the time-skipping test server, for workflow logic and timers.
- `dev_env`: the `temporal` CLI's dev server, for search attributes, the CLI and processes.
Each test gets fresh order ids, so tests share a server without sharing workflows.
"""

import os
import sysconfig
import uuid
from pathlib import Path

import pytest
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from connection.embedded_server import temporal_cli_path
from tests.orders import Ledger
from workflows.contract import SEARCH_ATTRIBUTES


def test_server_path() -> str:
    return str(Path(sysconfig.get_path("scripts")) / "temporal-test-server")


test_server_path.__test__ = False  # a helper, not a test


@pytest.fixture(scope="session", autouse=True)
def data_dir(tmp_path_factory):
    """Workers built without explicit activities keep their ledger here, not in the project."""
    path = tmp_path_factory.mktemp("orders-data")
    previous = os.environ.get("ORDERS_DATA_DIR")
    os.environ["ORDERS_DATA_DIR"] = str(path)
    yield path
    if previous is None:
        del os.environ["ORDERS_DATA_DIR"]
    else:
        os.environ["ORDERS_DATA_DIR"] = previous


@pytest.fixture(scope="session")
async def time_skipping_env():
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=test_server_path(), data_converter=pydantic_data_converter
    )
    # The test server cannot list search attributes, so ensure_search_attributes cannot
    # tell what is missing there; register ours outright.
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={key.name: key.indexed_value_type.value for key in SEARCH_ATTRIBUTES},
        )
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env():
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli_path(),
        data_converter=pydantic_data_converter,
        search_attributes=SEARCH_ATTRIBUTES,
    )
    yield env
    await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"orders-test-{uuid.uuid4()}"


@pytest.fixture
def unique() -> str:
    """A suffix that makes order ids unique to one test."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
def ledger(tmp_path) -> Ledger:
    """A SQLite ledger of the test's own, for workers whose side effects the test inspects."""
    return Ledger(tmp_path / "ledger.sqlite")
