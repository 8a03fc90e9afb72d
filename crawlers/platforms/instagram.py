"""Instagram public posts and profiles, read the way Instagram's logged-out web client reads them.

Where each thing is read from (all on ``self.base``, ``https://www.instagram.com`` by default):

- **A post** (``/p/<shortcode>``, ``/reel/``, ``/reels/``, ``/tv/``, ``/<user>/p/...``): the
  home page ``/`` first, for the LSD token the web client sends with its GraphQL requests;
  then ``POST /api/graphql`` with the logged-out post query
  (``PolarisLoggedOutDesktopWWWPostRootContentQuery``, ``doc_id`` 27130156389949648,
  ``variables={"media_id": <numeric id>}``; the numeric id is decoded from the shortcode).
  The answer's ``data.xig_polaris_media.if_not_gated_logged_out`` is the post in Instagram's
  media shape (``code``, ``pk``, ``user``, ``caption.text``, ``taken_at``, ``like_count``,
  ``comment_count``, ``play_count``/``view_count``, ``video_versions``, ``image_versions2``,
  ``carousel_media``, ``accessibility_caption``, ``location``, ``caption_is_edited``,
  ``coauthor_producers``, ``product_type``). This is the query yt-dlp uses since mid-2026; the
  older ``/graphql/query`` shortcode query answering ``xdt_shortcode_media`` is no longer served
  to logged-out clients and is not read. When the GraphQL endpoint answers HTML instead of JSON
  (Instagram does this to clients that do not look like a browser), the post page
  ``/p/<shortcode>/`` is read instead: it carries the same ``xig_polaris_media`` object in its
  ``<script type="application/json" data-sjs>`` prefetch data.
- **Why a post is missing**: when the query gives no media, ``/api/v1/web/get_ruling_for_content/``
  (Instagram's own "may a logged-out viewer see this" check) is asked for a reason to quote.
- **A profile listing** (``/<user>``): ``/api/v1/users/web_profile_info/?username=<user>`` gives
  the profile and its first 12 posts (``edge_owner_to_timeline_media``); later pages come from
  ``GET /graphql/query/`` with the logged-out timeline query (``doc_id`` 7950326061742207,
  ``variables={"id", "first": 12, "after": <end_cursor>}``), the one Instaloader uses.
  Pinned posts (up to three, flagged by ``pinned_for_users``) head the first page out of date
  order: paging goes on past them and the listing is sorted newest first.
- **Stories** (``/stories/<user>/<id>``) are shown to logged-in viewers only: without a
  configured session the Post is ``LOGIN_WALL``; with one, the story is read from
  ``/api/v1/feed/reels_media/?reel_ids=<user id>`` (the user id from ``web_profile_info``).
  With a session, posts are read first from ``/api/v1/media/<id>/info/`` (which also covers
  private accounts the session follows), falling back to the logged-out path if it is refused.

Every request carries the web client's public app id (``X-IG-App-ID: 936619743392459``) and
its other API headers; no secret. ``post_id`` is the shortcode (what URLs carry); the numeric
media id is given in a note.

Statuses: a post Instagram does not serve (``xig_polaris_media`` null) is ``UNAVAILABLE``:
Instagram answers the same for a deleted post and for a post of a private account, and does
not say which. A post gated for logged-out viewers (``if_gated_logged_out``, e.g. sensitive or
age-restricted), a ``require_login`` answer, HTTP 401 or a redirect to ``/accounts/login/`` is
``LOGIN_WALL``. Instagram's "Please wait a few minutes before you try again." (HTTP 401 or
200) and HTTP 429 are rate limits: ``PlatformError``.

Counts: ``likes`` (``like_count``; left out when the author hides counts), ``replies``
(``comment_count``: comments, replies to comments included), ``views`` (``play_count``, else
``view_count``: plays of a video as Instagram counts them). Instagram has no replies, quotes or
reposts of posts: ``reply_to``/``quote_of``/``forwarded_from`` stay None; co-authors of a
collaboration post are named in a note. An edited caption is marked ``edited="edited"``
(Instagram says it was edited, not when).

Known to break: the ``doc_id`` values rotate when Instagram ships its web client (the answer
then lacks ``xig_polaris_media`` or the timeline: ``PlatformError``). Instagram rate-limits
logged-out clients per IP within a few dozen requests, and often refuses the anonymous
timeline query (``Please wait a few minutes``): listing past the first 12 posts may then need
a session. The crawler's fetch keeps no cookies between requests, so the ``csrftoken``
the web client echoes is not sent. Share links (``/share/...``) are not matched (they redirect
to a post URL, which is). Story highlights are not read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from parsel import Selector

from crawlers.platforms.base import (
    DELETED,
    LOGIN_WALL,
    OK,
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
)

PUBLIC = "https://www.instagram.com"
WEB_APP_ID = "936619743392459"  # the public id of Instagram's web client, not a secret
ASBD_ID = "359341"
POST_QUERY = "PolarisLoggedOutDesktopWWWPostRootContentQuery"
POST_DOC_ID = "27130156389949648"
TIMELINE_DOC_ID = "7950326061742207"
PAGE_SIZE = 12
# Shortcodes are the numeric media id in base 64 with this alphabet; a private post's
# shortcode carries 28 more characters after it.
SHORTCODE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
PRIVATE_SUFFIX = 28
SHORTCODE = re.compile(r"^[A-Za-z0-9_-]{1,60}$")
USERNAME = re.compile(r"^[A-Za-z0-9._]{1,30}$")
POST_PATHS = {"p", "reel", "reels", "tv"}
POST_TAILS = ([], ["embed"], ["embed", "captioned"])
# First path segments that are Instagram's own pages, never a profile.
RESERVED = {
    "about", "accounts", "api", "ar", "challenge", "create", "data", "developer", "direct",
    "directory", "download", "emails", "explore", "fragment", "graphql", "help", "igtv",
    "legal", "lite", "locations", "nametag", "oauth", "p", "press", "privacy", "qr", "reel",
    "reels", "session", "share", "static", "stories", "terms", "topics", "tv", "web",
    "your_activity", "_n", "_u",
}
RATE_LIMIT_WORDS = "please wait a few minutes"


class InstagramPlatform(Platform):
    name = "instagram"
    default_base = PUBLIC
    hosts = frozenset({"www.instagram.com", "instagram.com", "m.instagram.com", "instagr.am",
                       "www.instagr.am", "i.instagram.com"})

    def __init__(self, base: str | None = None, session: Collection[str] = ()) -> None:
        super().__init__(base, session)
        self._lsd: str | None = None  # the web client's LSD token, read once per capture

    @property
    def logged_in(self) -> bool:
        """Is a session (cookies) configured for Instagram?"""
        return "cookie" in self.session

    def match(self, url: str) -> Target | None:
        if not self.owns(url):
            return None
        path = [p for p in urlsplit(url).path.split("/") if p]
        if not path:
            return None
        if path[0] == "stories":
            if (len(path) == 3 and USERNAME.match(path[1]) and path[1] != "highlights"
                    and path[2].isdigit()):
                return Target(self.name, "post", url, {"user": path[1], "story": path[2]})
            return None
        ids: dict[str, str] = {}
        if (len(path) >= 3 and path[1] in POST_PATHS and USERNAME.match(path[0])
                and path[0].lower() not in RESERVED):
            ids["user"], path = path[0], path[1:]
        if path[0] in POST_PATHS:
            if (len(path) >= 2 and SHORTCODE.match(path[1]) and path[2:] in POST_TAILS
                    and not (path[0] == "reels" and path[1] == "audio")):
                return Target(self.name, "post", url, {**ids, "post": path[1]})
            return None
        if len(path) == 1 and USERNAME.match(path[0]) and path[0].lower() not in RESERVED:
            return Target(self.name, "channel", url, {"user": path[0]})
        return None

    async def extract_post(self, target: Target, fetch: Fetch) -> Post:
        if "story" in target.ids:
            return await self._story(target, fetch)
        code = target.ids["post"]
        segments = [p for p in urlsplit(target.url).path.split("/") if p][:2]
        kind = "reel" if {"reel", "reels"} & set(segments) else "p"
        post = Post(self.name, code, f"{PUBLIC}/{kind}/{code}/")
        media_id = shortcode_media_id(code)
        if self.logged_in:
            item = await self._logged_in_media(post, media_id, fetch)
            if item is not None:
                _fill(post, item)
            if item is not None or post.status != OK:
                return post
        try:
            polaris = await self._polaris_media(post, code, media_id, fetch)
        except _LoginWall as wall:
            post.status = LOGIN_WALL
            post.notes.append(str(wall))
            return post
        item = polaris.get("if_not_gated_logged_out") if isinstance(polaris, dict) else None
        if isinstance(item, dict) and item:
            _fill(post, item)
            return post
        reason = await self._ruling(post, media_id, fetch)
        if isinstance(polaris, dict) and isinstance(polaris.get("if_gated_logged_out"), dict):
            post.status = LOGIN_WALL
            post.notes.append("Instagram gates this post for logged-out viewers "
                              "(if_gated_logged_out): sensitive or age-restricted content that "
                              "a logged-in session may see" + (f"; Instagram says: {reason}"
                                                               if reason else ""))
            return post
        post.status = UNAVAILABLE
        if reason:
            post.notes.append(f"Instagram serves no media for {code} to logged-out viewers "
                              f"and says: {reason}")
        else:
            post.notes.append(f"Instagram serves no media for {code} (xig_polaris_media is "
                              "null) and does not say why: the post was deleted, or its "
                              "account is private; Instagram answers both the same way")
        if len(code) > PRIVATE_SUFFIX:
            post.notes.append("the shortcode has the 28-character suffix Instagram gives to "
                              "posts of private accounts: a session that follows the account "
                              "may see it")
        return post

    async def list_posts(self, target: Target, fetch: Fetch, limit: int) -> Listing:
        user = target.ids["user"]
        profile = await self._profile(user, fetch)
        if profile.get("is_private"):
            raise PlatformError(f"the Instagram account @{user} is private: its posts are shown "
                                "to approved followers only, and listing them is not done")
        user_id = str(profile.get("id") or "")
        timeline = profile.get("edge_owner_to_timeline_media")
        refs: list[PostRef] = []
        pinned = 0
        seen: set[str] = set()
        while True:
            nodes = _timeline_nodes(timeline, f"@{user}'s timeline")
            for node in nodes:
                code = node.get("shortcode") or node.get("code")
                if not isinstance(code, str) or code in seen:
                    continue
                seen.add(code)
                pinned += bool(node.get("pinned_for_users"))
                kind = "reel" if node.get("product_type") == "clips" else "p"
                refs.append(PostRef(self.name, code, f"{PUBLIC}/{kind}/{code}/",
                                    epoch_iso(node.get("taken_at_timestamp")
                                           or node.get("taken_at"))))
            # Pinned posts head the first page whatever their date: read past them.
            if len(refs) >= limit + pinned:
                break
            page_info = timeline.get("page_info")
            page_info = page_info if isinstance(page_info, dict) else {}
            cursor = page_info.get("end_cursor")
            if not page_info.get("has_next_page") or not cursor or not nodes:
                break
            timeline = await self._timeline_page(user, user_id, cursor, len(refs), fetch)
        refs.sort(key=lambda r: r.published or "", reverse=True)
        return Listing(refs[:limit])

    # -- requests -------------------------------------------------------------------------

    def _api_headers(self) -> dict[str, str]:
        """The headers Instagram's web client sends to its JSON endpoints."""
        return {"X-IG-App-ID": WEB_APP_ID, "X-ASBD-ID": ASBD_ID, "X-IG-WWW-Claim": "0",
                "Origin": self.base, "Accept": "*/*"}

    async def _lsd_token(self, post: Post, fetch: Fetch) -> str:
        """The LSD token of the home page, which the web client echoes in its GraphQL calls."""
        if self._lsd:
            return self._lsd
        url = f"{self.base}/"
        post.source.append(url)
        page = await fetch(url, {"Accept": "text/html,application/xhtml+xml"})
        _raise_for_rate_limit(page, url)
        if page.status >= 500:
            raise PlatformError(f"Instagram answered HTTP {page.status} for {url}")
        text = page.text()
        token = None
        script = Selector(text=text).xpath("//script[@id='__eqmc']/text()").get()
        if script:
            try:
                token = json.loads(script).get("l")
            except (ValueError, AttributeError):
                token = None
        if not token:
            found = re.search(r'\["LSD",\[\],\{"token":"([^"]+)"', text)
            token = found.group(1) if found else None
        if not isinstance(token, str) or not token:
            raise PlatformError(f"{url} (HTTP {page.status}) carries no LSD token (the __eqmc "
                                "script or the LSD config Instagram's web client reads): the "
                                "page changed, or this is not Instagram")
        self._lsd = token
        return token

    async def _polaris_media(self, post: Post, code: str, media_id: str, fetch: Fetch) -> Any:
        """``data.xig_polaris_media`` of the logged-out post query, or of the post page."""
        lsd = await self._lsd_token(post, fetch)
        url = f"{self.base}/api/graphql"
        page_url = f"{self.base}/p/{code}/"
        form = urlencode({
            "lsd": lsd, "fb_api_caller_class": "RelayModern",
            "fb_api_req_friendly_name": POST_QUERY, "server_timestamps": "true",
            "variables": json.dumps({"media_id": media_id}, separators=(",", ":")),
            "doc_id": POST_DOC_ID,
        })
        headers = {**self._api_headers(), "X-FB-Friendly-Name": POST_QUERY, "X-FB-LSD": lsd,
                   "X-Requested-With": "XMLHttpRequest", "Referer": page_url,
                   "Content-Type": "application/x-www-form-urlencoded"}
        post.source.append(url)
        answer = await fetch(url, headers, method="POST", body=form)
        try:
            body = _api_json(answer, url, "the post query's answer")
        except _NotJson as exc:
            post.notes.append(f"the post query answered no JSON ({exc}); read the post page")
            return await self._page_media(post, page_url, fetch)
        return _polaris_of(body, url)

    async def _page_media(self, post: Post, url: str, fetch: Fetch) -> Any:
        """``xig_polaris_media`` from the prefetch data of the post page."""
        post.source.append(url)
        page = await fetch(url, {"Accept": "text/html,application/xhtml+xml"})
        _raise_for_rate_limit(page, url)
        if _login_redirect(page, url):
            raise _LoginWall(f"Instagram redirected {url} to its login page ({page.url})")
        if page.status >= 500:
            raise PlatformError(f"Instagram answered HTTP {page.status} for {url}")
        for script in Selector(text=page.text()).xpath(
                "//script[@type='application/json'][@data-sjs]/text()").getall():
            try:
                found = _find_key(json.loads(script), "xig_polaris_media")
            except ValueError:
                continue
            if found is not _ABSENT:
                return found
        raise PlatformError(f"neither the post query nor the post page {url} (HTTP "
                            f"{page.status}) carries the post (xig_polaris_media): the layout "
                            "changed, or Instagram refuses this client")

    async def _ruling(self, post: Post, media_id: str, fetch: Fetch) -> str:
        """What Instagram's own access check says about the post ("" when nothing)."""
        url = (f"{self.base}/api/v1/web/get_ruling_for_content/?content_type=MEDIA"
               f"&target_id={media_id}")
        post.source.append(url)
        try:
            ruling = _api_json(await fetch(url, self._api_headers()), url, "an access ruling")
        except PlatformError as exc:
            post.notes.append(f"Instagram's access check gave no reason: {exc}")
            return ""
        return ": ".join(str(ruling[k]) for k in ("title", "description") if ruling.get(k))

    async def _logged_in_media(self, post: Post, media_id: str, fetch: Fetch
                               ) -> dict | None:
        """The post through the logged-in media API; None (with a note) if the session is
        refused, so the logged-out path is tried."""
        url = f"{self.base}/api/v1/media/{media_id}/info/"
        post.source.append(url)
        answer = await fetch(url, self._api_headers())
        try:
            body = _api_json(answer, url, "a media info")
        except _LoginWall as wall:
            post.notes.append(f"the configured session was refused ({wall}): read logged out")
            return None
        except _NotJson as exc:
            post.notes.append(f"the media API answered no JSON ({exc}): read logged out")
            return None
        except _Refused as refused:
            post.status = UNAVAILABLE
            post.notes.append(f"Instagram shows this post to no one with the configured "
                              f"session: {refused}: deleted, or of a private account the "
                              "session does not follow")
            return None
        items = body.get("items")
        if not isinstance(items, list) or not items or not isinstance(items[0], dict):
            raise PlatformError(f"{url} has no media (items[0]): the API changed")
        return items[0]

    async def _profile(self, user: str, fetch: Fetch) -> dict:
        url = f"{self.base}/api/v1/users/web_profile_info/?username={quote(user)}"
        answer = await fetch(url, self._api_headers())
        missing = (f"no account @{user} on Instagram: deleted, renamed, suspended or never "
                   "created (Instagram does not say which)")
        if answer.status == 404:
            raise _NoAccount(f"{missing}; {url} answered HTTP 404")
        body = _api_json(answer, url, "a profile")
        if not isinstance(body.get("data"), dict) or "user" not in body["data"]:
            raise PlatformError(f"{url} has no data.user: the profile API changed")
        profile = body["data"]["user"]
        if profile is None:
            raise _NoAccount(f"{missing}; {url} gives no user")
        if not isinstance(profile, dict) or "edge_owner_to_timeline_media" not in profile:
            raise PlatformError(f"{url} has no user timeline (edge_owner_to_timeline_media): "
                                "the profile API changed")
        return profile

    async def _timeline_page(self, user: str, user_id: str, cursor: str, read: int,
                             fetch: Fetch) -> dict:
        variables = json.dumps({"id": user_id, "after": cursor, "first": PAGE_SIZE},
                               separators=(",", ":"))
        url = f"{self.base}/graphql/query/?" + urlencode({"doc_id": TIMELINE_DOC_ID,
                                                         "variables": variables})
        headers = {**self._api_headers(), "X-Requested-With": "XMLHttpRequest",
                   "Referer": f"{self.base}/{user}/"}
        try:
            body = _api_json(await fetch(url, headers), url, "a timeline page")
        except PlatformError as exc:
            raise PlatformError(f"Instagram refused the next page of @{user}'s posts after the "
                                f"first {read}: {exc}. Anonymous paging is often refused: use "
                                "a smaller limit or configure a session") from exc
        data = body.get("data")
        user_data = data.get("user") if isinstance(data, dict) else None
        if not isinstance(user_data, dict) or not isinstance(
                user_data.get("edge_owner_to_timeline_media"), dict):
            raise PlatformError(f"{url} has no data.user.edge_owner_to_timeline_media: the "
                                "timeline query changed (its doc_id rotates)")
        return user_data["edge_owner_to_timeline_media"]

    async def _story(self, target: Target, fetch: Fetch) -> Post:
        user, story = target.ids["user"], target.ids["story"]
        post = Post(self.name, story, f"{PUBLIC}/stories/{user}/{story}/", author_handle=user)
        if not self.logged_in:
            post.status = LOGIN_WALL
            post.notes.append("Instagram shows stories to logged-in viewers only: configure a "
                              "session (platforms.instagram.cookies_file) to read them")
            return post
        profile_url = f"{self.base}/api/v1/users/web_profile_info/?username={quote(user)}"
        post.source.append(profile_url)
        try:
            user_id = str((await self._profile(user, fetch)).get("id") or "")
        except _NoAccount as exc:
            post.status = UNAVAILABLE
            post.notes.append(str(exc))
            return post
        url = f"{self.base}/api/v1/feed/reels_media/?reel_ids={user_id}"
        post.source.append(url)
        try:
            body = _api_json(await fetch(url, self._api_headers()), url, "a story reel")
        except _LoginWall as wall:
            post.status = LOGIN_WALL
            post.notes.append(f"the configured session was refused: {wall}")
            return post
        reels = body.get("reels")
        if not isinstance(reels, dict):
            raise PlatformError(f"{url} has no reels: the stories API changed")
        reel = reels.get(user_id)
        items = reel.get("items") if isinstance(reel, dict) else None
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and str(item.get("pk") or "").split("_")[0] == story:
                _fill(post, item, story=True)
                return post
        post.status = DELETED
        post.notes.append(f"story {story} is not among @{user}'s current stories: it expired "
                          "(stories last 24 hours unless kept in a highlight) or was deleted")
        return post


