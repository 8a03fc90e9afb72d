"""What every platform module provides: URL matching, post extraction, channel listing.

A platform module is pure parsing and request planning around an injected ``fetch``: the
crawler passes a fetch that goes through Scrapy (so every API or page response is recorded in
the capture's WARC, with the SSRF guard), tests may pass a plain one. Nothing here knows Scrapy.

The normalized :class:`Post` is what investigators search and compare: the same fields for
every platform, text exactly as published (UTF-8; Arabic and other RTL scripts untouched).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Collection, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from archiver.errors import IsnadError

# What a post page can turn out to be besides a post.
OK = "ok"
DELETED = "deleted"          # the post is gone (removed by author or platform, or never was)
SUSPENDED = "suspended"      # the account is suspended, banned or terminated
LOGIN_WALL = "login-wall"    # the platform shows a login page instead of the content
UNAVAILABLE = "unavailable"  # private, geo-blocked, age-gated: visible but not accessible


class PlatformError(IsnadError):
    """The extractor could not read the platform (layout change, rate limit, bad answer)."""


@dataclass(frozen=True)
class Fetched:
    """One HTTP answer, as ``fetch`` returns it."""

    url: str            # the final URL, after redirects
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise PlatformError(f"{self.url} did not answer JSON (HTTP {self.status}): "
                                f"{self.body[:80]!r}") from exc

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


Fetch = Callable[..., Awaitable[Fetched]]
"""``await fetch(url, headers=None, *, method="GET", body=None)``: one HTTP request (POST for
the platforms whose public API needs it); never raises for an HTTP status, raises
PlatformError when no answer came (connection refused, timeout, refused by the guard)."""


@dataclass(frozen=True)
class Target:
    """What a URL points at on a platform."""

    platform: str
    kind: str                     # "post" or "channel"
    url: str                      # the URL as given
    ids: dict[str, str] = field(default_factory=dict)  # e.g. {"channel": ..., "post": ...}


@dataclass
class PostRef:
    """A post listed by a channel or profile: enough to capture it on its own."""

    platform: str
    post_id: str
    url: str
    published: str | None = None  # ISO 8601 UTC, "Z"
    # What the listing itself shows of the post's content (text, media ids, the platform's
    # edit marker; never counts), hashed by :func:`fingerprint`: a monitor captures a post
    # again when it changes. None when the listing shows nothing of the content.
    fingerprint: str | None = None




@dataclass
class Listing:
    """A channel's recent posts, newest first, and what the listing could not do as usual
    (a fallback taken, a stretch of time skipped): each note makes the capture PARTIAL and is
    shown to the user, so a listing is never silently thinner than it looks.

    It reads as its list of refs (iteration, ``len``, indexing) for callers that only need
    the posts; a monitor reads ``notes`` as well."""

    refs: list[PostRef] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # What the listing did by design, recorded but no shortfall (a feed's type, entries past
    # the limit, links out of scope): shown with the run, never making it PARTIAL.
    info: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[PostRef]:
        return iter(self.refs)

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, index: int | slice) -> PostRef | list[PostRef]:
        return self.refs[index]


@dataclass
class Media:
    url: str                      # the file, or where the platform shows it (a post link)
    type: str                     # image, video, audio, document, link
    alt: str | None = None
    thumbnail: str | None = None  # the platform's still of a video, when it shows one
    note: str | None = None       # what the page said of it, e.g. too big for the preview


@dataclass
class Post:
    platform: str
    post_id: str
    url: str                      # canonical URL
    status: str = OK
    author_id: str | None = None
    author_handle: str | None = None
    author_name: str | None = None
    published: str | None = None  # ISO 8601 UTC, "Z"
    edited: str | None = None
    text: str | None = None
    language: str | None = None
    media: list[Media] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # replies, reposts, likes, views...
    reply_to: str | None = None   # URL of the post this replies to
    quote_of: str | None = None   # URL of the post this quotes
    forwarded_from: str | None = None  # URL or name of the original source
    place: str | None = None
    title: str | None = None
    source: list[str] = field(default_factory=list)  # URLs the fields were read from
    notes: list[str] = field(default_factory=list)   # what could not be read, and why

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def utc_iso(value: str | int | float | datetime | None) -> str | None:
    """A platform's time (ISO string with offset, epoch seconds, datetime) as UTC "Z"."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        moment = datetime.fromtimestamp(value, UTC)
    elif isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    else:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch_iso(value: Any) -> str | None:  # noqa: ANN401 - JSON
    """Epoch seconds a platform gave (a JSON number) as UTC "Z"; None for anything else."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return utc_iso(value)
    return None


def dig(value: Any, *path: str | int) -> Any:  # noqa: ANN401 - JSON
    """``value[path[0]][path[1]]...`` through JSON objects and arrays, or None where the
    shape differs (a missing key, an index out of range, a step that is not a container)."""
    for key in path:
        if isinstance(key, int) and isinstance(value, list) and -len(value) <= key < len(value):
            value = value[key]
        elif isinstance(key, str) and isinstance(value, dict):
            value = value.get(key)
        else:
            return None
    return value


def shown_count(shown: str) -> int | None:
    """A count as a page shows it ("1.2K", "3M", "1,204", "845") as a number; None when it
    is not one."""
    text = shown.strip().upper().replace(",", "")
    factor = {"K": 1_000, "M": 1_000_000, "B": 1_000_000_000}.get(text[-1:], 1)
    number = text[:-1] if factor > 1 else text
    try:
        return round(float(number) * factor)
    except ValueError:
        return None


class Platform:
    """One platform. Subclasses set ``name``, ``default_base`` and ``hosts`` and implement
    ``match``, ``extract_post`` and ``list_posts``."""

    name = ""
    default_base = ""  # the public base URL (API or web), overridable in the settings
    # The platform's own public hosts (web, API, CDN for its JSON): URLs on them are the
    # platform's, and a configured session (cookies, Authorization) is sent to them only.
    hosts: frozenset[str] = frozenset()

    def __init__(self, base: str | None = None, session: Collection[str] = ()) -> None:
        self.base = (base or self.default_base).rstrip("/")
        # The names (lower case) of the session headers configured for this platform, e.g.
        # {"cookie", "authorization"}: a module may choose its API by them. The values are
        # added by ``fetch`` and never seen here.
        self.session = frozenset(name.lower() for name in session)

    @property
    def overridden(self) -> bool:
        """Is the base replaced (a mirror, or a test's fixture server)?"""
        return bool(self.base) and self.base != self.default_base.rstrip("/")

    def owns(self, url: str) -> bool:
        """Is ``url`` on one of the platform's hosts, or on the configured base's host?"""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https"):
            return False
        return host in self.hosts or (self.overridden and parts.netloc == urlsplit(
            self.base).netloc)

    def session_hosts(self) -> set[str]:
        """Where the configured session may be sent."""
        return {*self.hosts, urlsplit(self.base).hostname or ""} - {""}

    def capture_url(self, canonical: str) -> str:
        """Where to capture a listed post: its canonical URL, or the same path on the
        configured base when one replaces the public host (mirrors, tests)."""
        parts = urlsplit(canonical)
        if self.overridden and (parts.hostname or "").lower() in self.hosts:
            base = urlsplit(self.base)
            return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))
        return canonical

    def match(self, url: str) -> Target | None:
        """The target ``url`` names on this platform, or None when it is not this platform's.

        URLs on the configured base host match as well as the public host, so tests and
        mirrors work."""
        raise NotImplementedError

    async def extract_post(self, target: Target, fetch: Fetch) -> Post:
        """Read one post. Deleted / suspended / login-wall pages give a Post with that status;
        anything unreadable raises PlatformError saying what was expected."""
        raise NotImplementedError

    async def list_posts(self, target: Target, fetch: Fetch, limit: int) -> Listing:
        """The most recent posts of a channel or profile, newest first, at most ``limit``,
        following the platform's paging, with notes on anything the listing could not do as
        usual."""
        raise NotImplementedError


