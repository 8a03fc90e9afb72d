"""Fixity audits: re-read stored packages from every target, re-hash them as they stream,
compare with the catalog and the custody log, and record what was found.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from archiver.archive import (
    INDEX_NAME,
    Archive,
    capture_index,
    fields_sha256,
    record_fields,
)
from archiver.catalog import CaptureRow
from archiver.custody import (
    CustodyEvent,
    chain_problems,
    head_problems,
    head_signed_bytes,
    is_anchored_chain,
)
from archiver.errors import IsnadError, NotFound, StorageError
from archiver.hashing import read_ahead
from archiver.signing import verify_bytes
from archiver.states import CopyState, CustodyAction

ANCHORS_FOLDER = "custody-anchors"  # beside the events: anchored heads and their TSA tokens


@dataclass
class CopyFinding:
    capture_id: str
    target: str
    key: str | None
    ok: bool
    detail: str
    bytes: int = 0


@dataclass
class FixityAudit:
    """The result of one audit run (also written as JSON in HOME/audits/)."""

    started_at: str
    ended_at: str | None = None
    selection: str = ""
    findings: list[CopyFinding] = field(default_factory=list)
    custody_problems: dict[str, list[str]] = field(default_factory=dict)
    report_path: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings) and not any(self.custody_problems.values())

    @property
    def bytes_read(self) -> int:
        return sum(f.bytes for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok, "bytes_read": self.bytes_read}

    def summary(self) -> str:
        """A readable summary: counts first, then every problem by name."""
        bad = [f for f in self.findings if not f.ok]
        captures = {f.capture_id for f in self.findings}
        lines = [
            f"Fixity audit {self.started_at} → {self.ended_at} ({self.selection})",
            f"{len(captures)} captures, {len(self.findings)} copies checked, "
            f"{self.bytes_read} bytes re-hashed: "
            + ("ALL INTACT" if self.ok else f"{len(bad)} copy problem(s), "
               f"{sum(1 for p in self.custody_problems.values() if p)} custody problem(s)"),
        ]
        lines += [f"  MISMATCH {f.capture_id} on {f.target} ({f.key}): {f.detail}" for f in bad]
        for capture_id, problems in self.custody_problems.items():
            lines += [f"  CUSTODY  {capture_id}: {p}" for p in problems]
        lines += [f"  NOTE     {note}" for note in self.notes]
        return "\n".join(lines)


def select_captures(archive: Archive, *, sample: int | None = None,
                    since: datetime | None = None) -> list[CaptureRow]:
    """Captures with a package, all of them, a random sample, or those captured since a date."""
    rows = [r for r in archive.catalog.list() if r.package_key]
    if since is not None:
        rows = [r for r in rows if _aware(r.started_at) >= since]
    if sample is not None and sample < len(rows):
        rows = random.sample(rows, sample)
    return rows


@dataclass
class CaptureAudit:
    """What the audit found for one capture: each copy's finding, the custody problems, and a
    note when its audit event had to wait in the queue."""

    capture_id: str
    findings: list[CopyFinding]
    custody_problems: list[str]
    note: str | None = None

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings) and not self.custody_problems

    def to_dict(self) -> dict[str, Any]:
        return {"capture_id": self.capture_id, "ok": self.ok,
                "findings": [asdict(f) for f in self.findings],
                "custody_problems": self.custody_problems, "note": self.note}


def run_audit(
    archive: Archive,
    rows: list[CaptureRow],
    *,
    actor: str,
    target: str | None = None,
    selection: str = "",
    on_bytes: Callable[[int], None] | None = None,
    on_copy: Callable[[CopyFinding], None] | None = None,
    audited: Iterable[CaptureAudit] | None = None,
    on_capture: Callable[[CaptureAudit], None] | None = None,
) -> FixityAudit:
    """Audit the copies of ``rows`` (on one target or all); write events and the report.

    ``audited``: the captures' audits made elsewhere (other processes, with `audit_capture`),
    in place of auditing ``rows`` here one after another. ``on_capture`` hears each capture's
    audit as it is made."""
    audit = FixityAudit(started_at=_now(), selection=selection)
    if audited is None:
        targets = [archive.target(target)] if target else archive.targets
        audited = (audit_capture(archive, row, targets, actor, on_bytes) for row in rows)
    for done in audited:
        audit.findings.extend(done.findings)
        audit.custody_problems[done.capture_id] = done.custody_problems
        if done.note:
            audit.notes.append(done.note)
        if on_copy:
            for finding in done.findings:
                on_copy(finding)
        if on_capture:
            on_capture(done)
    audit.ended_at = _now()
    audit.report_path = str(_write_report(archive.home, audit))
    return audit


def audit_capture(archive: Archive, row: CaptureRow, targets: list[Any], actor: str,
                  on_bytes: Callable[[int], None] | None = None) -> CaptureAudit:
    """Re-hash one capture's copy on each of ``targets``, check its custody, and record the
    audit as a custody event."""
    copies = {c.target: c for c in archive.catalog.copies(row.id)}
    events = archive.catalog.events(row.id)
    packaged = [e for e in events if e.action == CustodyAction.PACKAGED]
    expected_by_custody = packaged[-1].object_sha256 if packaged else None
    findings = []
    for storage in targets:
        copy = copies.get(storage.name)
        if copy is None or copy.state != CopyState.STORED:
            findings.append(CopyFinding(row.id, storage.name, row.package_key, False,
                                        "no verified copy on this target "
                                        f"({copy.state.lower() if copy else 'never stored'})"))
        else:
            findings.append(_check_copy(storage, row, copy.sha256, expected_by_custody,
                                        on_bytes))
    problems = chain_problems(events)
    problems += [f"{c.name}: {c.detail}" for c in custody_checks(archive, row) if not c.ok]
    queued = archive.record_or_queue(
        row.id, actor, CustodyAction.AUDITED if all(f.ok for f in findings) and not problems
        else CustodyAction.AUDIT_FAILED, row.package_sha256,
        {"targets": {f.target: ("intact" if f.ok else f.detail) for f in findings},
         "custody": problems or "intact"}, checked_only=True)
    return CaptureAudit(row.id, findings, problems,
                        f"{row.id}: audit event {queued}" if queued else None)


@dataclass
class CustodyCheck:
    """One thing checked about a capture's custody: its name, whether it held, what was found."""

    name: str
    ok: bool
    detail: str


