"""Recording every HTTP exchange of a capture into its WARC.

Two recorders, one per way of fetching:

* :class:`HttpRecordingMiddleware` (``--no-browser``): a Scrapy downloader middleware placed
  next to the downloader, so it sees the response exactly as the server sent it (still
  compressed, before redirects are followed) and stores those bytes unchanged.
* :class:`BrowserRecorder`: listens to the Playwright browser context of the capture. Chromium
  hands over bodies decoded, so they are stored decoded, and the headers say so truthfully
  (``Content-Encoding`` kept as ``X-Orig-Content-Encoding``, Browsertrix's convention).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import ssl
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, Request, Response, Route, WebSocketRoute
from scrapy import Spider
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request as ScrapyRequest
from scrapy.http import Response as ScrapyResponse

from archiver.redaction import REDACTED
from crawlers.job import BROWSER_SERVICE_HOSTS, CaptureJob

log = logging.getLogger(__name__)


def _header_pairs(headers: Any) -> list[tuple[str, str]]:
    """Scrapy Headers (bytes, multi-valued) to a list of text pairs."""
    # Headers is a dict of normalised names to lists of values: read as a dict, not through
    # its items(), which normalises every name again and looks each one up (per response).
    return [(name.decode("latin-1"), value.decode("latin-1"))
            for name, values in dict.items(headers) for value in values]


class ProxyMiddleware:
    """Send plain-HTTP requests through the capture's proxy (before Scrapy's
    HttpProxyMiddleware, which applies it). Scrapy speaks HTTP(S) proxies only."""

    def process_request(self, request: ScrapyRequest, spider: Spider) -> None:
        job: CaptureJob = spider.job  # type: ignore[attr-defined]
        if job.proxy and "proxy" not in request.meta:
            request.meta["proxy"] = job.proxy


class NetGuardMiddleware:
    """Refuse requests (including redirect targets) to private networks; plain HTTP mode."""

    def process_request(self, request: ScrapyRequest, spider: Spider) -> None:
        job: CaptureJob = spider.job  # type: ignore[attr-defined]
        refusal = job.guard.refusal_sync(request.url)
        if refusal:
            job.refused_requests.append({"url": request.url, "reason": refusal})
            raise IgnoreRequest(refusal)
        if not job.room_for(0):
            job.note_skipped(request.url, 0)
            raise IgnoreRequest("resource cap reached")


class HttpRecordingMiddleware:
    """Write each raw response (and its request) to the capture's WARC."""

    def process_response(
        self, request: ScrapyRequest, response: ScrapyResponse, spider: Spider
    ) -> ScrapyResponse:
        job: CaptureJob = spider.job  # type: ignore[attr-defined]
        ip = str(response.ip_address) if response.ip_address else None
        refusal = job.guard.connected_refusal(response.url, ip)
        if refusal:  # resolved differently than when the guard checked it (DNS rebinding)
            job.refused_requests.append({"url": response.url, "reason": refusal})
            raise IgnoreRequest(refusal)
        body = response.body
        if not job.room_for(len(body)):
            job.note_skipped(response.url, len(body))
            return response
        host = urlsplit(response.url).hostname or ""
        request_headers = _header_pairs(request.headers)
        response_headers = _header_pairs(response.headers)
        job.warc.write_exchange(
            url=response.url,
            method=request.method,
            request_headers=_redacted(request_headers, job),
            request_body=request.body,
            status=response.status,
            reason=None,
            response_headers=_redacted(response_headers, job),
            body=body,
            ip_address=ip,
            protocol=(response.protocol or "").lower() or None,
        )
        job.exchanges += 1
        job.payload_bytes += len(body)
        job.note_request(request_headers)
        job.note_media(response.url, response_headers)
        if ip:
            job.servers[host] = ip
        if response.certificate is not None and host not in job.tls:
            cert = response.certificate
            # Twisted's handler gives a certificate object, the httpx one (SOCKS) DER bytes.
            pem = (ssl.DER_cert_to_PEM_cert(cert) if isinstance(cert, bytes)
                   else cert.dumpPEM().decode("ascii"))
            job.tls[host] = {
                "chain_pem": [pem],
                "note": "plain HTTP mode records the server's leaf certificate only",
            }
        if response.status >= 400:
            job.http_errors.append({"url": response.url, "status": response.status})
        if request.meta.get("isnad_depth") == 0 and not request.meta.get("requisite"):
            hop: dict[str, Any] = {"url": response.url, "status": response.status}
            if b"Location" in response.headers:
                hop["location"] = response.headers[b"Location"].decode("latin-1")
            job.redirect_chain.append(hop)
        job.progress()
        return response

    def process_exception(self, request: ScrapyRequest, exception: Exception, spider: Spider
                          ) -> None:
        job: CaptureJob = spider.job  # type: ignore[attr-defined]
        if not isinstance(exception, IgnoreRequest):
            job.failed_requests.append({"url": request.url, "error": _describe(exception)})


