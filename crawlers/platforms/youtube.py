"""YouTube videos and channels, from the public watch and channel pages anyone can open.

**A video** (``/watch?v=ID``, ``youtu.be/ID``, ``/shorts/ID``, ``/live/ID``, ``/embed/ID``,
``/v/ID``; ID is 11 characters) is read from one request, the watch page
``<base>/watch?v=ID&hl=en&has_verified=1&bpctr=9999999999``. ``hl=en`` (and
``Accept-Language: en``) keep YouTube's messages in English, which the statuses are read from;
``has_verified``/``bpctr`` are what YouTube's own web client sends after "I understand and wish
to proceed" on a content-warning interstitial. The page carries two script blobs:

- ``ytInitialPlayerResponse``: ``playabilityStatus`` (the status, below), ``videoDetails``
  (``title`` → ``title``; ``shortDescription`` → ``text``, exactly; ``channelId`` →
  ``author_id``; ``author`` → ``author_name``; ``viewCount`` → ``counts["views"]``, YouTube's
  view count; ``thumbnail.thumbnails``, the largest → an image medium) and
  ``microformat.playerMicroformatRenderer`` (``publishDate`` → ``published``, an ISO time with
  offset in current pages; older pages give a date only, which is noted and not turned into a
  time; ``ownerProfileUrl`` ``…/@handle`` → ``author_handle``, without the "@"; ``isUnlisted``
  and live-stream times are noted).
- ``ytInitialData``: ``counts["likes"]``, only when the like button's accessibility text gives
  the exact number ("along with 1,234 other people"; the older ``toggleButtonRenderer`` button
  YouTube still serves to some visitors: "1,234 likes"); ``counts["replies"]``, the comment
  count, only when the comments panel header carries it as an exact number (YouTube often
  loads comments later, so it is often absent); a rounded count ("1.2K") is noted, never
  converted; ``place``, the location shown above the title (``superTitleLink`` with a
  ``LOCATION_PIN`` icon). A missing blob or button is a note, not a failure.

Media: the watch URL itself as the video (the service hands it to yt-dlp, whose YouTube
extractor downloads it; the streaming URLs in ``streamingData`` are signed and expire, and are
never listed), on the configured base when one replaces the public host.

YouTube has no edits, language, replies-to, quotes or forwards for videos: those stay None.
Tags, category and duration have no field in the record and are not kept.

Statuses, from ``playabilityStatus`` (``status``, ``reason``, ``errorScreen`` reason and
subreason): removed by the uploader, removed for a policy or copyright claim → ``DELETED``;
"Video unavailable" with no cause (``ERROR``) → ``DELETED``, with a note that YouTube does not
say whether it was removed or never existed; the uploader's account terminated →
``SUSPENDED``; private, age-restricted ("Sign in to confirm your age": a signed-in adult account
could open it, so it is not a login wall but a restriction), not available in this country,
members-only, content check → ``UNAVAILABLE``; a redirect to Google's sign-in page, or any
other ``LOGIN_REQUIRED`` → ``LOGIN_WALL``. "Sign in to confirm you're not a bot", a captcha,
"try again later", HTTP 429 and Google's "sorry" page are a block of this address, not a fact
about the video: ``PlatformError``. So are the EU consent page (configure a session with the
consent cookie) and a page without ``ytInitialPlayerResponse`` (layout change).

**A channel** (``/@handle``, ``/channel/UC…``, ``/c/name``, ``/user/name``, optionally followed
by ``/videos``, ``/shorts``, ``/streams`` or ``/featured``) is listed from:

1. its tab page ``<base>/<channel>/<tab>?hl=en`` (``videos`` unless the URL names ``shorts``
   or ``streams``): the channel id (``metadata.channelMetadataRenderer.externalId``, the
   canonical link, ``itemprop`` meta, or the RSS link), and YouTube's alerts (a terminated
   channel → ``PlatformError`` quoting YouTube);
2. the public feed ``<base>/feeds/videos.xml?channel_id=UC…``: the newest 15 uploads of every
   kind, with their exact ``published`` times. Fewer than 15 entries is the whole channel;
3. beyond the feed, the tab's grid (``richGridRenderer``: ``videoRenderer``,
   ``lockupViewModel``, ``shortsLockupViewModel``) and its continuations, POSTed as YouTube's
   web client does to ``<base>/youtubei/v1/browse`` (``{"context": {"client": {"clientName":
   "WEB", "clientVersion": <the page's ytcfg>}}, "continuation": <token>}``). Those posts have
   no exact time on the grid ("3 weeks ago"), so their ``published`` is None; each post's own
   capture reads it. Everything not in the feed is older than the feed's oldest entry, so the
   list stays newest first. Past the feed only the named tab is listed: older Shorts and live
   streams are not in a ``/videos`` listing (list ``/@handle/shorts`` for those).

No login is needed for public videos and channels. Known to break: the bot check on datacenter
addresses (configure ``platforms.youtube.cookies_file`` or a proxy), the consent page in the EU,
the feed's outages (it has answered 404/500 for hours at a time; the listing then falls back to
the tab's grid alone, with a note saying it lacks exact times and other kinds' newest
uploads), renamed ``ytInitialData`` renderers (the continuation, likes, comment count), and
titles shown translated when the uploader added translations (``videoDetails.title`` is the
player's own; a different title in the microformat is noted).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from parsel import Selector

from crawlers.platforms.base import (
    DELETED,
    LOGIN_WALL,
    OK,
    SUSPENDED,
    UNAVAILABLE,
    Fetch,
    Fetched,
    Listing,
    Media,
    Platform,
    PlatformError,
    Post,
    PostRef,
    Target,
    dig,
    fingerprint,
    utc_iso,
)

PUBLIC = "https://www.youtube.com"
VIDEO_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
HANDLE = re.compile(r"^@[\w.-]{3,30}$")
CHANNEL_ID = re.compile(r"^UC[\w-]{22}$")
CHANNEL_NAME = re.compile(r"^[\w.-]{1,100}$")
POST_PATHS = {"shorts", "live", "embed", "v"}
TABS = {"videos", "shorts", "streams", "featured"}
FEED_SIZE = 15  # the feed lists the newest 15 uploads; fewer means that is all of them
# Used only when the channel page gives no ytcfg: the web client's version at writing.
CLIENT_VERSION = "2.20260101.00.00"
PAGE_HEADERS = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                "Accept-Language": "en"}
AGE_GATE = ("confirm your age", "age-restricted", "inappropriate for some users")
NAMESPACES = {"atom": "http://www.w3.org/2005/Atom",
              "yt": "http://www.youtube.com/xml/schemas/2015",
              "media": "http://search.yahoo.com/mrss/"}
_DECODER = json.JSONDecoder()


class YouTubePlatform(Platform):
    name = "youtube"
    default_base = PUBLIC
    hosts = frozenset({"www.youtube.com", "youtube.com", "m.youtube.com", "music.youtube.com",
                       "youtu.be", "www.youtube-nocookie.com", "youtube-nocookie.com"})

    def match(self, url: str) -> Target | None:
        if not self.owns(url):
            return None
        parts = urlsplit(url)
        path = [unquote(p) for p in parts.path.split("/") if p]
        if (parts.hostname or "").lower() == "youtu.be":
            if len(path) == 1 and VIDEO_ID.match(path[0]):
                return Target(self.name, "post", url, {"post": path[0]})
            return None
        if path == ["watch"]:
            video = parse_qs(parts.query).get("v", [""])[0]
            if VIDEO_ID.match(video):
                return Target(self.name, "post", url, {"post": video})
            return None
        if len(path) == 2 and path[0] in POST_PATHS:
            if VIDEO_ID.match(path[1]):
                return Target(self.name, "post", url, {"post": path[1]})
            return None
        return self._channel(url, path)

    def _channel(self, url: str, path: list[str]) -> Target | None:
        ids: dict[str, str] = {}
        if len(path) >= 2 and path[-1].lower() in TABS:
            ids["tab"] = path.pop().lower()
        if len(path) == 1 and HANDLE.match(path[0]):
            ids["channel"] = path[0]
        elif len(path) == 2 and path[0] == "channel" and CHANNEL_ID.match(path[1]):
            ids["channel"], ids["channel_id"] = f"channel/{path[1]}", path[1]
        elif len(path) == 2 and path[0] in ("c", "user") and CHANNEL_NAME.match(path[1]):
            ids["channel"] = f"{path[0]}/{path[1]}"
        else:
            return None
        return Target(self.name, "channel", url, ids)

    async def extract_post(self, target: Target, fetch: Fetch) -> Post:
        video_id = target.ids["post"]
        canonical = f"{PUBLIC}/watch?v={video_id}"
        post = Post(self.name, video_id, canonical)
        url = f"{self.base}/watch?v={video_id}&hl=en&has_verified=1&bpctr=9999999999"
        post.source.append(url)
        page = await self._page(fetch, url)
        if _is_sign_in(page.url):
            post.status = LOGIN_WALL
            post.notes.append(f"YouTube sent the watch page to Google's sign-in page "
                              f"({page.url}): the video is shown to signed-in accounts only")
            return post
        html = page.text()
        player = _script_json(html, "ytInitialPlayerResponse", url)
        if not isinstance(player, dict):
            raise PlatformError(f"{url} (HTTP {page.status}) has no ytInitialPlayerResponse "
                                "script: YouTube's page layout changed or this is not YouTube")
        playability = player.get("playabilityStatus")
        if not isinstance(playability, dict) or not isinstance(playability.get("status"), str):
            raise PlatformError(f"{url}: ytInitialPlayerResponse has no playabilityStatus.status"
                                ": YouTube's player data changed shape")
        post.status, note = _judge(playability, url)
        if note:
            post.notes.append(note)
        _fill_details(post, player, url)
        if playability["status"] == "OK":
            # The watch page is the video: yt-dlp's YouTube extractor takes it from there.
            post.media.insert(0, Media(self.capture_url(canonical), "video"))
        if post.status == OK:
            initial = _script_json(html, "ytInitialData", url)
            if isinstance(initial, dict):
                _fill_from_page_data(post, initial)
            else:
                post.notes.append("the page has no ytInitialData: likes, comment count and "
                                  "place not read")
        return post

    async def list_posts(self, target: Target, fetch: Fetch, limit: int) -> Listing:
        if limit <= 0:
            return Listing()
        tab = target.ids.get("tab", "videos")
        tab = "videos" if tab == "featured" else tab
        url = f"{self.base}/{quote(target.ids['channel'], safe='/@')}/{tab}?hl=en"
        page = await self._page(fetch, url)
        html = page.text()
        data = _script_json(html, "ytInitialData", url)
        for kind, message in _alerts(data):
            if kind.upper() == "ERROR":
                raise PlatformError(f"YouTube says of the channel {target.url}: {message}")
        if page.status == 404:
            raise PlatformError(f"YouTube has no channel at {target.url} ({url} answered "
                                "HTTP 404)")
        if page.status >= 400:
            raise PlatformError(f"YouTube answered HTTP {page.status} for {url}")
        if not isinstance(data, dict):
            raise PlatformError(f"{url} has no ytInitialData script: YouTube's page layout "
                                "changed or this is not YouTube")
        channel_id = target.ids.get("channel_id") or _channel_id(html, data)
        if not channel_id:
            raise PlatformError(f"{url}: no channel id (UC…) in the page's metadata, canonical "
                                "link or RSS link: YouTube's page layout changed")
        notes: list[str] = []
        refs = await self._feed_or_note(fetch, channel_id, tab, notes)
        if not notes and (len(refs) >= limit or len(refs) < FEED_SIZE):
            return Listing(refs[:limit])
        grid = _selected_grid(data, tab)
        if grid is None:
            raise PlatformError(f"{url} shows no list of the channel's {tab}: YouTube's page "
                                "layout changed, or the channel has no such tab")
        ids, token = _grid_items(grid, url)
        version = _client_version(html)
        known = {r.post_id for r in refs}
        tokens: set[str] = set()
        while True:
            for video in ids:
                if video not in known:
                    known.add(video)
                    refs.append(PostRef(self.name, video, f"{PUBLIC}/watch?v={video}"))
                    if len(refs) >= limit:
                        return Listing(refs, notes)
            if not token or token in tokens:
                return Listing(refs, notes)
            tokens.add(token)
            ids, token = await self._more(fetch, token, version)

    async def _page(self, fetch: Fetch, url: str) -> Fetched:
        page = await fetch(url, headers=PAGE_HEADERS)
        final = urlsplit(page.url)
        host = (final.hostname or "").lower()
        if host.startswith("consent."):
            raise PlatformError(f"YouTube answered {url} with its cookie consent page "
                                f"({page.url}): configure a session with the consent cookie "
                                "(platforms.youtube.cookies_file) or use a proxy outside the EU")
        if page.status == 429 or (host.endswith("google.com") and final.path.startswith(
                "/sorry")):
            via = f", via {page.url}" if page.url != url else ""
            raise PlatformError(f"YouTube rate limited the request for {url} (HTTP "
                                f"{page.status}{via}): retry later or from another network")
        if page.status >= 500:
            raise PlatformError(f"YouTube answered HTTP {page.status} for {url}")
        return page

    async def _feed_or_note(self, fetch: Fetch, channel_id: str, tab: str,
                            notes: list[str]) -> list[PostRef]:
        """The feed's refs; when the feed is down, none and a note: the tab's grid then
        lists the posts (the feed fails for hours at a time)."""
        try:
            return await self._feed(fetch, channel_id)
        except _FeedDown as exc:
            notes.append(f"{exc}: listed from the channel's {tab} tab alone, without exact "
                         "publication times (each post's capture reads its own), and "
                         f"without the newest uploads of other kinds than {tab}")
            return []

    async def _feed(self, fetch: Fetch, channel_id: str) -> list[PostRef]:
        """The newest uploads with their exact times, newest first."""
        url = f"{self.base}/feeds/videos.xml?channel_id={channel_id}"
        answer = await fetch(url, headers={"Accept": "application/atom+xml,application/xml",
                                           "Accept-Language": "en"})
        if answer.status == 429:
            raise PlatformError(f"YouTube rate limited its channel feed {url} (HTTP 429)")
        if answer.status != 200:
            raise _FeedDown(f"YouTube's channel feed {url} answered HTTP {answer.status} (the "
                            "feed is known to fail for hours at a time)")
        feed = Selector(text=answer.text(), type="xml")
        for prefix, namespace in NAMESPACES.items():
            feed.register_namespace(prefix, namespace)
        if not feed.xpath("/atom:feed"):
            raise PlatformError(f"{url} is not an Atom feed: YouTube's feed changed shape")
        refs = []
        for entry in feed.xpath("/atom:feed/atom:entry"):
            video = (entry.xpath("yt:videoId/text()").get() or "").strip()
            if not VIDEO_ID.match(video):
                raise PlatformError(f"{url}: an entry without a valid yt:videoId ({video!r})")
            # The feed shows each upload's title and description (never its file): enough to
            # see an edit. The grid's refs (ids only) have no fingerprint.
            shown = [(entry.xpath(path).get() or "").strip()
                     for path in ("atom:title/text()", "media:group/media:description/text()",
                                  "media:group/media:thumbnail/@url")]
            refs.append(PostRef(self.name, video, f"{PUBLIC}/watch?v={video}",
                                _utc_or_none(entry.xpath("atom:published/text()").get()),
                                fingerprint(shown[0], shown[1], urlsplit(shown[2]).path)))
        refs.sort(key=lambda r: r.published or "", reverse=True)
        return refs

    async def _more(self, fetch: Fetch, token: str, version: str) -> tuple[list[str], str | None]:
        """One continuation of a channel tab's grid: its video ids and the next token."""
        url = f"{self.base}/youtubei/v1/browse?prettyPrint=false"
        body = json.dumps({"context": {"client": {"clientName": "WEB", "clientVersion": version,
                                                  "hl": "en"}},
                           "continuation": token})
        answer = await fetch(url, headers={
            "Content-Type": "application/json", "Accept-Language": "en",
            "X-YouTube-Client-Name": "1", "X-YouTube-Client-Version": version,
            "Origin": self.base}, method="POST", body=body.encode())
        if answer.status == 429:
            raise PlatformError(f"YouTube rate limited the channel continuation {url} (HTTP 429)")
        if answer.status >= 400:
            try:
                error = _text(dig(answer.json(), "error", "message"))
            except PlatformError:
                error = answer.text()[:200]
            raise PlatformError(f"YouTube refused the channel continuation {url} (HTTP "
                                f"{answer.status}): {error}")
        data = answer.json()
        actions = dig(data, "onResponseReceivedActions") or dig(
            data, "onResponseReceivedEndpoints")
        items = None
        for action in actions if isinstance(actions, list) else []:
            found = dig(action, "appendContinuationItemsAction", "continuationItems")
            if isinstance(found, list):
                items = (items or []) + found
        if items is None:
            raise PlatformError(f"{url} gave no onResponseReceivedActions[]."
                                "appendContinuationItemsAction.continuationItems: YouTube's "
                                "continuation changed shape")
        return _grid_items(items, url)


