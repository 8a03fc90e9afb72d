"""Shared fixtures: the fixture web site on 127.0.0.1 and a runner for the real `isnad` CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixture_site import FixtureServer

ROOT = Path(__file__).resolve().parents[1]

SERIAL_CHOICES = ("include", "exclude", "only")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--serial-tests", choices=SERIAL_CHOICES, default="include",
        help="tests marked `serial` (timing-sensitive or heavy: they must not share the machine "
             "with other tests): include (default), exclude (the parallel run of `make test`), "
             "or only (its serial run, after the parallel one)")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the xdist_group markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep or leave out the `serial` tests (``--serial-tests``), and keep the tests of a module
    with a module-scoped fixture on one xdist worker, so that the fixture (a web server, a
    capture made once for the module) is made once rather than once on each worker."""
    choice = config.getoption("--serial-tests")
    if choice != "include":
        keep, drop = [], []
        for item in items:
            serial = item.get_closest_marker("serial") is not None
            (keep if serial == (choice == "only") else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep
    for item in items:
        fixtures = getattr(item, "_fixtureinfo", None)
        if fixtures is None or item.get_closest_marker("xdist_group") is not None:
            continue
        if any(defs[-1].scope == "module" for defs in fixtures.name2fixturedefs.values()):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


@pytest.fixture(scope="session")
def site():
    """The fixture web site, served for the whole test session."""
    server = FixtureServer(generated_pages=50).start()
    yield server
    server.stop()


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


class Isnad:
    """Runs `isnad` in a subprocess (Scrapy's reactor runs once per process) on a fresh home."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {
            **os.environ,
            "ISNAD_HOME": str(home),
            "ISNAD_ALLOW_PRIVATE_NETWORKS": "true",  # the fixture site lives on 127.0.0.1
            "ISNAD_CAPTURE__NETWORK_IDLE_TIMEOUT": "5",
            "ISNAD_CAPTURE__SCROLL_PAUSE": "0.15",
            "COLUMNS": "200",
        }

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "isnad.cli", *args]

    def __call__(self, *args: str, env: dict[str, str] | None = None, timeout: float = 240
                 ) -> Run:
        proc = subprocess.run(
            self.command(*args), cwd=self.home, env={**self.env, **(env or {})},
            capture_output=True, text=True, timeout=timeout,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)

    def capture(self, *args: str, env: dict[str, str] | None = None) -> dict:
        """Capture and return the catalog record (`--json`) of the single capture."""
        run = self("capture", "--json", *args, env=env)
        assert run.stdout.strip(), f"no output; exit {run.code}; stderr:\n{run.stderr}"
        records = run.json()
        assert len(records) == 1, records
        record = records[0]
        record["exit_code"] = run.code
        record["stderr"] = run.stderr
        return record


@pytest.fixture
def isnad(tmp_path: Path) -> Isnad:
    home = tmp_path / "home"
    home.mkdir()
    return Isnad(home)


@pytest.fixture(scope="session")
def moto():
    """A real S3 endpoint over HTTP (moto's server mode) on 127.0.0.1."""
    from tests.s3server import MotoServer

    server = MotoServer()
    yield server
    server.stop()


_buckets = iter(range(10_000))


@pytest.fixture
def bucket(moto):
    """A fresh bucket with versioning and Object Lock enabled."""
    name = f"isnad-evidence-{next(_buckets)}"
    moto.client().create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


def s3_env(endpoint: str, targets: list[dict]) -> dict[str, str]:
    """Environment for `isnad` with these storage targets (S3 ones through ``endpoint``)."""
    from tests.s3server import CREDENTIALS

    for target in targets:
        if target["url"].startswith("s3://"):
            target.setdefault("endpoint_url", endpoint)
    return {**CREDENTIALS, "ISNAD_STORAGE__TARGETS": json.dumps(targets),
            "ISNAD_STORAGE__BACKOFF": "0.1"}


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL server on 127.0.0.1 for the session (see tests/pgserver.py)."""
    from tests.pgserver import running_postgres

    yield from running_postgres()


@pytest.fixture
def pg_url(postgres) -> str:
    """The SQLAlchemy URL of a new, empty PostgreSQL database."""
    return postgres.new_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request, tmp_path: Path) -> str:
    """A new catalog's URL, once on SQLite (the embedded default), once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def redis_server(tmp_path: Path):
    """A real `redis-server` of this test's own, on a free 127.0.0.1 port, nothing on disk;
    ``redis_server.stop()`` / ``.start()`` make an outage. Stopped at the end."""
    from tests.redisserver import RedisServer, redis_server_binary

    if redis_server_binary() is None:
        pytest.skip("redis-server is not installed (`make test` installs it)")
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()
