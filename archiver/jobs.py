"""The job store: every capture job, its attempts and its captures, kept in the catalog.

The queue engine only carries a job's id; what a job is, where it stands and what it produced
live here, so every interface (CLI, web, API, scheduler) shows the same states, and a job
delivered twice, or by a queue that lost it, is still run once: a worker *claims* a job with one
conditional UPDATE, and only the claim that changed the row runs it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    Integer,
    String,
    Text,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from archiver.catalog import Base, CaptureRow, Catalog, UTCDateTime, by_id_or_prefix
from archiver.ids import new_capture_id
from archiver.states import CaptureState, CustodyAction, JobState

if TYPE_CHECKING:
    from archiver.archive import Archive


def _now() -> datetime:
    return datetime.now(UTC)


class JobRow(Base):
    """One capture job: what to capture and why (``spec``), and where it stands."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), index=True)
    priority: Mapped[int] = mapped_column(Integer, index=True)
    source: Mapped[str] = mapped_column(String(200), index=True)
    operator: Mapped[str] = mapped_column(String(200))
    case_id: Mapped[str | None] = mapped_column(String(200), index=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The attempt under way: which worker, which process, when it last said it was alive.
    worker: Mapped[str | None] = mapped_column(String(300))
    worker_host: Mapped[str | None] = mapped_column(String(255))
    worker_pid: Mapped[int | None] = mapped_column(Integer)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    progress: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    # One entry per attempt: who ran it, how it ended, its captures; never rewritten.
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class JobCaptureRow(Base):
    """A capture a job's attempt produced (a channel job produces one per post too)."""

    __tablename__ = "job_captures"

    capture_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(36), index=True)
    attempt: Mapped[int] = mapped_column(Integer)


class WorkerRow(Base):
    """A process that runs jobs: a worker, or a `capture` running its own jobs."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(300), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # "worker" or "capture"
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    concurrency: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# A capture in one of these states is a job's result: sealed, never to be made again.
SEALED = (CaptureState.COMPLETE, CaptureState.PARTIAL)


class _Sealed(Exception):
    """An attempt to be queued again has a sealed capture already: its transaction is undone."""


def hold_attempt(session: Session, job_id: str, attempt: int) -> bool:
    """In ``session``'s transaction: is ``attempt`` still job ``job_id``'s running attempt?
    If so the job's row stays locked until the transaction ends (PostgreSQL: the row;
    SQLite: the database's write lock), so no worker settles or queues the job again between
    this look and the writes that follow it. One conditional UPDATE both looks and locks."""
    return session.execute(
        update(JobRow).where(JobRow.id == job_id, JobRow.state == JobState.RUNNING,
                             JobRow.attempts == attempt)
        .values(heartbeat_at=_now())).rowcount == 1


def attempt_guard(origin: dict[str, Any] | None) -> Callable[[Session], bool] | None:
    """For a capture made by a job (``origin`` names its job and attempt): a guard for
    :meth:`Catalog.update_capture` that lets the capture be sealed only while its attempt is
    still the job's running one. None for a capture no job made."""
    if not origin or not origin.get("job") or origin.get("attempt") is None:
        return None
    job_id, attempt = str(origin["job"]), int(origin["attempt"])
    return lambda session: hold_attempt(session, job_id, attempt)


def job_standing(catalog: Catalog, job_id: str) -> tuple[str, int] | None:
    """A job's state and attempt number now (None: no such job)."""
    with catalog.session() as s:
        row = s.get(JobRow, job_id)
        return (row.state, row.attempts) if row else None


