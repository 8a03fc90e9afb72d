"""VK (VKontakte) public wall posts: the official API when a token is configured, otherwise
the public web page a logged-out visitor gets.

URLs. Posts: ``vk.com/wall<owner>_<id>`` (the owner is negative for communities:
``wall-12345_678``), any VK page with ``?w=wall<owner>_<id>`` (the post opened over a community
or profile page), and ``/wall<owner>_<id>?reply=<n>`` (a comment under the post: the post itself
is read, and a note says so). Channels: ``/<screen_name>``, ``/club<N>``, ``/public<N>``,
``/event<N>``, ``/id<N>``, ``/wall<owner>``. On vk.com and vk.ru with their www., m. and new.
hosts. Video and clip URLs (``/video<owner>_<id>``, ``/clip...``, ``?z=video...``) are not wall
posts and are not matched: they are captured as pages, and yt-dlp's own VK extractor takes their
video. VK's section pages (feed, search, settings, login...) are not matched either.

Which source is read depends on the session configured for VK (``platforms.vk.headers``):

* With an ``Authorization`` header (an access token, e.g. a VK app's service token, which the
  crawler sends as ``Authorization: Bearer ...``; never in a URL, so never in the WARC's URLs):
  the official API (``api.vk.com``, version 5.199). A post is ``wall.getById?posts=<owner>_<id>
  &extended=1``, a wall is ``wall.get?owner_id=|domain=...&filter=owner&count=&offset=``. Exact
  values: epoch dates, the edit time, counts, the text as stored (VK's mention markup
  ``[id1|Name]`` is kept as it is), photos in every size (the largest is listed, its
  description as alt text), videos as their direct files when the answer has them (``files``,
  ``mp4_*``: in practice only for user tokens of VK's own apps), otherwise as the video's VK page
  ``vk.com/video<owner>_<id>`` for yt-dlp. VK answers an empty list both for a deleted post and
  for one the token may not see, so the module then asks for the wall itself: readable means
  the post is gone (``deleted``), a refusal gives the refusal's status.
* Without it: the public page ``vk.com/wall<owner>_<id>`` as VK serves it to a logged-out
  visitor, in windows-1251 with other scripts (Arabic...) as HTML entities; the charset is read
  from the answer. The post is the ``div[data-post-id="<owner>_<id>"]``: author
  (``PostHeaderTitle`` or the older ``a.author``), date (``.rel_date[time]``, epoch seconds;
  when VK shows only a text such as "today at 10:15" in the visitor's time zone, the date is
  left empty and the text noted), text (``.wall_post_text``: line breaks kept, emoji images as
  their characters, links as VK shows them, which may be shortened), photos (the largest size
  in the ``data-options``/``showPhoto`` data, else the image shown), videos (a direct file when
  the markup carries one, ``<video src>``, otherwise the video's VK page), link attachments
  (``away.php`` unwrapped), documents, the check-in place (``.page_media_place``), the reposted
  original (``.copy_quote``), counts (``._like``, ``._comment``, ``._share``, ``._views``: VK
  rounds big numbers, e.g. "1.5K", which is noted; a count VK does not show, e.g. a zero, is
  left out). No edit time and no language are read from the page. When the post markup is
  missing but the page's og: tags are the post's, author name, text and image are read from
  them (noted: VK shortens them). Comments are never read.
  Channel listing: the public wall ``/wall<owner>?own=1&offset=N`` (the owner's own posts, in
  pages of whatever size VK gives); a screen name is first resolved to its owner id on its page.

Counts: ``likes`` (likes; on today's VK the total of reactions), ``replies`` (comments),
``reposts`` (shares: reposts to walls and in messages), ``views`` (views of the post).
A pinned post comes first on a wall; listings are put back in newest-first order by post id
(a wall numbers its posts in order of publication).

Known to break: VK shows many logged-out visitors a login page instead of walls and posts
(``login-wall``) and answers fast or repeated requests with a JS challenge (``/challenge.html``,
``/429.html``): neither is bypassed, both are reported. The public markup changes without notice
(a page with none of the expected markup raises PlatformError). A community token cannot read
walls (API error 27): use a service token of a VK app or a user token.
"""

from __future__ import annotations

import codecs
import json
import re
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

from parsel import Selector, SelectorList

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
    epoch_iso,
    utc_iso,
)

PUBLIC_WEB = "https://vk.com"
PUBLIC_API = "https://api.vk.com"
API_VERSION = "5.199"
PAGE_HEADERS = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
API_HEADERS = {"Accept": "application/json"}

POST = re.compile(r"^wall(?P<owner>-?\d+)_(?P<post>\d+)$")
WALL = re.compile(r"^wall(?P<owner>-?\d+)$")
COMMUNITY = re.compile(r"^(?:club|public|event)(?P<id>\d+)$")
PROFILE = re.compile(r"^id(?P<id>\d+)$")
SCREEN_NAME = re.compile(r"^(?=[A-Za-z0-9_.]*[A-Za-z])[A-Za-z0-9_.]{2,32}$")
# Addresses of VK objects that are not walls: "video-1_2", "photo1_2", "app123", "board45"...
OBJECT = re.compile(r"^[a-z_]+-?\d+_\d+$|^(?:app|board|market|page|topic|album|albums|videos|"
                    r"photos|audios|docs|clips|video|clip|photo|wall|club|public|event|id)-?\d+$")
