"""Workers: long-running processes that take capture jobs from the queue and run N at once.

`isnad worker` runs Huey's consumer (one thread per concurrent job; each job's capture runs in
its own process, see :mod:`isnad.app.runner`). SIGTERM drains: no new job is taken, running
captures get ``worker.drain_timeout`` seconds to finish, and those still running are handed back
to the queue. A worker killed with -9 leaves its jobs RUNNING under a dead pid: the next worker
to start (or any live one, from time to time) settles and queues them again.
`isnad capture` with no worker up runs its own jobs the same way (:class:`LocalRun`).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from huey import signals as huey_signals

from archiver.archive import Archive, process_alive
from archiver.jobs import JobRow, JobStore, WorkerRow
from archiver.states import JobState
from isnad.app.capture import resume_uploads
from isnad.app.jobs import forget_secret
from isnad.app.outage import CatalogOutage
from isnad.app.queue import OUTAGE_ERRORS, CaptureQueue, QueueUnavailable
from isnad.app.runner import CATALOG_DOWN, JobRunner
from isnad.config import Settings

log = logging.getLogger("isnad.worker")

RECOVER_EVERY = 30.0  # seconds between looks for jobs whose worker died (at most)
RECONCILE_EVERY = 300.0  # seconds between looks for queued jobs the queue lost (at most)


def worker_id(kind: str, host: str | None = None) -> str:
    """A worker's id: its kind, machine, pid and start second (unique across restarts)."""
    return f"{kind}:{host or socket.gethostname()}:{os.getpid()}:{int(time.time())}"


def live_workers(store: JobStore, settings: Settings, kinds: tuple[str, ...] = ("worker",)
                 ) -> list[WorkerRow]:
    """Workers that gave a sign of life lately (and, on this host, whose process lives);
    ``kinds`` adds other services, e.g. ``"scheduler"``."""
    cutoff = datetime.now(UTC) - timedelta(seconds=settings.worker.stale_after)
    host = settings.machine()
    return [w for w in store.workers()
            if w.kind in kinds and w.stopped_at is None and w.heartbeat_at >= cutoff
            and (w.host != host or process_alive(w.pid))]


class QuietOutage(logging.Filter):
    """Huey's consumer logs every failed read of an unreachable Redis with a traceback,
    several a second; the worker's heartbeat says once that the queue is down and once that
    it is back, so those are dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, OUTAGE_ERRORS)


HUEY_LOGGERS = ("huey.consumer.Worker", "huey.consumer.Scheduler", "huey.consumer")


class Heartbeat(threading.Thread):
    """Signs of life, cancellations, and recovery of dead workers' jobs, on a timer."""

    def __init__(self, runner: JobRunner, interval: float,
                 also: Callable[[], None] | None = None) -> None:
        super().__init__(name="isnad-heartbeat", daemon=True)
        self.runner = runner
        self.interval = interval
        self.also = also
        self.stopped = threading.Event()
        self.last_recovery = time.monotonic()
        self.last_beat = 0.0
        self.outage = CatalogOutage(f"worker {runner.worker_id}", logger=log)
        # A worker on another machine is found dead after ``stale_after`` seconds of silence:
        # look at least twice in that time.
        self.recover_every = min(RECOVER_EVERY, runner.settings.worker.stale_after / 2)

    def run(self) -> None:
        tick = min(self.interval, 1.0)  # cancellations are looked at every second
        while not self.stopped.wait(tick):
            self.tick()

    def tick(self) -> None:
        """One look: cancellations, signs of life, recovery, and ``also``."""
        try:
            self.runner.cancel_requested()
            now = time.monotonic()
            # During an outage every look tries the catalog (a sign of life), so that its
            # end is seen at once, and only on a write that went through.
            if self.outage.since is not None or now - self.last_beat >= self.interval:
                self.last_beat = now
                self.runner.store.beat_worker(self.runner.worker_id)
                self.runner.beat()
            if self.outage.since is not None:
                # The catalog answers again: what the outage left unsettled is settled now.
                self.outage.ended()
                self.last_recovery = 0.0
            if now - self.last_recovery >= self.recover_every:
                self.last_recovery = now
                self.runner.recover()
            if self.also:
                self.also()
        except CATALOG_DOWN as exc:  # a catalog down must not stop the heartbeat
            self.outage.failed(exc)
        except Exception:  # noqa: BLE001 - anything else: said in full, the heartbeat goes on
            log.exception("heartbeat")


