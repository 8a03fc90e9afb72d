"""The visible text of HTML records: what the full-text index holds of a capture's pages.

One way of reading a record's HTML serves both who asks: the index reading a package's WARCs
back (:func:`archiver.search.warc_html`), and the WARC writer handing over each record's text
as it writes it (:class:`PageTexts`), so a capture just made is indexed without reading its
WARC again, with the same text, record for record.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from warcio.recordloader import ArcWarcRecord

# How much text of a capture's pages is kept for search: past this, a page's text is not read
# (a crawl of thousands of pages, or one huge page, must not make one search row of gigabytes).
MAX_PAGE_TEXT = 1024 * 1024
# An HTML payload larger than this is not parsed for text (a 2 GB "page" is not prose).
MAX_HTML_BYTES = 16 * 1024 * 1024


class _TextParser(HTMLParser):
    """The visible text of an HTML page and its title (script, style and the like skipped)."""

    SKIPPED = frozenset({"script", "style", "noscript", "template", "svg", "head", "iframe",
                         "object"})
    BLOCKS = frozenset({"p", "div", "br", "li", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5",
                        "h6", "section", "article", "header", "footer", "blockquote", "pre",
                        "title", "dd", "dt", "figcaption", "caption", "option"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._skipping: list[str] = []
        self._in_title = False
        self.size = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in self.SKIPPED:
            self._skipping.append(tag)
        if tag in self.BLOCKS:
            self.parts.append("\n")
        if tag == "img" and not self._skipping:
            alt = dict(attrs).get("alt")
            if alt:
                self.handle_data(f" {alt} ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif self._skipping and tag == self._skipping[-1]:
            self._skipping.pop()
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._skipping:
            self.parts.append(data)
            self.size += len(data)


def html_text(body: str) -> tuple[str, str]:
    """The title and the visible text of an HTML document (white space tidied)."""
    parser = _TextParser()
    try:
        parser.feed(body)
        parser.close()
    except Exception:  # noqa: BLE001 - broken markup: what was read so far is the text
        pass
    text_ = "\n".join(" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return " ".join("".join(parser.title).split()), re.sub(r"\n{2,}", "\n", text_).strip()


def _charset(content_type: str | None) -> str:
    match = re.search(r"charset=[\"']?([\w.:-]+)", content_type or "", re.IGNORECASE)
    return match.group(1) if match else "utf-8"


def decode_html(data: bytes, content_type: str | None) -> str:
    """An HTML payload as text: the charset its Content-Type names, else a ``<meta charset>``
    of its first 4 KiB, else UTF-8 (undecodable bytes replaced)."""
    charset = _charset(content_type)
    if charset.lower() == "utf-8":
        meta = re.search(rb"<meta[^>]+charset=[\"']?([\w.:-]+)", data[:4096], re.IGNORECASE)
        if meta:
            charset = meta.group(1).decode("ascii", "replace")
    try:
        return data.decode(charset, "replace")
    except LookupError:
        return data.decode("utf-8", "replace")


def html_kind(record: Any) -> str | None:
    """The media type by which a WARC record (warcio's, read or about to be written) is read
    for text, or None when it is not: only response and resource records with HTML; not a
    redirect (its body is boilerplate), but an error page ("this account was suspended" is
    evidence too)."""
    if record.rec_type not in ("response", "resource"):
        return None
    http = record.http_headers
    if record.rec_type == "response" and (http is None or (
            http.get_statuscode() or "").startswith("3")):
        return None
    kind = (http.get_header("Content-Type") if http else None) or record.content_type or ""
    return kind if "html" in kind.lower() else None


def record_text(record: Any, kind: str) -> tuple[str, str] | None:
    """(title, text) of an HTML record's payload; None past :data:`MAX_HTML_BYTES`.

    ``content_stream()`` undoes a Content-Encoding the WARC kept (gzip, br), as a reader of the
    page would; bounded, so a huge body is read no further."""
    data = record.content_stream().read(MAX_HTML_BYTES + 1)
    if len(data) > MAX_HTML_BYTES:
        return None
    return html_text(decode_html(data, kind))


@dataclass
class PageEntry:
    """The text of one HTML record, as :func:`archiver.search.warc_html` reads it back."""

    url: str
    title: str
    text: str
    cut: bool = False  # the text was cut at the collector's limit: it goes on in the record


_UNREAD = object()  # an HTML record whose body this collector was not handed


class PageTexts:
    """The text of each HTML record of one WARC file, in the order the records are written:
    what :func:`archiver.search.package_text` would read back from the file, kept as it is
    written so the index need not decompress and parse the WARC again.

    Bounded like the index: once ``limit`` characters of text are kept, later records are not
    parsed (``full``). A URL is kept once, its first record's text (as the index does). A
    record whose body is a stream (spooled to disk) is not read here: the collector is then
    ``complete`` no more, and the index reads the WARC as before.

    :meth:`read` parses a record's body (outside the writer's lock); :meth:`add`, called under
    the lock in the order the records are written, keeps what it found."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = MAX_PAGE_TEXT if limit is None else limit
        self.entries: list[PageEntry] = []
        self.seen: set[str] = set()
        self.size = 0
        self.full = False
        self.complete = True

    def read(self, record: Any, body: bytes | None) -> object | None:
        """What :meth:`add` keeps of a warcio record about to be written (None: nothing)."""
        kind = html_kind(record)
        if kind is None:
            return None
        url = record.rec_headers.get_header("WARC-Target-URI") or ""
        if self.full or url in self.seen:  # both only ever become true: nothing to keep
            return None
        if body is None:
            return _UNREAD
        payload = ArcWarcRecord("warc", record.rec_type, record.rec_headers, io.BytesIO(body),
                                record.http_headers, record.content_type, len(body))
        found = record_text(payload, kind)
        return None if found is None else (url, *found)

    def add(self, found: object | None) -> None:
        """Keep what :meth:`read` found, in the order of the records in the file."""
        if found is None or self.full:
            return
        if found is _UNREAD:
            self.complete = False
            return
        url, title, text = found  # type: ignore[misc]
        if url in self.seen:
            return
        self.seen.add(url)
        cut = len(text) > self.limit - self.size
        if cut:
            text = text[:self.limit - self.size]
        self.size += len(text)
        self.entries.append(PageEntry(url, title, text, cut))
        self.full = self.size >= self.limit
