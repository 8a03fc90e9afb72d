"""Facebook public posts and pages, from the HTML Facebook serves to a logged-out browser.

Facebook is the hardest platform to read without a login; what this module reads, and what it
cannot:

- **Post** (``/<page>/posts/<id|pfbid>``, ``permalink.php``/``story.php``, videos, ``watch``,
  reels, photos, group posts, ``/share/p|v|r/`` and ``fb.watch`` links): the post's own page,
  fetched on the configured base (www.facebook.com; other hosts such as m. or mbasic. are read
  there too). Share links and old links are redirected by Facebook: both the URL asked for and
  the final URL are in ``Post.source``. The record comes from the page data, the Relay JSON in
  the ``<script type="application/json" data-sjs>`` blobs: the story whose ``post_id`` (or URL,
  or attached video/photo id) is the one asked for, and the other fragments with its Relay id
  (``creation_time`` sits in the context-layout fragment). Author from ``actors[0]``, text from
  ``message.text`` (exactly as published), time from ``creation_time`` (epoch), place from
  ``place.name``, media from ``attachments`` (videos: the direct file, HD first, as type video;
  photos: ``photo_image`` with Facebook's ``accessibility_caption`` as alt), a shared post
  (``attached_story``) as ``forwarded_from``, and counts from the post's ``Feedback`` object:
  ``likes`` = all reactions together (``reaction_count``, not only Like), ``replies`` =
  comments, ``shares`` = shares, ``views`` = the video's ``video_view_count``.
  When the page data does not hold the post, the Open Graph tags are the fallback: text from
  og:description (which Facebook truncates: said in the notes), og:video/og:image as media, and
  no author, time or counts.
- **Statuses**: a redirect to ``/login`` or a login form with no post → LOGIN_WALL; "This
  content isn't available right now" and "This page isn't available" → UNAVAILABLE, quoting
  Facebook, which does not say whether the post was deleted, shared with a small group, or had
  its audience changed (so never DELETED or SUSPENDED). "You're Temporarily Blocked", a
  ``/checkpoint`` redirect, HTTP 429 or 5xx, and a page with neither the data blobs nor
  Facebook's Open Graph tags (layout change) raise PlatformError. The messages are matched in
  English: ``Accept-Language: en-US`` is sent, but a session with another language breaks them.
- **Page listing** (``/<page>``, ``/profile.php?id=``, ``/people/<name>/<id>``): the posts in
  the logged-out page's data blobs (the first screenful only, often a few posts or none), with
  ``creation_time``, newest first, at most ``limit``. Facebook pages further back only through
  its GraphQL API with per-session tokens: there is no public paging, so none is attempted.

Needs a login (a configured session): groups, most profiles, anything Facebook puts behind its
login wall for the network or client asking. Not read: edits (not shown logged out), comments,
reactions by kind, the post's language. Known to break: Facebook renames the Relay fields and
fragments often; it serves different HTML to clients it does not recognise as browsers; it
blocks networks that read too much.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from parsel import Selector

from crawlers.platforms.base import (
    LOGIN_WALL,
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
    shown_count,
    utc_iso,
)

WWW = "https://www.facebook.com"
WATCH_HOSTS = frozenset({"fb.watch", "www.fb.watch"})
LOCALE_HOST = re.compile(r"^[a-z]{2}-[a-z]{2}\.facebook\.com$")  # e.g. ar-ar.facebook.com
POST_ID = re.compile(r"^(?:\d+|pfbid[A-Za-z0-9]+)$")
NUMBER = re.compile(r"^\d+$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
SHARE_CODE = re.compile(r"^[A-Za-z0-9_-]+$")
# First path segments that are Facebook's own features, never a page or profile.
RESERVED = frozenset({
    "about", "ads", "ajax", "api", "bookmarks", "business", "campaign", "careers", "checkpoint",
    "composer", "cookie", "dialog", "directory", "events", "facebook", "feeds", "find-friends",
    "flx", "friends", "fundraisers", "games", "gaming", "graphql", "groups", "hashtag", "help",
    "home.php", "jobs", "l.php", "legal", "live", "login", "login.php", "logout.php",
    "marketplace", "me", "media", "memories", "menu", "messages", "mobile", "notes",
    "notifications", "offers", "pages", "people", "permalink.php", "pg", "photo", "photo.php",
    "places", "plugins", "policies", "policy.php", "privacy", "profile.php", "r.php", "recover",
    "reel", "reels", "reg", "saved", "search", "settings", "share", "sharer", "sharer.php",
    "signup", "stories", "story.php", "terms", "tr", "unsupportedbrowser", "video", "video.php",
    "watch", "watchparty",
})
# What a logged-out browser sends for a page; English, so Facebook's messages can be matched.
HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en-US,en;q=0.9",
    "Sec-Fetch-Dest": "document",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Site": "none",
    "Upgrade-Insecure-Requests": "1",
}
CONTENT_GONE = re.compile(r"\b(?:this|the) (?:content|video|post|reel|photo) isn[’']t "
                          r"available", re.IGNORECASE)
PAGE_GONE = re.compile(r"\bthis page isn[’']t available", re.IGNORECASE)
BLOCKED = re.compile(r"\btemporarily blocked\b", re.IGNORECASE)
LOGIN_PATH = re.compile(r"^/login(?:\.php)?(?:/|$)")
LOGIN_MARKS = ("useCometLogInFormQuery", "You must log in to continue")
LOGIN_TITLE = re.compile(r"\blog ?in\b", re.IGNORECASE)
VIDEO_URL_KEYS = ("playable_url_quality_hd", "browser_native_hd_url", "playable_url",
                  "browser_native_sd_url")


class FacebookPlatform(Platform):
    name = "facebook"
    default_base = WWW
    hosts = frozenset({"www.facebook.com", "facebook.com", "m.facebook.com", "web.facebook.com",
                       "mbasic.facebook.com", "touch.facebook.com", "mobile.facebook.com",
                       "fb.watch", "www.fb.watch", "fb.com", "www.fb.com"})

    def owns(self, url: str) -> bool:
        """Facebook's hosts, its language hosts (``ar-ar.facebook.com``), or the base's."""
        if super().owns(url):
            return True
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(
            LOCALE_HOST.match((parts.hostname or "").lower()))

    def match(self, url: str) -> Target | None:
        if not self.owns(url):
            return None
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        path = [p for p in parts.path.split("/") if p]
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        on_base = self.overridden and parts.netloc == urlsplit(self.base).netloc
        if on_base and path[:1] == ["fb.watch"]:  # how the base serves fb.watch (see _on_base)
            host, path = "fb.watch", path[1:]
        if host in WATCH_HOSTS:
            if len(path) == 1 and SHARE_CODE.match(path[0]):
                return Target(self.name, "post", url, {"share": path[0], "share_kind": "watch"})
            return None
        ids = _post_ids(path, query)
        if ids is not None:
            return Target(self.name, "post", url, ids)
        ids = _channel_ids(path, query)
        if ids is not None:
            return Target(self.name, "channel", url, ids)
        return None

    def capture_url(self, canonical: str) -> str:
        host = (urlsplit(canonical).hostname or "").lower()
        return self._on_base(canonical) if self.overridden and host in self.hosts else canonical

    async def extract_post(self, target: Target, fetch: Fetch) -> Post:
        """Read one post from its page. See the module docstring for the sources."""
        url = self._on_base(target.url)
        wanted = [target.ids[k] for k in ("post", "video", "photo") if k in target.ids]
        fallback_id = wanted[0] if wanted else target.ids.get("share", "")
        post = Post(self.name, fallback_id, self._public(target.url), source=[url])
        page = await self._read(fetch, url)
        final = self._public(page.answer.url)
        if page.answer.url != url:
            post.source.append(page.answer.url)
            moved = self.match(final)
            if moved is not None and moved.kind == "post":
                wanted += [moved.ids[k] for k in ("post", "video", "photo") if k in moved.ids]
                post.url = final
        if page.login_redirect:
            post.status = LOGIN_WALL
            post.notes.append(f"Facebook redirected to its login page ({page.answer.url}) "
                              "instead of the post: reading it needs a logged-in session "
                              "(platforms.facebook.cookies_file)")
            return post
        story = _focal(page.stories, wanted)
        if story is not None:
            self._fill(post, story, page)
            return post
        if page.said:
            post.status = UNAVAILABLE
            unsaid = ("whether the page or post was removed, restricted, or the link is wrong"
                      if page.page_gone else "whether the post was deleted, shared with a small "
                      "group, or had who can see it changed")
            post.notes.append(f'Facebook says: "{page.said}"; it does not say {unsaid}, so the '
                              "post is recorded as unavailable, not deleted")
            return post
        og_url = page.og.get("og:url", "")
        og_target = self.match(og_url) if urlsplit(og_url).hostname in self.hosts else None
        if og_target is not None and og_target.kind == "post":
            self._fill_from_og(post, page)
            return post
        if page.login_form:
            post.status = LOGIN_WALL
            post.notes.append(f"Facebook shows a login form instead of the post at "
                              f"{page.answer.url}: reading it needs a logged-in session "
                              "(platforms.facebook.cookies_file)")
            return post
        described = ", ".join(wanted) or "the post"
        raise PlatformError(
            f"{page.answer.url} (HTTP {page.answer.status}): Facebook's page data holds "
            f"{len(page.stories)} post(s), none of them {described}, and no Open Graph tags for "
            "a post: the layout changed, or Facebook showed something else")

    async def list_posts(self, target: Target, fetch: Fetch, limit: int) -> Listing:
        """The posts the page shows logged out (one screenful), newest first, at most
        ``limit``. Facebook has no public paging: older posts need a logged-in session."""
        ids = target.ids
        if "page" in ids and "profile_id" in ids:
            url = f"{self.base}/people/{ids['page']}/{ids['profile_id']}"
        elif "profile_id" in ids:
            url = f"{self.base}/profile.php?id={ids['profile_id']}"
        else:
            url = f"{self.base}/{ids['page']}"
        page = await self._read(fetch, url)
        if page.said and not page.stories:
            raise PlatformError(f'Facebook says "{page.said}" for {target.url}: the page or '
                                "profile is removed, restricted, or the link is wrong (Facebook "
                                "does not say which)")
        if page.login_redirect or (page.login_form and not page.stories):
            raise PlatformError(f"Facebook shows its login page instead of {target.url}: "
                                "listing it needs a logged-in session "
                                "(platforms.facebook.cookies_file)")
        own = [story for story in page.stories if not story.shared]
        if not own:
            raise PlatformError(f"the logged-out view of {target.url} ({url}) lists no posts in "
                                "its page data: Facebook shows some pages' posts only to "
                                "logged-in visitors, or the layout changed")
        refs = []
        for story in own:
            refs.append(PostRef(self.name, story.post_id, self._story_url(story, ids),
                                utc_iso(story.creation_time())))
        # The page puts pinned posts first; the time says which is newest.
        dated = sorted((r for r in refs if r.published), key=lambda r: r.published or "",
                       reverse=True)
        return Listing((dated + [r for r in refs if not r.published])[:limit])

    # -- reading ------------------------------------------------------------------------------

    async def _read(self, fetch: Fetch, url: str) -> _Page:
        """Fetch one page and say what it is; raise for what the module cannot read."""
        answer = await fetch(url, headers=HEADERS)
        if answer.status == 429:
            raise PlatformError(f"Facebook rate limited the request for {url} (HTTP 429): wait "
                                "before trying again, or use another network or session")
        if answer.status >= 500:
            raise PlatformError(f"Facebook answered HTTP {answer.status} for {url}: try again "
                                "later")
        final_path = urlsplit(self._public(answer.url)).path.lower()
        page = _Page(answer)
        if LOGIN_PATH.match(final_path):
            page.login_redirect = True
            return page
        if final_path.startswith("/checkpoint"):
            raise PlatformError(f"Facebook sent {url} to a checkpoint ({answer.url}): it has "
                                "blocked this client or wants it to verify itself; wait, or "
                                "use another network or session")
        text = answer.text()
        selector = Selector(text=text)
        shown = [" ".join(t.split()) for t in selector.xpath(
            "//body//text()[not(ancestor::script) and not(ancestor::style)]").getall()]
        shown = [t for t in shown if t]
        page.og = {m.attrib["property"]: m.attrib.get("content", "")
                   for m in reversed(selector.xpath("//meta[@property]"))}
        blobs = _blobs(selector)
        page.objects = [obj for blob in blobs for obj in _objects(blob)]
        page.stories = _stories(page.objects)
        blocked = None if page.stories else _quote(shown, BLOCKED)  # a post may say the words
        if blocked:
            raise PlatformError(f'Facebook says "{blocked}" for {url}: it has temporarily '
                                "blocked this client; wait, or use another network or session")
        page.said = _quote(shown, CONTENT_GONE)
        if page.said is None:
            page.said = _quote(shown, PAGE_GONE)
            page.page_gone = page.said is not None
        # Every logged-out page has a small login form in its top bar: only a page that is
        # itself a login page counts.
        title = selector.xpath("string(//title)").get() or ""
        page.login_form = bool(LOGIN_TITLE.search(title)) or any(
            mark in text for mark in LOGIN_MARKS)
        facebook_og = (urlsplit(page.og.get("og:url", "")).hostname or "") in self.hosts
        if not blobs and not facebook_og and not page.said and not page.login_form:
            raise PlatformError(
                f"{url} (HTTP {answer.status}) has neither Facebook's page data (<script "
                "data-sjs> JSON) nor its Open Graph tags: the layout changed or this is not "
                "Facebook")
        return page

    def _fill(self, post: Post, story: _Story, page: _Page) -> None:
        post.post_id = story.post_id
        url = story.url()
        if url and (urlsplit(url).hostname or "") in self.hosts:
            post.url = url
        actor = story.actor()
        if actor:
            post.author_id = _str(actor.get("id"))
            post.author_name = _str(actor.get("name"))
            post.author_handle = _handle(_str(actor.get("url") or actor.get("profile_url")))
        else:
            post.notes.append("the post's data has no author (actors)")
        post.published = utc_iso(story.creation_time())
        if post.published is None:
            post.notes.append("the post's data has no creation_time: the time is not known")
        post.text = story.text()
        if post.text is None:
            post.notes.append("the post's data has no message text (a post without text)")
        place = story.get("place")
        if isinstance(place, dict):
            post.place = _str(place.get("name"))
        media, missing = _media(story.get("attachments"))
        post.media = media
        post.notes += missing
        _counts(post, story, page)
        attached = story.get("attached_story")
        if isinstance(attached, dict):
            shared = _Story(_str(attached.get("post_id")) or "", [attached], shared=True)
            post.forwarded_from = self._story_url(shared, {}) if shared.post_id else (
                shared.url() or _str((shared.actor() or {}).get("name")))
            if post.forwarded_from is None:
                post.notes.append("the post shares another, which the page data does not "
                                  "identify")
            more, missing = _media(attached.get("attachments"))
            if more:
                post.media += more
                post.notes.append(f"{len(more)} media item(s) listed last are the shared "
                                  f"post's ({post.forwarded_from})")
            post.notes += missing
        post.notes.append("read from the post page's data (Relay JSON in its data-sjs scripts)")

    def _fill_from_og(self, post: Post, page: _Page) -> None:
        og = page.og
        post.url = self._public(og["og:url"])
        post.text = og.get("og:description") or None
        video = og.get("og:video:secure_url") or og.get("og:video")
        if video:
            post.media.append(Media(video, "video"))
        if og.get("og:image"):
            post.media.append(Media(og["og:image"], "image"))
        post.notes += [
            "the page data does not hold this post: every field comes from the page's Open "
            "Graph tags only",
            "text is og:description, which Facebook truncates: it may not be the full text",
            "og:image is Facebook's preview image for the post, not necessarily its photo",
            "author, publication time and counts are not in the Open Graph tags: not read",
        ]
        if og.get("og:title"):
            post.notes.append(f"og:title (not a post title): {og['og:title']!r}")

    def _story_url(self, story: _Story, ids: dict[str, str]) -> str:
        url = story.url()
        if url and (urlsplit(url).hostname or "") in self.hosts:
            return self._public(url)
        if "page" in ids and "profile_id" not in ids:
            return f"{WWW}/{ids['page']}/posts/{story.post_id}"
        owner = _str((story.actor() or {}).get("id")) or ids.get("profile_id")
        if owner:
            return f"{WWW}/permalink.php?story_fbid={story.post_id}&id={owner}"
        return f"{WWW}/{story.post_id}"  # Facebook resolves a bare object id

    # -- URLs ---------------------------------------------------------------------------------

    def _on_base(self, url: str) -> str:
        """Where to fetch a Facebook URL: its path on the base (www.facebook.com, or the
        configured one). fb.watch links are read on fb.watch itself, or under
        ``<base>/fb.watch/`` when the base is overridden."""
        parts = urlsplit(url)
        query = f"?{parts.query}" if parts.query else ""
        host = (parts.hostname or "").lower()
        if host in WATCH_HOSTS:
            if not self.overridden:
                return f"https://fb.watch{parts.path}{query}"
            return f"{self.base}/fb.watch{parts.path}{query}"
        return f"{self.base}{parts.path or '/'}{query}"

    def _public(self, url: str) -> str:
        """The public form of a URL read on the base (or on m./web./mbasic.)."""
        parts = urlsplit(url)
        query = f"?{parts.query}" if parts.query else ""
        host = (parts.hostname or "").lower()
        if self.overridden and parts.netloc == urlsplit(self.base).netloc:
            if parts.path.startswith("/fb.watch/"):
                return f"https://fb.watch{parts.path[len('/fb.watch'):]}{query}"
            return f"{WWW}{parts.path}{query}"
        if host == "facebook.com" or host.endswith(".facebook.com") or host in (
                "fb.com", "www.fb.com"):
            return f"{WWW}{parts.path}{query}"
        return url


# -- URL shapes -------------------------------------------------------------------------------

def _post_ids(path: list[str], query: dict[str, str]) -> dict[str, str] | None:
    """The ids of a post URL, or None when the path is not a post's."""
    if not path:
        return None
    first = path[0].lower()
    if first in ("permalink.php", "story.php") and len(path) == 1:
        story, owner = query.get("story_fbid", ""), query.get("id", "")
        if POST_ID.match(story):
            return {"post": story, **({"owner": owner} if owner else {})}
        return None
    if first in ("watch", "video.php") or path[:2] in (["watch", "live"], ["video", "video.php"]):
        if len(path) <= 2 and NUMBER.match(query.get("v", "")):
            return {"video": query["v"]}
        return None
    if first == "reel" and len(path) == 2 and NUMBER.match(path[1]):
        return {"video": path[1]}
    if first in ("photo", "photo.php") and len(path) == 1:
        return {"photo": query["fbid"]} if NUMBER.match(query.get("fbid", "")) else None
    if first == "share" and len(path) == 3 and path[1] in ("p", "v", "r") and SHARE_CODE.match(
            path[2]):
        return {"share": path[2], "share_kind": path[1]}
    if first == "groups" and len(path) in (4, 5) and path[2] in ("posts", "permalink"):
        # /groups/<group>/posts/<id>, also with a hex segment before the id
        if POST_ID.match(path[-1]) and (len(path) == 4 or re.match(r"^[\da-f]+$", path[3])):
            return {"group": path[1], "post": path[-1]}
        return None
    if first in RESERVED or not NAME.match(path[0]) or len(path) < 3:
        return None
    page, section = path[0], path[1]
    if section == "posts" and len(path) == 3 and POST_ID.match(path[2]):
        return {"page": page, "post": path[2]}
    if section == "videos" and len(path) in (3, 4) and NUMBER.match(path[-1]):
        return {"page": page, "video": path[-1]}
    if section == "photos" and len(path) in (3, 4) and NUMBER.match(path[-1]):
        return {"page": page, "photo": path[-1]}
    return None


