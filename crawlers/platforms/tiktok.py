"""TikTok posts and profiles, from the pages and the JSON that TikTok's own web client loads.

Where each thing is read from:

- **A post** (``/@user/video/<id>``, ``/@user/photo/<id>``, ``/embed/v2/<id>``, ``/embed/<id>``,
  ``/share/video/<id>``, ``m.tiktok.com/v/<id>.html``) is read from its web page
  ``<base>/@<user>/video/<id>`` (photo posts too: their ``/photo/`` page may lack the post
  data; ``@_`` stands for an author the URL does not name, which TikTok accepts). The page
  carries ``<script id="__UNIVERSAL_DATA_FOR_REHYDRATION__">``; its
  ``__DEFAULT_SCOPE__["webapp.video-detail"]`` holds ``statusCode``/``statusMsg`` and, for a
  post TikTok shows, ``itemInfo.itemStruct``: ``desc`` (the caption), ``createTime`` (epoch
  seconds), ``author``, ``stats``/``statsV2``, ``video`` (``playAddr``, ``cover``),
  ``imagePost`` (photo posts), ``music``, ``textLanguage``, ``poi`` (a place tag),
  ``locationCreated``, ``duetInfo``. The older ``SIGI_STATE`` script is not read: TikTok no
  longer serves posts with it (yt-dlp reads it for live rooms only).
- **A short link** (``vm.tiktok.com/<code>``, ``vt.tiktok.com/<code>``,
  ``www.tiktok.com/t/<code>``) is fetched and its redirect followed; the post it leads to is
  read as above, and the record says which link led where (``source``, ``notes``). A link
  that leads nowhere gives a record with the code as ``post_id``; one that leads to a profile
  raises PlatformError (capture the profile instead). On a replaced base (mirror, tests) every
  short link is read at ``<base>/t/<code>/``. Redirects on TikTok's hosts are followed by this
  module itself (each hop in ``source``), whether or not ``fetch`` follows them.
- **A profile listing** (``/@user``) reads the profile page's ``webapp.user-detail``
  (``userInfo.user.secUid``), then pages through ``<base>/api/creator/item_list/`` (``type=1``:
  newest first; ``cursor``: a time in epoch milliseconds, the next one being the oldest
  ``createTime`` of the page; ``hasMorePrevious``: older posts exist). This is the endpoint
  TikTok's "creator videos" panel uses; unlike ``/api/post/item_list/`` it answers without
  signed parameters. It looks back about a week from the cursor, so an empty page that says
  ``hasMorePrevious`` moves the cursor a week back (as yt-dlp and gallery-dl do), at most
  ``EMPTY_WEEKS`` times in a row.

Counts, in TikTok's meaning: ``views`` = ``playCount`` (plays), ``likes`` = ``diggCount``
(hearts), ``replies`` = ``commentCount`` (comments), ``shares`` = ``shareCount`` (shares out of
TikTok), ``saves`` = ``collectCount`` (added to favourites), ``reposts`` = ``repostCount``
(reposts inside TikTok; in ``statsV2`` only). ``statsV2`` (the newer form: the counts as
strings) is preferred to ``stats`` where both are given. ``place`` is the post's place tag
(``poi``); ``locationCreated`` is a region code TikTok attaches to the post, not a place the
author chose: it is noted, not used.
A duet names the post it answers (``duetInfo.duetFromId``): ``quote_of``. TikTok shows no edit
time, no reply target and no stitch source in the page data: those fields stay None.

Statuses, from ``statusCode`` (named as TikTok's web client names them):
10204 (VIDEO_NOT_EXIST) is TikTok's general "not available to you": its ``statusMsg`` says why
(``status_deleted`` → deleted; ``cross_border_violation_*``, ``*geo*`` → withheld in the
requester's region; ``status_reviewing`` → under review; ``*privacy*`` → private); without a
reason it may be deleted, private or blocked for the requesting IP, and the record says so.
10216 (VIDEO_PRIVATE_BY_USER), 10222 (USER_PRIVATE), 10231 (VIDEO_GEOFENCE_BLOCK) →
unavailable; 10221 (USER_BAN) → suspended; 10202 (USER_NOT_EXIST) → deleted. Any other code
raises PlatformError quoting it. A redirect to ``/login`` → login wall; a post marked
``isContentClassified`` without its video → login wall (TikTok shows it to logged-in adults).

What needs a login: private posts and accounts (only their followers see them), posts TikTok
classifies as not for all audiences. Nothing else; a configured session is sent by the crawler.

Known to break: TikTok answers automated requests with a bot check (a JavaScript challenge,
"Please wait...", or a captcha) instead of the page: that raises PlatformError (this module does
not solve challenges). The video address (``playAddr``) only downloads with the cookies the post
page sets, so the media step relies on yt-dlp reading the post page itself. The listing
endpoint has changed before (``/api/post/item_list/`` now demands X-Bogus/msToken signatures):
an empty or non-JSON answer raises PlatformError saying so.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

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
    utc_iso,
)

PUBLIC = "https://www.tiktok.com"
PAGE_DATA = "__UNIVERSAL_DATA_FOR_REHYDRATION__"
USER = r"[A-Za-z0-9_.]+"
POST_PATHS = (
    re.compile(rf"^/@(?P<user>{USER})?/(?P<kind>video|photo)/(?P<post>\d+)/?$"),
    re.compile(r"^/(?:embed/v2|embed|share/video)/(?P<post>\d+)/?$"),
)
MOBILE_POST = re.compile(r"^/v/(?P<post>\d+)\.html$")
PROFILE = re.compile(rf"^/@(?P<user>{USER})/?$")
SHORT_PATH = re.compile(r"^/t/(?P<short>[A-Za-z0-9]+)/?$")
SHORT_HOST_PATH = re.compile(r"^/(?P<short>[A-Za-z0-9]+)/?$")
SHORT_HOSTS = frozenset({"vm.tiktok.com", "vt.tiktok.com"})

PAGE_HEADERS = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                "Accept-Language": "en-US,en;q=0.9"}
API_HEADERS = {"Accept": "application/json, text/plain, */*"}
# Markers of TikTok's bot checks: the WAF's JavaScript challenge page (its challenge data and
# cookie names sit in elements #cs, #wci, #rci, #rs) and the captcha / verify pages.
BOT_CHECK = ('id="cs"', 'id="wci"', "_wafchallengeid", "Please wait...", "captcha")

# webapp.video-detail statusCode → (status, what TikTok's web client calls it and means)
POST_STATUSES = {
    10202: (DELETED, "USER_NOT_EXIST: the author's account does not exist"),
    10216: (UNAVAILABLE, "VIDEO_PRIVATE_BY_USER: the author made the post private"),
    10221: (SUSPENDED, "USER_BAN: the author's account is banned"),
    10222: (UNAVAILABLE, "USER_PRIVATE: the author's account is private; only its followers "
                         "see the post"),
    10231: (UNAVAILABLE, "VIDEO_GEOFENCE_BLOCK: the post is not shown in the region TikTok "
                         "places the request in"),
}
NOT_AVAILABLE = 10204
# webapp.user-detail statusCode → what it says about the account (no listing possible)
PROFILE_PROBLEMS = {
    10202: "does not exist (statusCode 10202, USER_NOT_EXIST)",
    10221: "is banned (statusCode 10221, USER_BAN)",
    10222: "is private (statusCode 10222, USER_PRIVATE): its posts are listed only to a "
           "logged-in follower",
}
REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 5
PAGE_SIZE = 15          # the most the creator item list gives per request
WEEK_MS = 7 * 86_400_000
EMPTY_WEEKS = 26        # empty week windows in a row before giving up (half a year)
TIKTOK_LAUNCH_MS = 1472706000000  # September 2016: no TikTok post is older


class TikTokPlatform(Platform):
    name = "tiktok"
    default_base = PUBLIC
    hosts = frozenset({"www.tiktok.com", "tiktok.com", "m.tiktok.com", "vm.tiktok.com",
                       "vt.tiktok.com", "www.tiktokv.com"})

    def match(self, url: str) -> Target | None:
        if not self.owns(url):
            return None
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        path = parts.path
        if host in SHORT_HOSTS:
            found = SHORT_HOST_PATH.match(path)
            return Target(self.name, "post", url, {"short": found["short"]}) if found else None
        if host == "m.tiktok.com" and (found := MOBILE_POST.match(path)):
            return Target(self.name, "post", url, {"post": found["post"]})
        for pattern in POST_PATHS:
            if found := pattern.match(path):
                user = found.groupdict().get("user")
                return Target(self.name, "post", url,
                              {"user": user, "post": found["post"]} if user
                              else {"post": found["post"]})
        if found := SHORT_PATH.match(path):
            return Target(self.name, "post", url, {"short": found["short"]})
        if found := PROFILE.match(path):
            return Target(self.name, "channel", url, {"user": found["user"]})
        return None

    async def extract_post(self, target: Target, fetch: Fetch) -> Post:
        if "short" in target.ids:
            return await self._through_short_link(target, fetch)
        user, post_id = target.ids.get("user"), target.ids["post"]
        kind = "photo" if "/photo/" in urlsplit(target.url).path else "video"
        post = Post(self.name, post_id, post_url(user, post_id, kind), author_handle=user)
        return await self._read_post(post, fetch)

    async def list_posts(self, target: Target, fetch: Fetch, limit: int) -> Listing:
        user = target.ids["user"]
        profile = f"{self.base}/@{user}"
        _, scope = await self._page(fetch, profile, [])
        detail = scope.get("webapp.user-detail")
        if not isinstance(detail, dict):
            raise PlatformError(f"{profile}: the page data has no webapp.user-detail: TikTok's "
                                "profile page layout changed")
        code = status_code(detail, profile)
        info = detail.get("userInfo") if isinstance(detail.get("userInfo"), dict) else {}
        # TikTok answers 10222 for a private account even to a follower's session; the video
        # count shows whether this session may see the posts anyway.
        if code and not (code == 10222 and video_count(info)):
            problem = PROFILE_PROBLEMS.get(code) or (
                f"cannot be read: TikTok answers statusCode {code} "
                f"({detail.get('statusMsg') or ''!r}), which this module does not know")
            raise PlatformError(f"TikTok account @{user} {problem}; nothing listed")
        account = info.get("user") if isinstance(info.get("user"), dict) else {}
        sec_uid = account.get("secUid")
        if not isinstance(sec_uid, str) or not sec_uid:
            raise PlatformError(f"{profile}: webapp.user-detail has no userInfo.user.secUid: "
                                "TikTok's profile page layout changed")
        return await self._list(user, sec_uid, fetch, limit)

    async def _list(self, user: str, sec_uid: str, fetch: Fetch, limit: int) -> Listing:
        refs: list[PostRef] = []
        seen: set[str] = set()
        cursor = int(time.time() * 1000)
        empty = 0
        skipped: list[tuple[int, int]] = []  # week windows that gave nothing: (from, to) ms
        # TikTok's web client sends a browser fingerprint token; any "verify_" value is taken.
        fingerprint = f"verify_{secrets.token_hex(4)}"
        while len(refs) < limit:
            query = {"aid": "1988", "type": "1", "count": str(min(PAGE_SIZE, limit - len(refs))),
                     "cursor": str(cursor), "secUid": sec_uid, "verifyFp": fingerprint}
            api = f"{self.base}/api/creator/item_list/?{urlencode(query)}"
            answer = await fetch(api, headers={**API_HEADERS, "Referer": f"{self.base}/@{user}"})
            items, more = item_list(answer, api, user)
            found = [listed(item, user) for item in items]
            found = sorted((r for r in found if r.post_id not in seen),
                           key=lambda r: r.published or "", reverse=True)
            seen.update(r.post_id for r in found)
            refs += found[:limit - len(refs)]
            times = [int(item["createTime"]) * 1000 for item in items]
            empty = 0 if found else empty + 1
            following = min(times) if times else cursor
            if following >= cursor:  # an empty week, or no progress: look a week further back
                following = cursor - WEEK_MS
                if more:
                    skipped.append((following, cursor))
            if not more or following < TIKTOK_LAUNCH_MS:
                break
            if empty >= EMPTY_WEEKS:
                if refs:  # the posts before a long silence are the most recent ones
                    skipped.append((0, following))  # said below: older posts not looked for
                    break
                raise PlatformError(
                    f"TikTok's item list for @{user} says older posts exist (hasMorePrevious) "
                    f"but gave none for {EMPTY_WEEKS} week windows back from now: the account "
                    "has not posted for that long, or TikTok withholds the list from this "
                    f"client (last asked: {api})")
            cursor = following
        return Listing(refs[:limit], _skipped_notes(user, skipped))

    async def _through_short_link(self, target: Target, fetch: Fetch) -> Post:
        code = target.ids["short"]
        host = (urlsplit(target.url).hostname or "").lower()
        public = f"https://{host}/{code}/" if host in SHORT_HOSTS else f"{PUBLIC}/t/{code}/"
        url = (f"{self.base}/t/{code}/" if self.overridden or host not in SHORT_HOSTS
               else public)
        answer, visited = await self._get(fetch, url, PAGE_HEADERS)
        check_answer(answer, url)
        led_to = redirect_target(answer) or answer.url
        post = Post(self.name, code, public, source=visited)
        if is_login(led_to):
            post.status = LOGIN_WALL
            post.notes.append(f"TikTok sent the short link {public} to its login page "
                              f"({led_to})")
            return post
        if answer.status == 404:
            post.status = DELETED
            post.notes.append(f"TikTok answers HTTP 404 for the short link {public}: no such "
                              "link")
            return post
        resolved = self.match(led_to)
        if resolved is not None and resolved.kind == "channel":
            raise PlatformError(f"the short link {public} leads to the profile {led_to}, not "
                                "to a post: capture the profile's URL to list its posts")
        if resolved is None or "post" not in resolved.ids:
            home = urlsplit(led_to).path in ("", "/")
            post.status = UNAVAILABLE
            post.notes.append(f"the short link {public} led to {led_to}, not to a post; "
                              "TikTok does not say why" + (
                                  " (it sends unknown or expired short links to its home "
                                  "page)" if home else ""))
            return post
        user, post_id = resolved.ids.get("user"), resolved.ids["post"]
        post = Post(self.name, post_id, post_url(user, post_id), author_handle=user,
                    source=visited)
        post.notes.append(f"read through the short link {public}, which led to {led_to}")
        # The redirect already brought the post page: read it rather than ask TikTok again.
        if answer.url == led_to and "/video/" in urlsplit(led_to).path:
            return await self._read_post(post, fetch, answer)
        return await self._read_post(post, fetch)

    async def _read_post(self, post: Post, fetch: Fetch, page: Fetched | None = None) -> Post:
        author = post.author_handle or "_"
        url = page.url if page else f"{self.base}/@{author}/video/{post.post_id}"
        try:
            _, scope = await self._page(fetch, url, post.source, page)
        except LoginWall as exc:
            post.status = LOGIN_WALL
            post.notes.append(str(exc))
            return post
        detail = scope.get("webapp.video-detail")
        if not isinstance(detail, dict):
            raise PlatformError(f"{url}: the page data has no webapp.video-detail: TikTok's "
                                "post page layout changed")
        code = status_code(detail, url)
        if code:
            message = str(detail.get("statusMsg") or "")
            post.status, meaning = post_status(code, message, url)
            said = f"statusCode {code}" + (f", statusMsg {message!r}" if message else "")
            post.notes.append(f"TikTok answers {said} for the post: {meaning}")
            return post
        info = detail.get("itemInfo") if isinstance(detail.get("itemInfo"), dict) else {}
        item = info.get("itemStruct")
        if not isinstance(item, dict) or str(item.get("id")) != post.post_id:
            raise PlatformError(f"{url}: webapp.video-detail has no itemInfo.itemStruct for "
                                f"post {post.post_id}: TikTok's post page layout changed")
        fill(post, item)
        return post

    async def _get(self, fetch: Fetch, url: str, headers: dict[str, str]
                   ) -> tuple[Fetched, list[str]]:
        """GET ``url``, following redirects on TikTok's own hosts whether or not ``fetch``
        follows them itself; the answer, and every URL read on the way."""
        visited: list[str] = []
        for _ in range(MAX_REDIRECTS):
            answer = await fetch(url, headers=headers)
            visited = list(dict.fromkeys([*visited, url, answer.url]))
            following = redirect_target(answer)
            if following is None or not self.owns(following):
                return answer, visited
            url = following
        raise PlatformError(f"TikTok redirected {visited[0]} more than {MAX_REDIRECTS} times")

    async def _page(self, fetch: Fetch, url: str, source: list[str],
                    page: Fetched | None = None) -> tuple[Fetched, dict[str, Any]]:
        """A TikTok web page and its ``__DEFAULT_SCOPE__`` data, or why there is none; the
        URLs read are added to ``source``."""
        if page is None:
            page, visited = await self._get(fetch, url, PAGE_HEADERS)
            source[:] = dict.fromkeys([*source, *visited])
        check_answer(page, url)
        led_to = redirect_target(page) or page.url
        if is_login(led_to):
            raise LoginWall(f"TikTok sent {url} to its login page ({led_to}): it shows this "
                            "only to a logged-in session")
        if page.status in REDIRECTS:
            raise PlatformError(f"TikTok redirected {url} off its own hosts, to {led_to}")
        text = page.text()
        script = Selector(text=text).css(f"script#{PAGE_DATA}::text").get()
        if script is None:
            if any(marker in text for marker in BOT_CHECK):
                raise PlatformError(f"TikTok answered {url} with what looks like its bot "
                                    f"check (a JavaScript challenge or captcha, HTTP "
                                    f"{page.status}), without the page data: capture again "
                                    "later, through another network, or with a logged-in "
                                    "session")
            raise PlatformError(f"{url} (HTTP {page.status}) has no {PAGE_DATA} script: "
                                "TikTok's page layout changed, or this is not TikTok")
        try:
            data = json.loads(script)
        except ValueError as exc:
            raise PlatformError(f"{url}: the {PAGE_DATA} script is not JSON: TikTok's page "
                                "layout changed") from exc
        scope = data.get("__DEFAULT_SCOPE__") if isinstance(data, dict) else None
        if not isinstance(scope, dict):
            raise PlatformError(f"{url}: the {PAGE_DATA} script has no __DEFAULT_SCOPE__: "
                                "TikTok's page layout changed")
        return page, scope


class LoginWall(PlatformError):
    """TikTok sent the request to its login page."""


def post_url(user: str | None, post_id: str, kind: str = "video") -> str:
    """The public URL of a post (``@_`` when the author is not known)."""
    return f"{PUBLIC}/@{user or '_'}/{kind}/{post_id}"


def check_answer(answer: Fetched, url: str) -> None:
    """Raise PlatformError for a rate limit or a server error."""
    if answer.status == 429:
        raise PlatformError(f"TikTok rate limited the request for {url} (HTTP 429): wait "
                            "before capturing again")
    if answer.status >= 500:
        raise PlatformError(f"TikTok answered HTTP {answer.status} for {url}")


def redirect_target(answer: Fetched) -> str | None:
    """Where a redirect answer points (None for any other answer)."""
    location = answer.headers.get("location")
    if answer.status in REDIRECTS and location:
        return urljoin(answer.url, location)
    return None


def is_login(url: str) -> bool:
    path = urlsplit(url).path
    return path.rstrip("/") == "/login" or path.startswith("/login/")


def status_code(detail: dict, url: str) -> int:
    """The ``statusCode`` of a page-data section (absent: 0, as TikTok omits it when fine)."""
    code = detail.get("statusCode", 0)
    if isinstance(code, str) and code.lstrip("-").isdigit():
        code = int(code)
    if not isinstance(code, int):
        raise PlatformError(f"{url}: unreadable statusCode {code!r} in the page data")
    return code


def post_status(code: int, message: str, url: str) -> tuple[str, str]:
    """The status a post's ``statusCode``/``statusMsg`` state, and what they mean."""
    if code in POST_STATUSES:
        return POST_STATUSES[code]
    if code != NOT_AVAILABLE:
        raise PlatformError(f"TikTok answers statusCode {code} ({message!r}) for {url}: not a "
                            "status this module knows, so none is claimed")
    reasons = {r for r in re.split(r"[&,;|\s]+", message.lower()) if r}
    if "status_deleted" in reasons:
        return DELETED, "VIDEO_NOT_EXIST: TikTok marks the post deleted (status_deleted)"
    if any("geo" in r or "cross_border" in r for r in reasons):
        return UNAVAILABLE, ("VIDEO_NOT_EXIST: TikTok withholds the post in the region it "
                             "places the request in")
    if "status_reviewing" in reasons:
        return UNAVAILABLE, "VIDEO_NOT_EXIST: the post is under review by TikTok"
    if any("privacy" in r or "private" in r for r in reasons):
        return UNAVAILABLE, "VIDEO_NOT_EXIST: the post is private"
    return UNAVAILABLE, ("VIDEO_NOT_EXIST: TikTok does not say why; the post may be deleted, "
                         "private, or blocked for the requesting IP address or region")


