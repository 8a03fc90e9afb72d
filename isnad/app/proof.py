"""Proving a capture unaltered: verification, late timestamps, anchoring custody heads."""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

from archiver.archive import Archive
from archiver.audit import ANCHORS_FOLDER, custody_checks
from archiver.catalog import CaptureRow
from archiver.custody import canonical_json, head_sha256
from archiver.errors import IsnadError, NotFound, StorageError
from archiver.hashing import sha256_bytes, sha256_stream
from archiver.proof import LATE, PENDING, ProofOptions, check_late_token, pending_reasons_settled
from archiver.states import CaptureState, CopyState, CustodyAction
from archiver.storage import LocalFolderStorage, Storage
from archiver.timestamps import TSA, TimestampError, request_token, token_info
from archiver.verify import VerificationReport, verify_custody, verify_package, verify_package_file
from isnad.app.archive import configured_tsas, open_archive, proof_options
from isnad.config import Settings


def verify(settings: Settings, target: str | None = None, *, every: bool = False,
           allow_unsigned: bool = False, actor: str | None = None, workers: int | None = None,
           on_total: Callable[[int], None] | None = None) -> Iterator[VerificationReport]:
    """Verify a package file (``target`` a path to a ``.wacz``), one stored capture (``target``
    an id or a unique prefix), or with ``every`` all of them; each report as it is made.

    With ``every``, a capture whose verification raises is reported as a failed check and the
    others still run; a single capture's error is raised (a wrong id is no report). The
    captures are verified by ``workers`` processes at once (default: one per core; verifying
    is hashing), their reports given in id order as soon as each is ready; ``on_total`` hears
    how many there are before the first report.
    """
    if target and target.endswith(".wacz") and Path(target).exists():
        options = proof_options(settings)
        options.allow_unsigned = allow_unsigned
        yield verify_package_file(target, options)
        return
    if not target and not every:
        raise IsnadError("give a capture id, a .wacz path, or --all")
    archive = open_archive(settings)
    if archive.proof_options is not None:
        archive.proof_options.allow_unsigned = allow_unsigned
    actor = actor or settings.effective_operator()
    if not every:
        yield verify_capture(archive, str(target), actor)
        return
    ids = archive.catalog.capture_ids()
    if on_total is not None:
        on_total(len(ids))
    workers = max(1, min(workers or os.cpu_count() or 1, len(ids)))
    if workers == 1:
        for capture_id in ids:
            yield _verify_or_report(archive, capture_id, actor)
        return
    archive.catalog.engine.dispose()  # the workers open their own
    # spawn, not fork: the parent may run threads (a progress bar) and holds database handles.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_open_for_workers,
                             initargs=(settings, allow_unsigned, actor)) as pool:
        try:
            yield from pool.map(_verify_in_worker, ids, chunksize=1)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # Ctrl-C: start no other capture
            raise


def _verify_or_report(archive: Archive, capture_id: str, actor: str) -> VerificationReport:
    """One capture of `verify --all`: an error is a failed check, not the end of the run."""
    try:
        return verify_capture(archive, capture_id, actor)
    except Exception as exc:  # noqa: BLE001 - one capture's failure hides no other
        report = VerificationReport(f"capture {capture_id}")
        report.add("verification ran to the end", False, f"{type(exc).__name__}: {exc}")
        return report


# A verification worker's archive and actor (each worker process opens its own, once).
_worker: dict[str, Any] = {}


def _open_for_workers(settings: Settings, allow_unsigned: bool, actor: str) -> None:
    archive = open_archive(settings, recover=False)  # the parent recovered already
    if archive.proof_options is not None:
        archive.proof_options.allow_unsigned = allow_unsigned
    _worker.update(archive=archive, actor=actor)


def _verify_in_worker(capture_id: str) -> VerificationReport:
    return _verify_or_report(_worker["archive"], capture_id, _worker["actor"])


def verify_capture(archive: Archive, capture_id: str, actor: str) -> VerificationReport:
    """Re-hash a stored capture's package, its WARC records, and check its custody: the chain,
    its signed head, and every target's copy of both, compared in full with the catalog.

    Every target holding a copy is checked. The verification is itself a custody event.
    """
    row = archive.catalog.get(capture_id)
    report = VerificationReport(f"capture {row.id}")
    copies = [c for c in row.copies if c.state == CopyState.STORED]
    if not row.package_key:
        # A FAILED capture has no package to be intact: what can be checked is its custody.
        if row.state == CaptureState.FAILED:
            report.subject = f"capture {row.id} (FAILED capture: no package; custody chain checked)"
            report.verdict = "FAILED CAPTURE"
        report.add("a package was stored", row.state == CaptureState.FAILED,
                   f"no package: the capture is {row.state} ({row.error or 'no error recorded'})")
    elif not any(c.key for c in copies):
        report.add("a verified copy is stored", False,
                   "no target holds the package yet"
                   + (f"; it waits in {row.spool_path} (run `isnad storage sync`)"
                      if row.spool_path else ""))
    verify_custody(report, archive.catalog.events(row.id), row.package_sha256)
    for copy in copies:
        if copy.key:
            _verify_copy(archive.target(copy.target), row, report, archive.proof_options)
    for copy in copies:
        _verify_late_tokens(archive, archive.target(copy.target), row, report)
    for check in custody_checks(archive, row):
        report.add(check.name, check.ok, check.detail)
    # On a full disk the report still stands; its custody event waits in a queue.
    queued = archive.record_or_queue(
        row.id, actor,
        CustodyAction.VERIFIED if report.ok else CustodyAction.VERIFICATION_FAILED,
        row.package_sha256,
        {"checks": len(report.checks), "mismatches": [c.name for c in report.mismatches]},
        checked_only=True,
    )
    if queued:
        report.add("custody event of this verification", not queued.startswith("NOT"), queued)
    return report