RESERVED = frozenset({
    "about", "account", "ads", "al_feed.php", "albums", "apps", "audio", "audios", "away.php",
    "blog", "bookmarks", "browse", "bugs", "business", "calls", "catalog", "clip", "clips",
    "communities", "cookies", "dev", "docs", "edit", "faq", "fave", "feed", "friends", "games",
    "gifts", "groups", "help", "id", "im", "jobs", "join", "legal", "login", "logout", "mail",
    "market", "messenger", "mobile", "music", "narratives", "notifications", "pages", "pay",
    "photos", "podcasts", "press", "privacy", "public", "reg", "restore", "search", "security",
    "services", "settings", "share.php", "signup", "stickers", "stories", "support", "terms",
    "verify", "video", "videos", "vkpay", "wall", "wiki", "club", "event",
})
LOGIN_HOSTS = frozenset({"id.vk.com", "login.vk.com", "id.vk.ru", "login.vk.ru"})
CHALLENGE_PATHS = frozenset({"/429.html", "/challenge.html"})

# API error codes (https://dev.vk.com/reference/errors) and what they mean for a post.
RATE_LIMITED = {6: "too many requests per second", 9: "flood control",
                29: "the method's rate limit is reached"}
TOKEN_REFUSED = {
    5: "the access token is missing, expired or invalid: set platforms.vk.headers "
       "Authorization to 'Bearer <token>' (a service token of a VK app, or a user token)",
    27: "a community token cannot read walls: use a service token of a VK app or a user token",
    28: "the VK app's token is refused (application authorization failed)",
    14: "VK asks for a captcha: the token is being throttled",
    17: "VK asks for a validation of the token's account",
}
GONE_ACCOUNT = frozenset({18, 37})  # user deleted or banned; user banned
# access denied, content blocked, private profile, community access denied, post access denied
NOT_VISIBLE = frozenset({15, 19, 30, 203, 210})

# What VK shows instead of a post or a wall, in Russian and English (VK answers in the
# visitor's language). Checked in this order: a geo block is "unavailable", not "blocked".
STATUS_TEXTS = [
    (UNAVAILABLE, re.compile(r"not available in your (?:country|region)|"
                             r"недоступ\w* (?:в вашей стране|в вашем регионе|на территории)",
                             re.I)),
    (DELETED, re.compile(r"post not found|post (?:has been|was) (?:deleted|removed)|"
                         r"запись (?:не найдена|удалена)|пост удал[её]н|материал удал[её]н", re.I)),
    (SUSPENDED, re.compile(r"(?:community|profile|page|account|user) (?:has been |was |is )?"
                           r"(?:blocked|banned|deleted|deactivated)|"
                           r"(?:сообщество|страница|профиль|пользователь)\s+(?:\w+\s+)?"
                           r"(?:заблокирован|удал[её]н)", re.I)),
    (UNAVAILABLE, re.compile(r"profile is private|private profile|(?:closed|private) "
                             r"(?:community|group)|закрыт\w* (?:профиль|сообщество|группа)|"
                             r"частное сообщество|access denied|доступ (?:запрещ[её]н|ограничен)",
                             re.I)),
]
# A login page says so in its text or its title; the small login form every logged-out VK
# page carries in its side bar is not a login wall by itself.
LOGIN_PROMPT = re.compile(r"log in to (?:vk to )?(?:continue|view|see)|sign in to (?:continue|view)"
                          r"|войдите,? чтобы|чтобы продолжить,? войдите|авторизуйтесь", re.I)
LOGIN_TITLE = re.compile(r"^(?:вход|log in|sign in)\b", re.I)
# VK's photo sizes, largest first (w: up to 2560 px ... x: 604 px), as keys of its page data.
PAGE_PHOTO_SIZES = ("w_", "z_", "y_", "x_", "w", "z", "y", "x")
PHOTO_SIZE_RANK = {letter: rank for rank, letter in enumerate("smxopqryzw")}


def _class(name: str) -> str:
    """XPath: the element has the CSS class ``name``."""
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


# Comments under a post carry author links, dates and like buttons of their own; a repost
# carries the original's. Neither may be read as the post's own.
OUTSIDE_COMMENTS = ("[not(ancestor::*[" + " or ".join(_class(c) for c in (
    "replies", "wl_replies", "reply")) + "])]")
OUTSIDE_REPOST = f"[not(ancestor-or-self::*[{_class('copy_quote')}])]"
PHOTO_NODE = (f"(@data-photo-id or ({_class('page_post_thumb_wrap')} and "
              f"not({_class('page_post_thumb_video')})) or (self::img and "
              f"{_class('PhotoPrimaryAttachment__imageElement')})) "
              "and not(ancestor::*[@data-photo-id]) and not(ancestor::*[@data-video])")
VIDEO_NODE = f"(@data-video or {_class('page_post_thumb_video')}) and not(ancestor::*[@data-video])"
LINK_NODE = ("self::a[@href][contains(@class, 'media_link') or contains(@class, "
             "'page_media_link')]")
DOC_NODE = "self::a[@href][contains(@class, 'page_doc_title')]"


