"""Finding captures in the catalog and showing one in full."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from archiver.archive import Archive
from isnad.app import records


@dataclass
class CaptureList:
    """Captures matching a search, newest first (as `records.capture_summary` shapes them)."""

    captures: list[dict[str, Any]]
    total: int  # how many match in all; more than shown when a limit cut the list
    short_ids: dict[str, str] = field(default_factory=dict)  # id → shortest unique prefix


def find_captures(archive: Archive, *, case: str | None = None, tags: tuple[str, ...] = (),
                  states: tuple[str, ...] = (), since: datetime | None = None,
                  until: datetime | None = None, url: str | None = None,
                  limit: int | None = None, offset: int = 0, shorten: bool = False,
                  source: str | None = None, platform: str | None = None) -> CaptureList:
    """Captures matching every filter given (``tags``: all of them; ``states``: any of them;
    ``since``/``until`` bound the start time; ``url`` is part of the requested or final URL;
    ``source``: ``import`` (imported files) or ``capture``; ``platform``: holding a post of
    that platform), newest first, at most ``limit``
    after skipping ``offset`` (one page). With ``shorten``, each id's shortest unique prefix
    too."""
    rows, total = archive.catalog.find(case=case, tags=tags, states=states, since=since,
                                       until=until, url=url, limit=limit, offset=offset,
                                       context=False,  # a summary has no use for it
                                       source=source, platform=platform)
    short = archive.catalog.unique_prefixes([r.id for r in rows]) if shorten else {}
    return CaptureList([records.capture_summary(r) for r in rows], total, short)


def iter_captures(archive: Archive, *, case: str | None = None, tags: tuple[str, ...] = (),
                  states: tuple[str, ...] = (), since: datetime | None = None,
                  until: datetime | None = None, url: str | None = None,
                  source: str | None = None, platform: str | None = None
                  ) -> Iterator[dict[str, Any]]:
    """Every capture `find_captures` would list, newest first, one summary at a time (read
    from the catalog in batches: memory stays flat at any size)."""
    for row in archive.catalog.iter_find(case=case, tags=tags, states=states, since=since,
                                         until=until, url=url, context=False,
                                         source=source, platform=platform):
        yield records.capture_summary(row)


def show_capture(archive: Archive, capture_id: str) -> dict[str, Any]:
    """One capture in full (`records.capture_record`): ``capture_id`` or a unique prefix."""
    row = archive.catalog.get(capture_id)
    return records.capture_record(row, archive.catalog.pages(row.id))


def list_cases(archive: Archive) -> list[dict[str, Any]]:
    """Every case with its number of captures and latest start, the latest first (``case``
    None: the captures filed under no case)."""
    return [{"case": case, "captures": count, "latest": records.utc_iso(latest)}
            for case, count, latest in archive.catalog.cases()]
