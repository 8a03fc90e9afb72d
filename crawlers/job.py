"""What a crawl is asked to do, and what it found on the way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from archiver.warcwriter import CaptureWarc
from crawlers.netguard import HostGuard

# Chromium's own service traffic: never part of a page, never recorded, always refused.
BROWSER_SERVICE_HOSTS = (
    "clients1.google.com", "clients2.google.com", "clients4.google.com",
    "clientservices.googleapis.com", "update.googleapis.com", "safebrowsing.googleapis.com",
    "sb-ssl.google.com", "optimizationguide-pa.googleapis.com", "accounts.google.com",
    "content-autofill.googleapis.com", "android.clients.google.com",
)


@dataclass
class CaptureLimits:
    page_timeout: float
    total_timeout: float
    max_bytes: int
    max_resources: int
    max_pages: int
    depth: int
    scope: str
    scroll_step_px: int
    scroll_max_steps: int
    scroll_pause: float
    network_idle_timeout: float
    viewport_width: int
    viewport_height: int
    user_agent: str | None
    screenshot: bool
    pdf: bool
    paper: str = "A4"  # the page PDF's paper size (Playwright's format names)
    scroll_max_height: int = 100_000  # px scrolled at most (0: no bound)
    scroll_timeout: float = 60.0  # seconds of scrolling at most (0: no bound)
    drain_timeout: float = 10.0  # seconds for bodies still arriving before a page closes
    processes: int = 1  # processes that read the pages of one crawl together (site split)


@dataclass
class CaptureJob:
    """One capture for the crawler: where to write, what limits, and what it observed."""

    url: str
    warc: CaptureWarc
    limits: CaptureLimits
    use_browser: bool
    guard: HostGuard
    on_progress: Callable[[CaptureJob], None] | None = None
    capture_id: str = ""

    # What the crawl observed.
    pages: list[dict[str, Any]] = field(default_factory=list)
    exchanges: int = 0
    payload_bytes: int = 0
    servers: dict[str, str] = field(default_factory=dict)
    tls: dict[str, dict[str, Any]] = field(default_factory=dict)
    protocols: dict[str, str] = field(default_factory=dict)
    redirect_chain: list[dict[str, Any]] = field(default_factory=list)
    failed_requests: list[dict[str, str]] = field(default_factory=list)
    refused_requests: list[dict[str, str]] = field(default_factory=list)
    http_errors: list[dict[str, Any]] = field(default_factory=list)
    skipped_for_limits: list[dict[str, str]] = field(default_factory=list)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    media_urls: list[str] = field(default_factory=list)  # video/audio the page loaded
    # What the seed page's HTML showed of media (see note_page_media): whether yt-dlp runs.
    page_media: dict[str, Any] = field(default_factory=dict)
    # Platform capture: (Platform, Target) when the URL is a known platform's.
    platform: tuple[Any, Any] | None = None
    platform_headers: dict[str, str] = field(default_factory=dict)
    list_limit: int = 20
    post: dict[str, Any] | None = None
    post_refs: list[dict[str, Any]] | None = None
    listing_notes: list[str] = field(default_factory=list)  # what the listing could not do
    listing_info: list[str] = field(default_factory=list)  # what it did by design (feeds)
    platform_error: str | None = None
    redact_headers: tuple[str, ...] = ()  # header values kept out of the WARC (secrets)
    browser_cookies: list[dict[str, Any]] = field(default_factory=list)
    proxy: str | None = None
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    software: dict[str, str] = field(default_factory=dict)
    user_agent: str | None = None  # the agent the page's scripts saw (navigator.userAgent)
    # Each User-Agent value sent, as recorded in the WARC's request records, with its count.
    user_agents_sent: dict[str, int] = field(default_factory=dict)
    close_reason: str | None = None

    def note_media(self, url: str, headers: list[tuple[str, str]]) -> None:
        """Remember a video or audio response: yt-dlp fetches it whole after the crawl."""
        content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
        if content_type.lower().startswith(("video/", "audio/")) and url not in self.media_urls:
            self.media_urls.append(url)

    def note_page_media(self, videos: int, audios: int, embeds: list[str]) -> None:
        """Remember the seed page's <video>/<audio> elements and the URLs its frames and
        embedded objects load (a player from a media host)."""
        self.page_media = {"video_elements": videos, "audio_elements": audios,
                           "embeds": list(dict.fromkeys(embeds))[:50]}

    def note_request(self, headers: list[tuple[str, str]]) -> None:
        """Count the User-Agent of a recorded request ("" when none was sent)."""
        agent = next((v for k, v in headers if k.lower() == "user-agent"), "")
        self.user_agents_sent[agent] = self.user_agents_sent.get(agent, 0) + 1

    def add_reason(self, reason: str) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)

    def progress(self) -> None:
        if self.on_progress:
            self.on_progress(self)

    def in_scope(self, url: str) -> bool:
        """Is a link inside the capture's scope (page, host or domain of the first URL)?"""
        seed = urlsplit(self.url)
        other = urlsplit(url)
        if other.scheme not in ("http", "https"):
            return False
        if self.limits.scope == "page":
            return False
        if self.limits.scope == "host":
            return other.netloc == seed.netloc
        seed_host = (seed.hostname or "").removeprefix("www.")
        host = other.hostname or ""
        return host == seed_host or host.endswith("." + seed_host)

    def room_for(self, size: int) -> bool:
        """May one more exchange of ``size`` payload bytes be recorded?"""
        return (
            self.exchanges < self.limits.max_resources
            and self.payload_bytes + size <= self.limits.max_bytes
        )

    def note_skipped(self, url: str, size: int) -> None:
        if self.exchanges >= self.limits.max_resources:
            self.add_reason(f"resource cap reached ({self.limits.max_resources} exchanges)")
            why = "max_resources"
        else:
            self.add_reason(f"size cap reached ({self.limits.max_bytes} bytes)")
            why = "max_bytes"
        self.skipped_for_limits.append({"url": url, "bytes": str(size), "limit": why})


