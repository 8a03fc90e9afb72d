"""The screens: server-rendered pages over the use cases of :mod:`isnad.app` (submit, jobs,
captures, one capture, monitors, imports, cases), and the few routes they need (a job's live
status as JSON, a capture's screenshot and media, verify, export).

Content is only ever found through the catalog: a screenshot is the capture's screenshot
artifact, a media file is the n-th media file the catalog lists, an export is made of the
capture the catalog knows; nothing of the request becomes a path. Each look at content and
each download is written to the access log (:func:`_record_access`).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from isnad.app import (
    CaptureState,
    IsnadError,
    JobState,
    NotFound,
    content,
    export,
    imports,
    monitors,
    proof,
)
from isnad.app import catalog as catalog_app
from isnad.web import i18n
from isnad.web.auth import Principal, require_page
from isnad.web.ranges import RangeNotSatisfiable, parse_byte_range
from isnad.web.render import language, render
from isnad.web.state import web_state

if TYPE_CHECKING:
    from isnad.app.runtime import Runtime

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

Reader = Annotated[Principal, Depends(require_page("read"))]
Submitter = Annotated[Principal, Depends(require_page("submit"))]
PAGE_SIZE = 50
JOBS_SHOWN = 100
STAGES = ("queued", "starting", "crawling", "media", "packaging", "storing", "monitor",
          "done", "failed", "cancelled")


# -- helpers -----------------------------------------------------------------------------
def _runtime(request: Request) -> Runtime:
    """The app's one :class:`Runtime` (its queue connection is made once)."""
    from isnad.app.runtime import Runtime

    runtime = getattr(request.app.state, "isnad_runtime", None)
    if runtime is None:
        state = web_state(request)
        runtime = Runtime(state.settings, state.archive)
        request.app.state.isnad_runtime = runtime
    return runtime


def _record_access(request: Request, principal: Principal, capture_id: str, action: str,
                   detail: dict[str, Any] | None = None) -> None:
    """Write a look at (or a download of) a capture's content to its custody log, before the
    content is sent: an access that can be neither recorded nor queued is refused (503)."""
    from isnad.app.access import record_access

    state = web_state(request)
    try:
        record_access(state.settings, capture_id, actor=principal.name, action=action,
                      address=principal.address, detail=detail, archive=state.archive)
    except IsnadError as exc:
        raise HTTPException(503, f"the access could not be written to the custody log: {exc}"
                            ) from exc


def _ltr(value: Any) -> str:
    """``value`` (a time, a size, a count) as a left-to-right isolate (Unicode LRI … PDI): set
    in an Arabic sentence it keeps its own order ("2026-12-01 15:26", "1.2 MB", "1–50"), in
    the page and in the text a script writes alike."""
    return f"\u2066{value}\u2069" if value not in (None, "") else ""


def _page(request: Request, name: str, values: dict[str, Any], *,
          status_code: int = 200) -> Response:
    """A screen: :func:`render` with the helpers every template of this module uses."""
    return render(request, name, {"time": _time, "size": _size, "duration": _duration,
                                  "ltr": _ltr, **values}, status_code=status_code)


def _t(request: Request, key: str, **fields: Any) -> str:
    return i18n.translate(language(request), key, **fields)


def _not_found(request: Request, message: str | None = None) -> Response:
    return render(request, "error.html", {"status": 404, "message": "error.404",
                                          "detail": message}, status_code=404)


def _size(n: int | None) -> str:
    if n is None:
        return ""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(n)


def _time(value: str | None) -> str:
    """An ISO time as ``YYYY-MM-DD HH:MM:SS`` UTC (the pages say UTC once, in the headers)."""
    return (value or "")[:19].replace("T", " ")


def _duration(seconds: int | None) -> str:
    """Seconds as a monitor's schedule is written (``6h``, ``30m``, ``1d``, ``90s``)."""
    if not seconds:
        return ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _date(text: str | None, *, end: bool = False) -> datetime | None:
    """A filter's date (YYYY-MM-DD, UTC); with ``end``, the start of the next day."""
    if not text:
        return None
    day = datetime.strptime(text.strip(), "%Y-%m-%d").replace(tzinfo=UTC)
    return day + timedelta(days=1) if end else day


