"""Web pages and feeds as a monitor's listing: RSS 2.0 (and 0.9x), RSS 1.0 (RDF), Atom,
sitemaps (a sitemap index read through its child sitemaps), and the links of an HTML page
within a scope. New entries, URLs or links are a monitor's new items.

Like a platform module (:mod:`crawlers.platforms.base`), :class:`FeedReader` is pure parsing
around an injected ``fetch``: the crawler's fetch goes through Scrapy, so the document is
recorded raw in the listing capture's WARC and the items are read from exactly those bytes
(nothing fetches it a second time to parse it). What the document is comes from what was
fetched (its content type and root element), never from the URL.

XML is parsed with defusedxml: a document that declares entities (XXE, "billion laughs") is
refused, never expanded, and the parser fetches nothing (no external DTD or entity).
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from parsel import Selector
from w3lib.encoding import html_to_unicode
from w3lib.url import canonicalize_url

from archiver.errors import IsnadError
from crawlers.netguard import validate_url
from crawlers.platforms.base import Fetch, Listing, Platform, PlatformError, PostRef, Target
from crawlers.platforms.base import utc_iso as _utc_iso

FEED = "feed"  # the items' platform: an RSS or Atom entry
WEB = "web"    # the items' platform: a sitemap's URL or a page's link
ITEM_PLATFORMS = (FEED, WEB)

MAX_POST_ID = 200      # monitor_posts.post_id's width; a longer id is kept as its hash
MAX_CHILD_SITEMAPS = 20  # child sitemaps of an index read per run at most
MAX_XML_BYTES = 50 * 1024 * 1024  # a sitemap's limit (sitemaps.org): also for an unpacked .gz

_ATOM = "http://www.w3.org/2005/Atom"
_RSS1 = "http://purl.org/rss/1.0/"
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_XML_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml",
              "application/xml", "text/xml", "application/x-gzip", "application/gzip")
_HTML_TYPES = ("text/html", "application/xhtml+xml")


class FeedError(PlatformError):
    """The document is not a feed, sitemap or page that can be read (the run fails)."""


@dataclass
class FeedItem(PostRef):
    """An entry, URL or link: a post ref with what the feed says of it.

    ``fingerprint`` is a SHA-256 of the entry's title, summary, content and update time (of a
    sitemap URL, its lastmod): a changed fingerprint is a changed entry. None for a page's
    links, whose anchor text says nothing of the page linked."""

    title: str | None = None


# -- scope ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scope:
    """Which links of a page (or, when given, entries of a feed) are items."""

    kind: str   # "host", "prefix" or "regex"
    value: str  # the prefix or the pattern ("" for host)

    @classmethod
    def parse(cls, text: str | None) -> Scope | None:
        """``host``, a URL prefix (``https://…``) or ``regex:PATTERN``; None for None."""
        if text is None:
            return None
        text = text.strip()
        if text == "host":
            return cls("host", "")
        if text.startswith("regex:"):
            try:
                re.compile(text[6:])
            except re.error as exc:
                raise IsnadError(f"--scope {text!r}: not a regular expression ({exc})") from exc
            return cls("regex", text[6:])
        if text.lower().startswith(("http://", "https://")):
            validate_url(text)
            return cls("prefix", text)
        raise IsnadError(f"--scope {text!r}: write host, a URL prefix (https://…) or "
                         "regex:PATTERN")

    def __str__(self) -> str:
        return {"host": "host", "prefix": self.value}.get(self.kind, f"regex:{self.value}")

    def admits(self, url: str, hosts: Iterable[str]) -> bool:
        """Is ``url`` in scope (``hosts``: the page's own, for ``host``)?"""
        if self.kind == "host":
            return urlsplit(url).netloc.lower() in {h.lower() for h in hosts}
        if self.kind == "prefix":
            return url.startswith(self.value)
        return re.search(self.value, url) is not None


def check_scope(text: str | None) -> str | None:
    """A ``--scope`` value checked and written the one way it is kept (None: the default)."""
    scope = Scope.parse(text)
    return str(scope) if scope else None


# -- the reader -------------------------------------------------------------------------------
class FeedReader(Platform):
    """Lists a web page or feed: whatever the fetched document turns out to be."""

    name = "feed"

    def __init__(self, scope: str | None = None) -> None:
        super().__init__("")
        self.scope = Scope.parse(scope)

    def session_hosts(self) -> set[str]:
        return set()  # a feed monitor has no platform session to send anywhere

    def capture_url(self, canonical: str) -> str:
        return canonical

    def match(self, url: str) -> Target | None:
        return Target(FEED, "channel", url, {"scope": str(self.scope) if self.scope else ""})

    async def list_posts(self, target: Target, fetch: Fetch, limit: int) -> Listing:
        """The document's items, at most ``limit``, with notes: ``notes`` for what made the
        listing thinner than it looks (a child sitemap unreadable), ``info`` for what it did
        by design (the type read, entries beyond the limit, links out of scope)."""
        fetched = await fetch(target.url)
        if fetched.status >= 400:
            raise FeedError(f"{target.url} answered HTTP {fetched.status}")
        body = _unpacked(target.url, fetched.body)
        kind = _document_kind(target.url, fetched.headers.get("content-type", ""), body)
        if kind == "html":
            return self._page_links(fetched.url, target.url, fetched.headers, body, limit)
        root = _parse_xml(target.url, body)
        name, space = _local(root.tag), _namespace(root.tag)
        if name == "rss":
            listing = _rss2(root, fetched.url, root.get("version") or "2.0")
        elif name == "RDF" and space == _RDF:
            listing = _rss1(root, fetched.url)
        elif name == "feed" and space == _ATOM:
            listing = _atom(root, fetched.url)
        elif name == "urlset":
            listing = _urlset(root, fetched.url, "sitemap")
        elif name == "sitemapindex":
            return await self._sitemap_index(root, fetched.url, fetch, limit)
        elif name == "html":
            return self._page_links(fetched.url, target.url, fetched.headers, body, limit)
        else:
            raise FeedError(f"{target.url}: the XML document's root <{name}> is not RSS, Atom "
                            "or a sitemap")
        # Newest first, whatever order the feed keeps (some list oldest first: the limit
        # would keep the oldest); undated entries after, in the feed's order.
        listing.refs.sort(key=lambda r: _sortable(r.published), reverse=True)
        return self._finish(listing, limit, what="entries")

    def _finish(self, listing: Listing, limit: int, *, what: str) -> Listing:
        """Apply the scope (when one was given) and the limit, noting both."""
        refs = listing.refs
        if self.scope is not None:
            kept = [r for r in refs if self.scope.admits(r.url, ())]
            if len(kept) < len(refs):
                _info(listing, f"{len(refs) - len(kept)} {what} out of scope ({self.scope}) "
                      "ignored")
            refs = kept
        if len(refs) > limit:
            _info(listing, f"{len(refs)} {what}, the first {limit} only (--posts)")
            refs = refs[:limit]
        listing.refs = refs
        return listing

    async def _sitemap_index(self, root: Element, url: str, fetch: Fetch,
                             limit: int) -> Listing:
        """The URLs of an index's child sitemaps (each fetched through ``fetch``: recorded),
        the most recently modified children first, until ``limit`` URLs are found."""
        children = [(_text(_child(s, "loc")), _text(_child(s, "lastmod")))
                    for s in _children(root, "sitemap")]
        children = [(urljoin(url, loc), mod) for loc, mod in children if loc]
        children.sort(key=lambda c: _sortable(c[1]), reverse=True)
        listing = Listing()
        read = failed = 0
        for child_url, _ in children[:MAX_CHILD_SITEMAPS]:
            if len(listing.refs) >= limit:
                break
            try:
                validate_url(child_url)
                fetched = await fetch(child_url)
                if fetched.status >= 400:
                    raise FeedError(f"answered HTTP {fetched.status}")
                child = _parse_xml(child_url, _unpacked(child_url, fetched.body))
                if _local(child.tag) != "urlset":
                    raise FeedError(f"its root <{_local(child.tag)}> is not a <urlset>")
            except (PlatformError, IsnadError) as exc:
                failed += 1
                listing.notes.append(f"child sitemap {child_url} could not be read: {exc}")
                continue
            read += 1
            part = _urlset(child, fetched.url, "child sitemap")
            listing.refs += part.refs
            listing.info += part.info
        listing.refs.sort(key=lambda r: _sortable(r.published), reverse=True)
        summary = f"sitemap index: {len(children)} child sitemaps, {read} read"
        if unread := len(children) - read - failed:
            summary += (f", {unread} not read (the first {limit} URLs were found before "
                        f"them, or past the first {MAX_CHILD_SITEMAPS})")
        listing.info.insert(0, summary)
        return self._finish(listing, limit, what="URLs")

    def _page_links(self, url: str, requested: str, headers: dict[str, str], body: bytes,
                    limit: int) -> Listing:
        """The links of an HTML page, in document order, within the scope (default: the
        page's host)."""
        _, text = html_to_unicode(headers.get("content-type"), body)
        page = Selector(text=text, type="html")
        base = urljoin(url, page.css("base::attr(href)").get() or "")
        scope = self.scope or Scope("host", "")
        hosts = {urlsplit(url).netloc, urlsplit(requested).netloc}
        own = {_normalised(url), _normalised(requested)}
        listing = Listing()
        seen: set[str] = set()
        outside = unusable = 0
        for anchor in page.css("a[href], area[href]"):
            link = urljoin(base, anchor.attrib.get("href", "").strip())
            if not link.lower().startswith(("http://", "https://")):
                continue  # mailto:, javascript:, tel: are not pages
            try:
                validate_url(link)
            except IsnadError:
                unusable += 1
                continue
            key = _normalised(link)
            if key in seen or key in own:
                continue
            seen.add(key)
            if not scope.admits(link, hosts):
                outside += 1
                continue
            title = " ".join(" ".join(anchor.css("::text").getall()).split()) or None
            listing.refs.append(FeedItem(WEB, _post_id(key), link, None, title=title))
        found = len(listing.refs)
        _info(listing, f"an HTML page: {found} links in scope ({scope})")
        if outside:
            _info(listing, f"{outside} links out of scope ignored")
        if unusable:
            _info(listing, f"{unusable} malformed links ignored")
        if found > limit:
            _info(listing, f"{found} links in scope, the first {limit} only (--posts)")
            listing.refs = listing.refs[:limit]
        return listing


def feed_listing(url: str, scope: str | None) -> tuple[FeedReader, Target]:
    """The reader and target a feed monitor's listing capture uses (as a platform match)."""
    reader = FeedReader(scope)
    return reader, reader.match(url)


# -- the document -----------------------------------------------------------------------------
def _unpacked(url: str, body: bytes) -> bytes:
    """A gzipped document (``sitemap.xml.gz``) unpacked, at most MAX_XML_BYTES (a bomb is
    refused, not unpacked)."""
    if not body.startswith(b"\x1f\x8b"):
        return body
    unpacker = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = unpacker.decompress(body, MAX_XML_BYTES + 1)
    except zlib.error as exc:
        raise FeedError(f"{url}: a gzip file that cannot be unpacked ({exc})") from exc
    if len(out) > MAX_XML_BYTES:
        raise FeedError(f"{url}: unpacks to more than {MAX_XML_BYTES:,} bytes: refused")
    return out


def _document_kind(url: str, content_type: str, body: bytes) -> str:
    """"xml" or "html", from the content type, else from how the document begins."""
    mime = content_type.split(";", 1)[0].strip().lower()
    head = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if mime in _HTML_TYPES:
        return "html"
    if mime in _XML_TYPES or mime.endswith("+xml") or head.startswith(b"<?xml"):
        return "xml"
    if head.startswith((b"<rss", b"<feed", b"<urlset", b"<sitemapindex", b"<rdf:rdf")):
        return "xml"
    if head.startswith((b"<!doctype html", b"<html")):
        return "html"
    raise FeedError(f"{url} is not a feed, a sitemap or an HTML page (content type "
                    f"{mime or 'not given'})")


def _parse_xml(url: str, body: bytes) -> Element:
    if len(body) > MAX_XML_BYTES:
        raise FeedError(f"{url}: more than {MAX_XML_BYTES:,} bytes of XML: refused")
    try:
        return SafeET.fromstring(body, forbid_dtd=False, forbid_entities=True,
                                 forbid_external=True)
    except DefusedXmlException as exc:
        raise FeedError(f"{url}: refused: the XML declares entities or external references "
                        f"({type(exc).__name__}: {exc}); they are never expanded or "
                        "fetched") from exc
    except ParseError as exc:
        raise FeedError(f"{url} cannot be parsed as XML: {exc}") from exc


def _rss2(root: Element, url: str, version: str) -> Listing:
    channel = _child(root, "channel")
    items = _children(channel, "item") if channel is not None else []
    listing = Listing()
    for item in items:
        link = _rss_link(item)
        guid = _child(item, "guid")
        guid_text = _text(guid)
        if not link and guid_text and (guid.get("isPermaLink") or "true").lower() == "true":
            link = guid_text if guid_text.lower().startswith(("http://", "https://")) else ""
        title, summary = _text(_child(item, "title")), _text(_child(item, "description"))
        content = _text(_child(item, "encoded"))  # content:encoded
        published = _date(_text(_child(item, "pubDate")) or _text(_child(item, "date")))
        updated = _date(_text(_child(item, "updated"))) or published
        _add_entry(listing, url, link, guid_text, title, [summary, content], published,
                   updated)
    _info(listing, f"an RSS {version} feed: {_entries(len(items))}")
    return _skipped_note(listing, len(items))


def _rss1(root: Element, url: str) -> Listing:
    items = [e for e in root if _local(e.tag) == "item" and _namespace(e.tag) == _RSS1]
    listing = Listing()
    for item in items:
        date = _date(_text(_child(item, "date")))  # dc:date
        _add_entry(listing, url, _text(_child(item, "link")), item.get(f"{{{_RDF}}}about"),
                   _text(_child(item, "title")),
                   [_text(_child(item, "description")), _text(_child(item, "encoded"))],
                   date, date)
    _info(listing, f"an RSS 1.0 (RDF) feed: {_entries(len(items))}")
    return _skipped_note(listing, len(items))


def _atom(root: Element, url: str) -> Listing:
    entries = _children(root, "entry")
    listing = Listing()
    for entry in entries:
        links = _children(entry, "link")
        link = next((a.get("href") for a in links if (a.get("rel") or "alternate") ==
                     "alternate" and a.get("href")), None) or next(
                         (a.get("href") for a in links if a.get("href")), "")
        published = _date(_text(_child(entry, "published")))
        updated = _date(_text(_child(entry, "updated")))
        _add_entry(listing, url, link, _text(_child(entry, "id")),
                   _text(_child(entry, "title")),
                   [_text(_child(entry, "summary")), _text(_child(entry, "content"))],
                   published or updated, updated)
    _info(listing, f"an Atom feed: {_entries(len(entries))}")
    return _skipped_note(listing, len(entries))


def _urlset(root: Element, url: str, what: str) -> Listing:
    """A sitemap's URLs, the most recently modified first (a sitemap has no order of its
    own; those without lastmod come last, in document order)."""
    listing = Listing()
    entries = []
    for entry in _children(root, "url"):
        loc = _text(_child(entry, "loc"))
        lastmod = _date(_text(_child(entry, "lastmod")))
        if loc:
            entries.append((urljoin(url, loc), lastmod))
    entries.sort(key=lambda e: _sortable(e[1]), reverse=True)
    unusable = 0
    for loc, lastmod in entries:
        try:
            validate_url(loc)
        except IsnadError:
            unusable += 1
            continue
        listing.refs.append(FeedItem(
            WEB, _post_id(_normalised(loc)), loc, lastmod,
            fingerprint=_fingerprint(None, [], lastmod) if lastmod else None))
    if what == "sitemap":
        _info(listing, f"a sitemap: {len(entries)} URLs")
    if unusable:
        _info(listing, f"{unusable} URLs of {what} {url} are not http(s) URLs: ignored")
    return listing


def _add_entry(listing: Listing, feed_url: str, link: str | None, entry_id: str | None,
               title: str | None, content: list[str | None], published: str | None,
               updated: str | None) -> None:
    """An entry with a usable link becomes an item (its id: the entry's own id, else its
    link normalised); one without is left to the feed's snapshot (counted in a note)."""
    link = urljoin(feed_url, link.strip()) if link else ""
    try:
        validate_url(link)
    except IsnadError:
        return
    post_id = _post_id(entry_id.strip() if entry_id and entry_id.strip() else _normalised(link))
    listing.refs.append(FeedItem(FEED, post_id, link, published, title=title or None,
                                 fingerprint=_fingerprint(title, content, updated)))


def _skipped_note(listing: Listing, entries: int) -> Listing:
    if entries > len(listing.refs):
        _info(listing, f"{entries - len(listing.refs)} entries without an http(s) link: not "
              "captured on their own (their text is in the feed's snapshot)")
    return listing


def _rss_link(item: Element) -> str:
    """An RSS item's link: its own <link>, else an atom:link's href."""
    for child in item:
        if _local(child.tag) == "link":
            if _namespace(child.tag) == _ATOM and child.get("href"):
                return child.get("href") or ""
            if not _namespace(child.tag) and _text(child):
                return _text(child)
    return ""


# -- small helpers ----------------------------------------------------------------------------
def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _namespace(tag: Any) -> str:
    return tag[1:].split("}", 1)[0] if isinstance(tag, str) and tag.startswith("{") else ""


def _children(parent: Element | None, name: str) -> list[Element]:
    return [e for e in parent if _local(e.tag) == name] if parent is not None else []


def _child(parent: Element | None, name: str) -> Element | None:
    found = _children(parent, name)
    return found[0] if found else None


def _text(element: Element | None) -> str:
    return "".join(element.itertext()).strip() if element is not None else ""


def _date(text: str) -> str | None:
    """An RFC 822 (RSS) or ISO 8601 (Atom, sitemap) time as UTC "Z"; None when unreadable."""
    if not text:
        return None
    try:
        return _utc_iso(text)
    except ValueError:
        pass
    try:
        return _utc_iso(parsedate_to_datetime(text))
    except (TypeError, ValueError, IndexError):
        return None


def _sortable(stamp: str | None) -> str:
    return stamp or ""


def _entries(count: int) -> str:
    return f"{count} {'entry' if count == 1 else 'entries'}"


def _normalised(url: str) -> str:
    """A link as one string however it is written (query order, fragment, escaping)."""
    return canonicalize_url(url, keep_fragments=False)


def _post_id(value: str) -> str:
    """An item's stable id, at most MAX_POST_ID characters (a longer one: its SHA-256)."""
    if len(value) <= MAX_POST_ID:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()


def _fingerprint(title: str | None, content: list[str | None], updated: str | None) -> str:
    """SHA-256 of what an entry says: title, summary and content, update time."""
    data = json.dumps([title or "", [c or "" for c in content], updated or ""],
                      ensure_ascii=False)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def _info(listing: Listing, note: str) -> None:
    listing.info.append(note)
