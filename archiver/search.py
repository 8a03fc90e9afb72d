"""Full-text search over the catalog: Arabic-aware normalisation, the text of a package, the
index (SQLite FTS5, or PostgreSQL's tsvector) and highlighted snippets.

Indexed and queried text go through the same :func:`normalise`, so a word found in a page
written ``الأدلة`` is found by ``الادله``, ``ٱلأَدِلَّة`` or ``الأدلـــة``. The index keeps the
normalised words (what the database matches) and the original text (what a snippet shows:
the investigator sees the words as the page wrote them, the matched ones in ``<mark>``).

The index is a working copy, derived from the packages and rebuilt from them at any time: it
lives in the catalog database (tables ``search_documents`` and, on SQLite, ``search_fts``,
made by the migration ``0005_search``), never in a package.
"""

from __future__ import annotations

import contextlib
import html
import json
import re
import unicodedata
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Engine, text

from archiver.pagetext import (  # noqa: F401 - html_text and MAX_HTML_BYTES: as before
    MAX_HTML_BYTES,
    MAX_PAGE_TEXT,
    PageEntry,
    PageTexts,
    html_kind,
    html_text,
    record_text,
)
from archiver.warcreader import BoundedArchiveIterator

# -- normalisation -----------------------------------------------------------------------------

# One form for letters that people write interchangeably (and keyboards type differently).
_LETTERS = {
    "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ٲ": "ا", "ٳ": "ا",  # alef with hamza/madda/wasla
    "ؤ": "و", "ئ": "ي", "ى": "ي",  # hamza on waw and yeh; alef maqsura
    "ة": "ه",  # taa marbuta, often typed as haa
    "ک": "ك", "ڪ": "ك",  # Persian/Urdu keheh, swash kaf
    "ی": "ي", "ې": "ي", "ے": "ي", "ۓ": "ي",  # Persian/Urdu/Pashto yeh forms
    "ہ": "ه", "ھ": "ه", "ۀ": "ه", "ە": "ه",  # Urdu heh goal, heh doachashmee; heh with yeh
    "ۂ": "ه",
}
# Arabic-Indic and Persian digits: the same numbers as 0-9 (NFKC leaves them alone).
_LETTERS.update({chr(0x0660 + d): str(d) for d in range(10)})
_LETTERS.update({chr(0x06F0 + d): str(d) for d in range(10)})
_TABLE = str.maketrans(_LETTERS)
# Removed: harakat and other Arabic marks (U+064B-U+065F, superscript alef U+0670, Quranic
# annotation marks U+0610-U+061A, U+06D6-U+06ED, U+08D3-U+08FF), tatweel (U+0640), Latin
# combining accents (after decomposition: "café" is found by "cafe"), and invisible format
# characters (ZWNJ/ZWJ, direction marks, the Arabic letter mark).
_REMOVED = re.compile(
    "[\u0300-\u036f\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8\u06ea-\u06ed"
    "\u08d3-\u08ff\u0640\u200b-\u200f\u202a-\u202e\u2066-\u2069\u061c\ufeff\u00ad]")
# A word of normalised text: letters and digits (marks are gone by then).
_WORD = re.compile(r"[^\W_]+")
# A word of original text: letters and digits with the marks normalisation removes inside it
# (a word with harakat is one word, not many).
_ORIGINAL_WORD = re.compile(
    "(?:[^\\W_]|[\u0300-\u036f\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u08d3-\u08ff"
    "\u200c\u200d\u00ad])+")


def normalise(value: str) -> str:
    """``value`` as the index and queries see it: NFKC (presentation forms and ligatures as
    their letters), Arabic letter variants as one form (alef/hamza forms → ا, ؤ → و, ئ ى → ي,
    ة → ه, Persian/Urdu ک ی ہ → ك ي ه), Arabic-Indic digits as 0-9, harakat, Quranic marks,
    tatweel, Latin accents and invisible format characters removed, case folded."""
    value = unicodedata.normalize("NFKC", value)
    # Decomposed, so a Latin accent (and a hamza written as a combining mark) is its own
    # character to remove; recomposed after.
    value = unicodedata.normalize("NFD", value.translate(_TABLE))
    value = _REMOVED.sub("", value)
    return unicodedata.normalize("NFC", value).translate(_TABLE).casefold()


