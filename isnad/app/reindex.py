"""Rebuilding the catalog from storage alone (storage is the source of truth)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from archiver.reindex import reindex
from isnad.app.archive import open_archive
from isnad.config import Settings


@dataclass
class RebuiltCatalog:
    """What `isnad reindex` read back from how many targets, and what it could not."""

    captures: int
    copies: int
    events: int
    targets: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def rebuild_catalog(settings: Settings, progress: Callable[[str], None] | None = None
                    ) -> RebuiltCatalog:
    """Rebuild the catalog, into an empty database, from every storage target; ``progress``
    hears each capture id as it is read. The archive is opened without recovery: nothing is
    written to the database before the rebuild."""
    archive = open_archive(settings, recover=False)
    report = reindex(archive, progress)
    return RebuiltCatalog(report.captures, report.copies, report.events, len(archive.targets),
                          report.problems)
