"""Media reachable two ways: which routes a capture tries, and when a failed route matters.

A post's video can often be reached by two routes:

- the *page route*: yt-dlp's extractor on the captured page (the post URL), and the media
  files the browser loaded while showing the page;
- the *direct route*: the URLs the platform module lists for the post's video and audio (a
  file URL from the platform's API, or a link yt-dlp can read, such as a Telegram post link).

The rule (documented for users in docs/media-routes.md):

1. Both routes are tried and everything they get is kept; identical files are stored once
   (by SHA-256), different copies of the same video (an HLS rendition and the original file)
   are both kept, each with the URL it came from.
2. A route's failure is a reason for PARTIAL, except when the other route got the post's
   video: a failed direct URL does not count when the page route downloaded at least as many
   videos as the post lists; a failed page route does not count when every video the post
   lists was downloaded by its direct URL. The excused failure stays in the record
   (``media.excused``, with why), never silent.
3. A video or audio the post lists that no route got is a reason for PARTIAL, even when yt-dlp
   found nothing to download (which is not an error for an ordinary page).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from crawlers.media import MediaOutcome

PLAYABLE = ("video", "audio")


@dataclass
class MediaRoutes:
    """The URLs each route hands to yt-dlp, and the post's media they should account for."""

    page: list[str] = field(default_factory=list)
    direct: list[str] = field(default_factory=list)
    listed: list[dict[str, Any]] = field(default_factory=list)  # the post's video/audio

    @property
    def candidates(self) -> list[str]:
        """Every URL to try, once each, the page route first."""
        return list(dict.fromkeys([*self.page, *self.direct]))

    def record(self) -> dict[str, list[str]]:
        """The routes as the capture context keeps them."""
        return {"page": self.page, "direct": self.direct}


@dataclass
class SettledMedia:
    """What the media outcome means for the capture."""

    reasons: list[str] = field(default_factory=list)  # each one makes the capture PARTIAL
    excused: list[str] = field(default_factory=list)  # failures the other route made good


def page_media_evidence(url: str, *, loaded: Iterable[str], page_media: Mapping[str, Any],
                        post: Mapping[str, Any] | None, hosts: Iterable[str]) -> list[str]:
    """Why yt-dlp should read the page ``url``: each sign of media it showed, in words.

    Empty for a plain page (no <video>/<audio> element, no video/audio response, no player
    embedded from a known media host, not on one, no media a platform module listed): yt-dlp
    is then not started at all, which saves its fixed cost (and a second fetch of the page)."""
    hosts = [h.lower().strip(".") for h in hosts if h.strip(".")]
    why: list[str] = []
    loaded = list(loaded)
    if loaded:
        why.append(f"the page loaded {len(loaded)} video/audio response(s)")
    videos, audios = page_media.get("video_elements") or 0, page_media.get("audio_elements") or 0
    if videos or audios:
        why.append(f"the page has {videos} <video> and {audios} <audio> element(s)")
    embedded = sorted({host for src in page_media.get("embeds") or []
                       if (host := _media_host(src, hosts))})
    if embedded:
        why.append(f"the page embeds a player from {', '.join(embedded)}")
    if host := _media_host(url, hosts):
        why.append(f"{host} is a known media host (media.hosts)")
    playable = [m for m in (post or {}).get("media") or [] if m.get("type") in PLAYABLE]
    if playable:
        why.append(f"the platform module listed {len(playable)} video/audio item(s)")
    return why


