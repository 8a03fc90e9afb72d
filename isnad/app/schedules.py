"""`isnad scheduler`: the housekeeping schedules, and the service every schedule runs in.

Housekeeping (each on by default, each set in ``[schedules]``): a fixity audit of a random
sample, retrying pending timestamps, syncing pending uploads, and anchoring custody heads (only
when a TSA is configured). Each tick opens the archive afresh, runs the same use case as the
matching command (``isnad audit --sample``, ``timestamp --pending``, ``storage sync``, ``custody
anchor``), and its outcome is logged and kept in the catalog (``schedule_runs``); a failing one
is logged loudly and tried again at its next tick, and the service carries on.

Monitors are schedules of kind ``monitor`` (``monitor:ID``), kept in step with the catalog's
monitors every ``MONITOR_SYNC`` seconds: a tick queues a run of the monitor (a worker captures
it), spaced from other runs against the same host; a paused or flagged monitor is not run.

Several schedulers (on several machines) may run at once: exactly one fires schedules, the
holder of the ``schedules`` lease in the catalog (:class:`scheduler.state.Lease`, renewed on
every heartbeat); the others stand by and one takes over when the lease expires (its holder
died) or is released (it stopped). The run ledger still claims each tick once, should two ever
both believe they lead (a holder that lost the catalog for longer than the lease).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from archiver.archive import process_alive
from archiver.jobs import JobStore
from isnad.app.alerts import AlertCourier
from isnad.app.archive import configured_tsas, open_archive
from isnad.app.audit import audit_fixity, plan_audit
from isnad.app.monitors import list_monitors, monitor_due, start_run
from isnad.app.outage import CATALOG_DOWN, CatalogOutage
from isnad.app.proof import anchor_custody, retry_timestamps
from isnad.app.storage import sync_storage
from isnad.app.worker import live_workers, worker_id
from isnad.config import HousekeepingSchedule, Settings
from scheduler.service import Outcome, Schedules, When, wait_until_stopped
from scheduler.state import Backoff, HostSpacing, Lease

log = logging.getLogger("isnad.scheduler")

HOUSEKEEPING = "housekeeping"
MONITOR = "monitor"
MONITOR_SYNC = 30.0  # seconds between looks at the catalog's monitors
LEASE = "schedules"  # the lease whose holder fires the schedules


def _when(schedule: HousekeepingSchedule, default: When) -> When:
    if schedule.cron:
        return When(cron=schedule.cron)
    if schedule.every:
        return When(every=schedule.every)
    return default


def housekeeping_plan(settings: Settings) -> dict[str, When]:
    """The housekeeping schedules the settings ask for: ``housekeeping:NAME`` → timing."""
    section = settings.schedules
    if not section.enabled:
        return {}
    wanted = {"audit": (section.audit, When(cron="0 3 * * *")),
              "timestamps": (section.timestamps, When(every=3600.0)),
              "sync": (section.sync, When(every=900.0))}
    if configured_tsas(settings):  # anchoring needs a TSA; without one it has nothing to do
        wanted["anchor"] = (section.anchor, When(cron="30 3 * * *"))
    return {f"{HOUSEKEEPING}:{name}": _when(schedule, default)
            for name, (schedule, default) in wanted.items() if schedule.enabled}


class Housekeeping:
    """The housekeeping runs: each says in one line what it did, and whether all went well."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.actor = f"{settings.effective_operator()} (isnad scheduler)"
        self.lock = threading.Lock()
        self.runs: dict[str, Callable[[], Outcome]] = {
            "audit": self.audit, "timestamps": self.timestamps, "sync": self.sync,
            "anchor": self.anchor}

    def __call__(self, schedule_id: str) -> Outcome:
        # One at a time: an audit, a late timestamp and a sync each append custody events to
        # the same captures, and two appending to one chain at once break it (seen: a
        # duplicate event number, then a head that no longer matches its chain).
        with self.lock:
            return self.runs[schedule_id.split(":", 1)[1]]()

    def _archive(self):  # noqa: ANN202 - archiver.archive.Archive
        # A fresh archive per run: runs go on in pool threads, and never share sessions.
        return open_archive(self.settings, recover=False)

    def audit(self) -> Outcome:
        archive = self._archive()
        plan = plan_audit(archive, sample=self.settings.schedules.audit_sample)
        if not plan.rows:
            return True, "fixity audit: nothing stored to audit yet"
        report = audit_fixity(archive, plan, self.actor)
        bad = [f"{f.capture_id} on {f.target}: {f.detail}" for f in report.findings
               if not f.ok]
        bad += [f"{cid}: {'; '.join(p)}" for cid, p in report.custody_problems.items() if p]
        return report.ok, (f"fixity audit of {len({f.capture_id for f in report.findings})} "
                           f"capture(s), report {report.report_path}"
                           + (f"; PROBLEMS: {' | '.join(bad)}" if bad else ": all intact"))

    def timestamps(self) -> Outcome:
        result = retry_timestamps(self._archive(), self.settings, self.actor)
        text = f"timestamps: {len(result.obtained)} obtained, {len(result.still_pending)} " \
               "still pending"
        if result.still_pending:
            text += ": " + " | ".join(result.still_pending)
        return not result.still_pending, text

    def sync(self) -> Outcome:
        report = sync_storage(self._archive())
        text = f"storage sync: {len(report.stored)} stored, {len(report.still_pending)} " \
               f"still pending, {len(report.errors)} error(s)"
        if report.errors:
            text += ": " + " | ".join(report.errors)
        return not (report.errors or report.still_pending), text

    def anchor(self) -> Outcome:
        report = anchor_custody(self._archive(), self.settings)
        text = f"custody anchors: {len(report.anchored)} anchored"
        if report.problems:
            text += f", {len(report.problems)} not: " + " | ".join(report.problems)
        return not report.problems, text


