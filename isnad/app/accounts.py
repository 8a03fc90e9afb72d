"""Accounts: users with roles, API tokens, login sessions (``isnad users``, ``isnad tokens``,
the web app's sign-in).

A role grants scopes: ``admin`` {read, submit, admin}, ``investigator`` {read, submit},
``viewer`` {read}. A token holds the scopes it was made with, limited at each use by its user's
role (a user whose role is lowered loses them in every token at once). Passwords are hashed
with argon2 (argon2-cffi's defaults, RFC 9106); the secret of a token or a session cookie is
shown once and stored as its SHA-256 only.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from archiver.accounts import AccountStore, SessionRow, TokenRow, UserRow
from archiver.catalog import Catalog
from archiver.errors import IsnadError, NotFound
from isnad.app.records import utc_iso
from isnad.config import Settings

ROLES: dict[str, frozenset[str]] = {
    "admin": frozenset({"read", "submit", "admin"}),
    "investigator": frozenset({"read", "submit"}),
    "viewer": frozenset({"read"}),
}
SCOPES = ("read", "submit", "admin")
TOKEN_PREFIX = "isnad_"  # a token is recognisable in a leaked file or a secret scanner
_NAME_MAX = 200


def _now() -> datetime:
    return datetime.now(UTC)


def sha256_text(secret: str) -> str:
    """The SHA-256 (hex) under which a token's or a session's secret is stored."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher()


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``, refusing an empty or short one."""
    if len(password) < 8:
        raise IsnadError("a password needs at least 8 characters")
    return str(_hasher().hash(password))


def open_accounts(settings: Settings, catalog: Catalog | None = None) -> AccountStore:
    """The account store of the settings' catalog (its folders made first)."""
    if catalog is None:
        settings.prepare_folders()
        catalog = Catalog(settings.catalog_url)
    return AccountStore(catalog)


def _check_name(name: str, what: str) -> str:
    name = name.strip()
    if not name or len(name) > _NAME_MAX or any(ch.isspace() or not ch.isprintable()
                                                for ch in name):
        raise IsnadError(f"a {what} name is 1 to {_NAME_MAX} printable characters, no spaces: "
                         f"{name!r}")
    return name


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise IsnadError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    return role


# -- users ---------------------------------------------------------------------------------
def user_record(row: UserRow) -> dict[str, Any]:
    """A user as JSON (never its password hash)."""
    return {"name": row.name, "role": row.role, "disabled": row.disabled,
            "created_at": utc_iso(row.created_at)}


def add_user(store: AccountStore, name: str, role: str, password: str) -> dict[str, Any]:
    """A new user with ``role`` and ``password`` (hashed with argon2)."""
    row = store.add_user(_check_name(name, "user"), _check_role(role), hash_password(password))
    return user_record(row)


def list_users(store: AccountStore) -> list[dict[str, Any]]:
    return [user_record(row) for row in store.users()]


def disable_user(store: AccountStore, name: str) -> dict[str, Any]:
    """Disable a user: signed out everywhere at once, their tokens refused (kept, as is
    everything that says who reached the evidence)."""
    row = store.user(name)
    store.update_user(row.name, disabled=True)
    store.end_user_sessions(row.id)
    return user_record(store.user(row.name))