class VKPlatform(Platform):
    name = "vk"
    default_base = PUBLIC_WEB
    hosts = frozenset({"vk.com", "www.vk.com", "m.vk.com", "new.vk.com", "vk.ru", "www.vk.ru",
                       "m.vk.ru", "api.vk.com", "api.vk.ru"})

    @property
    def api(self) -> str:
        """Where the API answers: api.vk.com, or the configured base when one replaces VK."""
        return self.base if self.overridden else PUBLIC_API

    @property
    def uses_api(self) -> bool:
        """Is an access token configured (the crawler sends it as the Authorization header)?"""
        return "authorization" in self.session

    def match(self, url: str) -> Target | None:
        if not self.owns(url):
            return None
        parts = urlsplit(url)
        if (parts.hostname or "").lower().startswith("api."):
            return None
        query = parse_qs(parts.query)
        overlay = (query.get("w") or [""])[0]
        if found := POST.match(overlay):
            return Target(self.name, "post", url,
                          {"owner": found.group("owner"), "post": found.group("post")})
        if overlay or query.get("z"):
            return None  # another object opened over the page: a photo, a video, a product...
        path = [p for p in parts.path.split("/") if p]
        if len(path) != 1:
            return None
        segment = path[0]
        if found := POST.match(segment):
            ids = {"owner": found.group("owner"), "post": found.group("post")}
            comment = (query.get("reply") or [""])[0]
            if comment.isdigit():
                ids["comment"] = comment
            return Target(self.name, "post", url, ids)
        if found := WALL.match(segment):
            return Target(self.name, "channel", url, {"owner": found.group("owner")})
        if found := COMMUNITY.match(segment):
            return Target(self.name, "channel", url, {"owner": f"-{found.group('id')}"})
        if found := PROFILE.match(segment):
            return Target(self.name, "channel", url, {"owner": found.group("id")})
        lowered = segment.lower()
        if lowered in RESERVED or OBJECT.match(lowered) or not SCREEN_NAME.match(segment):
            return None
        return Target(self.name, "channel", url, {"screen_name": segment})

    async def extract_post(self, target: Target, fetch: Fetch) -> Post:
        owner, number = target.ids["owner"], target.ids["post"]
        full = f"{owner}_{number}"
        post = Post(self.name, full, f"{PUBLIC_WEB}/wall{full}")
        if "comment" in target.ids:
            post.notes.append(f"the URL points at comment {target.ids['comment']} under the post: "
                              "the post itself is recorded (comments are not read)")
        if self.uses_api:
            await self._post_from_api(post, owner, number, fetch)
        else:
            await self._post_from_page(post, owner, number, fetch)
        return post

    async def list_posts(self, target: Target, fetch: Fetch, limit: int) -> Listing:
        if self.uses_api:
            return Listing(await self._list_from_api(target, fetch, limit))
        return Listing(await self._list_from_pages(target, fetch, limit))

    # The official API (a token is configured).

    async def _call(self, fetch: Fetch, method: str, params: dict[str, object]
                    ) -> tuple[str, dict]:
        """One API call; the token is the crawler's Authorization header, never a parameter."""
        url = f"{self.api}/method/{method}?{urlencode({**params, 'v': API_VERSION})}"
        answer = await fetch(url, headers=API_HEADERS)
        if answer.status == 429:
            raise PlatformError(f"VK rate limited {url} (HTTP 429); try again later")
        if answer.status >= 500:
            raise PlatformError(f"VK answered HTTP {answer.status} for {url}")
        data = answer.json()
        if not isinstance(data, dict) or ("response" not in data and "error" not in data):
            raise PlatformError(f"{url} (HTTP {answer.status}) is not a VK API answer: no "
                                f"'response' or 'error' in {answer.body[:80]!r}")
        return url, data

    def _refusal(self, data: dict, url: str) -> tuple[str, str]:
        """The status a VK API error means for the post, and VK's words; raises PlatformError
        for what is the module's or the token's problem rather than the post's."""
        error = data["error"]
        if not isinstance(error, dict) or not isinstance(error.get("error_code"), int):
            raise PlatformError(f"{url}: a VK error without an error_code: {str(error)[:200]}")
        code, message = error["error_code"], str(error.get("error_msg", ""))[:300]
        said = f"error {code}: {message}"
        if code in RATE_LIMITED:
            meaning = "" if RATE_LIMITED[code] in message.lower() else f": {RATE_LIMITED[code]}"
            raise PlatformError(f"VK rate limited {url} ({said}{meaning}); try again later")
        if code in TOKEN_REFUSED:
            raise PlatformError(f"VK refused the request {url} ({said}): {TOKEN_REFUSED[code]}")
        if code in GONE_ACCOUNT or (code == 15 and re.search(
                r"blocked|banned|deactivated|deleted", message, re.I)):
            return SUSPENDED, said
        if code in NOT_VISIBLE:
            return UNAVAILABLE, said
        raise PlatformError(f"VK API answered {said} for {url}")

    async def _post_from_api(self, post: Post, owner: str, number: str, fetch: Fetch) -> None:
        url, data = await self._call(fetch, "wall.getById", {
            "posts": f"{owner}_{number}", "extended": 1, "copy_history_depth": 2})
        post.source.append(url)
        if "error" in data:
            post.status, said = self._refusal(data, url)
            post.notes.append(f"VK's API refuses the post: {said}")
            return
        items, people = _items_and_people(data["response"], url)
        if not items:
            await self._why_nothing(post, owner, fetch)
            return
        item = items[0]
        if not isinstance(item, dict) or str(item.get("id")) != number or str(
                item.get("owner_id", owner)) != owner:
            raise PlatformError(f"{url} did not answer post {owner}_{number}: "
                                f"{str(item)[:120]}")
        try:
            self._fill_from_api(post, item, people)
        except (AttributeError, TypeError, ValueError) as exc:  # a field of another shape
            raise PlatformError(f"{url}: VK's post object is not in the expected shape "
                                f"(v{API_VERSION}): {exc}") from exc

    async def _why_nothing(self, post: Post, owner: str, fetch: Fetch) -> None:
        """wall.getById answers nothing both for a deleted post and for one the token may not
        see: ask for the wall itself to tell the two apart."""
        url, data = await self._call(fetch, "wall.get", {"owner_id": owner, "count": 1})
        post.source.append(url)
        if "error" in data:
            post.status, said = self._refusal(data, url)
            post.notes.append(f"VK returns nothing for this post and refuses its wall: {said}")
            return
        post.status = DELETED
        post.notes.append("VK returns nothing for this post while its wall is readable: deleted "
                          "(by its author or by VK), or never published")

    def _fill_from_api(self, post: Post, item: dict, people: dict[int, tuple[str, str]]) -> None:
        author = item.get("from_id", item.get("owner_id"))
        if isinstance(author, int):
            post.author_id = str(author)
            if author in people:
                post.author_handle, post.author_name = people[author]
            else:
                post.notes.append(f"the author {author} is not described in VK's answer")
        post.published = epoch_iso(item.get("date"))
        post.edited = epoch_iso(item.get("edited")) if item.get("edited") else None
        post.text = item.get("text") or None
        signer = item.get("signer_id")
        if isinstance(signer, int):
            handle, name = people.get(signer, (f"id{signer}", str(signer)))
            post.notes.append(f"signed by {name} ({PUBLIC_WEB}/{handle})")
        if item.get("post_type") == "reply" and item.get("post_id"):
            post.reply_to = f"{PUBLIC_WEB}/wall{item.get('owner_id')}_{item['post_id']}"
        if item.get("marked_as_ads"):
            post.notes.append("VK marks the post as an advertisement")
        if isinstance(item.get("donut"), dict) and item["donut"].get("is_donut"):
            post.notes.append("a paid (VK Donut) post: VK shows its content to subscribers only")
        geo = item.get("geo") if isinstance(item.get("geo"), dict) else {}
        place = geo.get("place") if isinstance(geo.get("place"), dict) else {}
        post.place = place.get("title") or geo.get("coordinates") or None
        for key, name in (("comments", "replies"), ("likes", "likes"), ("reposts", "reposts"),
                          ("views", "views")):
            if isinstance(item.get(key), dict) and isinstance(item[key].get("count"), int):
                post.counts[name] = item[key]["count"]
        post.media = self._api_media(item.get("attachments"), post.notes)
        history = item.get("copy_history")
        if isinstance(history, list) and history and isinstance(history[0], dict):
            original = history[0]
            post.forwarded_from = (f"{PUBLIC_WEB}/wall{original.get('owner_id')}_"
                                   f"{original.get('id')}")
            if original.get("is_deleted"):
                post.notes.append(f"the reposted original is deleted: "
                                  f"{original.get('deleted_reason') or 'VK gives no reason'}")
            if not post.text and original.get("text"):
                post.text = original["text"]
                post.notes.append("a repost without text of its own: the text is the original's")
            post.media += self._api_media(original.get("attachments"), post.notes)

    def _api_media(self, attachments: object, notes: list[str]) -> list[Media]:
        media: list[Media] = []
        for attachment in attachments if isinstance(attachments, list) else []:
            kind = attachment.get("type") if isinstance(attachment, dict) else None
            body = attachment.get(kind) if kind else None
            if not isinstance(body, dict):
                notes.append(f"an attachment VK describes without its object: "
                             f"{str(attachment)[:80]}")
                continue
            if kind == "photo":
                url = _largest_photo(body)
                if url:
                    media.append(Media(url, "image", body.get("text") or None))
                else:
                    notes.append(f"photo {body.get('owner_id')}_{body.get('id')} has no URL")
            elif kind in ("video", "clip"):
                url = _video_file(body) or (
                    f"{self.base}/{kind}{body.get('owner_id')}_{body.get('id')}")
                media.append(Media(url, "video", body.get("title") or None))
            elif kind == "doc" and body.get("url"):
                media.append(Media(body["url"], "document", body.get("title") or None))
            elif kind == "link" and body.get("url"):
                media.append(Media(body["url"], "link", body.get("title") or None))
            elif kind == "audio":
                title = " – ".join(t for t in (body.get("artist"), body.get("title")) if t)
                if body.get("url"):
                    media.append(Media(body["url"], "audio", title or None))
                else:
                    notes.append(f"audio {title!r}: VK gives no URL for it to this token")
            elif kind == "poll":
                notes.append(f"a poll is attached: {body.get('question')!r} (its answers are "
                             "not recorded here)")
            else:
                notes.append(f"an attachment of type {kind!r} is not recorded")
        return media

    async def _list_from_api(self, target: Target, fetch: Fetch, limit: int) -> list[PostRef]:
        wall = ({"owner_id": target.ids["owner"]} if "owner" in target.ids
                else {"domain": target.ids["screen_name"]})
        refs: dict[str, PostRef] = {}
        offset = unpinned = 0
        while unpinned < limit:
            # The first page may start with a pinned post of any age: ask for one more.
            count = min(100, limit - unpinned + (1 if offset == 0 else 0))
            url, data = await self._call(fetch, "wall.get", {
                **wall, "filter": "owner", "count": count, "offset": offset})
            if "error" in data:
                status, said = self._refusal(data, url)
                raise PlatformError(f"VK refuses the wall {target.url} ({status}): {said}")
            page = data["response"]
            if not isinstance(page, dict) or not isinstance(page.get("items"), list):
                raise PlatformError(f"{url}: expected VK's {{count, items}}, got "
                                    f"{str(page)[:120]}")
            fresh = 0
            for item in page["items"]:
                if not isinstance(item, dict) or not isinstance(item.get("id"), int):
                    raise PlatformError(f"{url}: a wall item without an id: {str(item)[:120]}")
                full = f"{item.get('owner_id')}_{item['id']}"
                # Only unpinned posts move the offset: should VK count the pinned one too, the
                # next page overlaps by one post (dropped below), and none is ever skipped.
                if not item.get("is_pinned"):
                    offset += 1
                if full in refs:
                    continue
                fresh += 1
                unpinned += 0 if item.get("is_pinned") else 1
                refs[full] = PostRef(self.name, full, f"{PUBLIC_WEB}/wall{full}",
                                     epoch_iso(item.get("date")))
            total = page.get("count")
            if not fresh or (isinstance(total, int) and offset >= total):
                break
        return _newest_first(refs, limit)

    # The public web page (no token).

    async def _page(self, fetch: Fetch, url: str) -> tuple[Fetched, Selector]:
        page = await fetch(url, headers=PAGE_HEADERS)
        landed = urlsplit(page.url).path
        if page.status == 429 or landed in CHALLENGE_PATHS:
            raise PlatformError(
                f"VK rate limited {url} (HTTP {page.status}, sent to {landed}): it answers with "
                "a challenge instead of the page; try again later, or configure an API token "
                "(platforms.vk.headers Authorization)")
        if page.status >= 500:
            raise PlatformError(f"VK answered HTTP {page.status} for {url}")
        return page, Selector(text=_decode(page))

    async def _post_from_page(self, post: Post, owner: str, number: str, fetch: Fetch) -> None:
        full = f"{owner}_{number}"
        url = f"{self.base}/wall{full}"
        post.source.append(url)
        page, selector = await self._page(fetch, url)
        found = (selector.xpath(f'//div[@data-post-id="{full}"]')
                 or selector.xpath(f'//*[@id="post{full}"]'))
        if found:
            _fill_from_page(post, found[0], page.url)
            return
        shown = _page_status(selector, page)
        if shown:
            post.status, said = shown
            post.notes.append(f"VK shows instead of the post: {said}")
            return
        if _fill_from_og(post, selector, full):
            return
        raise PlatformError(f"{url} (HTTP {page.status}) has none of VK's post markup "
                            f"(div[data-post-id=\"{full}\"]) nor a message VK shows instead: "
                            "the layout changed, or this is not VK")

    async def _list_from_pages(self, target: Target, fetch: Fetch, limit: int
                               ) -> list[PostRef]:
        owner = target.ids.get("owner") or await self._owner_on_page(
            fetch, target.ids["screen_name"])
        refs: dict[str, PostRef] = {}
        offset = unpinned = 0
        while unpinned < limit:
            url = f"{self.base}/wall{owner}?own=1" + (f"&offset={offset}" if offset else "")
            page, selector = await self._page(fetch, url)
            found = _wall_posts(selector, owner)
            if not found:
                if offset == 0:
                    _no_wall(selector, page, url)
                break
            fresh = 0
            for ref, pinned in found:
                offset += 0 if pinned else 1  # as in _list_from_api: overlap, never a gap
                if ref.post_id in refs:
                    continue
                fresh += 1
                unpinned += 0 if pinned else 1
                refs[ref.post_id] = ref
            if not fresh:
                break
        return _newest_first(refs, limit)

    async def _owner_on_page(self, fetch: Fetch, screen_name: str) -> str:
        """The wall owner id behind a screen name, from its public page."""
        url = f"{self.base}/{screen_name}"
        page, selector = await self._page(fetch, url)
        for full in selector.xpath(f"//div[@data-post-id]{OUTSIDE_REPOST}/@data-post-id").getall():
            if found := re.fullmatch(r"(-?\d+)_\d+", full):
                return found.group(1)
        for href in selector.xpath("//a/@href").getall():
            if found := re.match(r"^(?:https?://[^/]+)?/wall(-?\d+)(?:[?#]|$)", href):
                return found.group(1)
        _no_wall(selector, page, url)
        raise PlatformError(f"{url} names no wall (no post ids, no /wall link): the layout "
                            "changed, or this is not VK")


