"""The archival side of one capture: its work folder, WARC, package, and custody.

A crawler (or an importer) asks the :class:`~archiver.archive.Archive` for a
:class:`CaptureSession`, writes records into its WARC, and hands back the outcome; the session
turns that into a verified package, catalogues it and gives it to the archive to preserve,
writing a custody event at every step.
"""

from __future__ import annotations

import errno
import logging
import shutil
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from archiver import custody
from archiver.archive import Archive, iso, storage_prefix
from archiver.catalog import ArtifactRow, CaptureRow
from archiver.errors import PackageError
from archiver.hashing import FileDigest, sha256_bytes, sha256_file
from archiver.ids import new_capture_id
from archiver.jobs import SEALED, attempt_guard, job_standing
from archiver.package import BuiltPackage, build_package, layout_problem
from archiver.proof import ProofOptions
from archiver.redaction import redact_text, redact_url, redact_values, url_secrets
from archiver.states import CaptureState, CopyState, CustodyAction
from archiver.verify import verify_package_file
from archiver.warcwriter import CaptureWarc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaptureRequest:
    url: str
    operator: str
    case_id: str | None = None
    tags: tuple[str, ...] = ()
    note: str | None = None
    # Where the request came from (the job, its attempt, its source): part of the record.
    origin: dict[str, Any] | None = None


@dataclass
class PackagedCapture:
    capture_id: str
    state: str
    reasons: list[str]
    package: BuiltPackage | None
    location: str | None
    stored: bool = False
    error: str | None = None


def begin_capture(archive: Archive, request: CaptureRequest, settings: dict[str, Any], *,
                  received: tuple[str, dict[str, Any]] | None = None) -> CaptureSession:
    """Register a capture (RUNNING) and its 'requested' custody event; return its session.

    ``received`` (object SHA-256, details): the capture is of a file handed over (an import),
    and its first custody event is ``received`` instead, naming that file."""
    # A password in the URL is the operator's secret: recorded nowhere (see redaction).
    secrets = url_secrets(request.url)
    request = replace(request, url=redact_url(request.url))
    settings = redact_values(settings, secrets)
    capture_id = new_capture_id()
    started = datetime.now(UTC)
    work_dir = archive.work_root / capture_id
    work_dir.mkdir(parents=True)
    me = psutil.Process()
    archive.catalog.add_capture(
        CaptureRow(
            id=capture_id, url=request.url, state=CaptureState.RUNNING, reasons=[],
            case_id=request.case_id, tags=list(request.tags), note=request.note,
            operator=request.operator, started_at=started,
            worker_host=archive.host, worker_pid=me.pid, work_dir=str(work_dir),
            context={"process_started": me.create_time()},
        )
    )
    asked = {
        "url": request.url, "operator": request.operator, "case": request.case_id,
        "tags": list(request.tags), "note": request.note, "settings": settings,
        **({"origin": request.origin} if request.origin else {}),
    }
    if received is not None:
        archive.record_event(capture_id, request.operator, CustodyAction.RECEIVED,
                             received[0], {**received[1], "request": asked})
    else:
        archive.record_event(capture_id, request.operator, CustodyAction.REQUESTED,
                             sha256_bytes(custody.canonical_json(asked)), asked)
    return CaptureSession(archive, capture_id, request, started, work_dir, secrets)


