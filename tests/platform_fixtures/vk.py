"""A VK stand-in: the public pages a logged-out visitor gets, the official API, and media.

Served on one base (``VKFixture.base``):

* ``/wall<owner>_<id>``: a wall post's public page, in windows-1251 (Arabic and emoji as HTML
  entities) and in the visitor's language (English when ``Accept-Language`` starts with "en",
  else Russian, as VK does). Posts ``-211987654_501`` … ``_512`` of the community
  ``aleppo.witness``; ``_999`` is deleted; ``_429`` is rate limited (redirect to a JS challenge);
  ``_600`` has only og: tags (its post markup is gone, as after a layout change).
  Other walls: ``88800001`` a banned profile, ``-77700001`` a blocked community, ``5550001`` a
  private profile, ``-66600001`` a community that sends visitors to the login page.
* ``/aleppo.witness``, ``/club211987654``: the community page (first posts, pinned one first);
  ``/wall-211987654?own=1&offset=N``: the public wall, ``PAGE_SIZE`` posts a page.
* ``/method/wall.getById``, ``/method/wall.get``: the API (v5.199 shapes, errors as HTTP 200
  with ``{"error": {...}}``); it answers error 5 unless ``Authorization: Bearer <TOKEN>``.
* ``/media/vk-clip.mp4`` (the Arabic post's video, a real MP4), ``/media/*.jpg``, and the video's
  page ``/video-211987654_456239017``.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from urllib.parse import parse_qs, quote, urlsplit

from tests.fixture_site.server import video_clip
from tests.platform_fixtures.server import PlatformFixture, PlatformHandler

TOKEN = "vk1.a.fixture-service-token"
COMMUNITY_ID = 211987654
OWNER = f"-{COMMUNITY_ID}"
SCREEN_NAME = "aleppo.witness"
COMMUNITY_NAME = "شبكة شهود حلب | Aleppo Witness Network"
FIRST, LAST, PAGE_SIZE = 501, 512, 5
PINNED_POST = 503
SIGNED_POST, EDITED_POST, PLACE_POST, ARABIC_POST, REPOST, LINK_POST = 507, 508, 509, 510, 511, 512
DELETED_POST, RATE_LIMITED_POST = 999, 429
OG_ONLY_POST = 600  # a page whose post markup is gone (a layout change) but whose og: tags stay
BANNED_PROFILE, BLOCKED_COMMUNITY, PRIVATE_PROFILE, MEMBERS_ONLY = (
    "88800001", "-77700001", "5550001", "-66600001")

ARABIC_TEXT = ("انقطاع الكهرباء عن حي الشعار منذ الفجر.\n"
               "طوابير طويلة أمام المخبز الوحيد في الحي 📷\n\n#حلب")
ARABIC_PUBLISHED = "2026-11-20T17:15:30Z"
PHOTO_TEXT = "طابور أمام المخبز"
PHOTO_ID, VIDEO_ID = 457239101, 456239017
VIDEO_TITLE = "الطابور صباحاً"
VIDEO_PATH = "/media/vk-clip.mp4"
PHOTO_PATH = "/media/vk-photo-1280.jpg"
ORIGINAL_OWNER, ORIGINAL_POST = "-38495212", 9031
ORIGINAL_TEXT = "بيان: إغلاق معبر باب الهوى حتى إشعار آخر."
SIGNER = (7340001, "Rami", "Haddad", "rami.haddad")
PLACE = "Aleppo, Syria"
LINK_URL, LINK_TITLE = "https://example.org/aleppo/bakery-queue", "Bakery queues in Aleppo"
START = int(datetime(2026, 11, 20, 8, 15, 30, tzinfo=UTC).timestamp())
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIFfixture-jpeg"


def published(number: int) -> int:
    """The post's publication time, epoch seconds: one an hour from FIRST."""
    return START + (number - FIRST) * 3600