class MonitorRuns:
    """A monitor's tick: a run of it queued, at least ``schedules.host_spacing`` seconds after
    the last run against the same host (across schedulers)."""

    def __init__(self, settings: Settings, spacing: HostSpacing, stop: threading.Event) -> None:
        self.settings = settings
        self.spacing = spacing
        self.stop = stop
        section = settings.schedules
        self.backoff = Backoff(section.backoff, section.backoff_max, section.flag_after)

    def __call__(self, schedule_id: str) -> Outcome:
        monitor_id = schedule_id.split(":", 1)[1]
        archive = open_archive(self.settings, recover=False)
        monitor = monitor_due(self.settings, archive, monitor_id)
        if monitor is None or monitor.paused or monitor.flagged:
            state = "gone" if monitor is None else "paused" if monitor.paused else "flagged"
            return True, f"monitor {monitor_id} is {state}: not run"
        # A monitor whose runs keep failing is run less often (exponential backoff), until
        # it is flagged for a person to look at (see isnad.app.monitors).
        wait = self.backoff.delay(monitor.failures)
        if wait and monitor.last_run_at and (
                datetime.now(UTC) - monitor.last_run_at).total_seconds() < wait:
            return True, (f"monitor {monitor_id} backs off after {monitor.failures} failed "
                          f"run(s): next run {wait:.0f} s after the last")
        delay = self.spacing.wait_for(urlsplit(monitor.url).hostname or "")
        if delay and self.stop.wait(delay):
            return True, "the scheduler is stopping: run not queued"
        run_id = start_run(self.settings, archive, monitor_id)
        return True, f"run {run_id} of {monitor.url} queued" + (
            f" (after {delay:.0f} s of host spacing)" if delay else "")


def monitor_plan(settings: Settings, archive: object) -> dict[str, When]:
    """The schedules the catalog's monitors want: each active, unflagged monitor's timing."""
    plan = {}
    for monitor in list_monitors(settings, archive, include_paused=False):
        if monitor.flagged:
            continue
        # The monitor's own --jitter, when given (0: the scheduler's schedules.jitter).
        jitter = float(monitor.jitter) if monitor.jitter else None
        when = When(cron=monitor.cron, jitter=jitter) if monitor.cron else When(
            every=float(monitor.every or 3600), jitter=jitter)
        plan[f"{MONITOR}:{monitor.id}"] = when
    return plan


