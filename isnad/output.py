"""What each command reports, as plain data: the one place where Isnad's JSON is shaped.

The CLI prints these with ``--json`` (and a capture's record with ``--jsonl``); a later
application layer or web API can return the same shapes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from archiver.archive import SyncReport
from archiver.catalog import FAILED, STORED, CaptureRow
from archiver.reindex import ReindexReport


def utc_iso(moment: datetime | None) -> str | None:
    """An ISO 8601 time in UTC (the catalog's times are UTC even when stored without zone)."""
    if moment is None:
        return None
    return (moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def storage_state(row: CaptureRow) -> str:
    """Where the package is, in a few words. A FAILED capture has no package: never "stored"."""
    if row.state == FAILED or not row.package_key:
        kept = [c.target for c in row.copies if c.state == STORED]
        return "no package" + (f" (custody record kept on {', '.join(kept)})" if kept else "")
    pending = [c.target for c in row.copies if c.state != STORED]
    if pending:
        return "pending: " + ", ".join(pending)
    if row.copies:
        return "stored: " + ", ".join(c.target for c in row.copies)
    return "none"


def package_stored(row: CaptureRow) -> bool | None:
    """True when every target holds the package, False while one waits; None: no package."""
    if row.state == FAILED or not row.package_key:
        return None
    return bool(row.copies) and all(c.state == STORED for c in row.copies)


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


def capture_record(row: CaptureRow) -> dict[str, Any]:
    """A capture in full: `isnad show --json`, and each result of `isnad capture --json`."""
    return {
        **capture_summary(row),
        "note": row.note,
        "package_key": row.package_key,
        "package_size": row.package_size,
        "failed_subresources": failed_subresources(row),
        "context": row.context,
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


def sync_report(report: SyncReport) -> dict[str, Any]:
    """`isnad storage sync --json`."""
    return {"stored": report.stored, "still_pending": report.still_pending,
            "errors": report.errors,
            "ok": not (report.still_pending or report.errors)}


def storage_check(targets: list[tuple[str, str, list[Any]]]) -> dict[str, Any]:
    """`isnad storage check --json`: each target's findings (level ok/warning/error)."""
    shaped = [{"target": name, "location": location,
               "findings": [{"level": f.level, "message": f.message} for f in findings]}
              for name, location, findings in targets]
    levels = {f["level"] for t in shaped for f in t["findings"]}
    return {"targets": shaped, "ok": levels <= {"ok"}}


def reindex_report(report: ReindexReport, targets: int) -> dict[str, Any]:
    """`isnad reindex --json`."""
    return {"captures": report.captures, "copies": report.copies, "events": report.events,
            "targets": targets, "problems": report.problems, "ok": not report.problems}


def timestamp_retry(obtained: list[str], still_pending: list[str]) -> dict[str, Any]:
    """`isnad timestamp --pending --json`."""
    return {"obtained": obtained, "still_pending": still_pending, "ok": not still_pending}


def export_bundle(folder: Path, captures: list[str], files: int) -> dict[str, Any]:
    """`isnad export --json`."""
    return {"folder": str(folder), "captures": captures, "files": files,
            "sha256sums": str(folder / "SHA256SUMS"),
            "report_html": str(folder / "report.html"), "report_pdf": str(folder / "report.pdf")}


def signing_key(private_key: Path, public_key: Path, fingerprint: str, encrypted: bool
                ) -> dict[str, Any]:
    """`isnad keys init --json`."""
    return {"private_key": str(private_key), "public_key": str(public_key),
            "fingerprint": fingerprint, "encrypted": encrypted}
