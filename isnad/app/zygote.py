"""Warm capture processes: a worker's capture processes forked from a process that has already
imported what a capture needs.

A fresh ``python -m isnad.app.child`` spends about a CPU second importing Scrapy, Twisted,
SQLAlchemy, Playwright's client, cryptography and Isnad itself before it captures anything; on a
worker that runs hundreds of I/O-bound captures that is most of a job's CPU. So a worker keeps
one *warm process* (``python -m isnad.app.zygote``): started once, it imports those modules and
then only forks. It installs no reactor, starts no thread, opens no browser and no catalog
connection, so each forked capture process starts as clean as a fresh one (its own reactor,
browser and catalog connection) without paying the imports.

Every property of a fresh capture process is kept:

* the job arrives on the capture process's stdin (secrets through the pipe only), its events on
  the events pipe, its stdout and stderr go to the job's log: the worker creates these and
  passes them to the warm process over a socket (``SCM_RIGHTS``), which hands them to the fork;
* the capture process leads a session and process group of its own (the runner ends the group);
* the chain of ``PR_SET_PDEATHSIG``: the warm process dies with the worker, each capture process
  with the warm process, so a worker killed with -9 leaves nothing running;
* the worker learns each capture process's pid at once and its exit status when it ends: the warm
  process, its parent, reaps it and reports the status over the same socket.

The worker side is :class:`WarmProcesses` (one per :class:`~isnad.app.runner.JobRunner`), whose
:meth:`~WarmProcesses.spawn` returns a :class:`WarmProcess` with the methods of
``subprocess.Popen`` the runner uses. A warm process that dies is started again at the next job;
one that cannot start makes the runner start fresh capture processes (said once in the log)
and is tried again later.

Messages are JSON over a ``SOCK_SEQPACKET`` socket pair, one a packet:
worker -> warm: ``{"id": N}`` with three fds (stdin, log, events);
warm -> worker: ``{"ready": PID}`` once, ``{"id": N, "pid": PID}`` or ``{"id": N, "error":
...}`` for each request, ``{"exit": PID, "status": CODE}`` when a capture process ends (CODE as
``Popen.returncode``: negative for a signal), ``{"error": ...}`` when it cannot serve.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from typing import IO, Any

log = logging.getLogger("isnad.runner")

READY_TIMEOUT = 180.0  # seconds a warm process may take to import (on a loaded machine)
REPLY_TIMEOUT = 60.0  # seconds for a fork's pid to come back
RETRY_AFTER = 60.0  # seconds before a warm process that failed to start is tried again
PACKET = 4096
# What a capture process imports before it captures (isnad.app.child.run and what it calls):
# each is imported once in the warm process. A module none of these reaches is still imported
# by the capture process itself, as in a fresh one; nothing depends on this list being whole.
PRELOAD = (
    "archiver.archive", "archiver.jobs", "archiver.redaction", "archiver.states",
    "archiver.errors", "crawlers.run", "crawlers.settings", "crawlers.recording",
    "isnad.config", "isnad.logs", "isnad.app.archive", "isnad.app.capture", "isnad.app.jobs",
    "isnad.app.runner", "isnad.app.child", "scrapy_playwright.handler", "playwright.async_api",
    "crawlers.playwright_handler",
    "cryptography.hazmat.primitives.asymmetric.ed25519", "cryptography.x509",
    # Imported late, inside functions, by every capture (measured with py-spy: ~0.3 CPU s a
    # job when left to each forked process): the package's CDXJ writers and py-wacz's
    # indexer, the index's SURT keys, the full-text index, the proof, the crawl's pipeline.
    "cdxj_indexer.main", "wacz.waczindexer", "surt", "isnad.app.search", "archiver.proof",
    "archiver.package", "archiver.verify", "crawlers.pipelines", "crawlers.middlewares",
    "crawlers.spiders.page",
    # The catalog's drivers, which SQLAlchemy imports only when an engine is created (in each
    # capture process: psycopg and its libpq binding were the costliest import left there);
    # the schema check of its opening; the settings' schedule check (APScheduler's cron
    # trigger and tzlocal); cryptography's OpenSSL backend and the zip codec of the package.
    "psycopg", "sqlalchemy.dialects.postgresql.psycopg", "sqlalchemy.dialects.sqlite.pysqlite",
    "sqlite3", "archiver.schema", "apscheduler.triggers.cron", "tzlocal",
    "cryptography.hazmat.backends.openssl", "encodings.cp437",
    # What Scrapy's crawler and engine import when they start (measured in a forked capture
    # process: its sys.modules at the end against the warm process's).
    "scrapy.utils.engine", "scrapy.utils.ftp",
)
# Scrapy loads its built-in components by name when a crawler starts: their modules too.
# The extensions a crawl never loads (the remote-control one above all; see
# crawlers.settings.UNWANTED_EXTENSIONS) are left out.
SCRAPY_COMPONENTS = ("DOWNLOADER_MIDDLEWARES_BASE", "SPIDER_MIDDLEWARES_BASE",
                     "DOWNLOAD_HANDLERS_BASE", "ITEM_PIPELINES_BASE", "EXTENSIONS_BASE")
# ... and its single components, named by a class path each.
SCRAPY_CLASSES = ("DUPEFILTER_CLASS", "LOG_FORMATTER", "SCHEDULER", "SCHEDULER_PRIORITY_QUEUE",
                  "SCHEDULER_DISK_QUEUE", "SCHEDULER_MEMORY_QUEUE", "STATS_CLASS")


# -- the warm process ------------------------------------------------------------------------
def preload() -> None:
    """Import what a capture needs, then check the process is still safe to fork from."""
    from crawlers.run import import_tls_early

    import_tls_early()  # at the top of the stack, as in a fresh capture process (see there)
    import importlib

    for name in (*PRELOAD, *_platform_modules(), *_scrapy_component_modules()):
        try:
            importlib.import_module(name)
        except ImportError:  # an optional part not installed: the capture imports what it uses
            continue
    # The catalog's ORM mappers are configured on first use: once here, not in every capture.
    from sqlalchemy.orm import configure_mappers

    configure_mappers()
    # What every capture records of the installation, read once for every fork (each reads
    # it again when an install has changed it since: crawlers.run.kept_while).
    from crawlers.run import font_packages, tool_versions

    tool_versions()
    font_packages()
    if "twisted.internet.reactor" in sys.modules:
        raise RuntimeError("a reactor was installed while importing: a forked capture "
                           "process needs its own")
    if threading.active_count() != 1:
        names = ", ".join(t.name for t in threading.enumerate())
        raise RuntimeError(f"threads were started while importing ({names}): forking would "
                           "copy them half-way")


def freeze_heap() -> None:
    """Take what the imports made out of the garbage collector's sight, before any fork.

    Each forked capture process otherwise ran one full collection of its own (measured: one
    a job, 0.25 CPU s, a third of a plain-HTTP job's CPU), walking every object the imports
    made, which live as long as the process and are never garbage; walking them also writes
    to each one's header, so every page the fork shared with the warm process was copied.
    Frozen (``gc.freeze``), they are skipped: a capture process's collector only looks at
    what it made itself. The collection first leaves no garbage of the imports frozen in."""
    import gc

    gc.collect()
    gc.freeze()


def _platform_modules() -> list[str]:
    from crawlers.platforms import MODULES

    return [module for module, _cls in MODULES.values()]


def _scrapy_component_modules() -> list[str]:
    from scrapy.settings import default_settings

    from crawlers.settings import UNWANTED_EXTENSIONS

    paths: set[str] = set()
    for setting in SCRAPY_COMPONENTS:
        components = getattr(default_settings, setting, {})
        # The handlers map a scheme to a class path; the others a class path to an order.
        paths.update(components.values() if setting == "DOWNLOAD_HANDLERS_BASE" else components)
    paths.update(getattr(default_settings, setting, "") for setting in SCRAPY_CLASSES)
    modules = {str(path).rpartition(".")[0] for path in paths - set(UNWANTED_EXTENSIONS)}
    # A module holding an unwanted extension is not imported for another of its classes.
    unwanted = {path.rpartition(".")[0] for path in UNWANTED_EXTENSIONS}
    return sorted(m for m in modules if m and m not in unwanted)


def serve(control: socket.socket, worker: int) -> None:
    """Fork a capture process for each request on ``control`` until the worker closes it."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the select below
    me = os.getpid()
    _send(control, {"ready": me})
    while True:
        readable, _, _ = select.select([control, wake_r], [], [], 5.0)
        if wake_r in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 512)
        _reap(control)
        if control not in readable:
            continue
        message, fds, _, _ = socket.recv_fds(control, PACKET, 3)
        if not message:  # the worker closed its end (stopped, or died)
            return
        request = json.loads(message)
        if len(fds) != 3:
            for fd in fds:
                os.close(fd)
            _send(control, {"id": request.get("id"), "error": "three fds expected"})
            continue
        try:
            pid = os.fork()
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            _send(control, {"id": request.get("id"), "error": f"fork: {exc}"})
            continue
        if pid == 0:
            _capture(fds, me, close=(control.fileno(), wake_r, wake_w))
        for fd in fds:
            os.close(fd)
        _send(control, {"id": request.get("id"), "pid": pid})