class LocalWorker:
    """`isnad scheduler --worker N`: an `isnad worker` beside the scheduler, so that one command
    runs everything on one machine (the schedules queue runs, this worker captures them).

    A process of its own, as any worker: a capture never shares the scheduler's process; it
    dies with the scheduler (a SIGTERM from the kernel if the scheduler is killed), is drained
    like any worker when the scheduler stops, and is started again if it exits on its own."""

    def __init__(self, settings: Settings, concurrency: int, config: Path | None) -> None:
        self.settings = settings
        self.command = [sys.executable, "-m", "isnad.cli",
                        *(["--config", str(config)] if config else []),
                        "worker", "--concurrency", str(concurrency)]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.command, preexec_fn=_terminate_with_parent)
        log.info("worker process %d started beside the scheduler", self.process.pid)

    def check(self) -> None:
        """Start it again if it ended (a crash, or killed by someone)."""
        if self.process is not None and self.process.poll() is not None:
            log.error("the worker beside the scheduler exited with status %s; starting "
                      "another", self.process.returncode)
            self.start()

    def stop(self) -> None:
        """Drain it (SIGTERM: its captures get worker.drain_timeout seconds) and wait."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(self.settings.worker.drain_timeout + 30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _terminate_with_parent() -> None:
    """In the worker process, before it runs: SIGTERM when the scheduler dies (Linux)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class QuietCatalogOutage(logging.Filter):
    """APScheduler says a failed read of its job table in a warning of several lines (the
    database error in full), or a tick that raised with a traceback: during a catalog
    outage, which the scheduler says once itself, those are dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        error = record.exc_info[1] if record.exc_info else None
        return not any(isinstance(a, CATALOG_DOWN) for a in (*args, error))


APSCHEDULER_LOGGERS = ("apscheduler.scheduler", "apscheduler.executors.default")


class SchedulerService:
    """`isnad scheduler`: fires the schedules until SIGTERM or SIGINT."""

    def __init__(self, settings: Settings, local_worker: LocalWorker | None = None) -> None:
        self.settings = settings
        self.local_worker = local_worker
        archive = open_archive(settings, recover=False)
        self.archive = archive  # read by sync_monitors, in this thread only
        self.store = JobStore(archive.catalog)
        self.id = worker_id("scheduler", settings.machine())
        section = settings.schedules
        self.schedules = Schedules(
            archive.catalog.engine, self.id, jitter=section.jitter,
            misfire_grace=section.misfire_grace, threads=section.threads,
            backoff=Backoff(section.backoff, section.backoff_max, section.flag_after),
            said_by=self._catalog_down)
        self.schedules.handle(HOUSEKEEPING, Housekeeping(settings))
        self.stop = threading.Event()
        self.schedules.handle(MONITOR, MonitorRuns(
            settings, HostSpacing(archive.catalog.engine, section.host_spacing), self.stop))
        self._monitors_synced = 0.0
        self.lease = Lease(archive.catalog.engine, LEASE, section.lease)
        self.leading = False
        # Leading, but not firing: the lease could not be renewed (the catalog is down). No
        # tick fires until it is renewed (and then, the schedules due meanwhile fire once).
        self.suspended = False
        self._lease_until = 0.0  # monotonic moment our lease runs out, unless renewed
        # One outage, said once by the heartbeat and the alert courier together.
        self.outage = CatalogOutage(
            f"scheduler {self.id}", meanwhile="no schedule fires and no alert is delivered "
            "until it answers (the schedules due meanwhile fire then, once)", logger=log)

    def _catalog_down(self, exc: Exception) -> bool:
        """An error APScheduler's loop or a tick met: a catalog outage is said once (the
        heartbeat stops the firing within a second); anything else is logged where met."""
        if not isinstance(exc, CATALOG_DOWN):
            return False
        self.outage.failed(exc)
        return True

    def _stop(self, signum: int, frame: object) -> None:
        log.info("scheduler %s: %s received, stopping after the runs under way", self.id,
                 signal.Signals(signum).name)
        self.stop.set()

    def sync_monitors(self) -> None:
        """Schedules for the catalog's monitors as they are now (added, changed, paused,
        flagged or removed since the last look)."""
        plan = monitor_plan(self.settings, self.archive)
        # Only what changed since the last look is written to the job table.
        _, dropped = self.schedules.sync(MONITOR, plan)
        if dropped:
            log.info("schedules of monitors no longer active removed: %s", ", ".join(dropped))
        self._monitors_synced = time.monotonic()

    def settle_interrupted(self) -> None:
        """Ticks left claimed and unsettled by a scheduler that is gone (killed mid-tick):
        recorded ``interrupted`` and logged, so none stays half-recorded."""
        alive = {w.id for w in live_workers(self.store, self.settings, ("scheduler",))}
        for row in self.schedules.ledger.settle_interrupted(alive | {self.id}):
            log.warning("schedule %s (due %s): scheduler %s stopped during the tick; recorded "
                        "as interrupted", row.schedule_id, row.due_at.isoformat(), row.holder,
                        extra={"schedule": row.schedule_id})

    def _take_charge(self) -> None:
        """Lead: the housekeeping plan registered, schedules fired, monitors synced."""
        plan = housekeeping_plan(self.settings)
        for schedule_id, when in plan.items():
            self.schedules.register(schedule_id, when)
        self.schedules.keep_only(HOUSEKEEPING, set(plan))
        self.schedules.resume()
        self.leading, self.suspended = True, False
        log.info("scheduler %s leads (lease %r): %s", self.id, LEASE,
                 ", ".join(f"{i} ({w.describe()})" for i, w in plan.items()) or
                 "no housekeeping schedule")
        self.sync_monitors()
        self.settle_interrupted()

    def _stand_by(self, why: str) -> None:
        """Stop firing (runs under way finish); another scheduler leads."""
        self.schedules.scheduler.pause()
        self.leading = self.suspended = False
        log.warning("scheduler %s stands by: %s", self.id, why)

    def _suspend(self) -> None:
        """The lease could not be renewed: stop firing at once (runs under way finish).
        Another scheduler may take the lease once it runs out, and this one cannot know:
        were it to fire meanwhile, two would lead. Its lease run out, it stands by."""
        if not self.leading:
            return
        if not self.suspended:
            self.schedules.scheduler.pause()
            self.suspended = True
        if time.monotonic() >= self._lease_until:
            self._stand_by("its lease ran out unrenewed")

    def _contend(self) -> None:
        """Take or renew the lease; lead while it is held, stand by when it is not."""
        start = time.monotonic()
        try:
            held = self.lease.hold(self.id) or self._holder_died_here()
        except CATALOG_DOWN:
            self._suspend()
            raise  # said by the heartbeat, once per outage
        except Exception:  # noqa: BLE001 - anything else: said in full, judged below
            log.exception("scheduler %s: the lease could not be renewed", self.id)
            held = None
        if held:
            self._lease_until = start + self.settings.schedules.lease
            if not self.leading:
                self._take_charge()
            elif self.suspended:  # renewed after an outage: what fell due fires now
                self.schedules.resume()
                self.suspended = False
        elif self.leading and held is False:
            holder = self.lease.current()
            self._stand_by(f"the lease went to {holder.holder}" if holder else
                           "its lease ran out unrenewed")
        elif self.leading:
            self._suspend()

    def _holder_died_here(self) -> bool:
        """A scheduler restarted after a crash on this machine need not wait for its dead
        predecessor's lease to expire: its process is seen gone, the lease taken over."""
        current = self.lease.current()
        if current is None:
            return False
        kind, _, rest = current.holder.partition(":")
        host, _, pid = rest.rpartition(":")[0].rpartition(":")
        if (kind != "scheduler" or host != self.settings.machine() or not pid.isdigit()
                or int(pid) == os.getpid() or process_alive(int(pid))):
            return False
        if self.lease.take_over(current.holder, self.id):
            log.warning("scheduler %s: the lease's holder %s is dead on this machine; taken "
                        "over", self.id, current.holder)
            return True
        return False

    def _beat(self) -> None:
        """Signs of life and the lease, every heartbeat. A catalog that cannot be reached is
        said once when the outage starts and once when it ends (CatalogOutage), and no tick
        fires meanwhile: the lease cannot be renewed."""
        if self.local_worker is not None:
            self.local_worker.check()
        try:
            self.store.beat_worker(self.id)
            self._contend()
        except Exception as exc:
            self._suspend()  # not renewed this time: not firing either
            if not isinstance(exc, CATALOG_DOWN):
                raise  # said in full by the heartbeat loop
            self.outage.failed(exc)
            return
        # Ticks that ended while the catalog was down have their outcomes recorded now.
        self.schedules.settle_owed()
        try:
            if (self.leading and not self.suspended
                    and time.monotonic() - self._monitors_synced >= MONITOR_SYNC):
                self.sync_monitors()
                self.settle_interrupted()
        except CATALOG_DOWN as exc:  # gone since the lease was renewed: said once
            self.outage.failed(exc)
            return
        self.outage.ended()

    def run(self) -> None:
        """Register, fire schedules until a signal, then let running ones finish."""
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for name in APSCHEDULER_LOGGERS:
            logging.getLogger(name).addFilter(QuietCatalogOutage())
        self.store.register_worker(self.id, "scheduler", self.settings.machine(), os.getpid(),
                                   self.settings.schedules.threads)
        courier: AlertCourier | None = None
        try:
            if self.local_worker is not None:
                self.local_worker.start()
            self.schedules.start()
            # Alerts go out from a thread of their own: a slow webhook never delays a tick.
            # Every scheduler runs one (each alert is taken with a lease of its own). Made
            # before "started" is said: it opens the catalog, and from then on an outage is
            # ridden out, not fatal.
            courier = AlertCourier(self.settings, self.stop, outage=self.outage)
            self._contend()
            if not self.leading:
                holder = self.lease.current()
                log.info("scheduler %s started: standing by while %s holds the lease %r",
                         self.id, holder.holder if holder else "another", LEASE)
            else:
                log.info("scheduler %s started", self.id)
            courier.start()
            wait_until_stopped(self.stop, self.settings.worker.heartbeat, self._beat)
        finally:
            self.stop.set()
            if self.local_worker is not None:
                self.local_worker.stop()
            if courier is not None and courier.is_alive():  # started
                courier.join(self.settings.alerts.timeout + 5)
            self.schedules.shutdown(wait=True)
            if self.leading:
                self.lease.release(self.id)  # the next need not wait for it to expire
            self.store.stop_worker(self.id)
            log.info("scheduler %s stopped", self.id)