def check_password(store: AccountStore, name: str, password: str) -> UserRow | None:
    """The enabled user ``name`` if ``password`` is theirs, else None (the same work is done
    for an unknown name, so the answer's time does not tell which names exist)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    hasher = _hasher()
    try:
        row = store.user(name)
    except NotFound:
        row = None
    stored = row.password_hash if row is not None else _DUMMY_HASH.get(hasher)
    try:
        hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or row.disabled:
        return None
    return row


class _Dummy:
    """A hash to verify against when the name is unknown (made once, on first use)."""

    value: str | None = None

    def get(self, hasher: Any) -> str:
        if self.value is None:
            self.value = str(hasher.hash(secrets.token_urlsafe(16)))
        return self.value


_DUMMY_HASH = _Dummy()


# -- tokens --------------------------------------------------------------------------------
@dataclass(frozen=True)
class NewToken:
    """A token just made: its record, and its secret (shown once, stored nowhere)."""

    record: dict[str, Any]
    secret: str


def token_record(row: TokenRow, user: str) -> dict[str, Any]:
    """A token as JSON (never its secret, nor the secret's hash)."""
    return {"id": row.id, "user": user, "name": row.name, "scopes": list(row.scopes),
            "daily_quota": row.daily_quota, "created_at": utc_iso(row.created_at),
            "last_used_at": utc_iso(row.last_used_at), "revoked_at": utc_iso(row.revoked_at),
            "state": "revoked" if row.revoked_at else "active"}


def create_token(store: AccountStore, user: str, scopes: list[str], *, name: str | None = None,
                 quota: int | None = None) -> NewToken:
    """A new API token of ``user`` with ``scopes`` (each one the user's role grants)."""
    owner = store.user(user)
    if owner.disabled:
        raise IsnadError(f"user {owner.name!r} is disabled")
    wanted = sorted(set(scopes))
    if not wanted:
        raise IsnadError("give a token at least one scope (--scope read|submit|admin)")
    for scope in wanted:
        if scope not in SCOPES:
            raise IsnadError(f"unknown scope {scope!r} (one of {', '.join(SCOPES)})")
        if scope not in ROLES[owner.role]:
            raise IsnadError(f"user {owner.name!r} is {owner.role}: the role does not grant "
                             f"the scope {scope!r}")
    if quota is not None and quota < 0:
        raise IsnadError("a daily quota is 0 or more captures")
    token_id = secrets.token_hex(6)
    secret = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    row = store.add_token(TokenRow(
        id=token_id, user_id=owner.id, name=_check_name(name or f"{owner.name}-{token_id}",
                                                         "token"),
        scopes=wanted, secret_sha256=sha256_text(secret), created_at=_now(),
        daily_quota=quota, quota_used=0))
    return NewToken(token_record(row, owner.name), secret)


def list_tokens(store: AccountStore) -> list[dict[str, Any]]:
    return [token_record(row, user) for row, user in store.tokens()]


def revoke_token(store: AccountStore, token_id: str) -> dict[str, Any]:
    """Revoke a token: refused from its next use on (kept for the record)."""
    row = store.token(token_id)
    if row.revoked_at is None:
        store.update_token(row.id, revoked_at=_now())
    owner = store.user_by_id(row.user_id)
    return token_record(store.token(row.id), owner.name if owner else "?")


@dataclass(frozen=True)
class Identity:
    """Who a request comes from, once authenticated."""

    user: str
    role: str
    scopes: frozenset[str]
    token_id: str | None = None
    csrf_secret: str | None = None  # a session's
    daily_quota: int | None = None


def token_identity(store: AccountStore, secret: str) -> Identity | None:
    """The identity of a token's secret: None if unknown, revoked, or its user disabled.
    Its scopes are those it was given that its user's role still grants."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    row = store.token_by_hash(sha256_text(secret))
    if row is None or row.revoked_at is not None:
        return None
    owner = store.user_by_id(row.user_id)
    if owner is None or owner.disabled:
        return None
    now = _now()
    # Written at most once a minute: a busy client must not make every read a write.
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        store.update_token(row.id, last_used_at=now)
    return Identity(owner.name, owner.role, frozenset(row.scopes) & ROLES[owner.role],
                    token_id=row.id, daily_quota=row.daily_quota)


def take_quota(store: AccountStore, token_id: str, count: int) -> bool:
    """Count ``count`` captures against the token's quota of today (UTC); False when that
    would pass it (nothing counted)."""
    return store.take_quota(token_id, _now().strftime("%Y-%m-%d"), count)


# -- sessions ------------------------------------------------------------------------------
def start_session(store: AccountStore, user: UserRow, lifetime: timedelta) -> str:
    """A new login session of ``user``; the cookie's secret (stored as its hash)."""
    secret = secrets.token_urlsafe(32)
    now = _now()
    store.add_session(SessionRow(secret_sha256=sha256_text(secret), user_id=user.id,
                                 csrf_secret=secrets.token_urlsafe(32), created_at=now,
                                 expires_at=now + lifetime))
    return secret


def session_identity(store: AccountStore, secret: str) -> Identity | None:
    """The identity of a session cookie: None if unknown, expired, or its user disabled."""
    row = store.session_by_hash(sha256_text(secret))
    if row is None or row.expires_at <= _now():
        return None
    owner = store.user_by_id(row.user_id)
    if owner is None or owner.disabled:
        return None
    return Identity(owner.name, owner.role, ROLES[owner.role], csrf_secret=row.csrf_secret)


def end_session(store: AccountStore, secret: str) -> None:
    store.end_session(sha256_text(secret))


def same_secret(given: str | None, expected: str | None) -> bool:
    """Compare two secrets in constant time (False when either is missing)."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