def video_count(info: dict) -> int:
    """The profile's video count (``stats`` has numbers, ``statsV2`` strings), 0 if unknown."""
    for key in ("stats", "statsV2"):
        stats = info.get(key)
        if isinstance(stats, dict) and str(stats.get("videoCount", "")).isdigit():
            return int(stats["videoCount"])
    return 0


def item_list(answer: Fetched, api: str, user: str) -> tuple[list[dict], bool]:
    """The items of one creator item list answer, and whether older ones exist."""
    check_answer(answer, api)
    if answer.status >= 400:
        raise PlatformError(f"TikTok answered HTTP {answer.status} for {api}")
    if not answer.body.strip():
        raise PlatformError(f"TikTok's item list for @{user} answered an empty body (HTTP "
                            f"{answer.status}): it demands signed parameters (X-Bogus, "
                            f"msToken) or a logged-in session now ({api})")
    try:
        data = json.loads(answer.body)
    except ValueError as exc:
        raise PlatformError(f"TikTok's item list for @{user} did not answer JSON (HTTP "
                            f"{answer.status}): {answer.body[:80]!r}; a bot check, or it "
                            f"demands signed parameters now ({api})") from exc
    if not isinstance(data, dict) or not ({"itemList", "hasMorePrevious"} & data.keys()):
        raise PlatformError(f"{api} is not a TikTok item list (no itemList/hasMorePrevious)")
    code = data.get("statusCode", data.get("status_code", 0))
    if code not in (0, "0", None):
        raise PlatformError(f"TikTok's item list for @{user} answered statusCode {code} "
                            f"({data.get('statusMsg') or data.get('status_msg') or ''!r})")
    items = data.get("itemList") or []
    if not isinstance(items, list) or not all(
            isinstance(i, dict) and str(i.get("id", "")).isdigit()
            and str(i.get("createTime", "")).isdigit() for i in items):
        raise PlatformError(f"{api}: itemList entries without a numeric id and createTime")
    return items, bool(data.get("hasMorePrevious"))