class Worker:
    """`isnad worker`: takes jobs from the queue until stopped."""

    def __init__(self, settings: Settings, archive: Archive, *, concurrency: int | None = None,
                 burst: bool = False) -> None:
        self.settings = settings
        self.archive = archive
        self.concurrency = concurrency or settings.worker.concurrency
        self.burst = burst
        self.store = JobStore(archive.catalog)
        self.host = settings.machine()
        self.id = worker_id("worker", self.host)
        self.runner = JobRunner(settings, archive, self.store, self.id, requeue=self._put,
                                warm=settings.worker.warm_processes)
        self.queue = CaptureQueue(settings, run_job=self._run_job)
        self.active = 0  # jobs taken from the queue and not yet ended
        self._idle_looks = 0
        self._active_lock = threading.Lock()
        self._queue_lost = False  # the queue could not be reached at the last look
        self._last_reconcile = time.monotonic()
        self._incarnation: str | None = None  # the queue server's run, as last seen

    def _put(self, row: JobRow) -> None:
        # The job is QUEUED in the catalog: when the queue cannot take its message, the next
        # reconcile (when the queue is back) gives it one. Nothing is lost; it waits.
        if not self.queue.offer(row.id, row.priority):
            self._queue_lost = True

    def _run_job(self, job_id: str) -> None:
        with self._active_lock:
            self.active += 1
        try:
            self.runner.run(job_id)
        finally:
            with self._active_lock:
                self.active -= 1

    def reconcile(self) -> int:
        """Queue again every queued job the queue does not hold (its message was lost with
        a worker that died after taking it). A duplicate message is harmless: the claim
        decides. Raises :class:`QueueUnavailable` when the queue cannot be reached."""
        waiting = self.queue.pending_ids()
        lost = [row for row in self.store.list((JobState.QUEUED,)) if row.id not in waiting]
        for row in lost:
            self.queue.put(row.id, row.priority)
        return len(lost)

    def run(self) -> None:
        """Run until SIGTERM (drain), SIGINT (hand back at once), or an empty queue with
        ``burst``."""
        self.store.register_worker(self.id, "worker", self.host, os.getpid(),
                                   self.concurrency)
        if self.runner.warm is not None:
            self.runner.warm.start()  # importing beside the recovery, before the first job
        recovered = self.runner.recover()
        resume_uploads(self.archive)
        try:
            self._incarnation = self.queue.incarnation()
            lost = self.reconcile()
        except QueueUnavailable as exc:
            # Started during a queue outage: the consumer waits for it, the heartbeat
            # reconciles when it is back.
            self._queue_lost, lost = True, 0
            log.warning("worker %s: %s; waiting for it", self.id, exc)
        log.info("worker %s: %d job(s) of dead workers queued again, %d lost message(s) "
                 "restored", self.id, len(recovered), lost)
        consumer = self.queue.huey.create_consumer(
            workers=self.concurrency, worker_type="thread", periodic=False, initial_delay=0.1,
            backoff=1.15, max_delay=1.0, graceful_signal="TERM",
            shutdown_timeout=self.settings.worker.drain_timeout, check_worker_health=True)
        self.queue.huey.signal(huey_signals.SIGNAL_INTERRUPTED)(self._interrupted)
        for name in HUEY_LOGGERS:
            logging.getLogger(name).addFilter(QuietOutage())
        heartbeat = Heartbeat(self.runner, self.settings.worker.heartbeat,
                              also=self._look_at_queue)
        heartbeat.start()
        try:
            consumer.run()
        finally:
            heartbeat.stopped.set()
            # Anything still running here (a hard stop) goes back to the queue.
            left = list(self.runner.running)
            if left:
                self.runner.hand_back(left, "the worker stopped before the job finished")
            self.runner.close()
            self.store.stop_worker(self.id)

    def _interrupted(self, signal_name: str, task: object) -> None:
        job_id = getattr(task, "args", (None,))[0]
        if job_id:
            log.warning("job %s handed back to the queue: the worker is stopping", job_id)
            self.runner.hand_back([job_id], "the worker stopped before the job finished")

    def _look_at_queue(self) -> None:
        """On each heartbeat tick: after a queue outage or a restart of its server (or now
        and then), give a message again to every queued job the queue lost; with
        ``burst``, stop when all is done."""
        now = time.monotonic()
        try:
            incarnation = self.queue.incarnation()
            restarted = incarnation != self._incarnation
            if (self._queue_lost or restarted
                    or now - self._last_reconcile >= RECONCILE_EVERY):
                restored = self.reconcile()
                if self._queue_lost or restarted or restored:
                    log.warning("the queue answers again: %d lost message(s) restored",
                                restored)
                self._queue_lost, self._incarnation = False, incarnation
                self._last_reconcile = now
        except QueueUnavailable as exc:
            if not self._queue_lost:
                log.warning("%s; running jobs go on, new ones wait for it", exc)
            self._queue_lost = True
            return
        if self.burst:
            self._burst_check()

    def _burst_check(self) -> None:
        with self._active_lock:
            busy = self.active
        # Idle on two looks a second apart: a message taken from the queue a moment ago is
        # being started, not lost.
        self._idle_looks = 0 if busy or self.queue.waiting() else self._idle_looks + 1
        if self._idle_looks == 2:
            log.info("queue empty: the worker stops (--burst)")
            os.kill(os.getpid(), signal.SIGTERM)  # the consumer's own graceful stop