def counts(number: int) -> dict[str, int]:
    if number == ARABIC_POST:
        return {"replies": 7, "likes": 41, "reposts": 12, "views": 1530}
    if number == LINK_POST:
        return {"replies": 0, "likes": 230, "reposts": 51, "views": 12400}
    return {"replies": number % 5, "likes": number % 17, "reposts": number % 3,
            "views": number * 10}


def _text(number: int) -> str:
    if number == ARABIC_POST:
        return ARABIC_TEXT
    if number == REPOST:
        return ""
    return f"تحديث {number}: الوضع في المدينة هادئ نسبياً."


# The API (https://dev.vk.com/method/wall.getById, wall.get): v5.199 shapes.

def _group(base: str, gid: int, name: str, screen: str) -> dict:
    return {"id": gid, "name": name, "screen_name": screen, "is_closed": 0, "type": "page",
            "photo_50": f"{base}/media/vk-avatar-50.jpg",
            "photo_100": f"{base}/media/vk-avatar-100.jpg",
            "photo_200": f"{base}/media/vk-avatar-200.jpg"}


def _photo(base: str, owner: int, pid: int, text: str, name: str) -> dict:
    return {"type": "photo", "photo": {
        "album_id": -7, "date": published(ARABIC_POST), "id": pid, "owner_id": owner,
        "access_key": "5b1d7c0e9a2f", "has_tags": False, "text": text, "sizes": [
            {"height": 50, "type": "s", "width": 75, "url": f"{base}/media/{name}-75.jpg"},
            {"height": 403, "type": "x", "width": 604, "url": f"{base}/media/{name}-604.jpg"},
            {"height": 853, "type": "z", "width": 1280,
             "url": f"{base}/media/{name}-1280.jpg"}]}}


def api_item(base: str, number: int) -> dict:
    """The post object of ``wall<OWNER>_<number>`` as wall.getById / wall.get give it."""
    shown = counts(number)
    item: dict = {
        "id": number, "owner_id": -COMMUNITY_ID, "from_id": -COMMUNITY_ID,
        "date": published(number), "text": _text(number), "attachments": [],
        "comments": {"can_post": 0, "count": shown["replies"], "groups_can_post": True},
        "likes": {"can_like": 0, "count": shown["likes"], "user_likes": 0, "can_publish": 0,
                  "repost_disabled": False},
        "reposts": {"count": shown["reposts"], "user_reposted": 0},
        "views": {"count": shown["views"]}, "post_type": "post", "type": "post",
        "post_source": {"type": "vk"}, "marked_as_ads": 0, "is_favorite": False,
        "donut": {"is_donut": False}, "short_text_rate": 0.8, "carousel_offset": 0,
        "hash": f"Hh{number}fixture", "inner_type": "wall_wallpost",
    }
    if number == PINNED_POST:
        item["is_pinned"] = 1
    if number == ARABIC_POST:
        item["attachments"] = [
            _photo(base, -COMMUNITY_ID, PHOTO_ID, PHOTO_TEXT, "vk-photo"),
            {"type": "video", "video": {
                "access_key": "0c9d8e7f6a5b", "can_comment": 1, "comments": 3,
                "date": published(number), "description": "", "duration": 2,
                "image": [{"url": f"{base}/media/vk-video-preview.jpg", "width": 320,
                           "height": 240, "with_padding": 1}],
                "id": VIDEO_ID, "owner_id": -COMMUNITY_ID, "title": VIDEO_TITLE,
                "is_favorite": False, "track_code": "video_fixture", "type": "video",
                "views": 880,
                "player": f"{base}/video_ext.php?oid={OWNER}&id={VIDEO_ID}&hash=3f2b7c1d9e8a",
                "files": {"mp4_360": f"{base}/media/vk-clip-360.mp4",
                          "mp4_720": f"{base}{VIDEO_PATH}"}}}]
    elif number == REPOST:
        item["copy_history"] = [{
            "id": ORIGINAL_POST, "owner_id": int(ORIGINAL_OWNER), "from_id": int(ORIGINAL_OWNER),
            "date": published(number) - 86400, "post_type": "post", "text": ORIGINAL_TEXT,
            "type": "post", "post_source": {"type": "vk"},
            "attachments": [_photo(base, int(ORIGINAL_OWNER), 457240001, "", "vk-original")]}]
    elif number == PLACE_POST:
        item["geo"] = {"type": "point", "coordinates": "36.2021 37.1343", "showmap": 1,
                       "place": {"id": 0, "title": PLACE, "latitude": 36.2021,
                                 "longitude": 37.1343, "country": "Syria", "city": "Aleppo"}}
    elif number == EDITED_POST:
        item["edited"] = published(number) + 1800
    elif number == SIGNED_POST:
        item["signer_id"] = SIGNER[0]
    elif number == LINK_POST:
        item["attachments"] = [{"type": "link", "link": {
            "url": LINK_URL, "title": LINK_TITLE, "caption": "example.org", "description": "",
            "is_favorite": False}}]
    return item


