"""A capture process: runs one job's captures, then exits.

Started by a worker (or by `isnad capture`) as ``python -m isnad.app.child EVENTS_FD PARENT_PID``,
with the job on stdin as JSON (``settings``, ``job_id``, ``attempt``, ``spec``). A process of its
own gives each capture a fresh reactor and a fresh browser, keeps a crash (Chromium dying, a
parser raising) to that capture, and hands all its memory back when it ends. It reports on the
EVENTS_FD pipe, one JSON object a line: ``capture`` (registered), ``stage``, ``progress``,
``result``, then ``done`` or ``error``. It dies with its parent (a worker killed with -9 leaves no
capture running unseen: the job is run again elsewhere).
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import json
import os
import signal
import sys
import threading
import time
import traceback
from typing import Any

PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the parent's recovery still settles it
        return
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(3)


class Reporter:
    """JSON lines to the parent; progress at most a few times a second per capture."""

    def __init__(self, fd: int) -> None:
        self.stream = os.fdopen(fd, "w", encoding="utf-8", buffering=1)
        self.lock = threading.Lock()  # the reactor and the finishing threads both report
        self.last: dict[str, float] = {}

    def send(self, kind: str, **data: Any) -> None:
        line = json.dumps({"type": kind, **data}, ensure_ascii=False, default=str)
        with self.lock:
            try:
                self.stream.write(line + "\n")
            except (BrokenPipeError, ValueError):  # the parent went away: keep capturing
                pass

    def progress(self, job: Any) -> None:
        now = time.monotonic()
        if now - self.last.get(job.capture_id, 0.0) < 0.3:
            return
        self.last[job.capture_id] = now
        self.send("progress", capture_id=job.capture_id, exchanges=job.exchanges,
                  bytes=job.payload_bytes, pages=len(job.pages))


def run(payload: dict[str, Any], reporter: Reporter) -> None:
    """Capture what the job asks for, reporting as it goes."""
    from crawlers.run import import_tls_early

    import_tls_early()  # first, at the top of the stack (see there)
    from archiver.jobs import JobStore
    from archiver.redaction import redact_url
    from archiver.states import JobState
    from isnad.app.archive import open_archive, prepare_archive
    from isnad.app.capture import CaptureOptions, CaptureRun
    from isnad.app.jobs import JobSpec
    from isnad.config import Settings

    settings = Settings(**payload["settings"])
    from isnad.logs import configure_from_settings

    # Its stderr is the job's log; a configured log file gets its records too.
    configure_from_settings(settings.logging, settings.home, service=True)
    job_id, attempt = payload["job_id"], payload["attempt"]
    spec = JobSpec.from_dict(payload["spec"])
    archive = open_archive(settings, recover=False)  # settling others' captures is not ours
    store = JobStore(archive.catalog)
    row = store.get(job_id)
    if row.state != JobState.RUNNING or row.attempts != attempt:
        reporter.send("error", message=f"job {job_id} attempt {attempt} is no longer running "
                      f"here (it is {row.state}, attempt {row.attempts})")
        return
    prepare_archive(archive, settings)
    if spec.import_id:
        _run_import(settings, archive, spec.import_id, reporter)
        reporter.send("done")
        return
    options = CaptureOptions(operator=spec.operator, case_id=spec.case_id, tags=spec.tags,
                             note=spec.note, use_browser=spec.use_browser, depth=spec.depth,
                             scope=spec.scope, posts=spec.posts,
                             processes=spec.processes,
                             follow_posts=not spec.monitor,
                             feed=(spec.monitor or {}).get("feed"))

    def registered(capture_id: str, url: str) -> None:
        store.link_capture(job_id, attempt, capture_id)
        reporter.send("capture", capture_id=capture_id, url=redact_url(url))

    capture = CaptureRun(
        settings, options, archive,
        origin={"job": job_id, "attempt": attempt, "source": spec.source},
        on_capture=registered,
        on_stage=lambda cid, stage: reporter.send("stage", capture_id=cid, stage=stage),
        on_progress=reporter.progress,
        on_result=lambda r: reporter.send("result", capture_id=r.capture_id, state=r.state,
                                          stored=r.stored, error=r.error))
    results = capture.run([spec.url])
    if spec.monitor:
        # A monitor's job: its listing queues the new posts, inside this attempt (see
        # isnad.app.monitors for why here).
        from isnad.app.monitors import after_capture

        reporter.send("stage", capture_id=results[0].capture_id if results else None,
                      stage="monitor")
        after_capture(settings, archive, spec, job_id, results, capture.observed)
    reporter.send("done")


def _run_import(settings: Any, archive: Any, import_id: str, reporter: Reporter) -> None:
    """A batch import queued as a job: run (or resume) it, reporting the files and bytes
    done, for `isnad jobs`."""
    from isnad.app.imports import ImportProgress, run_import

    state: dict[str, Any] = {"files_done": 0, "bytes": 0, "last": 0.0}

    def progress(total: int, files: int) -> ImportProgress:
        state.update(files=files, total_bytes=total)
        reporter.send("import", import_id=import_id, files=files, total_bytes=total,
                      files_done=0, bytes=0)

        def on_bytes(n: int) -> None:
            state["bytes"] += n
            now = time.monotonic()
            if now - state["last"] >= 0.5:
                state["last"] = now
                send()

        def on_done(name: str, outcome: str) -> None:
            state["files_done"] += 1
            send(file=name)

        def send(**more: Any) -> None:
            reporter.send("import", import_id=import_id, files=state["files"],
                          total_bytes=state["total_bytes"], files_done=state["files_done"],
                          bytes=state["bytes"], **more)

        return ImportProgress(total, files, on_bytes=on_bytes, on_done=on_done,
                              on_file=lambda name, size: send(file=name))

    result = run_import(settings, archive, import_id, progress)
    reporter.send("result", capture_id=None, import_id=import_id, state=result.state,
                  stored=None, error=None)


def main() -> None:
    serve(int(sys.argv[1]), int(sys.argv[2]))


def serve(events: int, parent: int) -> None:
    """Run the job read from stdin, reporting on ``events``; dies with process ``parent``.
    Ends the process (``os._exit`` when all went well, ``SystemExit`` otherwise): the entry
    point of a fresh capture process and of one forked from a warm process
    (:mod:`isnad.app.zygote`)."""
    _die_with_parent(parent)
    # `kill -USR1 PID` writes where every thread is to the job's log: how a capture that
    # seems stuck is looked into without stopping it.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    reporter = Reporter(events)
    from archiver.errors import IsnadError

    try:
        run(json.load(sys.stdin), reporter)
        _leave(0, reporter)
    except IsnadError as exc:
        reporter.send("error", message=str(exc))
        sys.exit(1)
    except BaseException as exc:  # noqa: BLE001 - any crash: said to the parent, then raised
        from isnad.app.runner import CATALOG_DOWN, one_line

        traceback.print_exc()
        if isinstance(exc, CATALOG_DOWN):
            # The catalog went away under the capture: nothing it did is claimed done (what
            # it wrote stays in the spool, settled as interrupted); the worker runs it again.
            reporter.send("error", message=f"the catalog could not be written: {one_line(exc)}",
                          catalog_down=True)
        else:
            reporter.send("error", message=f"{type(exc).__name__}: {exc}")
        sys.exit(1)


def _leave(status: int, reporter: Reporter) -> None:
    """Exit once everything is settled, reported and flushed, without tearing the interpreter
    down: freeing a capture's thousand-odd modules and its objects one by one takes a second
    or more (measured: 1-1.5 s on 2 cores) and leaves nothing behind that a capture needs;
    its files are closed and synced, its catalog writes committed, its events sent."""
    import logging

    logging.shutdown()
    for stream in (reporter.stream, sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(status)


if __name__ == "__main__":
    main()