class LocalRun:
    """`isnad capture` with no worker up: its own jobs, N at a time, in this process."""

    def __init__(self, settings: Settings, archive: Archive, concurrency: int, *,
                 requeue: Callable[[JobRow], None], warm: bool = False) -> None:
        self.settings = settings
        self.store = JobStore(archive.catalog)
        self.id = worker_id("capture", settings.machine())
        self.offer = requeue
        self.runner = JobRunner(settings, archive, self.store, self.id, requeue=self._requeue,
                                warm=warm)
        self.pool = ThreadPoolExecutor(concurrency, thread_name_prefix="isnad-job")
        self.futures: dict[str, Future] = {}
        self.closed = False
        self.concurrency = concurrency
        self.heartbeat = Heartbeat(self.runner, settings.worker.heartbeat)

    def start(self, rows: list[JobRow]) -> None:
        self.store.register_worker(self.id, "capture", self.settings.machine(), os.getpid(),
                                   self.concurrency)
        self.heartbeat.start()
        self.runner.recover()  # jobs a dead worker (or a killed `capture`) left running
        resume_uploads(self.runner.archive)
        for row in sorted(rows, key=lambda r: -r.priority):  # stable: submission order
            self.futures[row.id] = self.pool.submit(self.runner.run, row.id)

    def _requeue(self, row: JobRow) -> None:
        # One of this command's jobs queued again (its capture process ended because the
        # catalog could not record it): run here again, since `capture` waits for it and no
        # worker may come. The queue gets its message too; the claim decides who runs it.
        self.offer(row)
        if row.id in self.futures and not self.closed:
            self.futures[row.id] = self.pool.submit(self.runner.run, row.id)

    def abandon(self) -> tuple[list[str], list[str]]:
        """Ctrl-C: jobs not started stay queued (a worker will run them); running ones are
        stopped and failed. Returns (still queued, abandoned)."""
        queued = [job_id for job_id, f in self.futures.items() if f.cancel()]
        running = list(self.runner.running)
        for job_id in running:
            self.runner.handed_back.add(job_id)
            attempt = self.runner.running.get(job_id)
            if attempt is not None:
                self.runner.stop_process(attempt, grace=2.0)
        self.runner.settle_dead_captures()
        for job_id in running:
            row = self.store.get(job_id)
            self.store.finish(job_id, row.attempts, JobState.FAILED, error=(
                "abandoned: the capture was interrupted (Ctrl-C)"), outcome={
                "outcome": "abandoned"})
            forget_secret(self.settings.home / "secrets", job_id)
        return queued, running

    def close(self) -> None:
        self.closed = True
        self.heartbeat.stopped.set()
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.runner.close()
        self.store.stop_worker(self.id)
