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
    height: int
    stable: bool  # False: still growing when the step bound was reached


async def scroll_until_stable(page: Page, step_px: int, max_steps: int, pause: float
                              ) -> ScrollResult:
    """Scroll down in steps until the page stops growing (bounded by ``max_steps``).

    Lazy images load as they come into view; infinite-scroll pages append content at the
    bottom, so the page must reach its bottom and stay the same height twice to be done.
    """
    position = 0
    quiet_checks = 0
    height = await page.evaluate(_HEIGHT)
    for steps in range(1, max_steps + 1):
        position += step_px
        await page.evaluate("y => window.scrollTo(0, y)", position)
        await asyncio.sleep(pause)
        new_height = await page.evaluate(_HEIGHT)
        at_bottom = position + (page.viewport_size or {"height": 0})["height"] >= new_height
        if new_height == height and at_bottom:
            quiet_checks += 1
            if quiet_checks >= 2:
                await page.evaluate("() => window.scrollTo(0, 0)")
                return ScrollResult(steps, new_height, True)
        else:
            quiet_checks = 0
        height = new_height
        position = min(position, height)
    await page.evaluate("() => window.scrollTo(0, 0)")
    return ScrollResult(max_steps, height, False)


async def wait_for_load_state(page: Page, state: str, timeout: float) -> bool:
    """True when the page reached ``state`` within ``timeout`` seconds.

    ``load``: the load event fired; ``networkidle``: no request for 500 ms.
    """
    try:
        await page.wait_for_load_state(state, timeout=timeout * 1000)  # type: ignore[arg-type]
        return True
    except PlaywrightError:
        return False
