"""A TikTok stand-in: the web pages and the JSON TikTok's web client loads, in TikTok's shapes.

Served on the stand-in's base (it replaces ``https://www.tiktok.com``):

- ``/@<user>/video/<id>`` and ``/@<user>/photo/<id>``: post pages carrying
  ``<script id="__UNIVERSAL_DATA_FOR_REHYDRATION__">`` with ``webapp.video-detail``
  (``statusCode``, ``statusMsg``, ``itemInfo.itemStruct``), for: the Arabic video post
  (``ARABIC_ID``), a photo post (``PHOTO_ID``), a duet of the Arabic post (``DUET_ID``), every
  listed post (``LISTED``), and the status cases (``DELETED_ID``, ``GEO_ID``, ``GONE_ID``,
  ``PRIVATE_ID``, ``BANNED_ID``, ``CLASSIFIED_ID``, ``UNKNOWN_STATUS_ID``); ``LOGIN_ID``
  redirects to ``/login``, ``CAPTCHA_ID`` answers TikTok's JavaScript challenge page,
  ``LIMITED_ID`` answers 429, ``BROKEN_ID`` a page without the data script.
- ``/embed/v2/<id>``, ``/embed/<id>``: the embed pages; ``/share/video/<id>`` redirects.
- ``/t/<code>/``: short links (``SHORT_CODE`` → the Arabic post; ``DEAD_SHORT`` → the home
  page; ``OFFSITE_SHORT`` → a page off TikTok, never to be followed; ``PROFILE_SHORT`` → the
  profile).
- ``/@<user>``: profile pages with ``webapp.user-detail`` (``USER`` lists ``LISTED``;
  ``banned.account`` 10221, ``nobody.here`` 10202, ``private.account`` 10222,
  ``signed.only`` whose item list answers an empty body, ``checked.list`` whose item list
  answers the bot check page, ``quiet.account`` whose item list never has items but says
  older ones exist, ``followed.private``: 10222 with a video count, as a follower's session
  sees it).
- ``/api/creator/item_list/?secUid=&cursor=&count=&type=1``: the creator item list, ``PAGE``
  items at most per answer, looking back one week from ``cursor`` (epoch ms), as TikTok does.
- ``/media/tt-*.mp4`` (``video_clip()`` bytes), ``/media/tt-*.jpg`` (image bytes),
  ``/media/tt-sound-*.m4a`` (the clip's bytes as audio/mp4).
"""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, quote, urlsplit

from tests.fixture_site.server import video_clip
from tests.platform_fixtures.server import PlatformFixture, PlatformHandler

USER = "syria.witness"
NICKNAME = "شاهد سوريا | Syria Witness"
AUTHOR_ID = "6893012245567301634"
SEC_UID = "MS4wLjABAAAAq3Jt0fXkV9pL2bYcR7uWm4sEoH1iN8gZxT6aDvK5wQyF0lB3jCeU9rMhS2nPtIoG"
OTHER_USER, OTHER_NICKNAME, OTHER_ID = "field.reporter", "Field Reporter", "7012998340015620102"


def _id(created: int, low: int) -> str:
    """A TikTok post id: its creation time in the high bits, as TikTok's ids are."""
    return str((created << 32) | low)


ARABIC_TIME = 1795125660  # 2026-11-19T22:01:00Z
ARABIC_PUBLISHED = "2026-11-19T22:01:00Z"
ARABIC_ID = _id(ARABIC_TIME, 0x3A1F52C7)
ARABIC_TEXT = ("قصف على الحي الشرقي صباح اليوم.\n"
               "الصور من المراسل في الموقع، الساعة السابعة.\n"
               "#حلب #سوريا")
ARABIC_COUNTS = {"views": 58312, "likes": 4210, "replies": 97, "shares": 388, "saves": 612,
                 "reposts": 0}  # statsV2's; stats says 58300 plays, to show which is read
ARABIC_SOUND = "original sound - syria.witness"
PLACE = "قلعة حلب, حلب، سوريا"
REGION = "SY"
PHOTO_TIME, DUET_TIME = ARABIC_TIME + 3600, ARABIC_TIME + 7200
PHOTO_ID = _id(PHOTO_TIME, 0x0B77A410)
PHOTO_TITLE = "الحي الشرقي بعد القصف"
PHOTO_TEXT = "صور من الحي الشرقي #حلب"
DUET_ID = _id(DUET_TIME, 0x51C0FFEE)
DUET_TEXT = "#duet with @syria.witness نفس الشارع من زاوية أخرى"

