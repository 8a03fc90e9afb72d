"""The storage targets: resuming pending uploads, and checking how well each protects evidence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from archiver.archive import Archive, SyncReport
from archiver.storage import StorageFinding
from isnad.app.archive import open_archive
from isnad.config import Settings


def sync_storage(archive: Archive, progress: Callable[[str], None] | None = None
                 ) -> SyncReport:
    """Upload what waits in the local spool to every target missing it (retries with
    backoff); ``progress`` hears what is being stored."""
    return archive.sync(progress)


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
