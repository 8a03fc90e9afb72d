"""Scrolling waits on what the page does, not on fixed pauses (issue 17): a short page is
not scrolled at all, a long page with lazy images and a growing feed is scrolled to its end
with every image loaded, and neither sleeps ``scroll_pause`` after each step. Real Chromium,
the fixture site on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Page, Request, async_playwright

from crawlers.behaviours import QuietWatch, scroll_until_stable
from crawlers.settings import CHROMIUM_ARGS
from isnad.config import Settings

CHROMIUM = Settings().browser.executable_path

SHORT_PAGE = """<!DOCTYPE html><html><head><title>Short</title></head><body>
<h1>Short page</h1><p>Nothing below the first screen.</p>
<script>window.scrolls = 0; window.addEventListener('scroll', () => window.scrolls++);</script>
</body></html>"""


def _chromium_missing() -> bool:
    return not Path(CHROMIUM).exists()


@asynccontextmanager
async def browser_page() -> AsyncIterator[tuple[Page, Callable[[], Awaitable[bool]], set[str]]]:
    """A page in Isnad's Chromium (its flags, a 1366x768 viewport), a ``busy`` probe (a
    request of the page in flight) and the URLs whose responses finished."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                           args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1366, "height": 768})
            in_flight: set[Request] = set()
            finished: set[str] = set()
            # (Playwright calls Python functions only, not set.add itself.)
            page.on("request", lambda request: in_flight.add(request))
            page.on("requestfailed", lambda request: in_flight.discard(request))

            def done(request: Request) -> None:
                in_flight.discard(request)
                finished.add(request.url)

            page.on("requestfinished", done)

            async def busy() -> bool:
                return bool(in_flight)

            yield page, busy, finished
        finally:
            await browser.close()


@pytest.mark.e2e
@pytest.mark.skipif(_chromium_missing(), reason="Chromium is not installed")
def test_short_page_is_not_scrolled_and_no_pause_is_slept():
    """A page whose bottom is in view is looked at twice where it is, never scrolled (no
    scroll event), and the scroll pause (5 s, the upper bound) is not slept: the old loop
    scrolled it twice and slept 2 x 5 s."""
    async def run() -> tuple[float, int, int, bool]:
        async with browser_page() as (page, busy, _finished):
            await page.set_content(SHORT_PAGE)
            watch = QuietWatch(busy)
            started = time.monotonic()
            result = await scroll_until_stable(page, 800, 400, 5.0,
                                               settle=lambda t: watch.wait(0.1, t))
            elapsed = time.monotonic() - started
            return elapsed, await page.evaluate("window.scrolls"), \
                await page.evaluate("window.scrollY"), result.stable

    elapsed, scrolls, scroll_y, stable = asyncio.run(run())
    assert stable
    assert scrolls == 0 and scroll_y == 0
    assert elapsed < 5.0, f"short page took {elapsed:.1f} s"


@pytest.mark.e2e
@pytest.mark.skipif(_chromium_missing(), reason="Chromium is not installed")
def test_long_page_and_feed_fully_loaded_without_fixed_pauses(site):
    """The fixture's long page: 4 lazy images at its bottom and a feed that appends a part
    (with an image) 3 times as its end comes into view. With a 3 s pause bound, every image
    and every part is there at the end, and the steps did not each take the pause: they
    waited for the page's requests, then went on."""
    pause = 3.0

    async def run() -> tuple[float, int, set[str], int]:
        async with browser_page() as (page, busy, finished):
            await page.goto(site.url("/lazy.html"), wait_until="load")
            watch = QuietWatch(busy)
            started = time.monotonic()
            result = await scroll_until_stable(page, 800, 400, pause,
                                               settle=lambda t: watch.wait(0.1, t))
            elapsed = time.monotonic() - started
            assert result.stable, result
            assert await watch.wait(0.5, 10)
            parts = await page.evaluate("document.querySelectorAll('#feed section').length")
            return elapsed, result.steps, set(finished), parts

    elapsed, steps, finished, parts = asyncio.run(run())
    assert parts == 3
    for name in [f"lazy-{i}.png" for i in range(1, 5)] + [f"more-{i}.png" for i in range(1, 4)]:
        assert site.url(f"/img/{name}") in finished, name
    # Old loop: steps x 3 s slept whatever the page did (over 30 s here).
    assert steps >= 5
    assert elapsed < steps * pause / 3, f"{steps} steps took {elapsed:.1f} s"


def test_quiet_watch_counts_quiet_from_the_last_request_seen():
    """The network idle after scrolling counts the quiet already seen while scrolling; a
    request seen in flight starts the count again; a wait that never sees enough quiet
    ends at its timeout with False."""
    async def run() -> list[bool | float]:
        state = {"busy": True}

        async def busy() -> bool:
            return state["busy"]

        watch = QuietWatch(busy, poll=0.01)
        out: list[bool | float] = [await watch.wait(0.05, 0.1)]  # busy all along: False
        state["busy"] = False
        out.append(await watch.wait(0.05, 1.0))  # quiet for 0.05 s: True
        await asyncio.sleep(0.3)
        started = time.monotonic()
        out.append(await watch.wait(0.3, 0.05))  # 0.35 s quiet already: at once
        out.append(time.monotonic() - started)
        state["busy"] = True
        out.append(await watch.wait(0.05, 0.1))
        return out

    first, second, third, took, fourth = asyncio.run(run())
    assert (first, second, third, fourth) == (False, True, True, False)
    assert took < 0.05