# Post pages that carry a status instead of the post: id → (statusCode, statusMsg)
DELETED_ID = _id(ARABIC_TIME - 100, 1)
GEO_ID = _id(ARABIC_TIME - 200, 2)
GONE_ID = _id(ARABIC_TIME - 300, 3)
PRIVATE_ID = _id(ARABIC_TIME - 400, 4)
BANNED_ID = _id(ARABIC_TIME - 500, 5)
UNKNOWN_STATUS_ID = _id(ARABIC_TIME - 600, 6)
STATUSES = {DELETED_ID: (10204, "status_deleted"),
            GEO_ID: (10204, "cross_border_violation_ur"),
            GONE_ID: (10204, ""),
            PRIVATE_ID: (10216, ""),
            BANNED_ID: (10221, ""),
            UNKNOWN_STATUS_ID: (10299, "item_new_reason")}
CLASSIFIED_ID = _id(ARABIC_TIME - 700, 7)
LOGIN_ID = _id(ARABIC_TIME - 800, 8)
CAPTCHA_ID = _id(ARABIC_TIME - 900, 9)
LIMITED_ID = _id(ARABIC_TIME - 1000, 10)
BROKEN_ID = _id(ARABIC_TIME - 1100, 11)

SHORT_CODE, DEAD_SHORT, OFFSITE_SHORT = "ZSj4kP9aQ", "ZSx00dead", "ZSoffsite"
PROFILE_SHORT = "ZSprofile"  # a shared profile, not a post

# The profile's timeline: six posts in the last day, a silence of about three weeks, four
# older posts. Times are relative to now, as the item list's first cursor is "now".
NOW = int(time.time())
LISTED = [(_id(t, 0x1000 + i), t) for i, t in enumerate(
    [NOW - 3600 * (1 + 5 * i) for i in range(6)] + [NOW - 86400 * (20 + i) for i in range(4)])]
PAGE = 4
WEEK = 7 * 86400
SIGNED_SEC_UID = "MS4wLjABAAAAsignedonlysignedonlysignedonlysignedonlysignedonlysignedonly12"
CHECKED_SEC_UID = "MS4wLjABAAAAcheckedcheckedcheckedcheckedcheckedcheckedcheckedchecked1"
QUIET_SEC_UID = "MS4wLjABAAAAquietquietquietquietquietquietquietquietquietquietquietquiet12"

CHALLENGE = (  # TikTok's WAF JavaScript challenge, as served instead of a page
    '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Please wait...</title></head>'
    "<body><p>Please wait...</p>"
    '<div id="cs" class="eyJ2Ijp7ImEiOiJabWw0ZEhWeVpTMWphR0ZzYkdWdVoyVXRjMlZsWkMweU1ESTIiLCJjI'
    'joibmdtUDhSTjg0ZHdYZXJZL1d3enVqNWZCZm04QXhkbDBBTkQ0bkR6YVQ2az0ifSwicyI6InR0LXdhZiJ9">'
    '</div><div id="wci" class="_wafchallengeid"></div>'
    '<div id="rci" class="waforiginalreid"></div><div id="rs" class="MTc5NTEyNTY2MA"></div>'
    "<script>/* solves #cs, sets the cookies named in #wci/#rci, reloads */</script>"
    "</body></html>")


def _author(user: str = USER) -> dict:
    if user == OTHER_USER:
        return {"id": OTHER_ID, "uniqueId": OTHER_USER, "nickname": OTHER_NICKNAME,
                "secUid": "MS4wLjABAAAAfieldreporterfieldreporterfieldreporterfieldreporter0",
                "avatarThumb": "", "signature": "", "verified": False, "privateAccount": False,
                "ftc": False, "relation": 0, "openFavorite": False}
    return {"id": AUTHOR_ID, "uniqueId": USER, "nickname": NICKNAME, "secUid": SEC_UID,
            "avatarThumb": "", "signature": "توثيق ما يجري في حلب", "verified": False,
            "privateAccount": False, "ftc": False, "relation": 0, "openFavorite": False}


def _tag(text: str, tag: str, aweme: str = "", user: str = "") -> dict:
    start = text.index(("@" if user else "#") + tag)
    return {"awemeId": aweme, "start": start, "end": start + len(tag) + 1,
            "hashtagName": "" if user else tag, "hashtagId": "", "type": 0 if user else 1,
            "subType": 0, "userId": AUTHOR_ID if user else "", "isCommerce": False,
            "userUniqueId": user, "secUid": SEC_UID if user else ""}


