"""``isnad serve``: the web app under uvicorn and, beside it, what makes one machine a whole
installation: a capture worker and the scheduler, each a child process (as ``isnad scheduler
--worker N`` runs them). The children die with ``isnad serve`` (PR_SET_PDEATHSIG) and are
drained when it stops; one that exits on its own is started again."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from pathlib import Path

from isnad.config import Settings

log = logging.getLogger("isnad.web")


def service_command(config: Path | None, *, workers: int, scheduler: bool) -> list[str] | None:
    """The ``isnad`` command run beside the web app: the scheduler (with a worker of
    ``workers`` captures at once), or a worker alone; None when neither is wanted."""
    base = [sys.executable, "-m", "isnad.cli", *(["--config", str(config)] if config else [])]
    if scheduler:
        return [*base, "scheduler", *(["--worker", str(workers)] if workers else [])]
    if workers:
        return [*base, "worker", "--concurrency", str(workers)]
    return None


class Companion:
    """The child process beside the web app, restarted if it exits on its own."""

    def __init__(self, command: list[str], drain_timeout: float) -> None:
        self.command = command
        self.drain_timeout = drain_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._watch: threading.Thread | None = None

    def start(self) -> None:
        from isnad.app.schedules import _terminate_with_parent

        self.process = subprocess.Popen(self.command, preexec_fn=_terminate_with_parent)
        log.info("started %s (pid %d) beside the web app", " ".join(self.command[3:]),
                 self.process.pid)
        if self._watch is None:
            self._watch = threading.Thread(target=self._keep_alive, name="companion",
                                           daemon=True)
            self._watch.start()

    def _keep_alive(self) -> None:
        while not self._stopping.wait(5.0):
            process = self.process
            if process is not None and process.poll() is not None and not self._stopping.is_set():
                log.error("%s exited with status %s; starting it again",
                          " ".join(self.command[3:]), process.returncode)
                self.start()

    def stop(self) -> None:
        """Drain it (SIGTERM: running captures get worker.drain_timeout seconds) and wait."""
        self._stopping.set()
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(self.drain_timeout + 30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def serve(settings: Settings, *, host: str, port: int, workers: int, scheduler: bool,
          config: Path | None, proxy_headers: bool = False,
          forwarded_allow_ips: str | None = None) -> None:
    """Run the web app until stopped (SIGTERM or Ctrl-C), with its companion process."""
    import uvicorn

    from isnad.web.app import create_app

    app = create_app(settings)
    command = service_command(config, workers=workers, scheduler=scheduler)
    companion = Companion(command, settings.worker.drain_timeout) if command else None
    if companion is not None:
        companion.start()
    try:
        uvicorn.run(app, host=host, port=port, log_config=None, access_log=False,
                    proxy_headers=proxy_headers,
                    forwarded_allow_ips=forwarded_allow_ips or "127.0.0.1",
                    server_header=False)
    finally:
        if companion is not None:
            companion.stop()