def _describe(exception: BaseException) -> str:
    text = str(exception) or type(exception).__name__
    return text.splitlines()[0][:300]


# The bodies of media elements' responses (a video the player fetches whole, a range) are
# streamed to a file as Chromium receives them, never held whole in memory: Playwright's
# body() would hand over the whole body at once, base64-encoded.


class _Spool:
    """A response body written to a temporary file as it arrives (DevTools
    ``Network.streamResourceContent``: the bytes buffered so far, then each chunk)."""

    def __init__(self, url: str, content_range: str, folder: Path, page: Page | None) -> None:
        self.url = url
        # Range requests of one video share its URL: the range tells their bodies apart.
        self.content_range = content_range
        self.page = page
        self.file = tempfile.NamedTemporaryFile(dir=folder, prefix=".spool-", delete=False)  # noqa: SIM115 - closed by close()
        self.size = 0
        self.ready = False  # the buffered bytes are written: chunks go straight to the file
        self.early: list[bytes] = []  # chunks that came before the buffered bytes
        self.done = asyncio.Event()  # loading finished or failed
        self.failed = False  # streaming could not be enabled: the body is not here

    def write(self, data: bytes) -> None:
        if self.ready:
            self.file.write(data)
            self.size += len(data)
        else:
            self.early.append(data)

    def start(self, buffered: bytes) -> None:
        self.ready = True
        self.write(buffered)
        for chunk in self.early:
            self.write(chunk)
        self.early.clear()

    def reader(self) -> BinaryIO:
        self.file.flush()
        return open(self.file.name, "rb")  # noqa: SIM115 - closed by the caller

    def close(self) -> None:
        self.file.close()
        Path(self.file.name).unlink(missing_ok=True)