def _video(base: str, post_id: str) -> dict:
    return {"id": post_id, "height": 1024, "width": 576, "duration": 2, "ratio": "540p",
            "cover": f"{base}/media/tt-cover-{post_id}.jpg",
            "originCover": f"{base}/media/tt-origin-{post_id}.jpg",
            "dynamicCover": f"{base}/media/tt-dynamic-{post_id}.jpg",
            "playAddr": f"{base}/media/tt-{post_id}.mp4",
            "downloadAddr": f"{base}/media/tt-{post_id}-watermarked.mp4",
            "format": "mp4", "videoQuality": "normal", "definition": "540p",
            "codecType": "h264", "bitrate": 381000, "encodedType": "normal"}


def _item(base: str, post_id: str) -> dict | None:
    """The itemStruct of a post the stand-in knows, as TikTok's page data gives it."""
    listed = dict(LISTED)
    if post_id in listed:
        created, desc = listed[post_id], f"تحديث من الميدان رقم {post_id[-2:]}"
    elif post_id in (ARABIC_ID, PHOTO_ID, DUET_ID, CLASSIFIED_ID):
        created = {ARABIC_ID: ARABIC_TIME, PHOTO_ID: PHOTO_TIME, DUET_ID: DUET_TIME}.get(
            post_id, ARABIC_TIME - 700)
        desc = {ARABIC_ID: ARABIC_TEXT, PHOTO_ID: PHOTO_TEXT, DUET_ID: DUET_TEXT}.get(
            post_id, "مشاهد قاسية")
    else:
        return None
    item = {
        "id": post_id, "desc": desc, "createTime": str(created), "scheduleTime": 0,
        "video": _video(base, post_id), "author": _author(), "music": {
            "id": _id(created, 0x77), "title": f"original sound - {USER}",
            "playUrl": f"{base}/media/tt-sound-{post_id}.m4a", "authorName": NICKNAME,
            "original": True, "duration": 2, "isCopyrighted": False},
        "challenges": [], "stats": {"diggCount": 12, "shareCount": 1, "commentCount": 3,
                                    "playCount": 410, "collectCount": 2},
        "statsV2": {"diggCount": "12", "shareCount": "1", "commentCount": "3",
                    "playCount": "410", "collectCount": "2", "repostCount": "0"},
        "duetInfo": {"duetFromId": "0"}, "warnInfo": [], "originalItem": False,
        "officalItem": False, "textExtra": [], "secret": False, "forFriend": False,
        "digged": False, "itemCommentStatus": 0, "takeDown": 0, "effectStickers": [],
        "privateItem": False, "duetEnabled": True, "stitchEnabled": True, "stickersOnItem": [],
        "isAd": False, "shareEnabled": True, "comments": [], "duetDisplay": 0,
        "stitchDisplay": 0, "indexEnabled": True, "textLanguage": "ar",
        "textTranslatable": True, "locationCreated": REGION, "diversificationId": 10045,
        "collected": False, "channelTags": [], "IsAigc": False, "AIGCDescription": "",
    }
    if post_id == ARABIC_ID:
        item["textExtra"] = [_tag(desc, "حلب"), _tag(desc, "سوريا")]
        item["stats"] = {"diggCount": 4210, "shareCount": 388, "commentCount": 97,
                         "playCount": 58300, "collectCount": 612}
        item["statsV2"] = {k: str(v) for k, v in {
            "diggCount": 4210, "shareCount": 388, "commentCount": 97, "playCount": 58312,
            "collectCount": 612, "repostCount": 0}.items()}
        item["poi"] = {"id": "22535796481390337", "name": "قلعة حلب", "address": "حلب، سوريا",
                       "city": "حلب", "province": "محافظة حلب", "country": "سوريا",
                       "countryCode": "SY", "category": "Landmark", "type": 1}
    elif post_id == PHOTO_ID:
        item["textExtra"] = [_tag(desc, "حلب")]
        item["video"] = {"height": 0, "width": 0, "duration": 0, "ratio": "", "cover": "",
                         "playAddr": "", "downloadAddr": ""}
        item["imagePost"] = {
            "title": PHOTO_TITLE,
            "cover": {"imageURL": {"urlList": [f"{base}/media/tt-photo-{post_id}-1.jpg"]}},
            "images": [{"imageURL": {"urlList": [f"{base}/media/tt-photo-{post_id}-{n}.jpg",
                                                 f"{base}/media/tt-photo-{post_id}-{n}b.jpg"]},
                        "imageWidth": 1080, "imageHeight": 1440} for n in (1, 2)]}
    elif post_id == DUET_ID:
        item["author"] = _author(OTHER_USER)
        item["duetInfo"] = {"duetFromId": ARABIC_ID}
        item["textExtra"] = [_tag(desc, "duet"), _tag(desc, USER, ARABIC_ID, USER)]
        item["textLanguage"] = "un"
        # TikTok's page data also gives the play address as a list of sources
        item["video"]["playAddr"] = [{"src": item["video"]["playAddr"], "type": "video/mp4"}]
        item.pop("locationCreated")
    elif post_id == CLASSIFIED_ID:
        item.pop("video")
        item["isContentClassified"] = True
    return item


