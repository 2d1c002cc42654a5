"""A PostgreSQL server of a run's own, from Debian's `postgresql` package (which .ci/run
installs): for the tests' second database and the benchmarks' shared ledger."""

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from connection import free_local_port


def postgres_binaries() -> Path | None:
    """The directory of the newest installed PostgreSQL's programs; None if none is."""
    initdb = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return initdb[-1].parent if initdb else None


@contextmanager
def local_postgres() -> Iterator[str]:
    """A cluster started for the block: the DSN, without a database, of its superuser."""
    binaries = postgres_binaries()
    if binaries is None:
        raise RuntimeError("PostgreSQL is not installed here; .ci/run installs Debian's postgresql")
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
        subprocess.run(
            [*as_postgres, binaries / "pg_ctl", "-D", home / "data", "-m", "immediate", "stop"],
            check=False, capture_output=True,
        )  # fmt: skip
        shutil.rmtree(home, ignore_errors=True)


def new_database(base: str, name: str) -> str:
    """A database of its own on the cluster at `base`: its DSN."""
    database = f"{name.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {database}")
    return f"{base}/{database}"
