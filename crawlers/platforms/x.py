"""X (formerly Twitter): public posts through the service behind embedded posts (no login).

Where each thing is read from:

- A post: ``https://cdn.syndication.twimg.com/tweet-result?id=<id>&lang=en&token=<token>``,
  the JSON an embedded post (``platform.twitter.com`` embeds, "react-tweet") loads. The
  ``token`` is not a secret: the embed derives it from the id with a public formula
  (:func:`embed_token`). The record is a ``Tweet`` (text, author, time, media, counts, the
  parent of a reply, the quoted post, the edit chain) or a ``TweetTombstone`` whose text says
  why the post is not shown (deleted, suspended account, age-restricted, protected...). The
  service answers an empty HTTP 404 for a post X does not know.
- The first or latest version of an edited post: the same service, for that version's id.
- A profile's recent posts: ``https://syndication.twitter.com/srv/timeline-profile/
  screen-name/<user>``, the HTML of the embedded profile timeline, whose
  ``<script id="__NEXT_DATA__">`` holds ``props.pageProps.timeline.entries[].content.tweet``.
  There is no public paging: one page, the newest posts X puts there, at most ``limit``.

With a configured base (a mirror, the tests' stand-in) every read goes to that base instead.

What the record says, and what the Post keeps:

- ``text``: as published; the t.co short links are shown as their full destinations (X's
  ``expanded_url``, the address X links to), the trailing t.co link of the attached media
  (outside ``display_text_range``, X does not show it) is removed, and a note says both were
  done. Leading ``@mentions`` of a reply are kept: they are part of the published text.
- ``counts``: ``likes`` (``favorite_count``), ``replies`` (``conversation_count``, which the
  embed shows as the number of replies), ``video_views`` (the view count X shows on the
  video). The embed service gives no repost, quote or post view counts.
- ``published`` / ``edited``: X stores each edit as a new post id. ``published`` is the time
  of the first version, ``edited`` the time of the latest one (read from those versions).
- ``media``: photos (``media_url_https``, alt text), videos and GIFs as the highest-bitrate
  MP4 variant (direct files, for yt-dlp), a link card as ``link``.

What needs a login, and what is known to break:

- Nothing here needs a login. Age-restricted posts are shown to logged-in adults only (status
  ``login-wall``); posts of protected accounts only to their approved followers
  (``unavailable``). The logged-in GraphQL API (``TweetResultByRestId``, ``UserTweets``) is not
  built: a configured session does not change what this module reads.
- X changes the embed service without notice: the token formula, the record's shape, and the
  profile timeline, which X has restricted (it often answers with no posts without a login).
  An empty timeline is reported as an error, never as a profile without posts.
"""

from __future__ import annotations

import html
import json
import math
import re
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from parsel import Selector

from crawlers.platforms.base import (
    DELETED,
    LOGIN_WALL,
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
    utc_iso,
)

WEB_HOSTS = frozenset({"x.com", "www.x.com", "mobile.x.com", "twitter.com", "www.twitter.com",
                       "mobile.twitter.com", "m.twitter.com"})
EMBED_HOSTS = frozenset({"cdn.syndication.twimg.com", "syndication.twitter.com"})
TIMELINE_BASE = "https://syndication.twitter.com"

POST_PATH = re.compile(
    r"^/(?:i/web/status|i/status|statuses|(?P<user>[A-Za-z0-9_]{1,15})/status(?:es)?)"
    r"/(?P<id>\d{1,20})"
    r"(?:/(?:photo/\d+|video/\d+|analytics|quotes|retweets|likes|history))?/?$")