def _items_and_people(response: object, url: str
                      ) -> tuple[list, dict[int, tuple[str, str]]]:
    """wall.getById's items (extended: an object; older versions: a bare list) and the
    authors it describes: {id (negative for communities): (screen name, display name)}."""
    if isinstance(response, list):
        return response, {}
    if not isinstance(response, dict) or not isinstance(response.get("items"), list):
        raise PlatformError(f"{url}: expected VK's {{items, profiles, groups}}, got "
                            f"{str(response)[:120]}")
    people: dict[int, tuple[str, str]] = {}
    for profile in response.get("profiles") or []:
        if isinstance(profile, dict) and isinstance(profile.get("id"), int):
            name = " ".join(p for p in (profile.get("first_name"), profile.get("last_name")) if p)
            people[profile["id"]] = (profile.get("screen_name") or f"id{profile['id']}", name)
    for group in response.get("groups") or []:
        if isinstance(group, dict) and isinstance(group.get("id"), int):
            people[-group["id"]] = (group.get("screen_name") or f"club{group['id']}",
                                    group.get("name") or "")
    return response["items"], people


def _largest_photo(photo: dict) -> str | None:
    sizes = [s for s in photo.get("sizes") or [] if isinstance(s, dict) and s.get("url")]
    if isinstance(photo.get("orig_photo"), dict) and photo["orig_photo"].get("url"):
        sizes.append(photo["orig_photo"])
    if not sizes:
        return None
    best = max(sizes, key=lambda s: ((s.get("width") or 0) * (s.get("height") or 0),
                                     PHOTO_SIZE_RANK.get(s.get("type"), -1)))
    return best["url"]