def listed(item: dict, user: str) -> PostRef:
    """A listed item as a reference to its public post URL."""
    author = item.get("author")
    handle = author.get("uniqueId") if isinstance(author, dict) else None
    kind = "photo" if isinstance(item.get("imagePost"), dict) else "video"
    post_id = str(item["id"])
    return PostRef("tiktok", post_id, post_url(handle or user, post_id, kind),
                   utc_iso(int(item["createTime"])))


def fill(post: Post, item: dict) -> None:
    """The post's fields from its ``itemStruct``."""
    author = item.get("author")
    if isinstance(author, dict):
        post.author_id = str(author["id"]) if author.get("id") else None
        post.author_handle = author.get("uniqueId") or post.author_handle
        post.author_name = author.get("nickname") or None
    image_post = item.get("imagePost") if isinstance(item.get("imagePost"), dict) else None
    post.url = post_url(post.author_handle, post.post_id, "photo" if image_post else "video")
    if str(item.get("createTime", "")).isdigit():
        post.published = utc_iso(int(item["createTime"]))
    else:
        post.notes.append(f"no readable createTime ({item.get('createTime')!r})")
    desc = item.get("desc")
    post.text = desc if isinstance(desc, str) and desc else None
    language = item.get("textLanguage")
    post.language = language if isinstance(language, str) and language not in ("", "un") else None
    post.counts = counts(item)
    if image_post:
        post.title = image_post.get("title") or None
        for image in image_post.get("images") or []:
            urls = ((image or {}).get("imageURL") or {}).get("urlList") or []
            if urls:
                post.media.append(Media(urls[0], "image"))
        sound = (item.get("music") or {}).get("playUrl")
        if sound:
            post.media.append(Media(sound, "audio"))
    else:
        video = item.get("video") if isinstance(item.get("video"), dict) else {}
        address = first_address(video.get("playAddr")) or first_address(
            video.get("downloadAddr"))
        if address:
            post.media.append(Media(address, "video"))
            post.notes.append("TikTok's video address (playAddr) downloads only with the "
                              "cookies its post page sets; the media step reads the post page")
        elif item.get("isContentClassified"):
            post.status = LOGIN_WALL
            post.notes.append("TikTok marks the post not for all audiences "
                              "(isContentClassified) and withholds its video without a login")
        else:
            post.notes.append("the page data gives no video address (playAddr)")
        cover = video.get("cover") or video.get("originCover")
        if cover:
            post.media.append(Media(cover, "image"))
    music = item.get("music") if isinstance(item.get("music"), dict) else {}
    if music.get("title"):
        by = f" by {music['authorName']}" if music.get("authorName") else ""
        post.notes.append(f"sound: {music['title']!r}{by}")
    post.quote_of = duet_of(item)
    post.place = place(item.get("poi"))
    if item.get("locationCreated"):
        post.notes.append(f"TikTok's region code for the post (locationCreated, not a place): "
                          f"{item['locationCreated']}")


