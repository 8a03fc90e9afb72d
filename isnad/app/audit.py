"""Fixity audits: re-reading and re-hashing stored packages, on a schedule or on demand."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from archiver.archive import Archive
from archiver.audit import (
    CaptureAudit,
    CopyFinding,
    FixityAudit,
    audit_capture,
    run_audit,
    select_captures,
)
from archiver.catalog import CaptureRow

if TYPE_CHECKING:
    from isnad.config import Settings


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
                 on_copy: Callable[[CopyFinding], None] | None = None,
                 on_capture: Callable[[CaptureAudit], None] | None = None,
                 settings: Settings | None = None, workers: int = 1) -> FixityAudit:
    """Run the audit ``plan`` describes: each copy re-hashed (``on_bytes`` hears the bytes
    read, ``on_copy`` each copy's finding, ``on_capture`` each capture's audit as it is made),
    custody checked, an event per capture, a report written.

    With ``workers`` > 1 (and the ``settings`` to open the archive with), that many processes
    audit captures at once (re-hashing is CPU-bound); their results come in the plan's order,
    and ``on_bytes`` hears a capture's bytes when it is done."""
    workers = max(1, min(workers, len(plan.rows)))
    if workers == 1 or settings is None:
        return run_audit(archive, plan.rows, actor=actor, target=plan.target,
                         selection=plan.selection, on_bytes=on_bytes, on_copy=on_copy,
                         on_capture=on_capture)
    # spawn, not fork: the caller may run threads (a progress bar) and holds database handles.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_open_for_workers,
                             initargs=(settings, plan.target, actor)) as pool:
        try:
            audited = pool.map(_audit_in_worker, [r.id for r in plan.rows], chunksize=1)

            def counted() -> Iterator[CaptureAudit]:
                for done in audited:
                    if on_bytes:
                        on_bytes(sum(f.bytes for f in done.findings))
                    yield done

            return run_audit(archive, plan.rows, actor=actor, target=plan.target,
                             selection=plan.selection, on_copy=on_copy, on_capture=on_capture,
                             audited=counted())
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # Ctrl-C: start no other capture
            raise


# An audit worker's archive, targets and actor (each worker process opens its own, once).
_worker: dict[str, Any] = {}


def _open_for_workers(settings: Settings, target: str | None, actor: str) -> None:
    from isnad.app.archive import open_archive

    archive = open_archive(settings, recover=False)  # the parent recovered already
    targets = [archive.target(target)] if target else archive.targets
    _worker.update(archive=archive, targets=targets, actor=actor)


def _audit_in_worker(capture_id: str) -> CaptureAudit:
    archive = _worker["archive"]
    return audit_capture(archive, archive.catalog.get(capture_id), _worker["targets"],
                         _worker["actor"])