def _reap(control: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send(control, {"exit": pid, "status": os.waitstatus_to_exitcode(status)})


def _capture(fds: list[int], zygote: int, close: tuple[int, ...]) -> None:
    """In the forked process: become a capture process as ``python -m isnad.app.child`` is,
    run the job, and end; never returns to the warm process's loop."""
    status = 1
    try:
        os.setsid()  # its own session and process group: the runner ends the group
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        stdin, output, events = fds
        os.dup2(stdin, 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        for fd in (stdin, output, *close):
            os.close(fd)
        # Fresh streams on the new fds (the warm process's own were never read nor written).
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 - for the process
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, errors="backslashreplace",  # noqa: SIM115
                          closefd=False)
        for handler in logging.root.handlers[:]:
            logging.root.removeHandler(handler)
        # The job's log says how its process began (a fresh one says nothing of the sort).
        import gc

        print(f"capture process {os.getpid()} forked from warm process {zygote} "
              f"({len(sys.modules)} modules already imported, {gc.get_freeze_count()} "
              "objects frozen out of the collector's sight)", file=sys.stderr, flush=True)
        from isnad.app.child import serve as run_job

        run_job(events, zygote)  # ends the process itself when all went well
        status = 0
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - said in the job's log, then the process ends
        with contextlib.suppress(Exception):
            traceback.print_exc()
    finally:
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(status)


def _send(control: socket.socket, message: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):  # the worker is gone: PDEATHSIG ends this process
        control.send(json.dumps(message).encode())


def main() -> None:
    """``python -m isnad.app.zygote CONTROL_FD WORKER_PID``."""
    control = socket.socket(fileno=int(sys.argv[1]))
    worker = int(sys.argv[2])
    from isnad.app.child import _die_with_parent

    _die_with_parent(worker)
    try:
        preload()
    except Exception as exc:  # noqa: BLE001 - told to the worker, which starts fresh processes
        _send(control, {"error": f"{type(exc).__name__}: {exc}"})
        sys.exit(2)
    freeze_heap()
    serve(control, worker)
    # The worker has gone: no teardown of a thousand modules (a second of CPU) for nothing.
    os._exit(0)


# -- the worker's side -----------------------------------------------------------------------
class WarmProcess:
    """A capture process forked by the warm process: what the runner uses of ``Popen``."""

    def __init__(self, pid: int, stdin: IO[bytes], zygote: _Zygote) -> None:
        self.pid = pid
        self.stdin: IO[bytes] | None = stdin
        self.returncode: int | None = None
        self._zygote = zygote
        self._ended = threading.Event()
        try:  # a handle on this very process, whatever reuses its pid later
            self._pidfd: int | None = os.pidfd_open(pid)
        except (OSError, AttributeError):
            self._pidfd = None

    def _exited(self, code: int) -> None:
        if self.returncode is None:
            self.returncode = code
        self._ended.set()
        self._close_pidfd()

    def _close_pidfd(self) -> None:
        fd, self._pidfd = self._pidfd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _gone_with_zygote(self) -> bool:
        """The warm process died before reporting: this process got SIGKILL with it
        (PDEATHSIG); it is over once its pidfd says it ended."""
        if not self._zygote.dead.is_set():
            return False
        if self._pidfd is not None:
            ended = select.select([self._pidfd], [], [], 0)[0]
        else:
            from archiver.archive import process_alive

            ended = not process_alive(self.pid)
        if ended:
            self._exited(-signal.SIGKILL)
        return bool(ended)

    def poll(self) -> int | None:
        """The exit status if the process has ended, else None."""
        if not self._ended.is_set():
            self._gone_with_zygote()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the process to end; ``subprocess.TimeoutExpired`` after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._ended.is_set():
            if self._gone_with_zygote():
                break
            left = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
            if left <= 0:
                raise subprocess.TimeoutExpired(f"capture process {self.pid}", timeout or 0)
            self._ended.wait(left)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        """Signal the process (never another that took its pid after it ended)."""
        if self.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            if self._pidfd is not None:
                signal.pidfd_send_signal(self._pidfd, sig)
            else:
                os.kill(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL the process."""
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        """SIGTERM the process."""
        self.send_signal(signal.SIGTERM)


class _Zygote:
    """One warm process and the thread that started it and reads what it says.

    The thread that starts a process is the one PDEATHSIG watches, so the warm process is
    started by this thread, which lives as long as the warm process does."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.dead = threading.Event()
        self.pid: int | None = None
        self.failure: str | None = None
        self.sock: socket.socket | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.replies: dict[int, dict[str, Any]] = {}
        self.replied = threading.Condition()
        self.children: dict[int, WarmProcess] = {}
        self.early_exits: dict[int, int] = {}
        self.send_lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name="isnad-warm-process",
                                       daemon=True)

    def _run(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            try:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "isnad.app.zygote", str(theirs.fileno()),
                     str(os.getpid())],
                    stdin=subprocess.DEVNULL, pass_fds=(theirs.fileno(),),
                    start_new_session=True)  # a Ctrl-C at the terminal is the worker's to handle
            finally:
                theirs.close()
            self.sock = ours
            self._read(ours)
        except Exception as exc:  # noqa: BLE001 - the runner falls back to fresh processes
            self.failure = self.failure or f"{type(exc).__name__}: {exc}"
        finally:
            self.dead.set()
            self.ready.set()
            with self.replied:
                self.replied.notify_all()
            ours.close()
            if self.process is not None:
                try:
                    self.process.wait(30)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
                if not self.ready_once and self.failure is None:
                    self.failure = f"it ended with status {self.process.returncode}"

    ready_once = False

    def _read(self, sock: socket.socket) -> None:
        while True:
            data = sock.recv(PACKET)
            if not data:
                return
            message = json.loads(data)
            if "ready" in message:
                self.pid = message["ready"]
                self.ready_once = True
                self.ready.set()
            elif "exit" in message:
                with self.replied:
                    child = self.children.pop(message["exit"], None)
                    if child is None:  # ended before its pid reached the requester
                        self.early_exits[message["exit"]] = message["status"]
                if child is not None:
                    child._exited(message["status"])
            elif "id" in message:
                with self.replied:
                    self.replies[message["id"]] = message
                    self.replied.notify_all()
            elif "error" in message:
                self.failure = message["error"]

    def fork(self, request: int, stdin: int, output: int, events: int,
             stdin_writer: IO[bytes]) -> WarmProcess:
        """Ask for a capture process with these fds; raises OSError when none comes."""
        assert self.sock is not None
        with self.send_lock:
            socket.send_fds(self.sock, [json.dumps({"id": request}).encode()],
                            [stdin, output, events])
        deadline = time.monotonic() + REPLY_TIMEOUT
        with self.replied:
            while request not in self.replies:
                if self.dead.is_set() or time.monotonic() > deadline:
                    raise OSError("the warm process gave no capture process")
                self.replied.wait(0.5)
            reply = self.replies.pop(request)
            if "pid" not in reply:
                raise OSError(f"the warm process could not fork: {reply.get('error')}")
            child = WarmProcess(reply["pid"], stdin_writer, self)
            status = self.early_exits.pop(child.pid, None)
            if status is None:
                self.children[child.pid] = child
        if status is not None:
            child._exited(status)
        return child

    def stop(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)  # EOF: the warm process ends