# -- reading the watch page ---------------------------------------------------------------


def _judge(playability: dict, url: str) -> tuple[str, str | None]:
    """The post status YouTube's playabilityStatus means, with the note quoting it."""
    status = playability["status"]
    said = _said(playability)
    lower = f"{status} {said}".lower()
    if "not a bot" in lower or dig(playability, "errorScreen", "playerCaptchaViewModel"):
        raise PlatformError(f"YouTube asks to confirm this is not a bot for {url} ({said}): "
                            "it blocks this address, which says nothing about the video; retry "
                            "later, from another network, or with a session "
                            "(platforms.youtube.cookies_file)")
    if "try again later" in lower:
        raise PlatformError(f"YouTube rate limited {url}: {said}")
    quoted = f"YouTube says: {said}" if said else f"YouTube's playability status is {status}"
    if status == "OK":
        return OK, None
    if status == "LIVE_STREAM_OFFLINE":
        return OK, f"not playable yet (a scheduled live stream or premiere): {quoted}"
    if "terminated" in lower:
        return SUSPENDED, f"{quoted} (the uploader's account is terminated)"
    if "removed" in lower or "no longer available" in lower:
        return DELETED, quoted
    if "private" in lower:
        return UNAVAILABLE, (f"{quoted} (a private video: only accounts the uploader invited "
                             "can see it)")
    if any(m in lower for m in AGE_GATE) or status in (
            "AGE_VERIFICATION_REQUIRED", "AGE_CHECK_REQUIRED") or playability.get(
            "desktopLegacyAgeGateReason"):
        return UNAVAILABLE, (f"{quoted} (age-restricted: a signed-in adult account could open "
                             "it; a session can be configured in platforms.youtube.cookies_file)")
    if "country" in lower:
        return UNAVAILABLE, (f"{quoted} (blocked where this capture ran; a proxy elsewhere may "
                             "see it)")
    if "members" in lower:
        return UNAVAILABLE, f"{quoted} (members-only)"
    if status == "CONTENT_CHECK_REQUIRED":
        return UNAVAILABLE, (f"{quoted} (behind a content warning YouTube lifts for signed-in "
                             "accounts only)")
    if status == "ERROR":
        return DELETED, (f"{quoted}: there is no video at this address; YouTube does not say "
                         "whether it was removed or never published")
    if status == "LOGIN_REQUIRED":
        return LOGIN_WALL, f"{quoted} (YouTube asks to sign in)"
    return UNAVAILABLE, f"YouTube does not play the video ({status}): {said or 'no reason given'}"