class JobStore:
    """The jobs of a catalog."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def session(self):  # noqa: ANN201 - the catalog's session context
        return self.catalog.session()

    # -- submitting and reading -----------------------------------------------------------
    def add(self, *, url: str, spec: dict[str, Any], priority: int, source: str,
            operator: str, case_id: str | None) -> JobRow:
        row = JobRow(id=new_capture_id(), url=url, state=JobState.QUEUED, priority=priority,
                     source=source, operator=operator, case_id=case_id, spec=spec, attempts=0,
                     created_at=_now(), progress={}, history=[], cancel_requested=False)
        with self.session() as s:
            s.add(row)
        return row

    def get(self, job_id: str) -> JobRow:
        """A job by id or unique id prefix."""
        with self.session() as s:
            return by_id_or_prefix(s, JobRow, job_id, "job")

    def many(self, job_ids: list[str]) -> list[JobRow]:
        with self.session() as s:
            rows = {r.id: r for r in s.scalars(select(JobRow).where(JobRow.id.in_(job_ids)))}
        return [rows[i] for i in job_ids if i in rows]

    def list(self, states: tuple[str, ...] = (), limit: int | None = None) -> list[JobRow]:
        """Jobs, newest first."""
        with self.session() as s:
            query = select(JobRow).order_by(JobRow.id.desc())
            if states:
                query = query.where(JobRow.state.in_(states))
            if limit:
                query = query.limit(limit)
            return list(s.scalars(query))

    def by_source(self, source: str) -> list[JobRow]:
        """The jobs one source submitted (``monitor:<id>``), newest first."""
        with self.session() as s:
            return list(s.scalars(select(JobRow).where(JobRow.source == source)
                                  .order_by(JobRow.id.desc())))

    def captures(self, job_id: str, attempt: int | None = None) -> list[str]:
        """The capture ids a job produced (one attempt's, or every attempt's), in order."""
        with self.session() as s:
            query = select(JobCaptureRow.capture_id).where(JobCaptureRow.job_id == job_id)
            if attempt is not None:
                query = query.where(JobCaptureRow.attempt == attempt)
            return list(s.scalars(query.order_by(JobCaptureRow.capture_id)))

    def attempt_of(self, capture_id: str) -> tuple[str, int] | None:
        """The job and attempt that made a capture (None: not made by a job)."""
        with self.session() as s:
            row = s.get(JobCaptureRow, capture_id)
            return (row.job_id, row.attempt) if row else None

    def link_capture(self, job_id: str, attempt: int, capture_id: str) -> None:
        with self.session() as s:
            s.add(JobCaptureRow(capture_id=capture_id, job_id=job_id, attempt=attempt))

    # -- running ----------------------------------------------------------------------------
    def claim(self, job_id: str, worker: str, host: str, pid: int) -> int | None:
        """Take a queued job for this worker; the attempt number, or None when the job is not
        queued any more (cancelled, or claimed by another worker). One UPDATE decides: two
        workers handed the same job cannot both claim it."""
        now = _now()
        with self.session() as s:
            changed = s.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.state == JobState.QUEUED)
                .values(state=JobState.RUNNING, attempts=JobRow.attempts + 1, worker=worker,
                        worker_host=host, worker_pid=pid, heartbeat_at=now, started_at=now,
                        progress={"stage": "starting"}, error=None)
            ).rowcount
            if changed != 1:
                return None
            return s.get(JobRow, job_id).attempts

    def beat(self, job_ids: list[str]) -> None:
        if not job_ids:
            return
        with self.session() as s:
            s.execute(update(JobRow).where(JobRow.id.in_(job_ids))
                      .values(heartbeat_at=_now()))

    def set_progress(self, job_id: str, attempt: int, progress: dict[str, Any]) -> None:
        with self.session() as s:
            s.execute(update(JobRow).where(JobRow.id == job_id, JobRow.attempts == attempt,
                                           JobRow.state == JobState.RUNNING)
                      .values(progress=progress, heartbeat_at=_now()))

    def finish(self, job_id: str, attempt: int, state: JobState, *, error: str | None,
               outcome: dict[str, Any]) -> bool:
        """Settle an attempt (done, failed or cancelled); False if it was not the job's
        running attempt any more (settled by someone else)."""
        return self._settle(job_id, attempt, state, error=error, outcome=outcome)

    def requeue(self, job_id: str, attempt: int, reason: str) -> bool:
        """Hand a running attempt back to the queue (its worker stopped or died)."""
        return self._settle(job_id, attempt, JobState.QUEUED, error=reason,
                            outcome={"outcome": "interrupted", "reason": reason})

    def _settle(self, job_id: str, attempt: int, state: JobState, *, error: str | None,
                outcome: dict[str, Any]) -> bool:
        now = _now()
        values: dict[str, Any] = {"state": state, "error": error, "worker_pid": None}
        if state == JobState.QUEUED:
            values["cancel_requested"] = False
        else:
            values["ended_at"] = now
        try:
            return self._settle_once(job_id, attempt, state, values, error, outcome, now)
        except _Sealed:
            # The attempt sealed a capture after the caller looked (a worker thought dead
            # was only slow): the job is not run again. Its next settling finds it done.
            return False

    def _settle_once(self, job_id: str, attempt: int, state: JobState, values: dict[str, Any],
                     error: str | None, outcome: dict[str, Any], now: datetime) -> bool:
        with self.session() as s:
            # The conditional UPDATE comes first: it takes the write lock, and only the
            # settler that changed the row goes on (a worker and a recovery never both do).
            # A capture sealed under the same lock (see hold_attempt) is seen after it.
            changed = s.execute(update(JobRow).where(
                JobRow.id == job_id, JobRow.state == JobState.RUNNING,
                JobRow.attempts == attempt).values(**values)).rowcount
            if changed != 1:
                return False
            if state == JobState.QUEUED and self._sealed(s, job_id, attempt):
                raise _Sealed  # the transaction is rolled back
            row = s.get(JobRow, job_id)
            s.refresh(row)
            entry = {"attempt": attempt, "worker": row.worker,
                     "started_at": _iso(row.started_at), "ended_at": _iso(now),
                     "captures": self._captures(s, job_id, attempt), **outcome, "error": error}
            row.history = [*row.history, entry]
            row.progress = {**(row.progress or {}), "stage": state.value}
        return True

    @staticmethod
    def _sealed(s: Any, job_id: str, attempt: int) -> bool:
        return s.scalar(select(JobCaptureRow.capture_id).join(
            CaptureRow, CaptureRow.id == JobCaptureRow.capture_id).where(
            JobCaptureRow.job_id == job_id, JobCaptureRow.attempt == attempt,
            CaptureRow.state.in_(SEALED)).limit(1)) is not None

    @staticmethod
    def _captures(s: Any, job_id: str, attempt: int) -> list[str]:
        return list(s.scalars(select(JobCaptureRow.capture_id).where(
            JobCaptureRow.job_id == job_id, JobCaptureRow.attempt == attempt)
            .order_by(JobCaptureRow.capture_id)))

    def cancel(self, job_id: str) -> JobState:
        """Cancel a queued job at once; ask the worker running one to stop it. Returns the
        job's state after the call (a finished job is left as it is)."""
        now = _now()
        with self.session() as s:
            changed = s.execute(update(JobRow).where(JobRow.id == job_id,
                                                     JobRow.state == JobState.QUEUED)
                                .values(state=JobState.CANCELLED, ended_at=now,
                                        progress={"stage": "cancelled"})).rowcount
            if not changed:
                s.execute(update(JobRow).where(JobRow.id == job_id,
                                               JobRow.state == JobState.RUNNING)
                          .values(cancel_requested=True))
            return JobState(s.get(JobRow, job_id).state)

    def cancel_requested(self, job_ids: list[str]) -> set[str]:
        if not job_ids:
            return set()
        with self.session() as s:
            return set(s.scalars(select(JobRow.id).where(JobRow.id.in_(job_ids),
                                                         JobRow.cancel_requested.is_(True))))

    def retry(self, job_id: str) -> bool:
        """Queue a finished job again (failed, cancelled, or done); False while it waits or
        runs."""
        with self.session() as s:
            return s.execute(update(JobRow).where(
                JobRow.id == job_id,
                JobRow.state.in_([JobState.FAILED, JobState.CANCELLED, JobState.DONE]))
                .values(state=JobState.QUEUED, ended_at=None, cancel_requested=False,
                        progress={"stage": "queued"})).rowcount == 1

    def running(self) -> list[JobRow]:
        return self.list((JobState.RUNNING,))

    def stale(self, host: str, alive: Any, stale_after: float) -> Iterator[JobRow]:
        """Running jobs whose worker is gone: its process is dead (on this host), or it has
        not given a sign of life for ``stale_after`` seconds (anywhere)."""
        cutoff = _now() - timedelta(seconds=stale_after)
        for row in self.running():
            silent = row.heartbeat_at is None or row.heartbeat_at < cutoff
            dead = row.worker_host == host and row.worker_pid is not None and not alive(
                row.worker_pid)
            if dead or silent:
                yield row

    # -- workers ------------------------------------------------------------------------------
    def register_worker(self, worker_id: str, kind: str, host: str, pid: int,
                        concurrency: int) -> None:
        now = _now()
        with self.session() as s:
            s.merge(WorkerRow(id=worker_id, kind=kind, host=host, pid=pid,
                              concurrency=concurrency, started_at=now, heartbeat_at=now,
                              stopped_at=None))

    def beat_worker(self, worker_id: str) -> None:
        with self.session() as s:
            s.execute(update(WorkerRow).where(WorkerRow.id == worker_id)
                      .values(heartbeat_at=_now()))

    def stop_worker(self, worker_id: str) -> None:
        with self.session() as s:
            s.execute(update(WorkerRow).where(WorkerRow.id == worker_id)
                      .values(stopped_at=_now()))

    def workers(self) -> list[WorkerRow]:
        with self.session() as s:
            return list(s.scalars(select(WorkerRow).order_by(WorkerRow.started_at)))


def link_to_retries(archive: Archive, settled: list[str]) -> list[str]:
    """Of the captures just settled as interrupted (:meth:`Archive.recover_interrupted`),
    those whose job was already queued again or run again while their machine was gone
    (another worker found it silent): each gets the ``retried`` custody event naming the
    attempt that replaces it. A capture whose job still stands at its attempt is left to
    the worker that queues the job again (it records the same event then). Returns the
    captures linked."""
    if not settled:
        return []
    store = JobStore(archive.catalog)
    linked = []
    for capture_id in settled:
        made_by = store.attempt_of(capture_id)
        if made_by is None:
            continue  # not made by a job
        job_id, number = made_by
        row = store.get(job_id)
        if not (row.attempts > number
                or (row.attempts == number and row.state == JobState.QUEUED)):
            continue  # still its running attempt, or given up: no retry to name
        archive.record_event(capture_id, "isnad", CustodyAction.RETRIED, None, {
            "job": job_id, "attempt": number, "retried_as_attempt": number + 1,
            "reason": f"its machine {archive.host} stopped before the job finished; the job "
                      "was queued again while it was gone"})
        linked.append(capture_id)
    return linked


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment else None