def words(value: str) -> list[str]:
    """The normalised words of ``value``."""
    return _WORD.findall(normalise(value))


def index_text(value: str) -> str:
    """``value`` as the database indexes it: its normalised words, one space apart (so the
    database's own tokenizer sees exactly the words queries are made of)."""
    return " ".join(words(value))


@lru_cache(maxsize=65536)
def _word_forms(original: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(normalise(original)))


# -- queries -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Term:
    """One thing a query asks for: a word, a phrase (several words in a row), or a prefix
    (``word*``). Its words are normalised, letters and digits only."""

    words: tuple[str, ...]
    prefix: bool = False


_QUERY_PART = re.compile(r'"([^"]*)"?|(\S+)')


def parse_query(query: str) -> list[Term]:
    """The terms of a user's query: words (all must match), ``"quoted phrases"``, ``prefix*``.

    Everything else is text: ``:``, ``-``, ``NEAR``, ``AND``, ``(`` mean nothing special
    (they are dropped with the other punctuation, or searched as words), so no input reaches
    the database's query syntax as syntax."""
    terms: list[Term] = []
    for phrase, word in _QUERY_PART.findall(query):
        if phrase:
            found = words(phrase)
            if found:
                terms.append(Term(tuple(found)))
            continue
        prefix = word.endswith("*")
        found = words(word)
        if not found:
            continue
        if len(found) > 1:  # "al-Quds", "e.g.": the words in a row, as the text has them
            terms.append(Term(tuple(found), prefix))
        else:
            terms.append(Term((found[0],), prefix))
    return list(dict.fromkeys(terms))


def fts5_query(terms: list[Term]) -> str:
    """The terms as an SQLite FTS5 query: every term quoted (words are letters and digits
    only, so a quote never appears inside), all of them required."""
    parts = []
    for term in terms:
        quoted = '"' + " ".join(term.words) + '"'
        parts.append(quoted + ("*" if term.prefix else ""))
    return " AND ".join(parts)


def tsquery(terms: list[Term]) -> str:
    """The terms as a PostgreSQL tsquery (for ``to_tsquery('simple', …)``): phrases with
    ``<->``, prefixes with ``:*``; words are letters and digits only, never operators."""
    parts = []
    for term in terms:
        lexemes = [f"'{w}'" for w in term.words]
        if term.prefix:
            lexemes[-1] += ":*"
        parts.append("(" + " <-> ".join(lexemes) + ")" if len(lexemes) > 1 else lexemes[0])
    return " & ".join(parts)


# -- snippets ----------------------------------------------------------------------------------

def _matches(form: str, terms: list[Term]) -> bool:
    for term in terms:
        for i, wanted in enumerate(term.words):
            last = i == len(term.words) - 1
            if form == wanted or (term.prefix and last and form.startswith(wanted)):
                return True
    return False


