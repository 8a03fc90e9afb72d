"""What each use case reports, as plain data: the one place where Isnad's JSON is shaped.

The CLI prints these with ``--json`` (and a capture's record with ``--jsonl``); the web API
returns the same shapes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from archiver.states import CaptureState, CopyState, JobState

if TYPE_CHECKING:  # the rows and the use cases' results; those modules shape their JSON here
    # (imported for the types only: records is imported by every interface at start-up)
    from archiver.archive import SyncReport
    from archiver.catalog import CaptureRow
    from archiver.jobs import JobRow, WorkerRow
    from isnad.app.export import Bundle
    from isnad.app.keys import NewSigningKey, PublicKey
    from isnad.app.proof import AnchorReport, TimestampRetry
    from isnad.app.reindex import RebuiltCatalog
    from isnad.app.storage import TargetCheck


def utc_iso(moment: datetime | None) -> str | None:
    """An ISO 8601 time in UTC (the catalog's times are UTC even when stored without zone)."""
    if moment is None:
        return None
    return (moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def storage_state(row: CaptureRow) -> str:
    """Where the package is, in a few words. A FAILED capture has no package: never "stored"."""
    if row.state == CaptureState.FAILED or not row.package_key:
        kept = [c.target for c in row.copies if c.state == CopyState.STORED]
        return "no package" + (f" (custody record kept on {', '.join(kept)})" if kept else "")
    pending = [c.target for c in row.copies if c.state != CopyState.STORED]
    if pending:
        return "pending: " + ", ".join(pending)
    if row.copies:
        return "stored: " + ", ".join(c.target for c in row.copies)
    return "none"


def package_stored(row: CaptureRow) -> bool | None:
    """True when every target holds the package, False while one waits; None: no package."""
    if row.state == CaptureState.FAILED or not row.package_key:
        return None
    return bool(row.copies) and all(c.state == CopyState.STORED for c in row.copies)


def failed_subresources(row: CaptureRow) -> list[dict[str, str]]:
    """The requests of a capture that did not complete (URL and error), the page's own aside."""
    stats = (row.context or {}).get("stats") or {}
    return [f for f in stats.get("failed_requests") or [] if f.get("url") != row.url]


def capture_summary(row: CaptureRow) -> dict[str, Any]:
    """A capture as `isnad list --json` shows it."""
    return {
        "id": row.id, "state": row.state, "url": row.url, "final_url": row.final_url,
        "storage": storage_state(row), "stored": package_stored(row),
        "case": row.case_id, "tags": row.tags, "operator": row.operator,
        "started_at": utc_iso(row.started_at), "ended_at": utc_iso(row.ended_at),
        "package_location": row.package_location, "package_sha256": row.package_sha256,
        "reasons": row.reasons, "error": row.error,
    }


def page_count(context: dict[str, Any] | None) -> int:
    """How many pages a capture lists: its context's count (a row catalogued before the page
    table holds the list itself instead)."""
    context = context or {}
    if "page_count" in context:
        return int(context["page_count"] or 0)
    return len(context.get("pages") or [])


def capture_record(row: CaptureRow, pages: list[dict[str, Any]] | None = None
                   ) -> dict[str, Any]:
    """A capture in full: `isnad show --json`, and each result of `isnad capture --json`.

    ``pages``: the capture's page list (`Catalog.pages`), shown as ``context.pages``; None
    leaves it out (``page_count`` says how many there are)."""
    context = {k: v for k, v in (row.context or {}).items() if k != "pages"}
    if pages is not None:
        context["pages"] = pages
    return {
        **capture_summary(row),
        "note": row.note,
        "package_key": row.package_key,
        "package_size": row.package_size,
        "failed_subresources": failed_subresources(row),
        "page_count": page_count(row.context),
        "context": context,
        "artifacts": [{"path": a.path, "kind": a.kind, "media_type": a.media_type,
                       "sha256": a.sha256, "size": a.size} for a in row.artifacts],
        "custody": [e.to_event().__dict__ for e in row.events],
        "copies": [{"target": c.target, "state": c.state, "location": c.location,
                    "sha256": c.sha256, "size": c.size, "version": c.version,
                    "stored_at": utc_iso(c.stored_at),
                    "attempts": c.attempts, "last_error": c.last_error} for c in row.copies],
        "spool_path": row.spool_path,
        "posts": [{"platform": p.platform, "post_id": p.post_id, "url": p.url,
                   "status": p.status, "author_handle": p.author_handle,
                   "published": p.published} for p in row.posts],
    }


def capture_result(row: CaptureRow, *, pages: list[dict[str, Any]] | None = None
                   ) -> dict[str, Any]:
    """A capture as `isnad capture --json/--jsonl` prints it: its full record, with the list
    of pages crawled (thousands with --depth) only when given (``--pages``); its count
    always (``page_count``). The list is in the package (pages/pages.jsonl), the catalog's
    page table and `isnad show --json`."""
    return capture_record(row, pages)


def sync_report(report: SyncReport) -> dict[str, Any]:
    """`isnad storage sync --json`."""
    return {"stored": report.stored, "still_pending": report.still_pending,
            "errors": report.errors,
            "ok": not (report.still_pending or report.errors)}


def storage_check(checks: list[TargetCheck]) -> dict[str, Any]:
    """`isnad storage check --json`: each target's findings (level ok/warning/error)."""
    shaped = [{"target": c.name, "location": c.location,
               "findings": [{"level": f.level, "message": f.message} for f in c.findings]}
              for c in checks]
    return {"targets": shaped, "ok": all(c.ok for c in checks)}


def reindex_report(rebuilt: RebuiltCatalog) -> dict[str, Any]:
    """`isnad reindex --json`."""
    return {"captures": rebuilt.captures, "copies": rebuilt.copies, "events": rebuilt.events,
            "targets": rebuilt.targets, "problems": rebuilt.problems, "ok": rebuilt.ok}


def timestamp_retry(result: TimestampRetry) -> dict[str, Any]:
    """`isnad timestamp --pending --json`."""
    return {"obtained": result.obtained, "still_pending": result.still_pending,
            "ok": not result.still_pending}


def anchor_report(report: AnchorReport) -> dict[str, Any]:
    """`isnad custody anchor --json`."""
    return {"anchored": report.anchored, "problems": report.problems}


def export_bundle(bundle: Bundle) -> dict[str, Any]:
    """`isnad export --json`."""
    folder = bundle.folder
    return {"folder": str(folder), "captures": bundle.captures, "files": bundle.files,
            "sha256sums": str(folder / "SHA256SUMS"),
            "report_html": str(folder / "report.html"), "report_pdf": str(folder / "report.pdf")}


def signing_key(key: NewSigningKey) -> dict[str, Any]:
    """`isnad keys init --json`."""
    return {"private_key": str(key.private_key), "public_key": str(key.public_key),
            "fingerprint": key.fingerprint, "encrypted": key.encrypted}


def public_key(key: PublicKey) -> dict[str, Any]:
    """`isnad keys show --json`."""
    return {"fingerprint": key.fingerprint, "public_key_pem": key.pem, "path": str(key.path)}


def job_record(row: JobRow, captures: list[str]) -> dict[str, Any]:
    """A job as JSON: what was asked, where it stands, what it produced."""
    return {
        "id": row.id, "url": row.url, "state": row.state, "priority": row.priority,
        "source": row.source, "operator": row.operator, "case": row.case_id,
        "tags": list(row.spec.get("tags") or []), "note": row.spec.get("note"),
        "options": {k: row.spec.get(k) for k in ("use_browser", "depth", "scope", "posts")},
        "attempts": row.attempts, "created_at": utc_iso(row.created_at),
        "started_at": utc_iso(row.started_at), "ended_at": utc_iso(row.ended_at),
        "worker": row.worker if row.state == JobState.RUNNING else None,
        "heartbeat_at": utc_iso(row.heartbeat_at) if row.state == JobState.RUNNING else None,
        "progress": row.progress or {}, "cancel_requested": row.cancel_requested,
        "error": row.error, "captures": captures, "history": row.history or [],
    }


def worker_record(row: WorkerRow, running: list[JobRow], state: str = "alive", *,
                  leads: bool = False) -> dict[str, Any]:
    """A worker as `isnad workers --json` shows it (``jobs``: those it runs now; for a gone
    worker, those still waiting to be queued again by a live one; ``leads``: the scheduler
    that holds the schedules lease, the one that fires)."""
    return {"id": row.id, "kind": row.kind, "host": row.host, "pid": row.pid,
            "concurrency": row.concurrency, "state": state, "leads": leads,
            "started_at": utc_iso(row.started_at), "heartbeat_at": utc_iso(row.heartbeat_at),
            "stopped_at": utc_iso(row.stopped_at),
            "jobs": [r.id for r in running if r.worker == row.id]}