def _channel_ids(path: list[str], query: dict[str, str]) -> dict[str, str] | None:
    """The ids of a page or profile URL, or None."""
    if path == ["profile.php"] and NUMBER.match(query.get("id", "")):
        return {"profile_id": query["id"]}
    if len(path) == 3 and path[0] == "people" and NUMBER.match(path[2]):
        return {"page": path[1], "profile_id": path[2]}
    if len(path) == 1 and NAME.match(path[0]) and path[0].lower() not in RESERVED and not (
            path[0].endswith(".php")):
        return {"page": path[0]}
    return None


def _handle(url: str | None) -> str | None:
    """A profile URL's vanity name (``facebook.com/<name>``), None for numeric profiles."""
    if not url:
        return None
    path = [p for p in urlsplit(url).path.split("/") if p]
    if len(path) == 1 and NAME.match(path[0]) and path[0].lower() not in RESERVED and not (
            path[0].endswith(".php")):
        return path[0]
    return None


# -- page data --------------------------------------------------------------------------------

@dataclass
class _Page:
    answer: Fetched
    og: dict[str, str] = field(default_factory=dict)
    objects: list[tuple[dict[str, Any], bool]] = field(default_factory=list)  # all, in order
    stories: list[_Story] = field(default_factory=list)
    said: str | None = None          # Facebook's own "isn't available" words
    page_gone: bool = False          # ... about the whole page ("This page isn't available")
    login_redirect: bool = False
    login_form: bool = False