def _tags(text: str | None) -> tuple[str, ...]:
    parts = (text or "").replace("،", ",").replace(";", ",").split(",")
    return tuple(dict.fromkeys(t.strip() for t in parts if t.strip()))


def _upload_limit(request: Request) -> dict[str, Any]:
    limit = web_state(request).settings.web.max_upload_bytes
    return {"max_upload": limit, "max_upload_words": _ltr(_size(limit))}


# -- submit ------------------------------------------------------------------------------
@router.get("/submit")
def submit_form(request: Request, principal: Submitter) -> Response:
    """The submit form: one URL, many, or a batch file; case, tags, note."""
    return _page(request, "submit.html", {"errors": {}, "form": {}, **_upload_limit(request)})


@router.post("/submit")
async def submit(request: Request, principal: Submitter,
                 url: Annotated[str, Form()] = "", urls: Annotated[str, Form()] = "",
                 case: Annotated[str, Form()] = "", tags: Annotated[str, Form()] = "",
                 note: Annotated[str, Form()] = "",
                 batch: UploadFile | None = None) -> Response:
    """Queue what the form asks for, through the same jobs and SSRF guard as `isnad submit`;
    a problem is said next to its field, and nothing is queued unless every part is good."""
    from isnad.app.jobs import JobSpec, parse_batch

    state = web_state(request)
    form = {"url": url, "urls": urls, "case": case, "tags": tags, "note": note}
    errors: dict[str, list[str]] = {}
    template = JobSpec(url="", operator=principal.name, case_id=case.strip() or None,
                       tags=_tags(tags), note=note.strip() or None, source="api")
    specs: list[JobSpec] = []
    if url.strip():
        found, bad = parse_batch(url.strip(), template)
        specs += found
        errors.setdefault("url", []).extend(p.problem for p in bad)
    if urls.strip():
        found, bad = parse_batch(urls, template)
        specs += found
        errors.setdefault("urls", []).extend(str(p) for p in bad)
    if batch is not None and batch.filename:
        data = await batch.read(state.settings.web.max_upload_bytes + 1)
        if len(data) > state.settings.web.max_upload_bytes:
            errors.setdefault("batch", []).append(_t(
                request, "submit.too_large",
                limit=_ltr(_size(state.settings.web.max_upload_bytes))))
        else:
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                errors.setdefault("batch", []).append(_t(request, "submit.not_text"))
            else:
                found, bad = parse_batch(text, template)
                specs += found
                errors.setdefault("batch", []).extend(str(p) for p in bad)
                if not found and not bad:
                    errors["batch"].append(_t(request, "submit.empty_file"))
    errors = {k: v for k, v in errors.items() if v}
    if not specs and not errors:
        errors["url"] = [_t(request, "submit.nothing")]
    if errors:
        return _page(request, "submit.html", {"errors": errors, "form": form,
                                               **_upload_limit(request)}, status_code=400)
    try:
        rows = await run_in_threadpool(_runtime(request).submit, specs)
    except IsnadError as exc:
        return _page(request, "submit.html", {"errors": {"form": [str(exc)]}, "form": form,
                                               **_upload_limit(request)}, status_code=503)
    return RedirectResponse("/jobs?" + "&".join(f"new={r.id}" for r in rows),
                            status_code=303)


