"""The generic page spider: load a URL (and, with a depth, the links in scope)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import scrapy
from parsel.csstranslator import HTMLTranslator
from scrapy.http import Request, Response
from twisted.python.failure import Failure
from w3lib.url import canonicalize_url

from archiver.redaction import without_credentials
from crawlers.job import CaptureJob
from crawlers.links import LinkFinder
from crawlers.recording import BrowserRecorder

_REQUISITES = (
    "img::attr(src), script::attr(src), link[rel~=stylesheet]::attr(href), "
    "link[rel~=icon]::attr(href), video::attr(poster), source::attr(src)"
)
# The same selectors as XPath, translated once as parsel translates CSS for an HTML page:
# response.css() translates them again whenever parsel's cache of translations misses (it
# did for about a tenth of the pages of a 1,000-page crawl, measured with py-spy).
_REQUISITES_XPATH = HTMLTranslator().css_to_xpath(_REQUISITES)
_TITLE_XPATH = HTMLTranslator().css_to_xpath("title::text")


class PageItem(scrapy.Item):
    """A page of the capture, as listed in the package's pages.jsonl."""

    url = scrapy.Field()
    requested_url = scrapy.Field()
    status = scrapy.Field()
    title = scrapy.Field()
    depth = scrapy.Field()
    ts = scrapy.Field()


class PageSpider(scrapy.Spider):
    name = "page"

    def __init__(self, job: CaptureJob, recorder: BrowserRecorder, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job = job
        self.recorder = recorder
        # Pages asked for (counted against max_pages), and every URL known to be taken care
        # of (also redirect targets), so no page is asked for twice.
        self._scheduled = 1
        self._known: set[str] = {canonicalize_url(job.url)}
        # URLs as pages write them, already judged: most links and requisites of a site
        # repeat on every page, and canonicalising each again costs more than the rest of
        # the page's parsing (a URL's canonical form never changes, nor its scope).
        self._judged_links: set[str] = set()
        self._judged_requisites: set[str] = set()  # (a requisite is not held to the scope)
        self._links = LinkFinder()  # Scrapy's LinkExtractor's links, for less CPU
        # Credentials in the URL: Chromium answers the server's challenge with them itself.
        # Without a browser, Scrapy's HttpAuthMiddleware sends them (Basic) to that host only,
        # and the URL is requested without them (Twisted cannot parse user information).
        parts = urlsplit(job.url)
        self._auth: dict[str, str] = {}
        self._start_url = job.url
        if parts.username is not None and not job.use_browser:
            self._start_url = without_credentials(job.url)
            self._auth = {"http_user": unquote(parts.username),
                          "http_pass": unquote(parts.password or ""),
                          # Scrapy compares host:port as the URL writes it.
                          "http_auth_domain": parts.netloc.rpartition("@")[2].lower()}

    async def start(self) -> AsyncIterator[Request]:
        yield Request(self._start_url, callback=self.parse,
                      errback=self.failed, meta={"isnad_depth": 0, **self._auth},
                      dont_filter=True)

    def parse(self, response: Response) -> Iterator[PageItem | Request]:
        depth = response.meta.get("isnad_depth", 0)
        title = response.meta.get("isnad_title")
        if title is None and hasattr(response, "css"):
            title = (response.xpath(_TITLE_XPATH).get() or "").strip()
        yield PageItem(
            # As the WARC names them (a password in the URL is recorded nowhere).
            url=without_credentials(response.url),
            requested_url=without_credentials(
                response.request.url if response.request else response.url),
            status=response.status,
            title=title,
            depth=depth,
            ts=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        if not hasattr(response, "text"):
            return
        if depth == 0 and not self.job.page_media:
            # yt-dlp reads the seed page again only when it showed media (isnad/app/capture).
            embeds = response.css("iframe::attr(src), embed::attr(src), object::attr(data)")
            self.job.note_page_media(
                len(response.css("video")), len(response.css("audio")),
                [response.urljoin(u) for u in embeds.getall()])
        if not self.job.use_browser:
            # Without a browser nothing loads a page's requisites: ask for them here, so the
            # package holds what the page needs (the browser does this by itself).
            for url in response.xpath(_REQUISITES_XPATH).getall():
                absolute = response.urljoin(url)
                if absolute in self._judged_requisites:
                    continue
                self._judged_requisites.add(absolute)
                if not absolute.startswith(("http://", "https://")):
                    continue
                if not self.first_time(canonicalize_url(absolute), absolute, depth):
                    continue
                # depth_reset: Scrapy's DEPTH_LIMIT counts a requisite one deeper than its
                # page, and dropped (unseen) those of the pages read at the last depth.
                yield Request(absolute, callback=self.requisite, errback=self.failed,
                              meta={"isnad_depth": depth, "requisite": 1, "depth_reset": True,
                                    **self._auth})
        if depth >= self.job.limits.depth:
            return
        self._known.add(canonicalize_url(response.url))
        yield from self.follow(response, depth)

    def first_time(self, key: str, url: str, depth: int) -> bool:
        """Is a requisite (canonical ``key``) asked for the first time in this capture?"""
        if key in self._known:
            return False
        self._known.add(key)
        return True

    def follow(self, response: Response, depth: int) -> Iterator[Request]:
        """The links in scope of a page read at ``depth``, each asked for once."""
        for url in self._links.links(response):
            if url in self._judged_links:
                continue
            key = canonicalize_url(url)
            if key in self._known or not self.job.in_scope(url):
                self._judged_links.add(url)
                continue
            if self._scheduled >= self.job.limits.max_pages:
                self.job.add_reason(
                    f"page cap reached ({self.job.limits.max_pages} pages); "
                    "further links in scope were not followed"
                )
                return
            self._scheduled += 1
            self._known.add(key)
            self._judged_links.add(url)
            yield Request(url, callback=self.parse, errback=self.failed,
                          meta={"isnad_depth": depth + 1, **self._auth})

    def requisite(self, response: Response) -> None:
        """Recorded by the recording middleware; nothing to parse."""

    def failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        message = (str(failure.value).strip().splitlines() or [failure.type.__name__])[0]
        if "ERR_BLOCKED_BY_CLIENT" in message and self.job.refused_requests:
            # Chromium names the URL asked for; the guard's reason names the hop it refused.
            message = self.job.refused_requests[-1]["reason"]
        depth = request.meta.get("isnad_depth", 0)
        requisite = request.meta.get("requisite")
        entry = {"url": request.url, "error": message[:300]}
        if depth == 0 and not requisite:
            self.job.errors.append(message[:300])
        elif not requisite:  # a subresource is counted under "failed subresources"
            self.job.add_reason(f"page {request.url} failed: {message[:200]}")
        # The downloader middleware may have listed this failure already: one entry a request,
        # with the errback's words (they name the guard's reason, not Chromium's code).
        failed = self.job.failed_requests
        failed[:] = [f for f in failed if f["url"] != request.url]
        failed.append(entry)

    def closed(self, reason: str) -> None:
        self.job.close_reason = reason
        if reason == "closespider_timeout":
            self.job.add_reason(
                f"timeout: the capture reached its total time limit "
                f"({self.job.limits.total_timeout:g}s) and was stopped"
            )
