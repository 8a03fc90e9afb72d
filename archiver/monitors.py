"""Monitors: channels watched on a schedule, the posts they listed, and each run, in the catalog.

A monitor's run lists its channel; each listed post is recorded once in ``monitor_posts``, whose
UNIQUE (monitor, platform, post) constraint decides which run saw it first: the run whose INSERT
changed the table enqueues the post's capture, in the same transaction, and every other run
(overlapping, retried after a restart, or from another scheduler) only notes it as seen again.
Nothing checks first and inserts after: two runs at once cannot both win.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Integer,
    String,
    Text,
    UniqueConstraint,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from archiver.catalog import Base, Catalog, UTCDateTime, by_id_or_prefix
from archiver.errors import NotFound
from archiver.ids import new_capture_id
from archiver.jobs import JobRow
from archiver.states import CaptureState, JobState, MonitorPostState


def _now() -> datetime:
    return datetime.now(UTC)


class MonitorRow(Base):
    """A channel or profile, or a web page or feed, watched on a schedule (``every``
    seconds, or a ``cron`` line)."""

    __tablename__ = "monitors"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20))  # "channel" (a platform's listing) or "feed"
    # A feed monitor's scope ("host", a URL prefix, "regex:PATTERN"; None: its default).
    scope: Mapped[str | None] = mapped_column(Text)
    platform: Mapped[str | None] = mapped_column(String(40))
    every: Mapped[int | None] = mapped_column(Integer)  # seconds between runs
    cron: Mapped[str | None] = mapped_column(String(200))
    jitter: Mapped[int] = mapped_column(Integer, default=0)  # seconds a run may be moved by
    case_id: Mapped[str | None] = mapped_column(String(200), index=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    note: Mapped[str | None] = mapped_column(Text)
    posts: Mapped[int | None] = mapped_column(Integer)  # posts listed a run (None: default)
    use_browser: Mapped[bool] = mapped_column(Boolean, default=True)
    recheck: Mapped[int | None] = mapped_column(Integer)  # seconds a new post is rechecked
    operator: Mapped[str] = mapped_column(String(200))
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # failed runs in a row
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)  # failing: needs a person
    webhook: Mapped[str | None] = mapped_column(Text)  # this monitor's alerts also go here
    # The environment variable holding that webhook's signing secret (never the secret).
    webhook_secret_env: Mapped[str | None] = mapped_column(String(200))


class MonitorPostRow(Base):
    """A post a monitor's channel listed: when first and last seen, where it stands."""

    __tablename__ = "monitor_posts"
    __table_args__ = (UniqueConstraint("monitor_id", "platform", "post_id",
                                       name="uq_monitor_post"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    monitor_id: Mapped[str] = mapped_column(String(36), index=True)
    platform: Mapped[str] = mapped_column(String(40))
    post_id: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(Text)
    published: Mapped[str | None] = mapped_column(String(40))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    first_run: Mapped[str] = mapped_column(String(36), index=True)  # the run that found it
    job_id: Mapped[str | None] = mapped_column(String(36))  # the capture job it enqueued
    state: Mapped[str] = mapped_column(String(16))
    last_good_capture: Mapped[str | None] = mapped_column(String(36))
    recheck_job: Mapped[str | None] = mapped_column(String(36))  # a recheck queued or running
    # What the listing showed of the post's content when last looked at (a platform module's
    # PostRef.fingerprint): a listing showing another one queues an edit check. None: the
    # platform's listing shows nothing of the content.
    fingerprint: Mapped[str | None] = mapped_column(String(80))


class MonitorRunRow(Base):
    """One run of a monitor: its listing job, how it went, how many posts were new."""

    __tablename__ = "monitor_runs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the listing job's id
    monitor_id: Mapped[str] = mapped_column(String(36), index=True)
    job_id: Mapped[str] = mapped_column(String(36), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How it went, in a capture's words (COMPLETE, PARTIAL, FAILED); None while it runs
    # (indexed: the scheduler looks for the runs still open every 30 s).
    state: Mapped[str | None] = mapped_column(String(16), index=True)
    new_posts: Mapped[int] = mapped_column(Integer, default=0)
    listed: Mapped[int] = mapped_column(Integer, default=0)
    listing_capture: Mapped[str | None] = mapped_column(String(36))
    notes: Mapped[list[str]] = mapped_column(JSON, default=list)




class MonitorStore:
    """The monitors of a catalog, their posts and runs."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def session(self):  # noqa: ANN201 - the catalog's session context
        return self.catalog.session()

    # -- monitors -------------------------------------------------------------------------
    def add(self, **values: Any) -> MonitorRow:
        """A new monitor (the caller has checked its URL and schedule)."""
        row = MonitorRow(id=new_capture_id(), created_at=_now(), paused=False, failures=0,
                         flagged=False, **values)
        with self.session() as s:
            s.add(row)
        return row

    def get(self, monitor_id: str) -> MonitorRow:
        """A monitor by id or unique id prefix."""
        with self.session() as s:
            return by_id_or_prefix(s, MonitorRow, monitor_id, "monitor")

    def list(self) -> list[MonitorRow]:
        """Every monitor, oldest first."""
        with self.session() as s:
            return list(s.scalars(select(MonitorRow).order_by(MonitorRow.id)))

    def set_paused(self, monitor_id: str, paused: bool) -> None:
        with self.session() as s:
            values: dict[str, Any] = {"paused": paused}
            if not paused:  # resuming is a person's decision: the failing flag is cleared
                values.update(failures=0, flagged=False)
            s.execute(update(MonitorRow).where(MonitorRow.id == monitor_id).values(**values))

    def remove(self, monitor_id: str) -> None:
        """The monitor stops; what it saw (its posts, runs and captures) stays on record."""
        with self.session() as s:
            s.execute(delete(MonitorRow).where(MonitorRow.id == monitor_id))

    # -- runs -------------------------------------------------------------------------------
    def add_run(self, monitor_id: str, job_id: str) -> MonitorRunRow:
        row = MonitorRunRow(id=job_id, monitor_id=monitor_id, job_id=job_id, started_at=_now(),
                            new_posts=0, listed=0, notes=[])
        with self.session() as s:
            s.add(row)
        return row

    def run(self, run_id: str) -> MonitorRunRow:
        with self.session() as s:
            row = s.get(MonitorRunRow, run_id)
            if row is None:
                raise NotFound(f"no monitor run {run_id!r} in the catalog")
            return row

    def runs(self, monitor_id: str, limit: int | None = None) -> list[MonitorRunRow]:
        """A monitor's runs, newest first."""
        with self.session() as s:
            query = (select(MonitorRunRow).where(MonitorRunRow.monitor_id == monitor_id)
                     .order_by(MonitorRunRow.id.desc()))
            return list(s.scalars(query.limit(limit) if limit else query))

    def end_run(self, run_id: str, state: CaptureState, *, listed: int, notes: list[str],
                listing_capture: str | None, flag_after: int) -> MonitorRunRow:
        """Record how a run ended; count the monitor's failures in a row (flagged after
        ``flag_after``) or clear them. New posts are counted from ``monitor_posts``: what a
        run found is what its INSERTs won, even across a restart of the run."""
        now = _now()
        with self.session() as s:
            new = s.scalar(select(func.count()).select_from(MonitorPostRow)
                           .where(MonitorPostRow.first_run == run_id)) or 0
            s.execute(update(MonitorRunRow).where(MonitorRunRow.id == run_id).values(
                ended_at=now, state=state, listed=listed, notes=notes, new_posts=new,
                listing_capture=listing_capture))
            run = s.get(MonitorRunRow, run_id)
            if state == CaptureState.FAILED:
                s.execute(update(MonitorRow).where(MonitorRow.id == run.monitor_id).values(
                    last_run_at=now, failures=MonitorRow.failures + 1,
                    flagged=MonitorRow.failures + 1 >= flag_after))
            else:
                s.execute(update(MonitorRow).where(MonitorRow.id == run.monitor_id).values(
                    last_run_at=now, failures=0, flagged=False))
            s.refresh(run)
            return run

    def settle_unfinished(self, monitor_id: str | None, flag_after: int) -> int:
        """Runs whose job ended without recording them (cancelled, or its capture process
        crashed): recorded FAILED with the job's reason, and counted as failures. Each is
        settled once, whoever asks (one conditional UPDATE). Of one monitor, or of every
        monitor with ``monitor_id`` None: one query finds them all (the scheduler looks at a
        thousand monitors every 30 s; a query per monitor made that its main cost). How many
        were settled."""
        settled = 0
        final = [state.value for state in JobState if state.final]
        query = (select(MonitorRunRow, JobRow).join(JobRow, JobRow.id == MonitorRunRow.job_id)
                 .where(MonitorRunRow.state.is_(None), JobRow.state.in_(final)))
        if monitor_id is not None:
            query = query.where(MonitorRunRow.monitor_id == monitor_id)
        with self.session() as s:
            ended = list(s.execute(query).all())
        for run, job in ended:
            with self.session() as s:
                note = f"the run's job {job.state}: {job.error or 'no reason given'}"
                changed = s.execute(update(MonitorRunRow).where(
                    MonitorRunRow.id == run.id, MonitorRunRow.state.is_(None)).values(
                    state=CaptureState.FAILED, ended_at=job.ended_at or _now(),
                    notes=[*(run.notes or []), note])).rowcount
                if changed == 1:
                    settled += 1
                    s.execute(update(MonitorRow).where(MonitorRow.id == run.monitor_id).values(
                        failures=MonitorRow.failures + 1,
                        flagged=MonitorRow.failures + 1 >= flag_after))
        return settled

    # -- posts ------------------------------------------------------------------------------
    def record_post(self, monitor_id: str, run_id: str, *, platform: str, post_id: str,
                    url: str, published: str | None, job: dict[str, Any] | None,
                    fingerprint: str | None = None) -> JobRow | None:
        """A post the run listed. The first run to list it wins the INSERT and, in the same
        transaction, queues ``job`` (the values of its capture job's row); the job row, or
        None when the post was seen before (its ``last_seen`` moves on). ``fingerprint``
        (what the listing showed of its content) is kept with a new post, and with a known
        one that had none; a different one is compared by the caller (an edit check)."""
        now = _now()
        with self.session() as s:
            # The INSERT comes first: it takes the write lock, and the constraint decides.
            # Whether it inserted is told by the row it returns: this ORM INSERT's rowcount
            # is -1 on PostgreSQL (psycopg), which read as "lost" every time.
            won = s.execute(_insert_ignoring_duplicates(s, {
                "monitor_id": monitor_id, "platform": platform, "post_id": post_id, "url": url,
                "published": published, "first_seen": now, "last_seen": now,
                "first_run": run_id, "state": MonitorPostState.SEEN,
                "fingerprint": fingerprint}
            ).returning(MonitorPostRow.id)).first() is not None
            key = (MonitorPostRow.monitor_id == monitor_id, MonitorPostRow.platform == platform,
                   MonitorPostRow.post_id == post_id)
            if not won:
                s.execute(update(MonitorPostRow).where(*key).values(last_seen=now))
                if fingerprint is not None:
                    s.execute(update(MonitorPostRow).where(
                        *key, MonitorPostRow.fingerprint.is_(None)).values(
                        fingerprint=fingerprint))
                return None
            if job is None:
                return None
            row = JobRow(id=new_capture_id(), state=JobState.QUEUED, attempts=0,
                         created_at=now, progress={}, history=[], cancel_requested=False, **job)
            s.add(row)
            s.flush()
            s.execute(update(MonitorPostRow).where(*key).values(job_id=row.id))
            return row

    def post_captured(self, monitor_id: str, platform: str, post_id: str,
                      capture_id: str) -> None:
        """A good capture of a monitored post (COMPLETE or PARTIAL, the post readable)."""
        with self.session() as s:
            s.execute(update(MonitorPostRow).where(
                MonitorPostRow.monitor_id == monitor_id, MonitorPostRow.platform == platform,
                MonitorPostRow.post_id == post_id).values(
                state=MonitorPostState.CAPTURED, last_good_capture=capture_id))

    def claim_recheck(self, post: MonitorPostRow, job: dict[str, Any]) -> JobRow | None:
        """Queue a recheck of a post unless one is queued or running already (one UPDATE
        decides, so two runs at once queue one); the job row, or None."""
        now = _now()
        job_id = new_capture_id()
        with self.session() as s:
            won = s.execute(update(MonitorPostRow).where(
                MonitorPostRow.id == post.id, MonitorPostRow.recheck_job.is_(None))
                .values(recheck_job=job_id)).rowcount == 1
            if not won:
                return None
            row = JobRow(id=job_id, state=JobState.QUEUED, attempts=0, created_at=now,
                         progress={}, history=[], cancel_requested=False, **job)
            s.add(row)
            return row

    def recheck_done(self, monitor_id: str, platform: str, post_id: str, *,
                     state: MonitorPostState | None, capture_id: str | None,
                     fingerprint: str | None = None) -> MonitorPostRow:
        """A recheck or an edit check ended: the post is ``state`` now (None: unknown, as it
        was); a good capture (the post ``captured`` or ``changed``) becomes its last good one,
        and the listing's ``fingerprint`` it was checked for, when given, the one kept. Its
        row as it was before."""
        with self.session() as s:
            key = (MonitorPostRow.monitor_id == monitor_id,
                   MonitorPostRow.platform == platform, MonitorPostRow.post_id == post_id)
            s.execute(update(MonitorPostRow).where(*key).values(recheck_job=None))
            before = s.scalars(select(MonitorPostRow).where(*key)).one()
            values: dict[str, Any] = {}
            if state is not None:
                values["state"] = state
            if state in (MonitorPostState.CAPTURED, MonitorPostState.CHANGED) and capture_id:
                values["last_good_capture"] = capture_id
                if fingerprint is not None:
                    values["fingerprint"] = fingerprint
            if values:
                s.execute(update(MonitorPostRow).where(*key).values(**values))
            return before

    def note_run(self, run_id: str, note: str, *, partial: bool = True) -> None:
        """Something a run's follow-up could not tell (a recheck met a rate limit): a note,
        and the run is PARTIAL (unless ``partial`` is False: a note only)."""
        with self.session() as s:
            run = s.get(MonitorRunRow, run_id)
            if run is None:
                return
            run.notes = [*(run.notes or []), note]
            if partial and run.state == CaptureState.COMPLETE:
                run.state = CaptureState.PARTIAL

    def posts(self, monitor_id: str) -> list[MonitorPostRow]:
        """A monitor's posts, in the order they were first seen."""
        with self.session() as s:
            return list(s.scalars(select(MonitorPostRow)
                                  .where(MonitorPostRow.monitor_id == monitor_id)
                                  .order_by(MonitorPostRow.id)))

    def post(self, monitor_id: str, platform: str, post_id: str) -> MonitorPostRow:
        """One post of a monitor."""
        with self.session() as s:
            row = s.scalars(select(MonitorPostRow).where(
                MonitorPostRow.monitor_id == monitor_id, MonitorPostRow.platform == platform,
                MonitorPostRow.post_id == post_id)).one_or_none()
            if row is None:
                raise NotFound(f"monitor {monitor_id} has no {platform} post {post_id!r}")
            return row

    def count_posts(self, monitor_id: str) -> int:
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(MonitorPostRow)
                            .where(MonitorPostRow.monitor_id == monitor_id)) or 0


def _insert_ignoring_duplicates(session: Session, values: dict[str, Any]) -> Any:
    """INSERT … ON CONFLICT DO NOTHING, in the catalog's SQL dialect (SQLite or PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    return insert(MonitorPostRow).values(**values).on_conflict_do_nothing(
        index_elements=["monitor_id", "platform", "post_id"])
