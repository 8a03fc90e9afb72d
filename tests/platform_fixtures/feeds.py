"""A news site stand-in with feeds: RSS 2.0, RSS 1.0, Atom, a sitemap index and its child
sitemaps, a front page of links, and the article pages they point to, on 127.0.0.1.

What it publishes is under the test's control (``publish``, ``edit``, ``documents``); the
paths say nothing of what a document is (``/updates`` is RSS, served as text/xml): a monitor
must read the type from the document.
"""

from __future__ import annotations

import html
from typing import ClassVar

from tests.platform_fixtures.server import PlatformFixture, PlatformHandler

# Hosts the front page links to that are not the site's: never contacted (out of scope).
ELSEWHERE = "http://127.0.0.2:9/"


def _stamp(number: int) -> str:
    return f"2026-11-{number:02d}T08:00:00Z"


def _rfc822(number: int) -> str:
    return f"Sun, {number:02d} Nov 2026 08:00:00 +0000"


class FeedHandler(PlatformHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        fixture: FeedFixture = self.server.fixture  # type: ignore[attr-defined]
        path = self.path.split("?", 1)[0]
        if path in fixture.documents:
            status, content_type, body = fixture.documents[path]
            self.send(status, body, content_type)
        elif path == "/updates":
            self.send(200, fixture.rss().encode(), "text/xml; charset=utf-8")
        elif path == "/atom":
            self.send(200, fixture.atom().encode(), "application/atom+xml")
        elif path == "/rdf":
            self.send(200, fixture.rdf().encode(), "application/rdf+xml")
        elif path == "/sitemap":
            self.send(200, fixture.sitemap_index().encode(), "application/xml")
        elif path in ("/sitemap-even.xml", "/sitemap-odd.xml"):
            self.send(200, fixture.urlset(path == "/sitemap-odd.xml").encode(),
                      "application/xml")
        elif path == "/front":
            self.send_html(200, fixture.front())
        elif path.startswith("/news/") and path[6:].isdigit():
            number = int(path[6:])
            self.send_html(200, f"<html><head><title>Report {number}</title></head><body>"
                           f"<h1>Report {number}</h1><p>{html.escape(fixture.text(number))}"
                           "</p></body></html>")
        elif path == "/about":
            self.send_html(200, "<html><body><h1>About</h1></body></html>")
        else:
            self.not_found()


class FeedFixture(PlatformFixture):
    """The site; ``published`` article numbers, oldest first (feeds list newest first)."""

    handler: ClassVar[type[PlatformHandler]] = FeedHandler

    def __init__(self, published: int = 3) -> None:
        super().__init__()
        self.server.fixture = self  # type: ignore[attr-defined]
        self.published = list(range(1, published + 1))
        self.edits: dict[int, str] = {}
        self.extra_links: list[str] = []  # more links on the front page (absolute URLs)
        # path -> (status, content type, body): served instead of the generated documents.
        self.documents: dict[str, tuple[int, str, bytes]] = {}

    def publish(self, *numbers: int) -> None:
        self.published += numbers

    def edit(self, number: int, text: str) -> None:
        self.edits[number] = text

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    def text(self, number: int) -> str:
        return self.edits.get(number, f"Situation report number {number}.")

    def _newest_first(self) -> list[int]:
        return sorted(self.published, reverse=True)

    def rss(self) -> str:
        items = "".join(
            f"<item><title>Report {n}</title><link>{self.base}/news/{n}</link>"
            f'<guid isPermaLink="false">urn:isnad-test:news:{n}</guid>'
            f"<description>{html.escape(self.text(n))}</description>"
            f"<pubDate>{_rfc822(n)}</pubDate></item>" for n in self._newest_first())
        return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                f"<title>News</title><link>{self.base}/</link>{items}</channel></rss>")

    def atom(self) -> str:
        entries = "".join(
            f"<entry><title>Report {n}</title><id>tag:isnad-test,2026:news-{n}</id>"
            f'<link rel="alternate" href="/news/{n}"/><updated>{_stamp(n)}</updated>'
            f"<summary>{html.escape(self.text(n))}</summary></entry>"
            for n in self._newest_first())
        return ('<?xml version="1.0" encoding="utf-8"?>'
                f'<feed xmlns="http://www.w3.org/2005/Atom" xml:base="{self.base}/">'
                f"<title>News</title><id>tag:isnad-test,2026:news</id>"
                f"<updated>{_stamp(max(self.published))}</updated>{entries}</feed>")

    def rdf(self) -> str:
        seq = "".join(f'<rdf:li resource="{self.base}/news/{n}"/>' for n in self._newest_first())
        items = "".join(
            f'<item rdf:about="{self.base}/news/{n}"><title>Report {n}</title>'
            f"<link>{self.base}/news/{n}</link><dc:date>{_stamp(n)}</dc:date>"
            f"<description>{html.escape(self.text(n))}</description></item>"
            for n in self._newest_first())
        return ('<?xml version="1.0"?><rdf:RDF '
                'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
                'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
                f'<channel rdf:about="{self.base}/rdf"><title>News</title>'
                f"<link>{self.base}/</link><items><rdf:Seq>{seq}</rdf:Seq></items></channel>"
                f"{items}</rdf:RDF>")

    def sitemap_index(self) -> str:
        children = "".join(f"<sitemap><loc>{self.base}/{name}</loc></sitemap>"
                           for name in ("sitemap-even.xml", "sitemap-odd.xml",
                                        "sitemap-gone.xml"))
        return ('<?xml version="1.0" encoding="UTF-8"?><sitemapindex '
                f'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{children}</sitemapindex>')

    def urlset(self, odd: bool) -> str:
        urls = "".join(f"<url><loc>{self.base}/news/{n}</loc><lastmod>{_stamp(n)}</lastmod>"
                       "</url>" for n in self.published if n % 2 == int(odd))
        return ('<?xml version="1.0" encoding="UTF-8"?><urlset '
                f'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>')

    def front(self) -> str:
        links = "".join(f'<li><a href="/news/{n}">Report <b>{n}</b></a></li>'
                        for n in self._newest_first())
        more = "".join(f'<li><a href="{html.escape(u)}">more</a></li>' for u in self.extra_links)
        return ("<!doctype html><html><head><title>News</title></head><body><nav>"
                '<a href="/front">Home</a> <a href="/about">About</a> '
                f'<a href="{ELSEWHERE}partner">Partner</a> '
                '<a href="mailto:desk@example.org">Mail</a> '
                '<a href="javascript:void(0)">Menu</a> '
                f'<a href="{ELSEWHERE}other">Other</a></nav>'
                f"<ul>{links}{more}</ul></body></html>")
