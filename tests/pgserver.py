"""A throwaway PostgreSQL server for the tests: its own cluster in a temporary folder, on a free
port of 127.0.0.1, stopped and deleted at the end. No system service is assumed or touched.

PostgreSQL refuses to run as root (initdb and postgres both check). When the tests run as root
(CI containers often do), the cluster is made and run as the ``postgres`` system user (made by
the Debian package) — or ``nobody`` — through ``runuser``; its folder is then outside pytest's
root-only temporary folder, so that user can reach it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg

# Debian installs the server binaries outside PATH, one folder per major version.
_SEARCH = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def find_bin_dir() -> Path | None:
    """The folder holding initdb and pg_ctl (the newest PostgreSQL installed), or None."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    for folder in _SEARCH:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """One PostgreSQL cluster: ``start()``, ``new_database()`` for each test, ``stop()``."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="isnad-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.log = self.root / "server.log"
        self.port = 0
        self.user = "isnad"  # the cluster's superuser (trust auth, loopback only)
        self.run_as: str | None = None
        if os.geteuid() == 0:
            self.run_as = next((name for name in ("postgres", "nobody") if _user_exists(name)),
                               None)
            if self.run_as is None:
                raise RuntimeError("running as root and no 'postgres' or 'nobody' user to run "
                                   "PostgreSQL as (it refuses to run as root)")

    def _cmd(self, *args: str) -> list[str]:
        return ["runuser", "-u", self.run_as, "--", *args] if self.run_as else list(args)

    def start(self) -> PostgresServer:
        self.sockets.mkdir()
        if self.run_as:
            entry = pwd.getpwnam(self.run_as)
            for path in (self.root, self.sockets):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        subprocess.run(self._cmd(str(self.bin_dir / "initdb"), "-D", str(self.data),
                                 "-U", self.user, "--auth=trust", "--encoding=UTF8",
                                 "--no-locale", "--no-sync"),
                       check=True, capture_output=True, text=True)
        for _ in range(5):  # the free port may be taken between looking and binding
            self.port = _free_port()
            run = self._pg_ctl_start()
            if run.returncode == 0:
                return self
            time.sleep(0.2)
        raise RuntimeError(f"PostgreSQL did not start: {run.stderr}\n{self.log_text()}")

    def _pg_ctl_start(self) -> subprocess.CompletedProcess:
        options = (f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 "
                   # Throwaway data: durability off makes the tests fast.
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=200")
        return subprocess.run(self._cmd(str(self.bin_dir / "pg_ctl"), "-D", str(self.data),
                                        "-l", str(self.log), "-o", options, "-w", "-t", "60",
                                        "start"),
                              capture_output=True, text=True)

    def start_again(self) -> None:
        """Start the stopped server again, on the same port with the same data (an outage
        ends)."""
        run = self._pg_ctl_start()
        if run.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start again: {run.stderr}\n"
                               f"{self.log_text()}")

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def admin_url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of ``database`` on this server (psycopg 3 driver)."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """An empty new database; its SQLAlchemy URL."""
        name = "t_" + uuid.uuid4().hex[:16]
        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``mode``: smart, fast, immediate)."""
        subprocess.run(self._cmd(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m",
                                 mode, "-w", "stop"), capture_output=True, text=True)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def running_postgres() -> Iterator[PostgresServer]:
    """A fixture's body: a throwaway server, started, yielded, destroyed; the test is skipped
    where PostgreSQL is not installed."""
    import pytest

    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (`make test` installs Debian's postgresql)")
    server = PostgresServer(bin_dir).start()
    yield server
    server.destroy()