def first_address(value: Any) -> str | None:
    """A video address as the page gives it: a URL, or a list of URLs or of ``{"src": URL}``."""
    for entry in value if isinstance(value, list) else [value]:
        address = entry.get("src") if isinstance(entry, dict) else entry
        if isinstance(address, str) and address:
            return address
    return None


def counts(item: dict) -> dict[str, int]:
    names = {"playCount": "views", "diggCount": "likes", "commentCount": "replies",
             "shareCount": "shares", "collectCount": "saves", "repostCount": "reposts"}
    found: dict[str, int] = {}
    for key in ("stats", "statsV2"):  # statsV2 last: its exact strings win
        stats = item.get(key)
        if not isinstance(stats, dict):
            continue
        for field, name in names.items():
            value = stats.get(field)
            if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
                found[name] = int(value)
    return found


def duet_of(item: dict) -> str | None:
    """The URL of the post a duet answers (its author from the caption's mention, if any)."""
    source = str((item.get("duetInfo") or {}).get("duetFromId") or "0")
    if source == "0" or not source.isdigit():
        return None
    user = next((extra.get("userUniqueId") for extra in item.get("textExtra") or []
                 if isinstance(extra, dict) and str(extra.get("awemeId")) == source
                 and extra.get("userUniqueId")), None)
    return post_url(user, source)


