"""A real Redis for tests: Debian's ``redis-server`` on a free 127.0.0.1 port, in its own folder,
stopped at the end. It can be stopped and started again on the same port (an outage); without
``persist`` it keeps nothing on disk, so a restart comes back empty (as a Redis that lost its
memory would).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from tests.s3server import free_port, wait_for_port


def redis_server_binary() -> str | None:
    """The ``redis-server`` on PATH (or Debian's), or None when it is not installed."""
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)


class RedisServer:
    """``redis-server`` as a subprocess, bound to 127.0.0.1 only."""

    def __init__(self, folder: Path, *, persist: bool = False) -> None:
        binary = redis_server_binary()
        if binary is None:
            raise RuntimeError("redis-server is not installed (Debian: apt-get install "
                               "redis-server; `make test` installs it)")
        self.binary = binary
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.persist = persist
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _arguments(self) -> list[str]:
        args = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port),
                "--dir", str(self.folder), "--protected-mode", "yes", "--daemonize", "no",
                "--logfile", str(self.folder / "redis.log")]
        if self.persist:
            # Every write on disk before it is acknowledged: an outage loses nothing.
            args += ["--appendonly", "yes", "--appendfsync", "always", "--save", ""]
        else:
            args += ["--appendonly", "no", "--save", ""]
        return args

    def start(self) -> RedisServer:
        """Start (or start again, on the same port)."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        self.proc = subprocess.Popen(self._arguments(), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        try:
            wait_for_port(self.port)
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop it now (SIGKILL: an outage, not a shutdown that would save anything)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None
        # The port is closed when the process is gone; wait until nothing answers.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                wait_for_port(self.port, timeout=0.1)
            except RuntimeError:
                return
            time.sleep(0.05)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def client(self):  # noqa: ANN201 - redis.Redis
        import redis

        return redis.Redis.from_url(self.url)