@dataclass
class _Story:
    """One post of the page data: every object that carries its Relay id (content, context
    layout with the time, message...), the object with ``post_id`` first."""

    post_id: str
    parts: list[dict[str, Any]]
    shared: bool = False            # only seen inside another post (a share's original)

    def get(self, key: str) -> Any:
        for part in self.parts:
            if part.get(key) is not None:
                return part[key]
        return None

    def url(self) -> str | None:
        return _str(self.get("wwwURL")) or _str(self.get("url"))

    def actor(self) -> dict[str, Any] | None:
        actors = self.get("actors")
        if isinstance(actors, list) and actors and isinstance(actors[0], dict):
            return actors[0]
        return None

    def creation_time(self) -> int | None:
        value = self.get("creation_time")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def text(self) -> str | None:
        message = self.get("message")
        if isinstance(message, dict) and isinstance(message.get("text"), str):
            return message["text"]
        return None

    def feedback_id(self) -> str:
        """The Relay id of the post's Feedback object: base64 of ``feedback:<post_id>``."""
        return base64.b64encode(f"feedback:{self.post_id}".encode()).decode()

    def media_ids(self) -> set[str]:
        return {_str(m.get("id")) or "" for m in _media_objects(self.get("attachments"))}

    def url_segments(self) -> set[str]:
        url = self.url() or ""
        parts = urlsplit(url)
        return {p for p in parts.path.split("/") if p} | {
            v for values in parse_qs(parts.query).values() for v in values}


