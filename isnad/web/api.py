"""The HTTP API, ``/api/v1``: JSON over the use cases of :mod:`isnad.app` (nothing here reaches
past them). Authentication and scopes: :mod:`isnad.web.auth`; every read of a capture's
content (a file, an export) is a custody event (:mod:`isnad.app.access`).

Errors are JSON ``{"detail": "..."}`` with the status that says what happened: 401 (who are
you?), 403 (not allowed), 404 (no such thing, or a file the catalog does not list), 409
(not in a state for that), 422 (a bad value), 429 (rate limit or daily quota; Retry-After),
503 (the queue is unreachable).
"""

from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from isnad.app import CaptureRefused, IsnadError, NotFound, accounts
from isnad.app import catalog as catalog_app
from isnad.app.catalog import find_captures, show_capture
from isnad.app.content import read_chunks
from isnad.app.export import export_bundle
from isnad.app.proof import verify_capture
from isnad.web.auth import Principal, csrf_token, require
from isnad.web.ranges import RangeNotSatisfiable, parse_byte_range
from isnad.web.state import WebState, web_state

router = APIRouter(prefix="/api/v1", tags=["api"])

Reader = Annotated[Principal, Depends(require("read"))]
Submitter = Annotated[Principal, Depends(require("submit"))]

PAGE = 50
PAGE_MAX = 500


# -- who -----------------------------------------------------------------------------------
@router.get("/me")
def me(request: Request, principal: Reader) -> dict[str, Any]:
    """Who is asking: user, role, scopes, how authenticated; for a session, its CSRF token
    (for the pages' own scripts: send it back as ``X-CSRF-Token``)."""
    return {"user": principal.name, "role": principal.role,
            "scopes": sorted(principal.scopes), "via": principal.via,
            "token_id": principal.token_id,
            "csrf_token": csrf_token(request) if principal.via == "session" else None}


# -- submissions and jobs ------------------------------------------------------------------
class Submission(BaseModel):
    """URLs to capture (``url``, ``urls`` or both), each its own job and package."""

    url: str | None = Field(None, description="one http(s) URL")
    urls: list[str] = Field(default_factory=list, description="many http(s) URLs")
    case: str | None = Field(None, max_length=200)
    tags: list[str] = Field(default_factory=list)
    note: str | None = Field(None, max_length=20_000)
    priority: int | None = Field(None, ge=0, le=100)
    no_browser: bool = Field(False, description="plain HTTP, no Chromium")
    posts: int | None = Field(None, ge=1, le=1000, description="a channel or profile URL: "
                              "also capture its N latest posts")


def _runtime(state: WebState) -> Any:
    from isnad.app.runtime import Runtime

    return Runtime(state.settings, state.archive)


def _submit(state: WebState, principal: Principal, body: Submission) -> list[dict[str, Any]]:
    from isnad.app.jobs import JobSpec
    from isnad.app.queue import QueueUnavailable

    urls = ([body.url] if body.url else []) + list(body.urls)
    if not urls:
        raise HTTPException(422, "no URL to capture: give `url` or `urls`")
    limit = state.settings.web.max_submission_urls
    if len(urls) > limit:
        raise HTTPException(422, f"{len(urls)} URLs in one submission; at most {limit} "
                            "(web.max_submission_urls)")
    specs = []
    problems = []
    for n, url in enumerate(urls):
        spec = JobSpec(url=url.strip(), operator=principal.name, case_id=body.case,
                       tags=tuple(body.tags), note=body.note, source="api",
                       priority=body.priority, use_browser=not body.no_browser,
                       posts=body.posts)
        try:
            spec.check()  # the same validation as `isnad submit`; the guard runs at capture
        except CaptureRefused as exc:
            problems.append(f"URL #{n + 1}: {exc}")
        specs.append(spec)
    if problems:  # nothing is queued when one URL is refused: the caller fixes and resends
        raise HTTPException(422, "; ".join(problems))
    if principal.token_id is not None and not accounts.take_quota(
            state.accounts, principal.token_id, len(specs)):
        tomorrow = datetime.combine(datetime.now(UTC).date() + timedelta(days=1), time(),
                                    tzinfo=UTC)
        wait = int((tomorrow - datetime.now(UTC)).total_seconds()) + 1
        raise HTTPException(429, f"the daily capture quota of token {principal.token_id} "
                            f"does not allow {len(specs)} more today (UTC)",
                            headers={"Retry-After": str(wait)})
    runtime = _runtime(state)
    try:
        rows = runtime.submit(specs)
    except QueueUnavailable as exc:
        raise HTTPException(503, str(exc)) from exc
    return [runtime.record(row) for row in rows]