PROFILE_PATH = re.compile(r"^/(?P<user>[A-Za-z0-9_]{1,15})(?:/(?:with_replies|media))?/?$")
TIMELINE_PATH = re.compile(r"^/srv/timeline-profile/screen-name/(?P<user>[A-Za-z0-9_]{1,15})/?$")
# First path segments that are X's own pages, not accounts.
RESERVED = frozenset({
    "home", "explore", "search", "i", "settings", "notifications", "messages", "hashtag",
    "intent", "share", "login", "logout", "signup", "tos", "privacy", "compose", "account",
    "about", "download", "jobs", "oauth", "sessions", "bookmarks", "lists", "communities",
    "topics", "display", "keyboard_shortcuts", "status", "statuses", "srv",
})
DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
LEGACY_TIME = "%a %b %d %H:%M:%S %z %Y"  # "Fri Nov 20 08:15:30 +0000 2026"


class XPlatform(Platform):
    name = "x"
    default_base = "https://cdn.syndication.twimg.com"
    hosts = WEB_HOSTS | EMBED_HOSTS

    def match(self, url: str) -> Target | None:
        if not self.owns(url):
            return None
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        on_base = self.overridden and parts.netloc == urlsplit(self.base).netloc
        if host in EMBED_HOSTS or on_base:
            if parts.path.rstrip("/") == "/tweet-result":
                post_id = (parse_qs(parts.query).get("id") or [""])[0]
                if re.fullmatch(r"\d{1,20}", post_id):
                    return Target(self.name, "post", url, {"post": post_id})
                return None
            if found := TIMELINE_PATH.match(parts.path):
                return Target(self.name, "channel", url, {"user": found.group("user")})
        if host not in WEB_HOSTS and not on_base:
            return None
        if found := POST_PATH.match(parts.path):
            user = found.group("user")
            if user is None:
                return Target(self.name, "post", url, {"post": found.group("id")})
            if user.lower() in RESERVED:
                return None
            return Target(self.name, "post", url, {"user": user, "post": found.group("id")})
        if (found := PROFILE_PATH.match(parts.path)) and found.group(
                "user").lower() not in RESERVED:
            return Target(self.name, "channel", url, {"user": found.group("user")})
        return None

    async def extract_post(self, target: Target, fetch: Fetch) -> Post:
        post_id, user = target.ids["post"], target.ids.get("user")
        canonical = (f"https://x.com/{user}/status/{post_id}" if user
                     else f"https://x.com/i/web/status/{post_id}")
        post = Post(self.name, post_id, canonical)
        record = await self._record(post_id, post, fetch)
        if record is None:
            post.status = DELETED
            post.notes.append("X's embed service answers HTTP 404 with no record: X does not "
                              "know this post (deleted, or never published)")
            return post
        kind = record.get("__typename")
        if kind == "TweetTombstone" or "tombstone" in record:
            said = _tombstone_text(record, post.source[-1])
            post.status, why = _tombstone_status(said)
            post.notes.append(f"{why}; X shows instead of the post: \u201c{said}\u201d")
            return post
        if kind == "TweetUnavailable":
            reason = str(record.get("reason") or "")
            post.status, why = _unavailable_status(reason)
            post.notes.append(f"{why} (X gives the reason {reason or 'none'!r})")
            return post
        if kind not in ("Tweet", None):
            raise PlatformError(f"{post.source[-1]} is a {kind!r}, not an X post record "
                                "(Tweet/TweetTombstone): the embed service changed")
        _check_tweet(record, post.source[-1])
        _fill(post, record, user)
        await self._edit_times(post, record, fetch)
        return post

    async def list_posts(self, target: Target, fetch: Fetch, limit: int) -> Listing:
        user = target.ids["user"]
        base = self.base if self.overridden else TIMELINE_BASE
        url = f"{base}/srv/timeline-profile/screen-name/{user}"
        page = await fetch(url, headers={"Accept": "text/html"})
        if page.status == 429:
            raise PlatformError(f"X rate limited the profile timeline {url} (HTTP 429): wait, "
                                "or capture the posts one by one")
        if page.status == 404:
            raise PlatformError(f"X has no public profile timeline for @{user} ({url} answered "
                                "HTTP 404): no such account, or it is suspended")
        if page.status >= 400:
            raise PlatformError(f"X answered HTTP {page.status} for the profile timeline {url}")
        script = Selector(text=page.text()).css("script#__NEXT_DATA__::text").get()
        if not script:
            raise PlatformError(f"{url} (HTTP {page.status}) has no __NEXT_DATA__ script: not "
                                "X's embedded profile timeline, or its layout changed")
        try:
            data = json.loads(script)
            entries = data["props"]["pageProps"]["timeline"]["entries"]
        except (ValueError, KeyError, TypeError) as exc:
            raise PlatformError(f"{url}: __NEXT_DATA__ has no props.pageProps.timeline.entries "
                                "(the embedded timeline's layout changed)") from exc
        if not isinstance(entries, list):
            raise PlatformError(f"{url}: timeline.entries is not a list")
        refs: dict[str, PostRef] = {}
        for entry in entries:
            tweet = dig(entry, "content", "tweet")
            if not isinstance(tweet, dict) or not str(tweet.get("id_str", "")).isdigit():
                continue
            post_id = str(tweet["id_str"])
            screen = dig(tweet, "user", "screen_name") or user
            refs[post_id] = PostRef(self.name, post_id, f"https://x.com/{screen}/status/{post_id}",
                                    _time(tweet.get("created_at")))
        if not refs:
            raise PlatformError(f"X's profile timeline for @{user} ({url}) lists no posts: X "
                                "restricts this timeline without a login (it often answers "
                                "empty), or the account is protected, suspended or has no posts;"
                                " the page does not say which")
        # Post ids grow with time, so this is newest first whatever X pins at the top.
        ordered = sorted(refs.values(), key=lambda ref: int(ref.post_id), reverse=True)
        return Listing(ordered[:limit])

    async def _record(self, post_id: str, post: Post, fetch: Fetch) -> dict[str, Any] | None:
        """The embed service's record of ``post_id`` (None: an empty 404, X does not know it);
        the URL read is added to ``post.source``."""
        url = f"{self.base}/tweet-result?id={post_id}&lang=en&token={embed_token(post_id)}"
        post.source.append(url)
        answer = await fetch(url, headers={"Accept": "application/json"})
        if answer.status == 429:
            raise PlatformError(f"X rate limited {url} (HTTP 429): wait and retry, or capture "
                                "from another network")
        if answer.status == 404:
            if not answer.body.strip() or _is_json(answer):
                return None
            raise PlatformError(f"{url} answered HTTP 404 with {_kind(answer)}, not the empty "
                                "answer of X's embed service: this is not X, or it changed")
        if answer.status == 400:
            raise PlatformError(f"X refused {url} (HTTP 400): the token computed from the post "
                                "id may no longer be the one X's embed uses")
        if answer.status >= 400:
            raise PlatformError(f"X answered HTTP {answer.status} for {url}: "
                                f"{answer.body[:120]!r}")
        if not _is_json(answer):
            raise PlatformError(f"{url} (HTTP {answer.status}) answered {_kind(answer)} where X's "
                                "embed service gives JSON: this is not X, or it changed")
        record = answer.json()
        if not isinstance(record, dict) or not record:
            raise PlatformError(f"{url} gave an empty or non-object answer, not a post record")
        return record

    async def _edit_times(self, post: Post, record: dict[str, Any], fetch: Fetch) -> None:
        """``published`` from the first version, ``edited`` from the latest, when X shows
        edits (each version is its own post id, listed in ``edit_control``)."""
        control = record.get("edit_control") if isinstance(record.get("edit_control"),
                                                           dict) else {}
        initial = control.get("edit_control_initial")
        chain = (initial if isinstance(initial, dict) else control).get("edit_tweet_ids")
        versions = [str(v) for v in chain] if isinstance(chain, list) else []
        this = str(record["id_str"])
        if len(versions) < 2:
            if record.get("isEdited"):
                post.notes.append("X marks the post edited but gives no edit history")
            return
        first, latest = versions[0], versions[-1]
        own_time = post.published
        screen = post.author_handle
        post.published = own_time if this == first else await self._version_time(
            first, post, fetch)
        post.edited = own_time if this == latest else await self._version_time(
            latest, post, fetch)
        post.notes.append(f"X shows the post as edited: versions {', '.join(versions)} (each "
                          "has its own id); published is the first version's time, edited the "
                          "latest version's")
        if this != latest:
            post.notes.append(f"this is an earlier version (text as it was then); the latest "
                              f"version is https://x.com/{screen}/status/{latest}")

    async def _version_time(self, version: str, post: Post, fetch: Fetch) -> str | None:
        """The time of another version of an edited post, or None with a note saying why."""
        try:
            record = await self._record(version, post, fetch)
        except PlatformError as exc:
            post.notes.append(f"the time of version {version} could not be read: {exc}")
            return None
        created = record.get("created_at") if isinstance(record, dict) else None
        if record is None or not created:
            post.notes.append(f"X gives no time for version {version} of the post")
            return None
        return _time(created)