def snippet(texts: list[str], terms: list[Term], *, width: int = 30) -> str:
    """About ``width`` words of the first of ``texts`` with a match, HTML-escaped, the matched
    words (as the text wrote them) in ``<mark>``…``</mark>``. The text's start when nothing
    matches."""
    for value in texts:
        if not value:
            continue
        tokens = list(_ORIGINAL_WORD.finditer(value))
        hit = next((i for i, m in enumerate(tokens)
                    if any(_matches(f, terms) for f in _word_forms(m.group()))), None)
        if hit is None:
            continue
        first = max(0, hit - width // 3)
        last = min(len(tokens), first + width)
        return _marked(value, tokens[first:last], terms, first > 0, last < len(tokens))
    for value in texts:
        if value:
            tokens = list(_ORIGINAL_WORD.finditer(value[:4000]))[:width]
            return _marked(value, tokens, [], False, len(tokens) == width)
    return ""


def _marked(value: str, tokens: list[re.Match[str]], terms: list[Term], before: bool,
            after: bool) -> str:
    if not tokens:
        return ""
    out = ["… " if before else ""]
    position = tokens[0].start()
    for token in tokens:
        out.append(html.escape(value[position:token.start()]))
        word = html.escape(token.group())
        if terms and any(_matches(f, terms) for f in _word_forms(token.group())):
            word = f"<mark>{word}</mark>"
        out.append(word)
        position = token.end()
    out.append(" …" if after else "")
    # Runs of white space (line breaks of the page) shown as one space.
    return re.sub(r"\s+", " ", "".join(out)).strip()


# -- the text of a package ---------------------------------------------------------------------

@dataclass
class PackageText:
    """What a package says in words: its pages' titles and text, its post, its notes."""

    titles: list[str] = field(default_factory=list)
    page_text: str = ""
    post_text: str = ""
    notes: list[str] = field(default_factory=list)
    truncated: bool = False  # more page text than MAX_PAGE_TEXT: the rest is not indexed


def warc_html(stream: BinaryIO) -> Iterator[tuple[str, str, str]]:
    """(URL, title, text) of each HTML response or resource record of a WARC or ARC stream."""
    for record in BoundedArchiveIterator(stream, arc2warc=True):
        kind = html_kind(record)
        if kind is None:
            continue
        found = record_text(record, kind)
        if found is not None:
            yield record.rec_headers.get_header("WARC-Target-URI") or "", *found


def _post_text(post: dict[str, Any]) -> str:
    parts = [post.get("title"), post.get("text"), post.get("author_name"),
             post.get("author_handle"), post.get("description")]
    for item in post.get("media") or []:
        if isinstance(item, dict):
            parts += [item.get("title"), item.get("description"), item.get("alt")]
    return "\n".join(str(p) for p in parts if p)


def _manifest_notes(provenance: dict[str, Any]) -> list[str]:
    """The titles, notes and descriptions of an import's CSV manifest rows."""
    notes = []
    for entry in provenance.get("files") or []:
        row = ((entry.get("metadata") or {}).get("manifest_row") or {}) \
            if isinstance(entry, dict) else {}
        for column, value in row.items():
            if str(column).strip().lower() in {"title", "note", "notes", "description",
                                               "caption", "comment", "comments"} and value:
                notes.append(str(value))
    return notes


class _ReadTheWarcs(Exception):
    """The text a WARC's writer kept is not enough for this reading: read the WARCs."""


def package_text(path: Path, texts: Mapping[str, PageTexts] | None = None) -> PackageText:
    """The words of the package at ``path``: the visible text of the HTML in its WARCs/ARCs
    (scripts and styles left out, at most :data:`MAX_PAGE_TEXT` characters), its pages'
    titles, its post record (``metadata/post.json``) and its import manifest's titles and
    notes (``metadata/provenance.json``).

    ``texts``: what the writers of some of its WARCs kept of them as they wrote them (by
    member name, ``archive/<file>``; :class:`~archiver.pagetext.PageTexts`): such a WARC is
    not read again. The text is the same as read back (the same records, through the same
    reading); where it could differ (a record the writer did not read, text cut at the
    writer's bound that this reading needs) the WARCs are read instead."""
    if texts:
        try:
            return _package_text(path, texts)
        except _ReadTheWarcs:
            pass
    return _package_text(path, {})


def _package_text(path: Path, texts: Mapping[str, PageTexts]) -> PackageText:
    found = PackageText()
    seen: set[str] = set()
    pages: list[str] = []
    size = 0
    with zipfile.ZipFile(path) as package:
        names = package.namelist()
        for name in names:
            if name == "pages/pages.jsonl":
                with package.open(name) as fh:
                    for line in fh:
                        try:
                            page = json.loads(line)
                            title = page.get("title") if "url" in page else None
                        except (ValueError, AttributeError, TypeError):
                            continue  # the first line is the list's own header, not a page
                        if title:
                            found.titles.append(str(title))
            elif name == "metadata/post.json":
                with package.open(name) as fh:
                    found.post_text = _post_text(json.load(fh))
            elif name == "metadata/provenance.json":
                with package.open(name) as fh:
                    found.notes += _manifest_notes(json.load(fh))
        # The received original first (an ARC), its WARC conversion second: a URL read once.
        for name in sorted(n for n in names if n.startswith("archive/")):
            if size >= MAX_PAGE_TEXT:
                found.truncated = True
                break
            kept = texts.get(name)
            if kept is not None and not kept.complete:
                raise _ReadTheWarcs(name)
            with contextlib.ExitStack() as stack:
                if kept is not None:
                    entries: Iterator[PageEntry] = iter(kept.entries)
                else:
                    fh = stack.enter_context(package.open(name))
                    entries = (PageEntry(*e) for e in warc_html(fh))
                for entry in entries:
                    if entry.url in seen:
                        continue
                    seen.add(entry.url)
                    if entry.title:
                        found.titles.append(entry.title)
                    if entry.text:
                        if entry.cut and MAX_PAGE_TEXT - size > len(entry.text):
                            raise _ReadTheWarcs(name)  # its text goes on past what was kept
                        pages.append(entry.text[:MAX_PAGE_TEXT - size])
                        size += len(pages[-1])
                    if size >= MAX_PAGE_TEXT:
                        found.truncated = True
                        break
                else:
                    if kept is not None and kept.full:
                        raise _ReadTheWarcs(name)  # its writer stopped keeping text before here
    found.titles = list(dict.fromkeys(found.titles))
    found.page_text = "\n".join(pages)
    return found


# -- the index ---------------------------------------------------------------------------------

@dataclass
class SearchDocument:
    """One searchable thing: a capture (``kind`` "capture") or an import ("import")."""

    kind: str
    ref_id: str
    url: str | None = None
    title: str | None = None
    titles: str = ""  # every title (pages, the post), one a line
    page_text: str = ""
    post_text: str = ""
    notes: str = ""
    state: str | None = None
    case_id: str | None = None
    tags: list[str] = field(default_factory=list)
    platform: str | None = None
    source: str | None = None  # "capture" or "import"
    captured_at: datetime | None = None


@dataclass
class SearchHit:
    """A document found, with its score (higher: better) and a snippet of its text."""

    kind: str
    ref_id: str
    url: str | None
    title: str | None
    state: str | None
    case_id: str | None
    tags: list[str]
    platform: str | None
    source: str | None
    captured_at: datetime | None
    score: float
    snippet: str


@dataclass
class SearchFilters:
    """What a search is narrowed to (None: anything)."""

    case: str | None = None
    tag: str | None = None
    state: str | None = None
    platform: str | None = None
    source: str | None = None
    kind: str | None = None
    since: datetime | None = None
    until: datetime | None = None


# Column weights: a word in a title counts most, then the post, notes, URL, page text.
_FTS_WEIGHTS = "10.0, 1.0, 4.0, 3.0, 2.0, 1.0, 1.0"
# A document's state as the catalog has it now (a late timestamp makes a PARTIAL capture
# COMPLETE after it was indexed); the state indexed when the catalog has no row.
_STATE = ("COALESCE((SELECT c.state FROM captures c WHERE d.kind = 'capture' AND "
          "c.id = d.ref_id), (SELECT i.state FROM imports i WHERE d.kind = 'import' AND "
          "i.id = d.ref_id), d.state)")
_COLUMNS = ("kind", "ref_id", "url", "title", "titles", "page_text", "post_text", "notes",
            "state", "case_id", "tags", "platform", "source", "captured_at")


def _moment(value: datetime | None) -> str | None:
    """A time as the index keeps it: ISO 8601 UTC, one fixed width (so text order is time
    order on every database)."""
    if value is None:
        return None
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_moment(value: str | None) -> datetime | None:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC) \
        if value else None


