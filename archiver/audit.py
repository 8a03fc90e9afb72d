"""Fixity audits: re-read stored packages from every target, re-hash them as they stream,
compare with the catalog and the custody log, and record what was found.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from archiver.archive import Archive
from archiver.catalog import STORED, CaptureRow
from archiver.custody import chain_problems
from archiver.errors import NotFound, StorageError
from archiver.hashing import read_ahead

AUDITED = "audited"


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


def run_audit(
    archive: Archive,
    rows: list[CaptureRow],
    *,
    actor: str,
    target: str | None = None,
    selection: str = "",
    on_bytes: Callable[[int], None] | None = None,
    on_copy: Callable[[CopyFinding], None] | None = None,
) -> FixityAudit:
    """Audit the copies of ``rows`` (on one target or all); write events and the report."""
    audit = FixityAudit(started_at=_now(), selection=selection)
    targets = [archive.target(target)] if target else archive.targets
    for row in rows:
        copies = {c.target: c for c in archive.catalog.copies(row.id)}
        packaged = [e for e in archive.catalog.events(row.id) if e.action == "packaged"]
        expected_by_custody = packaged[-1].object_sha256 if packaged else None
        row_findings = []
        for storage in targets:
            copy = copies.get(storage.name)
            if copy is None or copy.state != STORED:
                finding = CopyFinding(row.id, storage.name, row.package_key, False,
                                      "no verified copy on this target "
                                      f"({copy.state.lower() if copy else 'never stored'})")
            else:
                finding = _check_copy(storage, row, copy.sha256, expected_by_custody, on_bytes)
            row_findings.append(finding)
            audit.findings.append(finding)
            if on_copy:
                on_copy(finding)
        problems = chain_problems(archive.catalog.events(row.id))
        for storage in targets:
            copy = copies.get(storage.name)
            if copy is None or copy.state != STORED:
                continue
            try:
                stored = archive.stored_events(storage, archive.prefix_of(row.id))
            except StorageError as exc:
                problems.append(f"custody events on {storage.name} unreadable: {exc}")
                continue
            catalog_hashes = [e.hash for e in archive.catalog.events(row.id)]
            stored_hashes = [e.hash for e in stored]
            if stored_hashes != catalog_hashes[:len(stored_hashes)]:
                problems.append(f"custody events on {storage.name} differ from the catalog")
            problems += [f"on {storage.name}: {p}" for p in chain_problems(stored)]
        audit.custody_problems[row.id] = problems
        archive.record_event(
            row.id, actor, AUDITED if all(f.ok for f in row_findings) and not problems
            else "audit-failed", row.package_sha256,
            {"targets": {f.target: ("intact" if f.ok else f.detail) for f in row_findings},
             "custody": problems or "intact"})
    audit.ended_at = _now()
    audit.report_path = str(_write_report(archive.home, audit))
    return audit


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
