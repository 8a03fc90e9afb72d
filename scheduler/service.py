"""The scheduler service: APScheduler 3 with its job store in the catalog database.

A schedule has a stable id, ``KIND:NAME`` (``housekeeping:audit``, next ``monitor:ID``); the
handler registered for ``KIND`` runs it. Schedules live in APScheduler's own table
(``apscheduler_jobs``) in the catalog database, so they survive restarts; registering one again
with the same timing keeps its next run time (a restart does not push a daily audit back by a
day), a changed timing replaces it, and ``keep_only`` removes those no longer configured.

What APScheduler 3 does *not* guarantee: it does not support two schedulers sharing one job
store. Each reads the due jobs from the table and runs them; two that wake at the same moment
can both read the same due job before either writes its next run time. So every tick is
*claimed* first in the catalog (:class:`scheduler.state.RunLedger`: a unique row per schedule
and due time); the scheduler whose insert fails skips the tick. The due time used is the one
stored in the job table (the same for every scheduler that reads it), not the coalesced
run time each computes with its own jitter.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, select

from scheduler.state import Backoff, FailureRecord, Health, RunLedger, create_tables

log = logging.getLogger("isnad.scheduler")

JOBS_TABLE = "apscheduler_jobs"

# A handler runs one tick of a schedule and says in one line what it did. It raises when the
# run failed; it returns (False, detail) when it ran but left problems (counted as a failure).
Outcome = tuple[bool, str]
Handler = Callable[[str], Outcome]


@dataclass(frozen=True)
class When:
    """A schedule's timing: every ``every`` seconds, or a crontab line (UTC); ``jitter``:
    this schedule's own spread in seconds (None: the scheduler's)."""

    every: float | None = None
    cron: str | None = None
    jitter: float | None = None

    def __post_init__(self) -> None:
        if (self.every is None) == (self.cron is None):
            raise ValueError("a schedule has either an interval or a cron line, not both")
        if self.cron is not None:
            CronTrigger.from_crontab(self.cron, timezone=UTC)  # raises ValueError when bad

    def describe(self) -> str:
        # The jitter is part of the description: a changed jitter replaces the stored trigger.
        timing = f"cron {self.cron}" if self.cron is not None else f"every {self.every:g}s"
        return timing + (f", jitter {self.jitter:g}s" if self.jitter is not None else "")

    def trigger(self, jitter: float) -> IntervalTrigger | CronTrigger:
        """The APScheduler trigger, with the schedule's own jitter as given, or else the
        scheduler's ``jitter`` seconds of spread (at most a tenth of an interval, so a short
        interval keeps its meaning)."""
        if self.cron is not None:
            return _cron(self.cron, jitter if self.jitter is None else self.jitter)
        assert self.every is not None
        spread = (min(jitter, self.every / 10) if self.jitter is None else self.jitter) or None
        return IntervalTrigger(seconds=self.every, jitter=spread, timezone=UTC)


def _cron(line: str, jitter: float) -> CronTrigger:
    """A crontab line (UTC) with jitter (``CronTrigger.from_crontab`` takes none)."""
    minute, hour, day, month, day_of_week = line.split()
    return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=day_of_week,
                       timezone=UTC, jitter=jitter or None)


class _Tick:
    """What APScheduler's ``run_job`` reads of a job: here it calls the scheduler that took
    the tick, with the due time read from the job table (the claim key)."""

    def __init__(self, job: Any, service: Schedules) -> None:
        self.id = job.id
        self.func = service.run
        self.args = (job.id,)
        self.kwargs = {"due_at": job.next_run_time}
        self.misfire_grace_time = job.misfire_grace_time
        self._jobstore_alias = job._jobstore_alias
        self._name = str(job)

    def __str__(self) -> str:
        return self._name


class _TickExecutor(ThreadPoolExecutor):
    """APScheduler's thread pool, running each tick in its own :class:`Schedules`.

    ``_do_submit_job`` runs before the scheduler writes the job's next run time, so
    ``job.next_run_time`` is still the value every scheduler read (apscheduler 3.11, pinned;
    ``tests/test_schedules.py`` fails if that changes)."""

    def __init__(self, threads: int, service: Schedules) -> None:
        super().__init__(threads)
        self.service = service

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        super()._do_submit_job(_Tick(job, self.service), run_times)


class _Scheduler(BackgroundScheduler):
    """APScheduler's background scheduler, whose loop survives a job table that cannot be
    written. ``_process_jobs`` catches a failed read of the due jobs, but not a failed write
    of a job's next run time (the catalog gone between the two): that ended the scheduler's
    thread, and no schedule fired again until a restart. The look is made again later; a tick
    handed out whose next run time was not written is refused by the run ledger the second
    time (the same due time)."""

    said_by: Callable[[Exception], bool] | None = None  # see Schedules(said_by=...)

    def _process_jobs(self) -> float | None:
        try:
            return super()._process_jobs()
        except Exception as exc:  # noqa: BLE001 - the loop must go on
            if self.said_by is None or not self.said_by(exc):
                log.warning("schedules: the job table could not be written (%s: %s); looked at "
                            "again in %d s", type(exc).__name__,
                            (str(exc).splitlines() or [""])[0][:200],
                            self.jobstore_retry_interval)
            return float(self.jobstore_retry_interval)


def fire(schedule_id: str, spec: str = "") -> None:
    """What the job table names as every schedule's function (``scheduler.service:fire``).
    :class:`Schedules` runs ticks itself (``_TickExecutor``); this is reached only when some
    other APScheduler opens the table."""
    log.error("schedule %s fired outside an Isnad scheduler: ignored", schedule_id)


class Schedules:
    """The schedules of one catalog database, fired by APScheduler."""

    def __init__(self, engine: Engine, holder: str, *, jitter: float = 30.0,
                 misfire_grace: float = 3600.0, threads: int = 4,
                 backoff: Backoff | None = None, keep_runs: timedelta = timedelta(days=90),
                 said_by: Callable[[Exception], bool] | None = None) -> None:
        """``said_by(error)``: called with an error of the catalog met while looking for due
        ticks or claiming one; True when it was said there (a catalog outage, said once by
        the service), else it is logged here."""
        self.engine = engine
        self.holder = holder
        self.jitter = jitter
        self.ledger = RunLedger(engine)
        self.failures = FailureRecord(engine, backoff)
        self.handlers: dict[str, Handler] = {}
        self.keep_runs = keep_runs
        # The timing this service last registered or found stored, per schedule id: what
        # :meth:`sync` compares a plan with, instead of unpickling every job each time.
        self._known: dict[str, str] = {}
        self.jobstore = SQLAlchemyJobStore(engine=engine, tablename=JOBS_TABLE)
        self.scheduler = _Scheduler(
            jobstores={"default": self.jobstore},
            executors={"default": _TickExecutor(threads, self)},
            job_defaults={"coalesce": True, "max_instances": 1,
                          "misfire_grace_time": int(misfire_grace)},
            timezone=UTC)
        self.said_by = said_by
        self.scheduler.said_by = said_by
        # Outcomes of ticks that ended while the catalog could not be written, to record.
        self._owed: list[tuple[str, datetime, str, str | None]] = []
        self._owed_lock = threading.Lock()

    # -- what runs ---------------------------------------------------------------------------
    def handle(self, kind: str, handler: Handler) -> None:
        """Run ``handler(schedule_id)`` for each tick of every ``KIND:...`` schedule."""
        self.handlers[kind] = handler

    def start(self) -> None:
        """Open the job store (paused: no tick fires until :meth:`resume`)."""
        # Two schedulers starting at once on a new catalog: the loser finds it made.
        create_tables(self.engine, [self.jobstore.jobs_t])
        self.scheduler.start(paused=True)
        self.ledger.prune(self.keep_runs)

    def resume(self) -> None:
        self.scheduler.resume()

    def shutdown(self, wait: bool = True) -> None:
        """Stop firing; with ``wait``, runs under way finish first (nothing left half-done)."""
        if self.scheduler.running:
            self.scheduler.pause()
            self.scheduler.shutdown(wait=wait)

    # -- the schedules -----------------------------------------------------------------------
    def register(self, schedule_id: str, when: When) -> bool:
        """Keep ``schedule_id`` firing on ``when``. An existing schedule with the same timing
        is kept as it is (with its next run time); True when it was added or replaced."""
        spec = when.describe()
        existing = self.scheduler.get_job(schedule_id)
        if existing is not None and existing.kwargs.get("spec") == spec:
            self._known[schedule_id] = spec
            return False
        self.scheduler.add_job(fire, when.trigger(self.jitter), id=schedule_id,
                               name=schedule_id, args=[schedule_id], kwargs={"spec": spec},
                               replace_existing=True)
        self._known[schedule_id] = spec  # only once stored: a failed write is tried again
        log.info("schedule %s: %s", schedule_id, spec)
        return True

    def sync(self, kind: str, plan: dict[str, When]) -> tuple[list[str], list[str]]:
        """Make the ``KIND:...`` schedules be ``plan`` (id → timing); (ids added or
        replaced, ids removed). Called every 30 s with a thousand monitors, so what is
        unchanged costs nothing: one query reads the ids in the job table, and only an id
        missing from it, or whose timing differs from the one this service last saw for it,
        is looked up and registered (:meth:`register` keeps a job whose stored timing is
        the same). Safe beside another scheduler syncing the same plan: a job it removed
        first is no error here."""
        stored = self._stored_ids(kind)
        changed = [schedule_id for schedule_id, when in plan.items()
                   if (schedule_id not in stored
                       or self._known.get(schedule_id) != when.describe())
                   and self.register(schedule_id, when)]
        gone = sorted(stored - set(plan))
        for schedule_id in gone:
            with contextlib.suppress(JobLookupError):  # another scheduler removed it first
                self.scheduler.remove_job(schedule_id)
            self._known.pop(schedule_id, None)
            log.info("schedule %s removed: no longer configured", schedule_id)
        return changed, gone

    def _stored_ids(self, kind: str) -> set[str]:
        """The ids of the ``KIND:...`` schedules in the job table (no job unpickled)."""
        table = self.jobstore.jobs_t
        with self.engine.connect() as conn:
            ids = conn.execute(select(table.c.id).where(
                table.c.id.like(kind + ":%"))).scalars()
            return {i for i in ids if i.startswith(kind + ":")}

    def keep_only(self, kind: str, wanted: set[str]) -> list[str]:
        """Remove the ``KIND:...`` schedules not in ``wanted``; their ids."""
        gone = [job.id for job in self.scheduler.get_jobs()
                if job.id.startswith(kind + ":") and job.id not in wanted]
        for schedule_id in gone:
            self.scheduler.remove_job(schedule_id)
            log.info("schedule %s removed: no longer configured", schedule_id)
        return gone

    def ids(self) -> list[str]:
        return sorted(job.id for job in self.scheduler.get_jobs())

    def next_run(self, schedule_id: str) -> datetime | None:
        job = self.scheduler.get_job(schedule_id)
        return job.next_run_time if job else None

    # -- one tick ----------------------------------------------------------------------------
    def run(self, schedule_id: str, due_at: datetime | None) -> Health | None:
        """Run one tick, once across schedulers; the outcome is logged and kept. Never
        raises: a failing run is retried at the next tick."""
        due = due_at or datetime.now(UTC).replace(microsecond=0)
        try:
            claimed = self.ledger.claim(schedule_id, due, self.holder)
        except Exception as exc:  # noqa: BLE001 - the catalog went away as the tick came
            # Not claimed, so not run: the schedule runs at its next tick (a tick is never
            # run without its ledger row, which is what keeps it to one scheduler).
            if self.said_by is not None and self.said_by(exc):
                return None
            log.warning("schedule %s (due %s): not run, its run could not be recorded "
                        "(%s: %s); it runs at its next tick", schedule_id, due.isoformat(),
                        type(exc).__name__, (str(exc).splitlines() or [""])[0][:200])
            return None
        if not claimed:
            log.info("schedule %s (due %s): already run by another scheduler", schedule_id,
                     due.isoformat())
            return None
        self.settle_owed()
        handler = self.handlers.get(schedule_id.split(":", 1)[0])
        error: Exception | None = None
        try:
            if handler is None:
                raise LookupError(f"no handler for the schedule kind of {schedule_id}")
            ok, detail = handler(schedule_id)
            outcome = "ok" if ok else "problems"
        except Exception as exc:  # noqa: BLE001 - a failing schedule must not stop the service
            error, outcome, detail = exc, "failed", f"{type(exc).__name__}: {exc}"
        health = self._record_or_owe(schedule_id, due, outcome, detail)
        extra = {"schedule": schedule_id, "due": due.isoformat()}
        if outcome == "ok":
            log.info("schedule %s ran: %s", schedule_id, detail, extra=extra)
            return health
        counted = (f"{health.failures} in a row{', flagged' if health.flagged else ''}"
                   if health is not None else "not yet counted")
        if error is not None:
            # A tick that failed because the catalog went away: the outage is said once by
            # the service (said_by), so this line carries no traceback and one line of it.
            outage = self.said_by is not None and self.said_by(error)
            log.error("schedule %s FAILED (%s): %s; retried at its next tick", schedule_id,
                      counted, (detail.splitlines() or [""])[0] if outage else detail,
                      exc_info=None if outage else error, extra=extra)
        else:
            log.error("schedule %s ran with problems (%s): %s", schedule_id, counted, detail,
                      extra=extra)
        return health

    # -- how ticks ended, recorded even across an outage ----------------------------------
    def _record(self, schedule_id: str, due: datetime, outcome: str,
                detail: str | None) -> Health:
        """The tick's ledger row settled and the schedule's health counted."""
        self.ledger.settle(schedule_id, due, outcome, detail)
        if outcome == "ok":
            return self.failures.record_success(schedule_id)
        return self.failures.record_failure(schedule_id, detail)

    def _record_or_owe(self, schedule_id: str, due: datetime, outcome: str,
                       detail: str | None) -> Health | None:
        """:meth:`_record`, or, when the catalog cannot be written (it went away during the
        tick), kept here and recorded by :meth:`settle_owed` once it answers again: a tick
        that ran is never left claimed with no outcome (no other scheduler would settle it,
        since its holder is alive)."""
        try:
            return self._record(schedule_id, due, outcome, detail)
        except Exception as exc:  # noqa: BLE001 - the catalog went away during the tick
            with self._owed_lock:
                self._owed.append((schedule_id, due, outcome, detail))
            if self.said_by is None or not self.said_by(exc):
                log.warning("schedule %s (due %s) ended %s but that could not be recorded "
                            "(%s: %s); it is recorded when the catalog answers again",
                            schedule_id, due.isoformat(), outcome, type(exc).__name__,
                            (str(exc).splitlines() or [""])[0][:200])
            return None

    def settle_owed(self) -> int:
        """Record the outcomes of ticks that ended while the catalog could not be written,
        oldest first; stops at the first that still cannot be (kept for the next call). How
        many were recorded. Called before each tick and by the service's heartbeat."""
        done = 0
        with self._owed_lock:
            while self._owed:
                schedule_id, due, outcome, detail = self._owed[0]
                try:
                    self._record(schedule_id, due, outcome, detail)
                except Exception:  # noqa: BLE001 - still down: tried again later
                    break
                self._owed.pop(0)
                done += 1
                log.info("schedule %s (due %s): its outcome (%s) recorded after the catalog "
                         "came back", schedule_id, due.isoformat(), outcome)
        return done


def wait_until_stopped(stop: threading.Event, every: float, beat: Callable[[], None]) -> None:
    """Call ``beat`` every ``every`` seconds until ``stop`` is set (a busy catalog is logged,
    never fatal)."""
    while not stop.wait(every):
        try:
            beat()
        except Exception:  # noqa: BLE001
            log.exception("scheduler heartbeat")
