"""The VK module against the stand-in: the public pages (no token) and the API (a token)."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import pytest

from crawlers.platforms.base import PlatformError
from crawlers.platforms.vk import VKPlatform, _items_and_people, parse_count
from tests.fixture_site.server import video_clip
from tests.platform_fixtures import urllib_fetch
from tests.platform_fixtures.vk import (
    ARABIC_POST,
    ARABIC_TEXT,
    BANNED_PROFILE,
    BLOCKED_COMMUNITY,
    COMMUNITY_NAME,
    DELETED_POST,
    EDITED_POST,
    LINK_POST,
    LINK_TITLE,
    LINK_URL,
    MEMBERS_ONLY,
    OG_ONLY_POST,
    ORIGINAL_TEXT,
    OWNER,
    PHOTO_PATH,
    PHOTO_TEXT,
    PLACE,
    PLACE_POST,
    PRIVATE_PROFILE,
    RATE_LIMITED_POST,
    REPOST,
    SCREEN_NAME,
    SIGNED_POST,
    TOKEN,
    VIDEO_PATH,
    VIDEO_TITLE,
    WORDS,
    VKFixture,
)


@pytest.fixture(scope="module")
def vk():
    with VKFixture() as server:
        yield server


def session_fetch(token: str = TOKEN):
    """A fetch that adds the configured session, as the crawler does (the module never does)."""
    async def fetch(url, headers=None, **kwargs):
        return await urllib_fetch(url, {**(headers or {}), "Authorization": f"Bearer {token}"},
                                  **kwargs)
    return fetch


def language_fetch(language: str):
    async def fetch(url, headers=None, **kwargs):
        return await urllib_fetch(url, {**(headers or {}), "Accept-Language": language},
                                  **kwargs)
    return fetch


def _read(vk, url, *, api=False, fetch=None):
    platform = VKPlatform(vk.base, {"Authorization"} if api else ())
    target = platform.match(url)
    assert target is not None and target.kind == "post", url
    return asyncio.run(platform.extract_post(target, fetch or (
        session_fetch() if api else urllib_fetch)))


def _list(vk, url, limit, *, api=False):
    platform = VKPlatform(vk.base, {"Authorization"} if api else ())
    return asyncio.run(platform.list_posts(platform.match(url), session_fetch() if api
                                           else urllib_fetch, limit))


def _since(vk, start):
    return [r["path"] for r in vk.requests[start:]]


@pytest.mark.parametrize(("url", "kind", "ids"), [
    ("https://vk.com/wall-211987654_510", "post", {"owner": "-211987654", "post": "510"}),
    ("https://m.vk.com/wall-211987654_510", "post", {"owner": "-211987654", "post": "510"}),
    ("https://vk.ru/wall5550001_12", "post", {"owner": "5550001", "post": "12"}),
    ("https://vk.com/aleppo.witness?w=wall-211987654_510", "post",
     {"owner": "-211987654", "post": "510"}),
    ("https://www.vk.com/club211987654?w=wall-211987654_510", "post",
     {"owner": "-211987654", "post": "510"}),
    ("https://vk.com/wall-211987654_510?reply=77&thread=70", "post",
     {"owner": "-211987654", "post": "510", "comment": "77"}),
    ("https://vk.com/aleppo.witness", "channel", {"screen_name": "aleppo.witness"}),
    ("https://m.vk.ru/durov/", "channel", {"screen_name": "durov"}),
    ("https://vk.com/club211987654", "channel", {"owner": "-211987654"}),
    ("https://vk.com/public211987654", "channel", {"owner": "-211987654"}),
    ("https://vk.com/id5550001", "channel", {"owner": "5550001"}),
    ("https://vk.com/wall-211987654?own=1", "channel", {"owner": "-211987654"}),
])
def test_match(url, kind, ids):
    target = VKPlatform().match(url)
    assert target is not None and (target.kind, target.ids) == (kind, ids)


@pytest.mark.parametrize("url", [
    "https://vk.com/video-211987654_456239017",  # videos and clips: page captures + yt-dlp
    "https://vk.com/clip-211987654_456239018",
    "https://vk.com/aleppo.witness?z=video-211987654_456239017%2Fpl_wall-211987654",
    "https://vk.com/photo-211987654_457239101", "https://vk.com/app5555",
    "https://vk.com/feed", "https://vk.com/search?c%5Bq%5D=aleppo", "https://vk.com/settings",
    "https://vk.com/login", "https://vk.com/im", "https://vk.com/groups", "https://vk.com/",
    "https://vk.com/away.php?to=https%3A%2F%2Fexample.org", "https://vk.com/@aleppo-article",
    "https://vk.com/aleppo.witness/posts", "https://api.vk.com/method/wall.get",
    "https://example.org/wall-211987654_510", "ftp://vk.com/wall-211987654_510",
])
def test_no_match(url):
    assert VKPlatform().match(url) is None


def test_base_host_matches_only_when_overridden(vk):
    assert VKPlatform(vk.base).match(vk.post_url()).ids == {"owner": OWNER, "post": "510"}
    assert VKPlatform(vk.base).match(vk.channel_url()).kind == "channel"
    assert VKPlatform().match(vk.post_url()) is None
    assert VKPlatform(vk.base).capture_url("https://vk.com/wall-211987654_510") == vk.post_url()


def test_arabic_post_from_the_public_page(vk):
    start = len(vk.requests)
    post = _read(vk, "https://vk.com/wall-211987654_510")
    assert post.status == "ok" and post.post_id == "-211987654_510"
    assert post.url == "https://vk.com/wall-211987654_510"
    assert post.text == ARABIC_TEXT  # windows-1251 page, Arabic as entities; breaks, emoji kept
    assert (post.author_id, post.author_handle, post.author_name) == (
        OWNER, SCREEN_NAME, COMMUNITY_NAME)
    assert post.published == "2026-11-20T17:15:30Z" and post.edited is None
    assert [(m.type, m.url, m.alt) for m in post.media] == [
        ("image", f"{vk.base}{PHOTO_PATH}", PHOTO_TEXT),  # the largest size, not the one shown
        ("video", f"{vk.base}{VIDEO_PATH}", None)]  # not the comment's photo
    assert post.counts == {"likes": 41, "replies": 7, "reposts": 12, "views": 1530}
    assert (post.language, post.place, post.forwarded_from, post.reply_to) == (None,) * 4
    assert post.notes == []
    assert post.source == [f"{vk.base}/wall-211987654_510"]
    assert _since(vk, start) == ["/wall-211987654_510"]


def test_arabic_post_from_the_api(vk):
    start = len(vk.requests)
    post = _read(vk, vk.post_url(), api=True)
    assert post.status == "ok" and post.text == ARABIC_TEXT
    assert (post.author_id, post.author_handle, post.author_name) == (
        OWNER, SCREEN_NAME, COMMUNITY_NAME)
    assert post.published == "2026-11-20T17:15:30Z" and post.edited is None
    assert [(m.type, m.url, m.alt) for m in post.media] == [
        ("image", f"{vk.base}{PHOTO_PATH}", PHOTO_TEXT),
        ("video", f"{vk.base}{VIDEO_PATH}", VIDEO_TITLE)]  # the largest of files.mp4_*
    assert post.counts == {"replies": 7, "likes": 41, "reposts": 12, "views": 1530}
    assert post.notes == []
    (path,) = _since(vk, start)
    assert urlsplit(path).path == "/method/wall.getById"
    assert parse_qs(urlsplit(path).query) == {
        "posts": ["-211987654_510"], "extended": ["1"], "copy_history_depth": ["2"],
        "v": ["5.199"]}
    assert post.source == [f"{vk.base}{path}"]


def test_the_api_is_used_only_with_a_session_and_gets_no_secret_from_the_module(vk):
    start = len(vk.requests)
    _read(vk, vk.post_url())  # no session configured: the public page
    assert not any(p.startswith("/method/") for p in _since(vk, start))
    with pytest.raises(PlatformError, match=r"error 5: .*no access_token.*Authorization"):
        _read(vk, vk.post_url(), api=True, fetch=urllib_fetch)  # the session never reached it
    with pytest.raises(PlatformError, match=r"error 5: .*invalid access_token"):
        _read(vk, vk.post_url(), api=True, fetch=session_fetch("vk1.a.revoked"))
    sent = vk.requests[start:]
    assert not any("authorization" in {h.lower() for h in r["headers"]} for r in sent[:2])
    assert not any("access_token" in r["path"] or TOKEN in r["path"] for r in vk.requests)


@pytest.mark.parametrize("api", [False, True], ids=["page", "api"])
def test_repost_signed_place_link(vk, api):
    repost = _read(vk, vk.post_url(REPOST), api=api)
    assert repost.forwarded_from == "https://vk.com/wall-38495212_9031"
    assert repost.text == ORIGINAL_TEXT and repost.published == "2026-11-20T18:15:30Z"
    assert [(m.type, m.url) for m in repost.media] == [
        ("image", f"{vk.base}/media/vk-original-1280.jpg")]
    assert repost.notes == ["a repost without text of its own: the text is the original's"]
    signed = _read(vk, vk.post_url(SIGNED_POST), api=api)
    assert "signed by Rami Haddad (https://vk.com/rami.haddad)" in signed.notes
    assert _read(vk, vk.post_url(PLACE_POST), api=api).place == PLACE
    link = _read(vk, vk.post_url(LINK_POST), api=api)
    assert [(m.type, m.url, m.alt) for m in link.media] == [("link", LINK_URL, LINK_TITLE)]


def test_what_only_the_api_gives_exactly(vk):
    assert _read(vk, vk.post_url(EDITED_POST), api=True).edited == "2026-11-20T15:45:30Z"
    assert _read(vk, vk.post_url(EDITED_POST)).edited is None
    assert _read(vk, vk.post_url(PLACE_POST), api=True).published == "2026-11-20T16:15:30Z"
    by_text = _read(vk, vk.post_url(PLACE_POST))  # a date VK shows only as a local text
    assert by_text.published is None
    assert "VK shows the date only as '20 ноя в 20:15'" in by_text.notes[0]
    rounded = _read(vk, vk.post_url(LINK_POST))
    assert rounded.counts["views"] == 12000 and "views: VK shows a rounded number, '12K'" in (
        rounded.notes)
    assert _read(vk, vk.post_url(LINK_POST), api=True).counts["views"] == 12400


def test_comment_url_reads_the_post_and_says_so(vk):
    post = _read(vk, f"{vk.post_url()}?reply=77&thread=70")
    assert post.post_id == "-211987654_510" and post.text == ARABIC_TEXT
    assert post.notes == ["the URL points at comment 77 under the post: the post itself is "
                          "recorded (comments are not read)"]


def test_og_tags_when_the_post_markup_is_gone(vk):
    post = _read(vk, vk.post_url(OG_ONLY_POST))
    assert post.status == "ok" and post.text == ORIGINAL_TEXT
    assert post.author_name == COMMUNITY_NAME and post.published is None
    assert [(m.type, m.url) for m in post.media] == [("image", f"{vk.base}/media/vk-og.jpg")]
    assert "og: tags" in post.notes[0]


@pytest.mark.parametrize("language", ["ru", "en"])
def test_statuses_on_the_public_page(vk, language):
    fetch = language_fetch("en-US,en;q=0.9") if language == "en" else urllib_fetch
    words = WORDS[language]
    for url, status, said in [
        (vk.post_url(DELETED_POST), "deleted", words["deleted"]),
        (vk.post_url(5, BANNED_PROFILE), "suspended", words["banned"]),
        (vk.post_url(3, BLOCKED_COMMUNITY), "suspended", words["blocked"]),
        (vk.post_url(12, PRIVATE_PROFILE), "unavailable", words["private"]),
        (vk.post_url(4, MEMBERS_ONLY), "login-wall", "login page"),
    ]:
        post = _read(vk, url, fetch=fetch)
        assert (post.status, post.text, post.media) == (status, None, []), url
        assert len(post.notes) == 1 and said in post.notes[0], post.notes


def test_statuses_from_the_api(vk):
    deleted = _read(vk, vk.post_url(DELETED_POST), api=True)
    assert deleted.status == "deleted" and "while its wall is readable" in deleted.notes[0]
    assert [urlsplit(u).path for u in deleted.source] == ["/method/wall.getById",
                                                          "/method/wall.get"]
    for owner, number, status, said in [
        (BANNED_PROFILE, 5, "suspended", "error 18: User was deleted or banned"),
        (BLOCKED_COMMUNITY, 3, "suspended", "error 15: Access denied: group is blocked"),
        (PRIVATE_PROFILE, 12, "unavailable", "error 30: This profile is private"),
        (MEMBERS_ONLY, 4, "unavailable", "error 15: Access denied: this wall available only"),
    ]:
        post = _read(vk, vk.post_url(number, owner), api=True)
        assert post.status == status and said in post.notes[0], post.notes


def test_rate_limits_raise(vk):
    with pytest.raises(PlatformError, match=r"rate limited .*/challenge\.html"):
        _read(vk, vk.post_url(RATE_LIMITED_POST))
    with pytest.raises(PlatformError, match=r"rate limited .*error 6: Too many requests"):
        _read(vk, vk.post_url(RATE_LIMITED_POST), api=True)


def test_a_host_that_is_not_vk_is_a_layout_change(site):
    elsewhere = site.url("/").rstrip("/")
    page = VKPlatform(elsewhere)
    with pytest.raises(PlatformError, match="none of VK's post markup"):
        asyncio.run(page.extract_post(page.match(f"{elsewhere}/wall-1_2"), urllib_fetch))
    with pytest.raises(PlatformError, match="no VK wall markup|names no wall"):
        asyncio.run(page.list_posts(page.match(f"{elsewhere}/wall-1"), urllib_fetch, 5))
    api = VKPlatform(elsewhere, {"Authorization"})
    with pytest.raises(PlatformError, match="JSON"):
        asyncio.run(api.extract_post(api.match(f"{elsewhere}/wall-1_2"), session_fetch()))


def test_listing_from_the_public_wall(vk):
    start = len(vk.requests)
    refs = _list(vk, vk.channel_url(), 7)
    assert [r.post_id for r in refs] == [f"{OWNER}_{n}" for n in range(512, 505, -1)]
    assert refs[0].url == "https://vk.com/wall-211987654_512"
    assert refs[0].published == "2026-11-20T19:15:30Z"
    assert refs[3].published is None  # 509: VK shows its date only as text
    # The screen name is resolved on its page, then the wall pages by offset (the pinned post
    # on the first page does not count as a place).
    assert _since(vk, start) == [f"/{SCREEN_NAME}", f"/wall{OWNER}?own=1",
                                 f"/wall{OWNER}?own=1&offset=4"]
    every = _list(vk, "https://vk.com/club211987654", 50)
    assert [r.post_id for r in every] == [f"{OWNER}_{n}" for n in range(512, 500, -1)]
    start = len(vk.requests)
    assert [r.post_id for r in _list(vk, "https://vk.com/club211987654", 2)] == [
        f"{OWNER}_512", f"{OWNER}_511"]  # the pinned 503 is not among the newest
    assert _since(vk, start) == [f"/wall{OWNER}?own=1"]


def test_listing_from_the_api(vk):
    start = len(vk.requests)
    refs = _list(vk, vk.channel_url(), 7, api=True)
    assert [r.post_id for r in refs] == [f"{OWNER}_{n}" for n in range(512, 505, -1)]
    assert refs[3].published == "2026-11-20T16:15:30Z"
    asked = [parse_qs(urlsplit(p).query) for p in _since(vk, start)]
    assert [(q["domain"], q["filter"], q["offset"], q["count"]) for q in asked] == [
        (["aleppo.witness"], ["owner"], ["0"], ["8"]), (["aleppo.witness"], ["owner"], ["4"],
                                                        ["3"]),
        (["aleppo.witness"], ["owner"], ["7"], ["1"])]
    every = _list(vk, "https://vk.com/club211987654", 50, api=True)
    assert [r.post_id for r in every] == [f"{OWNER}_{n}" for n in range(512, 500, -1)]
    assert parse_qs(urlsplit(vk.requests[-1]["path"]).query)["owner_id"] == [OWNER]


def test_listing_a_wall_vk_refuses_raises(vk):
    with pytest.raises(PlatformError, match="suspended.*Сообщество заблокировано"):
        _list(vk, f"https://vk.com/club{BLOCKED_COMMUNITY.lstrip('-')}", 5)
    with pytest.raises(PlatformError, match="login-wall"):
        _list(vk, f"https://vk.com/wall{MEMBERS_ONLY}", 5)
    with pytest.raises(PlatformError, match="unavailable.*error 30"):
        _list(vk, f"https://vk.com/id{PRIVATE_PROFILE}", 5, api=True)
    with pytest.raises(PlatformError, match="error 100"):
        _list(vk, "https://vk.com/nobody.here", 5, api=True)


def test_nothing_is_read_off_the_base(vk):
    posts = [_read(vk, vk.post_url(n), api=api) for n in (ARABIC_POST, REPOST, DELETED_POST)
             for api in (False, True)]
    assert all(u.startswith(f"{vk.base}/") for p in posts for u in p.source)
    assert all(p.url.startswith("https://vk.com/wall") for p in posts)  # canonical stays public


def test_the_stand_in_serves_what_the_capture_loads(vk):
    page = asyncio.run(urllib_fetch(vk.post_url()))
    assert page.status == 200 and "windows-1251" in page.headers["content-type"]
    clip = asyncio.run(urllib_fetch(f"{vk.base}{VIDEO_PATH}"))
    assert clip.headers["content-type"] == "video/mp4" and clip.body == video_clip()
    photo = asyncio.run(urllib_fetch(f"{vk.base}{PHOTO_PATH}"))
    assert photo.headers["content-type"] == "image/jpeg"


def test_older_api_answers_and_counts():
    items, people = _items_and_people([{"id": 1, "owner_id": -1}], "u")  # a bare list
    assert items == [{"id": 1, "owner_id": -1}] and people == {}
    with pytest.raises(PlatformError, match="expected VK's"):
        _items_and_people({"posts": []}, "u")
    assert parse_count("1 530") == (1530, True) and parse_count("1,5K") == (1500, False)
    assert parse_count("12 тыс.") == (12000, False) and parse_count("3M") == (3_000_000, False)
    assert parse_count("views") is None