class BrowserRecorder:
    """Records the traffic of one Playwright browser context (one capture)."""

    def __init__(self, job: CaptureJob) -> None:
        self.job = job
        self._pending: set[asyncio.Task[None]] = set()
        self._contexts: set[int] = set()
        self._refused: set[str] = set()
        self._cdp_sessions: list[Any] = []
        self._in_flight: dict[Request, Page | None] = {}
        self._judging: set[asyncio.Task[None]] = set()
        self._watched: dict[Page, asyncio.Future[None]] = {}  # page -> its DevTools session
        # DevTools ids of responses whose body is still arriving, by URL (per session), so a
        # body cut off at close can still be read as far as it arrived.
        self._receiving: dict[str, tuple[Any, str]] = {}
        self._arrived_bytes: dict[str, int] = {}  # DevTools id -> body bytes received so far
        self._spools: dict[str, _Spool] = {}  # DevTools id -> large or media body on disk
        self._session_pages: dict[int, Page] = {}  # DevTools session -> its page
        self._sessions: dict[Page, Any] = {}  # page -> its DevTools session
        # A player abandons requests as it goes (it seeks, retries with a range): those are
        # judged when its page closes, against what was recorded of the same URL.
        self._abandoned: list[tuple[Request, Page | None, str]] = []
        self._whole_media: set[str] = set()  # media URLs recorded whole (200, not truncated)
        # Requests recorded as cut off by drain(): a late "finished" must not record them twice.
        self._cut: set[Request] = set()
        # Pages that rendered an answer the guard refused after the fact: their snapshots
        # would show it.
        self._tainted: set[Page] = set()

    # -- wiring ---------------------------------------------------------------------------
    async def attach(self, page: Page, request: ScrapyRequest | None = None) -> None:
        """scrapy-playwright's page init callback: listen before the page navigates."""
        context = page.context
        if id(context) not in self._contexts:
            self._contexts.add(id(context))
            _RECORDERS[id(context)] = self
            context.once("close", lambda _ctx: _RECORDERS.pop(id(context), None))
            context.on("request", self._on_request)
            context.on("requestfinished", self._on_finished)
            context.on("requestfailed", self._on_failed)
            # WebSockets never reach the request hooks: each is judged here before it connects.
            await context.route_web_socket(re.compile(".*"), self._judge_websocket)
            # Windows the page opens itself have no scrapy-playwright route: the context's
            # route stands in for it (pages with their own route never fall back to it).
            await context.route("**", self._route_other_pages)
        await self._watch(page)

    async def session(self, page: Page) -> Any | None:
        """The DevTools session of ``page`` opened by :meth:`attach` (None: there is none,
        e.g. not Chromium), for the snapshots that ask Chromium directly (the thumbnail)."""
        watching = self._watched.get(page)
        if watching is not None:
            await watching
        return self._sessions.get(page)

    def _watch(self, page: Page) -> asyncio.Future[None]:
        """The DevTools session of ``page`` (opened once): protocols and TLS details, and
        every redirect hop judged before it is sent."""
        watching = self._watched.get(page)
        if watching is None:
            watching = self._watched[page] = asyncio.ensure_future(self._open_session(page))
            page.once("close", lambda closed: self._watched.pop(closed, None))
        return watching

    async def _open_session(self, page: Page) -> None:
        try:
            cdp = await page.context.new_cdp_session(page)
            self._session_pages[id(cdp)] = page
            self._sessions[page] = cdp
            await cdp.send("Network.enable")
            cdp.on("Network.responseReceived",
                   lambda params: self._on_cdp_response(params, cdp))
            cdp.on("Network.dataReceived", self._on_cdp_data)
            cdp.on("Network.loadingFinished", self._on_cdp_done)
            cdp.on("Network.loadingFailed", self._on_cdp_done)
            # Redirect hops never reach Playwright's route (the abort hook): they are
            # judged here, before they are sent.
            cdp.on("Fetch.requestPaused",
                   lambda event: self._spawn(self._judge_paused(cdp, event)))
            await cdp.send("Fetch.enable",
                           {"patterns": [{"urlPattern": "*", "requestStage": "Request"}]})
            self._cdp_sessions.append(cdp)
            page.once("close", lambda closed: self._forget(cdp, closed))
        except PlaywrightError as exc:  # not Chromium: protocol and TLS details unavailable
            self.job.warnings.append(f"no DevTools session for TLS details: {exc}")

    async def _route_other_pages(self, route: Route) -> None:
        """Requests of pages scrapy-playwright did not open (their own route never falls back
        here): windows the page opens, and workers."""
        request = route.request
        if request.is_navigation_request():
            # A window's navigation cannot be watched in time for its redirect hops (its
            # DevTools session comes too late), and a capture is of the page, not of the
            # windows it opens: they are not loaded, and the context says so.
            self._refused.add(request.url)
            self.job.warnings.append(f"a window the page opened was not loaded: {request.url}")
            await route.abort("blockedbyclient")
        elif await self.abort_request(request):
            await route.abort("blockedbyclient")
        else:
            await route.fallback()

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._judging.add(task)
        task.add_done_callback(self._judging.discard)

    def _forget(self, cdp: Any, page: Page) -> None:
        self._sessions.pop(page, None)
        if cdp in self._cdp_sessions:
            self._cdp_sessions.remove(cdp)

    async def abort_request(self, request: Request) -> bool:
        """PLAYWRIGHT_ABORT_REQUEST: refuse service traffic, private targets, over-cap loads."""
        url = request.url
        host = urlsplit(url).hostname or ""
        if host in BROWSER_SERVICE_HOSTS:
            self._refused.add(url)
            return True
        refusal = await self.job.guard.refusal(url)
        if refusal:
            self._refused.add(url)
            self.job.refused_requests.append({"url": url, "reason": refusal})
            return True
        if not url.startswith(("data:", "blob:")) and not self.job.room_for(0):
            self._refused.add(url)
            self.job.note_skipped(url, 0)
            return True
        return False

    async def _judge_websocket(self, websocket: WebSocketRoute) -> None:
        """Connect a page's WebSocket to its server, unless the guard refuses the address."""
        refusal = await self.job.guard.refusal(websocket.url)
        if refusal:
            self.job.refused_requests.append({"url": websocket.url, "reason": refusal})
            await websocket.close(code=1008, reason="refused by Isnad's SSRF guard")
            return
        websocket.connect_to_server()

    async def _judge_paused(self, cdp: Any, event: dict[str, Any]) -> None:
        """Let a paused request go on, unless it is a redirect hop the guard refuses."""
        url = event["request"]["url"]
        refusal = None
        if event.get("redirectedRequestId"):
            refusal = await self.job.guard.refusal(url)
        try:
            if refusal:
                self._refused.add(url)
                self.job.refused_requests.append({"url": url, "reason": refusal})
                await cdp.send("Fetch.failRequest", {"requestId": event["requestId"],
                                                     "errorReason": "BlockedByClient"})
            else:
                await cdp.send("Fetch.continueRequest", {"requestId": event["requestId"]})
        except PlaywrightError:
            pass  # the page was closed meanwhile: the request goes nowhere

    async def settle(self, timeout: float = 15.0) -> None:
        """Wait until every finished request has been written to the WARC."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=timeout)

    def _open(self, page: Page, *, players: bool = True) -> list[Request]:
        """Requests of ``page`` that have not finished (nor failed), recordable ones only
        (``players=False``: not those of media players, which hold their stream open)."""
        return [r for r, owner in self._in_flight.items()
                if owner is page and r.url not in self._refused
                and not r.url.startswith(("data:", "blob:"))
                and (players or r.resource_type != "media")]

    async def quiet(self, page: Page, timeout: float, idle: float = 0.5) -> bool:
        """True when no request of ``page`` but a media player's was in flight for ``idle``
        seconds within ``timeout`` (Playwright's "networkidle" counts a paused player's
        stream, which stays open for as long as the page does)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet_since = loop.time()
        while True:
            now = loop.time()
            if self._open(page, players=False):
                quiet_since = now
            elif now - quiet_since >= idle:
                return True
            if now >= deadline:
                return False
            await asyncio.sleep(0.05)

    async def drain(self, page: Page, timeout: float) -> None:
        """Before ``page`` closes: wait (at most ``timeout`` seconds) for its requests still
        in flight to finish, record every finished one, then record each response still
        arriving as far as it arrived, marked ``WARC-Truncated: time``.

        Closing first would lose them: Chromium hands over nothing of a closed page, and
        what the browser received must be in the WARC."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # A paused player's stream never ends by itself: it is not waited for.
        while self._open(page, players=False) and loop.time() < deadline:
            await asyncio.sleep(0.1)
        await self.settle(timeout=max(deadline - loop.time(), 0) + 15.0)
        for request in self._open(page):
            await self._record_cut_off(request, page, timeout)

    async def _record_cut_off(self, request: Request, page: Page, waited: float) -> None:
        """Record a response whose body had not all arrived when the page had to close."""
        try:
            response = await asyncio.wait_for(request.response(), 2.0)
        except (PlaywrightError, TimeoutError):
            response = None
        if response is None:
            return  # no answer yet: cut_off() reports it unfinished
        self._in_flight.pop(request, None)
        self._cut.add(request)
        try:
            spool = self._spooled(request.url, list((await response.all_headers()).items()),
                                  finished=False)
        except PlaywrightError:
            spool = None
        if spool is not None:  # streamed to disk as it arrived: all of it is there
            got: bytes | None = None
            arrived = size = spool.size
        else:
            got, arrived = await self._arrived(request.url)
            size = len(got)
        before = self.job.exchanges
        try:
            await asyncio.wait_for(self._record(request, page, response=response, body=got,
                                                truncated="time", spool=spool), 15.0)
        except TimeoutError:
            pass  # Chromium would not say more: reported below as unrecorded
        recorded = (f"{size} byte(s) recorded with WARC-Truncated: time"
                    if self.job.exchanges > before else "not recorded")
        if arrived > size:  # the browser received more than it would hand over
            recorded += f" ({arrived} had arrived; Chromium keeps no copy of this kind's body)"
        player = request.resource_type == "media"
        if player and request.url in self._whole_media and self.job.exchanges > before:
            self.job.warnings.append(
                f"a media player stream of {request.url} was cut off after {waited:g}s "
                f"({recorded}); the same URL is recorded whole")
            return
        entry = {"url": request.url,
                 "error": (f"cut off: {'a media player stream' if player else 'still arriving'}"
                           f" after {waited:g}s (drain_timeout); {recorded}")}
        if player:
            # The whole item's length, so a media route's complete copy can be matched to it.
            entry["player_stream"] = str(await _full_length(response) or "")
        self.job.failed_requests.append(entry)

    async def _arrived(self, url: str) -> tuple[bytes, int]:
        """What Chromium hands over of the response to ``url`` still arriving (DevTools
        ``Network.streamResourceContent``: the bytes it buffered, which it does for fetch()
        and XHR, not for images or media), and how many body bytes had arrived."""
        for request_id, (cdp, seen) in list(self._receiving.items()):
            if seen != url:
                continue
            arrived = self._arrived_bytes.pop(request_id, 0)
            self._receiving.pop(request_id, None)
            try:
                result = await asyncio.wait_for(
                    cdp.send("Network.streamResourceContent", {"requestId": request_id}), 5.0)
            except (PlaywrightError, TimeoutError):
                return b"", arrived
            return base64.b64decode(result.get("bufferedData", "")), arrived
        return b"", 0

    async def tls_chains(self, page: Page) -> None:
        """Ask Chromium for the certificate chain of every HTTPS origin recorded."""
        if not self._cdp_sessions:
            return
        cdp = self._cdp_sessions[-1]
        for host, info in list(self.job.tls.items()):
            if "chain_pem" in info or not info.get("origin"):
                continue
            try:
                result = await cdp.send("Network.getCertificate", {"origin": info["origin"]})
            except PlaywrightError as exc:
                info["chain_error"] = str(exc).splitlines()[0]
                continue
            info["chain_pem"] = [_der_to_pem(der) for der in result.get("tableNames", [])]
            self.job.tls[host] = info

    # -- events ---------------------------------------------------------------------------
    def _on_cdp_data(self, params: dict[str, Any]) -> None:
        request_id = params.get("requestId", "")
        spool = self._spools.get(request_id)
        if spool is not None and params.get("data"):
            spool.write(base64.b64decode(params["data"]))
        if request_id in self._receiving:
            self._arrived_bytes[request_id] = (self._arrived_bytes.get(request_id, 0)
                                               + int(params.get("dataLength", 0)))

    def _on_cdp_done(self, params: dict[str, Any]) -> None:
        spool = self._spools.get(params.get("requestId", ""))
        if spool is not None:
            spool.done.set()
        self._receiving.pop(params.get("requestId", ""), None)
        self._arrived_bytes.pop(params.get("requestId", ""), None)

    async def _start_spool(self, cdp: Any, request_id: str, spool: _Spool) -> None:
        try:
            result = await cdp.send("Network.streamResourceContent", {"requestId": request_id})
        except PlaywrightError:  # finished already (small or fast): body() hands it over
            spool.failed = True
            spool.done.set()
            return
        spool.start(base64.b64decode(result.get("bufferedData", "")))

    def _spooled(self, url: str, headers: list[tuple[str, str]], *, finished: bool
                 ) -> _Spool | None:
        """The spool of the response to ``url`` with these headers (taken: each is recorded
        once). A player may have several requests of one URL open: a finished response
        takes a spool whose loading finished (of its declared length), a cut-off one a
        spool still receiving."""
        content_range = next((v for k, v in headers if k.lower() == "content-range"), "")
        declared = _content_length(headers)
        candidates = [(request_id, spool) for request_id, spool in self._spools.items()
                      if spool.url == url and spool.content_range == content_range]
        if not candidates:
            return None

        def fit(item: tuple[str, _Spool]) -> tuple[bool, bool]:
            spool = item[1]
            return (spool.done.is_set() == finished,
                    finished and declared > 0 and spool.size == declared)

        request_id, spool = max(candidates, key=fit)
        del self._spools[request_id]
        if spool.failed:
            spool.close()
            return None
        return spool

    def _on_cdp_response(self, params: dict[str, Any], cdp: Any = None) -> None:
        response = params.get("response", {})
        url = response.get("url", "")
        if cdp is not None and params.get("requestId"):
            self._receiving[params["requestId"]] = (cdp, url)
            # Chromium hands over the chunks of a media element's responses as they arrive
            # (not those of fetch() or XHR, which it keeps whole for body() instead).
            if params.get("type") == "Media" and url.startswith(("http:", "https:")):
                spool = self._spools[params["requestId"]] = _Spool(
                    url, str(_lower(response.get("headers", {})).get("content-range", "")),
                    self.job.warc.path.parent, self._session_pages.get(id(cdp)))
                self._spawn(self._start_spool(cdp, params["requestId"], spool))
        if response.get("protocol"):
            self.job.protocols[url] = response["protocol"]
        details = response.get("securityDetails")
        parts = urlsplit(url)
        host = parts.hostname or ""
        if details and host not in self.job.tls:
            self.job.tls[host] = {
                "origin": f"{parts.scheme}://{parts.netloc}",
                "protocol": details.get("protocol"),
                "cipher": details.get("cipher"),
                "subject": details.get("subjectName"),
                "issuer": details.get("issuer"),
                "valid_from": _epoch(details.get("validFrom")),
                "valid_to": _epoch(details.get("validTo")),
                "san": details.get("sanList", []),
            }

    def _on_request(self, request: Request) -> None:
        try:
            page = request.frame.page
        except PlaywrightError:
            page = None
        self._in_flight[request] = page

    def cut_off(self, page: Page) -> None:
        """Requests of a closed page that never finished: they failed, say so."""
        for abandoned in [a for a in self._abandoned if a[1] is page or a[1] is None]:
            self._abandoned.remove(abandoned)
            request, _, failure = abandoned
            if request.url in self._whole_media:
                self.job.warnings.append(
                    f"the media player abandoned a request for {request.url} ({failure}); "
                    "the same URL is recorded whole")
            else:
                self.job.failed_requests.append({"url": request.url, "error": failure})
        for request_id, spool in list(self._spools.items()):
            if spool.page is page:  # bodies nothing was recorded for (a failed request)
                del self._spools[request_id]
                spool.close()
        for request, owner in list(self._in_flight.items()):
            if owner is page:
                del self._in_flight[request]
                if request.url not in self._refused and not request.url.startswith(
                        ("data:", "blob:")):
                    self.job.failed_requests.append(
                        {"url": request.url, "error": "unfinished when the page was closed"})

    def tainted(self, page: Page) -> bool:
        """Did ``page`` load an answer from an address the guard refuses?"""
        return page in self._tainted

    def _on_finished(self, request: Request) -> None:
        if request in self._cut:
            return  # recorded as cut off already
        page = self._in_flight.pop(request, None)
        task = asyncio.ensure_future(self._record(request, page))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _on_failed(self, request: Request) -> None:
        if self._in_flight.pop(request, "gone") == "gone":
            return  # already reported by cut_off()
        if request.url in self._refused or request.url.startswith(("data:", "blob:")):
            return
        failure = request.failure or "?"
        if request.resource_type == "media" and "ERR_ABORTED" in failure:
            self._abandoned.append((request, self._page_of(request), failure))
            return
        self.job.failed_requests.append({"url": request.url, "error": failure})

    @staticmethod
    def _page_of(request: Request) -> Page | None:
        try:
            return request.frame.page
        except PlaywrightError:
            return None

    async def _record(self, request: Request, page: Page | None = None, *,
                      response: Response | None = None, body: bytes | None = None,
                      truncated: str | None = None, spool: _Spool | None = None) -> None:
        """Write ``request`` and its response to the WARC (``body`` given: the response was
        cut off, and that is what arrived of it)."""
        url = request.url
        if url.startswith(("data:", "blob:")):
            return
        taken: list[_Spool] = [spool] if spool is not None else []
        try:
            await self._write(request, page, response, body, truncated, taken)
        finally:
            for each in taken:
                each.close()

    async def _write(self, request: Request, page: Page | None, response: Response | None,
                     body: bytes | None, truncated: str | None, taken: list[_Spool]) -> None:
        job = self.job
        url = request.url
        spool = taken[0] if taken else None
        try:
            if response is None:
                response = await request.response()
            if response is None:
                return
            headers = [(h["name"], h["value"]) for h in await response.headers_array()]
            if spool is None and body is None:
                spool = self._spooled(url, headers, finished=truncated is None)
                if spool is not None:
                    taken.append(spool)
            declared = _content_length(headers)
            if not job.room_for(declared if body is None else len(body)):
                job.note_skipped(url, declared)
                return
            status = response.status
            if body is not None:
                pass
            elif spool is not None and truncated is None:
                # Chromium's last chunk may still be on its way.
                await asyncio.wait_for(spool.done.wait(), 30.0)
                if spool.failed or (declared > 0 and spool.size != declared):
                    # Not streamed after all (or not all of it): the browser's copy is
                    # the one to record, never a body of the wrong length.
                    spool = None  # closed by _record (taken)
                    body = await self._body(response, declared)
                    if body is None:
                        body, truncated = b"", "length"
            elif spool is not None:
                pass  # cut off: what arrived is in the spool
            elif (300 <= status < 400) or request.method == "HEAD":
                body = b""
            else:
                body = await self._body(response, declared)
                if body is None:
                    body, truncated = b"", "length"
            length = spool.size if spool is not None and body is None else len(body or b"")
            if not job.room_for(length):
                job.note_skipped(url, length)
                return
            request_headers = [(h["name"], h["value"]) for h in await request.headers_array()]
            server = await response.server_addr()
            ip = server["ipAddress"] if server else None
        except PlaywrightError as exc:
            job.failed_requests.append({"url": url, "error": f"not recorded: {exc}"[:300]})
            return
        except TimeoutError:
            job.failed_requests.append({"url": url, "error": "not recorded: Chromium did not "
                                        "say when the body ended"})
            return
        refusal = job.guard.connected_refusal(url, ip)
        if refusal:  # Chromium resolved the name itself, or DNS answered differently
            job.refused_requests.append({"url": url, "reason": refusal})
            if page is not None:
                self._tainted.add(page)
            return
        reader = None
        if spool is not None and body is None:
            # A stream cut off still receives chunks (until its page closes): what the file
            # holds now is what is recorded, read without a pause in between.
            reader = spool.reader()
            length = spool.size
        try:
            self._write_exchange(request, response, headers, request_headers, status, ip,
                                 body if body is not None else reader, length, truncated)
        finally:
            if reader is not None:
                reader.close()
        job.exchanges += 1
        job.payload_bytes += length
        if (request.resource_type == "media" and status == 200 and truncated is None
                and declared in (0, length)):
            self._whole_media.add(url)
        self._noted(request, headers, request_headers, status, ip)

    async def _body(self, response: Response, declared: int) -> bytes | None:
        """The body Chromium kept, or None when it declared one and kept none (over its
        buffer for page bodies): recorded empty, with ``WARC-Truncated: length``, and
        listed, never as if the body were empty."""
        try:
            return await response.body()
        except PlaywrightError as exc:
            if declared <= 0:
                return b""  # none to keep (a 204, an empty answer, an aborted stream)
            self.job.failed_requests.append({
                "url": response.url,
                "error": f"body of {declared} byte(s) not handed over by Chromium "
                         f"({_first_line(exc)}); recorded with WARC-Truncated: length"})
            return None

    def _write_exchange(self, request: Request, response: Response,
                        headers: list[tuple[str, str]], request_headers: list[tuple[str, str]],
                        status: int, ip: str | None, body: bytes | BinaryIO | None,
                        length: int, truncated: str | None) -> None:
        job = self.job
        url = request.url
        job.warc.write_exchange(
            url=url,
            method=request.method,
            request_headers=_redacted(request_headers, job),
            request_body=request.post_data_buffer,
            status=status,
            reason=response.status_text,
            response_headers=_redacted(headers, job),
            body=body if body is not None else b"",
            body_length=length,
            date=datetime.now(UTC),
            ip_address=ip,
            protocol=job.protocols.get(url),
            body_decoded=True,
            truncated=truncated,
        )

    def _noted(self, request: Request, headers: list[tuple[str, str]],
               request_headers: list[tuple[str, str]], status: int, ip: str | None) -> None:
        """What an exchange recorded tells the capture."""
        job = self.job
        url = request.url
        job.note_request(request_headers)
        job.note_media(url, headers)
        host = urlsplit(url).hostname or ""
        if ip:
            job.servers[host] = ip
        if status >= 400:
            job.http_errors.append({"url": url, "status": status})
        if request.is_navigation_request() and request.frame.parent_frame is None:
            entry: dict[str, Any] = {"url": url, "status": status}
            location = dict((n.lower(), v) for n, v in headers).get("location")
            if location:
                entry["location"] = location
            job.redirect_chain.append(entry)
        job.progress()


# Browser context -> its capture's recorder, for the abort hook, which Scrapy settings cannot
# carry as a bound method (settings are deep-copied).
_RECORDERS: dict[int, BrowserRecorder] = {}


async def abort_request(request: Request) -> bool:
    """PLAYWRIGHT_ABORT_REQUEST hook: ask the recorder of the request's browser context."""
    try:
        recorder = _RECORDERS.get(id(request.frame.page.context))
    except PlaywrightError:
        recorder = None
    if recorder is None and len(_RECORDERS) == 1:
        recorder = next(iter(_RECORDERS.values()))
    if recorder is None:
        # Unknown origin (e.g. a worker): refuse rather than risk an unguarded request.
        return True
    return await recorder.abort_request(request)


