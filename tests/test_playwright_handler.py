"""The capture's scrapy-playwright handler (crawlers/playwright_handler.py), in real Chromium:
its pages carry no crawl-statistics listeners, whose "response" subscription alone made
Playwright's driver send every response of a page to the capture process as an event."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import async_playwright
from scrapy import Spider
from scrapy.http import Request
from scrapy.settings import Settings as ScrapySettings
from scrapy.statscollectors import DummyStatsCollector
from scrapy.utils.test import get_crawler
from scrapy_playwright.handler import BrowserContextWrapper, Config

from crawlers.playwright_handler import CaptureDownloadHandler
from crawlers.settings import CHROMIUM_ARGS
from isnad.config import Settings

CHROMIUM = Settings().browser.executable_path

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                                  reason="no Chromium")]


def _handler(context: object) -> CaptureDownloadHandler:
    """The handler with the state its page creation uses, around a context already open
    (its __init__ wants a running Twisted asyncio reactor, which this test has no use for)."""
    handler = CaptureDownloadHandler.__new__(CaptureDownloadHandler)
    handler.stats = DummyStatsCollector(get_crawler())
    handler.config = Config.from_settings(ScrapySettings())
    handler.context_launch_lock = asyncio.Lock()
    handler.context_wrappers = {"capture": BrowserContextWrapper(
        context=context, semaphore=asyncio.Semaphore(4), persistent=False)}  # type: ignore[arg-type]
    return handler


def test_pages_carry_no_statistics_listeners(site):
    async def run() -> tuple[int, int, int, int, int, list[str]]:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                               args=CHROMIUM_ARGS)
            try:
                context = await browser.new_context()
                handler = _handler(context)
                request = Request(site.url("/arabic.html"), meta={"playwright_context": "capture"})
                page = await handler._create_page(request, Spider("capture"))
                impl = page._impl_obj  # the event emitter behind the public Page
                responses, requests = impl.listener_count("response"), impl.listener_count(
                    "request")
                seen: list[str] = []
                page.on("requestfinished", lambda r: seen.append(r.url))
                await page.goto(site.url("/arabic.html"))  # a page still loads and reports
                semaphore = handler.context_wrappers["capture"].semaphore
                taken = semaphore._value
                await page.close()
                return (responses, requests, impl.listener_count("close"), taken,
                        semaphore._value, seen)
            finally:
                await browser.close()

    responses, requests, closes, taken, released, seen = asyncio.run(run())
    assert (responses, requests) == (0, 0)
    # What scrapy-playwright needs stays: closing a page gives its slot back.
    assert closes >= 1 and (taken, released) == (3, 4)
    assert any(url.endswith("/arabic.html") for url in seen), seen
