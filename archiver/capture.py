"""The archival side of one capture: its work folder, WARC, package, storage and custody.

A crawler (or an importer) asks for a :class:`CaptureSession`, writes records into its WARC,
and hands back the outcome; the session turns that into a stored, catalogued, verified package
and writes a custody event at every step.
"""

from __future__ import annotations

import json
import shutil
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from archiver import custody
from archiver.catalog import (
    COMPLETE,
    FAILED,
    PARTIAL,
    RUNNING,
    ArtifactRow,
    CaptureRow,
    Catalog,
)
from archiver.errors import IsnadError, StorageError
from archiver.hashing import sha256_bytes, sha256_file
from archiver.ids import new_capture_id
from archiver.package import BuiltPackage, build_package
from archiver.storage import Storage
from archiver.verify import VerificationReport, verify_package
from archiver.warcwriter import CaptureWarc


@dataclass(frozen=True)
class CaptureRequest:
    url: str
    operator: str
    case_id: str | None = None
    tags: tuple[str, ...] = ()
    note: str | None = None


def storage_prefix(capture_id: str, started: datetime) -> str:
    """Where a capture lives in storage: by UTC date, then capture id."""
    return f"captures/{started:%Y/%m/%d}/{capture_id}"


class Archive:
    """The catalog, a storage target and the data folder, working together."""

    def __init__(self, home: Path, catalog: Catalog, storage: Storage) -> None:
        self.home = Path(home)
        self.catalog = catalog
        self.storage = storage
        self.work_root = self.home / "work"
        self.quarantine_root = self.home / "quarantine"

    # -- custody --------------------------------------------------------------------------
    def record_event(
        self,
        capture_id: str,
        actor: str,
        action: str,
        object_sha256: str | None,
        details: dict[str, Any] | None = None,
        *,
        to_storage: str | None = None,
    ) -> custody.CustodyEvent:
        """Append a custody event to the catalog (and to storage under ``to_storage``)."""
        event = custody.next_event(
            self.catalog.last_event(capture_id),
            capture_id=capture_id,
            actor=actor,
            action=action,
            object_sha256=object_sha256,
            details=details,
        )
        self.catalog.add_event(event)
        if to_storage:
            self._store_event(to_storage, event)
        return event

    def _store_event(self, prefix: str, event: custody.CustodyEvent) -> None:
        key = f"{prefix}/custody/{event.seq:06d}-{event.action}.json"
        self.storage.put_bytes(key, (event.to_json() + "\n").encode("utf-8"))

    def stored_events(self, prefix: str) -> list[custody.CustodyEvent]:
        events = []
        for key in self.storage.list(prefix + "/custody/"):
            events.append(custody.CustodyEvent.from_dict(json.loads(self.storage.read_bytes(key))))
        return sorted(events, key=lambda e: e.seq)

    # -- lifecycle ------------------------------------------------------------------------
    def begin(self, request: CaptureRequest, settings: dict[str, Any]) -> CaptureSession:
        """Register a capture (RUNNING) and its 'requested' event; return its session."""
        capture_id = new_capture_id()
        started = datetime.now(UTC)
        work_dir = self.work_root / capture_id
        work_dir.mkdir(parents=True)
        me = psutil.Process()
        self.catalog.add_capture(
            CaptureRow(
                id=capture_id,
                url=request.url,
                state=RUNNING,
                reasons=[],
                case_id=request.case_id,
                tags=list(request.tags),
                note=request.note,
                operator=request.operator,
                started_at=started,
                worker_host=socket.gethostname(),
                worker_pid=me.pid,
                work_dir=str(work_dir),
                context={"process_started": me.create_time()},
            )
        )
        asked = {
            "url": request.url,
            "operator": request.operator,
            "case": request.case_id,
            "tags": list(request.tags),
            "note": request.note,
            "settings": settings,
        }
        self.record_event(
            capture_id,
            request.operator,
            custody.REQUESTED,
            sha256_bytes(custody.canonical_json(asked)),
            asked,
        )
        return CaptureSession(self, capture_id, request, started, work_dir)

    def recover_interrupted(self) -> list[str]:
        """Mark captures whose process died as FAILED; keep their files aside, never delete.

        Only captures started on this host are judged: another host's worker may be alive.
        """
        recovered = []
        host = socket.gethostname()
        for row in self.catalog.list(state=RUNNING):
            if row.worker_host != host or _process_alive(row):
                continue
            kept = None
            if row.work_dir and Path(row.work_dir).exists():
                self.quarantine_root.mkdir(parents=True, exist_ok=True)
                kept = self.quarantine_root / row.id
                shutil.move(row.work_dir, kept)
            reason = "interrupted: the capturing process ended before the capture finished"
            self.catalog.update_capture(
                row.id,
                state=FAILED,
                reasons=[reason],
                error=reason,
                ended_at=datetime.now(UTC),
                work_dir=str(kept) if kept else None,
            )
            self.record_event(
                row.id,
                "isnad",
                custody.FAILED,
                None,
                {"reason": reason, "partial_files_kept_in": str(kept) if kept else None},
            )
            recovered.append(row.id)
        return recovered


