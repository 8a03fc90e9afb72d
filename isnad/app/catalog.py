"""Finding captures in the catalog and showing one in full."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from archiver.archive import Archive
from archiver.cases import CaseNotes, CaseRow
from archiver.errors import IsnadError
from isnad.app import records

log = logging.getLogger(__name__)


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
    """Every case with its number of captures, latest start and note (``note``,
    ``note_updated_at``, ``note_updated_by``), the latest first (``case`` None: the captures
    filed under no case); then the cases that have a note but no capture yet, the latest
    note first."""
    notes = CaseNotes(archive.catalog).notes()
    found = [{"case": case, "captures": count, "latest": records.utc_iso(latest)}
             for case, count, latest in archive.catalog.cases()]
    seen = {entry["case"] for entry in found}
    waiting = sorted((row for case, row in notes.items() if case not in seen),
                     key=lambda row: row.updated_at, reverse=True)
    found += [{"case": row.case_id, "captures": 0, "latest": None} for row in waiting]
    for entry in found:
        row = notes.get(entry["case"]) if entry["case"] is not None else None
        entry.update(note=row.note if row else "",
                     note_updated_at=records.utc_iso(row.updated_at) if row else None,
                     note_updated_by=row.updated_by if row else None)
    return found


# -- cases ---------------------------------------------------------------------------------
CASE_MAX = 200  # characters of a case id (the catalog's case_id column)
NOTE_MAX = 20_000  # characters of a case's note


def _case_id(case_id: str) -> str:
    # Taken as it is (not stripped): the note belongs to exactly the case id its captures name.
    case = case_id or ""
    if not case.strip():
        raise IsnadError("a case note needs a case id")
    if len(case) > CASE_MAX:
        raise IsnadError(f"a case id is at most {CASE_MAX} characters; this one has "
                         f"{len(case)}")
    return case


def _note_record(case_id: str, row: CaseRow | None) -> dict[str, Any]:
    return {"case": case_id, "note": row.note if row else "",
            "updated_at": records.utc_iso(row.updated_at) if row else None,
            "updated_by": row.updated_by if row else None}


def case_note(archive: Archive, case_id: str) -> dict[str, Any]:
    """The note of a case: its text ("" when none was written), when and by whom it was last
    changed (None when never)."""
    case = _case_id(case_id)
    return _note_record(case, CaseNotes(archive.catalog).note_of(case))


def set_case_note(archive: Archive, case_id: str, note: str, *, by: str) -> dict[str, Any]:
    """Write the note of a case (replacing the one before; "" clears it), by ``by``; the note
    as :func:`case_note` gives it. Free text of at most :data:`NOTE_MAX` characters; line ends
    are kept as ``\\n`` (a browser's form sends ``\\r\\n``)."""
    case = _case_id(case_id)
    text = (note or "").replace("\r\n", "\n").replace("\r", "\n")
    if len(text) > NOTE_MAX:
        raise IsnadError(f"a case note is at most {NOTE_MAX:,} characters; this one has "
                         f"{len(text):,}: shorten it, or keep long material as a file")
    if "\x00" in text:  # PostgreSQL refuses it in text; no person types it
        raise IsnadError("a case note cannot hold a NUL character")
    row = CaseNotes(archive.catalog).write(case, text, by=by)
    log.info("case %r: note written by %s (%d characters)", case, by, len(text))
    return _note_record(case, row)