def embed_token(post_id: str) -> str:
    """The ``token`` X's embed sends with ``tweet-result``: in JavaScript,
    ``(Number(id) / 1e15 * Math.PI).toString(36)`` with every "0" and the point removed."""
    value = float(int(post_id)) / 1e15 * math.pi  # Number(id): the id rounded to a double
    return re.sub(r"0+|\.", "", _js_radix(value, 36))


def _js_radix(value: float, radix: int) -> str:
    """A positive double written in ``radix`` exactly as JavaScript's Number#toString does:
    fraction digits until the value is told apart from its neighbouring doubles, rounded."""
    whole = math.floor(value)
    fraction = value - whole
    # Half the gap to the next double: digits beyond this precision would be noise.
    delta = max(0.5 * (math.nextafter(value, math.inf) - value), math.nextafter(0.0, 1.0))
    digits: list[int] = []
    while fraction >= delta:
        fraction *= radix
        delta *= radix
        digit = int(fraction)
        digits.append(digit)
        fraction -= digit
        if (fraction > 0.5 or (fraction == 0.5 and digit & 1)) and fraction + delta > 1:
            # Round up, carrying into earlier digits (a digit that overflows is dropped).
            while True:
                if not digits:
                    whole += 1
                    break
                last = digits.pop() + 1
                if last < radix:
                    digits.append(last)
                    break
            break
    head = ""
    number = int(whole)
    while True:
        number, rest = divmod(number, radix)
        head = DIGITS[rest] + head
        if not number:
            break
    return head + ("." + "".join(DIGITS[d] for d in digits) if digits else "")


