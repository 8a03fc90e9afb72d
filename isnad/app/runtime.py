"""The runtime as the interfaces see it: submit jobs, watch them, run them here or leave them
to a worker. The CLI today, the web app and the scheduler next, all go through this."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from archiver.archive import Archive
from archiver.catalog import CaptureRow
from archiver.errors import IsnadError
from archiver.jobs import JobRow, JobStore, WorkerRow
from archiver.redaction import REDACTED
from archiver.states import CaptureState, JobState
from isnad.app.jobs import (
    BatchLine,
    JobSpec,
    add_jobs,
    forget_secret,
    parse_batch,
    secret_url,
)
from isnad.app.records import job_record
from isnad.config import Settings

if TYPE_CHECKING:
    # Imported where used: the queue brings Huey, Redis and psycopg, a run here the whole
    # capture (Scrapy, Playwright), which `isnad jobs` and the web pages do not need.
    from isnad.app.queue import CaptureQueue
    from isnad.app.worker import LocalRun

GONE_SHOWN_FOR = timedelta(days=1)  # `isnad workers` shows a gone worker this long


def read_batch(source: str, template: JobSpec) -> tuple[list[JobSpec], list[BatchLine]]:
    """The jobs of a batch file (``-``: standard input), and its lines that could not be."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise IsnadError(f"cannot read the batch file {source}: {exc}") from exc
    return parse_batch(text, template)


