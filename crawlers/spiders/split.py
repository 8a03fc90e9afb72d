"""The page spider as one part of a crawl spread over several processes.

It reads the pages the shared frontier (:mod:`archiver.frontier`) hands it, instead of those it
found itself: the links it finds go to the frontier (each once, whichever part found it), and
it takes queued pages as its downloader has room. The scope, depth and page cap are the page
spider's; the guard and the recording are the same middlewares. It ends when no page waits and
none is taken (and, for the part that owns the capture, when every other part has ended).

It takes pages as soon as it has room: when one of its pages is done (a slot is free) and
when it adds links itself, at once; pages another part adds are seen at its next look (every
``POLL`` seconds while it has room, a read that takes no lock; the claim that follows is one
UPDATE for as many pages as it has room for).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from scrapy.http import Request, Response
from twisted.python.failure import Failure
from w3lib.url import canonicalize_url

from archiver.frontier import PAGE, Frontier
from crawlers.job import CaptureJob
from crawlers.recording import BrowserRecorder
from crawlers.spiders.page import PageItem, PageSpider

POLL = 0.05  # seconds between looks at the frontier when nothing here changed


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class SplitPageSpider(PageSpider):
    """Part ``part`` of a crawl whose frontier is ``frontier``.

    ``others_running()`` (the owning part only) says whether another part still runs; it also
    gives the frontier back the pages of a part that died, so they are read again here.
    ``timeline``: when this part was ready, and read its first and last page (UTC), for the
    capture context."""

    name = "page-part"

    def __init__(self, job: CaptureJob, recorder: BrowserRecorder, frontier: Frontier,
                 part: int, others_running: Callable[[], bool] | None = None,
                 timeline: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(job, recorder, **kwargs)
        self.frontier = frontier
        self.part = part
        self.others_running = others_running
        self.timeline = timeline if timeline is not None else {}
        self._in_flight = 0
        self._wake: asyncio.Event | None = None  # set when this part may take pages again

    async def start(self) -> AsyncIterator[Request]:
        settings = self.crawler.settings
        room = max(1, min(settings.getint("CONCURRENT_REQUESTS"),
                          settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN")
                          or settings.getint("CONCURRENT_REQUESTS")))
        if self.part == 0:  # the seed page was taken by the owning part (Frontier.seed)
            self._in_flight += 1
            yield Request(self._start_url, callback=self.parse, errback=self.failed,
                          meta={"isnad_depth": 0, "isnad_key": canonicalize_url(self.job.url),
                                **self._auth}, dont_filter=True)
        self._wake = asyncio.Event()
        self.timeline["ready_at"] = _now()
        while True:
            self._wake.clear()  # a page settled from here on wakes the wait below
            if self.others_running:  # a part found dead gives its pages back now
                self.others_running()
            if self._in_flight < room and self.frontier.waiting():
                batch = self.frontier.claim(self.part, room - self._in_flight)
                for url, depth in batch:
                    self._in_flight += 1
                    yield Request(url, callback=self.parse, errback=self.failed,
                                  meta={"isnad_depth": depth, "isnad_key": canonicalize_url(url),
                                        **self._auth}, dont_filter=True)
                if batch:
                    continue
            if self._in_flight == 0 and self._finished():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL)

    def _finished(self) -> bool:
        """Nothing waits, nothing is taken, and (for the owner) no other part runs."""
        others = self.others_running() if self.others_running else False
        counts = self.frontier.counts()
        return not others and counts.queued == 0 and counts.claimed == 0

    def _settle(self, request_meta: dict[str, Any]) -> None:
        if request_meta.get("requisite") or request_meta.get("isnad_settled"):
            return
        request_meta["isnad_settled"] = True
        self._in_flight -= 1
        self.frontier.done(request_meta["isnad_key"], self.part)
        self._wakeup()

    def _wakeup(self) -> None:
        """Room, or pages, for this part: its start loop looks at the frontier now."""
        if self._wake is not None:
            self._wake.set()

    def parse(self, response: Response) -> Iterator[PageItem | Request]:
        # The page is done only once its links are in the frontier: done before, a part
        # looking in between would find nothing queued nor taken, and end.
        now = _now()
        self.timeline.setdefault("first_page_at", now)
        self.timeline["last_page_at"] = now
        try:
            final = canonicalize_url(response.url)
            if final != response.meta.get("isnad_key"):
                # A redirect's target: read here, so no part reads it again as a link.
                self.frontier.take(final, response.url, response.meta.get("isnad_depth", 0),
                                   self.part, kind=PAGE)
            yield from super().parse(response)
        finally:
            self._settle(response.meta)

    def failed(self, failure: Failure) -> None:
        self._settle(failure.request.meta)  # type: ignore[attr-defined]
        super().failed(failure)

    def first_time(self, key: str, url: str, depth: int) -> bool:
        """A requisite is fetched by the part that takes it first."""
        if key in self._known:
            return False
        self._known.add(key)
        return self.frontier.take(key, url, depth, self.part)

    def follow(self, response: Response, depth: int) -> Iterator[Request]:
        """Links in scope go to the frontier (each once); any part may read them."""
        links = []
        for url in self._links.links(response):
            key = canonicalize_url(url)
            if key not in self._known and self.job.in_scope(url):
                self._known.add(key)
                links.append((key, url))
        if links and self.frontier.add_pages(links, depth + 1, self.job.limits.max_pages):
            self.job.add_reason(
                f"page cap reached ({self.job.limits.max_pages} pages); "
                "further links in scope were not followed")
        if links:
            self._wakeup()
        return iter(())