def published_text(record: dict[str, Any]) -> tuple[str, list[str]]:
    """The post's text as X shows it (links as their destinations, the hidden trailing media
    link removed), with notes saying what was changed from the record's raw ``text``."""
    text = html.unescape(record["text"])  # X escapes &, < and > in the record
    entities = record.get("entities") if isinstance(record.get("entities"), dict) else {}
    notes: list[str] = []
    hidden = {m.get("url") for m in _list(entities.get("media")) if m.get("url")}
    quoted = dig(record, "quoted_tweet", "id_str")
    if quoted:  # the link to the quoted post, which X shows as the quote itself
        hidden |= {u.get("url") for u in _list(entities.get("urls"))
                   if f"/status/{quoted}" in str(u.get("expanded_url", ""))}
    hidden.discard(None)
    span = record.get("display_text_range")
    if (isinstance(span, list) and len(span) == 2 and all(isinstance(i, int) for i in span)
            and span[1] < len(text)):
        tail = text[span[1]:]
        rest = tail
        for link in hidden:
            rest = rest.replace(link, "")
        if not rest.strip():
            text = text[:span[1]]
            notes.append(f"removed the trailing link(s) X does not show with the text "
                         f"(outside display_text_range): {' '.join(tail.split())}")
        else:
            notes.append("display_text_range ends before text X would show; the whole text "
                         "was kept")
    expanded = []
    for link in _list(entities.get("urls")):
        short, target = link.get("url"), link.get("expanded_url")
        if short and target and short in text:
            text = text.replace(short, target)
            expanded.append(f"{short} \u2192 {target}")
    if expanded:
        notes.append("t.co links replaced by their destinations as X gives them "
                     f"(expanded_url): {'; '.join(expanded)}")
    return text, notes