# -- jobs --------------------------------------------------------------------------------
def job_view(request: Request, record: dict[str, Any]) -> dict[str, Any]:
    """What the jobs screen shows of a job (its record, with words for its state and stage,
    in the page's language): the same for the page and its live updates."""
    progress = record.get("progress") or {}
    stage = str(progress.get("stage") or record["state"])
    words = _t(request, f"stage.{stage}") if stage in STAGES else stage
    if progress.get("exchanges") is not None and stage == "crawling":
        words += " — " + _t(request, "jobs.exchanges", n=_ltr(progress["exchanges"]),
                            size=_ltr(_size(progress.get("bytes"))))
    results = progress.get("results") or {}
    return {"id": record["id"], "url": record["url"], "state": record["state"],
            "state_label": _t(request, f"job.{record['state']}"), "stage": stage,
            "stage_label": words, "error": record.get("error") or "",
            "final": JobState(record["state"]).final, "captures": record["captures"],
            "results": results, "created_at": _time(record.get("created_at")),
            "attempts": record.get("attempts"), "case": record.get("case"),
            "operator": record.get("operator"), "source": record.get("source")}


@router.get("/jobs")
def jobs_page(request: Request, principal: Reader) -> Response:
    """The latest jobs, live: a script asks :func:`jobs_status` every second."""
    runtime = _runtime(request)
    new = set(request.query_params.getlist("new"))
    rows = runtime.jobs(limit=JOBS_SHOWN)
    views = [job_view(request, runtime.record(r)) for r in rows]
    return _page(request, "jobs.html", {"jobs": views, "new": new})


@router.get("/jobs/status.json")
def jobs_status(request: Request, principal: Reader) -> Response:
    """The jobs named by ``id`` (repeatable) as the jobs screen shows them (JSON)."""
    runtime = _runtime(request)
    ids = request.query_params.getlist("id")[:JOBS_SHOWN]
    rows = runtime.store.many(ids) if ids else []
    return JSONResponse({"jobs": [job_view(request, runtime.record(r)) for r in rows]},
                        headers={"Cache-Control": "no-store"})


@router.get("/jobs/{job_id}")
def job_page(request: Request, job_id: str, principal: Reader) -> Response:
    """One job: what was asked, where it stands (live), its history and captures."""
    runtime = _runtime(request)
    try:
        record = runtime.record(runtime.job(job_id))
    except NotFound:
        return _not_found(request)
    return _page(request, "job.html", {"job": job_view(request, record), "record": record})


# -- captures ----------------------------------------------------------------------------
def _search(request: Request, q: str, filters: dict[str, Any], offset: int) -> Any:
    """Full-text search (``q``) over captures and imports, narrowed by the list's filters: a
    :class:`isnad.app.search.SearchPage` of hits with their highlighted snippets."""
    from isnad.app import search as search_app

    state = web_state(request)
    tags = filters["tags"]
    wanted = {"case": filters["case"], "tag": tags[0] if len(tags) == 1 else None,
              "state": filters["states"][0] if filters["states"] else None,
              "platform": filters["platform"], "source": filters["source"],
              "since": filters["since"], "until": filters["until"]}
    found = search_app.search(state.settings, q, filters=wanted, limit=PAGE_SIZE,
                              offset=offset, archive=state.archive)
    if len(tags) > 1:  # the index filters on one tag; the others are checked here
        found.hits = [h for h in found.hits if set(tags) <= set(h.get("tags") or [])]
    return found


