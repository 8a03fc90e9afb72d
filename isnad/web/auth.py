"""Who is asking, and may they: sessions (the pages), bearer tokens (the API), CSRF, scopes.

Every route but the login page, the health check and the static files depends on
:func:`require` (the API) or :func:`require_page` (the pages). A request carrying
``Authorization: Bearer <token>`` is judged by that token alone; otherwise by the session
cookie. Every unsafe method (POST, PUT, PATCH, DELETE) authenticated by a session must carry
the session's CSRF secret, as the form field ``csrf_token`` or the header ``X-CSRF-Token``: a
cookie is sent by the browser whoever made the request, a token in the page only by the page.
Bearer-token calls need none (no browser sends them on its own).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import markupsafe
from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool

from isnad.app import accounts
from isnad.web.state import web_state

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

SESSION_COOKIE = "isnad_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Principal:
    """Who a request is from, and what it may do."""

    name: str  # user name
    role: str  # "admin" | "investigator" | "viewer"
    scopes: frozenset[str]  # subset of {"read", "submit", "admin"}
    via: str  # "session" | "token"
    token_id: str | None
    address: str | None  # client address, for the access log


class LoginRequired(Exception):
    """A page asked for without a session: the app answers 303 to the login page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url

    @property
    def location(self) -> str:
        return "/login?next=" + quote(self.next_url, safe="/")


class PageForbidden(Exception):
    """A page refused (a scope missing, a form without its CSRF token): the 403 page."""

    def __init__(self, message_key: str) -> None:
        super().__init__(message_key)
        self.message_key = message_key


def client_address(request: Request) -> str | None:
    """The client's address (behind a proxy: as uvicorn's --forwarded-allow-ips trusts)."""
    return request.client.host if request.client else None


async def _csrf_ok(request: Request, expected: str | None) -> bool:
    given = request.headers.get(CSRF_HEADER)
    if not given:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()  # Starlette keeps it: the route reads it again for free
            value = form.get(CSRF_FIELD)
            given = value if isinstance(value, str) else None
    return accounts.same_secret(given, expected)


async def _session(request: Request) -> accounts.Identity | None:
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        return None
    state = web_state(request)
    return await run_in_threadpool(accounts.session_identity, state.accounts, secret)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def require(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency for ``/api/v1``: the :class:`Principal` of a request holding
    ``scope``; 401 without valid credentials, 403 without the scope (or without the CSRF
    token on an unsafe method by session), 429 past the token's rate limit."""

    async def dependency(request: Request) -> Principal:
        state = web_state(request)
        address = client_address(request)
        header = request.headers.get("authorization")
        if header is not None:
            kind, _, secret = header.partition(" ")
            if kind.lower() != "bearer" or not secret.strip():
                raise _unauthorized("give an API token as `Authorization: Bearer TOKEN`")
            who = await run_in_threadpool(accounts.token_identity, state.accounts,
                                          secret.strip())
            if who is None:
                raise _unauthorized("the API token is unknown, revoked, or its user disabled")
            principal = Principal(who.user, who.role, who.scopes, "token", who.token_id,
                                  address)
            wait = state.limiter.hit(f"token:{who.token_id}")
            if wait is not None:
                raise HTTPException(429, f"rate limit of {state.limiter.per_minute} requests "
                                    "a minute reached", headers={"Retry-After": str(wait)})
        else:
            who = await _session(request)
            if who is None:
                raise _unauthorized("sign in, or give an API token as `Authorization: Bearer "
                                    "TOKEN`")
            principal = Principal(who.user, who.role, who.scopes, "session", None, address)
            request.state.csrf = who.csrf_secret
            if request.method not in SAFE_METHODS and not await _csrf_ok(request,
                                                                         who.csrf_secret):
                raise HTTPException(403, f"missing or wrong CSRF token (form field "
                                    f"{CSRF_FIELD} or header {CSRF_HEADER})")
        if scope not in principal.scopes:
            raise HTTPException(403, f"this needs the {scope!r} scope; {principal.name} "
                                f"({principal.via}) has: {', '.join(sorted(principal.scopes))}")
        request.state.principal = principal
        return principal

    return dependency


def require_page(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency for HTML pages: the signed-in :class:`Principal` holding ``scope``;
    without a session, 303 to ``/login?next=...``; a scope missing (or an unsafe method without
    the CSRF token), the 403 page."""

    async def dependency(request: Request) -> Principal:
        who = await _session(request)
        if who is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(target)
        request.state.csrf = who.csrf_secret
        principal = Principal(who.user, who.role, who.scopes, "session", None,
                              client_address(request))
        request.state.principal = principal
        if request.method not in SAFE_METHODS and not await _csrf_ok(request, who.csrf_secret):
            raise PageForbidden("error.csrf")
        if scope not in principal.scopes:
            raise PageForbidden("error.403")
        return principal

    return dependency


def csrf_token(request: Request) -> str:
    """The CSRF secret of the request's session ("" before sign-in)."""
    return str(getattr(request.state, "csrf", None) or "")


def csrf_field(request: Request) -> markupsafe.Markup:
    """The hidden form field carrying the session's CSRF secret, for every POST form."""
    return markupsafe.Markup('<input type="hidden" name="{}" value="{}">').format(
        CSRF_FIELD, csrf_token(request))


def principal_of(request: Request) -> Principal | None:
    """The principal a dependency found for this request, if any."""
    value: Any = getattr(request.state, "principal", None)
    return value if isinstance(value, Principal) else None