# -- what a post says, as against how it fares -----------------------------------------------
# The fields of a post record that are its content: a change in one of them is an edit. Counts
# (views, likes, replies) are not among them: they change all the time. ``edited`` (the
# platform's edit marker) is shown beside an edit but is not one by itself.
CONTENT_FIELDS = ("title", "text", "media", "forwarded_from", "quote_of", "place")


def media_key(media: dict[str, Any]) -> tuple[str, str]:
    """A media item as compared between two versions of a post: its type and the path of its
    URL. Hosts and query strings are left out: CDNs rotate hosts and sign URLs per request."""
    return str(media.get("type") or ""), urlsplit(str(media.get("url") or "")).path


def content(post: dict[str, Any]) -> dict[str, Any]:
    """The content fields of a post record (``Post.to_dict()``), media by :func:`media_key`:
    two versions whose content is equal say the same thing."""
    found = {name: post.get(name) for name in CONTENT_FIELDS}
    found["media"] = [list(media_key(m)) for m in post.get("media") or []]
    return found


def fingerprint(*parts: Any) -> str:  # noqa: ANN401 - JSON values
    """A short, stable hash of what a listing shows of a post's content (text, media ids,
    edit marker), for :attr:`PostRef.fingerprint`. Counts (views, likes) are left out by the
    callers: they change all the time and are not an edit."""
    text = json.dumps(parts, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def post_fingerprint(post: Post) -> str:
    """The fingerprint of a post read from a listing that shows it whole (Telegram's /s/
    page, Mastodon's statuses, Reddit's listing JSON): its content, edit marker and status (a
    listing may show a post removed)."""
    return fingerprint(content(post.to_dict()), post.edited, post.status)