def _media_host(url: str, hosts: list[str]) -> str | None:
    """The known media host ``url`` is on (itself or a subdomain of it), else None."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return next((h for h in hosts if host == h or host.endswith("." + h)), None)


def plan_routes(url: str, *, page_ok: bool, channel: bool, loaded: Iterable[str],
                post: Mapping[str, Any] | None,
                capture_url: Callable[[str], str] = str) -> MediaRoutes:
    """The routes of a capture of ``url``.

    yt-dlp reads the page again only when it loaded, and never a channel's page, which it
    would take as a playlist of every video the channel has (its posts are captured one by
    one). ``capture_url`` puts the post's media URLs on the platform's configured base (a
    mirror, a test's stand-in) as the platform module does for the post itself."""
    routes = MediaRoutes(page=[url] if page_ok and not channel else [])
    routes.page += [u for u in loaded if u not in routes.page]
    for medium in (post or {}).get("media") or []:
        if medium.get("type") in PLAYABLE and medium.get("url"):
            listed = {**medium, "url": capture_url(medium["url"])}
            routes.listed.append(listed)
            if listed["url"] not in routes.direct:
                routes.direct.append(listed["url"])
    return routes


def settle(routes: MediaRoutes, outcome: MediaOutcome) -> SettledMedia:
    """Apply the rule (module docstring) to what yt-dlp did."""
    settled = SettledMedia()
    got = {item.get("source_url"): len(item.get("entries") or [None])
           for item in outcome.items}
    page_videos = sum(got.get(url, 0) for url in dict.fromkeys(routes.page))
    listed = len(routes.listed)
    page_covers = listed > 0 and page_videos >= listed
    direct_covers = listed > 0 and all(got.get(m["url"]) for m in routes.listed)
    failed: set[str] = set()
    for reason in outcome.reasons:
        url = _reason_url(reason, routes.candidates)
        if url is not None:
            failed.add(url)
        if url is None or (url in routes.page and url in routes.direct):
            settled.reasons.append(reason)  # one attempt for both routes: nothing to excuse
        elif url in routes.direct and page_covers:
            settled.excused.append(
                f"{reason} (not a reason for PARTIAL: the page route got the post's "
                f"{_videos(listed)}, yt-dlp on {', '.join(routes.page)})")
        elif url in routes.page and direct_covers:
            settled.excused.append(
                f"{reason} (not a reason for PARTIAL: the post's {_videos(listed)} came by "
                "the direct URL the platform lists)")
        else:
            settled.reasons.append(reason)
    if not page_covers:
        for medium in routes.listed:
            if got.get(medium["url"]) or medium["url"] in failed:
                continue  # downloaded, or its failure is already a reason
            said = f" ({medium['note']})" if medium.get("note") else ""
            settled.reasons.append(
                f"the post's {medium['type']} {medium['url']}{said} was not downloaded: "
                "yt-dlp found no media there and no other route got it")
    return settled


def _reason_url(reason: str, urls: list[str]) -> str | None:
    """The candidate URL a media reason names ("media of <url> ..."), or None when it is about
    the capture as a whole (a limit on the number of items)."""
    for url in sorted(urls, key=len, reverse=True):  # the longest first: a URL may prefix one
        if reason.startswith((f"media of {url} ", f"media of {url}:")):
            return url
    return None


def _videos(count: int) -> str:
    return "video" if count == 1 else f"{count} videos"


def complete_copies(failed_requests: Iterable[Mapping[str, str]], outcome: MediaOutcome
                    ) -> dict[str, str]:
    """Media player streams cut off in the browser (``player_stream`` entries of the failed
    requests) of which a media route got the complete item: the same URL downloaded by
    yt-dlp, a file of the full length, its SHA-256 recorded. URL -> why it is not a reason
    for PARTIAL. A stream no route got whole stays a reason."""
    covered: dict[str, str] = {}
    for failed in failed_requests:
        length = failed.get("player_stream")
        if length is None or not length.isdigit():
            continue
        for item in outcome.items:
            if failed["url"] not in (item.get("media_urls") or []):
                continue
            match = next((f for f in item.get("files") or []
                          if f.get("kind") in PLAYABLE and f.get("size") == int(length)
                          and f.get("sha256")), None)
            if match:
                covered[failed["url"]] = (
                    f"the media player's stream of {failed['url']} was cut off when the page "
                    f"closed (recorded with WARC-Truncated); not a reason for PARTIAL: the "
                    f"media route downloaded the whole item ({length} bytes, {match['path']}, "
                    f"sha256 {match['sha256']})")
                break
    return covered