def place(poi: Any) -> str | None:
    """The place tag as shown: its name, then its address (or city)."""
    if not isinstance(poi, dict):
        return None
    parts = [poi.get("name"), poi.get("address") or poi.get("city")]
    shown = [p for p in dict.fromkeys(parts) if isinstance(p, str) and p]
    return ", ".join(shown) or None


def _skipped_notes(user: str, skipped: list[tuple[int, int]]) -> list[str]:
    """What a listing that moved its cursor over empty week windows says about them: TikTok
    said older posts exist (hasMorePrevious) and gave none there, so posts it withheld from
    those weeks would be missing from the list."""
    notes = []
    windows = [(start, end) for start, end in skipped if start]
    if windows:
        shown = ", ".join(f"{_day(start)}..{_day(end)}" for start, end in windows)
        notes.append(f"TikTok's item list for @{user} gave no posts for {len(windows)} week "
                     f"window(s) ({shown}) while saying older posts exist: the listing skipped "
                     "them; posts TikTok withheld there are not listed")
    if any(not start for start, _ in skipped):
        end = next(end for start, end in skipped if not start)
        notes.append(f"TikTok's item list for @{user} stopped after {EMPTY_WEEKS} empty week "
                     f"windows: posts before {_day(end)} were not looked for")
    return notes


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")