# Chromium's network error codes, in words a user can act on.
_NET_ERRORS = {
    "ERR_NAME_NOT_RESOLVED": "DNS lookup failed: the host name does not resolve",
    "ERR_NAME_RESOLUTION_FAILED": "DNS lookup failed",
    "ERR_CONNECTION_REFUSED": "connection refused: nothing is listening at that address",
    "ERR_CONNECTION_RESET": "the connection was reset by the server",
    "ERR_CONNECTION_CLOSED": "the server closed the connection without answering",
    "ERR_CONNECTION_TIMED_OUT": "the connection timed out",
    "ERR_TIMED_OUT": "the request timed out",
    "ERR_ADDRESS_UNREACHABLE": "the address is unreachable",
    "ERR_INTERNET_DISCONNECTED": "no network connection",
    "ERR_SSL_PROTOCOL_ERROR": "TLS handshake failed",
    "ERR_CERT_AUTHORITY_INVALID": "TLS error: the certificate is not signed by a trusted authority",
    "ERR_CERT_COMMON_NAME_INVALID": "TLS error: the certificate is for another host name",
    "ERR_CERT_DATE_INVALID": "TLS error: the certificate has expired or is not yet valid",
    "ERR_BLOCKED_BY_CLIENT": "refused by Isnad's guard",
    "ERR_FAILED": "the request was refused or failed",
}


def explain_error(message: str) -> str:
    """Turn a Playwright/Twisted error text into one clear line."""
    for code, words in _NET_ERRORS.items():
        if code in message:
            url = message.split(" at ", 1)[1].strip() if " at " in message else ""
            return f"{words} ({code}{', ' + url if url else ''})"
    if "certificate verify failed" in message:
        return f"TLS error: the certificate could not be verified ({message})"
    if "Timeout" in message and "exceeded" in message:
        return f"the page did not load in time: {message}"
    return message