def _video_file(video: dict) -> str | None:
    """The largest direct MP4 of a video, or its external source (YouTube...), when given."""
    files = video.get("files")
    if not isinstance(files, dict):
        return None
    mp4 = sorted(((int(key[4:]), url) for key, url in files.items()
                  if re.fullmatch(r"mp4_\d+", key) and url), reverse=True)
    if mp4:
        return mp4[0][1]
    return files.get("external") or None


def _newest_first(refs: dict[str, PostRef], limit: int) -> list[PostRef]:
    return sorted(refs.values(), key=lambda r: int(r.post_id.rsplit("_", 1)[1]),
                  reverse=True)[:limit]


def _decode(page: Fetched) -> str:
    """The page's text in its declared charset (VK serves windows-1251), UTF-8 by default."""
    declared = re.search(r"charset=[\"']?([\w-]+)", page.headers.get("content-type", ""))
    if not declared:
        declared = re.search(rb"<meta[^>]+charset=[\"']?([\w-]+)", page.body[:4096], re.I)
    charset = declared.group(1) if declared else "utf-8"
    if isinstance(charset, bytes):
        charset = charset.decode("ascii")
    try:
        codecs.lookup(charset)
    except LookupError:
        charset = "utf-8"
    return page.body.decode(charset, errors="replace")