def _said(playability: dict) -> str:
    """What YouTube tells the viewer: the reason, the error screen's reason and subreason."""
    screen = dig(playability, "errorScreen", "playerErrorMessageRenderer") or {}
    parts = [_text(playability.get("reason")), _text(dig(screen, "reason")),
             _text(dig(screen, "subreason"))]
    shown: list[str] = []
    for part in parts:
        part = " ".join(part.split())
        if part and part not in shown:
            shown.append(part)
    return " / ".join(shown)


def _fill_details(post: Post, player: dict, url: str) -> None:
    details = player.get("videoDetails")
    details = details if isinstance(details, dict) else {}
    micro = dig(player, "microformat", "playerMicroformatRenderer")
    micro = micro if isinstance(micro, dict) else {}
    if not details and not micro:
        if post.status == OK:
            raise PlatformError(f"{url}: a playable video without videoDetails or microformat: "
                                "YouTube's player data changed shape")
        return  # YouTube shows nothing of a video it does not play
    if details.get("videoId") not in (None, post.post_id):
        raise PlatformError(f"{url} describes another video ({details.get('videoId')!r})")
    post.title = _string(details.get("title")) or _text(micro.get("title")) or None
    shown_title = _text(micro.get("title"))
    if post.title and shown_title and shown_title != post.title:
        post.notes.append(f"the page also gives the title as {shown_title!r} (a translation "
                          "YouTube shows for English?)")
    description = details.get("shortDescription")
    if isinstance(description, str):
        post.text = description
    elif micro.get("description") is not None:
        post.text = _text(micro.get("description"))
    else:
        post.notes.append("no description in videoDetails or microformat")
    post.author_id = _string(details.get("channelId")) or _string(
        micro.get("externalChannelId")) or None
    post.author_name = _string(details.get("author")) or _string(
        micro.get("ownerChannelName")) or None
    owner = _string(micro.get("ownerProfileUrl"))
    handle = re.search(r"/@([^/?#]+)", owner)
    post.author_handle = unquote(handle.group(1)) if handle else None
    if owner and not handle:
        post.notes.append(f"the channel has no @handle (owner URL {owner})")
    _fill_times(post, micro)
    views = details.get("viewCount", micro.get("viewCount"))
    if isinstance(views, str) and views.isdigit():
        post.counts["views"] = int(views)
    elif post.status == OK:
        post.notes.append("no view count in videoDetails")
    if micro.get("isUnlisted") is True:
        post.notes.append("unlisted: reachable by its link, not listed on the channel")
    if details.get("isLiveContent") is True:
        post.notes.append("a live stream (or its recording)")
    thumbnails = dig(details, "thumbnail", "thumbnails") or dig(micro, "thumbnail",
                                                                  "thumbnails")
    sized = [t for t in thumbnails or [] if isinstance(t, dict) and _string(t.get("url"))]
    if sized:
        largest = max(sized, key=lambda t: _int(t.get("width")) * _int(t.get("height")))
        post.media.append(Media(largest["url"], "image"))


