"""Real Temporal servers for the tests, from the pip packages: no downloads.

- `time_skipping_env`: the time-skipping test server, for workflow logic and timers.
- `dev_env`: the `temporal` CLI's dev server, for search attributes, the CLI and processes.
- `postgres`: a PostgreSQL server of the tests' own (Debian's package, which .ci/run
  installs), and `projections_at`: read-model targets in SQLite and in PostgreSQL.
- `shop` / `dev_shop`: a worker serving the test's own task queue on one of them, its
  activities over the test's own SQLite ledger, for the whole test.
- `namespace`: a namespace of the test's own on the dev server, made with it (each with
  the project's search attributes); `own_shop` a worker serving the `orders` task queue
  there, over the ledger in the test's data directory, and `own_settings` the
  environment every program is given to work in that shop (in-process: tests.commands).
Each test gets fresh order ids, so tests share a server without sharing workflows; a test
whose claim is about every order (a report, an export, an archive) takes a namespace.
"""

import sysconfig
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from benchmarks.postgres import local_postgres, new_database, postgres_binaries
from connection.embedded_server import temporal_cli_path
from contract import SEARCH_ATTRIBUTES, TASK_QUEUE
from tests.orders import Ledger, Shop, open_shop, open_shop_of


def test_server_path() -> str:
    return str(Path(sysconfig.get_path("scripts")) / "temporal-test-server")


test_server_path.__test__ = False  # a helper, not a test


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


# Namespaces made as the dev server starts, each with the project's search attributes,
# so none waits for the server's namespace cache: one a test that asks for its own.
NAMESPACES = [f"orders-test-{n:02d}" for n in range(1, 61)]
_unused_namespaces = iter(NAMESPACES)


@pytest.fixture(scope="session")
async def dev_env():
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli_path(),
        data_converter=pydantic_data_converter,
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_extra_args=[
            *(arg for name in NAMESPACES for arg in ("--namespace", name)),
            # Deletion as retention does it, at once: Temporal otherwise holds a deleted
            # workflow until visibility has acknowledged its close (20 to 40 s on the dev
            # server); it deletes the history and the visibility record alike either way.
            "--dynamic-config-value",
            "history.transferProcessorEnsureCloseBeforeDelete=false",
        ],
    )
    yield env
    await env.shutdown()


def take_namespace() -> str:
    """A namespace on the dev server that no other test (or module) uses."""
    name = next(_unused_namespaces, None)
    assert name is not None, f"all {len(NAMESPACES)} test namespaces are taken: make more in tests/conftest.py"
    return name


def client_in(dev_env, namespace: str) -> Client:
    """A client of the dev server in `namespace` (the session's connection)."""
    return Client(dev_env.client.service_client, namespace=namespace, data_converter=pydantic_data_converter)


def settings_for(dev_env, namespace: str, data_dir: Path) -> dict[str, str]:
    """The environment a program is given to work in a shop of its own: the dev server,
    the namespace, the data directory."""
    return {
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": namespace,
        "ORDERS_DATA_DIR": str(data_dir),
    }


@asynccontextmanager
async def shop_in(dev_env, namespace: str, data_dir: Path) -> AsyncIterator[Shop]:
    """A worker serving the `orders` task queue in `namespace`, over the ledger in
    `data_dir` (where `orders reconcile` looks for it)."""
    ledger = Ledger(data_dir / "ledger.sqlite")
    try:
        async with open_shop_of(client_in(dev_env, namespace), TASK_QUEUE, ledger) as running:
            yield running
    finally:
        ledger.close()  # its journal folded into the file: a copy of the file is the whole ledger


@pytest.fixture
def namespace(dev_env) -> str:
    return take_namespace()


@pytest.fixture
def own_client(dev_env, namespace) -> Client:
    return client_in(dev_env, namespace)


@pytest.fixture
def own_settings(dev_env, namespace, tmp_path) -> dict[str, str]:
    return settings_for(dev_env, namespace, tmp_path / "data")


@pytest.fixture
async def own_shop(dev_env, namespace, own_settings) -> AsyncIterator[Shop]:
    async with shop_in(dev_env, namespace, Path(own_settings["ORDERS_DATA_DIR"])) as running:
        yield running


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


@pytest.fixture
async def shop(time_skipping_env, task_queue, ledger) -> AsyncIterator[Shop]:
    """A worker on the time-skipping server for this test. Leave every order closed
    before the test ends: one left with work scheduled and no worker holds the shared
    server's clock, and another test's `env.sleep` would wait in real time."""
    async with open_shop(time_skipping_env, task_queue, ledger) as running:
        yield running


@pytest.fixture
async def dev_shop(dev_env, task_queue, ledger) -> AsyncIterator[Shop]:
    """A worker on the dev server for this test."""
    async with open_shop(dev_env, task_queue, ledger) as running:
        yield running


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """The DSN, without a database, of a PostgreSQL cluster started for the session."""
    if postgres_binaries() is None:
        pytest.skip("PostgreSQL is not installed here; .ci/run installs Debian's postgresql")
    with local_postgres() as base:
        yield base


@pytest.fixture(params=["sqlite", "postgresql"])
def projections_at(request, tmp_path) -> Callable[[str], Path | str]:
    """Read-model targets by name, each new: SQLite files, or databases on `postgres`."""

    def sqlite(name: str) -> Path | str:
        return tmp_path / f"{name}.sqlite"

    def postgresql(name: str) -> Path | str:
        return new_database(request.getfixturevalue("postgres"), name)

    return sqlite if request.param == "sqlite" else postgresql
