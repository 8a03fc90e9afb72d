"""What the schedules keep in the catalog, so it holds across restarts and across schedulers.

- ``RunLedger``: one row per (schedule, due time). The scheduler that inserts the row runs the
  tick; a second scheduler reading the same due job from the shared job store gets a unique
  constraint violation and skips it. The row then records how the run ended: the run log.
- ``FailureRecord``: consecutive failures of a schedule, the delay before its next try
  (exponential, with a ceiling), and a *flagged* state after too many failures in a row, so a
  schedule that keeps failing is shown, not silently retried forever.
- ``HostSpacing``: the next moment a run may start against a host, so two schedules aimed at
  one platform never start closer than the spacing (a reservation, taken with a conditional
  UPDATE, so two schedulers cannot both take the same slot).
- ``Lease``: a named lease with an expiry (``leases``), so that of several schedulers (on
  several machines) exactly one fires schedules; taken and renewed with a conditional UPDATE,
  taken over by another when its holder stops renewing it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, Engine, Integer, String, Text, delete, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from archiver.catalog import UTCDateTime


def _now() -> datetime:
    return datetime.now(UTC)


class ScheduleBase(DeclarativeBase):
    """The schedule tables (created beside the catalog's, in its database)."""


class ScheduleRunRow(ScheduleBase):
    """One tick of one schedule: who ran it, when, and how it ended."""

    __tablename__ = "schedule_runs"

    schedule_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    holder: Mapped[str] = mapped_column(String(300))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # "ok", "problems", "failed", or "interrupted" (its scheduler stopped mid-tick); None
    # while it runs (indexed: the open ones are looked for every 30 s).
    outcome: Mapped[str | None] = mapped_column(String(20), index=True)
    detail: Mapped[str | None] = mapped_column(Text)


class ScheduleHealthRow(ScheduleBase):
    """Consecutive failures of a schedule, and whether it is flagged."""

    __tablename__ = "schedule_health"

    schedule_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)


class HostSlotRow(ScheduleBase):
    """The earliest moment the next run against ``host`` may start."""

    __tablename__ = "schedule_host_slots"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    next_free_at: Mapped[datetime] = mapped_column(UTCDateTime)


def create_tables(engine: Engine, tables: list[Any] | None = None) -> None:
    """Create the schedule tables (or ``tables``) that do not exist yet. Schedulers starting
    at once on a new catalog may all try: SQLAlchemy looks, then creates, table by table, so
    another may create one in between ("already exists"); creating is idempotent, so the
    loser looks again. Once was not enough: with three tables, a loser could lose the race
    for the next table too (seen with eight at once)."""
    for attempt in range(10):
        try:
            for table in tables or ScheduleBase.metadata.sorted_tables:
                table.create(engine, checkfirst=True)
            return
        except DBAPIError as exc:
            if "already exists" not in str(exc) or attempt == 9:
                raise


class RunLedger:
    """One run per schedule and due time, whichever scheduler asks first."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        create_tables(engine)

    def claim(self, schedule_id: str, due_at: datetime, holder: str) -> bool:
        """True when this caller is the one to run ``schedule_id``'s tick due at ``due_at``."""
        try:
            with Session(self.engine) as s, s.begin():
                s.execute(insert(ScheduleRunRow).values(
                    schedule_id=schedule_id, due_at=due_at, holder=holder, started_at=_now()))
        except IntegrityError:
            return False
        return True

    def settle(self, schedule_id: str, due_at: datetime, outcome: str,
               detail: str | None = None) -> None:
        """Record how a claimed run ended."""
        with Session(self.engine) as s, s.begin():
            s.execute(update(ScheduleRunRow).where(
                ScheduleRunRow.schedule_id == schedule_id, ScheduleRunRow.due_at == due_at)
                .values(ended_at=_now(), outcome=outcome, detail=detail))

    def settle_interrupted(self, alive: Collection[str]) -> list[ScheduleRunRow]:
        """Ticks claimed by a scheduler not in ``alive`` that never recorded how they ended
        (it was killed, or its machine went down, mid-tick): recorded ``interrupted``, so no
        tick stays half-recorded. Each is settled once, whoever asks (a conditional UPDATE);
        a scheduler wrongly taken for gone overwrites this when its tick ends. The rows
        settled, as they were."""
        with Session(self.engine, expire_on_commit=False) as s:
            open_rows = list(s.scalars(select(ScheduleRunRow).where(
                ScheduleRunRow.outcome.is_(None))))
        settled = []
        for row in open_rows:
            if row.holder in alive:
                continue
            detail = (f"the scheduler {row.holder} stopped during this tick (killed, or its "
                      "machine went down) before recording how it ended; what it did is in "
                      "the schedule's own records (a monitor's runs)")
            with Session(self.engine) as s, s.begin():
                changed = s.execute(update(ScheduleRunRow).where(
                    ScheduleRunRow.schedule_id == row.schedule_id,
                    ScheduleRunRow.due_at == row.due_at, ScheduleRunRow.outcome.is_(None))
                    .values(outcome="interrupted", ended_at=_now(), detail=detail)).rowcount
            if changed:
                settled.append(row)
        return settled

    def runs(self, schedule_id: str | None = None) -> list[ScheduleRunRow]:
        """Runs, oldest first (of one schedule, or of all)."""
        with Session(self.engine, expire_on_commit=False) as s:
            query = select(ScheduleRunRow).order_by(ScheduleRunRow.started_at)
            if schedule_id is not None:
                query = query.where(ScheduleRunRow.schedule_id == schedule_id)
            return list(s.scalars(query))

    def prune(self, older_than: timedelta) -> int:
        """Forget runs that ended longer ago than ``older_than``; how many were."""
        with Session(self.engine) as s, s.begin():
            result = s.execute(delete(ScheduleRunRow).where(
                ScheduleRunRow.ended_at.is_not(None),
                ScheduleRunRow.ended_at < _now() - older_than))
            return result.rowcount or 0