def _own(node: Selector, xpath: str) -> SelectorList:
    """What ``xpath`` finds in the post itself: not in its comments, not in a reposted one."""
    return node.xpath(xpath + OUTSIDE_COMMENTS + OUTSIDE_REPOST)


def _fill_from_page(post: Post, node: Selector, page_url: str) -> None:
    author = _own(node, f".//a[{_class('PostHeaderTitle__authorLink')} or {_class('author')}]")
    if author:
        href = author[0].attrib.get("href", "")
        handle = urlsplit(urljoin(page_url, href)).path.strip("/") or None
        post.author_handle = handle
        post.author_name = (_text(_own(node, f".//*[{_class('PostHeaderTitle__authorName')}]"))
                            or _text(author[:1]) or None)
        post.author_id = author[0].attrib.get("data-from-id") or _owner_of(handle)
    else:
        post.notes.append("the post markup shows no author link")
    signed = _own(node, f".//a[{_class('wall_signed_by')}]")
    if signed:
        post.notes.append(f"signed by {_text(signed[:1])} "
                          f"({_public(urljoin(page_url, signed[0].attrib.get('href', '')))})")
    _read_date(post, node)
    text = _own(node, f".//div[{_class('wall_post_text')}]")
    post.text = (_shown_text(text[0]) or None) if text else None
    _read_repost(post, node, page_url)
    _read_page_media(post, node, page_url)
    place = _own(node, f".//*[{_class('page_media_place')}]")
    post.place = _text(place[:1]) or None
    _read_counts(post, node)
    if node.xpath(f".//*[@data-audio]{OUTSIDE_COMMENTS}"):
        post.notes.append("audio attachments are not read from the public page")
    if node.xpath(f".//*[{_class('media_voting')}]{OUTSIDE_COMMENTS}"):
        post.notes.append("a poll is attached (not recorded here)")


def _read_date(post: Post, node: Selector) -> None:
    stamp = _own(node, f".//*[{_class('rel_date')}]/@time").get()
    if stamp and stamp.isdigit():
        post.published = utc_iso(int(stamp))
        return
    machine = _own(node, ".//time/@datetime").get()
    if machine:
        try:
            post.published = utc_iso(machine)
            return
        except ValueError:
            pass
    shown = _text(_own(node, f".//time | .//*[{_class('rel_date')}]")[:1])
    post.notes.append(f"VK shows the date only as {shown!r}, in the visitor's time zone: not "
                      "converted" if shown else "the post markup shows no date")