def _html(title: str, scope: dict) -> str:
    data = json.dumps({"__DEFAULT_SCOPE__": scope}, ensure_ascii=False).replace("</", "<\\/")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}'
            '</title><meta name="viewport" content="width=device-width, initial-scale=1">'
            f'</head><body><div id="app"></div><script id="__UNIVERSAL_DATA_FOR_REHYDRATION__"'
            f' type="application/json">{data}</script></body></html>')


APP_CONTEXT = {"language": "en", "region": "SY", "appId": 1233, "abTestVersion": {}}


def _post_page(base: str, post_id: str) -> tuple[int, str]:
    if post_id in STATUSES:
        code, message = STATUSES[post_id]
        return 200, _html("TikTok - Make Your Day", {
            "webapp.app-context": APP_CONTEXT,
            "webapp.video-detail": {"statusCode": code, "statusMsg": message}})
    item = _item(base, post_id)
    if item is None:
        return 200, _html("TikTok - Make Your Day", {
            "webapp.app-context": APP_CONTEXT,
            "webapp.video-detail": {"statusCode": 10204, "statusMsg": ""}})
    user = item["author"]["uniqueId"]
    return 200, _html(f"{item['desc'][:40]} | TikTok", {
        "webapp.app-context": APP_CONTEXT,
        "webapp.video-detail": {"itemInfo": {"itemStruct": item}, "shareMeta": {
            "title": f"{item['author']['nickname']} on TikTok", "desc": item["desc"]},
            "statusCode": 0, "statusMsg": "", "needFix": True},
        "seo.abtest": {"canonical": f"https://www.tiktok.com/@{user}/video/{post_id}"}})


PROFILES = {  # user → (statusCode, secUid, video count)
    USER: (0, SEC_UID, len(LISTED)),
    "banned.account": (10221, "", 0),
    "nobody.here": (10202, "", 0),
    "private.account": (10222, "MS4wLjABAAAAprivate", 0),
    "signed.only": (0, SIGNED_SEC_UID, 31),
    "quiet.account": (0, QUIET_SEC_UID, 2),
    "checked.list": (0, CHECKED_SEC_UID, 5),
    # private, but this session follows it: TikTok still says 10222, and shows the count
    "followed.private": (10222, SEC_UID, len(LISTED)),
}


def _profile_page(user: str) -> str:
    code, sec_uid, videos = PROFILES.get(user, (10202, "", 0))
    info: dict = {}
    if code != 10202:
        account = {**_author(), "uniqueId": user, "secUid": sec_uid,
                   "privateAccount": code == 10222}
        stats = {"followerCount": 12800, "followingCount": 41, "heart": 230500,
                 "heartCount": 230500, "videoCount": videos, "diggCount": 0, "friendCount": 3}
        info = {"user": account, "stats": stats,
                "statsV2": {k: str(v) for k, v in stats.items()}, "itemList": []}
    return _html(f"{NICKNAME} (@{user}) | TikTok", {
        "webapp.app-context": APP_CONTEXT,
        "webapp.user-detail": {"userInfo": info, "shareMeta": {"title": NICKNAME, "desc": ""},
                               "statusCode": code, "statusMsg": "", "needFix": True}})


def _item_list(base: str, query: dict[str, list[str]]) -> tuple[int, bytes]:
    sec_uid = query.get("secUid", [""])[0]
    if sec_uid == SIGNED_SEC_UID:
        return 200, b""  # what TikTok answers an unsigned request it wants signed
    if sec_uid == CHECKED_SEC_UID:
        return 200, CHALLENGE.encode()  # the bot check, where JSON was expected
    answer: dict = {"extra": {"fatal_item_ids": [], "logid": "20261123181500AB12CD",
                              "now": NOW * 1000},
                    "hasMoreLatest": False, "hasMorePrevious": False,
                    "log_pb": {"impr_id": "20261123181500AB12CD"},
                    "statusCode": 0, "status_code": 0, "status_msg": ""}
    if sec_uid == QUIET_SEC_UID:
        answer["hasMorePrevious"] = True
    elif sec_uid == SEC_UID:
        cursor = int(query["cursor"][0]) // 1000
        count = min(int(query.get("count", ["15"])[0]), PAGE)
        older = [(i, t) for i, t in LISTED if t < cursor]  # newest first
        window = [(i, t) for i, t in older if t >= cursor - WEEK][:count]
        if window:
            answer["itemList"] = [_item(base, i) for i, _ in window]
        answer["hasMorePrevious"] = len(older) > len(window)
    return 200, json.dumps(answer, ensure_ascii=False).encode("utf-8")