# -- answers ----------------------------------------------------------------------------


class _LoginWall(PlatformError):
    """Instagram answered with a login requirement instead of the content."""


class _NotJson(PlatformError):
    """Instagram answered something other than JSON (HTML, empty) where JSON was expected."""


class _NoAccount(PlatformError):
    """Instagram has no account of that name (deleted, renamed, suspended: it does not say)."""


class _Refused(PlatformError):
    """Instagram refused the request with its own JSON error (not a login or rate limit)."""


_ABSENT = object()


def _login_redirect(answer: Fetched, requested: str) -> bool:
    """Did Instagram send the request to its login page (or its home page) instead?"""
    final = urlsplit(answer.url).path
    return final.startswith("/accounts/login") or (
        final in ("", "/") and urlsplit(requested).path not in ("", "/"))


def _raise_for_rate_limit(answer: Fetched, url: str) -> None:
    if answer.status == 429:
        raise PlatformError(f"Instagram rate limited the request for {url} (HTTP 429): wait "
                            "before capturing again, or use another network or a session")


def _api_json(answer: Fetched, url: str, what: str) -> dict:
    """The JSON object of an API answer, after Instagram's own error answers."""
    _raise_for_rate_limit(answer, url)
    if _login_redirect(answer, url):
        raise _LoginWall(f"Instagram redirected {url} to its login page ({answer.url})")
    try:
        body = json.loads(answer.body)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        if answer.status >= 500:
            raise PlatformError(f"Instagram answered HTTP {answer.status} for {url}")
        shown = answer.headers.get("content-type", "no content type")
        raise _NotJson(f"{url} did not answer {what} as JSON (HTTP {answer.status}, {shown}: "
                       f"{answer.body[:60]!r})")
    message = str(body.get("message") or "")
    if RATE_LIMIT_WORDS in message.lower():
        raise PlatformError(f"Instagram rate limited the request for {url} (HTTP "
                            f"{answer.status}): \"{message}\"")
    if body.get("require_login") or message == "login_required" or answer.status == 401:
        raise _LoginWall(f"Instagram asks for a login for {url} (HTTP {answer.status}"
                         + (f": \"{message}\")" if message else ")"))
    if answer.status >= 500:
        raise PlatformError(f"Instagram answered HTTP {answer.status} for {url}: {message}")
    if answer.status >= 400 or body.get("status") == "fail":
        raise _Refused(f"Instagram refused {url} (HTTP {answer.status}): "
                       f"\"{message or json.dumps(body)[:120]}\"")
    return body