def _tags_key(tags: list[str]) -> str:
    return "\n" + "\n".join(tags) + "\n" if tags else ""


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class SearchIndex:
    """The search index in the catalog database ``engine`` (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"

    def put(self, doc: SearchDocument) -> None:
        """Index ``doc``, replacing what was indexed for the same capture or import."""
        self.put_many([doc])

    def put_many(self, docs: list[SearchDocument]) -> None:
        """Index ``docs`` in one transaction, each replacing its earlier entry."""
        with self.engine.begin() as conn:
            for doc in docs:
                self._put(conn, doc)

    def _put(self, conn: Any, doc: SearchDocument) -> None:
        values = {
            "kind": doc.kind, "ref_id": doc.ref_id, "url": doc.url, "title": doc.title,
            "titles": doc.titles, "page_text": doc.page_text, "post_text": doc.post_text,
            "notes": doc.notes, "state": doc.state, "case_id": doc.case_id,
            "tags": _tags_key(doc.tags), "platform": doc.platform, "source": doc.source,
            "captured_at": _moment(doc.captured_at),
        }
        normalised = {
            "n_titles": index_text(doc.titles or doc.title or ""),
            "n_page": index_text(doc.page_text), "n_post": index_text(doc.post_text),
            "n_notes": index_text(doc.notes), "n_url": index_text(doc.url or ""),
            "n_meta": index_text(" ".join([doc.case_id or "", *doc.tags, doc.platform or ""])),
        }
        self._remove(conn, doc.kind, doc.ref_id)
        columns = ", ".join(_COLUMNS)
        params = ", ".join(f":{c}" for c in _COLUMNS)
        if self.postgres:
            conn.execute(text(
                f"INSERT INTO search_documents ({columns}, tsv) VALUES ({params}, "
                "setweight(to_tsvector('simple', :n_titles), 'A') || "
                "setweight(to_tsvector('simple', :n_post), 'B') || "
                "setweight(to_tsvector('simple', :n_notes || ' ' || :n_meta || ' ' || "
                ":n_url), 'C') || setweight(to_tsvector('simple', :n_page), 'D'))"),
                {**values, **normalised})
            return
        row_id = conn.execute(text(
            f"INSERT INTO search_documents ({columns}) VALUES ({params}) RETURNING id"),
            values).scalar_one()
        conn.execute(text(
            "INSERT INTO search_fts (rowid, titles, page_text, post_text, notes, url, meta)"
            " VALUES (:id, :n_titles, :n_page, :n_post, :n_notes, :n_url, :n_meta)"),
            {"id": row_id, **normalised})

    def remove(self, kind: str, ref_id: str) -> None:
        """Take a capture or import out of the index."""
        with self.engine.begin() as conn:
            self._remove(conn, kind, ref_id)

    def _remove(self, conn: Any, kind: str, ref_id: str) -> None:
        if not self.postgres:
            conn.execute(text(
                "DELETE FROM search_fts WHERE rowid IN (SELECT id FROM search_documents "
                "WHERE kind = :kind AND ref_id = :ref_id)"), {"kind": kind, "ref_id": ref_id})
        conn.execute(text("DELETE FROM search_documents WHERE kind = :kind AND "
                          "ref_id = :ref_id"), {"kind": kind, "ref_id": ref_id})

    def clear(self) -> None:
        """Empty the index (before a rebuild)."""
        with self.engine.begin() as conn:
            if not self.postgres:
                conn.execute(text("DELETE FROM search_fts"))
            conn.execute(text("DELETE FROM search_documents"))

    def count(self) -> int:
        """How many documents the index holds."""
        with self.engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM search_documents")).scalar_one()

    def search(self, query: str, filters: SearchFilters | None = None, *, limit: int = 20,
               offset: int = 0) -> tuple[list[SearchHit], int]:
        """The documents matching ``query`` (see :func:`parse_query`) and ``filters``, best
        first, ``limit`` of them after ``offset``; and how many match in all. A query of no
        words lists the filtered documents, newest first."""
        terms = parse_query(query)
        where, params = self._filters(filters or SearchFilters())
        params = {**params, "limit": limit, "offset": offset}
        selected = ", ".join(f"d.{c}" if c != "state" else f"{_STATE} AS state"
                             for c in _COLUMNS)
        if not terms:
            source, score, order = "search_documents d", "0.0", "d.captured_at DESC, d.id DESC"
        elif self.postgres:
            source = "search_documents d, to_tsquery('simple', :q) AS q"
            where = ["d.tsv @@ q", *where]
            score, order = "ts_rank(d.tsv, q)", "score DESC, d.id DESC"
            params["q"] = tsquery(terms)
        else:
            source = "search_fts JOIN search_documents d ON d.id = search_fts.rowid"
            where = ["search_fts MATCH :q", *where]
            score, order = f"-bm25(search_fts, {_FTS_WEIGHTS})", "score DESC, d.id DESC"
            params["q"] = fts5_query(terms)
        condition = (" WHERE " + " AND ".join(where)) if where else ""
        # PostgreSQL counts in the same pass as it ranks (a window over every match: one
        # scan of the matches, not two); FTS5's bm25 cannot be used beside a window.
        window = ", count(*) OVER () AS total" if self.postgres else ""
        with self.engine.connect() as conn:
            rows = conn.execute(text(
                f"SELECT {selected}, {score} AS score{window} FROM {source}{condition} "
                f"ORDER BY {order} LIMIT :limit OFFSET :offset"), params).mappings().all()
            if rows and window:
                total = rows[0]["total"]
            else:  # SQLite, or a page past the end
                total = conn.execute(text(f"SELECT count(*) FROM {source}{condition}"),
                                     params).scalar_one()
        return [self._hit(row, terms) for row in rows], total

    def _filters(self, filters: SearchFilters) -> tuple[list[str], dict[str, Any]]:
        where: list[str] = []
        params: dict[str, Any] = {}
        for column, value in (("case_id", filters.case), ("platform", filters.platform),
                              ("source", filters.source), ("kind", filters.kind)):
            if value is not None:
                where.append(f"d.{column} = :f_{column}")
                params[f"f_{column}"] = value
        if filters.state is not None:
            where.append(f"{_STATE} = :f_state")
            params["f_state"] = filters.state
        if filters.tag is not None:
            where.append("d.tags LIKE :f_tag ESCAPE '\\'")
            params["f_tag"] = "%\n" + _like(filters.tag) + "\n%"
        if filters.since is not None:
            where.append("d.captured_at >= :f_since")
            params["f_since"] = _moment(filters.since)
        if filters.until is not None:
            where.append("d.captured_at < :f_until")
            params["f_until"] = _moment(filters.until)
        return where, params

    def _hit(self, row: Any, terms: list[Term]) -> SearchHit:
        texts = [row["titles"] or row["title"] or "", row["post_text"] or "",
                 row["page_text"] or "", row["notes"] or "", row["url"] or ""]
        return SearchHit(
            kind=row["kind"], ref_id=row["ref_id"], url=row["url"], title=row["title"],
            state=row["state"], case_id=row["case_id"],
            tags=[t for t in (row["tags"] or "").split("\n") if t],
            platform=row["platform"], source=row["source"],
            captured_at=_parse_moment(row["captured_at"]), score=float(row["score"] or 0.0),
            snippet=snippet(texts, terms) if terms else snippet(texts[1:3], []))
