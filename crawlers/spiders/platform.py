"""The platform spider: reads a post (or lists a channel) through a platform module.

Every request goes through Scrapy's downloader, so the SSRF guard applies and every API or
page response is recorded in the capture's WARC, raw, beside the page capture that follows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy.http import Request

from crawlers.job import CaptureJob
from crawlers.platforms.base import Fetched, PlatformError


class PlatformSpider(scrapy.Spider):
    name = "platform"

    def __init__(self, job: CaptureJob, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job = job

    async def start(self) -> AsyncIterator[Request]:
        job = self.job
        platform, target = job.platform
        try:
            if target.kind == "channel":
                listing = await platform.list_posts(target, self.fetch, job.list_limit)
                job.post_refs = [ref.__dict__ for ref in listing.refs]
                job.listing_notes = list(listing.notes)
                job.listing_info = list(listing.info)
            else:
                job.post = (await platform.extract_post(target, self.fetch)).to_dict()
        except PlatformError as exc:
            job.platform_error = str(exc)
        except Exception as exc:  # noqa: BLE001 - an extractor bug must not lose the capture
            job.platform_error = f"extractor error: {type(exc).__name__}: {exc}"
        return
        yield  # an async generator that schedules nothing itself

    async def fetch(self, url: str, headers: dict[str, str] | None = None, *,
                    method: str = "GET", body: bytes | str | None = None) -> Fetched:
        sent = {**self._session_headers(url), **(headers or {})}
        # Only downloader middlewares apply here, so every status comes back as an answer;
        # redirects are followed by Scrapy's RedirectMiddleware (each hop recorded, and
        # checked by the SSRF guard), and ``Fetched.url`` is where they led.
        request = Request(url, method=method, headers=sent, body=body, dont_filter=True,
                          meta={"dont_merge_cookies": True})
        try:
            response = await self.crawler.engine.download_async(request)
        except Exception as exc:  # noqa: BLE001 - network errors become the extractor's
            raise PlatformError(f"cannot fetch {url}: {exc}") from exc
        headers_out = {k.decode("latin-1").lower(): v[0].decode("latin-1")
                       for k, v in response.headers.items() if v}
        return Fetched(response.url, response.status, headers_out, response.body)

    def _session_headers(self, url: str) -> dict[str, str]:
        """The configured session, sent only to the hosts it belongs to."""
        job = self.job
        host = urlsplit(url).hostname or ""
        platform, target = job.platform
        own_hosts = platform.session_hosts() | {urlsplit(target.url).hostname}
        headers = dict(job.platform_headers) if host in own_hosts else {}
        cookies = [f"{c['name']}={c['value']}" for c in job.browser_cookies
                   if host == c["domain"].lstrip(".") or host.endswith(
                       "." + c["domain"].lstrip("."))]
        if cookies:
            headers["Cookie"] = "; ".join(cookies)
        return headers