@router.post("/submissions", status_code=201)
async def submit(request: Request, body: Submission, principal: Submitter) -> dict[str, Any]:
    """Queue URLs for capture; the jobs made (watch them at ``/jobs/{id}``). Counts against
    the token's daily capture quota."""
    jobs = await run_in_threadpool(_submit, web_state(request), principal, body)
    return {"jobs": jobs}


@router.get("/jobs")
def jobs(request: Request, principal: Reader,
         state: Annotated[list[str] | None, Query(description="queued, running, done, "
                                                 "failed, cancelled (repeatable)")] = None,
         limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 100) -> dict[str, Any]:
    """Jobs, newest first."""
    from isnad.app import JobState

    known = {s.value for s in JobState}
    for given in state or []:
        if given not in known:
            raise HTTPException(422, f"unknown job state {given!r} (one of "
                                f"{', '.join(sorted(known))})")
    runtime = _runtime(web_state(request))
    return {"jobs": [runtime.record(row) for row in runtime.jobs(tuple(state or ()), limit)]}


@router.get("/jobs/{job_id}")
def job(request: Request, job_id: str, principal: Reader) -> dict[str, Any]:
    """One job: what was asked, its progress and attempts, its captures."""
    runtime = _runtime(web_state(request))
    return dict(runtime.record(_found(lambda: runtime.job(job_id))))