def _read_repost(post: Post, node: Selector, page_url: str) -> None:
    quote = node.xpath(f".//*[{_class('copy_quote')}]{OUTSIDE_COMMENTS}")
    if not quote:
        return
    original = quote[0]
    link = original.xpath(f".//a[{_class('published_by_date')} or "
                          f"{_class('PostHeaderSubtitle__link')} or {_class('post_link')}]/@href"
                          ).get() or ""
    if found := re.search(r"wall(-?\d+_\d+)", link):
        post.forwarded_from = f"{PUBLIC_WEB}/wall{found.group(1)}"
    else:
        author = original.xpath(f".//a[{_class('copy_author')}]/@href").get()
        post.forwarded_from = _public(urljoin(page_url, author)) if author else None
        post.notes.append("the reposted original's link is not shown: forwarded_from is its "
                          "author's page" if author else "a repost whose original is not named")
    if original.xpath(f".//*[{_class('wall_post_text_deleted')}]"):
        post.notes.append("the reposted original is deleted")
    text = original.xpath(f".//div[{_class('wall_post_text')}]")
    if not post.text and text:
        post.text = _shown_text(text[0]) or None
        post.notes.append("a repost without text of its own: the text is the original's")


def _read_page_media(post: Post, node: Selector, page_url: str) -> None:
    seen: dict[tuple[str, str], Media] = {}
    nodes = node.xpath(f".//*[({PHOTO_NODE}) or ({VIDEO_NODE}) or ({LINK_NODE}) or ({DOC_NODE})]"
                       f"{OUTSIDE_COMMENTS}")
    for element in nodes:
        classes = (element.attrib.get("class") or "").split()
        href = element.attrib.get("href") or ""
        if element.attrib.get("data-video") or "page_post_thumb_video" in classes:
            file = element.xpath(".//video/@src | .//video/source/@src").get()
            vid = element.attrib.get("data-video")
            target = file or href or (f"/video{vid}" if vid else "")
            item = Media(urljoin(page_url, target), "video") if target else None
        elif element.root.tag == "a" and "page_doc_title" in classes:
            item = Media(urljoin(page_url, href), "document", _text(element) or None)
        elif element.root.tag == "a" and any("media_link" in c for c in classes):
            item = Media(_unwrap(urljoin(page_url, href)), "link", _text(element) or None)
        else:
            url = _photo_url(element, page_url)
            alt = element.xpath("descendant-or-self::img/@alt").get() or None
            item = Media(url, "image", alt) if url else None
            if not url:
                post.notes.append("a photo without a readable address in the page")
        if item is None:
            continue
        known = seen.get((item.url, item.type))
        if known is None:  # VK links a photo or link twice (thumbnail and title): one item
            seen[(item.url, item.type)] = item
            post.media.append(item)
        elif known.alt is None:
            known.alt = item.alt


def _photo_url(element: Selector, page_url: str) -> str | None:
    """The largest size in VK's photo data (``data-options`` or the ``showPhoto`` call), else
    the image shown."""
    data = element.attrib.get("data-options") or element.attrib.get("onclick") or ""
    if found := re.search(r"\"temp\"\s*:\s*(\{[^{}]*\})", data):
        try:
            sizes = json.loads(found.group(1))
        except ValueError:
            sizes = {}
        for key in PAGE_PHOTO_SIZES:
            value = sizes.get(key)
            src = value[0] if isinstance(value, list) and value else value
            if isinstance(src, str) and src:
                if not src.startswith(("http:", "https:", "/")):
                    src = str(sizes.get("base") or "") + src
                return urljoin(page_url, src)
    src = element.xpath("descendant-or-self::img/@src").get()
    if src:
        return urljoin(page_url, src)
    style = re.search(r"background-image:\s*url\(['\"]?([^'\")]+)", element.attrib.get(
        "style", ""))
    return urljoin(page_url, style.group(1)) if style else None


def _read_counts(post: Post, node: Selector) -> None:
    buttons = (("_like", "likes"), ("_comment", "replies"), ("_share", "reposts"))
    for hook, name in buttons:
        shown = _text(_own(node, f".//*[{_class(hook)}]//*[contains(@class, 'count')]")[:1])
        if not shown and name == "likes":
            shown = _text(_own(node, f".//*[{_class('PostButtonReactions__title')}]")[:1])
        _count(post, name, shown)
    views = _own(node, f".//*[{_class('_views')}]")
    if views:
        exact = re.search(r"\d[\d\s,.\u00a0\u202f]*", views[0].attrib.get("title", ""))
        _count(post, "views", exact.group(0).strip() if exact else _text(views[:1]))


def _count(post: Post, name: str, shown: str) -> None:
    if not shown:
        return
    value = parse_count(shown)
    if value is None:
        post.notes.append(f"unreadable {name} count {shown!r}")
        return
    post.counts[name] = value[0]
    if not value[1]:
        post.notes.append(f"{name}: VK shows a rounded number, {shown!r}")


def parse_count(shown: str) -> tuple[int, bool] | None:
    """VK's "1 530", "1,530", "1.5K", "12 тыс." as (number, exact?)."""
    shown = re.sub(r"[\u00a0\u202f\s]+", " ", shown).strip()
    found = re.fullmatch(r"(\d[\d ,.]*?)\s*(K|M|тыс\.?|млн\.?)?", shown, re.I)
    if not found:
        return None
    digits, unit = found.groups()
    if not unit:
        return int(re.sub(r"[ ,.]", "", digits)), True
    factor = 1_000 if unit.lower()[0] in "kт" else 1_000_000
    return round(float(digits.replace(" ", "").replace(",", ".")) * factor), False