def _blobs(selector: Selector) -> list[Any]:
    """The JSON of every data-sjs script; unreadable ones are skipped (they hold no post)."""
    found = []
    for text in selector.xpath("//script[@type='application/json'][@data-sjs]/text()").getall():
        try:
            found.append(json.loads(text))
        except ValueError:
            continue
    return found


def _objects(value: Any, shared: bool = False) -> Iterator[tuple[dict[str, Any], bool]]:
    """Every JSON object in ``value``, in document order, and whether it sits inside a shared
    post (``attached_story``)."""
    if isinstance(value, dict):
        yield value, shared
        for key, item in value.items():
            yield from _objects(item, shared or key == "attached_story")
    elif isinstance(value, list):
        for item in value:
            yield from _objects(item, shared)


def _stories(objects: list[tuple[dict[str, Any], bool]]) -> list[_Story]:
    """The posts in the page data, in document order, each with all its fragments."""
    by_id: dict[str, list[dict[str, Any]]] = {}
    found: list[tuple[dict[str, Any], bool]] = []
    for obj, shared in objects:
        relay_id = obj.get("id")
        if isinstance(relay_id, str):
            by_id.setdefault(relay_id, []).append(obj)
        if _str(obj.get("post_id")) and isinstance(obj.get("actors"), list):
            found.append((obj, shared))
    stories: dict[str, _Story] = {}
    for obj, shared in found:
        relay_id = obj.get("id") if isinstance(obj.get("id"), str) else None
        key = relay_id or f"post:{obj['post_id']}"
        if key in stories:
            stories[key].shared = stories[key].shared and shared
            continue
        others = [o for o in by_id.get(relay_id or "", []) if o is not obj]
        stories[key] = _Story(_str(obj["post_id"]) or "", [obj, *others], shared)
    return list(stories.values())