def custody_checks(archive: Archive, row: CaptureRow) -> list[CustodyCheck]:
    """The custody of a capture beyond its chain's links: the signed head in the catalog
    (count, last hash, record hash), and on every target holding the capture its events, its
    head and its ``capture.json``, each compared in full with the catalog."""
    trusted = archive.proof_options.trusted_keys if archive.proof_options else None
    row = archive.catalog.get(row.id)  # with its artifacts (a listed row has none loaded)
    events = archive.catalog.events(row.id)
    head_row = archive.catalog.head(row.id)
    catalog_head = head_row.head if head_row else None
    checks = [_head_check("catalog", catalog_head, events, record_fields(capture_index(row)),
                          trusted)]
    anchors = list(head_row.anchors or []) if head_row else []
    prefix = archive.prefix_of(row.id)
    for copy in archive.catalog.copies(row.id):
        if copy.state != CopyState.STORED:
            continue
        target = archive.target(copy.target)
        name = target.name
        try:
            stored = archive.stored_events(target, prefix)
        except (IsnadError, OSError) as exc:
            checks.append(CustodyCheck(f"{name}: custody events readable", False, str(exc)))
            continue
        problems = chain_problems(stored)
        checks.append(CustodyCheck(f"{name}: custody chain in storage", not problems,
                                   "; ".join(problems) or f"{len(stored)} events"))
        checks.append(_compare_chains(name, events, stored, copy.events_stored))
        try:
            head = archive.stored_head(target, prefix)
            index = json.loads(target.read_bytes(f"{prefix}/{INDEX_NAME}"))
            stored_record = record_fields(index)
        except (IsnadError, OSError, ValueError) as exc:
            checks.append(CustodyCheck(f"{name}: custody head and {INDEX_NAME} readable",
                                       False, str(exc)))
            continue
        checks.append(_head_check(name, head, stored, stored_record, trusted))
        checks += [_anchor_check(archive, target, a, events) for a in anchors]
        known = {a.get(k) for a in anchors for k in ("head_key", "token_key")}
        unknown = sorted(k for k in target.list(f"{prefix}/{ANCHORS_FOLDER}/") if k not in known)
        if unknown:  # an anchor removed from the catalog still counts: its token is on storage
            checks.append(CustodyCheck(f"{name}: custody anchors listed in the catalog", False,
                                       "not in the catalog: " + ", ".join(unknown)))
        if head is not None and catalog_head is not None:
            same = all(head.get(k) == catalog_head.get(k) for k in ("count", "last_hash",
                                                                    "record_sha256"))
            checks.append(CustodyCheck(
                f"{name}: custody head matches the catalog's", same,
                f"{head.get('count')} events, last {str(head.get('last_hash'))[:16]}…" if same
                else f"{name} holds a head of {head.get('count')} events, the catalog one of "
                f"{catalog_head.get('count')}"))
    return checks


def _anchor_check(archive: Archive, target: Any, anchor: dict[str, Any],
                  events: list[CustodyEvent]) -> CustodyCheck:
    """A TSA-anchored head: its token on this target, and the chain still holding what it
    fixed (the event it counted, with the same hash)."""
    from archiver.custody import head_sha256
    from archiver.proof import check_token

    count, tsa = anchor.get("count"), anchor.get("tsa")
    name = f"{target.name}: custody anchored at event #{count} by {tsa}"
    problems = []
    if not isinstance(count, int) or count < 1 or count > len(events):
        problems.append(f"the chain has {len(events)} events, fewer than were anchored")
    elif events[count - 1].hash != anchor.get("last_hash"):
        problems.append(f"event #{count} is not the one timestamped at {anchor.get('gen_time')} "
                        "(the chain was rewritten)")
    try:
        head = json.loads(target.read_bytes(str(anchor.get("head_key"))))
        token = target.read_bytes(str(anchor.get("token_key")))
    except (IsnadError, OSError, ValueError) as exc:
        return CustodyCheck(name, False, "; ".join([*problems, f"anchor unreadable: {exc}"]))
    if head_sha256(head) != anchor.get("head_sha256"):
        problems.append("the anchored head on storage is not the one timestamped")
    if archive.proof_options is None:
        problems.append("no TSA configured to check the token against")
    else:
        ok, detail = check_token(archive.proof_options, str(tsa), token,
                                 str(anchor.get("head_sha256")), None)
        if not ok:
            problems.append(detail)
    if problems:
        return CustodyCheck(name, False, "; ".join(problems))
    return CustodyCheck(name, True, f"token of {anchor.get('gen_time')} on the head of "
                        f"{count} events verifies; the chain still holds it")


