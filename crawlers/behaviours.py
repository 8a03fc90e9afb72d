"""What the browser does to a page before its snapshot: scroll, then wait for quiet."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
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


# Two animation frames: what a scroll sets off (scroll events, IntersectionObserver callbacks
# that start lazy loads) has run by then. Bounded, should a page not render frames.
_FRAMES = """() => new Promise(done => {
  const timer = setTimeout(done, 200);
  requestAnimationFrame(() => requestAnimationFrame(() => { clearTimeout(timer); done(); }));
})"""

Busy = Callable[[], Awaitable[bool]]


class QuietWatch:
    """How long a page's network has been quiet, carried across several waits: the quiet
    seen while scrolling counts towards the network idle awaited after it.

    ``busy`` says whether a request of the page is in flight now."""

    def __init__(self, busy: Busy, poll: float = 0.05) -> None:
        self._busy = busy
        self._poll = poll
        self._since = asyncio.get_running_loop().time()

    async def wait(self, idle: float, timeout: float) -> bool:
        """True as soon as no request was seen in flight for ``idle`` seconds (counted from
        the last one seen, in this wait or an earlier one); False after ``timeout`` seconds
        without that."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            busy = await self._busy()
            now = loop.time()
            if busy:
                self._since = now
            elif now - self._since >= idle:
                return True
            if now >= deadline:
                return False
            await asyncio.sleep(min(self._poll, deadline - now))


async def scroll_until_stable(page: Page, step_px: int, max_steps: int, pause: float, *,
                              max_height: int = 0, max_seconds: float = 0.0,
                              settle: Callable[[float], Awaitable[object]] | None = None
                              ) -> ScrollResult:
    """Scroll down in steps until the bottom is reached and the page stops growing there,
    or a bound stops it: ``max_steps`` steps, ``max_height`` px scrolled (0: none),
    ``max_seconds`` seconds (0: none).

    Lazy images load as they come into view; infinite-scroll pages append content at the
    bottom, so the page must reach its bottom and stay the same height twice to be done.
    After each step the page gets at most ``pause`` seconds to react: with ``settle``, two
    animation frames and then ``settle(pause)``, which returns as soon as what the step set
    off has loaded (its network quiet); without, a fixed ``pause``. A page whose bottom is in
    view is not scrolled further: its height is checked where it is (a short page takes no
    scroll step at all).
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    viewport = (page.viewport_size or {"height": 0})["height"]
    position = 0
    quiet_checks = 0
    grew = False
    height = await page.evaluate(_HEIGHT)
    steps = 0  # rounds, each a step down or (at the bottom) a look at the height
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
        if position + viewport < height:  # the bottom is not in view yet
            position += step_px
            if max_height:
                position = min(position, max(max_height - viewport, 0))
            await page.evaluate("y => window.scrollTo(0, y)", position)
        if settle is None:
            await asyncio.sleep(pause)
        else:
            deadline = loop.time() + pause
            if pause > 0:
                try:
                    await asyncio.wait_for(page.evaluate(_FRAMES), pause)
                except (PlaywrightError, TimeoutError):
                    pass  # no frame within the pause: the page is looked at as it is
            await settle(max(deadline - loop.time(), 0.0))
        new_height = await page.evaluate(_HEIGHT)
        if new_height > height and position + viewport >= height:
            grew = True  # the end came into view and more appeared there: a feed
        at_bottom = position + viewport >= new_height
        if new_height == height and at_bottom:
            quiet_checks += 1
            if quiet_checks >= 2:
                if position:  # a short page was never scrolled
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
