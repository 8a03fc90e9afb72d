"""Who may use an Isnad installation's web app and HTTP API: users, API tokens and login
sessions, in the catalog.

Nothing secret is stored: a user's password as an argon2 hash (made by the application layer),
a token's and a session cookie's secret as their SHA-256 only (the secrets are long random
strings: a fast hash is enough, and a look-up by hash is one indexed query). A token or a
session is never deleted when it ends: it is revoked or expires, so who could reach the
evidence, and when, stays answerable.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, and_, or_, select, update
from sqlalchemy.orm import Mapped, mapped_column

from archiver.catalog import Base, Catalog, UTCDateTime
from archiver.errors import IsnadError, NotFound


def _now() -> datetime:
    return datetime.now(UTC)


class UserRow(Base):
    """A person who signs in: a name, a role, an argon2 password hash."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # admin | investigator | viewer
    password_hash: Mapped[str] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TokenRow(Base):
    """An API token of a user: its scopes, the SHA-256 of its secret, its daily quota."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    daily_quota: Mapped[int | None] = mapped_column(Integer)  # captures a day; None: no limit
    # Captures submitted on quota_day (UTC, YYYY-MM-DD): counted in one conditional UPDATE.
    quota_day: Mapped[str | None] = mapped_column(String(10))
    quota_used: Mapped[int] = mapped_column(Integer, default=0)


class SessionRow(Base):
    """A login session: the SHA-256 of its cookie's secret, its CSRF secret, its lifetime."""

    __tablename__ = "sessions"

    secret_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class AccountStore:
    """The users, tokens and sessions of a catalog."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    # -- users ----------------------------------------------------------------------------
    def add_user(self, name: str, role: str, password_hash: str) -> UserRow:
        with self.catalog.session() as s:
            if s.scalar(select(UserRow).where(UserRow.name == name)) is not None:
                raise IsnadError(f"a user named {name!r} exists already")
            row = UserRow(name=name, role=role, password_hash=password_hash, disabled=False,
                          created_at=_now())
            s.add(row)
            s.flush()
            return row

    def user(self, name: str) -> UserRow:
        with self.catalog.session() as s:
            row = s.scalar(select(UserRow).where(UserRow.name == name))
            if row is None:
                raise NotFound(f"no user named {name!r}")
            return row

    def user_by_id(self, user_id: int) -> UserRow | None:
        with self.catalog.session() as s:
            return s.get(UserRow, user_id)

    def users(self) -> list[UserRow]:
        with self.catalog.session() as s:
            return list(s.scalars(select(UserRow).order_by(UserRow.name)))

    def update_user(self, name: str, **values: Any) -> None:
        with self.catalog.session() as s:
            done = s.execute(update(UserRow).where(UserRow.name == name).values(**values))
            if not done.rowcount:
                raise NotFound(f"no user named {name!r}")

    # -- tokens ---------------------------------------------------------------------------
    def add_token(self, row: TokenRow) -> TokenRow:
        with self.catalog.session() as s:
            s.add(row)
            return row

    def token_by_hash(self, secret_sha256: str) -> TokenRow | None:
        with self.catalog.session() as s:
            return s.scalar(select(TokenRow).where(TokenRow.secret_sha256 == secret_sha256))

    def tokens(self) -> list[tuple[TokenRow, str]]:
        """Every token with its user's name, oldest first."""
        with self.catalog.session() as s:
            rows = s.execute(select(TokenRow, UserRow.name)
                             .join(UserRow, UserRow.id == TokenRow.user_id)
                             .order_by(TokenRow.created_at))
            return [(token, name) for token, name in rows]

    def token(self, token_id: str) -> TokenRow:
        with self.catalog.session() as s:
            row = s.get(TokenRow, token_id)
            if row is None:
                raise NotFound(f"no API token {token_id!r}")
            return row

    def update_token(self, token_id: str, **values: Any) -> None:
        with self.catalog.session() as s:
            s.execute(update(TokenRow).where(TokenRow.id == token_id).values(**values))

    def take_quota(self, token_id: str, day: str, count: int) -> bool:
        """Count ``count`` captures against a token's quota of ``day``; False (nothing
        counted) when that would pass it. One conditional UPDATE: two requests at once
        never both get the last capture of the day."""
        fresh = or_(TokenRow.quota_day.is_(None), TokenRow.quota_day != day)
        with self.catalog.session() as s:
            done = s.execute(
                update(TokenRow)
                .where(TokenRow.id == token_id,
                       or_(TokenRow.daily_quota.is_(None),
                           and_(fresh, TokenRow.daily_quota >= count),
                           and_(~fresh, TokenRow.quota_used + count <= TokenRow.daily_quota)))
                .values(quota_used=_used_after(fresh, count), quota_day=day))
            return bool(done.rowcount)

    # -- sessions -------------------------------------------------------------------------
    def add_session(self, row: SessionRow) -> None:
        with self.catalog.session() as s:
            s.add(row)

    def session_by_hash(self, secret_sha256: str) -> SessionRow | None:
        with self.catalog.session() as s:
            return s.get(SessionRow, secret_sha256)

    def end_session(self, secret_sha256: str) -> None:
        """Expire a session now (kept, as every session, for the record)."""
        self.end_sessions(SessionRow.secret_sha256 == secret_sha256)

    def end_user_sessions(self, user_id: int) -> None:
        self.end_sessions(SessionRow.user_id == user_id)

    def end_sessions(self, where: Any) -> None:
        now = _now()
        with self.catalog.session() as s:
            s.execute(update(SessionRow).where(where, SessionRow.expires_at > now)
                      .values(expires_at=now))


def _used_after(fresh: Any, count: int) -> Any:
    """The new ``quota_used``: ``count`` on a new day, else added to the day's."""
    from sqlalchemy import case

    return case((fresh, count), else_=TokenRow.quota_used + count)