def _process_alive(row: CaptureRow) -> bool:
    if not row.worker_pid or not psutil.pid_exists(row.worker_pid):
        return False
    try:
        started = psutil.Process(row.worker_pid).create_time()
    except psutil.Error:
        return False
    # A reused pid belongs to a process that started later than ours.
    return abs(started - float((row.context or {}).get("process_started", started))) < 1.0


@dataclass
class PackagedCapture:
    capture_id: str
    state: str
    reasons: list[str]
    package: BuiltPackage | None
    location: str | None
    error: str | None = None


class CaptureSession:
    """One capture in progress."""

    def __init__(
        self,
        archive: Archive,
        capture_id: str,
        request: CaptureRequest,
        started: datetime,
        work_dir: Path,
    ) -> None:
        self.archive = archive
        self.capture_id = capture_id
        self.request = request
        self.started = started
        self.work_dir = work_dir
        self.warcs: list[CaptureWarc] = []

    @property
    def prefix(self) -> str:
        return storage_prefix(self.capture_id, self.started)

    def mark_started(self) -> None:
        """The crawl begins now (captures asked for together are crawled one by one)."""
        self.started = datetime.now(UTC)
        self.archive.catalog.update_capture(self.capture_id, started_at=self.started)

    def new_warc(self, warcinfo: dict[str, str]) -> CaptureWarc:
        """Open the next WARC file of this capture (``.open`` until closed)."""
        name = f"isnad-{self.capture_id}-{len(self.warcs):03d}.warc.gz"
        warc = CaptureWarc(self.work_dir / name, warcinfo)
        self.warcs.append(warc)
        return warc

    def finish(
        self,
        *,
        state: str,
        reasons: list[str],
        context: dict[str, Any],
        pages: list[dict[str, Any]],
        error: str | None = None,
        title: str | None = None,
        software: str | None = None,
    ) -> PackagedCapture:
        """Close the WARCs, package, store, verify, catalogue; custody at every step."""
        archive, cid, actor = self.archive, self.capture_id, self.request.operator
        ended = datetime.now(UTC)
        closed = [w.close() for w in self.warcs if w.records > 1]  # more than the warcinfo
        for w in self.warcs:
            if not w.closed:
                w.abandon()
        if not closed:
            return self._fail_without_package(error or "nothing was captured", context, ended)
        warc_hashes = {p.name: sha256_file(p)[0] for p in closed}
        archive.record_event(
            cid, actor, custody.CAPTURED,
            warc_hashes[closed[0].name] if len(closed) == 1 else
            sha256_bytes(custody.canonical_json(warc_hashes)),
            {"warcs": warc_hashes, "state": state, "reasons": reasons},
        )
        context = {**context, "state": state, "reasons": reasons,
                   "started_at": _iso(self.started), "ended_at": _iso(ended)}
        package_path = self.work_dir / f"{cid}.wacz"
        package = build_package(
            closed, package_path, pages=pages, context=context, title=title,
            main_url=context.get("final_url") or self.request.url, software=software,
        )
        archive.record_event(
            cid, actor, custody.PACKAGED, package.sha256,
            {"file": package_path.name, "bytes": package.size, "files": len(package.files)},
        )
        key = f"{self.prefix}/{cid}.wacz"
        artifacts = [
            ArtifactRow(path=f.path, kind=_kind(f.path), media_type=None, sha256=f.sha256,
                        size=f.size)
            for f in package.files
        ] + [
            ArtifactRow(path=a["path"], kind=a["kind"], media_type=a.get("media_type"),
                        sha256=a["sha256"], size=a["size"])
            for a in context.get("artifacts", [])
        ]
        archive.catalog.update_capture(
            cid, state=state, reasons=reasons, error=error, ended_at=ended,
            final_url=context.get("final_url"), context=context,
            package_sha256=package.sha256, package_size=package.size,
        )
        archive.catalog.replace_artifacts(cid, artifacts)
        try:
            stored = archive.storage.put_file(key, package_path, package.sha256)
            # The events so far go to storage first, then each new one as it happens.
            for event in archive.catalog.events(cid):
                archive._store_event(self.prefix, event)
            archive.record_event(
                cid, actor, custody.STORED, stored.sha256,
                {"target": stored.target, "key": key, "location": stored.location},
                to_storage=self.prefix,
            )
            report = self._verify_stored(key)
        except (StorageError, OSError) as exc:
            # Nothing is released: the package stays in the work folder for a retry.
            message = f"storage failed, package kept at {package_path}: {exc}"
            archive.catalog.update_capture(cid, error=message, package_location=str(package_path))
            archive.record_event(cid, actor, "storage-failed", package.sha256, {"error": str(exc)})
            raise IsnadError(message) from exc
        archive.record_event(
            cid, actor, custody.VERIFIED if report.ok else "verification-failed",
            package.sha256,
            {"target": stored.target, "checks": len(report.checks),
             "mismatches": [c.name for c in report.mismatches]},
            to_storage=self.prefix,
        )
        archive.catalog.update_capture(
            cid, package_key=key, package_location=stored.location, work_dir=None
        )
        if report.ok:
            shutil.rmtree(self.work_dir, ignore_errors=True)  # released only once verified
        return PackagedCapture(cid, state, reasons, package, stored.location, error)

    def _verify_stored(self, key: str) -> VerificationReport:
        with self.archive.storage.open(key) as fh:
            return verify_package(fh, key)

    def _fail_without_package(self, error: str, context: dict[str, Any], ended: datetime
                              ) -> PackagedCapture:
        archive, cid = self.archive, self.capture_id
        # Only the warcinfo record was written: there is nothing of the target to keep.
        shutil.rmtree(self.work_dir, ignore_errors=True)
        context = {**context, "state": FAILED, "reasons": [error],
                   "started_at": _iso(self.started), "ended_at": _iso(ended)}
        archive.catalog.update_capture(
            cid, state=FAILED, reasons=[error], error=error, ended_at=ended,
            context=context, work_dir=None,
        )
        archive.record_event(cid, self.request.operator, custody.FAILED, None, {"error": error})
        return PackagedCapture(cid, FAILED, [error], None, None, error)


def _kind(path: str) -> str:
    if path.startswith("archive/"):
        return "warc"
    if path.startswith("indexes/"):
        return "index"
    if path.startswith("pages/"):
        return "pages"
    return "file"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


__all__ = ["COMPLETE", "FAILED", "PARTIAL", "Archive", "CaptureRequest", "CaptureSession",
           "PackagedCapture"]
