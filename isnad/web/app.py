"""The web application: :func:`create_app` builds it from the settings.

Routes here: the login page, sign-out, the health check, the static files and the home page;
the HTTP API is in :mod:`isnad.web.api` (``/api/v1``, its OpenAPI at
``/api/v1/openapi.json``), the screens in their own modules. Every response carries the
security headers of :class:`SecurityHeaders`.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from isnad import __version__
from isnad.app import accounts
from isnad.web.auth import (
    SESSION_COOKIE,
    LoginRequired,
    PageForbidden,
    Principal,
    require_page,
)
from isnad.web.render import render
from isnad.web.state import WebState, web_state

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from isnad.app.archive import Archive
    from isnad.config import Settings

STATIC = Path(__file__).resolve().parent / "static"
LOGIN_COOKIE = "isnad_login"  # the sign-in form's own CSRF secret (no session yet)

# Self only. ReplayWeb.page runs a service worker and shows the replay in a frame, both served
# by Isnad itself: worker-src and frame-src 'self'. Nothing may frame Isnad but Isnad.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "media-src 'self' blob:; font-src 'self'; connect-src 'self'; worker-src 'self'; "
       "frame-src 'self'; child-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'self'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    """ASGI middleware: the security headers on every response, streamed ones included (a
    header the route set itself is kept)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {name.lower() for name, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in have)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """ASGI middleware: a request body past ``limit`` bytes is refused with 413, whether its
    Content-Length says so or it only turns out so while it streams."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await JSONResponse({"detail": f"the request body is larger than {self.limit} "
                                "bytes (web.max_upload_bytes)"}, 413)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge(self.limit)
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await JSONResponse({"detail": f"the request body is larger than {self.limit} "
                                "bytes (web.max_upload_bytes)"}, 413)(scope, receive, send)


class _TooLarge(HTTPException):
    """A body that passed the limit while it streamed: an HTTPException, so that the route's
    body parsing lets it through (as 413) instead of calling it a parse error."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes "
                         "(web.max_upload_bytes)")


def create_app(settings: Settings, *, archive: Archive | None = None) -> FastAPI:
    """The web app and HTTP API over the archive the settings describe (opened here unless
    given)."""
    from isnad.app.archive import open_archive

    archive = archive or open_archive(settings, recover=False)
    state = WebState(settings, archive, accounts.open_accounts(settings, archive.catalog))
    app = FastAPI(title="Isnad", version=__version__, openapi_url="/api/v1/openapi.json",
                  docs_url=None, redoc_url=None,
                  description="Capture web pages as evidence, find them, prove them unaltered. "
                  "Authenticate with `Authorization: Bearer TOKEN` (`isnad tokens create`).")
    app.state.isnad = state
    app.add_middleware(BodyLimit, limit=settings.web.max_upload_bytes)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _add_error_pages(app)
    _add_pages(app)
    from isnad.web import api, pages

    app.include_router(api.router)
    app.include_router(pages.router)
    _add_replay(app, state)
    return app


def _add_replay(app: FastAPI, state: WebState) -> None:
    """Replay in the browser (ReplayWeb.page, served by Isnad): every replay view and
    package download is written into the capture's custody log as an access."""
    from isnad.app.access import record_access
    from isnad.web import replay

    def on_access(request: Request, principal: Principal, capture_id: str, action: str) -> None:
        record_access(state.settings, capture_id, actor=principal.name, action=action,
                      address=principal.address, archive=state.archive)

    app.include_router(replay.make_router(require_page("read"), on_access),
                       include_in_schema=False)  # pages, not the API


def _add_error_pages(app: FastAPI) -> None:
    from fastapi.exception_handlers import http_exception_handler
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(StarletteHTTPException)
    async def error_page(request: Request, exc: StarletteHTTPException) -> Response:
        """The API and static files answer errors in JSON; a page, with the error page."""
        if request.url.path.startswith(("/api/", "/static/")) or exc.status_code not in (
                403, 404):
            return await http_exception_handler(request, exc)
        return render(request, "error.html", {"status": exc.status_code,
                                              "message": f"error.{exc.status_code}"},
                      status_code=exc.status_code)

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(exc.location, status_code=303)

    @app.exception_handler(PageForbidden)
    async def forbidden(request: Request, exc: PageForbidden) -> Response:
        return render(request, "error.html", {"status": 403, "message": exc.message_key},
                      status_code=403)


def _safe_next(value: str | None) -> str:
    """Where to go after signing in: a path of this site only (never ``//host`` or a URL)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _login_page(request: Request, *, next_url: str, name: str = "", message: str | None = None,
                status_code: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    request.state.csrf = token  # csrf_field() in the form carries it
    response = render(request, "login.html", {"next": next_url, "name": name,
                                              "message": message}, status_code=status_code)
    response.set_cookie(LOGIN_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/login")
    return response


def _add_pages(app: FastAPI) -> None:
    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__}

    @app.get("/", include_in_schema=False)
    def home(principal: Annotated[Principal, Depends(require_page("read"))]) -> Response:
        return RedirectResponse("/captures", status_code=303)

    @app.get("/login", include_in_schema=False)
    def login_form(request: Request, next: str = "/") -> Response:  # noqa: A002 - the query name
        return _login_page(request, next_url=_safe_next(next))

    @app.post("/login", include_in_schema=False)
    async def login(request: Request, name: Annotated[str, Form()] = "",
                    password: Annotated[str, Form()] = "",
                    next: Annotated[str, Form()] = "/",  # noqa: A002 - the form's field
                    csrf_token: Annotated[str, Form()] = "") -> Response:
        target = _safe_next(next)
        # Login CSRF: the form must come from our own page (its cookie and field agree).
        if not accounts.same_secret(csrf_token, request.cookies.get(LOGIN_COOKIE)):
            return _login_page(request, next_url=target, name=name, message="login.expired",
                               status_code=403)
        state = web_state(request)
        user = await run_in_threadpool(accounts.check_password, state.accounts, name, password)
        if user is None:
            return _login_page(request, next_url=target, name=name, message="login.failed",
                               status_code=401)
        secret = await run_in_threadpool(
            accounts.start_session, state.accounts, user,
            timedelta(hours=state.settings.web.session_hours))
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(SESSION_COOKIE, secret, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https",
                            max_age=int(state.settings.web.session_hours * 3600))
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request,
                     principal: Annotated[Principal, Depends(require_page("read"))]
                     ) -> Response:
        secret = request.cookies.get(SESSION_COOKIE)
        if secret:
            await run_in_threadpool(accounts.end_session, web_state(request).accounts, secret)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response