def _focal(stories: list[_Story], wanted: list[str]) -> _Story | None:
    """The story the URL names: by post id, by an id in its URL (pfbid), or by the id of its
    video or photo. With no id to look for (an unresolved share link), the page's only post."""
    if not wanted:
        own = [s for s in stories if not s.shared]
        return own[0] if len(own) == 1 else None
    for test in (lambda s, w: s.post_id == w,
                 lambda s, w: w in s.url_segments(),
                 lambda s, w: not s.shared and w in s.media_ids()):
        for wanted_id in wanted:
            for story in stories:
                if test(story, wanted_id):
                    return story
    return None


def _media_objects(value: Any) -> Iterator[dict[str, Any]]:
    """The videos, photos and links in attachments, not descending into a found one or into a
    shared post."""
    if isinstance(value, dict):
        if value.get("__typename") in ("Video", "Photo") or isinstance(
                value.get("external_url"), str):
            yield value
            return
        for key, item in value.items():
            if key != "attached_story":
                yield from _media_objects(item)
    elif isinstance(value, list):
        for item in value:
            yield from _media_objects(item)


def _media(attachments: Any) -> tuple[list[Media], list[str]]:
    """The attachments as Media (each once), and notes on what had no URL.

    A video or photo appears several times (the media itself, and references to it such as
    ``target: {__typename, id}``): the first occurrence with a URL is the one listed."""
    found: dict[str, Media | None] = {}
    kinds: dict[str, str] = {}
    for obj in _media_objects(attachments):
        typename = obj.get("__typename")
        url: str | None
        if typename == "Video":
            url, kind = _video_url(obj), "video"
        elif typename == "Photo":
            image = obj.get("photo_image") or obj.get("image") or obj.get("viewer_image")
            url, kind = (_str(image.get("uri")) if isinstance(image, dict) else None), "image"
        else:
            url, kind = _str(obj.get("external_url")), "link"
        key = f"{kind}:{_str(obj.get('id')) or url}"
        kinds[key] = kind
        if found.get(key) is None:
            found[key] = Media(url, kind, _str(obj.get("accessibility_caption"))) if url else None
    media: list[Media] = []
    for item in found.values():
        if item is not None and all(item.url != m.url for m in media):  # same file once
            media.append(item)
    notes = [f"a {kinds[key]} attachment ({key.partition(':')[2]}) has no URL in the page data"
             for key, item in found.items() if item is None]
    return media, notes