def _verify_late_tokens(archive: Archive, target: Storage, row: CaptureRow,
                        report: VerificationReport) -> None:
    """Check every timestamp token obtained after packaging (kept beside the package)."""
    late = [e for e in ((row.context or {}).get("proof") or {}).get("timestamps", [])
            if e.get("state") == LATE]
    for entry in late:
        name = f"{target.name}: late timestamp of {entry.get('subject')} by {entry.get('tsa')}"
        if archive.proof_options is None:
            report.add(name, False, "no TSA configured to check it against")
            continue
        try:
            token = target.read_bytes(str(entry.get("key")))
        except (IsnadError, OSError) as exc:
            report.add(name, False, f"token unreadable: {exc}")
            continue
        started = row.started_at.replace(tzinfo=row.started_at.tzinfo or UTC)
        ok, detail = check_late_token(archive.proof_options, entry, token, started)
        report.add(name, ok, detail)


def _verify_copy(target: Storage, row: CaptureRow, report: VerificationReport,
                 proof: ProofOptions | None) -> None:
    """The package as one target holds it: its hash against the catalog, then its contents."""
    name = target.name
    key = row.package_key or ""
    try:
        with tempfile.TemporaryDirectory(prefix="isnad-verify-") as tmp:
            local = Path(target.location(key))
            if not isinstance(target, LocalFolderStorage):
                local = target.download(key, Path(tmp) / "package.wacz")
            with open(local, "rb") as fh:
                digest, size = sha256_stream(fh)
                ok = digest == row.package_sha256 and size == row.package_size
                report.add(f"{name}: stored package hash matches the catalog", ok,
                           digest if ok else f"expected {row.package_sha256} "
                           f"({row.package_size} bytes), found {digest} ({size} bytes)")
                fh.seek(0)
                sub = verify_package(fh, key, proof=proof)
        for check in sub.checks:
            report.add(f"{name}: {check.name}", check.ok, check.detail)
    except NotFound as exc:
        report.add(f"{name}: stored package is present", False, str(exc))
    except (IsnadError, OSError) as exc:
        report.add(f"{name}: stored package is readable", False, str(exc))


@dataclass
class TimestampRetry:
    """What `isnad timestamp --pending` did: tokens obtained, and what still waits (why)."""

    obtained: list[str] = field(default_factory=list)
    still_pending: list[str] = field(default_factory=list)


def retry_timestamps(archive: Archive, settings: Settings, actor: str) -> TimestampRetry:
    """Ask again for every pending timestamp; store late tokens beside their package.

    A capture that was PARTIAL only because a timestamp was pending becomes COMPLETE once every
    one is obtained: the change is a custody event, and the earlier state stays in the chain.
    """
    result = TimestampRetry()
    tsas = {t.name: t for t in configured_tsas(settings)}
    for row in archive.catalog.list():
        proof = dict((row.context or {}).get("proof") or {})
        entries = [dict(e) for e in proof.get("timestamps", [])]
        if not any(e.get("state") == PENDING for e in entries):
            continue
        holders = [archive.target(c.target) for c in row.copies if c.state == CopyState.STORED]
        obtained = False
        for entry in entries:
            if entry.get("state") == PENDING:
                obtained |= _retry_timestamp(archive, row, entry, tsas, holders, actor, result)
        proof["timestamps"] = entries
        archive.catalog.update_capture(row.id, context={**row.context, "proof": proof})
        if obtained:
            _settle_state(archive, row, entries, actor)
        archive.refresh_index(row.id)
    return result