def _fill_times(post: Post, micro: dict) -> None:
    published = _string(micro.get("publishDate"))
    uploaded = _string(micro.get("uploadDate"))
    shown = published or uploaded
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", shown):
        post.notes.append(f"YouTube gives only the date {shown} (no time, no time zone): "
                          "published left empty")
    elif shown:
        post.published = _utc_or_none(shown)
        if post.published is None:
            post.notes.append(f"unreadable publication time {shown!r}")
    elif post.status == OK:
        post.notes.append("no publishDate in the microformat")
    if published and uploaded and _utc_or_none(uploaded) != _utc_or_none(published):
        post.notes.append(f"uploaded {uploaded}, published {published} (as YouTube gives them)")
    live = micro.get("liveBroadcastDetails")
    if isinstance(live, dict):
        times = ", ".join(f"{key} {live[key]}" for key in ("startTimestamp", "endTimestamp")
                          if _string(live.get(key)))
        post.notes.append(f"live broadcast: {times or 'no times given'}")


class _FeedDown(PlatformError):
    """The channel's RSS feed did not answer (an outage): the listing falls back."""


def _fill_from_page_data(post: Post, data: dict) -> None:
    """Likes, comment count and place from ytInitialData, when it carries them exactly."""
    contents = dig(data, "contents", "twoColumnWatchNextResults", "results", "results",
                    "contents")
    primary = next((c["videoPrimaryInfoRenderer"] for c in contents or []
                    if isinstance(c, dict) and isinstance(c.get("videoPrimaryInfoRenderer"),
                                                          dict)), None)
    if primary is None:
        post.notes.append("ytInitialData has no videoPrimaryInfoRenderer: likes and place "
                          "not read")
    else:
        _likes(post, primary)
        if dig(primary, "superTitleIcon", "iconType") == "LOCATION_PIN":
            post.place = _text(primary.get("superTitleLink")) or None
    _comments(post, data)