def _head_check(where: str, head: dict[str, Any] | None, events: list[CustodyEvent],
                record: dict[str, str], trusted: set[str] | None) -> CustodyCheck:
    name = f"{where}: signed custody head"
    if head is None:
        if is_anchored_chain(events):
            return CustodyCheck(name, False, "missing: this chain was begun with heads, its "
                                "head was removed")
        return CustodyCheck(name, True, "none: the chain was recorded before custody heads, "
                            "so a removal of its last events cannot be ruled out")
    problems = head_problems(head, events, fields_sha256(record), record)
    signature = head.get("signature")
    if signature:
        result = verify_bytes(signature, head_signed_bytes(head), trusted)
        problems += [f"signature: {p}" for p in result.problems]
        signed = f"signed by {result.fingerprint}"
    elif trusted is not None:
        problems.append(f"not signed ({head.get('unsigned') or 'no reason given'})")
        signed = "unsigned"
    else:
        signed = "unsigned (signing is off)"
    if problems:
        return CustodyCheck(name, False, "; ".join(problems))
    return CustodyCheck(name, True, f"{head.get('count')} events, record and last hash match; "
                        + signed)


def _compare_chains(name: str, catalog: list[CustodyEvent], stored: list[CustodyEvent],
                    events_stored: int) -> CustodyCheck:
    """Every event in both places, both ways: a shorter copy on either side is a finding."""
    check = f"{name}: custody events in storage match the catalog"
    if [e.hash for e in catalog] == [e.hash for e in stored]:
        return CustodyCheck(check, True, f"identical ({len(stored)} events)")
    in_store = {e.seq: e for e in stored}
    in_catalog = {e.seq: e for e in catalog}
    differ = [f"#{e.seq} ({e.action})" for e in catalog
              if e.seq in in_store and in_store[e.seq].hash != e.hash]
    missing = [f"#{e.seq} ({e.action})" for e in catalog if e.seq not in in_store]
    extra = [f"#{e.seq} ({e.action})" for e in stored if e.seq not in in_catalog]
    parts = [f"storage holds {len(stored)} events, the catalog {len(catalog)}"]
    if differ:
        parts.append("differ: " + ", ".join(differ))
    if missing:
        parts.append("missing in storage: " + ", ".join(missing)
                     + (" (not written yet: run `isnad storage sync`)"
                        if events_stored < len(catalog) else ""))
    if extra:
        parts.append("missing in the catalog: " + ", ".join(extra))
    return CustodyCheck(check, False, "; ".join(parts))


def _check_copy(storage: Any, row: CaptureRow, copy_sha256: str | None,
                custody_sha256: str | None, on_bytes: Callable[[int], None] | None
                ) -> CopyFinding:
    import hashlib

    key = row.package_key or ""
    digest = hashlib.sha256()
    size = 0
    try:
        with storage.open(key) as stream:
            for chunk in read_ahead(stream):
                digest.update(chunk)
                size += len(chunk)
                if on_bytes:
                    on_bytes(len(chunk))
    except NotFound:
        return CopyFinding(row.id, storage.name, key, False, "missing: the object is not there")
    except (StorageError, OSError) as exc:
        return CopyFinding(row.id, storage.name, key, False, f"unreadable: {exc}", size)
    got = digest.hexdigest()
    problems = []
    if got != row.package_sha256:
        problems.append(f"hashes to {got}, the catalog says {row.package_sha256}")
    if copy_sha256 and got != copy_sha256 and copy_sha256 != row.package_sha256:
        problems.append(f"the copy was stored as {copy_sha256}")
    if custody_sha256 and custody_sha256 != row.package_sha256:
        problems.append(f"the custody log says {custody_sha256}")
    if row.package_size is not None and size != row.package_size:
        problems.append(f"{size} bytes, the catalog says {row.package_size}")
    return CopyFinding(row.id, storage.name, key, not problems,
                       "; ".join(problems) if problems else f"sha256 {got}", size)


def _write_report(home: Path, audit: FixityAudit) -> Path:
    folder = home / "audits"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = audit.started_at.replace(":", "").replace("-", "")
    path = folder / f"audit-{stamp}.json"
    audit.report_path = str(path)
    path.write_text(json.dumps(audit.to_dict(), indent=1, ensure_ascii=False))
    (folder / f"audit-{stamp}.txt").write_text(audit.summary() + "\n")
    return path


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
