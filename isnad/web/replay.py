"""Replay in the browser: ReplayWeb.page, served by Isnad itself from its npm package (no CDN),
reading a capture's package through an authenticated byte-range endpoint.

Routes (one ``APIRouter``, wired into the web app by ``make_router``):

- ``GET /captures/{id}/replay``: a page embedding ``<replay-web-page>`` on the capture's package;
- ``GET|HEAD /captures/{id}/package.wacz``: the package, with byte ranges (what ReplayWeb.page's
  service worker reads: the zip directory, the index, then each record it replays);
- ``GET /replay/ui.js``, ``/replay/sw.js`` (and ``/replay/``): ReplayWeb.page's code. The service
  worker is served from ``/replay/`` so its scope, ``/replay/``, holds the replay frames and no
  other page of the app: it intercepts replay requests and nothing else.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, StreamingResponse

from isnad.app import IsnadError, NotFound
from isnad.app.packages import StoredPackage, find_package
from isnad.web.ranges import RangeNotSatisfiable, parse_byte_range

if TYPE_CHECKING:
    from isnad.app.archive import Archive

REPLAY_BASE = "/replay/"
# Where `make web-deps` installs ReplayWeb.page (web-vendor/package-lock.json pins it).
DEFAULT_ASSETS = (Path(__file__).resolve().parents[2] / "web-vendor" / "node_modules"
                  / "replaywebpage")
# The only files served from the package: a fixed table, never a path taken from the URL.
ASSET_FILES = ("ui.js", "sw.js")
TEMPLATES = Path(__file__).resolve().parent / "templates"

# What the replay page needs: its own scripts (ui.js), the frames and the service worker of
# /replay/, fetches to this origin (the package), inline styles (ReplayWeb.page's components
# set style attributes), images from data:/blob: URLs (icons, screenshots) and fetches of
# data: URLs (its icon components load their SVG that way). Nothing from elsewhere.
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self' data:; "
            "frame-src 'self'; worker-src 'self'; manifest-src 'self'; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'self'")
# The service worker's own policy (a worker takes the CSP of its script's response; ReplayWeb.page
# runs sw.js both as the service worker and as a web worker): scripts and fetches of this origin
# only. No WebAssembly: wabac.js compiles some only for its opt-in hash check, off here.
WORKER_CSP = "default-src 'none'; script-src 'self'; connect-src 'self'"

# A package is data, never a document: nothing in it runs if it is opened directly.
PACKAGE_CSP = "default-src 'none'; sandbox; frame-ancestors 'none'"

# A partial read of a package is logged once per reader and capture in this window: a replay
# reads dozens of ranges, the access log wants one line for it, and a download in ranges is
# still never silent.
RANGE_LOG_WINDOW = 600.0

ReadDependency = Callable[..., Any]
OnAccess = Callable[[Request, Any, str, str], None]


class AccessLog:
    """Calls ``on_access`` for every replay view and every whole download, and for partial
    reads once per reader and capture within ``window`` seconds (see RANGE_LOG_WINDOW)."""

    def __init__(self, on_access: OnAccess, window: float = RANGE_LOG_WINDOW) -> None:
        self.on_access = on_access
        self.window = window
        self._last: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def __call__(self, request: Request, principal: Any, capture_id: str, action: str,
                 *, partial: bool = False) -> None:
        if partial:
            key = (repr(principal), capture_id)
            now = time.monotonic()
            with self._lock:
                if now - self._last.get(key, -self.window) < self.window:
                    return
                if len(self._last) > 10_000:  # forget readers whose window has passed
                    self._last = {k: t for k, t in self._last.items()
                                  if now - t < self.window}
                self._last[key] = now
        self.on_access(request, principal, capture_id, action)


def make_router(read_dependency: ReadDependency, on_access: OnAccess, *,
                archive: Callable[[Request], Archive] | None = None,
                assets_dir: Path | None = None) -> APIRouter:
    """The replay routes. ``read_dependency`` is a FastAPI dependency returning the caller (the
    app's authentication; every route needs it, the static files too); ``on_access(request,
    principal, capture_id, action)`` hears each replay view ("replay") and package download
    ("download"). ``archive`` gives the request's archive (default: ``app.state.isnad.archive``);
    ``assets_dir`` is ReplayWeb.page's installed npm package (default: web-vendor's)."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    archive_of = archive or _app_archive
    assets = (assets_dir or DEFAULT_ASSETS).resolve()
    templates = Environment(loader=FileSystemLoader(TEMPLATES),
                            autoescape=select_autoescape(["html"]))
    log = AccessLog(on_access)
    router = APIRouter()
    caller = Depends(read_dependency)

    def package_of(request: Request, capture_id: str) -> StoredPackage:
        try:
            return find_package(archive_of(request), capture_id)
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from exc

    @router.get("/captures/{capture_id}/replay", response_class=HTMLResponse)
    def replay_page(capture_id: str, request: Request, principal: Any = caller) -> Response:
        """The capture, replayed from its package by ReplayWeb.page."""
        package = package_of(request, capture_id)
        log(request, principal, package.capture_id, "replay")
        html = templates.get_template("replay.html").render(
            capture_id=package.capture_id, url=package.page_url,
            # An imported collection's capture may name no web page (``import:FILE``):
            # ReplayWeb.page then opens on the list of the pages it holds.
            replay_url=package.page_url if package.page_url.startswith(("http://", "https://"))
            else "",
            ts=package.captured_at.strftime("%Y%m%d%H%M%S"),
            captured_at=package.captured_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
            sha256=package.sha256, source=f"/captures/{package.capture_id}/package.wacz",
            replay_base=REPLAY_BASE)
        return HTMLResponse(html, headers=_headers(PAGE_CSP, cache="no-store"))

    @router.api_route("/captures/{capture_id}/package.wacz", methods=["GET", "HEAD"])
    def package_download(capture_id: str, request: Request, principal: Any = caller
                         ) -> Response:
        """The package, whole or by one byte range (RFC 9110): 206 with Content-Range, 416
        when no asked byte exists; ETag from its SHA-256."""
        package = package_of(request, capture_id)
        etag = f'"{package.sha256}"'
        headers = {**_headers(PACKAGE_CSP, cache="private, no-cache"), "ETag": etag,
                   "Accept-Ranges": "bytes",
                   "Content-Disposition": f'attachment; filename="{package.filename}"'}
        wanted = request.headers.get("range")
        if_range = request.headers.get("if-range")
        if if_range is not None and if_range.strip() != etag:
            wanted = None  # another version than the one the client holds: send it whole
        try:
            asked = parse_byte_range(wanted, package.size)
        except RangeNotSatisfiable:
            return Response(status_code=416, headers={
                **headers, "Content-Range": f"bytes */{package.size}"})
        start, end = asked if asked is not None else (0, package.size - 1)
        length = end - start + 1
        status = 200 if asked is None else 206
        if asked is not None:
            headers["Content-Range"] = f"bytes {start}-{end}/{package.size}"
        headers["Content-Length"] = str(length)
        if request.method == "HEAD" or length == 0:
            return Response(status_code=status, headers=headers, media_type="application/zip")
        try:
            stream = package.open_range(start, length)
        except IsnadError as exc:  # the store unreachable, or the object gone from it
            raise HTTPException(503, f"the package of {package.capture_id} cannot be read "
                                f"now: {exc}") from exc
        log(request, principal, package.capture_id, "download",
            partial=asked is not None and length < package.size)
        return StreamingResponse(_chunks(stream), status_code=status, headers=headers,
                                 media_type="application/zip")

    @router.get(REPLAY_BASE + "{name}")
    def replay_asset(name: str, principal: Any = caller) -> Response:
        """ReplayWeb.page's two files, from its installed npm package."""
        if name == "index.html":
            return replay_index(principal)
        if name not in ASSET_FILES:
            raise HTTPException(404, "not found")
        path = assets / name
        if not path.is_file():
            raise HTTPException(503, "ReplayWeb.page is not installed: run `make web-deps`")
        csp = WORKER_CSP if name == "sw.js" else PAGE_CSP
        return FileResponse(path, media_type="text/javascript",
                            headers=_headers(csp, cache="no-cache"))

    @router.get(REPLAY_BASE)
    def replay_index(principal: Any = caller) -> Response:
        """The frame ReplayWeb.page opens at its scope: normally answered by its service
        worker; this copy serves a browser that reaches the server first."""
        return HTMLResponse(_INDEX, headers=_headers(PAGE_CSP, cache="no-cache"))

    return router


_INDEX = ('<!doctype html><html><head><meta charset="utf-8"><script src="./ui.js"></script>'
          "</head><body><replay-app-main></replay-app-main></body></html>")


def _headers(csp: str, *, cache: str) -> dict[str, str]:
    return {"Content-Security-Policy": csp, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "Cache-Control": cache}


def _chunks(stream: Any) -> Iterator[bytes]:
    """The range's bytes as they are read; the storage stream closed however it ends."""
    try:
        while chunk := stream.read(256 * 1024):
            yield chunk
    finally:
        stream.close()


def _app_archive(request: Request) -> Archive:
    """The web app's archive, opened once for its life (``app.state.isnad``)."""
    return request.app.state.isnad.archive  # type: ignore[no-any-return]