def _likes(post: Post, primary: dict) -> None:
    button = next(_find(primary, "likeButtonViewModel"), None)
    if button is None:
        old = next((b for b in _find(primary, "toggleButtonRenderer") if isinstance(b, dict)
                    and dig(b, "defaultIcon", "iconType") == "LIKE"), None)
        if old is not None:
            _old_layout_likes(post, old)
            return
        post.notes.append("no like button in the page: likes not read")
        return
    labels = [t for t in _find(button, "accessibilityText") if isinstance(t, str)]
    for label in labels:
        found = re.search(r"along with ([\d,]+) other", label)
        if found:
            post.counts["likes"] = int(found.group(1).replace(",", ""))
            return
    titles = [t for t in _find(button, "title") if isinstance(t, str) and t.strip()]
    shown = next((t for t in titles if any(ch.isdigit() for ch in t)), None)
    if shown:
        post.notes.append(f"likes shown only rounded ({shown!r}): not recorded as a count")
    else:
        post.notes.append("likes not shown (hidden by the uploader)")


def _old_layout_likes(post: Post, button: dict) -> None:
    """The like count of the older like button (``toggleButtonRenderer``, served in 2023 and
    still to some visitors): its accessibility labels give the exact number, "3,907 likes"
    for the state shown and "like this video along with 3,907 other people"."""
    toggled = button.get("isToggled") is True  # the signed-in viewer liked it: counted in
    shown = button.get("toggledText" if toggled else "defaultText")
    label = dig(shown, "accessibility", "accessibilityData", "label")
    found = re.fullmatch(r"\s*([\d,]+) likes?\s*", label) if isinstance(label, str) else None
    if found:
        post.counts["likes"] = int(found.group(1).replace(",", ""))
        return
    along = dig(button, "accessibility", "label")
    found = re.search(r"along with ([\d,]+) other", along) if isinstance(along, str) else None
    if found:
        post.counts["likes"] = int(found.group(1).replace(",", "")) + (1 if toggled else 0)
        return
    rounded = _text(shown)
    if any(ch.isdigit() for ch in rounded):
        post.notes.append(f"likes shown only rounded ({rounded!r}): not recorded as a count")
    else:
        post.notes.append("likes not shown (hidden by the uploader)")


