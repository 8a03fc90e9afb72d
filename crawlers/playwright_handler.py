"""scrapy-playwright's download handler, less what a capture does not use."""

from __future__ import annotations

from playwright.async_api import Page
from scrapy import Spider
from scrapy.http import Request
from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler


class CaptureDownloadHandler(ScrapyPlaywrightDownloadHandler):
    """The handler of a browser capture: each page without scrapy-playwright's request and
    response counters.

    They feed Scrapy's crawl statistics, which a capture does not keep (DummyStatsCollector,
    crawlers/settings.py), yet a "response" listener on a page makes Playwright's driver send
    every response of that page to this process as an event (a message through the driver,
    an object built here), which nothing of the capture reads: the recorder asks for a
    response when its request has finished."""

    async def _create_page(self, request: Request, spider: Spider) -> Page:
        page = await super()._create_page(request, spider)
        page.remove_listener("request", self._increment_request_stats)
        page.remove_listener("response", self._increment_response_stats)
        return page