def _page_status(selector: Selector, page: Fetched) -> tuple[str, str] | None:
    """What VK shows instead of a post or wall (deleted, blocked, private, login), quoted."""
    landed = urlsplit(page.url)
    if (landed.hostname or "").lower() in LOGIN_HOSTS or landed.path.rstrip("/") in (
            "/login", "/login.php"):
        return LOGIN_WALL, f"its login page ({page.url})"
    message = _text(selector.xpath(f"//*[{_class('message_page_body')}]"))
    shown = message or " ".join(" ".join(selector.xpath(
        "//body//text()[not(ancestor::script)][not(ancestor::style)]").getall()).split())
    for status, pattern in STATUS_TEXTS:
        if found := pattern.search(shown):
            return status, message or shown[max(0, found.start() - 60):found.end() + 60]
    title = _text(selector.xpath("//title"))
    login_form = selector.xpath("//form[contains(@action, 'login') or @id='login_form' or "
                                "@id='quick_login_form']")
    if login_form and (LOGIN_PROMPT.search(shown) or LOGIN_TITLE.search(title)):
        prompt = LOGIN_PROMPT.search(shown)
        return LOGIN_WALL, (shown[prompt.start():prompt.end() + 60] if prompt else title)
    return None


def _no_wall(selector: Selector, page: Fetched, url: str) -> None:
    """Raise, saying why a wall page shows no posts; return when it is an empty wall."""
    shown = _page_status(selector, page)
    if shown:
        raise PlatformError(f"VK shows no wall at {url} ({shown[0]}): {shown[1]}")
    if not selector.xpath("//*[@id='page_wall_posts']"):
        raise PlatformError(f"{url} (HTTP {page.status}) has no VK wall markup "
                            "(#page_wall_posts): the layout changed, or this is not VK")


def _wall_posts(selector: Selector, owner: str) -> list[tuple[PostRef, bool]]:
    """The posts of ``owner``'s wall on a wall page, with their pinned flag, as shown."""
    found = []
    for node in selector.xpath(f"//div[@data-post-id]{OUTSIDE_COMMENTS}{OUTSIDE_REPOST}"):
        full = node.attrib["data-post-id"]
        if not full.startswith(f"{owner}_") or not full[len(owner) + 1:].isdigit():
            continue
        stamp = _own(node, f".//*[{_class('rel_date')}]/@time").get()
        published = utc_iso(int(stamp)) if stamp and stamp.isdigit() else None
        pinned = "post_fixed" in (node.attrib.get("class") or "").split()
        found.append((PostRef("vk", full, f"{PUBLIC_WEB}/wall{full}", published), pinned))
    return found


def _fill_from_og(post: Post, selector: Selector, full: str) -> bool:
    """The page's og: tags, when they are the post's and its markup is missing."""
    address = (selector.xpath("//meta[@property='og:url']/@content").get()
               or selector.xpath("//link[@rel='canonical']/@href").get() or "")
    if not re.search(rf"wall{re.escape(full)}(?:\D|$)", address):
        return False
    post.author_name = selector.xpath("//meta[@property='og:title']/@content").get() or None
    post.text = selector.xpath("//meta[@property='og:description']/@content").get() or None
    image = selector.xpath("//meta[@property='og:image']/@content").get()
    if image:
        post.media.append(Media(image, "image"))
    post.notes.append("VK's post markup is missing from the page: author name, text and image "
                      "are read from its og: tags, which VK shortens; date, counts and other "
                      "media are not read")
    return True


def _owner_of(handle: str | None) -> str | None:
    """The owner id a VK address names by itself (club123 → -123, id45 → 45), else None."""
    if not handle:
        return None
    if found := COMMUNITY.match(handle):
        return f"-{found.group('id')}"
    if found := PROFILE.match(handle):
        return found.group("id")
    return None


def _public(url: str) -> str:
    """The same address on vk.com (page links are relative to wherever the page was read)."""
    parts = urlsplit(url)
    return f"{PUBLIC_WEB}{parts.path}" + (f"?{parts.query}" if parts.query else "")


def _unwrap(url: str) -> str:
    """VK's outgoing-link redirect (``away.php?to=<url>``) as the URL it leads to."""
    parts = urlsplit(url)
    if parts.path.endswith("/away.php"):
        return (parse_qs(parts.query).get("to") or [url])[0]
    return url


def _text(nodes: SelectorList | Selector) -> str:
    return " ".join(" ".join(nodes.xpath(".//text()").getall()).split())


def _shown_text(node: Selector) -> str:
    """A post's text as VK shows it: <br> as line breaks, emoji images as their characters,
    the "Show more" control dropped (the rest of the text is in the page, hidden)."""
    parts: list[str] = []

    def walk(element) -> None:  # noqa: ANN001 - an lxml element
        for child in element:
            tag = child.tag if isinstance(child.tag, str) else ""
            classes = set((child.get("class") or "").split())
            if tag == "br":
                parts.append("\n")
            elif tag == "img":
                parts.append(child.get("alt") or "")
            elif tag and tag not in ("script", "style", "button") and not classes & {
                    "PostTextMore", "wall_post_more"}:
                parts.append(child.text or "")
                walk(child)
            parts.append(child.tail or "")

    parts.append(node.root.text or "")
    walk(node.root)
    return "".join(parts).strip()
