"""Running jobs: claim a job, run its capture process, settle the attempt.

The same code runs a job taken from the queue by `isnad worker` and a job `isnad capture` runs
itself when no worker is up. A job is claimed in the catalog first (so a message delivered twice
runs once), then captured in a child process (:mod:`isnad.app.child`) whose events update the
job's progress; when the process ends, whatever it left RUNNING is settled as interrupted, and
the attempt is recorded: done, failed (the process crashed: that capture only) or cancelled.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from archiver.archive import Archive, process_alive
from archiver.jobs import SEALED, JobRow, JobStore, link_to_retries
from archiver.states import CaptureState, CustodyAction, JobState
from isnad.app.jobs import forget_secret, secret_url
from isnad.app.zygote import WarmProcess, WarmProcesses
from isnad.config import Settings

log = logging.getLogger("isnad.runner")

FINAL_CAPTURE = (CaptureState.COMPLETE, CaptureState.PARTIAL, CaptureState.FAILED)
INTERRUPTED = "interrupted"
# A catalog that cannot be reached (server down, connection lost, refused, timed out, no
# pooled connection free): an outage to ride out, not a fault in the code.
CATALOG_DOWN = (OperationalError, InterfaceError, PoolTimeout)


@dataclass
class Attempt:
    """A job being run here: its attempt number and capture process."""

    job_id: str
    number: int
    process: subprocess.Popen[bytes] | WarmProcess
    events: Any = None  # the pipe the capture process reports on
    captures: list[str] = field(default_factory=list)
    progress: dict[str, Any] = field(default_factory=dict)
    written: float = 0.0
    error: str | None = None
    done: bool = False
    progress_lost: bool = False  # the catalog refused the last progress write
    catalog_down: bool = False  # the capture process ended because the catalog was down


class JobRunner:
    """Runs jobs in capture processes, on behalf of one worker (or one `capture` command)."""

    def __init__(self, settings: Settings, archive: Archive, store: JobStore, worker_id: str,
                 *, requeue: Callable[[JobRow], None] | None = None,
                 warm: bool = False) -> None:
        self.settings = settings
        # Capture processes forked from a warm process (isnad.app.zygote), or started fresh.
        self.warm = WarmProcesses() if warm else None
        self.archive = archive
        self.store = store
        self.worker_id = worker_id
        self.requeue_message = requeue or (lambda row: None)
        self.host = settings.machine()
        self.running: dict[str, Attempt] = {}
        self.handed_back: set[str] = set()
        # Jobs whose attempt ended here but could not be settled (the catalog was down):
        # the next recovery settles them at once, without waiting for them to look stale.
        self.unsettled: dict[str, int] = {}
        self.lock = threading.Lock()
        self._settling = threading.Lock()  # one settling of dead captures at a time
        self.logs = settings.home / "logs" / "jobs"
        self.secrets = settings.home / "secrets"

    # -- one job ---------------------------------------------------------------------------
    def run(self, job_id: str) -> JobState | None:
        """Run a job if it is still queued; its final state, or None when not ours to run."""
        number = self.store.claim(job_id, self.worker_id, self.host, os.getpid())
        if number is None:
            log.info("job %s is not queued any more (cancelled, or taken by another worker)",
                     job_id)
            return None
        row = self.store.get(job_id)
        attempt: Attempt | None = None
        try:
            attempt = self._start(row, number)
            self._follow(attempt)
            code = attempt.process.wait()
        except Exception as exc:
            # Not the capture failing (that is its process's exit status): this worker could
            # not run it (no process could start, the catalog refused a write). The job is
            # settled now, never left running under a worker that is alive.
            log.exception("job %s could not be run", job_id)
            if attempt is not None:
                self.stop_process(attempt, grace=2.0)
            try:
                self.settle_dead_captures()
                self.store.finish(job_id, number, JobState.FAILED,
                                  error=f"the worker could not run it: {exc}",
                                  outcome={"outcome": "failed"})
            except Exception as settling:  # noqa: BLE001 - the catalog itself is down
                # Not settled now: the job stays RUNNING, no longer ours to run, and the
                # next recovery (here or elsewhere) settles it once the catalog answers.
                self._leave_to_recovery(job_id, number, settling)
                return None
            forget_secret(self.secrets, job_id)
            return JobState.FAILED
        finally:
            with self.lock:
                self.running.pop(job_id, None)
        if job_id in self.handed_back:
            return None  # the stopping worker settles it (see hand_back)
        try:
            return self._settle(row, attempt, code)
        except Exception as exc:  # noqa: BLE001 - the catalog is down: recovery settles it later
            self._leave_to_recovery(job_id, number, exc)
            return None

    def _leave_to_recovery(self, job_id: str, number: int, exc: BaseException) -> None:
        with self.lock:
            self.unsettled[job_id] = number
        log.warning("job %s left to recovery: its attempt %d could not be settled (%s); it is "
                    "settled when the catalog answers again", job_id, number, one_line(exc))

    def _start(self, row: JobRow, number: int) -> Attempt:
        self.logs.mkdir(parents=True, exist_ok=True)
        log_file = open(self.logs / f"{row.id}-{number}.log", "ab")  # noqa: SIM115 - child's
        read_end, write_end = os.pipe()
        try:
            process: subprocess.Popen[bytes] | WarmProcess | None = None
            if self.warm is not None:
                process = self.warm.spawn(log_file.fileno(), write_end)
            if process is None:  # no warm process to fork from: a fresh one, as always
                process = subprocess.Popen(
                    [sys.executable, "-m", "isnad.app.child", str(write_end),
                     str(os.getpid())],
                    stdin=subprocess.PIPE, stdout=log_file, stderr=subprocess.STDOUT,
                    pass_fds=(write_end,), start_new_session=True)
        finally:
            os.close(write_end)
            log_file.close()
        attempt = Attempt(row.id, number, process, os.fdopen(read_end, encoding="utf-8"))
        with self.lock:
            self.running[row.id] = attempt
        spec = dict(row.spec)
        spec["url"] = secret_url(self.secrets, row.id) or spec["url"]  # through the pipe only
        payload = {"settings": self.settings.model_dump(mode="json"), "job_id": row.id,
                   "attempt": number, "spec": spec}
        try:
            process.stdin.write(json.dumps(payload).encode())
            process.stdin.close()
        except BrokenPipeError:
            pass  # it died at once: settled below from its exit status
        return attempt

    def _follow(self, attempt: Attempt) -> None:
        """Read the capture process's events until it closes the pipe."""
        with attempt.events:
            for line in attempt.events:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                self._on_event(attempt, event)
        self._write_progress(attempt, force=True)

    def _on_event(self, attempt: Attempt, event: dict[str, Any]) -> None:
        kind = event.get("type")
        progress = attempt.progress
        if kind == "capture":
            attempt.captures.append(event["capture_id"])
            progress.update(stage="crawling", capture=event["capture_id"], url=event["url"],
                            exchanges=0, bytes=0, pages=0, captures=len(attempt.captures))
        elif kind == "progress":
            progress.update(exchanges=event["exchanges"], bytes=event["bytes"],
                            pages=event["pages"])
        elif kind == "stage":
            progress.update(stage=event["stage"])
        elif kind == "import":  # a batch import run as a job: files and bytes done
            progress.update(stage="importing", **{k: event[k] for k in (
                "import_id", "files", "files_done", "bytes", "total_bytes", "file")
                if k in event})
        elif kind == "result":
            key = event.get("capture_id") or f"import:{event.get('import_id')}"
            progress.setdefault("results", {})[key] = event["state"]
        elif kind == "error":
            attempt.error = event.get("message")
            attempt.catalog_down = bool(event.get("catalog_down"))
        elif kind == "done":
            attempt.done = True
        self._write_progress(attempt, force=kind not in ("progress", "import"))

    def _write_progress(self, attempt: Attempt, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - attempt.written >= 1.0:
            attempt.written = now
            try:
                self.store.set_progress(attempt.job_id, attempt.number, dict(attempt.progress))
            except CATALOG_DOWN as exc:
                # Progress is only shown (`isnad jobs`): a catalog that cannot take it must
                # not end the capture, whose own writes decide its fate. Said once per
                # outage; the next event writes it again.
                if not attempt.progress_lost:
                    log.warning("job %s: its progress could not be recorded, the capture goes "
                                "on (%s)", attempt.job_id, one_line(exc))
                attempt.progress_lost = True
                return
            if attempt.progress_lost:
                log.info("job %s: its progress is recorded again", attempt.job_id)
                attempt.progress_lost = False

    def _settle(self, row: JobRow, attempt: Attempt, code: int) -> JobState | None:
        interrupted = self.settle_dead_captures()
        cancelled = row.id in self.store.cancel_requested([row.id])
        if (not cancelled and code != 0 and attempt.catalog_down
                and self.give_back(row, attempt.number, "the catalog could not be written "
                                   f"during the capture ({attempt.error})")):
            # Not the capture's fault: the catalog could not record it (what it left is
            # settled above, FAILED as interrupted, its files kept aside). Run again, unless
            # the attempt sealed a capture already: then it is recorded failed below.
            return self.store.get(row.id).state
        if cancelled:
            state, error = JobState.CANCELLED, "cancelled while running"
        elif code == 0 and attempt.done:
            state, error = JobState.DONE, None
        else:
            state = JobState.FAILED
            error = attempt.error or f"the capture process {describe_exit(code)}"
            tail = self._log_tail(row.id, attempt.number)
            if tail and not attempt.error:
                error += f": {tail}"
        self.store.finish(row.id, attempt.number, state, error=error, outcome={
            "outcome": state.value, "exit_status": code,
            "interrupted_captures": [c for c in interrupted if c in attempt.captures]})
        forget_secret(self.secrets, row.id)
        return state

    def _log_tail(self, job_id: str, number: int) -> str:
        try:
            text = (self.logs / f"{job_id}-{number}.log").read_text(errors="replace")
        except OSError:
            return ""
        lines = [line for line in text.splitlines() if line.strip()]
        return lines[-1][:300] if lines else ""

    def settle_dead_captures(self) -> list[str]:
        """Captures left RUNNING by a process that is gone: FAILED, files kept aside."""
        with self._settling:
            return self.archive.recover_interrupted()

    # -- stopping ----------------------------------------------------------------------------
    def stop_process(self, attempt: Attempt, grace: float = 10.0) -> None:
        """End a capture process and everything it started (its own process group)."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 30.0)):
            try:
                os.killpg(attempt.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                attempt.process.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def cancel_requested(self) -> None:
        """Stop the capture processes of jobs an operator cancelled."""
        with self.lock:
            running = dict(self.running)
        for job_id in self.store.cancel_requested(list(running)):
            log.info("job %s cancelled while running: stopping its capture", job_id)
            self.stop_process(running[job_id])

    def hand_back(self, job_ids: Iterable[str], reason: str) -> list[str]:
        """Give running jobs back to the queue: their capture processes are stopped, what
        they left is settled (FAILED, kept aside), each attempt recorded as interrupted and
        linked to the run that replaces it."""
        handed = []
        for job_id in job_ids:
            with self.lock:
                attempt = self.running.get(job_id)
                self.handed_back.add(job_id)
            if attempt is not None:
                self.stop_process(attempt, grace=2.0)
                number = attempt.number
            else:
                number = self.store.get(job_id).attempts
            self.settle_dead_captures()
            if self.give_back(self.store.get(job_id), number, reason):
                handed.append(job_id)
        return handed

    def give_back(self, row: JobRow, number: int, reason: str) -> bool:
        """Queue an interrupted attempt's job again (or give it up after max_attempts);
        each of its interrupted captures gets a custody event naming the retry."""
        captures = self.store.captures(row.id, number)
        states = {c: self.archive.catalog.get(c) for c in captures}
        interrupted = [c for c, r in states.items() if r.state == CaptureState.FAILED
                       and (r.error or "").startswith(INTERRUPTED)]
        if captures and not interrupted and all(r.state in FINAL_CAPTURE
                                                for r in states.values()):
            # Its captures ended before the worker did: the job is done, not run twice.
            forget_secret(self.secrets, row.id)
            return self.store.finish(row.id, number, JobState.DONE, error=None, outcome={
                "outcome": "done", "note": f"settled after its worker ended ({reason})"})
        sealed = [c for c, r in states.items() if r.state in SEALED]
        if sealed:
            # It sealed a capture before it was interrupted (a channel's listing, then one of
            # its posts): run again, it would seal that one a second time, and the catalog
            # refuses to queue it (JobStore.requeue), on every recovery, so it stayed RUNNING
            # for ever. It is recorded as it ended: failed, naming what was kept and what
            # was interrupted (FAILED, files in quarantine: settled before this call).
            forget_secret(self.secrets, row.id)
            return self.store.finish(row.id, number, JobState.FAILED, error=(
                f"{reason}; not run again, it had sealed {', '.join(sealed)} (interrupted: "
                f"{', '.join(interrupted) or 'none settled here yet'})"),
                outcome={"outcome": INTERRUPTED, "sealed_captures": sealed,
                         "interrupted_captures": interrupted})
        if number >= self.settings.queue.max_attempts:
            forget_secret(self.secrets, row.id)
            return self.store.finish(row.id, number, JobState.FAILED, error=(
                f"{reason}; given up after {number} attempts (queue.max_attempts)"),
                outcome={"outcome": INTERRUPTED, "interrupted_captures": interrupted})
        if not self.store.requeue(row.id, number, reason):
            return False
        for capture_id in interrupted:
            self.archive.record_event(capture_id, "isnad", CustodyAction.RETRIED, None, {
                "job": row.id, "attempt": number, "retried_as_attempt": number + 1,
                "reason": reason})
        self.requeue_message(self.store.get(row.id))
        return True

    def recover(self) -> list[str]:
        """Jobs whose worker died (its process gone, or silent on another machine): settled
        and queued again. Run at a worker's start and from time to time.

        A job of a machine that went silent is queued again by whichever worker notices;
        the captures it left RUNNING are on that machine's disk, so they are settled when
        the machine comes back (its worker starts with the same ``worker.host``): FAILED,
        files kept in its quarantine, and linked to the attempt that replaced them."""
        link_to_retries(self.archive, self.settle_dead_captures())
        recovered = []
        with self.lock:
            unsettled = dict(self.unsettled)
        rows = {row.id: row for row in self.store.stale(self.host, process_alive,
                                                        self.settings.worker.stale_after)}
        for job_id, number in unsettled.items():
            row = self.store.get(job_id)
            if row.state == JobState.RUNNING and row.attempts == number:
                rows.setdefault(job_id, row)
            else:  # settled meanwhile (by another worker's recovery)
                with self.lock:
                    self.unsettled.pop(job_id, None)
        for row in rows.values():
            if row.id in self.running:
                continue  # ours, running right now
            # This worker's own job that it no longer runs (its settling failed: the catalog
            # was down) is settled like any other: never left RUNNING under a live worker.
            self.settle_dead_captures()
            if row.id in unsettled:
                reason = (f"its attempt ended while the catalog could not be written (worker "
                          f"{row.worker})")
            else:
                reason = f"its worker {row.worker} ended before the job finished"
            if self.give_back(row, row.attempts, reason):
                recovered.append(row.id)
            elif row.id in unsettled and self.store.finish(
                    row.id, row.attempts, JobState.FAILED, error=reason,
                    outcome={"outcome": "failed", "note": "settled after a catalog outage"}):
                # Not queued again (one of its captures was sealed): recorded as it ended.
                forget_secret(self.secrets, row.id)
                recovered.append(row.id)
            with self.lock:
                self.unsettled.pop(row.id, None)
        return recovered

    def close(self) -> None:
        """Stop the warm process, if any (the worker or command is ending)."""
        if self.warm is not None:
            self.warm.close()

    def beat(self) -> None:
        with self.lock:
            running = list(self.running)
        self.store.beat(running)


def one_line(exc: BaseException) -> str:
    """An error as one short line (a database error's first line, without SQLAlchemy's
    background link): what a log line or a job's error shows."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"ended with status {code}"
