"""Fixity audits: re-reading and re-hashing stored packages, on a schedule or on demand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from archiver.archive import Archive
from archiver.audit import CopyFinding, FixityAudit, run_audit, select_captures
from archiver.catalog import CaptureRow


@dataclass
class AuditPlan:
    """Which captures an audit reads, on which target(s), and how many bytes that is."""

    rows: list[CaptureRow]
    target: str | None
    selection: str  # in the audit's report: what was asked for
    total_bytes: int


def plan_audit(archive: Archive, *, sample: int | None = None, since: datetime | None = None,
               since_text: str | None = None, target: str | None = None) -> AuditPlan:
    """Every capture with a package, a random ``sample`` of them, or those started ``since``;
    on every target, or only ``target``. ``since_text`` is the date as the user wrote it (the
    report says what was asked for); by default the date-time itself."""
    rows = select_captures(archive, sample=sample, since=since)
    if sample:
        selection = f"sample of {sample}"
    elif since is not None:
        selection = f"since {since_text or since.isoformat()}"
    else:
        selection = "all"
    if target:
        selection += f", target {target}"
    total = sum(r.package_size or 0 for r in rows) * (1 if target else len(archive.targets))
    return AuditPlan(rows, target, selection, total)


def audit_fixity(archive: Archive, plan: AuditPlan, actor: str, *,
                 on_bytes: Callable[[int], None] | None = None,
                 on_copy: Callable[[CopyFinding], None] | None = None) -> FixityAudit:
    """Run the audit ``plan`` describes: each copy re-hashed (``on_bytes`` hears the bytes
    read, ``on_copy`` each copy's finding), custody checked, an event per capture, a report
    written."""
    return run_audit(archive, plan.rows, actor=actor, target=plan.target,
                     selection=plan.selection, on_bytes=on_bytes, on_copy=on_copy)
