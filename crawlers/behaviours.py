"""What the browser does to a page before its snapshot: scroll, then wait for quiet."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

_HEIGHT = "() => Math.max(document.body ? document.body.scrollHeight : 0, " \
    "document.documentElement ? document.documentElement.scrollHeight : 0)"


@dataclass
class ScrollResult:
    steps: int
    height: int  # the page's height when scrolling stopped, px
    stable: bool  # True: the bottom was reached and the page stopped growing there
    reached: int = 0  # how far down the page was seen (bottom edge of the viewport), px
    grew: bool = False  # the page grew after its bottom had come into view (a feed)
    bound: str = ""  # what stopped scrolling before the end, as the settings name it

    def finding(self, url: str) -> str | None:
        """What a capture must say when scrolling did not reach the end, or None.

        An infinite feed (it grows each time its bottom comes into view) and a long page
        (it is simply taller than the bound) are different findings."""
        if self.stable:
            return None
        if self.grew:
            return (f"infinite feed: {url} kept growing past {self.height:,} px; scrolling "
                    f"stopped at {self.bound}, content further down was not loaded")
        return (f"long page {url} not fully scrolled (stopped at {self.reached:,} of "
                f"{self.height:,} px: {self.bound}); content further down may not have loaded")


async def scroll_until_stable(page: Page, step_px: int, max_steps: int, pause: float, *,
                              max_height: int = 0, max_seconds: float = 0.0
                              ) -> ScrollResult:
    """Scroll down in steps until the bottom is reached and the page stops growing there,
    or a bound stops it: ``max_steps`` steps, ``max_height`` px scrolled (0: none),
    ``max_seconds`` seconds (0: none).

    Lazy images load as they come into view; infinite-scroll pages append content at the
    bottom, so the page must reach its bottom and stay the same height twice to be done.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    viewport = (page.viewport_size or {"height": 0})["height"]
    position = 0
    quiet_checks = 0
    grew = False
    height = await page.evaluate(_HEIGHT)
    steps = 0
    bound = f"scroll_max_steps ({max_steps:,} steps)"
    while True:
        if steps >= max_steps:
            break
        if max_height and position + viewport >= max_height:
            bound = f"scroll_max_height ({max_height:,} px)"
            break
        if max_seconds and loop.time() - started >= max_seconds:
            bound = f"scroll_timeout ({max_seconds:g}s)"
            break
        steps += 1
        position += step_px
        if max_height:
            position = min(position, max(max_height - viewport, 0))
        await page.evaluate("y => window.scrollTo(0, y)", position)
        await asyncio.sleep(pause)
        new_height = await page.evaluate(_HEIGHT)
        if new_height > height and position + viewport >= height:
            grew = True  # the end came into view and more appeared there: a feed
        at_bottom = position + viewport >= new_height
        if new_height == height and at_bottom:
            quiet_checks += 1
            if quiet_checks >= 2:
                await page.evaluate("() => window.scrollTo(0, 0)")
                return ScrollResult(steps, new_height, True, new_height, grew)
        else:
            quiet_checks = 0
        height = new_height
        position = min(position, height)
    await page.evaluate("() => window.scrollTo(0, 0)")
    return ScrollResult(steps, height, False, min(position + viewport, height), grew, bound)


_PAUSE_MEDIA = """() => {
  let n = 0;
  for (const m of document.querySelectorAll('video, audio')) {
    m.autoplay = false; if (!m.paused) m.pause(); n++;
  }
  return n;
}"""


async def pause_media(page: Page) -> int:
    """Pause every video and audio of the page and stop autoplay: a playing stream never lets
    the network go quiet. Returns how many players there are (0 when it cannot tell)."""
    try:
        return int(await page.evaluate(_PAUSE_MEDIA))
    except PlaywrightError:
        return 0


async def wait_for_load_state(page: Page, state: str, timeout: float) -> bool:
    """True when the page reached ``state`` within ``timeout`` seconds.

    ``load``: the load event fired; ``networkidle``: no request for 500 ms.
    """
    try:
        await page.wait_for_load_state(state, timeout=timeout * 1000)  # type: ignore[arg-type]
        return True
    except PlaywrightError:
        return False