def _polaris_of(body: dict, url: str) -> Any:
    """``data.xig_polaris_media`` (a dict, or None when Instagram serves nothing)."""
    data = body.get("data")
    if not isinstance(data, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            raise PlatformError(f"the post query at {url} failed: "
                                f"\"{errors[0].get('message', '')}\" (its doc_id may have "
                                "rotated)")
        raise PlatformError(f"{url} answered JSON without data: not the post query's answer "
                            "(the API changed)")
    if "xig_polaris_media" not in data:
        raise PlatformError(f"{url} has no data.xig_polaris_media: the post query changed "
                            f"(keys: {sorted(data)[:5]})")
    return data["xig_polaris_media"]


def _find_key(value: Any, key: str) -> Any:
    """The first value of ``key`` anywhere in a JSON document, or ``_ABSENT``."""
    stack = [value]
    while stack:
        node = stack.pop(0)
        if isinstance(node, dict):
            if key in node:
                return node[key]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return _ABSENT


def _timeline_nodes(timeline: Any, what: str) -> list[dict]:
    edges = timeline.get("edges") if isinstance(timeline, dict) else None
    if not isinstance(edges, list):
        raise PlatformError(f"{what} has no edges: the API changed")
    return [e["node"] for e in edges if isinstance(e, dict) and isinstance(e.get("node"), dict)]


def _fill(post: Post, item: dict, *, story: bool = False) -> None:
    """The Post fields from Instagram's media object (``if_not_gated_logged_out``, media
    info, or a story item)."""
    user = item.get("user") or item.get("owner")
    if not isinstance(user, dict) or not (item.get("code") or item.get("pk")) or (
            not isinstance(item.get("taken_at"), int | float)):
        raise PlatformError(f"the media object of {post.url} is not in the expected shape "
                            "(code/pk, taken_at, user): the API changed")
    post.status = OK
    if item.get("code") and not story:
        post.post_id = str(item["code"])
        kind = "reel" if item.get("product_type") == "clips" else "p"
        post.url = f"{PUBLIC}/{kind}/{post.post_id}/"
    pk = str(item.get("pk") or item.get("id") or "").split("_")[0]
    if pk:
        post.notes.append(f"Instagram media id {pk}")
    post.author_id = str(user.get("pk") or user.get("id") or "") or None
    post.author_handle = user.get("username") or post.author_handle
    post.author_name = user.get("full_name") or None
    post.published = epoch_iso(item.get("taken_at"))
    caption = item.get("caption")
    post.text = caption.get("text") if isinstance(caption, dict) else None
    if item.get("caption_is_edited"):
        post.edited = "edited"
        post.notes.append("caption marked edited by Instagram (the edit time is not shown)")
    post.title = item.get("title") or None
    location = item.get("location")
    if isinstance(location, dict) and location.get("name"):
        post.place = location["name"]
    if item.get("like_and_view_counts_disabled"):
        post.notes.append("the author hides like and view counts: not recorded")
    elif isinstance(item.get("like_count"), int):
        post.counts["likes"] = item["like_count"]
    if isinstance(item.get("comment_count"), int):
        post.counts["replies"] = item["comment_count"]
    if not item.get("like_and_view_counts_disabled"):
        for key in ("play_count", "view_count"):
            if isinstance(item.get(key), int):
                post.counts["views"] = item[key]
                break
    coauthors = [c.get("username") for c in item.get("coauthor_producers") or []
                 if isinstance(c, dict) and c.get("username")]
    if coauthors:
        post.notes.append("collaboration post, co-authored with "
                          + ", ".join(f"@{name}" for name in coauthors))
    post.media = _media(item)


def _media(item: dict) -> list[Media]:
    """A video's file (its cover image is left out), or an image with its alt text; every
    slide of a carousel."""
    found = []
    slides = item.get("carousel_media") or [item]
    for slide in slides:
        if not isinstance(slide, dict):
            continue
        alt = slide.get("accessibility_caption") or None
        videos = [v for v in slide.get("video_versions") or [] if isinstance(v, dict)]
        if videos and videos[0].get("url"):
            found.append(Media(videos[0]["url"], "video", alt))
            continue
        versions = slide.get("image_versions2")
        candidates = versions.get("candidates") if isinstance(versions, dict) else None
        image = (candidates[0].get("url") if isinstance(candidates, list) and candidates
                 and isinstance(candidates[0], dict)
                 else slide.get("display_uri") or slide.get("display_url"))
        if image:
            found.append(Media(image, "image", alt))
    return found


def shortcode_media_id(shortcode: str) -> str:
    """The numeric media id a shortcode encodes (a private post's 28-character suffix is
    not part of it)."""
    if len(shortcode) > PRIVATE_SUFFIX:
        shortcode = shortcode[:-PRIVATE_SUFFIX]
    number = 0
    for char in shortcode:
        number = number * 64 + SHORTCODE_ALPHABET.index(char)
    return str(number)


def media_id_shortcode(media_id: int | str) -> str:
    """The shortcode of a numeric media id (as URLs carry it)."""
    number, code = int(str(media_id).split("_")[0]), ""
    while True:
        number, digit = divmod(number, 64)
        code = SHORTCODE_ALPHABET[digit] + code
        if not number:
            return code