def _comments(post: Post, data: dict) -> None:
    shown = None
    for panel in dig(data, "engagementPanels") or []:
        section = dig(panel, "engagementPanelSectionListRenderer")
        if dig(section, "panelIdentifier") in ("engagement-panel-comments-section",
                                                "comment-item-section"):
            shown = _text(dig(section, "header", "engagementPanelTitleHeaderRenderer",
                               "contextualInfo"))
            break
    if not shown:
        shown = next((_text(c) for c in _find(data, "commentCount")), "")
    if not shown:
        post.notes.append("no comment count in the page (YouTube loads comments separately)")
    elif re.fullmatch(r"[\d,]+", shown.strip()):
        post.counts["replies"] = int(shown.strip().replace(",", ""))
    else:
        post.notes.append(f"comment count shown only as {shown!r}: not recorded as a count")


def _is_sign_in(url: str) -> bool:
    parts = urlsplit(url)
    return (parts.hostname or "").lower() == "accounts.google.com" or parts.path.rstrip(
        "/").endswith("/ServiceLogin")


# -- reading the channel pages --------------------------------------------------------------


def _alerts(data: Any) -> Iterator[tuple[str, str]]:
    for alert in dig(data, "alerts") or []:
        for renderer in alert.values() if isinstance(alert, dict) else []:
            message = _text(dig(renderer, "text"))
            if message:
                yield str(dig(renderer, "type") or ""), message


