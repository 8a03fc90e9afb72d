"""An Instagram stand-in: what the logged-out web client reads, in Instagram's public shapes.

Serves, on its one base:

- ``/`` — the home page, with the LSD token in its ``__eqmc`` script;
- ``POST /api/graphql`` — the logged-out post query (checks the app id header, the LSD token,
  ``doc_id`` and ``fb_api_req_friendly_name`` like the real one would reject a bad request);
  answers ``data.xig_polaris_media`` (or a login, a rate limit, HTML, a redirect...);
- ``/api/v1/web/get_ruling_for_content/`` — Instagram's access check (its reasons);
- ``/api/v1/users/web_profile_info/?username=`` — a profile and its first 12 posts;
- ``GET /graphql/query/?doc_id=...&variables=`` — the next timeline pages (cursor paging);
- ``/api/v1/media/<id>/info/`` and ``/api/v1/feed/reels_media/`` — the logged-in APIs (with
  the cookie ``SESSION_COOKIE``; without it, a redirect to the login page / a login answer);
- ``/p/<shortcode>/``, ``/reel/<shortcode>/`` — the HTML shell Instagram serves logged out
  (og: meta); ``/<user>/`` — the profile shell; ``/accounts/login/`` — the login page;
- ``/media/ig-reel.mp4`` (the Arabic reel's video), ``/media/ig-carousel-2.mp4`` (a carousel
  slide), ``/media/<name>.jpg`` (images).
"""

from __future__ import annotations

import base64
import html
import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from tests.fixture_site.server import video_clip
from tests.platform_fixtures.server import PlatformFixture, PlatformHandler

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
WEB_APP_ID = "936619743392459"
POST_DOC_ID = "27130156389949648"
POST_QUERY = "PolarisLoggedOutDesktopWWWPostRootContentQuery"
TIMELINE_DOC_ID = "7950326061742207"
LSD = "AVqbxe3J_YA"
SESSION_COOKIE = "sessionid=48151623420%3AfixtureSession%3A17"

USER = "aleppo.witness"
USER_ID = "48151623420"
FULL_NAME = "شاهد من حلب"
ARABIC_TEXT = ("انقطاع الكهرباء في حي الشعار منذ الفجر.\n"
               "الدفاع المدني يعمل على إخماد الحريق قرب السوق.\n\n"
               "#حلب #سوريا\nتصوير: @civil.defence.sy")
PLACE = "حلب، سوريا"
ALT = "May be an image of rubble, street and text that says 'SOUQ'."
VIDEO_PATH = "/media/ig-reel.mp4"
PUBLISHED = datetime(2026, 11, 20, 8, 15, 30, tzinfo=UTC)


def shortcode(pk: int) -> str:
    """The shortcode Instagram shows for a numeric media id."""
    code = ""
    while True:
        pk, digit = divmod(pk, 64)
        code = ALPHABET[digit] + code
        if not pk:
            return code


REEL_ID = 3498765432101234567        # the Arabic reel with the video
PHOTO_ID = REEL_ID - 1               # an image with alt text, a collaboration post
CAROUSEL_ID = REEL_ID - 2            # an image and a video, caption edited
MISSING_ID = 3400000000000000003     # xig_polaris_media null (deleted, or private account)
GEO_ID = 3400000000000000004         # null, and the access check gives a reason
GATED_ID = 3400000000000000005       # gated for logged-out viewers (age-restricted)
LOGIN_ID = 3400000000000000006       # HTTP 401 require_login
WAIT_ID = 3400000000000000007        # "Please wait a few minutes" (HTTP 401)
BUSY_ID = 3400000000000000008        # HTTP 429
HTML_ID = 3400000000000000009        # the query answers HTML; the post page carries the post
REDIRECT_ID = 3400000000000000010    # the query is redirected to /accounts/login/
NO_DATA_ID = 3400000000000000011     # JSON without data
PRIVATE_ID = 3400000000000000012     # a private account's post: seen only with the session
SHAPE_ID = 3400000000000000013       # a media object in another shape (no user, text time)
STORY_ID = "3499000000000000001"
SHY_USER_ID = "777000111"  # a profile whose next timeline page Instagram refuses
# The posts on the profile, newest first; the oldest is pinned on top of the first page.
TIMELINE = [REEL_ID, PHOTO_ID, CAROUSEL_ID] + [REEL_ID - 10 - n for n in range(27)]
PINNED_ID = TIMELINE[-1]

