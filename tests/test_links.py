"""The spider's link finder gives what Scrapy's LinkExtractor gave: same URLs, same order."""

from __future__ import annotations

from pathlib import Path

import pytest
from scrapy.http import HtmlResponse
from scrapy.linkextractors import LinkExtractor

from crawlers.links import LinkFinder

SHARED = Path(__file__).resolve().parents[2] / "shared" / "real-platforms"

TRICKY = """<!DOCTYPE html><html><head><title>t</title>{base}</head><body>
<a href="/generated/1.html">one</a> <a href="/generated/1.html">again</a>
<a href=" /spaced.html
">spaced</a> <a href="relative/page.html">rel</a> <a href="../up.html">up</a>
<a href="?q=1">query</a> <a href="#top">fragment</a> <a href="">empty</a> <a>no href</a>
<a href="//other.example/proto-relative">proto</a> <a href="https://other.example/x">abs</a>
<a href="HTTPS://UPPER.example/Y">upper</a> <a href="ftp://files.example/f">ftp</a>
<a href="mailto:someone@example.org">mail</a> <a href="javascript:void(0)">js</a>
<a href="tel:+1555">tel</a> <a href="data:text/html,hi">data</a>
<a href="/caf\u00e9?\u00e9=\u00e8 x">non-ascii</a> <a href="/a/../b/./c">dots</a>
<a href="http://[::1">bad ipv6</a> <a href="http://h:99999/">bad port</a>
<map><area href="/area.html" alt="x"><area nohref></map>
<link rel="next" href="/not-a-link.html"> <img src="/img.png">
<A HREF="/UPPER-TAG.html">upper tag</A> <a href="/x.pdf">pdf</a> <a href="/y.zip">zip</a>
<!-- <a href="/commented.html">no</a> -->
<svg><a href="/in-svg.html">svg</a></svg>
</body></html>"""


def _pages() -> list[tuple[str, bytes, str]]:
    pages = []
    for url in ("http://site.test/dir/page.html", "https://site.test/", "http://site.test:8080/a/b?c=d"):
        for base in ("", '<base href="/other/">', '<base href="https://cdn.test/root/">',
                     '<base href="sub/">'):
            for encoding in ("utf-8", "cp1251"):
                body = TRICKY.format(base=base).encode(encoding, "xmlcharrefreplace")
                pages.append((url, body, encoding))
    if SHARED.is_dir():
        for path in sorted(SHARED.glob("*/*.html")):
            pages.append((f"https://{path.parent.name}.test/{path.name}", path.read_bytes(),
                          "utf-8"))
    return pages


def test_same_links_as_scrapys_link_extractor() -> None:
    """Every page read twice by one finder (its memo in use) and by a fresh extractor."""
    finder = LinkFinder()
    extractor = LinkExtractor(deny_extensions=[], unique=True)
    checked = 0
    for _ in range(2):
        for url, body, encoding in _pages():
            response = HtmlResponse(url, body=body, encoding=encoding)
            expected = [link.url for link in extractor.extract_links(response)]
            assert finder.links(response) == expected, (url, encoding)
            checked += len(expected)
    assert checked > 100  # the pages have links, and they were compared


def test_memo_does_not_carry_a_page_relative_link_to_another_page() -> None:
    finder = LinkFinder()
    html = b'<a href="next.html">n</a><a href="/abs.html">a</a>'
    first = finder.links(HtmlResponse("http://h.test/one/p.html", body=html, encoding="utf-8"))
    second = finder.links(HtmlResponse("https://h.test/two/p.html", body=html, encoding="utf-8"))
    assert first == ["http://h.test/one/next.html", "http://h.test/abs.html"]
    assert second == ["https://h.test/two/next.html", "https://h.test/abs.html"]


@pytest.mark.parametrize("url", ["http://h.test/", "https://h.test/x/"])
def test_base_element_is_followed(url: str) -> None:
    html = b'<base href="http://cdn.test/r/"><a href="/p">p</a><a href="q">q</a>'
    assert LinkFinder().links(HtmlResponse(url, body=html, encoding="utf-8")) == [
        "http://cdn.test/p", "http://cdn.test/r/q"]


def test_requisites_and_title_read_by_xpath_as_by_css():
    """The spider's requisites and title, read with XPath translated once, are what
    ``response.css`` gives on tricky and on real pages."""
    from crawlers.spiders.page import _REQUISITES, _REQUISITES_XPATH, _TITLE_XPATH

    pages = [(url, body) for url, body, _ in _pages()]
    pages += [(f"https://{p.parent.name}.test/{p.name}", p.read_bytes())
              for p in sorted(SHARED.glob("*/*.html"))]
    pages.append(("http://site.test/", b"<html><head><title> T </title>"
                  b"<link rel='stylesheet icon' href='/s.css'><script src='/a.js'></script>"
                  b"</head><body><video poster='/p.png'><source src='/v.mp4'></video>"
                  b"<img src='/i.png'><picture><source src='/pic.webp'></picture></body></html>"))
    found = 0
    for url, body in pages:
        response = HtmlResponse(url, body=body)
        assert response.xpath(_REQUISITES_XPATH).getall() == response.css(_REQUISITES).getall()
        assert response.xpath(_TITLE_XPATH).get() == response.css("title::text").get()
        found += len(response.css(_REQUISITES).getall())
    assert found > 10