class _Handler(PlatformHandler):
    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        path = parts.path
        segments = [s for s in path.split("/") if s]
        base = self.base
        if path.startswith("/media/tt-"):
            if path.endswith(".mp4"):
                return self.send(200, video_clip(), "video/mp4")
            if path.endswith(".m4a"):
                return self.send(200, video_clip(), "audio/mp4")
            if path.endswith(".jpg"):
                return self.send(200, b"\xff\xd8\xff\xe0\x00\x10JFIF\x00fixture-jpeg",
                                 "image/jpeg")
            return self.not_found()
        if path == "/api/creator/item_list/":
            status, body = _item_list(base, parse_qs(parts.query))
            kind = "text/html" if body.startswith(b"<") else "application/json"
            return self.send(status, body, f"{kind}; charset=utf-8")
        if len(segments) == 3 and segments[0].startswith("@") and segments[1] in (
                "video", "photo") and segments[2].isdigit():
            post_id = segments[2]
            if post_id == LIMITED_ID:
                return self.send(429, b"Too Many Requests", "text/plain")
            if post_id == LOGIN_ID:
                return self.redirect(f"{base}/login?redirect_url="
                                     + quote(f"https://www.tiktok.com{path}", safe=""))
            if post_id == CAPTCHA_ID:
                return self.send_html(200, CHALLENGE)
            if post_id == BROKEN_ID:
                return self.send_html(200, "<!DOCTYPE html><html><head><title>TikTok</title>"
                                           "</head><body><div id=\"app\"></div></body></html>")
            status, page = _post_page(base, post_id)
            return self.send_html(status, page)
        if segments[:1] == ["embed"] and segments[-1:] and segments[-1].isdigit():
            return self.send_html(200, f"<!DOCTYPE html><html><head><title>TikTok</title>"
                                       f"</head><body><blockquote class=\"tiktok-embed\" "
                                       f"data-video-id=\"{segments[-1]}\"></blockquote>"
                                       "</body></html>")
        if segments[:2] == ["share", "video"] and len(segments) == 3:
            return self.redirect(f"{base}/@_/video/{segments[2]}", 301)
        if segments[:1] == ["t"] and len(segments) == 2:
            if segments[1] == SHORT_CODE:
                return self.redirect(f"{base}/@{USER}/video/{ARABIC_ID}?_r=1&_t=ZS-91bXkQ2",
                                     301)
            if segments[1] == PROFILE_SHORT:
                return self.redirect(f"{base}/@{USER}?_r=1", 301)
            if segments[1] == OFFSITE_SHORT:  # a link that leads off TikTok
                return self.redirect("https://example.org/promo?_r=1")
            return self.redirect(f"{base}/?_r=1")
        if len(segments) == 1 and segments[0].startswith("@"):
            return self.send_html(200, _profile_page(segments[0][1:]))
        if path == "/login":
            return self.send_html(200, _html("Log in | TikTok", {
                "webapp.app-context": APP_CONTEXT}))
        if path == "/":
            return self.send_html(200, _html("TikTok - Make Your Day", {
                "webapp.app-context": APP_CONTEXT}))
        return self.not_found()


class TikTokFixture(PlatformFixture):
    handler = _Handler

    def post_url(self, post_id: str = ARABIC_ID, user: str = USER) -> str:
        """A post page on the stand-in, shaped like ``https://www.tiktok.com/@user/video/id``;
        by default the Arabic post with the video."""
        return f"{self.base}/@{user}/video/{post_id}"

    def photo_url(self) -> str:
        return f"{self.base}/@{USER}/photo/{PHOTO_ID}"

    def short_url(self, code: str = SHORT_CODE) -> str:
        return f"{self.base}/t/{code}/"

    def channel_url(self, user: str = USER) -> str:
        return f"{self.base}/@{user}"

    def video_url(self, post_id: str = ARABIC_ID) -> str:
        """Where the post's video file is served (its playAddr)."""
        return f"{self.base}/media/tt-{post_id}.mp4"