REEL_CODE, PHOTO_CODE, CAROUSEL_CODE = (shortcode(n) for n in (REEL_ID, PHOTO_ID, CAROUSEL_ID))
MISSING_CODE, GEO_CODE, GATED_CODE = (shortcode(n) for n in (MISSING_ID, GEO_ID, GATED_ID))
LOGIN_CODE, WAIT_CODE, BUSY_CODE = (shortcode(n) for n in (LOGIN_ID, WAIT_ID, BUSY_ID))
HTML_CODE, REDIRECT_CODE, NO_DATA_CODE = (shortcode(n) for n in (HTML_ID, REDIRECT_ID,
                                                                 NO_DATA_ID))
SHAPE_CODE = shortcode(SHAPE_ID)
# A private post's shortcode: the id's shortcode and 28 more characters.
PRIVATE_CODE = shortcode(PRIVATE_ID) + "Xk2LmQ9vTz4RbN7pWc1YdH6sJf3G"

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00fixture-jpeg\xff\xd9"


def _taken_at(pk: int) -> int:
    index = TIMELINE.index(pk) if pk in TIMELINE else 40
    return int(PUBLISHED.timestamp()) - 3600 * index


def _user(base: str, username: str = USER, user_id: str = USER_ID,
          full_name: str = FULL_NAME) -> dict:
    return {"pk": user_id, "id": user_id, "username": username, "full_name": full_name,
            "is_verified": False, "is_private": False,
            "profile_pic_url": f"{base}/media/{username}-avatar.jpg"}


def _image(base: str, name: str) -> dict:
    return {"candidates": [{"url": f"{base}/media/{name}.jpg", "width": 1080, "height": 1350},
                           {"url": f"{base}/media/{name}-s.jpg", "width": 320, "height": 400}]}


def media_item(base: str, pk: int) -> dict:
    """One post in Instagram's media shape (xig_polaris_media.if_not_gated_logged_out)."""
    code = PRIVATE_CODE if pk == PRIVATE_ID else shortcode(pk)
    item = {
        "id": f"{pk}_{USER_ID}", "pk": str(pk), "code": code, "media_type": 1,
        "product_type": "feed", "taken_at": _taken_at(pk),
        "caption": {"pk": str(pk + 7), "text": f"Report {code}.", "created_at": _taken_at(pk),
                    "user_id": USER_ID},
        "caption_is_edited": False, "user": _user(base), "like_count": 210,
        "comment_count": 14, "like_and_view_counts_disabled": False,
        "image_versions2": _image(base, f"ig-{code}"), "accessibility_caption": None,
        "original_width": 1080, "original_height": 1350, "location": None,
        "coauthor_producers": [], "carousel_media": None, "video_versions": None,
        "has_liked": False, "comments_disabled": False,
    }
    if pk == REEL_ID:
        item.update(
            media_type=2, product_type="clips", like_count=1520, comment_count=87,
            play_count=40210, view_count=None, video_duration=2.0, has_audio=True,
            caption={**item["caption"], "text": ARABIC_TEXT},
            video_versions=[{"type": 101, "id": "101", "url": f"{base}{VIDEO_PATH}",
                             "width": 160, "height": 120},
                            {"type": 103, "id": "103", "url": f"{base}/media/ig-reel-low.mp4",
                             "width": 80, "height": 60}],
            image_versions2=_image(base, "ig-reel-cover"),
            location={"pk": "213385402", "name": PLACE, "lat": 36.2021, "lng": 37.1343,
                      "short_name": "حلب"})
    elif pk == PHOTO_ID:
        item.update(
            caption={**item["caption"], "text": "Souq al-Madina after the strike, this morning."
                                                 "\nWith @civil.defence.sy"},
            accessibility_caption=ALT, like_count=902, comment_count=31,
            coauthor_producers=[{"pk": "5550001", "id": "5550001",
                                 "username": "civil.defence.sy", "full_name": "Civil Defence",
                                 "is_verified": True}])
    elif pk == CAROUSEL_ID:
        item.update(
            media_type=8, product_type="carousel_container", caption_is_edited=True,
            caption={**item["caption"], "text": "Three views of the market (corrected date)."},
            image_versions2=None,
            carousel_media=[
                {"id": f"{pk + 100}_{USER_ID}", "pk": str(pk + 100), "media_type": 1,
                 "image_versions2": _image(base, "ig-carousel-1"),
                 "accessibility_caption": "May be an image of a market street.",
                 "video_versions": None},
                {"id": f"{pk + 101}_{USER_ID}", "pk": str(pk + 101), "media_type": 2,
                 "image_versions2": _image(base, "ig-carousel-2-cover"),
                 "accessibility_caption": None, "video_duration": 2.0,
                 "video_versions": [{"type": 101, "url": f"{base}/media/ig-carousel-2.mp4",
                                     "width": 160, "height": 120}]}])
    elif pk == HTML_ID:
        item.update(like_and_view_counts_disabled=True, like_count=0,
                    caption={**item["caption"], "text": "Read from the post page."})
    return item


