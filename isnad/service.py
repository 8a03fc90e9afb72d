"""Wiring: from a URL and who asked, through the crawler, to a stored, catalogued package."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from archiver.archive import Archive
from archiver.audit import ANCHORS_FOLDER, custody_checks
from archiver.catalog import COMPLETE, FAILED, PARTIAL, STORED, CaptureRow, Catalog
from archiver.custody import canonical_json, head_sha256
from archiver.errors import IsnadError, NotFound, StorageError
from archiver.hashing import sha256_bytes, sha256_stream
from archiver.proof import (
    LATE,
    PENDING,
    ProofOptions,
    Prover,
    check_late_token,
    pending_reasons_settled,
)
from archiver.signing import KEY_FILE, SigningKey, init_keys, load_key, public_fingerprint
from archiver.storage import LocalFolderStorage, Storage, open_storage
from archiver.timestamps import TSA, TimestampError, request_token, token_info
from archiver.verify import VerificationReport, verify_custody, verify_package
from isnad import __version__
from isnad.config import Settings

log = logging.getLogger("isnad")


def open_archive(settings: Settings, *, recover: bool = True, queue_age: float = 60.0
                 ) -> Archive:
    """The catalog and storage targets named by the settings.

    Interrupted captures are settled first (FAILED, files kept aside).
    """
    settings.home.mkdir(parents=True, exist_ok=True)
    targets = [open_storage(t.url, name=t.name, **t.options())
               for t in settings.storage_targets()]
    archive = Archive(settings.home, Catalog(settings.catalog_url), targets,
                      retries=settings.storage.retries, backoff=settings.storage.backoff)
    archive.prover_factory = lambda: Prover(signing_key(settings, create=True),
                                            configured_tsas(settings),
                                            software=f"Isnad {__version__}",
                                            version=__version__)
    archive.proof_options = proof_options(settings)
    # Custody heads are signed with the same key (never created here: a capture creates it).
    archive.use_head_key(lambda: signing_key(settings))
    if recover:
        archive.recover_interrupted()
        archive.record_queued_events(queue_age)
    return archive


def configured_tsas(settings: Settings) -> list[TSA]:
    return [TSA(t.name, t.url, t.ca_file, t.certs_file, t.timeout)
            for t in settings.timestamps.tsa]


def signing_key(settings: Settings, *, create: bool = False) -> SigningKey | None:
    """The signing key; with ``create`` (and auto_create) made on first use."""
    if not settings.signing.enabled:
        return None
    folder = settings.key_dir
    if not (folder / KEY_FILE).exists() and create and settings.signing.auto_create:
        key = init_keys(folder)
        log.warning("created a signing key at %s (fingerprint %s); protect it with "
                    "`isnad keys init --passphrase` if this machine is shared",
                    key.path, key.fingerprint)
        return key
    return load_key(folder, settings.signing_passphrase())


def proof_options(settings: Settings) -> ProofOptions:
    trusted = set(settings.signing.trusted_keys)
    ours = public_fingerprint(settings.key_dir) if settings.signing.enabled else None
    if ours:
        trusted.add(ours)
    return ProofOptions.from_tsas(configured_tsas(settings), trusted or None,
                                  settings.timestamps.max_delay_minutes)


def verify_capture(archive: Archive, capture_id: str, actor: str) -> VerificationReport:
    """Re-hash a stored capture's package, its WARC records, and check its custody: the chain,
    its signed head, and every target's copy of both, compared in full with the catalog.

    Every target holding a copy is checked. The verification is itself a custody event.
    """
    row = archive.catalog.get(capture_id)
    report = VerificationReport(f"capture {row.id}")
    copies = [c for c in row.copies if c.state == STORED]
    if not row.package_key:
        # A FAILED capture has no package to be intact: what can be checked is its custody.
        if row.state == FAILED:
            report.subject = f"capture {row.id} (FAILED capture: no package; custody chain checked)"
            report.verdict = "FAILED CAPTURE"
        report.add("a package was stored", row.state == FAILED,
                   f"no package: the capture is {row.state} ({row.error or 'no error recorded'})")
    elif not any(c.key for c in copies):
        report.add("a verified copy is stored", False,
                   "no target holds the package yet"
                   + (f"; it waits in {row.spool_path} (run `isnad storage sync`)"
                      if row.spool_path else ""))
    catalog_events = archive.catalog.events(row.id)
    verify_custody(report, catalog_events, row.package_sha256)
    for copy in copies:
        if copy.key:
            _verify_copy(archive.target(copy.target), row, report, archive.proof_options)
    for copy in copies:
        _verify_late_tokens(archive, archive.target(copy.target), row, report)
    for check in custody_checks(archive, row):
        report.add(check.name, check.ok, check.detail)
    # On a full disk the report still stands; its custody event waits in a queue.
    queued = archive.record_or_queue(
        row.id, actor, "verified" if report.ok else "verification-failed", row.package_sha256,
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
    obtained: list[str]
    still_pending: list[str]


def retry_timestamps(archive: Archive, settings: Settings, actor: str) -> TimestampRetry:
    """Ask again for every pending timestamp; store late tokens beside their package.

    A capture that was PARTIAL only because a timestamp was pending becomes COMPLETE once every
    one is obtained: the change is a custody event, and the earlier state stays in the chain.
    """
    result = TimestampRetry([], [])
    tsas = {t.name: t for t in configured_tsas(settings)}
    for row in archive.catalog.list():
        proof = dict((row.context or {}).get("proof") or {})
        entries = [dict(e) for e in proof.get("timestamps", [])]
        if not any(e.get("state") == PENDING for e in entries):
            continue
        holders = [archive.target(c.target) for c in row.copies if c.state == STORED]
        obtained = False
        for entry in entries:
            if entry.get("state") != PENDING:
                continue
            what = f"{row.id} {entry['subject']} by {entry['tsa']}"
            tsa = tsas.get(entry["tsa"])
            if tsa is None:
                result.still_pending.append(f"{what}: TSA {entry['tsa']!r} is not configured")
                continue
            if not holders:
                result.still_pending.append(f"{what}: the package is not stored yet "
                                            "(run `isnad storage sync` first)")
                continue
            try:
                token = request_token(tsa, entry["sha256"])
                key = f"{archive.prefix_of(row.id)}/{entry['path']}"
                for target in holders:
                    target.put_bytes(key, token)
            except (TimestampError, StorageError) as exc:
                entry["error"] = str(exc)
                result.still_pending.append(f"{what}: {exc}")
                continue
            entry.update(state=LATE, key=key, error=None, **token_info(token))
            obtained = True
            archive.record_event(row.id, actor, "timestamped", sha256_bytes(token), {
                "subject": entry["subject"], "subject_sha256": entry["sha256"],
                "tsa": tsa.name, "gen_time": entry.get("gen_time"), "key": key, "late": True})
            result.obtained.append(f"{what}: {entry.get('gen_time')}")
        proof["timestamps"] = entries
        archive.catalog.update_capture(row.id, context={**row.context, "proof": proof})
        if obtained:
            _settle_state(archive, row, entries, actor)
        archive.refresh_index(row.id)
    return result


def _settle_state(archive: Archive, row: CaptureRow, entries: list[dict[str, Any]],
                  actor: str) -> None:
    """Drop the "timestamp pending" reasons late tokens answered; PARTIAL for nothing else
    becomes COMPLETE. A custody event records the change (the chain keeps the earlier state)."""
    reasons = pending_reasons_settled(list(row.reasons or []), entries)
    state = COMPLETE if row.state == PARTIAL and not reasons else row.state
    if reasons == list(row.reasons or []) and state == row.state:
        return
    context = {**archive.catalog.get(row.id).context, "state": state, "reasons": reasons}
    archive.catalog.update_capture(row.id, state=state, reasons=reasons, context=context)
    archive.record_event(row.id, actor, "state-changed", row.package_sha256, {
        "from": row.state, "to": state, "reasons_before": row.reasons, "reasons_after": reasons,
        "because": "the pending timestamps were obtained late"})


@dataclass
class AnchorReport:
    anchored: list[str]
    problems: list[str]


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
    report = AnchorReport([], [])
    for row in archive.catalog.list():
        head_row = archive.catalog.head(row.id)
        if head_row is None:
            continue
        head, anchors = head_row.head, list(head_row.anchors or [])
        digest = head_sha256(head)
        done = {a["tsa"] for a in anchors if a.get("head_sha256") == digest}
        holders = [archive.target(c.target) for c in row.copies if c.state == STORED]
        folder = f"{archive.prefix_of(row.id)}/{ANCHORS_FOLDER}"
        for tsa in tsas:
            if tsa.name in done:
                continue
            what = f"{row.id} head of {head.get('count')} events by {tsa.name}"
            try:
                token = request_token(tsa, digest)
                head_key = f"{folder}/{head.get('count'):06d}-{digest[:16]}-head.json"
                token_key = f"{folder}/{head.get('count'):06d}-{digest[:16]}-{tsa.name}.tsr"
                for target in holders:
                    target.put_bytes(head_key, canonical_json(head))
                    target.put_bytes(token_key, token)
            except (TimestampError, StorageError) as exc:
                report.problems.append(f"{what}: {exc}")
                continue
            info = token_info(token)
            anchors.append({"count": head.get("count"), "last_hash": head.get("last_hash"),
                            "head_sha256": digest, "tsa": tsa.name,
                            "gen_time": info.get("gen_time"), "head_key": head_key,
                            "token_key": token_key})
            report.anchored.append(f"{what}: {info.get('gen_time')}")
        archive.catalog.save_head(row.id, anchors=anchors)
    return report
