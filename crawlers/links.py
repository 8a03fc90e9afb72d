"""The links of a page, as Scrapy's ``LinkExtractor(deny_extensions=[], unique=True)`` finds
them, for less CPU.

A crawl spends a sixth of its time extracting links, and most of it on work a spider that
only follows URLs never uses (each link's text, its ``rel=nofollow``, a ``Link`` object) or
repeats on every page (joining and escaping the same ``href="/about"`` found on each of a
site's pages). :class:`LinkFinder` walks the parsed document for ``<a href>`` and
``<area href>`` exactly as Scrapy does, joins and escapes each value by the same functions in
the same order, and remembers the result of values whose result cannot depend on the page
they appear on (an absolute path, an absolute URL): same URLs, same order, same filtering.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin, urlsplit

from w3lib.html import strip_html5_whitespace
from w3lib.url import safe_url_string

_XHTML = "{http://www.w3.org/1999/xhtml}"
# Scrapy reads these tags, with or without the XHTML namespace (``_nons``).
_TAGS = ("a", "area", f"{_XHTML}a", f"{_XHTML}area")
# Scrapy's ``_is_valid_url``: the schemes a link extractor keeps (compared as written).
_SCHEMES = {"http", "https", "file", "ftp"}
_ABSOLUTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_MEMO_LIMIT = 200_000  # entries; a site with more distinct links is resolved without the memo


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _resolve(value: str, base_url: str, response_url: str, encoding: str) -> str | None:
    """Scrapy's steps for one attribute value (``LxmlParserLinkExtractor._extract_links``
    and ``LxmlLinkExtractor._link_allowed`` with no filters): the absolute URL, or None."""
    try:
        url = safe_url_string(urljoin(base_url, value), encoding=encoding)
    except ValueError:  # a bogus link (e.g. a broken IPv6 host): skipped, as Scrapy does
        return None
    url = urljoin(response_url, url)
    return url if url.split("://", 1)[0] in _SCHEMES else None


class LinkFinder:
    """The followable links of HTML responses; one per crawl (its memo is the crawl's)."""

    def __init__(self) -> None:
        self._memo: dict[tuple[str, str, str, str], str | None] = {}

    def links(self, response: Any) -> list[str]:
        """The absolute URLs of ``response``'s ``<a href>`` and ``<area href>``, each once, in
        document order (Scrapy's ``LinkExtractor(deny_extensions=[], unique=True)``)."""
        from scrapy.utils.response import get_base_url

        base_url = get_base_url(response)
        response_url, encoding = response.url, response.encoding
        base_origin, response_origin = _origin(base_url), _origin(response_url)
        memo = self._memo
        found: dict[str, None] = {}
        for element in response.selector.root.iter(*_TAGS):
            value = element.get("href")
            if value is None:
                continue
            value = strip_html5_whitespace(value)
            # What the result depends on: an absolute path takes only the origins of the base
            # and the page from them, an absolute URL the same (whether its scheme is theirs);
            # anything else (a relative path, a query, a fragment) the full URLs.
            if value.startswith("/") and not value.startswith("//") or _ABSOLUTE.match(value):
                key = (base_origin, response_origin, encoding, value)
            else:
                key = (base_url, response_url, encoding, value)
            try:
                url = memo[key]
            except KeyError:
                url = _resolve(value, base_url, response_url, encoding)
                if len(memo) < _MEMO_LIMIT:
                    memo[key] = url
            if url is not None:
                found[url] = None
        return list(found)
