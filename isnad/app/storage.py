"""The storage targets: resuming pending uploads, and checking how well each protects evidence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from archiver.archive import Archive, SyncReport
from archiver.errors import StorageError
from archiver.proof import LATE
from archiver.states import CopyState
from archiver.storage import StorageFinding
from isnad.app.archive import open_archive
from isnad.config import Settings


def sync_storage(archive: Archive, progress: Callable[[str], None] | None = None
                 ) -> SyncReport:
    """Upload what waits in the local spool to every target missing it (retries with
    backoff); ``progress`` hears what is being stored. A copy stored now also gets the proofs
    written beside the package while it waited (late timestamp tokens, custody anchors)."""
    waiting = {c.capture_id for c in archive.catalog.pending_copies()}
    report = archive.sync(progress)
    for capture_id in sorted(waiting):
        _carry_proofs(archive, capture_id, report)
    return report


def _carry_proofs(archive: Archive, capture_id: str, report: SyncReport) -> None:
    """Late tokens and custody anchors go to the targets holding the package at that moment
    (`timestamp --pending`, `custody anchor`); a target that got the package later lacked
    them, and `verify` found its copy's late timestamps missing. Copy each to every stored
    copy that lacks it, from one that has it."""
    row = archive.catalog.get(capture_id)
    keys = [e["key"] for e in ((row.context or {}).get("proof") or {}).get("timestamps", [])
            if e.get("state") == LATE and e.get("key")]
    head = archive.catalog.head(capture_id)
    for anchor in (head.anchors or []) if head is not None else []:
        keys += [anchor[k] for k in ("head_key", "token_key") if anchor.get(k)]
    holders = [archive.target(c.target) for c in row.copies if c.state == CopyState.STORED]
    for key in keys:
        try:
            having = [t for t in holders if t.exists(key)]
            if not having:
                continue
            data = having[0].read_bytes(key)
            for target in holders:
                if target not in having:
                    target.put_bytes(key, data)
                    report.stored.append(f"{capture_id} → {target.name}: {key.rsplit('/', 1)[-1]}")
        except StorageError as exc:
            report.errors.append(f"{capture_id}: {key}: {exc}")


@dataclass
class TargetCheck:
    """One target's versioning and lock configuration, as findings (level ok/warning/error)."""

    name: str
    location: str
    findings: list[StorageFinding]

    @property
    def ok(self) -> bool:
        return all(f.level == "ok" for f in self.findings)


def check_storage(settings: Settings) -> list[TargetCheck]:
    """Each configured target's findings; evidence is at risk where one is not ``ok``. A check
    changes no capture (the archive is opened without recovering interrupted ones)."""
    archive = open_archive(settings, recover=False)
    return [TargetCheck(t.name, t.location(""), t.check()) for t in archive.targets]
