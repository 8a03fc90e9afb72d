"""Scrapy settings for a capture: every component wired here, by settings, in one place."""

from __future__ import annotations

import functools
import logging
import re
import subprocess
from typing import Any

from crawlers.job import CaptureJob

log = logging.getLogger(__name__)

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
    "CertificateTransparencyComponentUpdater,InterestFeedContentSuggestions,"
    "IsolateOrigins,site-per-process",
    # Every frame in the page's own renderer and DevTools target: a cross-site frame in a
    # process of its own is a target the recorder's DevTools session does not see, so the
    # redirect hops of its requests (which Playwright's routes never see) went unjudged by
    # the SSRF guard (tests/test_ssrf.py::test_a_redirect_inside_a_cross_site_frame_is_refused).
    "--disable-site-isolation-trials",
    "--disable-gpu",
    "--hide-scrollbars",
    "--mute-audio",
]


# The agent a desktop Chrome on Linux sends (Chrome's reduced form: major version only). Headless
# Chromium says "HeadlessChrome", which many sites block or answer with other content; an
# investigator wants the page a person sees, so this is the default (``capture.user_agent``
# replaces it). Whatever is sent is recorded: in each WARC request record, in warcinfo and in
# the capture context.
DESKTOP_AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/{major}.0.0.0 Safari/537.36")
# Used when the browser's version cannot be read (no Chromium at all, e.g. HTTP mode only).
FALLBACK_MAJOR = "156"


@functools.cache
def chromium_version(executable_path: str) -> str | None:
    """The version of the Chromium at ``executable_path`` (``chromium --version``), or None."""
    try:
        out = subprocess.run([executable_path, "--version"], capture_output=True, text=True,
                             timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\b(\d+\.\d+\.\d+\.\d+)\b", out)
    return match.group(1) if match else None


def default_user_agent(executable_path: str) -> str:
    """The agent sent when none is configured: desktop Chrome of the installed Chromium's
    version (so the browser's other signals, such as its features, agree with it)."""
    version = chromium_version(executable_path)
    if version is None:
        log.warning("cannot read the version of %s; the user agent names Chrome %s",
                    executable_path, FALLBACK_MAJOR)
    return DESKTOP_AGENT.format(major=(version or FALLBACK_MAJOR).split(".")[0])


# Scrapy extensions a capture never runs: a code-running HTTP server, a telnet console; and
# Scrapy's crawl statistics, which nothing of a capture reads (what a capture did is in its
# WARC, its job and its custody log) and which cost CPU on every request and response.
UNWANTED_EXTENSIONS = ("scrapy.extensions.remote_control.RemoteControl",
                       "scrapy.extensions.telnet.TelnetConsole",
                       "scrapy.extensions.corestats.CoreStats",
                       "scrapy.extensions.logstats.LogStats")


def crawl_settings(job: CaptureJob, *, executable_path: str, headless: bool, log_level: str,
                   extra_args: list[str] | None = None, browser: bool | None = None
                   ) -> dict[str, Any]:
    """The Scrapy settings of one capture's crawl (``browser=False``: plain HTTP, as the
    platform spider's API requests are made)."""
    from scrapy.settings.default_settings import EXTENSIONS_BASE

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
        # Never loaded, not merely disabled: Scrapy 2.19's RemoteControl, on by default, serves
        # on 127.0.0.1 an HTTP endpoint that runs any Python code it is sent inside the capture
        # process (its token in a file under ~/.local/state/scrapy): nothing may change a
        # capture in flight. Left out of the base list, since Scrapy imports every class an
        # EXTENSIONS key names (even one set to None), and importing it loads aiohttp's server.
        "EXTENSIONS_BASE": {path: order for path, order in EXTENSIONS_BASE.items()
                            if path not in UNWANTED_EXTENSIONS},
        "EXTENSIONS": {"scrapy.extensions.closespider.CloseSpider": 0},
        "REMOTE_CONTROL_ENABLED": False,
        # No statistics (see UNWANTED_EXTENSIONS): counters nobody reads, kept per request.
        "STATS_CLASS": "scrapy.statscollectors.DummyStatsCollector",
        "DOWNLOADER_STATS": False,
        "LOGSTATS_INTERVAL": 0,
        # Scrapy checks each response's callback for a generator returning a value by reading
        # its source and parsing it (inspect + ast) on every response: its cache is keyed by
        # the bound method, made anew for each request. Our spiders' callbacks are checked
        # once, in the tests (tests/test_crawl_settings.py).
        "WARN_ON_GENERATOR_RETURN_VALUE": False,
    }
    # One agent for every request of a capture, browser or plain HTTP (platform readers too).
    settings["USER_AGENT"] = limits.user_agent or default_user_agent(executable_path)
    if job.use_browser if browser is None else browser:
        handler = "crawlers.playwright_handler.CaptureDownloadHandler"
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
            # scrapy-playwright's default replaces the browser's headers with Scrapy's (its
            # agent "Scrapy/x.y", Accept, Accept-Language...): the server then sees a crawler
            # and the WARC contradicts the browser. Chromium sends its own headers; the agent
            # is set on the browser context (BrowserPageMiddleware).
            "PLAYWRIGHT_PROCESS_REQUEST_HEADERS": None,
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
                # The spiders name no allowed_domains (the scope is theirs, crawlers.job):
                # Scrapy's offsite filter would match every request against an empty rule.
                "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
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