def _video_url(video: dict[str, Any]) -> str | None:
    """The video's direct file, HD first; else its page (yt-dlp reads it from there)."""
    sources = [video, video.get("videoDeliveryLegacyFields") or {}]
    for key in VIDEO_URL_KEYS:
        for source in sources:
            if isinstance(source, dict) and _str(source.get(key)):
                return _str(source[key])
    delivery = (video.get("videoDeliveryResponseFragment") or {}).get(
        "videoDeliveryResponseResult") or {}
    progressive = [p for p in delivery.get("progressive_urls") or [] if isinstance(p, dict)
                   and _str(p.get("progressive_url"))]
    progressive.sort(key=lambda p: str((p.get("metadata") or {}).get("quality", "")).upper()
                     != "HD")
    if progressive:
        return _str(progressive[0]["progressive_url"])
    return _str(video.get("permalink_url")) or _str(video.get("url"))


def _counts(post: Post, story: _Story, page: _Page) -> None:
    """Reactions, comments and shares from the post's Feedback object; views from its video."""
    # The Feedback fragments can be anywhere in the page data, not inside the story's own.
    feedback_id = story.feedback_id()
    feedback = [obj for obj, _ in page.objects if obj.get("id") == feedback_id
                or _str(obj.get("subscription_target_id")) == story.post_id]

    def first(*path: str) -> Any:
        for obj in feedback:
            value: Any = obj
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            if value is not None:
                return value
        return None

    likes = first("reaction_count", "count")
    if isinstance(likes, int):
        post.counts["likes"] = likes
    elif isinstance(first("i18n_reaction_count"), str):
        shown = first("i18n_reaction_count")
        number = shown_count(shown)
        if number is not None:
            post.counts["likes"] = number
            post.notes.append(f"likes is Facebook's rounded display {shown!r}")
    replies = first("comment_rendering_instance", "comments", "total_count")
    if not isinstance(replies, int):
        replies = first("total_comment_count")
    if isinstance(replies, int):
        post.counts["replies"] = replies
    shares = first("share_count", "count")
    if isinstance(shares, int):
        post.counts["shares"] = shares
    for obj in _media_objects(story.get("attachments")):
        if isinstance(obj.get("video_view_count"), int):
            post.counts["views"] = obj["video_view_count"]
            break
    if not post.counts:
        post.notes.append("no reaction, comment or share counts in the page data")


def _quote(shown: list[str], pattern: re.Pattern[str]) -> str | None:
    """Facebook's message matching ``pattern``, with the sentence that follows it."""
    for index, text in enumerate(shown):
        if pattern.search(text):
            following = shown[index + 1] if index + 1 < len(shown) else ""
            if following.endswith(".") and len(following) < 300:
                return f"{text.rstrip('.')}. {following}"
            return text
    return None


def _str(value: Any) -> str | None:
    """A JSON string or number as text; None for anything else or empty."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int)):
        return str(value) or None
    return None
