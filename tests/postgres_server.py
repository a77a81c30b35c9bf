"""A throwaway PostgreSQL cluster on 127.0.0.1, for tests and benchmarks of the cost store.

``initdb`` + ``pg_ctl`` from Debian's ``postgresql`` package (``make test`` installs
it when missing). PostgreSQL refuses to run as root, so as root the cluster runs as
the ``postgres`` user (``runuser``), in a data folder that user owns, outside
pytest's root-only temp folders. ``fsync=off``: the data is thrown away, and crash
tests kill the *client*, never the server. Each test gets its own database::

    with PostgresCluster.start() as cluster:
        url = cluster.create_database()   # postgresql+psycopg://ragwright@127.0.0.1:P/db_...

In pytest, request ``postgres_url`` (import ``postgres_url_fixture`` and
``postgres_cluster_fixture`` into the test module); it skips with the reason when
the binaries or the driver are missing.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import pytest

__all__ = [
    "PostgresCluster",
    "PostgresUnavailableError",
    "find_pg_bin",
    "free_port",
    "postgres_cluster_fixture",
    "postgres_url_fixture",
]

USER = "ragwright"


class PostgresUnavailableError(RuntimeError):
    """The server binaries (or a non-root user to run them) are missing: skip, do not fail."""


def find_pg_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: Debian's versioned path, then PATH."""
    for initdb in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True):
        return Path(initdb).parent
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user() -> list[str]:
    """The command prefix that runs the server binaries as a user PostgreSQL accepts."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise PostgresUnavailableError("running as root and there is no 'postgres' user") from exc
    if runuser is None:
        raise PostgresUnavailableError("running as root and runuser is missing")
    return [runuser, "-u", "postgres", "--"]


@dataclass
class PostgresCluster:
    bin_dir: Path
    data_dir: Path
    port: int
    prefix: list[str]

    @classmethod
    def start(cls, *, timeout_s: float = 60.0) -> PostgresCluster:
        bin_dir = find_pg_bin()
        if bin_dir is None:
            raise PostgresUnavailableError(
                "PostgreSQL server binaries (initdb, pg_ctl) not found;"
                " `apt-get install -y postgresql` or `make test` installs them"
            )
        prefix = _as_server_user()
        root = Path(tempfile.mkdtemp(prefix="ragwright-pg-"))
        data = root / "data"
        if prefix:
            shutil.chown(root, "postgres", "postgres")
        cluster = cls(bin_dir, data, free_port(), prefix)
        try:
            cluster._run(
                "initdb", "-D", str(data), "-U", USER, "-A", "trust", "-E", "UTF8", "--no-sync"
            )
            options = (
                f"-c listen_addresses=127.0.0.1 -c port={cluster.port}"
                f" -c unix_socket_directories='{root}' -c fsync=off"
                " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            cluster._run(
                "pg_ctl", "-D", str(data), "-o", options, "-l", str(root / "server.log"),
                "-w", "-t", str(int(timeout_s)), "start",
            )  # fmt: skip
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _run(self, tool: str, *args: str) -> None:
        result = subprocess.run(
            [*self.prefix, str(self.bin_dir / tool), *args],
            capture_output=True,
            text=True,
            check=False,
            cwd="/",
        )
        if result.returncode != 0:
            log = self.data_dir.parent / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{tool} failed ({result.returncode}): {result.stderr}{tail}")

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            stop = ["-D", str(self.data_dir), "-m", "immediate", "-w", "stop"]
            pg_ctl = [*self.prefix, str(self.bin_dir / "pg_ctl"), *stop]
            subprocess.run(pg_ctl, capture_output=True, check=False, cwd="/")
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)

    def __enter__(self) -> PostgresCluster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        import psycopg

        name = f"db_{uuid.uuid4().hex[:12]}"
        deadline = time.monotonic() + 10
        while True:
            try:
                with psycopg.connect(
                    host="127.0.0.1", port=self.port, user=USER, dbname="postgres", autocommit=True
                ) as conn:
                    conn.execute(f'CREATE DATABASE "{name}"')
                return self.url(name)
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


@pytest.fixture(scope="session", name="postgres_cluster")
def postgres_cluster_fixture() -> Iterator[PostgresCluster]:
    """One cluster for the session; stopped (``-m immediate``) and deleted afterwards."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip('psycopg is not installed: pip install "ragwright[postgres]"')
    try:
        cluster = PostgresCluster.start()
    except PostgresUnavailableError as exc:
        pytest.skip(str(exc))
    with cluster:
        yield cluster


@pytest.fixture(name="postgres_url")
def postgres_url_fixture(postgres_cluster: PostgresCluster) -> str:
    """A fresh database of the session's cluster, as a ``costs_url``."""
    return postgres_cluster.create_database()