def _people(base: str) -> tuple[list, list]:
    profiles = [{"id": SIGNER[0], "first_name": SIGNER[1], "last_name": SIGNER[2],
                 "screen_name": SIGNER[3], "can_access_closed": True, "is_closed": False,
                 "photo_50": f"{base}/media/vk-avatar-50.jpg"}]
    groups = [_group(base, COMMUNITY_ID, COMMUNITY_NAME, SCREEN_NAME),
              _group(base, -int(ORIGINAL_OWNER), "مرصد سوريا | Syria Monitor", "syria.monitor")]
    return profiles, groups


def wall_order() -> list[int]:
    """The wall as VK lists it: the pinned post first, then newest first."""
    return [PINNED_POST, *(n for n in range(LAST, FIRST - 1, -1) if n != PINNED_POST)]


WALL_ERRORS = {
    BANNED_PROFILE: (18, "User was deleted or banned"),
    BLOCKED_COMMUNITY: (15, "Access denied: group is blocked"),
    PRIVATE_PROFILE: (30, "This profile is private"),
    MEMBERS_ONLY: (15, "Access denied: this wall available only for community members"),
}


# The public pages, as served to a logged-out visitor.

WORDS = {
    "ru": {"title": "Запись на стене | ВКонтакте", "deleted": "Запись удалена.",
           "banned": "Страница пользователя заблокирована.",
           "blocked": "Сообщество заблокировано в связи с нарушением правил.",
           "private": "Это закрытый профиль.", "error": "Ошибка", "sign_in": "Вход",
           "login_title": "Вход | ВКонтакте",
           "login": "Чтобы продолжить, войдите во ВКонтакте.", "views": "просмотров",
           "date": "20 ноя в 20:15"},
    "en": {"title": "Wall post | VK", "deleted": "This post has been deleted.",
           "banned": "This profile has been blocked.",
           "blocked": "This community has been blocked for violating the rules.",
           "private": "This profile is private.", "error": "Error", "sign_in": "Sign in",
           "login_title": "Log in | VK", "login": "Log in to VK to continue.",
           "views": "views", "date": "20 Nov at 5:15 pm"},
}


def _page(lang: str, title: str, body: str, head: str = "") -> str:
    words = WORDS[lang]
    return f"""<!DOCTYPE html>
<html prefix="og: http://ogp.me/ns#" lang="{lang}" dir="ltr">
<head>
<meta http-equiv="content-type" content="text/html; charset=windows-1251" />
<title>{html.escape(title)}</title>
{head}
</head>
<body onresize="onBodyResize()" class="is_rtl1 body_im">
<div id="page_layout">
 <div id="side_bar" class="side_bar"><form id="quick_login_form" method="POST"
   action="https://login.vk.com/?act=login"><button id="quick_login_button">{words['sign_in']}
   </button></form></div>
 <div id="page_body" class="fl_r"><div id="wrap3"><div id="content">
{body}
 </div></div></div>
</div>
<script>var vk = {{lang: 0, id: 0}}; var cur = {{"lang": {{"wall_post_not_found":
"Post not found"}}}};</script>
</body></html>"""