def _check_tweet(record: dict[str, Any], url: str) -> None:
    """Raise PlatformError unless ``record`` has what every post record has."""
    missing = [key for key in ("id_str", "text", "user") if key not in record]
    user = record.get("user")
    if not missing and not (isinstance(user, dict) and user.get("screen_name")):
        missing.append("user.screen_name")
    if not missing and not isinstance(record["text"], str):
        missing.append("text (as a string)")
    if missing:
        raise PlatformError(f"{url} is not an X post record: no {', '.join(missing)} (the "
                            "embed service's answer changed shape)")


def _fill(post: Post, record: dict[str, Any], url_user: str | None) -> None:
    user = record["user"]
    screen = str(user["screen_name"])
    shown_id = str(record["id_str"])
    if shown_id != post.post_id:
        post.notes.append(f"X answered with post {shown_id} for {post.post_id}")
    post.url = f"https://x.com/{screen}/status/{shown_id}"
    if url_user and url_user.lower() != screen.lower():
        post.notes.append(f"the URL names @{url_user}; X gives the author as @{screen} (X "
                          "ignores the name in a post URL; the account may have been renamed)")
    post.author_id = _str(user.get("id_str"))
    post.author_handle = screen
    post.author_name = _str(user.get("name"))
    post.published = _time(record.get("created_at"), post.notes)
    if "created_at" not in record:
        post.notes.append("X gives no publication time for the post")
    post.language = _str(record.get("lang"))
    post.text, notes = published_text(record)
    post.notes += notes
    for key, name in (("conversation_count", "replies"), ("favorite_count", "likes")):
        if isinstance(record.get(key), int):
            post.counts[name] = record[key]
    if isinstance(dig(record, "video", "viewCount"), int):
        post.counts["video_views"] = record["video"]["viewCount"]
    parent = record.get("parent") if isinstance(record.get("parent"), dict) else {}
    parent_id = _str(record.get("in_reply_to_status_id_str")) or _str(parent.get("id_str"))
    if parent_id:
        parent_user = (_str(record.get("in_reply_to_screen_name"))
                       or _str(dig(parent, "user", "screen_name")))
        post.reply_to = (f"https://x.com/{parent_user}/status/{parent_id}" if parent_user
                         else f"https://x.com/i/web/status/{parent_id}")
    quoted = record.get("quoted_tweet")
    if isinstance(quoted, dict) and quoted.get("id_str"):
        quoted_user = _str(dig(quoted, "user", "screen_name"))
        post.quote_of = (f"https://x.com/{quoted_user}/status/{quoted['id_str']}" if quoted_user
                         else f"https://x.com/i/web/status/{quoted['id_str']}")
    place = record.get("place")
    if isinstance(place, dict):
        post.place = _str(place.get("full_name")) or _str(place.get("name"))
        country = _str(place.get("country"))
        if post.place and country and country not in post.place:
            post.place = f"{post.place}, {country}"
    _media(post, record)
    if record.get("possibly_sensitive"):
        post.notes.append("X marks the post as possibly sensitive")