def _retry_timestamp(archive: Archive, row: CaptureRow, entry: dict[str, Any],
                     tsas: dict[str, TSA], holders: list[Storage], actor: str,
                     result: TimestampRetry) -> bool:
    """Ask one TSA again for one pending token; ``entry`` is updated in place. True when the
    token was obtained and stored on every target holding the package."""
    what = f"{row.id} {entry['subject']} by {entry['tsa']}"
    tsa = tsas.get(entry["tsa"])
    if tsa is None:
        result.still_pending.append(f"{what}: TSA {entry['tsa']!r} is not configured")
        return False
    if not holders:
        result.still_pending.append(f"{what}: the package is not stored yet "
                                    "(run `isnad storage sync` first)")
        return False
    try:
        token = request_token(tsa, entry["sha256"])
        key = f"{archive.prefix_of(row.id)}/{entry['path']}"
        for target in holders:
            target.put_bytes(key, token)
    except (TimestampError, StorageError) as exc:
        entry["error"] = str(exc)
        result.still_pending.append(f"{what}: {exc}")
        return False
    entry.update(state=LATE, key=key, error=None, **token_info(token))
    archive.record_event(row.id, actor, CustodyAction.TIMESTAMPED, sha256_bytes(token), {
        "subject": entry["subject"], "subject_sha256": entry["sha256"],
        "tsa": tsa.name, "gen_time": entry.get("gen_time"), "key": key, "late": True})
    result.obtained.append(f"{what}: {entry.get('gen_time')}")
    return True


def _settle_state(archive: Archive, row: CaptureRow, entries: list[dict[str, Any]],
                  actor: str) -> None:
    """Drop the "timestamp pending" reasons late tokens answered; PARTIAL for nothing else
    becomes COMPLETE. A custody event records the change (the chain keeps the earlier state)."""
    reasons = pending_reasons_settled(list(row.reasons or []), entries)
    state = (CaptureState.COMPLETE if row.state == CaptureState.PARTIAL and not reasons
             else row.state)
    if reasons == list(row.reasons or []) and state == row.state:
        return
    context = {**archive.catalog.get(row.id).context, "state": state, "reasons": reasons}
    archive.catalog.update_capture(row.id, state=state, reasons=reasons, context=context)
    archive.record_event(row.id, actor, CustodyAction.STATE_CHANGED, row.package_sha256, {
        "from": row.state, "to": state, "reasons_before": row.reasons, "reasons_after": reasons,
        "because": "the pending timestamps were obtained late"})


@dataclass
class AnchorReport:
    """What `isnad custody anchor` did: heads anchored, and those that could not be (why)."""

    anchored: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def anchor_custody(archive: Archive, settings: Settings) -> AnchorReport:
    """Timestamp every custody head not yet anchored, with every configured TSA.

    The token (on the SHA-256 of the signed head) and the head as anchored are stored beside
    the capture on every target, and listed in the catalog: from then on the chain up to that
    event cannot be rewritten, even with the key, without the change showing. Meant for the
    housekeeping schedule (``isnad custody anchor``); it adds no custody event, so a run with
    nothing new to anchor changes nothing."""
    tsas = configured_tsas(settings)
    if not tsas:
        raise IsnadError("no TSA configured (timestamps.tsa): custody heads cannot be anchored")
    report = AnchorReport()
    for row in archive.catalog.list():
        head_row = archive.catalog.head(row.id)
        if head_row is None:
            continue
        head, anchors = head_row.head, list(head_row.anchors or [])
        done = {a["tsa"] for a in anchors if a.get("head_sha256") == head_sha256(head)}
        holders = [archive.target(c.target) for c in row.copies if c.state == CopyState.STORED]
        for tsa in tsas:
            if tsa.name not in done:
                anchor = _anchor_head(archive, row.id, head, tsa, holders, report)
                if anchor is not None:
                    anchors.append(anchor)
        archive.catalog.save_head(row.id, anchors=anchors)
    return report


def _anchor_head(archive: Archive, capture_id: str, head: dict[str, Any], tsa: TSA,
                 holders: list[Storage], report: AnchorReport) -> dict[str, Any] | None:
    """Timestamp one custody head with one TSA and store the head and token on every holder;
    the catalog's anchor entry, or None (the problem is in ``report``)."""
    digest = head_sha256(head)
    folder = f"{archive.prefix_of(capture_id)}/{ANCHORS_FOLDER}"
    what = f"{capture_id} head of {head.get('count')} events by {tsa.name}"
    try:
        token = request_token(tsa, digest)
        head_key = f"{folder}/{head.get('count'):06d}-{digest[:16]}-head.json"
        token_key = f"{folder}/{head.get('count'):06d}-{digest[:16]}-{tsa.name}.tsr"
        for target in holders:
            target.put_bytes(head_key, canonical_json(head))
            target.put_bytes(token_key, token)
    except (TimestampError, StorageError) as exc:
        report.problems.append(f"{what}: {exc}")
        return None
    info = token_info(token)
    report.anchored.append(f"{what}: {info.get('gen_time')}")
    return {"count": head.get("count"), "last_hash": head.get("last_hash"),
            "head_sha256": digest, "tsa": tsa.name, "gen_time": info.get("gen_time"),
            "head_key": head_key, "token_key": token_key}