def _message(lang: str, key: str) -> str:
    words = WORDS[lang]
    body = (f'<div class="message_page page_block"><div class="message_page_title">'
            f'{words["error"]}</div><div class="message_page_body">{words[key]}</div></div>')
    return _page(lang, words["error"], body)


def _text_html(text: str) -> str:
    """A post text as VK's page shows it: line breaks as <br>, hashtags and emoji marked up."""
    shown = html.escape(text).replace("\n", "<br>")
    shown = shown.replace("#حلب", f'<a href="/feed?section=search&amp;q={quote("#حلب")}">'
                                  "#حلب</a>")
    return shown.replace("📷", '<img class="emoji" src="/emoji/e/f09f93b7.png" alt="📷">')


def _photo_html(base: str, owner: str, pid: int, name: str, alt: str) -> str:
    options = (f'{{"temp":{{"base":"","x_":["{base}/media/{name}-604.jpg",604,403],'
               f'"z_":["{base}/media/{name}-1280.jpg",1280,853]}},"queue":1}}')
    return (f'<div class="PhotoPrimaryAttachment" data-photo-id="{owner}_{pid}" '
            f"data-options='{options}'><img class=\"PhotoPrimaryAttachment__imageElement\" "
            f'src="{base}/media/{name}-604.jpg" alt="{html.escape(alt)}"></div>')


