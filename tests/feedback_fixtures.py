"""Fixtures of the feedback store tests: a real, throwaway PostgreSQL server and store URLs.

``postgres_server`` (session scope) finds PostgreSQL's server binaries (Debian installs them in
``/usr/lib/postgresql/<version>/bin``), installing the Debian package ``postgresql`` with apt-get
when they are missing and the tests run as root (otherwise the fixture *fails* and says what
to install: the storage tests are core tests and are never skipped). It then creates a cluster
in a fresh temporary directory with ``initdb`` (as the ``postgres`` system user when running as
root, because PostgreSQL refuses to run as root: PostgreSQL docs, "The PostgreSQL User
Account"), starts it with ``pg_ctl`` on a free TCP port of 127.0.0.1 and a Unix socket in that
directory, and at the end of the session stops it (``pg_ctl stop -m fast``) and removes the
directory. ``fsync`` stays on: the concurrency figures are those of a durable server.

``store_url`` (per test, parametrised ``sqlite`` / ``postgresql``) is a URL to an empty
database: a new SQLite file in the test's tmp_path, or a new database on the server
(``CREATE DATABASE``, dropped ``WITH (FORCE)`` after the test).

conftest.py imports these fixtures.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SUPERUSER = "toiawase"
INSTALL_HINT = (
    "install the Debian package 'postgresql' (apt-get install --no-install-recommends postgresql, "
    "or `bash scripts/install-system-deps.sh --postgres` as root)"
)


@dataclass(frozen=True)
class PostgresServer:
    """A running throwaway PostgreSQL cluster.

    Attributes:
        host: ``127.0.0.1``; port: its TCP port; socket_dir: directory of its Unix socket.
        root: the temporary directory holding ``data/`` (the cluster) and ``server.log``.
        bin_dir: where ``initdb``, ``pg_ctl`` and ``postgres`` were found.
        version: the server's major version, e.g. ``15``.
    """

    host: str
    port: int
    socket_dir: Path
    root: Path
    bin_dir: Path
    version: str

    def url(self, database: str) -> str:
        """SQLAlchemy URL (psycopg 3 driver) of ``database`` as the cluster's superuser."""
        return f"postgresql+psycopg://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def execute_autocommit(self, sql: str) -> None:
        """Run one statement outside a transaction in the ``postgres`` database (CREATE/DROP DATABASE)."""
        import psycopg

        with psycopg.connect(host=self.host, port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self) -> str:
        """Create an empty database with a random name; return the name."""
        name = f"feedback_{uuid.uuid4().hex[:12]}"
        self.execute_autocommit(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0')
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database even if connections are left (PostgreSQL ≥ 13 ``WITH (FORCE)``)."""
        self.execute_autocommit(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def find_postgres_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb, else pg_ctl on PATH's dir."""
    candidates = sorted(
        (path for path in Path("/usr/lib/postgresql").glob("*/bin") if (path / "initdb").exists() and (path / "pg_ctl").exists()),
        key=lambda path: [int(part) for part in re.findall(r"\d+", path.parent.name)] or [0],
    )
    if candidates:
        return candidates[-1]
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    return None


def install_postgres() -> None:
    """``apt-get update`` and ``apt-get install postgresql`` (root only); pytest.fail otherwise."""
    if os.geteuid() != 0:
        pytest.fail(f"PostgreSQL server binaries (initdb, pg_ctl) not found and not running as root: {INSTALL_HINT}", pytrace=False)
    if shutil.which("apt-get") is None:
        pytest.fail(f"PostgreSQL server binaries not found and there is no apt-get: install PostgreSQL ≥ 13 ({INSTALL_HINT})", pytrace=False)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.fail(f"`{' '.join(command)}` failed ({done.returncode}): {done.stderr.strip()[-2000:]}", pytrace=False)


def free_port() -> int:
    """A TCP port of 127.0.0.1 that was free a moment ago (the kernel's choice for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(command: list[str], user: str | None, cwd: Path, what: str, log: Path | None = None) -> None:
    done = subprocess.run(command, user=user, cwd=cwd, capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        server_log = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
        pytest.fail(
            f"could not {what}: `{' '.join(command)}` exited {done.returncode}\n{done.stdout}{done.stderr}\n{server_log}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for this test session (see the module docstring)."""
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        install_postgres()
        bin_dir = find_postgres_bin()
        if bin_dir is None:
            pytest.fail(f"the postgresql package is installed but initdb/pg_ctl were not found: {INSTALL_HINT}", pytrace=False)
    user = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="toiawase-pg-"))
    if user is not None:
        shutil.chown(root, user=user)
    data, log = root / "data", root / "server.log"
    version = subprocess.run([str(bin_dir / "pg_ctl"), "--version"], capture_output=True, text=True).stdout.strip()
    try:
        _run(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync"],
            user, root, "create a PostgreSQL cluster with initdb",
        )
    except BaseException:  # pytest.fail raises an OutcomeException
        shutil.rmtree(root, ignore_errors=True)
        raise
    port, done = 0, None
    for _attempt in range(3):  # the port chosen may be taken by someone else before the server binds it
        port = free_port()
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c max_connections=200"
        command = [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", options, "start"]
        done = subprocess.run(command, user=user, cwd=root, capture_output=True, text=True, timeout=120)
        if done.returncode == 0 or "could not bind" not in (log.read_text(errors="replace") if log.exists() else ""):
            break
    if done is None or done.returncode != 0:
        server_log = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"could not start PostgreSQL ({version}) with pg_ctl: {done.stderr if done else ''}\n{server_log}", pytrace=False)
    server = PostgresServer("127.0.0.1", port, root, root, bin_dir, re.sub(r"\D*(\d+).*", r"\1", version))
    try:
        yield server
    finally:
        subprocess.run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], user=user, cwd=root, capture_output=True, timeout=120)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty database: a SQLite file, or a new database on :func:`postgres_server`."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'models' / 'feedback.sqlite3'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = server.create_database()
    try:
        yield server.url(name)
    finally:
        server.drop_database(name)