def _channel_id(html: str, data: dict) -> str | None:
    page = Selector(text=html)
    candidates = [
        dig(data, "metadata", "channelMetadataRenderer", "externalId"),
        *(re.findall(r"/channel/(UC[\w-]{22})", page.css(
            'link[rel="canonical"]::attr(href)').get() or "")),
        page.css('meta[itemprop="identifier"]::attr(content)').get(),
        page.css('meta[itemprop="channelId"]::attr(content)').get(),
        *(re.findall(r"channel_id=(UC[\w-]{22})", " ".join(page.css(
            'link[type="application/rss+xml"]::attr(href)').getall()))),
    ]
    return next((c for c in candidates if isinstance(c, str) and CHANNEL_ID.match(c)), None)


def _selected_grid(data: dict, tab: str) -> list | None:
    """The grid items of the channel tab the page shows, if it is the one asked for."""
    for entry in dig(data, "contents", "twoColumnBrowseResultsRenderer", "tabs") or []:
        renderer = dig(entry, "tabRenderer")
        if not isinstance(renderer, dict) or not renderer.get("selected"):
            continue
        shown = _string(dig(renderer, "endpoint", "commandMetadata", "webCommandMetadata",
                             "url"))
        if not shown.rstrip("/").endswith(f"/{tab}"):
            return None  # YouTube showed another tab: the channel has no such tab
        grid = dig(renderer, "content", "richGridRenderer", "contents")
        return grid if isinstance(grid, list) else None
    return None