def post_html(base: str, number: int, lang: str) -> str:
    """One wall post's block, in VK's public markup."""
    full = f"{OWNER}_{number}"
    shown = counts(number)
    if number == PLACE_POST:  # VK shows some dates only as text, in the visitor's time zone
        date = f'<time class="PostHeaderSubtitle__item">{WORDS[lang]["date"]}</time>'
    else:
        date = f'<span class="rel_date" time="{published(number)}">{number - 500} Nov</span>'
    text = _text(number)
    extra = ""
    if number == ARABIC_POST:
        extra = (_photo_html(base, OWNER, PHOTO_ID, "vk-photo", PHOTO_TEXT) +
                 f'<a class="page_post_thumb_wrap page_post_thumb_video" '
                 f'href="/video{OWNER}_{VIDEO_ID}" data-video="{OWNER}_{VIDEO_ID}" '
                 f'aria-label="{html.escape(VIDEO_TITLE)}"><video class="page_post_video_autoplay"'
                 f' muted playsinline preload="none" poster="{base}/media/vk-video-preview.jpg">'
                 f'<source src="{VIDEO_PATH}" type="video/mp4"></video></a>')
    elif number == PLACE_POST:
        extra = (f'<div class="page_media_place clear_fix"><span class="page_media_place_label">'
                 f"{PLACE}</span></div>")
    elif number == SIGNED_POST:
        extra = (f'<div class="wall_signed"><a class="wall_signed_by" href="/{SIGNER[3]}">'
                 f"{SIGNER[1]} {SIGNER[2]}</a></div>")
    elif number == LINK_POST:
        away = f"/away.php?to={quote(LINK_URL, safe='')}&amp;cc_key="
        extra = (f'<div class="media_link media_link--sized"><a class="media_link__media" '
                 f'href="{away}"><img class="media_link__photo" src="{base}/media/vk-link.jpg">'
                 f'</a><a class="media_link__title" href="{away}">{LINK_TITLE}</a></div>')
    repost = ""
    if number == REPOST:
        repost = (
            f'<div class="copy_quote"><div class="copy_post_header"><a class="copy_author" '
            f'href="/syria.monitor" data-from-id="{ORIGINAL_OWNER}">مرصد سوريا</a>'
            f'<div class="copy_post_date"><a class="published_by_date" '
            f'href="/wall{ORIGINAL_OWNER}_{ORIGINAL_POST}"><span class="rel_date" '
            f'time="{published(number) - 86400}">19 Nov</span></a></div></div>'
            f'<div class="wall_post_text">{_text_html(ORIGINAL_TEXT)}</div>'
            f'{_photo_html(base, ORIGINAL_OWNER, 457240001, "vk-original", "")}</div>')
    views = (f'<div class="like_views _views" title="1 530 {WORDS[lang]["views"]}">1.5K</div>'
             if number == ARABIC_POST else
             '<div class="like_views _views">12K</div>' if number == LINK_POST else
             f'<div class="like_views _views">{shown["views"]}</div>')
    comments = ""
    if number == ARABIC_POST:  # a comment, with an author, a date, a like and a photo its own
        comments = (
            '<div class="replies"><div id="replies-211987654_510" class="replies_list">'
            '<div id="post-211987654_513" class="reply reply_dived clear _post" '
            'data-post-id="-211987654_513"><a class="author" href="/id9990001" '
            'data-from-id="9990001">Someone Else</a><div class="wall_reply_text">شكراً</div>'
            f'{_photo_html(base, "9990001", 457000001, "vk-comment", "تعليق")}'
            f'<span class="rel_date" time="{published(number) + 60}">now</span>'
            '<a class="like_btn like _like"><div class="like_button_count">999</div></a>'
            "</div></div></div>")
    pinned = " post_fixed" if number == PINNED_POST else ""
    text_block = f'<div class="wall_post_text" dir="auto">{_text_html(text)}</div>' if text else ""
    return f"""
<div id="post{full}" class="_post post page_block all own{pinned}" data-post-id="{full}"
     data-post-click-type="post_owner_img">
 <div class="_post_content">
  <div class="PostHeader"><a class="PostHeader__avatar" href="/{SCREEN_NAME}"><img
     src="{base}/media/vk-avatar-50.jpg" alt=""></a>
   <div class="PostHeaderInfo">
    <div class="PostHeaderTitle"><a class="PostHeaderTitle__authorLink" href="/{SCREEN_NAME}"
       data-from-id="{OWNER}" data-post-id="{full}"><span
       class="PostHeaderTitle__authorName">{html.escape(COMMUNITY_NAME)}</span></a></div>
    <div class="PostHeaderSubtitle"><a class="PostHeaderSubtitle__link"
       href="/wall{full}">{date}</a></div>
   </div>
  </div>
  <div class="post_content"><div class="post_info"><div class="wall_text">
   <div id="wpt{full}" class="wall_post_cont _wall_post_cont">
    {text_block}
    {extra}
   </div>{repost}
  </div>
  <div class="like_wrap _like_wall{full}"><div class="like_cont PostBottomActionLikeBtns">
   <div class="like_btns">
    <a class="PostBottomAction PostBottomAction--withBg _like"><span
      class="PostBottomAction__count _like_button_count">{shown['likes'] or ''}</span></a>
    <a class="PostBottomAction _comment _reply_wrap"><span
      class="PostBottomAction__count">{shown['replies'] or ''}</span></a>
    <a class="PostBottomAction _share"><span
      class="PostBottomAction__count">{shown['reposts'] or ''}</span></a>
   </div>{views}</div></div>
  </div></div>
  {comments}
 </div>
</div>"""


def post_page(base: str, number: int, lang: str) -> str:
    full = f"{OWNER}_{number}"
    head = (f'<meta property="og:title" content="{html.escape(COMMUNITY_NAME)}" />\n'
            f'<meta property="og:description" content="{html.escape(_text(number)[:60])}" />\n'
            f'<meta property="og:url" content="https://vk.com/wall{full}" />\n'
            f'<link rel="canonical" href="https://vk.com/wall{full}" />')
    body = f'<div id="wl_post" class="wl_post">{post_html(base, number, lang)}</div>'
    return _page(lang, WORDS[lang]["title"], body, head)


