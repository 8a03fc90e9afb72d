"""A real `isnad serve` for tests: a fresh home, an admin, an investigator and a viewer made
through the real CLI (each with a password and an API token of every scope their role grants),
the server started as a subprocess on a free 127.0.0.1 port, stopped at the end.

    from tests.webserver import running_server

    @pytest.fixture(scope="module")
    def web_server(tmp_path_factory):
        yield from running_server(tmp_path_factory)

    def test_something(web_server):
        r = web_server.client("viewer").get("/api/v1/captures")
        page = web_server.login("admin")   # an httpx2 client holding a session cookie

Module-scoped (starting a server costs seconds); a test that needs a server of its own builds
a :class:`WebServer` and calls ``start()`` / ``stop()``.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx
import pytest

ROLES = {"admin": ["read", "submit", "admin"], "investigator": ["read", "submit"],
         "viewer": ["read"]}
PASSWORD = "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class WebServer:
    """One `isnad serve` on a fresh home, with a user of each role and their tokens."""

    home: Path
    env_extra: dict[str, str] = field(default_factory=dict)
    workers: int = 1
    scheduler: bool = False
    port: int = field(default_factory=free_port)
    serve_args: list[str] = field(default_factory=list)  # more options of `isnad serve`
    tokens: dict[str, str] = field(default_factory=dict)  # role -> secret
    token_ids: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "ISNAD_HOME": str(self.home),
                "ISNAD_ALLOW_PRIVATE_NETWORKS": "true",  # the fixture site is on 127.0.0.1
                "ISNAD_CAPTURE__NETWORK_IDLE_TIMEOUT": "5",
                "ISNAD_CAPTURE__SCROLL_PAUSE": "0.15",
                "ISNAD_WORKER__HEARTBEAT": "1",
                "COLUMNS": "200", **self.env_extra}

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run the real `isnad` CLI on this server's home."""
        return subprocess.run([sys.executable, "-m", "isnad.cli", *args], cwd=self.home,
                              env=self.env, input=stdin, capture_output=True, text=True,
                              timeout=120)

    def user(self, role: str) -> str:
        """The user name of ``role`` (``admin``, ``investigator``, ``viewer``)."""
        return f"{role}-user"

    def new_token(self, role: str, scopes: list[str] | None = None, **options: str) -> str:
        """A new token of the user of ``role`` (default: every scope of the role)."""
        args = ["tokens", "create", "--user", self.user(role)]
        for scope in scopes or ROLES[role]:
            args += ["--scope", scope]
        for key, value in options.items():
            args += [f"--{key}", value]
        run = self.cli(*args)
        assert run.returncode == 0, run.stderr
        made = re.search(r"token (\w+) of", run.stderr)
        assert made, run.stderr
        self.last_token_id = made.group(1)
        return run.stdout.strip()

    def start(self) -> WebServer:
        self.home.mkdir(parents=True, exist_ok=True)
        for role in ROLES:
            run = self.cli("users", "add", self.user(role), "--role", role, "--password-stdin",
                           stdin=PASSWORD + "\n")
            assert run.returncode == 0, run.stderr
            self.tokens[role] = self.new_token(role)
            self.token_ids[role] = self.last_token_id
        command = [sys.executable, "-m", "isnad.cli", "serve", "--port", str(self.port),
                   "--workers", str(self.workers)]
        if not self.scheduler:
            command.append("--no-scheduler")
        command += self.serve_args
        self.log = open(self.home / "serve.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, cwd=self.home, env=self.env,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError("isnad serve exited:\n" + self.output())
            try:
                if httpx.get(self.base_url + "/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise AssertionError("isnad serve did not answer in 60 s:\n" + self.output())

    def output(self) -> str:
        try:
            return (self.home / "serve.log").read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if getattr(self, "log", None) is not None:
            self.log.close()

    def client(self, role: str | None = None, *, token: str | None = None) -> httpx.Client:
        """An HTTP client of the server; with ``role`` (or ``token``), sending that token."""
        secret = token or (self.tokens[role] if role else None)
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=60)

    def login(self, role: str) -> httpx.Client:
        """A client signed in as the user of ``role`` through the real login form; its
        ``csrf`` attribute holds the session's CSRF token (read from a page's form)."""
        client = httpx.Client(base_url=self.base_url, timeout=60)
        form = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token, form.text
        done = client.post("/login", data={"name": self.user(role), "password": PASSWORD,
                                           "csrf_token": token.group(1), "next": "/"})
        assert done.status_code == 303, done.text
        client.csrf = csrf_of(client)  # type: ignore[attr-defined]
        return client


def csrf_of(client: httpx.Client) -> str:
    """The CSRF token of a signed-in client's session (``GET /api/v1/me`` gives it to the
    session's own pages' scripts)."""
    me = client.get("/api/v1/me")
    assert me.status_code == 200, me.text
    return str(me.json()["csrf_token"])


def running_server(tmp_path_factory: pytest.TempPathFactory, **options: object
                   ) -> Iterator[WebServer]:
    """A running `isnad serve` (one capture worker, no scheduler, 60 API requests a minute
    per token), stopped when the generator closes: the body of a test module's fixture."""
    env = {"ISNAD_WEB__RATE_LIMIT": "60", **dict(options.pop("env_extra", {}))}  # type: ignore[call-overload]
    server = WebServer(tmp_path_factory.mktemp("web") / "home", env_extra=env,
                       **options).start()  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()