class Runtime:
    """Jobs of one catalog and queue."""

    def __init__(self, settings: Settings, archive: Archive) -> None:
        self.settings = settings
        self.archive = archive
        self.store = JobStore(archive.catalog)
        self._queue: CaptureQueue | None = None

    @property
    def queue(self) -> CaptureQueue:
        if self._queue is None:
            from isnad.app.queue import CaptureQueue

            self._queue = CaptureQueue(self.settings)
        return self._queue

    def submit(self, specs: list[JobSpec]) -> list[JobRow]:
        """Queue jobs: written to the catalog first, then handed to the queue (a message
        lost between the two is restored by the next worker that starts).

        When the queue (Redis) cannot be reached, nothing is written and
        :class:`QueueUnavailable` says so: the caller submits again later. Should it go
        down between the two steps, the error names the jobs already in the catalog: they
        are queued, and a worker gives them their message when the queue is back."""
        from isnad.app.queue import QueueUnavailable

        try:
            self.queue.check()
        except QueueUnavailable as exc:
            raise QueueUnavailable(f"{exc}; nothing was submitted: submit again when it is "
                                   "back") from exc
        rows = add_jobs(self.store, specs, self.settings.home / "secrets")
        for n, row in enumerate(rows):
            try:
                self.queue.put(row.id, row.priority)
            except QueueUnavailable as exc:
                ids = " ".join(r.id for r in rows[n:])
                raise QueueUnavailable(
                    f"{exc}; {len(rows)} job(s) were recorded in the catalog and stay queued "
                    f"(a worker hands them to the queue when it is back), those not yet in "
                    f"it: {ids}") from exc
        return rows

    def workers(self, kinds: tuple[str, ...] = ("worker",)) -> list[WorkerRow]:
        """Live workers (``kinds``: also schedulers, ``("worker", "scheduler")``)."""
        from isnad.app.worker import live_workers

        return live_workers(self.store, self.settings, kinds)

    def worker_states(self, kinds: tuple[str, ...] = ("worker", "scheduler"), *,
                      every: bool = False) -> list[tuple[WorkerRow, str]]:
        """Workers with their state: ``alive``; ``gone`` (no sign of life for
        ``worker.stale_after`` seconds, or its process dead on this machine, without having
        stopped: its jobs are queued again by the live workers), shown for a day after
        their last sign of life; with ``every``, also those gone longer and ``stopped`` ones."""
        from isnad.app.worker import live_workers

        alive = {w.id for w in live_workers(self.store, self.settings, kinds)}
        recent = datetime.now(UTC) - GONE_SHOWN_FOR
        shown = []
        for row in self.store.workers():
            if row.kind not in kinds:
                continue
            state = ("alive" if row.id in alive else
                     "stopped" if row.stopped_at is not None else "gone")
            if every or state == "alive" or (state == "gone" and row.heartbeat_at >= recent):
                shown.append((row, state))
        return shown

    def schedules_leader(self) -> str | None:
        """The scheduler holding the ``schedules`` lease now (None: none holds it)."""
        from scheduler.state import Lease  # the scheduler's tables, made when first asked

        lease = Lease(self.archive.catalog.engine, "schedules", self.settings.schedules.lease
                      ).current()
        if lease is None or lease.expires_at <= datetime.now(UTC):
            return None
        return lease.holder

    def run_here(self, rows: list[JobRow], concurrency: int | None) -> LocalRun:
        from isnad.app.worker import LocalRun

        run = LocalRun(self.settings, self.archive,
                       concurrency or self.settings.worker.concurrency,
                       requeue=lambda row: self.queue.offer(row.id, row.priority),
                       # One job: a warm process would cost the imports it saves.
                       warm=self.settings.worker.warm_processes and len(rows) > 1)
        run.start(rows)
        return run

    def jobs(self, states: tuple[str, ...] = (), limit: int | None = None) -> list[JobRow]:
        return self.store.list(states, limit)

    def job(self, job_id: str) -> JobRow:
        return self.store.get(job_id)

    def cancel(self, job_id: str) -> JobState:
        row = self.store.get(job_id)
        state = self.store.cancel(row.id)
        if state == JobState.CANCELLED:
            forget_secret(self.settings.home / "secrets", row.id)
        return state

    def retry(self, job_id: str) -> JobRow:
        row = self.store.get(job_id)
        if (urlsplit(row.spec["url"]).password == REDACTED
                and secret_url(self.settings.home / "secrets", row.id) is None):
            raise IsnadError(f"job {row.id}: the password of its URL was forgotten when the "
                             "job ended (it is kept nowhere); submit the URL again")
        self.queue.check()  # Redis unreachable: one clear error, the job left as it is
        if not self.store.retry(row.id):
            raise IsnadError(f"job {row.id} is {row.state}: only a failed, cancelled or done "
                             "job can be run again")
        self.queue.put(row.id, row.priority)
        return self.store.get(row.id)

    def record(self, row: JobRow) -> dict[str, Any]:
        return job_record(row, self.store.captures(row.id))

    def watch(self, job_ids: list[str]) -> Iterator[Watch]:
        """What changed since the last look, each time it is asked (the caller paces it)."""
        watch = Watch(set(job_ids))
        while watch.pending:
            rows = self.store.many(sorted(watch.pending))
            watch.running = [r for r in rows if r.state == JobState.RUNNING]
            watch.finished_captures = []
            for row in rows:
                for capture_id in self.store.captures(row.id):
                    if capture_id in watch.shown:
                        continue
                    done = (row.progress or {}).get("results", {}).get(capture_id)
                    if done or JobState(row.state).final or row.state == JobState.QUEUED:
                        capture = self.archive.catalog.get(capture_id)
                        if capture.state != CaptureState.RUNNING:
                            watch.shown.add(capture_id)
                            watch.finished_captures.append((capture, row.id))
                if JobState(row.state).final:
                    watch.pending.discard(row.id)
                    watch.finished_jobs.append(row)
            yield watch


@dataclass
class Watch:
    """The jobs a caller waits for, as last seen."""

    pending: set[str]
    running: list[JobRow] = field(default_factory=list)
    finished_captures: list[tuple[CaptureRow, str]] = field(default_factory=list)  # (, job)
    finished_jobs: list[JobRow] = field(default_factory=list)
    shown: set[str] = field(default_factory=set)