def _node(base: str, pk: int) -> dict:
    """A post as the profile timeline lists it."""
    item = media_item(base, pk)
    typename = {1: "GraphImage", 2: "GraphVideo", 8: "GraphSidecar"}[item["media_type"]]
    return {"__typename": typename, "id": str(pk), "shortcode": item["code"],
            "taken_at_timestamp": item["taken_at"], "is_video": item["media_type"] == 2,
            "display_url": f"{base}/media/ig-{item['code']}.jpg",
            "edge_media_to_caption": {"edges": [{"node": {"text": item["caption"]["text"]}}]},
            "edge_liked_by": {"count": item["like_count"]},
            "edge_media_to_comment": {"count": item["comment_count"]},
            "owner": {"id": USER_ID, "username": USER}, "product_type": item["product_type"],
            "pinned_for_users": [{"id": USER_ID, "username": USER}] if pk == PINNED_ID else []}


def cursor(offset: int) -> str:
    """The opaque end_cursor of the timeline page that ends before ``offset``."""
    return base64.urlsafe_b64encode(f"QVFD:timeline:{offset}".encode()).decode().rstrip("=")


def _offset(token: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        return int(text.rsplit(":", 1)[1]) if text.startswith("QVFD:timeline:") else None
    except (ValueError, IndexError):
        return None


CHRONOLOGICAL = [pk for pk in TIMELINE if pk != PINNED_ID]


def _timeline(base: str, offset: int) -> dict:
    """A timeline page of 12: the first has the pinned post on top, then 11 newest."""
    if offset == 0:
        pks = [PINNED_ID, *CHRONOLOGICAL[:11]]
        end = 11
    else:
        pks = CHRONOLOGICAL[offset:offset + 12]
        end = offset + 12
    more = end < len(CHRONOLOGICAL)
    return {"count": len(TIMELINE),
            "page_info": {"has_next_page": more, "end_cursor": cursor(end) if more else None},
            "edges": [{"node": _node(base, pk)} for pk in pks]}


def _profile(base: str, username: str) -> dict:
    user_id = SHY_USER_ID if username == "shy.account" else USER_ID
    return {**_user(base, username, user_id), "biography": "توثيق ما يجري في المدينة",
            "is_private": username == "private.account", "is_business_account": False,
            "edge_followed_by": {"count": 15320}, "edge_follow": {"count": 48},
            "edge_owner_to_timeline_media": _timeline(base, 0)}


def _shell(base: str, title: str, description: str, path: str, extra: str = "") -> str:
    """The HTML shell Instagram serves to a logged-out browser (the app renders the rest)."""
    return ("<!DOCTYPE html><html class=\"_9dls\" lang=\"en\" dir=\"ltr\"><head>"
            "<meta charset=\"utf-8\"><title>Instagram</title>"
            "<meta property=\"og:site_name\" content=\"Instagram\">"
            f"<meta property=\"og:title\" content=\"{html.escape(title)}\">"
            f"<meta property=\"og:description\" content=\"{html.escape(description)}\">"
            f"<meta property=\"og:url\" content=\"https://www.instagram.com{path}\">"
            f"<meta property=\"og:image\" content=\"{base}/media/ig-og.jpg\">"
            "<meta name=\"robots\" content=\"noimageindex, noarchive\">"
            f"<script type=\"application/json\" id=\"__eqmc\" data-sjs>{json.dumps(_eqmc())}"
            f"</script>{extra}</head><body><div id=\"splash-screen\"></div>"
            "<noscript>Instagram requires JavaScript.</noscript></body></html>")


def _eqmc() -> dict:
    return {"u": "/ajax/qm/?__a=1&__user=0&__comet_req=7", "e": "AQZ2fixture", "s": "5b3k",
            "w": 0, "f": "AQYfixture", "l": LSD}


def _prefetch(polaris: object) -> str:
    """The post page's prefetched query result, as Instagram's page embeds it."""
    data = {"require": [["ScheduledServerJS", "handle", None, [{"__bbox": {"require": [
        ["RelayPrefetchedStreamCache", "next", [], [
            f"adp_{POST_QUERY}RelayPreloader_1",
            {"__bbox": {"complete": True, "result": {"data": {"xig_polaris_media": polaris},
                                                     "extensions": {"is_final": True}}}}]],
    ]}}]]]}
    return f"<script type=\"application/json\" data-content-len=\"1\" data-sjs>" \
           f"{json.dumps(data, ensure_ascii=False)}</script>"


POSTS = {REEL_ID, PHOTO_ID, CAROUSEL_ID, HTML_ID, *TIMELINE}


class _Handler(PlatformHandler):
    def _bad_request(self, why: str) -> None:
        self.send_json(400, {"message": why, "status": "fail"})

    def _logged_in(self) -> bool:
        return SESSION_COOKIE in (self.headers.get("Cookie") or "")

    def do_POST(self) -> None:  # noqa: N802
        if urlsplit(self.path).path != "/api/graphql":
            return self.not_found()
        form = {k: v[0] for k, v in parse_qs(self.body().decode()).items()}
        if self.headers.get("X-IG-App-ID") != WEB_APP_ID:
            return self._bad_request("useragent mismatch")
        if form.get("lsd") != LSD or self.headers.get("X-FB-LSD") != LSD:
            return self._bad_request("missing or stale lsd token")
        if form.get("doc_id") != POST_DOC_ID or form.get("fb_api_req_friendly_name") \
                != POST_QUERY:
            return self._bad_request("unknown query")
        try:
            pk = int(json.loads(form.get("variables") or "{}")["media_id"])
        except (ValueError, KeyError, TypeError):
            return self._bad_request("variables: media_id expected")
        base = self.base
        if pk == LOGIN_ID:
            return self.send_json(401, {"message": "", "require_login": True,
                                        "status": "fail"})
        if pk == WAIT_ID:
            return self.send_json(401, {"message": "Please wait a few minutes before you try "
                                                   "again.", "require_login": True,
                                        "status": "fail"})
        if pk == BUSY_ID:
            return self.send(429, b"", "text/html; charset=utf-8")
        if pk == HTML_ID:
            return self.send_html(200, _shell(base, "Instagram", "", "/api/graphql"))
        if pk == REDIRECT_ID:
            return self.redirect(f"{base}/accounts/login/?next=%2Fapi%2Fgraphql")
        if pk == NO_DATA_ID:
            return self.send_json(200, {"status": "ok"})
        if pk == GATED_ID:
            polaris = {"if_not_gated_logged_out": None,
                       "if_gated_logged_out": {"__typename": "XIGPolarisGatedMedia",
                                               "id": str(pk)}}
        elif pk == SHAPE_ID:
            polaris = {"if_not_gated_logged_out": {"code": SHAPE_CODE, "pk": str(pk),
                                                   "taken_at": "yesterday", "owner": None}}
        elif pk in POSTS:
            polaris = {"if_not_gated_logged_out": media_item(base, pk)}
        else:
            polaris = None
        return self.send_json(200, {"data": {"xig_polaris_media": polaris},
                                    "extensions": {"is_final": True}})

    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        path, query = parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}
        base = self.base
        segments = [p for p in path.split("/") if p]
        if path == "/":
            return self.send_html(200, _shell(base, "Instagram", "Create an account or log in",
                                              "/"))
        if path.startswith("/media/"):
            if path in (VIDEO_PATH, "/media/ig-carousel-2.mp4"):
                return self.send(200, video_clip(), "video/mp4")
            if path.endswith(".jpg"):
                return self.send(200, JPEG, "image/jpeg")
            return self.not_found()
        if path.startswith("/api/") and self.headers.get("X-IG-App-ID") != WEB_APP_ID:
            return self._bad_request("useragent mismatch")
        if path == "/api/v1/web/get_ruling_for_content/":
            target = query.get("target_id")
            if target == str(GATED_ID):
                return self.send_json(200, {"title": "Restricted Video", "description":
                                            "You must be 18 years old or over to see this "
                                            "video.", "status": "ok"})
            if target == str(GEO_ID):
                return self.send_json(200, {"title": "Content not available in your country",
                                            "description": "This content isn't available "
                                            "where you are because of a legal restriction.",
                                            "status": "ok"})
            return self.send_json(200, {"status": "ok"})
        if path == "/api/v1/users/web_profile_info/":
            return self._profile_info(query.get("username", ""))
        if path == "/graphql/query/":
            return self._timeline_page(query)
        if path.startswith("/api/v1/media/") and path.endswith("/info/"):
            if not self._logged_in():
                return self.redirect(f"{base}/accounts/login/?next={path}")
            pk = int(segments[3])
            if pk in POSTS or pk == PRIVATE_ID:
                return self.send_json(200, {"items": [media_item(base, pk)], "num_results": 1,
                                            "more_available": False, "status": "ok"})
            return self.send_json(400, {"message": "Media not found or unavailable",
                                        "status": "fail"})
        if path == "/api/v1/feed/reels_media/":
            if not self._logged_in():
                return self.send_json(401, {"message": "login_required", "require_login": True,
                                            "status": "fail"})
            return self._stories(query.get("reel_ids", ""))
        if path.startswith("/accounts/login"):
            return self.send_html(200, _shell(base, "Login • Instagram", "", "/accounts/login/"))
        if path.startswith("/stories/"):
            return self.redirect(f"{base}/accounts/login/?next={path}")
        if len(segments) == 2 and segments[0] in ("p", "reel"):
            return self._post_page(segments[1])
        if len(segments) == 1:
            title = f"{FULL_NAME} (@{segments[0]}) • Instagram photos and videos"
            return self.send_html(200, _shell(base, title, f"15K Followers, {len(TIMELINE)} "
                                              "Posts", f"/{segments[0]}/"))
        return self.not_found()

    def _post_page(self, code: str) -> None:
        known = {shortcode(pk): pk for pk in POSTS}
        if code not in known:
            page = _shell(self.base, "Instagram", "Sorry, this page isn't available.", "/")
            return self.send_html(404, page)
        item = media_item(self.base, known[code])
        text = item["caption"]["text"]
        title = f"{FULL_NAME} on Instagram: \"{text}\""
        description = (f"{item['like_count']} likes, {item['comment_count']} comments - {USER} "
                       f"on November 20, 2026: \"{text}\"")
        extra = _prefetch({"if_not_gated_logged_out": item}) if known[code] == HTML_ID else ""
        kind = "reel" if item["product_type"] == "clips" else "p"
        return self.send_html(200, _shell(self.base, title, description, f"/{kind}/{code}/",
                                          extra))

    def _profile_info(self, username: str) -> None:
        if username == "nobody":
            return self.send(404, b"", "text/html; charset=utf-8")
        if username == "gone.account":
            return self.send_json(200, {"data": {"user": None}, "status": "ok"})
        if username == "wait.account":
            return self.send_json(401, {"message": "Please wait a few minutes before you try "
                                                   "again.", "require_login": True,
                                        "status": "fail"})
        return self.send_json(200, {"data": {"user": _profile(self.base, username)},
                                    "status": "ok"})

    def _timeline_page(self, query: dict[str, str]) -> None:
        if self.headers.get("X-IG-App-ID") != WEB_APP_ID:
            return self._bad_request("useragent mismatch")
        if query.get("doc_id") != TIMELINE_DOC_ID:
            return self.send_json(200, {"errors": [{"message": "Unknown document",
                                                    "severity": "CRITICAL"}], "data": None})
        try:
            variables = json.loads(query.get("variables") or "")
        except ValueError:
            return self._bad_request("variables: JSON expected")
        offset = _offset(str(variables.get("after") or ""))
        if variables.get("id") == SHY_USER_ID:
            return self.send_json(401, {"message": "Please wait a few minutes before you try "
                                                   "again.", "require_login": True,
                                        "status": "fail"})
        if variables.get("id") != USER_ID or variables.get("first") != 12 or offset is None:
            return self._bad_request("variables: id, first and after expected")
        return self.send_json(200, {"data": {"user": {"edge_owner_to_timeline_media":
                                                      _timeline(self.base, offset)}},
                                    "extensions": {"is_final": True}, "status": "ok"})

    def _stories(self, reel_id: str) -> None:
        story = {**media_item(self.base, REEL_ID - 50), "id": f"{STORY_ID}_{USER_ID}",
                 "pk": STORY_ID, "code": shortcode(int(STORY_ID)), "caption": None,
                 "product_type": "story", "taken_at": int(PUBLISHED.timestamp()) + 600,
                 "expiring_at": int(PUBLISHED.timestamp()) + 600 + 86400,
                 "like_count": None, "comment_count": None}
        reels = {USER_ID: {"id": USER_ID, "user": _user(self.base), "items": [story],
                           "expiring_at": story["expiring_at"]}} if reel_id == USER_ID else {}
        return self.send_json(200, {"reels": reels, "reels_media": list(reels.values()),
                                    "status": "ok"})


class InstagramFixture(PlatformFixture):
    handler = _Handler

    def post_url(self, code: str = REEL_CODE) -> str:
        """The post's URL on the stand-in (the Arabic reel with the video by default)."""
        kind = "reel" if code == REEL_CODE else "p"
        return f"{self.base}/{kind}/{code}/"

    def channel_url(self) -> str:
        """The profile's URL on the stand-in."""
        return f"{self.base}/{USER}/"
