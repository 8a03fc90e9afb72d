"""Full-text search over captures and imports (docs/search.md).

Each capture catalogued COMPLETE or PARTIAL is indexed as it is catalogued (the archive's
``on_catalogued`` hook, installed by :func:`isnad.app.archive.open_archive`), each import as
it completes; ``isnad search --rebuild`` builds the whole index again from the packages. The
index is a working copy: losing it loses nothing.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from archiver.archive import Archive
from archiver.catalog import CaptureRow, ImportRow
from archiver.errors import IsnadError
from archiver.pagetext import PageTexts
from archiver.search import (
    PackageText,
    SearchDocument,
    SearchFilters,
    SearchHit,
    SearchIndex,
    package_text,
)
from archiver.states import CaptureState, CopyState
from archiver.storage import LocalFolderStorage
from isnad.app.records import utc_iso
from isnad.config import Settings

log = logging.getLogger("isnad")

FILTERS = ("case", "tag", "state", "platform", "source", "kind", "since", "until")
INDEXED_STATES = (CaptureState.COMPLETE, CaptureState.PARTIAL)


@dataclass
class SearchPage:
    """One page of results, best first: each hit as :func:`search_hit` shapes it."""

    query: str
    hits: list[dict[str, Any]]
    total: int  # how many match in all
    limit: int
    offset: int


@dataclass
class RebuiltIndex:
    """What `isnad search --rebuild` indexed, and what it could not (with why)."""

    captures: int = 0
    imports: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def search_hit(hit: SearchHit) -> dict[str, Any]:
    """A hit as JSON (``isnad search --json`` and the web API): ``snippet`` is HTML (escaped
    text, the matched words in ``<mark>``)."""
    return {"kind": hit.kind, "id": hit.ref_id, "url": hit.url, "title": hit.title,
            "state": hit.state, "case": hit.case_id, "tags": hit.tags,
            "platform": hit.platform, "source": hit.source,
            "captured_at": utc_iso(hit.captured_at), "score": round(hit.score, 6),
            "snippet": hit.snippet}


def search(settings: Settings, query: str, *, filters: dict[str, Any] | None = None,
           limit: int = 20, offset: int = 0, archive: Archive | None = None) -> SearchPage:
    """Captures and imports whose words match ``query``: all its words, ``"quoted
    phrases"``, ``prefix*`` (anything else is searched as text, never as query syntax), in
    every spelling normalisation joins (alef and hamza forms, taa marbuta, harakat,
    tatweel, case). ``filters``: case, tag, state, platform, source (capture/import), kind
    (capture/import), since/until (datetimes or ISO 8601 text, on the capture time).
    ``archive``: one already open (a web app's), else the catalog of ``settings``."""
    if limit < 1 or offset < 0:
        raise IsnadError("limit must be at least 1 and offset at least 0")
    wanted = _filters(filters or {})
    engine = archive.catalog.engine if archive is not None else _open_engine(settings)
    try:
        hits, total = SearchIndex(engine).search(query, wanted, limit=limit, offset=offset)
    finally:
        if archive is None:
            engine.dispose()  # opened for this search alone
    return SearchPage(query, [search_hit(h) for h in hits], total, limit, offset)


def _open_engine(settings: Settings) -> Any:
    from archiver.catalog import Catalog

    settings.prepare_folders()
    return Catalog(settings.catalog_url).engine


def _filters(given: dict[str, Any]) -> SearchFilters:
    unknown = sorted(set(given) - set(FILTERS))
    if unknown:
        raise IsnadError(f"unknown search filter(s) {', '.join(unknown)}; known: "
                         + ", ".join(FILTERS))
    values = {k: v for k, v in given.items() if v is not None and v != ""}
    for key in ("since", "until"):
        if isinstance(values.get(key), str):
            try:
                values[key] = datetime.fromisoformat(values[key].replace("Z", "+00:00"))
            except ValueError as exc:
                raise IsnadError(f"search filter {key}: {values[key]!r} is not an ISO 8601 "
                                 "date or time") from exc
    if "case" in values:
        values["case"] = str(values["case"])
    return SearchFilters(**values)


# -- indexing ----------------------------------------------------------------------------------

def capture_document(row: CaptureRow, found: PackageText) -> SearchDocument:
    """The search document of a capture, from its catalog row and its package's words."""
    context = row.context or {}
    pages = [p.get("title") for p in context.get("pages") or [] if p.get("title")]
    titles = list(dict.fromkeys([*pages, *found.titles]))
    return SearchDocument(
        kind="capture", ref_id=row.id, url=row.final_url or row.url,
        title=titles[0] if titles else None, titles="\n".join(titles),
        page_text=found.page_text, post_text=found.post_text,
        notes="\n".join(n for n in [row.note, *found.notes] if n),
        state=row.state, case_id=row.case_id, tags=list(row.tags or []),
        platform=(context.get("platform") or {}).get("name"),
        source="import" if context.get("source") == "import" else "capture",
        captured_at=row.started_at)


def import_document(row: ImportRow) -> SearchDocument:
    """The search document of an import: who provided it, its note, its files' names (the
    text of its WARCs and manifests is in the documents of its captures)."""
    names = [f.name for f in row.files]
    return SearchDocument(
        kind="import", ref_id=row.id, url=None, title=f"import from {row.provider}",
        titles="\n".join([f"import from {row.provider}", *names]),
        notes="\n".join(n for n in [row.note, row.provider, *row.paths] if n),
        state=row.state, case_id=row.case_id, tags=list(row.tags or []), source="import",
        captured_at=row.received_at or row.started_at)


def index_capture(archive: Archive, capture_id: str, package: Path | None = None,
                  texts: Mapping[str, PageTexts] | None = None) -> bool:
    """Index one capture from its package (``package``: a local copy; else the stored one).
    ``texts``: what the writers of its WARCs kept of them (see
    :func:`archiver.search.package_text`). A capture that is not COMPLETE or PARTIAL is taken
    out of the index instead; False then."""
    row = archive.catalog.get(capture_id)
    index = SearchIndex(archive.catalog.engine)
    if row.state not in INDEXED_STATES or not row.package_key:
        index.remove("capture", row.id)
        return False
    if package is not None:
        found = package_text(package, texts)
    else:
        with _package(archive, row) as path:
            found = package_text(path)
    index.put(capture_document(row, found))
    return True


def index_catalogued(archive: Archive, capture_id: str, package: Path,
                     texts: Mapping[str, PageTexts] | None = None) -> None:
    """The archive's ``on_catalogued`` hook: index a capture just catalogued (``texts``: the
    text its WARCs' writers kept, so they need not be read back); a failure is logged and
    never fails the capture (``isnad search --rebuild`` indexes it later)."""
    try:
        index_capture(archive, capture_id, package, texts)
    except Exception as exc:  # noqa: BLE001 - search is a convenience, the capture is evidence
        log.warning("capture %s not indexed for search (run `isnad search --rebuild`): %s",
                    capture_id, _one_line(exc))


def index_import(archive: Archive, import_id: str) -> None:
    """Index an import as it completes; a failure is logged, never fails the import."""
    try:
        SearchIndex(archive.catalog.engine).put(
            import_document(archive.catalog.get_import(import_id)))
    except Exception as exc:  # noqa: BLE001 - as index_catalogued
        log.warning("import %s not indexed for search (run `isnad search --rebuild`): %s",
                    import_id, _one_line(exc))


@contextmanager
def _package(archive: Archive, row: CaptureRow) -> Iterator[Path]:
    """A readable local path of a capture's package: the local target's file as it is, else
    a download of a stored copy, else the spooled one."""
    for copy in row.copies:
        if copy.state != CopyState.STORED or not copy.key:
            continue
        target = archive.target(copy.target)
        if isinstance(target, LocalFolderStorage):
            local = Path(target.location(copy.key))
            if local.is_file():
                yield local
                return
            continue
        with tempfile.TemporaryDirectory(prefix="isnad-search-") as tmp:
            yield target.download(copy.key, Path(tmp) / "package.wacz")
            return
    if row.spool_path and Path(row.spool_path).is_file():
        yield Path(row.spool_path)
        return
    raise IsnadError(f"no copy of the package of {row.id} can be read")


def rebuild_index(archive: Archive, progress: Callable[[str], None] | None = None
                  ) -> RebuiltIndex:
    """Empty the search index and index every COMPLETE or PARTIAL capture again from its
    package, and every import; a capture that cannot be read is named with why."""
    report = RebuiltIndex()
    SearchIndex(archive.catalog.engine).clear()
    for row in archive.catalog.iter_find(states=tuple(INDEXED_STATES), context=False):
        if progress:
            progress(row.id)
        try:
            if index_capture(archive, row.id):
                report.captures += 1
        except Exception as exc:  # noqa: BLE001 - one unreadable package must not stop it
            report.problems.append(f"capture {row.id}: not indexed: {_one_line(exc)}")
    for imported in archive.catalog.list_imports():
        if progress:
            progress(imported.id)
        try:
            SearchIndex(archive.catalog.engine).put(import_document(imported))
            report.imports += 1
        except Exception as exc:  # noqa: BLE001 - as above
            report.problems.append(f"import {imported.id}: not indexed: {_one_line(exc)}")
    return report


def _one_line(exc: Exception) -> str:
    """An error in one line (a database error's message runs on with its SQL)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