async def _full_length(response: Response) -> int | None:
    """The length of the whole resource a response is part of: the total of its
    ``Content-Range`` (a 206 range), else its ``Content-Length`` (a 200)."""
    try:
        headers = {k.lower(): v for k, v in (await response.all_headers()).items()}
    except PlaywrightError:
        return None
    match = re.fullmatch(r"\s*bytes\s+(?:\d+-\d+|\*)/(\d+)\s*",
                         headers.get("content-range", ""))
    if match:
        return int(match.group(1))
    if response.status == 200 and headers.get("content-length", "").isdigit():
        return int(headers["content-length"])
    return None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def _lower(headers: dict[str, Any]) -> dict[str, Any]:
    return {name.lower(): value for name, value in headers.items()}


def _content_length(headers: list[tuple[str, str]]) -> int:
    for name, value in headers:
        if name.lower() == "content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def _epoch(value: float | None) -> str | None:
    if value is None:
        return None
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _der_to_pem(der_b64: str) -> str:
    text = base64.b64encode(base64.b64decode(der_b64)).decode("ascii")
    lines = "\n".join(text[i:i + 64] for i in range(0, len(text), 64))  # RFC 7468 width
    return f"-----BEGIN CERTIFICATE-----\n{lines}\n-----END CERTIFICATE-----\n"


# Credentials for the proxy are Isnad's, never the page's: always kept out of the records.
ALWAYS_REDACTED = frozenset({"proxy-authorization"})


def _redacted(pairs: list[tuple[str, str]], job: CaptureJob) -> list[tuple[str, str]]:
    """Request headers with the values of secret ones (the capture's own credentials: Cookie,
    Authorization, Proxy-Authorization) replaced: the name stays, so the record says a secret
    was sent."""
    secret = ALWAYS_REDACTED | {name.lower() for name in job.redact_headers}
    return [(k, REDACTED if k.lower() in secret else v) for k, v in pairs]