def _grid_items(items: list, url: str) -> tuple[list[str], str | None]:
    """Video ids of a grid's items, in order, and the continuation token if any."""
    videos: list[str] = []
    token = None
    for item in items:
        content = dig(item, "richItemRenderer", "content")
        if isinstance(content, dict):
            video = (dig(content, "videoRenderer", "videoId")
                     or dig(content, "reelItemRenderer", "videoId")
                     or dig(content, "shortsLockupViewModel", "onTap", "innertubeCommand",
                             "reelWatchEndpoint", "videoId"))
            lockup = dig(content, "lockupViewModel")
            if not video and dig(lockup, "contentType") == "LOCKUP_CONTENT_TYPE_VIDEO":
                video = dig(lockup, "contentId")
            if isinstance(video, str) and VIDEO_ID.match(video):
                videos.append(video)
        endpoint = dig(item, "continuationItemRenderer", "continuationEndpoint")
        if isinstance(endpoint, dict):
            commands = [endpoint, *(dig(endpoint, "commandExecutorCommand", "commands") or [])]
            token = next((t for c in commands if isinstance(
                t := dig(c, "continuationCommand", "token"), str)), token)
    if items and not videos and token is None:
        raise PlatformError(f"{url}: a channel grid without any video in the renderers known "
                            "here (videoRenderer, lockupViewModel, shortsLockupViewModel): "
                            "YouTube's layout changed")
    return videos, token


def _client_version(html: str) -> str:
    """The web client version the page's ytcfg gives, as YouTube's own client sends it."""
    for found in re.finditer(r"ytcfg\.set\(\s*", html):
        try:
            config, _ = _DECODER.raw_decode(html, found.end())
        except ValueError:
            continue
        version = dig(config, "INNERTUBE_CLIENT_VERSION") or dig(
            config, "INNERTUBE_CONTEXT", "client", "clientVersion")
        if isinstance(version, str) and version:
            return version
    return CLIENT_VERSION


# -- small readers ---------------------------------------------------------------------------


def _script_json(html: str, name: str, url: str) -> Any:
    """The JSON value assigned to ``name`` in the page's scripts (``var name = {...};``)."""
    for found in re.finditer(rf"""\b{name}["']?\]?\s*=\s*""", html):
        if html.startswith("{", found.end()):
            try:
                return _DECODER.raw_decode(html, found.end())[0]
            except ValueError as exc:
                raise PlatformError(f"{url}: the {name} script is not readable JSON ({exc})"
                                    ) from exc
    return None


def _find(value: Any, key: str) -> Iterator[Any]:
    """Every value under ``key`` anywhere in ``value``, depth first."""
    if isinstance(value, dict):
        for name, inner in value.items():
            if name == key:
                yield inner
            yield from _find(inner, key)
    elif isinstance(value, list):
        for inner in value:
            yield from _find(inner, key)


def _text(value: Any) -> str:
    """YouTube's text objects: a string, ``simpleText``, ``runs[].text`` or ``content``."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        return ""
    if isinstance(value.get("simpleText"), str):
        return value["simpleText"]
    if isinstance(value.get("runs"), list):
        return "".join(str(run.get("text", "")) for run in value["runs"] if isinstance(run, dict))
    if isinstance(value.get("content"), str):
        return value["content"]
    return ""


def _string(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _utc_or_none(value: str | None) -> str | None:
    try:
        return utc_iso(value)
    except ValueError:
        return None