class CaptureSession:
    """One capture in progress."""

    def __init__(self, archive: Archive, capture_id: str, request: CaptureRequest,
                 started: datetime, work_dir: Path, secrets: tuple[str, ...] = ()) -> None:
        self.archive = archive
        self.secrets = secrets  # redacted from whatever the crawl reports
        self.capture_id = capture_id
        self.request = request
        self.started = started
        self.work_dir = work_dir
        self.warcs: list[CaptureWarc] = []
        # Files received as they are (an import's WARC/ARC, already in work_dir under the name
        # they take in the package): packaged beside the WARCs written, byte for byte.
        self.received: list[Path] = []
        self.received_sha256: dict[str, str] = {}  # their hashes, taken as they were copied
        # WARC files of this capture written (and closed) by other processes: the other parts
        # of a crawl spread over several processes (isnad.app.sitesplit), with what their
        # writers took as they wrote: digests, and files of CDXJ lines (by WARC path).
        self.part_warcs: list[Path] = []
        self.part_digests: dict[Path, FileDigest] = {}
        self.part_indexes: dict[Path, Path] = {}

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

    def finish(self, **outcome: Any) -> PackagedCapture:
        """Close the WARCs, package, verify, catalogue and preserve; custody at every step.

        Takes the arguments of :meth:`_finish`. A disk that fills up (or any other OS error)
        settles the capture as FAILED with that cause, its files kept aside, instead of
        leaving it to be found later as merely "interrupted"."""
        try:
            return self._finish(**outcome)
        except OSError as exc:
            return self._fail_on_os_error(exc, outcome.get("context") or {})

    def _finish(
        self,
        *,
        state: str,
        reasons: list[str],
        context: dict[str, Any],
        pages: list[dict[str, Any]],
        error: str | None = None,
        title: str | None = None,
        software: str | None = None,
        media_files: list[tuple[str, Path] | tuple[str, Path, str | FileDigest]] = (),
        attachments: list[tuple[str, bytes]] = (),
        index: Path | None = None,
    ) -> PackagedCapture:
        archive, cid, actor = self.archive, self.capture_id, self.request.operator
        ended = datetime.now(UTC)
        # What the crawl reports names URLs as they were asked for, passwords included.
        secrets = self.secrets
        context, pages = redact_values(context, secrets), redact_values(pages, secrets)
        reasons = redact_values(reasons, secrets)
        error = redact_text(error, secrets) if error else error
        title = redact_text(title, secrets) if title else title
        written = [w for w in self.warcs if w.records > 1]  # more than the warcinfo
        closed = [w.close() for w in written]
        closed += self.part_warcs
        # A WARC written here was hashed as it was written (not read again for it); a
        # received file, as its working copy was written on arrival.
        known: dict[Path, FileDigest | str] = {w.path: w.digest for w in written}
        known.update(self.part_digests)
        known.update({p: self.received_sha256[p.name] for p in self.received
                      if self.received_sha256.get(p.name)})
        # The index lines the WARCs' writers made as they wrote (a WARC without them, a
        # received file say, has the package index the WARCs instead).
        indexes = {w.path: w.index_path for w in written if w.index_path is not None}
        indexes.update(self.part_indexes)
        closed += self.received
        for w in self.warcs:
            if not w.closed:
                w.abandon()
        context = {**context, "started_at": iso(self.started), "ended_at": iso(ended)}
        if not closed:
            return self._fail_without_package(error or "nothing was captured", context, ended)
        misplaced = [problem for name, *_ in [*attachments, *media_files]
                     if (problem := layout_problem(name))]
        if misplaced:  # a package public validators refuse is not written at all
            raise PackageError("package layout: " + "; ".join(misplaced))
        # A received file was hashed as its working copy was written; the package's own
        # verification compares its copy with that hash (see verify._received_files).
        warc_hashes = {p.name: (d if isinstance(d, str) else d.sha256) if (d := known.get(p))
                       else sha256_file(p)[0] for p in closed}
        # Timestamped as soon as closed: the tokens go into the package beside the WARCs.
        prover = archive.new_prover()
        tokens: list[tuple[str, bytes]] = []
        if prover is not None:
            for warc_path in closed:
                tokens += prover.stamp(f"archive/{warc_path.name}", warc_hashes[warc_path.name])
        if not self.received:  # a received file's arrival and check are recorded already
            archive.record_event(
                cid, actor, CustodyAction.CAPTURED,
                warc_hashes[closed[0].name] if len(closed) == 1 else
                sha256_bytes(custody.canonical_json(warc_hashes)),
                {"warcs": warc_hashes, "state": state, "reasons": reasons},
            )
        if prover is not None and prover.failures:
            state = CaptureState.PARTIAL if state == CaptureState.COMPLETE else state
            reasons = reasons + prover.failures
        context = {**context, "state": state, "reasons": reasons}
        if prover is not None:
            context["proof"] = prover.context()
        package_path = self.work_dir / f"{cid}.wacz"
        package = build_package(
            closed, package_path, pages=pages, context=context, title=title,
            main_url=context.get("final_url") or self.request.url, software=software,
            extra_files=[*attachments, *tokens], extra_paths=list(media_files),
            seal=prover.seal if prover is not None else None, index=index,
            indexes=indexes, hashed=False,  # the self-verification below hashes it as it reads it
            known=known,  # listed with these digests (WARCs copied in by the kernel)
        )
        if prover is not None:
            sealing = [f for f in prover.failures if f not in reasons]
            if sealing:  # the TSA failed on datapackage.json, after the context was written
                state = CaptureState.PARTIAL if state == CaptureState.COMPLETE else state
                reasons = reasons + sealing
            context = {**context, "state": state, "reasons": reasons,
                       "proof": prover.context()}
        options = archive.proof_options or ProofOptions()
        if prover is None or prover.key is None:  # signing is off: the package is unsigned
            options = replace(options, allow_unsigned=True)
        else:  # the key that just signed (it may have been created for this capture)
            options = replace(options, trusted_keys={*(options.trusted_keys or ()),
                                                     prover.key.fingerprint})
        # One read of the package: its hash and its members' (see verify_package_file); a
        # received file found byte for byte as on arrival is not parsed again here.
        check = verify_package_file(package_path, options, recheck_received=False)
        if not check.ok:
            raise PackageError(f"package {package_path} failed its own verification: "
                               + "; ".join(f"{c.name}: {c.detail}" for c in check.mismatches))
        # The package's hash is the one its verification computed reading it from disk.
        package = replace(package, sha256=check.package_sha256, size=check.package_size)
        archive.record_event(
            cid, actor, CustodyAction.PACKAGED, package.sha256,
            {"file": package_path.name, "bytes": package.size, "files": len(package.files),
             "checks_passed": len(check.checks),
             "signed_by": prover.key.fingerprint if prover and prover.key else None,
             "timestamps": _count_states(prover.entries) if prover else {}},
        )
        for warc in closed:
            warc.unlink()  # they are inside the package now, which was just verified
        for warc in self.warcs:
            warc.index.path.unlink(missing_ok=True)
        for lines in self.part_indexes.values():
            lines.unlink(missing_ok=True)
        if index is not None:
            index.unlink(missing_ok=True)
        artifacts = [
            ArtifactRow(path=f.path, kind=_kind(f.path), media_type=None, sha256=f.sha256,
                        size=f.size)
            for f in package.files
        ] + [
            ArtifactRow(path=a["path"], kind=a["kind"], media_type=a.get("media_type"),
                        sha256=a["sha256"], size=a["size"])
            for a in context.get("artifacts", [])
        ]
        # The row keeps the page count; the list (thousands of pages for a crawl) goes to
        # the page table, so the row stays small however large the crawl.
        row_context = {k: v for k, v in context.items() if k != "pages"}
        row_context["page_count"] = len(pages)
        # A job's capture is sealed only while its attempt is still the job's (checked in the
        # same transaction): a worker cut off from the others, or late, whose job was queued
        # again meanwhile, must not leave a second result for one job.
        guard = attempt_guard(self.request.origin) if state in SEALED else None
        if not archive.catalog.update_capture(
            cid, guard=guard, state=state, reasons=reasons, error=error, ended_at=ended,
            final_url=context.get("final_url"), context=row_context,
            package_key=f"{self.prefix}/{cid}.wacz",
            package_sha256=package.sha256, package_size=package.size,
        ):
            return self._supersede(state, row_context, package.sha256, ended)
        archive.catalog.replace_artifacts(cid, artifacts)
        archive.catalog.replace_pages(cid, pages)
        if archive.on_catalogued is not None:
            try:
                # The text of each WARC written here, kept as it was written: the index
                # need not read the WARCs back (archiver/pagetext.py).
                archive.on_catalogued(cid, package_path,
                                      {f"archive/{w.path.name}": w.texts for w in written})
            except Exception as exc:  # noqa: BLE001 - what follows the catalogue is optional
                log.warning("capture %s: after cataloguing: %s", cid, exc)
        stored = archive.preserve(cid, package_path, actor)
        row = archive.catalog.get(cid)
        location = next((c.location for c in row.copies if c.state == CopyState.STORED), None)
        return PackagedCapture(cid, state, reasons, package, location or row.spool_path,
                               stored, error)

    def _supersede(self, state: str, context: dict[str, Any], package_sha256: str,
                   ended: datetime) -> PackagedCapture:
        """The capture's job attempt was settled elsewhere before it could be sealed: FAILED
        as superseded, its package kept aside (quarantine) with the custody event linking it
        to the job and the attempt that replaced it."""
        archive, cid, origin = self.archive, self.capture_id, self.request.origin or {}
        job_id, attempt = origin.get("job"), origin.get("attempt")
        job = job_standing(archive.catalog, job_id) if job_id else None
        now_at = (f"the job is {job[0]} at attempt {job[1]}" if job else "the job is gone")
        kept = archive.set_aside(cid, self.work_dir)
        error = (f"superseded: job {job_id} attempt {attempt} was no longer this worker's when "
                 f"the capture was to be sealed {state} ({now_at}); its package is kept in "
                 f"{kept}, not the job's result")
        archive.catalog.update_capture(
            cid, state=CaptureState.FAILED, reasons=[error], error=error, ended_at=ended,
            context={**context, "state": CaptureState.FAILED, "reasons": [error]},
            work_dir=str(kept) if kept else None)
        archive.record_event(cid, "isnad", CustodyAction.SUPERSEDED, package_sha256, {
            "job": job_id, "attempt": attempt, "would_have_been": state,
            "job_state": job[0] if job else None,
            "superseded_by_attempt": job[1] if job and job[1] != attempt else None,
            "package_kept_in": str(kept) if kept else None, "reason": error})
        stored = archive.preserve(cid, None, "isnad")
        return PackagedCapture(cid, CaptureState.FAILED, [error], None, None, stored, error)

    def _fail_on_os_error(self, exc: OSError, context: dict[str, Any]) -> PackagedCapture:
        archive, cid = self.archive, self.capture_id
        cause = (f"no space left on the device while packaging ({exc})"
                 if exc.errno == errno.ENOSPC else f"packaging failed: {exc}")
        for warc in self.warcs:
            if not warc.closed:
                warc.abandon()
        try:
            kept = archive.set_aside(cid, self.work_dir)  # a rename: needs no free space
            error = cause + (f"; the captured files are kept in {kept}" if kept else "")
            archive.catalog.update_capture(
                cid, state=CaptureState.FAILED, reasons=[error], error=error,
                ended_at=datetime.now(UTC),
                context={**context, "state": CaptureState.FAILED, "reasons": [error]},
                work_dir=str(kept) if kept else None)
            archive.record_event(cid, self.request.operator, CustodyAction.FAILED, None,
                                 {"error": error, "partial_files_kept_in": str(kept) if kept
                                  else None})
            archive.preserve(cid, None, self.request.operator)
        except Exception:
            # The catalog itself could not be written (the same full disk): leave the cause
            # where the next start settles this capture, then let the error be seen.
            archive.note_cause(cid, cause)
            raise exc from None
        return PackagedCapture(cid, CaptureState.FAILED, [error], None, None, False, error)

    def _fail_without_package(self, error: str, context: dict[str, Any], ended: datetime
                              ) -> PackagedCapture:
        archive, cid = self.archive, self.capture_id
        # Only the warcinfo record was written: there is nothing of the target to keep.
        shutil.rmtree(self.work_dir, ignore_errors=True)
        context = {**context, "state": CaptureState.FAILED, "reasons": [error]}
        archive.catalog.update_capture(
            cid, state=CaptureState.FAILED, reasons=[error], error=error, ended_at=ended,
            context=context, work_dir=None,
        )
        archive.record_event(cid, self.request.operator, CustodyAction.FAILED, None,
                             {"error": error})
        stored = archive.preserve(cid, None, self.request.operator)
        return PackagedCapture(cid, CaptureState.FAILED, [error], None, None, stored, error)


def _count_states(entries: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry["state"]] = counts.get(entry["state"], 0) + 1
    return counts


def _kind(path: str) -> str:
    if path.startswith("archive/"):
        return "warc"
    if path.startswith("indexes/"):
        return "index"
    if path.startswith("pages/"):
        return "pages"
    if path.startswith("timestamps/"):
        return "timestamp"
    if path.startswith("media/"):
        return "media"
    if path.startswith("metadata/"):
        return "metadata"
    return "file"


__all__ = ["CaptureRequest", "CaptureSession", "PackagedCapture", "begin_capture"]