def wall_page(base: str, numbers: list[int], lang: str) -> str:
    posts = "".join(post_html(base, n, lang) for n in numbers)
    body = (f'<div id="page_info_wrap"><h1 class="page_name">{html.escape(COMMUNITY_NAME)}'
            f'</h1></div><div class="wall_tabs"><a href="/wall{OWNER}?own=1">Posts</a></div>'
            f'<div id="page_wall_posts" class="page_wall_posts">{posts}</div>')
    return _page(lang, COMMUNITY_NAME, body)


def login_page(lang: str) -> str:
    words = WORDS[lang]
    body = (f'<div class="login_page"><div class="login_header">{words["login"]}</div>'
            '<form id="login_form" method="POST" action="https://login.vk.com/?act=login">'
            '<input type="text" name="email"><input type="password" name="pass">'
            f'<button>{words["sign_in"]}</button></form></div>')
    return _page(lang, words["login_title"], body)


CHALLENGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>VK</title></head><body>
<script>var salt = (function(){ return "3e1b"; })(); var hash = "8f14e45f";
document.cookie = "solution429=" + hash;</script></body></html>"""


class _Handler(PlatformHandler):
    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        path = parts.path
        lang = "en" if self.headers.get("Accept-Language", "").lower().startswith("en") else "ru"
        if path.startswith("/method/"):
            return self._api(path.removeprefix("/method/"), query)
        if path in (VIDEO_PATH, "/media/vk-clip-360.mp4"):
            return self.send(200, video_clip(), "video/mp4")
        if path.startswith("/media/") and path.endswith(".jpg"):
            return self.send(200, JPEG, "image/jpeg")
        if path == "/challenge.html":
            return self.send(200, CHALLENGE.encode(), "text/html; charset=utf-8")
        if path == "/login":
            return self._html(200, login_page(lang))
        if path == f"/video{OWNER}_{VIDEO_ID}":
            page = (f'<!DOCTYPE html><html><head><meta property="og:video" content="{VIDEO_PATH}">'
                    f"<title>{html.escape(VIDEO_TITLE)}</title></head><body><video "
                    f'src="{VIDEO_PATH}" controls></video></body></html>')
            return self._html(200, page)
        segment = path.strip("/")
        owner, _, number = segment.removeprefix("wall").partition("_")
        if segment.startswith("wall") and number.isdigit():
            return self._post(owner, int(number), lang)
        if segment in (SCREEN_NAME, f"club{COMMUNITY_ID}", f"public{COMMUNITY_ID}"):
            return self._html(200, wall_page(self.base, wall_order()[:PAGE_SIZE + 1], lang))
        if segment == f"wall{OWNER}":
            offset = int(query.get("offset", ["0"])[0])
            numbers = wall_order()[offset:offset + PAGE_SIZE]
            return self._html(200, wall_page(self.base, numbers, lang))
        if segment.startswith("wall") or segment.startswith(("club", "id")):
            owner = segment.removeprefix("wall").removeprefix("club").removeprefix("id")
            owner = f"-{owner}" if segment.startswith("club") else owner
            return self._other_wall(owner, lang, self.path)
        return self.not_found()

    def _html(self, status: int, page: str) -> None:
        # VK's pages are windows-1251; what that cannot encode becomes HTML entities.
        self.send(status, page.encode("cp1251", "xmlcharrefreplace"),
                  "text/html; charset=windows-1251")

    def _post(self, owner: str, number: int, lang: str) -> None:
        if owner == OWNER and FIRST <= number <= LAST:
            return self._html(200, post_page(self.base, number, lang))
        if owner == OWNER and number == OG_ONLY_POST:
            head = (f'<meta property="og:title" content="{html.escape(COMMUNITY_NAME)}" />'
                    f'<meta property="og:description" content="{html.escape(ORIGINAL_TEXT)}" />'
                    f'<meta property="og:image" content="{self.base}/media/vk-og.jpg" />'
                    f'<meta property="og:url" content="https://vk.com/wall{OWNER}_{number}" />')
            body = '<div id="react_rootWallPost"><div class="vkuiSpinner"></div></div>'
            return self._html(200, _page(lang, WORDS[lang]["title"], head=head, body=body))
        if owner == OWNER and number == RATE_LIMITED_POST:
            return self.redirect("/challenge.html?hash429=8f14e45fceea167a5a36dedd4bea2543")
        if owner == OWNER:
            return self._html(404, _message(lang, "deleted"))
        return self._other_wall(owner, lang, self.path)

    def _other_wall(self, owner: str, lang: str, path: str) -> None:
        if owner == BANNED_PROFILE:
            return self._html(200, _message(lang, "banned"))
        if owner == BLOCKED_COMMUNITY:
            return self._html(200, _message(lang, "blocked"))
        if owner == PRIVATE_PROFILE:
            return self._html(200, _message(lang, "private"))
        if owner == MEMBERS_ONLY:
            return self.redirect(f"/login?u=2&to={quote(path.lstrip('/'), safe='')}")
        return self.not_found()

    def _api(self, method: str, query: dict[str, list[str]]) -> None:
        params = {k: v[0] for k, v in query.items()}
        given = self.headers.get("Authorization", "")
        if not given:
            return self._api_error(5, "User authorization failed: no access_token passed.",
                                   method, params)
        if given != f"Bearer {TOKEN}":
            return self._api_error(5, "User authorization failed: invalid access_token (4).",
                                   method, params)
        profiles, groups = _people(self.base)
        if method == "wall.getById":
            owner, _, number = params.get("posts", "").partition("_")
            if owner in WALL_ERRORS:
                return self._api_error(*WALL_ERRORS[owner], method, params)
            if owner == OWNER and number == str(RATE_LIMITED_POST):
                return self._api_error(6, "Too many requests per second", method, params)
            items = ([api_item(self.base, int(number))] if owner == OWNER and number.isdigit()
                     and FIRST <= int(number) <= LAST else [])
            if params.get("extended") != "1":
                return self.send_json(200, {"response": {"items": items}})
            return self.send_json(200, {"response": {"items": items, "profiles": profiles,
                                                     "groups": groups}})
        if method == "wall.get":
            owner = params.get("owner_id") or (
                OWNER if params.get("domain") == SCREEN_NAME else "")
            if owner in WALL_ERRORS:
                return self._api_error(*WALL_ERRORS[owner], method, params)
            if owner != OWNER:
                return self._api_error(100, "One of the parameters specified was missing or "
                                       "invalid: owner_id is undefined", method, params)
            offset, count = int(params.get("offset", "0")), int(params.get("count", "20"))
            numbers = wall_order()[offset:offset + min(count, PAGE_SIZE)]
            return self.send_json(200, {"response": {
                "count": LAST - FIRST + 1, "items": [api_item(self.base, n) for n in numbers]}})
        return self._api_error(3, "Unknown method passed", method, params)

    def _api_error(self, code: int, message: str, method: str, params: dict[str, str]) -> None:
        echoed = [{"key": "method", "value": method}, {"key": "oauth", "value": "1"},
                  *({"key": k, "value": v} for k, v in params.items())]
        self.send_json(200, {"error": {"error_code": code, "error_msg": message,
                                       "request_params": echoed}})


class VKFixture(PlatformFixture):
    handler = _Handler

    def post_url(self, number: int = ARABIC_POST, owner: str = OWNER) -> str:
        """A post's URL on the stand-in, shaped like vk.com/wall<owner>_<id>."""
        return f"{self.base}/wall{owner}_{number}"

    def channel_url(self) -> str:
        """The community's URL on the stand-in, shaped like vk.com/<screen name>."""
        return f"{self.base}/{SCREEN_NAME}"
