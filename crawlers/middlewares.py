"""Browser capture as a Scrapy downloader middleware.

Requests are sent to Chromium through scrapy-playwright in the capture's own browser context.
When a page has loaded, behaviours run (scroll, network idle), the recorder settles, and the
snapshots (screenshot, PDF, rendered DOM) are written as WARC resource records. The spider
then receives the rendered DOM as its response body, like any other Scrapy response.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Awaitable
from typing import Any
from urllib.parse import unquote, urlsplit

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page
from scrapy import Spider
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request, Response

from archiver.redaction import without_credentials
from crawlers.behaviours import QuietWatch, pause_media, scroll_until_stable, wait_for_load_state
from crawlers.job import CaptureJob
from crawlers.recording import BrowserRecorder

log = logging.getLogger(__name__)

# What "quiet" means. After the page loaded and scrolling ended: no request for 0.5 s, as
# Playwright's "networkidle" (a media player's stream aside, see BrowserRecorder.quiet).
NETWORK_IDLE = 0.5
# After one scroll step: what the step set off (lazy images, a feed's next part) has loaded
# and nothing new started for this long; scroll_pause stays the upper bound of the wait.
SCROLL_IDLE = 0.1


class BrowserPageMiddleware:
    """Route page requests through Chromium and finish each page before the spider sees it."""

    def __init__(self) -> None:
        self.recorder: BrowserRecorder | None = None

    def _recorder(self, spider: Spider) -> BrowserRecorder:
        if self.recorder is None:
            self.recorder = spider.recorder  # type: ignore[attr-defined]
        return self.recorder

    def process_request(self, request: Request, spider: Spider) -> None:
        job: CaptureJob = spider.job  # type: ignore[attr-defined]
        limits = job.limits
        context_kwargs: dict[str, Any] = {
            "viewport": {"width": limits.viewport_width, "height": limits.viewport_height},
            # Service workers would answer requests from their own cache, out of our sight.
            "service_workers": "block",
            "accept_downloads": False,
        }
        # The capture's one agent (crawl_settings): Chromium then sends it on every request
        # and reports it to the page's scripts, with no "HeadlessChrome" in it.
        agent = spider.settings.get("USER_AGENT")
        if agent:
            context_kwargs["user_agent"] = agent
        if job.browser_cookies:  # a configured platform session, scoped to its domains
            context_kwargs["storage_state"] = {"cookies": job.browser_cookies, "origins": []}
        if job.proxy:
            context_kwargs["proxy"] = browser_proxy(job.proxy)
        # The document is enough to go on; the load event is awaited (bounded) afterwards,
        # so one hanging image makes a PARTIAL capture, not a failed one.
        goto: dict[str, Any] = {"wait_until": "domcontentloaded"}
        referer = request.headers.get("Referer")
        if referer:  # a followed link: Chromium sends the Referer, as after a click
            goto["referer"] = referer.decode("latin-1")
        request.meta.update(
            playwright=True,
            playwright_include_page=True,
            playwright_context=f"capture-{id(job)}",
            playwright_context_kwargs=context_kwargs,
            playwright_page_init_callback=self._recorder(spider).attach,
            playwright_page_goto_kwargs=goto,
        )

    async def process_response(self, request: Request, response: Response, spider: Spider
                               ) -> Response:
        page: Page | None = request.meta.pop("playwright_page", None)
        if page is None:
            return response
        job: CaptureJob = spider.job  # type: ignore[attr-defined]
        recorder = self._recorder(spider)
        ip = str(response.ip_address) if response.ip_address else None
        refusal = job.guard.connected_refusal(response.url, ip)
        if refusal:  # the document itself came from a forbidden address: nothing of it is kept
            await recorder.settle()  # its exchange is refused there too, not half-recorded
            await page.close()
            recorder.cut_off(page)
            raise IgnoreRequest(refusal)
        try:
            if not job.software.get("chromium") and page.context.browser:
                job.software["chromium"] = page.context.browser.version
            if job.user_agent is None:
                job.user_agent = await page.evaluate("() => navigator.userAgent")
            await self._behave(page, job, response.url, recorder)
            await recorder.settle()
            dom, title = await asyncio.gather(page.content(), page.title())
            if recorder.tainted(page):
                # What the page shows includes an answer the guard discarded.
                job.add_reason(f"no screenshot, PDF or DOM snapshot of {response.url}: it loaded "
                               "content from an address the SSRF guard refuses")
            else:
                await self._snapshot(page, job, response.url, dom)
            await recorder.tls_chains(page)
        except PlaywrightError as exc:
            job.add_reason(f"page {response.url} could not be finished: {_first_line(exc)}")
            return response
        finally:
            # Whatever the browser started receiving is recorded before the page closes:
            # the snapshots themselves (a full-page screenshot) make lazy content load.
            await recorder.drain(page, job.limits.drain_timeout)
            await page.close()
            recorder.cut_off(page)
        request.meta["isnad_title"] = title
        return response.replace(body=dom.encode("utf-8"), encoding="utf-8")

    async def process_exception(self, request: Request, exception: Exception, spider: Spider
                                ) -> None:
        page: Page | None = request.meta.pop("playwright_page", None)
        if page is not None and not page.is_closed():
            recorder = self._recorder(spider)
            await recorder.settle()
            await page.close()
            recorder.cut_off(page)

    async def _behave(self, page: Page, job: CaptureJob, url: str, recorder: BrowserRecorder
                     ) -> None:
        limits = job.limits
        if not await wait_for_load_state(page, "load", limits.page_timeout):
            job.add_reason(
                f"timeout: {url} did not finish loading within {limits.page_timeout:g}s "
                "(page_timeout)"
            )

        async def busy() -> bool:  # a request of the page (not a player's) in flight now
            return not await recorder.quiet(page, 0, idle=0)

        # One watch for the whole page: the quiet seen after the last scroll steps counts
        # towards the network idle awaited below, instead of being waited for again.
        watch = QuietWatch(busy)
        scrolled = await scroll_until_stable(
            page, limits.scroll_step_px, limits.scroll_max_steps, limits.scroll_pause,
            max_height=limits.scroll_max_height, max_seconds=limits.scroll_timeout,
            settle=lambda timeout: watch.wait(SCROLL_IDLE, timeout),
        )
        finding = scrolled.finding(url)
        if finding:
            job.add_reason(finding)
        # A playing video keeps its stream open for as long as it plays: paused, the player
        # stops asking for more, and its stream is not waited for (drain() records it).
        await pause_media(page)
        if not await watch.wait(NETWORK_IDLE, limits.network_idle_timeout):
            job.add_reason(
                f"timeout: the network did not go idle within {limits.network_idle_timeout:g}s "
                f"on {url}; requests still in flight got {limits.drain_timeout:g}s more "
                "(drain_timeout) before the page closed"
            )

    async def _snapshot(self, page: Page, job: CaptureJob, url: str, dom: str) -> None:
        """Screenshots, PDF and DOM as WARC resource records.

        The screenshots follow Browsertrix / ArchiveWeb.page naming, so replay tools find them:
        ``urn:view:<url>`` (the first screen, PNG), ``urn:thumbnail:<url>`` (the same, 640 px
        wide, JPEG; ReplayWeb.page's page list shows it) and ``urn:fullPage:<url>`` (the whole
        page, PNG). The PDF is ``urn:pdf:<url>``, the rendered DOM ``urn:dom:<url>``.
        """
        limits = job.limits
        url = without_credentials(url)  # named as the WARC names the page
        shots: list[tuple[str, str, str, Any]] = []
        if limits.screenshot:
            shots += [
                ("view", "image/png", f"urn:view:{url}",
                 lambda: page.screenshot(type="png")),
                ("thumbnail", "image/jpeg", f"urn:thumbnail:{url}",
                 lambda: _thumbnail(page, self._recorder_session(page))),
                ("screenshot", "image/png", f"urn:fullPage:{url}",
                 lambda: page.screenshot(full_page=True, type="png")),
            ]
        if limits.pdf:
            shots.append(("pdf", "application/pdf", f"urn:pdf:{url}",
                          lambda: page.pdf(print_background=True, format=limits.paper)))
        if limits.screenshot:
            try:  # the first screen is what a visitor sees on opening the page
                await page.evaluate("() => window.scrollTo(0, 0)")
            except PlaywrightError as exc:
                job.add_reason(f"screenshot of {url}: could not scroll back to the top: "
                               f"{_first_line(exc)}")
        for kind, media_type, uri, take in shots:
            try:
                data = await take()
            except PlaywrightError as exc:
                job.add_reason(f"{kind} of {url} failed: {_first_line(exc)}")
                continue
            self._resource(job, kind, media_type, uri, data)
        self._resource(job, "dom", "text/html; charset=utf-8", f"urn:dom:{url}",
                       dom.encode("utf-8"))

    async def _recorder_session(self, page: Page) -> Any | None:
        return await self.recorder.session(page) if self.recorder is not None else None

    @staticmethod
    def _resource(job: CaptureJob, kind: str, media_type: str, uri: str, data: bytes) -> None:
        record_id, digest, size = job.warc.write_resource(uri, media_type, data)
        job.artifacts.append({
            "path": f"archive/{job.warc.path.name}#{uri}",
            "kind": kind,
            "media_type": media_type,
            "sha256": digest,
            "size": size,
            "record_id": record_id,
        })


def browser_proxy(proxy: str) -> dict[str, str]:
    """The proxy for Chromium's context. ``<-loopback>`` lifts Chromium's implicit bypass of
    localhost: with a proxy configured, nothing goes around it. Chromium's ``socks5`` already
    resolves names at the proxy, so ``socks5h`` (yt-dlp's spelling of that) is ``socks5``."""
    parts = urlsplit(proxy)
    scheme = "socks5" if parts.scheme.lower() == "socks5h" else parts.scheme
    # Playwright takes credentials apart from the server address (host:port as written,
    # brackets of an IPv6 address kept).
    settings = {"server": f"{scheme}://{parts.netloc.rpartition('@')[2]}",
                "bypass": "<-loopback>"}
    if parts.username:
        settings.update(username=unquote(parts.username), password=unquote(parts.password or ""))
    return settings


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


THUMBNAIL_WIDTH = 640  # Browsertrix's thumbnails are 640 px wide


async def _thumbnail(page: Page, recorder_session: Awaitable[Any | None]) -> bytes:
    """The first screen, scaled down to 640 px wide, as JPEG, rendered by Chromium itself.

    The page has just been scrolled to the top, so the clip (0, 0, viewport) is the first
    screen whether Chromium reads its coordinates as page or viewport ones. Asked through
    the DevTools session the recorder keeps open on the page (one session fewer to open and
    close per page); through a session of its own when there is none.
    """
    size = page.viewport_size or {"width": 1366, "height": 768}
    params = {"format": "jpeg", "quality": 75,
              "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"],
                       "scale": min(1.0, THUMBNAIL_WIDTH / size["width"])}}
    session = await recorder_session
    if session is not None:
        shot = await session.send("Page.captureScreenshot", params)
        return base64.b64decode(shot["data"])
    session = await page.context.new_cdp_session(page)
    try:
        shot = await session.send("Page.captureScreenshot", params)
    finally:
        await session.detach()
    return base64.b64decode(shot["data"])