class WarmProcesses:
    """A worker's warm process: started on first use (or by :meth:`start`), started again
    when it dies, and left aside for a while when it cannot start."""

    def __init__(self) -> None:
        self._zygote: _Zygote | None = None
        self._lock = threading.Lock()
        self._requests = 0
        self._failed_at: float | None = None
        self._warned = False
        self._closed = False

    def start(self) -> None:
        """Start the warm process now (a worker does at its start), without waiting."""
        with self._lock:
            self._current()

    def _current(self) -> _Zygote | None:
        if self._closed:
            return None
        zygote = self._zygote
        if zygote is not None and not zygote.dead.is_set():
            return zygote
        if zygote is not None and zygote.ready_once:
            log.warning("the warm process %s ended (%s); another is started", zygote.pid,
                        zygote.failure or f"status {zygote.process and zygote.process.poll()}")
        if self._failed_at is not None and time.monotonic() - self._failed_at < RETRY_AFTER:
            return None
        self._zygote = _Zygote()
        self._zygote.thread.start()
        return self._zygote

    def spawn(self, output: int, events: int) -> WarmProcess | None:
        """A capture process forked from the warm process, with ``output`` as its stdout and
        stderr and ``events`` as its events fd; None when there is no warm process to fork
        from (the runner then starts a fresh one)."""
        with self._lock:
            zygote = self._current()
            self._requests += 1
            request = self._requests
        if zygote is None:
            return None
        zygote.ready.wait(READY_TIMEOUT)
        if not zygote.ready_once or zygote.dead.is_set():
            self._failed(zygote, zygote.failure or "it did not get ready in time")
            return None
        read_end, write_end = os.pipe()
        writer = os.fdopen(write_end, "wb")
        try:
            child = zygote.fork(request, read_end, output, events, writer)
        except OSError as exc:
            writer.close()
            self._failed(zygote, str(exc))
            return None
        finally:
            os.close(read_end)
        if self._warned:
            log.info("warm capture processes are back (warm process %s)", zygote.pid)
            self._warned = False
        return child

    def _failed(self, zygote: _Zygote, why: str) -> None:
        with self._lock:
            if self._zygote is zygote:
                zygote.stop()
                if not zygote.ready_once:
                    self._failed_at = time.monotonic()
            if not self._warned:
                log.warning("warm capture processes unavailable (%s): capture processes are "
                            "started fresh (python -m isnad.app.child) until one starts", why)
                self._warned = True

    @property
    def pid(self) -> int | None:
        """The live warm process's pid, if any."""
        zygote = self._zygote
        return zygote.pid if zygote is not None and not zygote.dead.is_set() else None

    def close(self) -> None:
        """Stop the warm process (its capture processes die with it)."""
        with self._lock:
            self._closed = True
            zygote, self._zygote = self._zygote, None
        if zygote is not None:
            zygote.stop()
            zygote.thread.join(35)


if __name__ == "__main__":
    main()