@dataclass(frozen=True)
class Backoff:
    """Delay before the next try after ``n`` failures in a row: ``base * 2**(n-1)``, at most
    ``ceiling``; flagged from ``flag_after`` failures in a row on."""

    base: float = 60.0
    ceiling: float = 6 * 3600.0
    flag_after: int = 5

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` failures in a row (0 after none)."""
        if failures <= 0:
            return 0.0
        # Capped exponent: 2**1000 would overflow a float long before the ceiling matters.
        return min(self.base * 2 ** min(failures - 1, 60), self.ceiling)


@dataclass(frozen=True)
class Health:
    """Where a schedule stands after its latest runs."""

    schedule_id: str
    failures: int
    flagged: bool
    next_delay: float
    last_error: str | None = None


class FailureRecord:
    """Consecutive failures per schedule, kept in the catalog: ``record_failure``,
    ``record_success``, ``next_delay``, ``health``."""

    def __init__(self, engine: Engine, backoff: Backoff | None = None) -> None:
        self.engine = engine
        self.backoff = backoff or Backoff()
        create_tables(engine)

    def _row(self, s: Session, schedule_id: str) -> ScheduleHealthRow:
        row = s.get(ScheduleHealthRow, schedule_id)
        if row is None:
            row = ScheduleHealthRow(schedule_id=schedule_id, failures=0, flagged=False)
            s.add(row)
        return row

    def record_failure(self, schedule_id: str, error: str | None = None) -> Health:
        """One more failure in a row; flagged once ``backoff.flag_after`` is reached."""
        with Session(self.engine, expire_on_commit=False) as s, s.begin():
            # An atomic increment: two schedulers recording at once both count.
            s.execute(update(ScheduleHealthRow).where(
                ScheduleHealthRow.schedule_id == schedule_id)
                .values(failures=ScheduleHealthRow.failures + 1))
            row = self._row(s, schedule_id)
            s.flush()
            s.refresh(row)
            if row.failures == 0:  # the row was new: the UPDATE above found nothing
                row.failures = 1
            row.last_error = error
            row.last_failure_at = _now()
            row.flagged = row.failures >= self.backoff.flag_after
        return self._health(row)

    def record_success(self, schedule_id: str) -> Health:
        """A run that worked: the count starts again and the flag is lifted."""
        with Session(self.engine, expire_on_commit=False) as s, s.begin():
            row = self._row(s, schedule_id)
            row.failures, row.flagged, row.last_error = 0, False, None
            row.last_success_at = _now()
        return self._health(row)

    def next_delay(self, schedule_id: str) -> float:
        """Seconds to wait before the schedule's next try (0 when its last run worked)."""
        return self.health(schedule_id).next_delay

    def health(self, schedule_id: str) -> Health:
        with Session(self.engine) as s:
            row = s.get(ScheduleHealthRow, schedule_id)
            if row is None:
                return Health(schedule_id, 0, False, 0.0)
            return self._health(row)

    def flagged(self) -> list[Health]:
        """Every flagged schedule."""
        with Session(self.engine) as s:
            return [self._health(r) for r in s.scalars(
                select(ScheduleHealthRow).where(ScheduleHealthRow.flagged.is_(True)))]

    def _health(self, row: ScheduleHealthRow) -> Health:
        return Health(row.schedule_id, row.failures, bool(row.flagged),
                      self.backoff.delay(row.failures), row.last_error)


class HostSpacing:
    """Runs against one host start at least ``spacing`` seconds apart, across schedulers."""

    def __init__(self, engine: Engine, spacing: float) -> None:
        self.engine = engine
        self.spacing = timedelta(seconds=spacing)
        create_tables(engine)

    def reserve(self, host: str, now: datetime | None = None) -> datetime:
        """Take the next start slot for ``host``: ``now`` when the host is free, else the
        moment ``spacing`` after the slot taken before. The caller starts its run then."""
        host = host.lower()
        while True:
            moment = now or _now()
            with Session(self.engine) as s, s.begin():
                current = s.scalar(select(HostSlotRow.next_free_at)
                                   .where(HostSlotRow.host == host))
                slot = moment if current is None or current <= moment else current
                if current is None:
                    try:
                        with s.begin_nested():
                            s.execute(insert(HostSlotRow).values(
                                host=host, next_free_at=slot + self.spacing))
                    except IntegrityError:
                        continue  # another scheduler took the first slot: look again
                    return slot
                # Only if nobody moved the slot since we read it; otherwise read again.
                taken = s.execute(update(HostSlotRow).where(
                    HostSlotRow.host == host, HostSlotRow.next_free_at == current)
                    .values(next_free_at=slot + self.spacing)).rowcount
                if taken:
                    return slot

    def wait_for(self, host: str, now: datetime | None = None) -> float:
        """Seconds from ``now`` to the slot reserved for ``host`` (0: start at once)."""
        moment = now or _now()
        return max(0.0, (self.reserve(host, moment) - moment).total_seconds())


class LeaseRow(ScheduleBase):
    """Who holds a lease, and until when (unless renewed)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(300))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class LeaseState:
    """A lease as last read: its holder and expiry."""

    name: str
    holder: str
    acquired_at: datetime
    expires_at: datetime


class Lease:
    """A lease with an expiry in the catalog database (SQLite or PostgreSQL alike): whoever
    holds it and renews it before it expires keeps it; when the holder dies, another takes
    it over once it has expired. Expiry is judged by each caller's clock (machines keep UTC
    by NTP; a skew eats into the lease time)."""

    def __init__(self, engine: Engine, name: str, duration: float) -> None:
        self.engine = engine
        self.name = name
        self.duration = timedelta(seconds=duration)
        create_tables(engine)

    def hold(self, holder: str) -> bool:
        """Take the lease, or renew it when ``holder`` has it; False while another holds an
        unexpired one. One conditional UPDATE decides between contenders."""
        now = _now()
        with Session(self.engine) as s, s.begin():
            kept = s.execute(update(LeaseRow).where(
                LeaseRow.name == self.name, LeaseRow.holder == holder)
                .values(expires_at=now + self.duration)).rowcount
            if kept:
                return True
            taken = s.execute(update(LeaseRow).where(
                LeaseRow.name == self.name, LeaseRow.expires_at <= now)
                .values(holder=holder, acquired_at=now, expires_at=now + self.duration)
            ).rowcount
            if taken:
                return True
        try:
            with Session(self.engine) as s, s.begin():
                s.execute(insert(LeaseRow).values(name=self.name, holder=holder,
                                                  acquired_at=now,
                                                  expires_at=now + self.duration))
        except IntegrityError:
            return False  # another took it first (it exists now, unexpired)
        return True

    def take_over(self, dead_holder: str, holder: str) -> bool:
        """Take the lease from a holder known to be dead (its process gone, on this
        machine) without waiting for it to expire; False if it changed hands meanwhile."""
        now = _now()
        with Session(self.engine) as s, s.begin():
            return bool(s.execute(update(LeaseRow).where(
                LeaseRow.name == self.name, LeaseRow.holder == dead_holder)
                .values(holder=holder, acquired_at=now, expires_at=now + self.duration)
            ).rowcount)

    def release(self, holder: str) -> bool:
        """Give the lease up now (a clean stop), so another need not wait for its expiry."""
        with Session(self.engine) as s, s.begin():
            return bool(s.execute(update(LeaseRow).where(
                LeaseRow.name == self.name, LeaseRow.holder == holder)
                .values(expires_at=_now())).rowcount)

    def current(self) -> LeaseState | None:
        """The lease as it stands (its holder may have let it expire)."""
        with Session(self.engine) as s:
            row = s.get(LeaseRow, self.name)
            if row is None:
                return None
            return LeaseState(row.name, row.holder, row.acquired_at, row.expires_at)
