"""Real Temporal servers for the tests, from the pip packages: no downloads.

- `time_skipping_env`: the time-skipping test server, for workflow logic and timers.
- `dev_env`: the `temporal` CLI's dev server, for search attributes, the CLI and processes.
- `postgres`: a PostgreSQL server of the tests' own (Debian's package, which .ci/run
  installs), and `projections_at`: read-model targets in SQLite and in PostgreSQL.
- `shop` / `dev_shop`: a worker serving the test's own task queue on one of them, its
  activities over the test's own SQLite ledger, for the whole test.
Each test gets fresh order ids, so tests share a server without sharing workflows.
"""

import os
import shutil
import subprocess
import sysconfig
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from connection.embedded_server import free_local_port, temporal_cli_path
from contract import SEARCH_ATTRIBUTES
from tests.orders import Ledger, Shop, open_shop


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
    initdb = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not initdb:
        pytest.skip("PostgreSQL is not installed here; .ci/run installs Debian's postgresql")
    binaries = initdb[-1].parent
    # PostgreSQL will not run as root: as the package's own user, in a directory it owns.
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    home = Path(tempfile.mkdtemp(prefix="orders-postgres-"))
    if as_postgres:
        shutil.chown(home, "postgres")
    port = free_local_port()
    subprocess.run(
        [*as_postgres, binaries / "initdb", "-D", home / "data", "-A", "trust", "-U", "postgres", "--no-sync"],
        check=True, capture_output=True,
    )  # fmt: skip
    options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*as_postgres, binaries / "pg_ctl", "-D", home / "data", "-o", options, "-l", home / "log", "-w", "start"],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*as_postgres, binaries / "pg_ctl", "-D", home / "data", "-m", "immediate", "stop"], check=False)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def projections_at(request, tmp_path) -> Callable[[str], Path | str]:
    """Read-model targets by name, each new: SQLite files, or databases on `postgres`."""

    def sqlite(name: str) -> Path | str:
        return tmp_path / f"{name}.sqlite"

    def postgresql(name: str) -> Path | str:
        base = request.getfixturevalue("postgres")
        database = f"{name.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {database}")
        return f"{base}/{database}"

    return sqlite if request.param == "sqlite" else postgresql
