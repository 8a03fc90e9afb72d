"""Cases: the investigator's note on each case, in the catalog.

A capture names its case (``case_id``); the catalog groups captures by it. What a case is about
(the question, the leads, who works it) is the investigator's working note, kept here: one row
per case id, the note's text, when and by whom it was last changed. The note is not evidence:
it is in no package, no manifest, no custody log and no search index, and editing it changes
nothing a capture proves.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import String, Text, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from archiver.catalog import Base, Catalog, UTCDateTime


class CaseRow(Base):
    """A case's note: free text, and who changed it last, when."""

    __tablename__ = "cases"

    # The same 200 characters a capture's case_id holds.
    case_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    note: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str] = mapped_column(String(200))


class CaseNotes:
    """The case notes of a catalog."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def note_of(self, case_id: str) -> CaseRow | None:
        """The note of ``case_id`` (None: no note was ever written)."""
        with self.catalog.session() as s:
            return s.get(CaseRow, case_id)

    def notes(self) -> dict[str, CaseRow]:
        """Every case's note, by case id."""
        with self.catalog.session() as s:
            return {row.case_id: row for row in s.scalars(select(CaseRow))}

    def write(self, case_id: str, note: str, *, by: str) -> CaseRow:
        """Write ``note`` as the note of ``case_id`` (replacing any), by ``by``, now."""
        now = datetime.now(UTC)
        for attempt in range(2):
            try:
                with self.catalog.session() as s:
                    row = s.get(CaseRow, case_id)
                    if row is None:
                        row = CaseRow(case_id=case_id)
                        s.add(row)
                    row.note, row.updated_at, row.updated_by = note, now, by
                return row
            except IntegrityError:
                # Another writer made the case's row between our look and our insert: the
                # second try finds it and updates it.
                if attempt:
                    raise
        raise AssertionError("unreachable")