# -- captures ------------------------------------------------------------------------------
def _when(text: str | None, name: str, *, end_of_day: bool = False) -> datetime | None:
    """A date (``2026-11-30``) or a datetime (UTC unless a zone is given)."""
    if not text:
        return None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = date.fromisoformat(text)
            moment = datetime.combine(day + timedelta(days=1) if end_of_day else day, time(),
                                      tzinfo=UTC)
            return moment
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise HTTPException(422, f"{name}: not a date or a datetime: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@router.get("/captures")
def captures(request: Request, principal: Reader,
             case: str | None = None,
             tag: Annotated[list[str] | None, Query(description="all of these tags")] = None,
             state: Annotated[list[str] | None, Query(description="COMPLETE, PARTIAL, FAILED, "
                                                      "RUNNING (any of them)")] = None,
             platform: str | None = None,
             source: Annotated[str | None, Query(pattern="^(capture|import)$")] = None,
             since: Annotated[str | None, Query(description="started at or after (date or "
                                                "datetime)")] = None,
             until: Annotated[str | None, Query(description="started before (a date: on or "
                                                "before)")] = None,
             url: Annotated[str | None, Query(description="part of the URL")] = None,
             limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = PAGE,
             offset: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
    """Captures matching every filter, newest first, a page at a time."""
    found = find_captures(
        web_state(request).archive, case=case, tags=tuple(tag or ()),
        states=tuple(s.upper() for s in state or ()), since=_when(since, "since"),
        until=_when(until, "until", end_of_day=True), url=url, source=source,
        platform=platform, limit=limit, offset=offset)
    return {"captures": found.captures, "total": found.total, "limit": limit,
            "offset": offset}


@router.get("/captures/{capture_id}")
def capture(request: Request, capture_id: str, principal: Reader) -> dict[str, Any]:
    """One capture in full: context, artifacts with hashes, copies, custody, posts."""
    state = web_state(request)
    return dict(_found(lambda: show_capture(state.archive, capture_id)))


@router.get("/captures/{capture_id}/files")
def capture_files(request: Request, capture_id: str, principal: Reader
                  ) -> dict[str, Any]:
    """The files of a capture that can be downloaded: its package and the files in it."""
    from isnad.app import files

    found = _found(lambda: files.capture_files(web_state(request).archive, capture_id))
    return {"files": [{"name": f.name, "kind": f.kind, "media_type": f.media_type,
                       "size": f.size, "sha256": f.sha256} for f in found]}


@router.get("/captures/{capture_id}/files/{name:path}")
async def capture_file(request: Request, capture_id: str, name: str, principal: Reader
                       ) -> Response:
    """One file of a capture, by the name the catalog lists (byte ranges served); any other
    name is 404. Each download is a custody event on the capture."""
    from isnad.app import files

    state = web_state(request)
    found = await run_in_threadpool(
        _found, lambda: files.capture_file(state.archive, capture_id, name))
    ranged = _range(request.headers.get("range"), found.size)
    opened = files.open_capture_file(state.archive, state.settings.home, found)
    stream = await run_in_threadpool(_found, opened.__enter__)
    try:  # recorded once the file is open (a file that cannot be read was not accessed)
        await run_in_threadpool(
            _record, state, principal, found.capture_id, "download",
            {"file": found.name, **({"range": f"{ranged[0]}-{ranged[1]}"} if ranged else {})},
            found.sha256)
    except BaseException:
        opened.__exit__(None, None, None)
        raise
    headers = {"Accept-Ranges": "bytes", "X-Content-SHA256": found.sha256,
               "Content-Disposition": _disposition(found.name),
               "Cache-Control": "private, no-store"}
    start, end = ranged if ranged else (0, found.size - 1)
    if ranged:
        headers["Content-Range"] = f"bytes {start}-{end}/{found.size}"
    headers["Content-Length"] = str(max(end - start + 1, 0))
    return StreamingResponse(read_chunks(stream, start, end), status_code=206 if ranged else 200,
                             media_type=found.media_type, headers=headers,
                             background=BackgroundTask(opened.__exit__, None, None, None))


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range asked for (inclusive), None for the whole file (no header, or one
    RFC 9110 lets a server ignore); 416 when no asked byte exists."""
    try:
        return parse_byte_range(header, size)
    except RangeNotSatisfiable as exc:
        raise HTTPException(416, f"Range {header!r} is outside the file's {size} bytes",
                            headers={"Content-Range": f"bytes */{size}"}) from exc


def _disposition(name: str) -> str:
    from urllib.parse import quote

    base = name.rsplit("/", 1)[-1]
    plain = re.sub(r"[^A-Za-z0-9._-]", "_", base) or "file"
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(base)}"


@router.get("/captures/{capture_id}/export")
async def export(request: Request, capture_id: str, principal: Reader) -> Response:
    """The export bundle of a capture, as `isnad export` writes it, as one ZIP file (its
    ``SHA256SUMS`` lists every file). The export is a custody event, as is this access."""
    state = web_state(request)
    row = await run_in_threadpool(_found, lambda: show_capture(state.archive, capture_id))
    work = Path(tempfile.mkdtemp(prefix="export-", dir=_scratch(state)))
    try:
        zipped = await run_in_threadpool(_export_zip, state, principal, row["id"], work)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return FileResponse(zipped, media_type="application/zip",
                        filename=f"isnad-export-{row['id']}.zip",
                        headers={"Cache-Control": "private, no-store"},
                        background=BackgroundTask(shutil.rmtree, work, True))


def _scratch(state: WebState) -> Path:
    folder = state.settings.home / "web-tmp"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _export_zip(state: WebState, principal: Principal, capture_id: str, work: Path) -> Path:
    _record(state, principal, capture_id, "export", {})
    bundle = export_bundle(state.archive, state.settings, [capture_id],
                           work / "bundle", principal.name)
    zipped = work / "bundle.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(bundle.folder.rglob("*")):
            if path.is_file():
                zf.write(path, f"isnad-export-{capture_id}/"
                         f"{path.relative_to(bundle.folder).as_posix()}")
    return zipped


@router.post("/captures/{capture_id}/verify")
async def verify(request: Request, capture_id: str, principal: Reader) -> dict[str, Any]:
    """Verify a stored capture (package, WARC records, signature, timestamps, custody) as
    `isnad verify` does; the report. The verification is itself a custody event."""
    state = web_state(request)

    def run() -> dict[str, Any]:
        row = _found(lambda: show_capture(state.archive, capture_id))
        report = verify_capture(state.archive, row["id"], principal.name)
        return {"capture": row["id"], "ok": report.ok, **report.to_dict()}

    return await run_in_threadpool(run)


# -- monitors and imports ------------------------------------------------------------------
@router.get("/monitors")
def monitors(request: Request, principal: Reader) -> dict[str, Any]:
    """Monitors with their last run."""
    from isnad.app import monitors as monitors_uc

    state = web_state(request)
    return {"monitors": [monitors_uc.show_monitor(state.settings, state.archive, row.id, runs=1)
                         for row in monitors_uc.list_monitors(state.settings, state.archive)]}


@router.get("/imports")
def imports(request: Request, principal: Reader) -> dict[str, Any]:
    """Imports, newest first."""
    from isnad.app import imports as imports_uc

    return {"imports": imports_uc.list_imports(web_state(request).archive)}


# -- cases ---------------------------------------------------------------------------------
class CaseNote(BaseModel):
    """A case's note: free text (at most 20,000 characters; "" clears it)."""

    note: str


@router.get("/cases")
def cases(request: Request, principal: Reader) -> dict[str, Any]:
    """Every case: its number of captures, latest capture, and note (``case`` null: the
    captures of no case)."""
    return {"cases": catalog_app.list_cases(web_state(request).archive)}


@router.get("/cases/{case:path}/note")
def case_note(request: Request, case: str, principal: Reader) -> dict[str, Any]:
    """A case's note ("" when none), when and by whom it was last changed."""
    return _valid(lambda: catalog_app.case_note(web_state(request).archive, case))


@router.put("/cases/{case:path}/note")
async def set_case_note(request: Request, case: str, body: CaseNote,
                        principal: Submitter) -> dict[str, Any]:
    """Write a case's note (replacing the one before); the note as now kept. Not evidence:
    it is in no package, custody log or search index."""
    archive = web_state(request).archive
    return await run_in_threadpool(_valid, lambda: catalog_app.set_case_note(
        archive, case, body.note, by=principal.name))


def _valid(call: Any) -> Any:
    """The result of ``call``, a refused value as 422."""
    try:
        return call()
    except IsnadError as exc:
        raise HTTPException(422, str(exc)) from exc


# -- helpers -------------------------------------------------------------------------------
def _found(call: Any) -> Any:
    """The result of ``call``, a catalog miss as 404 and a refusal as 409."""
    try:
        return call()
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except IsnadError as exc:
        raise HTTPException(409, str(exc)) from exc


def _record(state: WebState, principal: Principal, capture_id: str, action: str,
            detail: dict[str, Any], object_sha256: str | None = None) -> None:
    """The custody event of an access, or 503 (nothing served without its record)."""
    from isnad.app.access import record_access

    try:
        record_access(state.settings, capture_id, actor=principal.name, action=action,
                      address=principal.address, archive=state.archive,
                      object_sha256=object_sha256,
                      detail={**detail, "via": principal.via,
                              **({"token": principal.token_id} if principal.token_id else {})})
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except IsnadError as exc:
        raise HTTPException(503, str(exc)) from exc