def _media(post: Post, record: dict[str, Any]) -> None:
    details = _list(record.get("mediaDetails"))
    for number, detail in enumerate(details, 1):
        kind = detail.get("type")
        alt = _str(detail.get("ext_alt_text"))
        if kind == "photo" and detail.get("media_url_https"):
            post.media.append(Media(str(detail["media_url_https"]), "image", alt))
        elif kind in ("video", "animated_gif"):
            variants = _list(dig(detail, "video_info", "variants"))
            files = [v for v in variants if v.get("content_type") == "video/mp4" and v.get("url")]
            if files:
                best = max(files, key=lambda v: v.get("bitrate") or 0)
                post.media.append(Media(str(best["url"]), "video", alt))
            elif any(v.get("url") for v in variants):
                post.media.append(Media(str(next(v["url"] for v in variants if v.get("url"))),
                                        "video", alt))
                post.notes.append(f"media {number}: no MP4 file, the stream playlist is listed")
            else:
                post.media.append(Media(post.url, "video", alt))
                post.notes.append(f"media {number}: X gives no video file; the post URL is "
                                  "listed for yt-dlp")
        else:
            post.notes.append(f"media {number}: unknown type {kind!r}, not listed")
            continue
        status = dig(detail, "ext_media_availability", "status")
        if status and status != "Available":
            post.notes.append(f"media {number}: X marks it {status!r}")
    if not details:
        for photo in _list(record.get("photos")):
            if photo.get("url"):
                post.media.append(Media(str(photo["url"]), "image"))
    card = record.get("card")
    if isinstance(card, dict) and card.get("url"):
        short = str(card["url"])
        links = {u.get("url"): u.get("expanded_url") for u in _list(dig(record, "entities",
                                                                         "urls"))}
        post.media.append(Media(str(links.get(short) or short), "link"))


def _tombstone_text(record: dict[str, Any], url: str) -> str:
    said = dig(record, "tombstone", "text", "text")
    if not isinstance(said, str) or not said.strip():
        raise PlatformError(f"{url} is a TweetTombstone without tombstone.text.text (the embed "
                            "service changed shape)")
    return said.strip()


def _tombstone_status(said: str) -> tuple[str, str]:
    """The status a tombstone's words give, and why."""
    words = said.lower().replace("\u2019", "'")
    if "deleted" in words:
        return DELETED, "X says the post was deleted"
    if "suspended" in words:
        return SUSPENDED, "X says the account is suspended"
    if "no longer exists" in words:
        return DELETED, "X says the account no longer exists (deactivated or deleted)"
    if "violated" in words:
        return DELETED, "X says it removed the post for breaking its rules"
    if any(w in words for w in ("age-restricted", "adult content", "log in", "sign in")):
        # X shows these to logged-in accounts with an adult age on record: a login wall.
        return LOGIN_WALL, "X shows the post only to logged-in adults (age-restricted)"
    if "limits who can view" in words or "protected" in words:
        # Logging in is not enough: only the approved followers of the account see it.
        return UNAVAILABLE, "the account is protected (only approved followers see its posts)"
    if "withheld" in words or "country" in words:
        return UNAVAILABLE, "X withholds the post in the country the request came from"
    return UNAVAILABLE, "X does not show the post and does not say it was deleted"


def _unavailable_status(reason: str) -> tuple[str, str]:
    if reason in ("NsfwLoggedOut", "NsfwViewerHasNoStatedAge", "NsfwViewerIsUnderage"):
        return LOGIN_WALL, "X shows the post only to logged-in adults"
    if reason == "Suspended":
        return SUSPENDED, "X says the account is suspended"
    if reason == "Protected":
        return UNAVAILABLE, "the account is protected (only approved followers see its posts)"
    return UNAVAILABLE, "X says the post is unavailable"


def _time(value: object, notes: list[str] | None = None) -> str | None:
    """X's times: ISO 8601 in post records, "Fri Nov 20 08:15:30 +0000 2026" in timelines."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return utc_iso(datetime.strptime(value, LEGACY_TIME))
    except ValueError:
        pass
    try:
        return utc_iso(value)
    except ValueError:
        if notes is not None:
            notes.append(f"unreadable time {value!r}")
        return None


def _is_json(answer: Fetched) -> bool:
    try:
        json.loads(answer.body)
    except ValueError:
        return False
    return True


def _kind(answer: Fetched) -> str:
    kind = answer.headers.get("content-type", "").split(";")[0] or "an untyped answer"
    return f"{kind} ({answer.body[:60]!r})"


def _list(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _str(value: object) -> str | None:
    return str(value) if value not in (None, "") else None
