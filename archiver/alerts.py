"""The alert outbox: each alert a monitor raised, and its delivery to each webhook, in the
catalog.

An alert is written here by whoever notices the event (a capture process, the scheduler), in
one short transaction, and delivered later by the scheduler: a capture never waits for a
webhook, and an alert survives a restart. One row per (alert, target); ``target`` is ``""``
for an alert that is only logged (no webhook configured), so the record exists either way.

``key`` names the event itself (``new-posts:<run>``, ``post-disappeared:<monitor>:<post>:
<evidence capture>``...): UNIQUE (key, target) makes raising the same alert twice (a run's
hook run again after a restart, two processes noticing one flagged monitor) write it once.
A delivery is taken with a lease (one conditional UPDATE), so two schedulers never send the
same row at once; a scheduler that dies mid-send lets its lease lapse and the row is sent
again (at least once: receivers tell repeats by the ``alert`` id).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Integer, String, Text, UniqueConstraint, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from archiver.catalog import Base, Catalog, UTCDateTime


class AlertEvent(StrEnum):
    """What a monitor alerts on."""

    NEW_POSTS = "new-posts"
    POST_DISAPPEARED = "post-disappeared"
    POST_CHANGED = "post-changed"
    MONITOR_FAILING = "monitor-failing"  # flagged after repeated failed runs
    MONITOR_RECOVERED = "monitor-recovered"  # a good run after it was flagged


class DeliveryState(StrEnum):
    """A row of the outbox: waiting (or between retries), sent, given up, or log only."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    LOGGED = "logged"  # no webhook: the log line was the whole alert


def _now() -> datetime:
    return datetime.now(UTC)


class AlertRow(Base):
    """One alert to one target (a webhook URL, or ``""``: logged only)."""

    __tablename__ = "alert_outbox"
    __table_args__ = (UniqueConstraint("key", "target", name="uq_alert_target"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(String(36), index=True)  # same for every target
    key: Mapped[str] = mapped_column(String(400))
    event: Mapped[str] = mapped_column(String(40))
    monitor_id: Mapped[str | None] = mapped_column(String(36), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    body: Mapped[str] = mapped_column(Text)  # the exact JSON sent, fixed when raised
    target: Mapped[str] = mapped_column(Text)
    # Where the signing secret is read at delivery (never the secret): "alerts" (the
    # [alerts] settings) or "env:NAME" (a monitor's --webhook-secret-env).
    secret_ref: Mapped[str | None] = mapped_column(String(240))
    state: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AlertOutbox:
    """The alerts of a catalog and their deliveries."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def add(self, *, alert_id: str, key: str, event: str, monitor_id: str | None, body: str,
            targets: list[tuple[str, str | None]]) -> bool:
        """Raise an alert to ``targets`` ((url, secret_ref); none: log only). False when an
        alert with this key was raised before (nothing written)."""
        now = _now()
        rows = [{"target": url, "secret_ref": ref, "state": DeliveryState.PENDING,
                 "next_try_at": now} for url, ref in targets] or [
            {"target": "", "secret_ref": None, "state": DeliveryState.LOGGED,
             "next_try_at": None}]
        with self.catalog.session() as s:
            dialect = s.get_bind().dialect.name
            insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
            won = 0
            for row in rows:
                won += s.execute(insert(AlertRow).values(
                    alert_id=alert_id, key=key, event=event, monitor_id=monitor_id,
                    created_at=now, body=body, attempts=0, **row)
                    .on_conflict_do_nothing(index_elements=["key", "target"])).rowcount
            return won > 0

    def due(self, now: datetime | None = None, limit: int = 50) -> list[AlertRow]:
        """Pending deliveries whose time has come and that nobody holds, oldest first."""
        moment = now or _now()
        with self.catalog.session() as s:
            return list(s.scalars(select(AlertRow).where(
                AlertRow.state == DeliveryState.PENDING, AlertRow.next_try_at <= moment,
                or_(AlertRow.lease_until.is_(None), AlertRow.lease_until < moment))
                .order_by(AlertRow.id).limit(limit)))

    def take(self, row_id: int, lease: float) -> bool:
        """Hold a due delivery for ``lease`` seconds (one UPDATE decides who sends it)."""
        now = _now()
        with self.catalog.session() as s:
            return s.execute(update(AlertRow).where(
                AlertRow.id == row_id, AlertRow.state == DeliveryState.PENDING,
                AlertRow.next_try_at <= now,  # not one another scheduler put off meanwhile
                or_(AlertRow.lease_until.is_(None), AlertRow.lease_until < now))
                .values(lease_until=now + timedelta(seconds=lease))).rowcount == 1

    def settle(self, row_id: int, *, state: DeliveryState, error: str | None,
               retry_in: float | None = None) -> AlertRow:
        """An attempt ended: delivered, given up, or (``retry_in`` seconds) tried again."""
        now = _now()
        values: dict[str, Any] = {"attempts": AlertRow.attempts + 1, "lease_until": None,
                                  "last_error": error, "state": state}
        if state == DeliveryState.DELIVERED:
            values["delivered_at"] = now
        if retry_in is not None:
            values["next_try_at"] = now + timedelta(seconds=retry_in)
        with self.catalog.session() as s:
            s.execute(update(AlertRow).where(AlertRow.id == row_id).values(**values))
            return s.get(AlertRow, row_id)

    def list(self, monitor_id: str | None = None, limit: int | None = None) -> list[AlertRow]:
        """Outbox rows, newest first (of one monitor)."""
        with self.catalog.session() as s:
            query = select(AlertRow).order_by(AlertRow.id.desc())
            if monitor_id:
                query = query.where(AlertRow.monitor_id == monitor_id)
            return list(s.scalars(query.limit(limit) if limit else query))

    def last_health_alert(self, monitor_id: str) -> AlertRow | None:
        """The latest monitor-failing or monitor-recovered alert of a monitor."""
        with self.catalog.session() as s:
            return s.scalar(select(AlertRow).where(
                AlertRow.monitor_id == monitor_id, AlertRow.event.in_(
                    [AlertEvent.MONITOR_FAILING, AlertEvent.MONITOR_RECOVERED]))
                .order_by(AlertRow.id.desc()).limit(1))
