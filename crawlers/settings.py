"""Scrapy settings for a capture: every component wired here, by settings, in one place."""

from __future__ import annotations

from typing import Any

from crawlers.job import CaptureJob

ASYNCIO_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"

# Chromium is quiet: no sign-in, sync, update, safe-browsing or metrics traffic. That traffic
# would not be recorded anyway (recording listens to the capture's pages only), but it must not
# leave the machine while evidence is collected either.
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-breakpad",
    "--no-first-run",
    "--no-pings",
    "--no-default-browser-check",
    "--metrics-recording-only",
    "--safebrowsing-disable-auto-update",
    "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication,"
    "CertificateTransparencyComponentUpdater,InterestFeedContentSuggestions",
    "--disable-gpu",
    "--hide-scrollbars",
    "--mute-audio",
]


def crawl_settings(job: CaptureJob, *, executable_path: str, headless: bool, log_level: str,
                   extra_args: list[str] | None = None, browser: bool | None = None
                   ) -> dict[str, Any]:
    """The Scrapy settings of one capture's crawl (``browser=False``: plain HTTP, as the
    platform spider's API requests are made)."""
    limits = job.limits
    settings: dict[str, Any] = {
        "TWISTED_REACTOR": ASYNCIO_REACTOR,
        "LOG_LEVEL": log_level,
        "LOG_ENABLED": log_level == "DEBUG",
        "TELNETCONSOLE_ENABLED": False,
        # Evidence is taken as a person sees it; robots.txt is for indexing crawlers.
        "ROBOTSTXT_OBEY": False,
        "RETRY_ENABLED": False,
        "HTTPERROR_ALLOW_ALL": True,
        # Scrapy starts this many asyncio workers per response to process its output; a page
        # yields a handful of items and requests, so a few suffice (the default 100 costs
        # more than the crawl itself on a static site).
        "CONCURRENT_ITEMS": 4,
        "DOWNLOAD_TIMEOUT": limits.page_timeout,
        "DOWNLOAD_MAXSIZE": limits.max_bytes,
        "DOWNLOAD_WARNSIZE": 0,
        "CLOSESPIDER_TIMEOUT": limits.total_timeout,
        "DEPTH_LIMIT": limits.depth,
        "REQUEST_FINGERPRINTER_IMPLEMENTATION": "2.7",
        "ITEM_PIPELINES": {"crawlers.pipelines.CapturePagesPipeline": 100},
        "EXTENSIONS": {"scrapy.extensions.closespider.CloseSpider": 0},
    }
    if limits.user_agent:
        settings["USER_AGENT"] = limits.user_agent
    if job.use_browser if browser is None else browser:
        handler = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"
        settings.update({
            "DOWNLOAD_HANDLERS": {"http": handler, "https": handler},
            "CONCURRENT_REQUESTS": 4,
            "PLAYWRIGHT_BROWSER_TYPE": "chromium",
            "PLAYWRIGHT_LAUNCH_OPTIONS": {
                "executable_path": executable_path,
                "headless": headless,
                "args": CHROMIUM_ARGS + list(extra_args or []),
            },
            "PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT": limits.page_timeout * 1000,
            "PLAYWRIGHT_ABORT_REQUEST": "crawlers.recording.abort_request",
            "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": 4,
            "DOWNLOADER_MIDDLEWARES": {"crawlers.middlewares.BrowserPageMiddleware": 950},
        })
    else:
        settings.update({
            # Verify certificates against the system's trust roots, as a browser does
            # (Scrapy's default accepts any certificate).
            "DOWNLOADER_CLIENTCONTEXTFACTORY":
                "scrapy.core.downloader.contextfactory.BrowserLikeContextFactory",
            "CONCURRENT_REQUESTS": 16,
            "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
            **_socks_handler(job.proxy),
            # Next to the downloader: raw bytes as received, before decompression and redirects.
            "DOWNLOADER_MIDDLEWARES": {
                "crawlers.recording.ProxyMiddleware": 700,
                "crawlers.recording.NetGuardMiddleware": 940,
                "crawlers.recording.HttpRecordingMiddleware": 950,
            },
        })
    return settings


def _socks_handler(proxy: str | None) -> dict[str, Any]:
    """Scrapy's default (Twisted) handler speaks HTTP proxies only. For a SOCKS proxy (Tor,
    typically) plain-HTTP requests go through Scrapy's own httpx handler, which speaks SOCKS5
    and also hands over the body as received (raw), so recording is unchanged. Nothing is
    ever sent around a configured proxy."""
    if not proxy or not proxy.lower().startswith("socks"):
        return {}
    handler = "scrapy.core.downloader.handlers._httpx.HttpxDownloadHandler"
    return {"DOWNLOAD_HANDLERS": {"http": handler, "https": handler},
            # The httpx handler verifies certificates against the system's roots when asked.
            "DOWNLOAD_VERIFY_CERTIFICATES": True}