@router.get("/captures")
def captures_page(request: Request, principal: Reader, case: str = "", tag: str = "",
                  state: str = "", platform: str = "", source: str = "", since: str = "",
                  until: str = "", q: str = "", page: int = 1) -> Response:
    """The captures, newest first, filtered (case, tag, state, platform, source, dates) and
    paged; ``q`` is the full-text search box."""
    archive = web_state(request).archive
    page = max(page, 1)
    errors: dict[str, str] = {}
    try:
        since_at = _date(since)
    except ValueError:
        since_at, errors["since"] = None, _t(request, "captures.bad_date")
    try:
        until_at = _date(until, end=True)
    except ValueError:
        until_at, errors["until"] = None, _t(request, "captures.bad_date")
    filters: dict[str, Any] = dict(
        case=case or None, tags=_tags(tag),
        states=(state,) if state in {s.value for s in CaptureState} else (),
        since=since_at, until=until_at, source=source if source in ("import", "capture")
        else None, platform=platform or None)
    searched = _search(request, q, filters, (page - 1) * PAGE_SIZE) if q.strip() else None
    # A search shows its hits alone: the list's page (a count of every capture the filters
    # match, the page's rows, two queries per row for its short id) is not asked for then.
    if searched is not None:
        found, total = None, searched.total
    else:
        found = catalog_app.find_captures(archive, **filters, limit=PAGE_SIZE,
                                          offset=(page - 1) * PAGE_SIZE, shorten=True)
        total = found.total
    query = {k: v for k, v in dict(case=case, tag=tag, state=state, platform=platform,
                                   source=source, since=since, until=until, q=q).items() if v}
    return _page(request, "captures.html", {
        "found": found, "page": page, "pages": max(1, -(-total // PAGE_SIZE)),
        "filters": query, "errors": errors, "q": q, "searched": searched,
        "states": [s.value for s in CaptureState], "platforms": archive.catalog.platforms(),
        "first": (page - 1) * PAGE_SIZE + 1})


def _proof_status(record: dict[str, Any]) -> dict[str, Any]:
    """The signature and the timestamps of a capture, in a few facts."""
    proofs = (record.get("context") or {}).get("proof") or {}
    signing = proofs.get("signing") or {}
    stamps = [{"tsa": s.get("tsa") or s.get("url") or s.get("name"), "state": s.get("state"),
               "subject": s.get("subject"), "time": s.get("time") or s.get("gen_time")}
              for s in proofs.get("timestamps") or []]
    return {"signed": bool(signing), "algorithm": signing.get("algorithm"),
            "fingerprint": signing.get("fingerprint"), "timestamps": stamps}


def _capture_context(request: Request, capture_id: str) -> dict[str, Any]:
    archive = web_state(request).archive
    row = archive.catalog.get(capture_id)
    record = catalog_app.show_capture(archive, row.id)
    pictures = {a["kind"] for a in record["artifacts"] if "#" in a["path"]}
    context = record.get("context") or {}
    return {"c": record, "media": content.media_files(row), "proof": _proof_status(record),
            "screenshot": "screenshot" in pictures, "post": context.get("post")}


@router.get("/captures/{capture_id}")
def capture_page(request: Request, capture_id: str, principal: Reader) -> Response:
    """One capture: screenshot, media, post record, hashes, proofs, custody, actions."""
    try:
        values = _capture_context(request, capture_id)
    except NotFound:
        return _not_found(request)
    return _page(request, "capture.html", values)


@router.post("/captures/{capture_id}/verify")
async def capture_verify(request: Request, capture_id: str, principal: Reader) -> Response:
    """Verify the capture now (a custody event of its own) and show the report on its page."""
    archive = web_state(request).archive
    try:
        values = _capture_context(request, capture_id)
    except NotFound:
        return _not_found(request)
    report = await run_in_threadpool(proof.verify_capture, archive, values["c"]["id"],
                                     principal.name)
    values = await run_in_threadpool(_capture_context, request, capture_id)  # its new event
    return _page(request, "capture.html", {**values, "report": report.to_dict()})


@router.get("/captures/{capture_id}/screenshot")
async def capture_screenshot(request: Request, capture_id: str, principal: Reader,
                             kind: str = "screenshot") -> Response:
    """The capture's screenshot (or ``view``, ``thumbnail``), read from its package."""
    state = web_state(request)
    if kind not in content.PICTURES:
        return _not_found(request)
    try:
        row = state.archive.catalog.get(capture_id)
        data, media_type = await run_in_threadpool(content.picture, state.settings,
                                                   state.archive, row.id, kind)
    except NotFound:
        return _not_found(request)
    _record_access(request, principal, row.id, "view", {"what": kind})
    return Response(data, media_type=media_type,
                    headers={"Cache-Control": "private, max-age=3600"})


@router.get("/captures/{capture_id}/media/{number}")
async def capture_media(request: Request, capture_id: str, number: int,
                        principal: Reader) -> Response:
    """The ``number``-th media file the catalog lists for the capture, in byte ranges (so a
    player seeks): 206 for a range, 416 for one past the end."""
    state = web_state(request)
    try:
        row = state.archive.catalog.get(capture_id)
        listed = content.media_files(row)
        if not 0 <= number < len(listed):
            raise NotFound(f"capture {row.id} has no media file {number}")
        member = await run_in_threadpool(content.media_member, state.settings, state.archive,
                                         row.id, str(listed[number]["path"]))
    except NotFound:
        return _not_found(request)
    headers = {"Accept-Ranges": "bytes", "Cache-Control": "private, max-age=3600"}
    try:
        wanted = parse_byte_range(request.headers.get("range"), member.size)
    except RangeNotSatisfiable:
        return Response(status_code=416, headers={**headers,
                                                  "Content-Range": f"bytes */{member.size}"})
    start, end = wanted or (0, member.size - 1)
    if start == 0:  # a player asks many ranges of one file: its first look is the access
        _record_access(request, principal, row.id, "view", {"what": member.name})
    status = 206 if wanted else 200
    if wanted:
        headers["Content-Range"] = f"bytes {start}-{end}/{member.size}"
    headers["Content-Length"] = str(end - start + 1)
    return StreamingResponse(content.read_range(member, start, end), status_code=status,
                             media_type=member.media_type, headers=headers)


@router.post("/captures/{capture_id}/export")
async def capture_export(request: Request, capture_id: str, principal: Reader) -> Response:
    """An export bundle of the capture (as `isnad export`), as one zip download."""
    state = web_state(request)
    try:
        row = state.archive.catalog.get(capture_id)
    except NotFound:
        return _not_found(request)
    work = Path(tempfile.mkdtemp(prefix="isnad-export-"))
    try:
        zipped = await run_in_threadpool(_export_zip, state, row.id, principal.name, work)
    except IsnadError as exc:
        shutil.rmtree(work, ignore_errors=True)
        values = await run_in_threadpool(_capture_context, request, row.id)
        return _page(request, "capture.html", {**values, "export_error": str(exc)},
                      status_code=409)
    _record_access(request, principal, row.id, "export", {"file": zipped.name})
    return FileResponse(zipped, media_type="application/zip", filename=zipped.name,
                        background=BackgroundTask(shutil.rmtree, work, True))


def _export_zip(state: Any, capture_id: str, operator: str, work: Path) -> Path:
    folder = work / f"isnad-export-{capture_id}"
    export.export_bundle(state.archive, state.settings, [capture_id], folder, operator)
    zipped = work / f"{folder.name}.zip"
    # Stored, not deflated: packages and media are compressed already, and a reader can
    # check a member without inflating it.
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_STORED) as out:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                out.write(path, path.relative_to(work).as_posix())
    return zipped


# -- monitors ----------------------------------------------------------------------------
@router.get("/monitors")
def monitors_page(request: Request, principal: Reader) -> Response:
    """Every monitor, with the form to add one."""
    state = web_state(request)
    rows = monitors.list_monitors(state.settings, state.archive)
    return _page(request, "monitors.html", {
        "monitors": [monitors.monitor_record(r) for r in rows], "errors": {}, "form": {}})


@router.post("/monitors")
async def monitor_add(request: Request, principal: Submitter,
                      url: Annotated[str, Form()] = "", every: Annotated[str, Form()] = "",
                      case: Annotated[str, Form()] = "", tags: Annotated[str, Form()] = "",
                      note: Annotated[str, Form()] = "",
                      recheck: Annotated[str, Form()] = "") -> Response:
    """Add a monitor (as `isnad monitor add`)."""
    state = web_state(request)
    try:
        await run_in_threadpool(
            lambda: monitors.add_monitor(state.settings, state.archive, url.strip(),
                                         operator=principal.name, every=every.strip() or None,
                                         case_id=case.strip() or None, tags=_tags(tags),
                                         note=note.strip() or None,
                                         recheck=recheck.strip() or None))
    except IsnadError as exc:
        rows = monitors.list_monitors(state.settings, state.archive)
        return _page(request, "monitors.html", {
            "monitors": [monitors.monitor_record(r) for r in rows],
            "errors": {_monitor_field(str(exc)): str(exc)},
            "form": {"url": url, "every": every, "case": case, "tags": tags, "note": note,
                     "recheck": recheck}},
            status_code=400)
    return RedirectResponse("/monitors", status_code=303)


def _monitor_field(message: str) -> str:
    """The field of the monitor form an error of `add_monitor` is about (by the option it
    names), so it is said next to that field."""
    for field in ("recheck", "every"):
        if f"--{field}" in message:
            return field
    return "url"


@router.post("/monitors/{monitor_id}/{action}")
def monitor_pause(request: Request, monitor_id: str, action: str,
                  principal: Submitter) -> Response:
    """Pause or resume a monitor."""
    if action not in ("pause", "resume"):
        return _not_found(request)
    state = web_state(request)
    try:
        monitors.set_paused(state.settings, state.archive, monitor_id, action == "pause")
    except NotFound:
        return _not_found(request)
    return RedirectResponse("/monitors", status_code=303)


@router.get("/monitors/{monitor_id}")
def monitor_page(request: Request, monitor_id: str, principal: Reader) -> Response:
    """A monitor's timeline: its runs, and each post with its captures, edits, deletion."""
    state = web_state(request)
    try:
        line = monitors.timeline(state.settings, state.archive, monitor_id)
    except NotFound:
        return _not_found(request)
    return _page(request, "monitor.html", {"line": line, "m": line["monitor"]})


# -- imports and cases -------------------------------------------------------------------
@router.get("/imports")
def imports_page(request: Request, principal: Reader) -> Response:
    """Every import, newest first."""
    found = imports.list_imports(web_state(request).archive)
    return _page(request, "imports.html", {"imports": found})


@router.get("/imports/{import_id}")
def import_page(request: Request, import_id: str, principal: Reader) -> Response:
    """One import: its provider, files and findings."""
    try:
        record = imports.show_import(web_state(request).archive, import_id)
    except NotFound:
        return _not_found(request)
    return _page(request, "import.html", {"i": record})


@router.get("/cases")
def cases_page(request: Request, principal: Reader) -> Response:
    """The captures grouped by case: each case, how many, the latest few."""
    archive = web_state(request).archive
    cases = catalog_app.list_cases(archive)
    for entry in cases[:PAGE_SIZE]:
        entry["recent"] = catalog_app.find_captures(
            archive, case=entry["case"], limit=5).captures if entry["case"] else []
    return _page(request, "cases.html", {"cases": cases})


def _case_context(request: Request, case: str) -> dict[str, Any]:
    """A case's page: its note and its captures (the latest page of them)."""
    archive = web_state(request).archive
    found = catalog_app.find_captures(archive, case=case, limit=PAGE_SIZE, shorten=True)
    return {"case": case, "note": catalog_app.case_note(archive, case), "found": found,
            "errors": {}, "form": {}, "note_max": catalog_app.NOTE_MAX}


@router.get("/cases/{case:path}")
def case_page(request: Request, case: str, principal: Reader) -> Response:
    """One case: its note (a form to edit it for those who may submit) and its captures."""
    try:
        values = _case_context(request, case)
    except IsnadError as exc:  # an empty or too long case id
        return _not_found(request, str(exc))
    return _page(request, "case.html", values)


@router.post("/cases/{case:path}/note")
async def case_note_edit(request: Request, case: str, principal: Submitter,
                         note: Annotated[str, Form()] = "") -> Response:
    """Write the case's note (as ``PUT /api/v1/cases/{case}/note``); back to its page."""
    archive = web_state(request).archive
    try:
        await run_in_threadpool(lambda: catalog_app.set_case_note(archive, case, note,
                                                                  by=principal.name))
    except IsnadError as exc:
        try:
            values = await run_in_threadpool(_case_context, request, case)
        except IsnadError:
            return _not_found(request, str(exc))
        return _page(request, "case.html", {**values, "errors": {"note": str(exc)},
                                             "form": {"note": note}}, status_code=400)
    return RedirectResponse(f"/cases/{quote(case, safe='/')}", status_code=303)
