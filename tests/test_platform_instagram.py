"""The Instagram module against the logged-out web client stand-in."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from urllib.parse import parse_qs, urlsplit

import pytest

from crawlers.platforms.base import PlatformError
from crawlers.platforms.instagram import (
    InstagramPlatform,
    media_id_shortcode,
    shortcode_media_id,
)
from tests.platform_fixtures import urllib_fetch
from tests.platform_fixtures.instagram import (
    ALT,
    ARABIC_TEXT,
    BUSY_CODE,
    CAROUSEL_CODE,
    CAROUSEL_ID,
    CHRONOLOGICAL,
    FULL_NAME,
    GATED_CODE,
    GEO_CODE,
    HTML_CODE,
    LOGIN_CODE,
    LSD,
    MISSING_CODE,
    NO_DATA_CODE,
    PHOTO_CODE,
    PINNED_ID,
    PLACE,
    PRIVATE_CODE,
    PRIVATE_ID,
    REDIRECT_CODE,
    REEL_CODE,
    REEL_ID,
    SESSION_COOKIE,
    SHAPE_CODE,
    STORY_ID,
    USER,
    USER_ID,
    VIDEO_PATH,
    WAIT_CODE,
    InstagramFixture,
    cursor,
    shortcode,
)

PUBLIC = "https://www.instagram.com"


@pytest.fixture(scope="module")
def instagram():
    with InstagramFixture() as server:
        yield server


async def session_fetch(url, headers=None, *, method="GET", body=None):
    """A fetch that adds a configured session, as the crawler does for Instagram's hosts."""
    return await urllib_fetch(url, {**(headers or {}), "Cookie": SESSION_COOKIE},
                              method=method, body=body)


async def expired_fetch(url, headers=None, *, method="GET", body=None):
    return await urllib_fetch(url, {**(headers or {}), "Cookie": "sessionid=expired"},
                              method=method, body=body)


def _post(instagram, code, *, kind="p", session=(), fetch=urllib_fetch):
    platform = InstagramPlatform(instagram.base, session)
    target = platform.match(f"{PUBLIC}/{kind}/{code}/")
    return asyncio.run(platform.extract_post(target, fetch))


def _headers(request):
    return {name.lower(): value for name, value in request["headers"].items()}


def _list(instagram, user, limit):
    platform = InstagramPlatform(instagram.base)
    return asyncio.run(platform.list_posts(platform.match(f"{PUBLIC}/{user}/"), urllib_fetch,
                                           limit))


@pytest.mark.parametrize(("url", "kind", "ids"), [
    ("https://www.instagram.com/p/DBc3xYz_1-A/", "post", {"post": "DBc3xYz_1-A"}),
    ("https://instagram.com/p/aye83DjauH/?foo=bar#abc", "post", {"post": "aye83DjauH"}),
    ("https://www.instagram.com/reel/Chunk8-jurw/", "post", {"post": "Chunk8-jurw"}),
    ("https://www.instagram.com/reels/Cop84x6u7CP/", "post", {"post": "Cop84x6u7CP"}),
    ("https://www.instagram.com/tv/BkfuX9UB-eK/", "post", {"post": "BkfuX9UB-eK"}),
    ("https://www.instagram.com/marvelskies.fc/reel/CWqAgUZgCku/", "post",
     {"user": "marvelskies.fc", "post": "CWqAgUZgCku"}),
    ("https://www.instagram.com/aleppo.witness/p/DBc3xYz_1-A/", "post",
     {"user": "aleppo.witness", "post": "DBc3xYz_1-A"}),
    ("http://instagram.com/p/9o6LshA7zy/embed/", "post", {"post": "9o6LshA7zy"}),
    ("https://www.instagram.com/p/9o6LshA7zy/embed/captioned/", "post", {"post": "9o6LshA7zy"}),
    ("https://m.instagram.com/p/DBc3xYz_1-A", "post", {"post": "DBc3xYz_1-A"}),
    ("https://instagr.am/p/DBc3xYz_1-A/", "post", {"post": "DBc3xYz_1-A"}),
    ("https://www.instagram.com/stories/aleppo.witness/3499000000000000001/", "post",
     {"user": "aleppo.witness", "story": "3499000000000000001"}),
    ("https://www.instagram.com/aleppo.witness/", "channel", {"user": "aleppo.witness"}),
    ("https://instagram.com/Some_User.99?igsh=abc", "channel", {"user": "Some_User.99"}),
])
def test_match(url, kind, ids):
    target = InstagramPlatform().match(url)
    assert target is not None and (target.kind, target.ids) == (kind, ids)


@pytest.mark.parametrize("url", [
    "https://www.instagram.com/", "https://www.instagram.com/explore/",
    "https://www.instagram.com/explore/tags/aleppo/", "https://www.instagram.com/accounts/login/",
    "https://www.instagram.com/direct/inbox/", "https://www.instagram.com/reels/",
    "https://www.instagram.com/reels/audio/1234567890/", "https://www.instagram.com/p/",
    "https://www.instagram.com/stories/aleppo.witness/", "https://www.instagram.com/about/",
    "https://www.instagram.com/stories/highlights/18090946048123978/",
    "https://www.instagram.com/share/reel/BAx1yz/", "https://www.instagram.com/web/",
    "https://www.instagram.com/aleppo.witness/tagged/", "https://www.instagram.com/p/ab$c/",
    "https://www.instagram.com/p/DBc3xYz_1-A/liked_by/", "https://example.org/p/DBc3xYz_1-A/",
    "https://www.instagram.com.evil.example/p/DBc3xYz_1-A/", "ftp://instagram.com/p/abc/",
    "https://www.instagram.com/this.name.is.far.too.long.for.instagram/",
])
def test_no_match(url):
    assert InstagramPlatform().match(url) is None


def test_base_host_matches_only_when_overridden(instagram):
    assert InstagramPlatform(instagram.base).match(instagram.post_url()).ids == {
        "post": REEL_CODE}
    assert InstagramPlatform(instagram.base).match(instagram.channel_url()).kind == "channel"
    assert InstagramPlatform().match(instagram.post_url()) is None


def test_shortcode_and_media_id():
    # The pair yt-dlp's tests use: instagram://media?id=482584233761418119 is /p/aye83DjauH.
    assert shortcode_media_id("aye83DjauH") == "482584233761418119"
    assert media_id_shortcode(482584233761418119) == "aye83DjauH"
    assert shortcode_media_id(REEL_CODE) == str(REEL_ID)
    assert shortcode_media_id(PRIVATE_CODE) == str(PRIVATE_ID)  # the suffix is not the id


def test_arabic_reel_every_field(instagram):
    post = _post(instagram, REEL_CODE, kind="reel")
    assert post.status == "ok"
    assert post.platform == "instagram" and post.post_id == REEL_CODE
    assert post.url == f"{PUBLIC}/reel/{REEL_CODE}/"
    assert post.text == ARABIC_TEXT  # line breaks, hashtags and the mention as published
    assert (post.author_id, post.author_handle, post.author_name) == (USER_ID, USER, FULL_NAME)
    assert post.published == "2026-11-20T08:15:30Z"
    assert post.edited is None and post.language is None and post.title is None
    assert post.place == PLACE
    assert post.counts == {"likes": 1520, "replies": 87, "views": 40210}
    assert [(m.type, m.url, m.alt) for m in post.media] == [
        ("video", f"{instagram.base}{VIDEO_PATH}", None)]
    assert (post.reply_to, post.quote_of, post.forwarded_from) == (None, None, None)
    assert post.source == [f"{instagram.base}/", f"{instagram.base}/api/graphql"]
    assert post.notes == [f"Instagram media id {REEL_ID}"]


def test_post_query_is_sent_like_the_web_client(instagram):
    before = len(instagram.requests)
    platform = InstagramPlatform(instagram.base)
    for code in (REEL_CODE, PHOTO_CODE):
        asyncio.run(platform.extract_post(platform.match(f"{PUBLIC}/p/{code}/"), urllib_fetch))
    sent = instagram.requests[before:]
    assert [(r["method"], r["path"]) for r in sent] == [
        ("GET", "/"), ("POST", "/api/graphql"), ("POST", "/api/graphql")]  # LSD read once
    headers = _headers(sent[1])
    assert headers["x-ig-app-id"] == "936619743392459" and headers["x-fb-lsd"] == LSD
    assert headers["x-fb-friendly-name"] == "PolarisLoggedOutDesktopWWWPostRootContentQuery"
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    assert "cookie" not in headers


def test_the_stand_in_rejects_a_request_without_the_app_id(instagram):
    form = {"lsd": LSD, "doc_id": "27130156389949648", "variables": json.dumps(
        {"media_id": str(REEL_ID)}), "fb_api_req_friendly_name":
        "PolarisLoggedOutDesktopWWWPostRootContentQuery"}
    body = "&".join(f"{k}={urllib.request.quote(v)}" for k, v in form.items())
    answer = asyncio.run(urllib_fetch(f"{instagram.base}/api/graphql", {"X-FB-LSD": LSD},
                                      method="POST", body=body))
    assert answer.status == 400 and answer.json()["message"] == "useragent mismatch"


def test_image_with_alt_and_collaboration(instagram):
    post = _post(instagram, PHOTO_CODE)
    assert post.url == f"{PUBLIC}/p/{PHOTO_CODE}/"
    assert post.text == "Souq al-Madina after the strike, this morning.\nWith @civil.defence.sy"
    assert [(m.type, m.url, m.alt) for m in post.media] == [
        ("image", f"{instagram.base}/media/ig-{PHOTO_CODE}.jpg", ALT)]
    assert post.counts == {"likes": 902, "replies": 31}  # no views on an image
    assert "collaboration post, co-authored with @civil.defence.sy" in post.notes


def test_carousel_with_edited_caption(instagram):
    post = _post(instagram, CAROUSEL_CODE)
    assert [(m.type, m.url, m.alt) for m in post.media] == [
        ("image", f"{instagram.base}/media/ig-carousel-1.jpg",
         "May be an image of a market street."),
        ("video", f"{instagram.base}/media/ig-carousel-2.mp4", None)]
    assert post.edited == "edited"
    assert "caption marked edited by Instagram (the edit time is not shown)" in post.notes
    assert f"Instagram media id {CAROUSEL_ID}" in post.notes


def test_the_video_file_is_served(instagram):
    answer = asyncio.run(urllib_fetch(f"{instagram.base}{VIDEO_PATH}"))
    assert answer.status == 200 and answer.headers["content-type"] == "video/mp4"
    assert answer.body[4:8] == b"ftyp"


def test_post_pages_answer_html(instagram):
    platform = InstagramPlatform(instagram.base)
    page = asyncio.run(urllib_fetch(platform.capture_url(f"{PUBLIC}/reel/{REEL_CODE}/")))
    assert page.status == 200 and page.url == instagram.post_url()
    assert 'property="og:title"' in page.text() and FULL_NAME in page.text()
    assert asyncio.run(urllib_fetch(f"{instagram.base}/p/{PHOTO_CODE}/")).status == 200


def test_missing_post_is_unavailable_not_deleted(instagram):
    post = _post(instagram, MISSING_CODE)
    assert post.status == "unavailable" and post.text is None and post.media == []
    assert "does not say why" in post.notes[0] and "private" in post.notes[0]
    assert post.source[-1].startswith(f"{instagram.base}/api/v1/web/get_ruling_for_content/")


def test_unavailable_with_instagrams_reason(instagram):
    post = _post(instagram, GEO_CODE)
    assert post.status == "unavailable"
    assert "says: Content not available in your country: This content isn't available" in (
        post.notes[0])


def test_private_post_shortcode(instagram):
    post = _post(instagram, PRIVATE_CODE)
    assert post.status == "unavailable"
    assert any("28-character suffix" in note for note in post.notes)


def test_login_walls(instagram):
    gated = _post(instagram, GATED_CODE)
    assert gated.status == "login-wall"
    assert "if_gated_logged_out" in gated.notes[0]
    assert "Restricted Video: You must be 18 years old" in gated.notes[0]
    required = _post(instagram, LOGIN_CODE)
    assert required.status == "login-wall" and "HTTP 401" in required.notes[0]
    redirected = _post(instagram, REDIRECT_CODE)
    assert redirected.status == "login-wall" and "/accounts/login/" in redirected.notes[0]


def test_rate_limits_raise(instagram):
    with pytest.raises(PlatformError, match="rate limited.*Please wait a few minutes"):
        _post(instagram, WAIT_CODE)  # HTTP 401 with require_login: still a rate limit
    with pytest.raises(PlatformError, match="HTTP 429"):
        _post(instagram, BUSY_CODE)


def test_layout_changes_raise(instagram, site):
    with pytest.raises(PlatformError, match="JSON without data"):
        _post(instagram, NO_DATA_CODE)
    with pytest.raises(PlatformError, match="not in the expected shape"):
        _post(instagram, SHAPE_CODE)
    elsewhere = InstagramPlatform(site.url("/").rstrip("/"))
    with pytest.raises(PlatformError, match="no LSD token"):
        asyncio.run(elsewhere.extract_post(elsewhere.match(f"{PUBLIC}/p/{REEL_CODE}/"),
                                           urllib_fetch))


def test_html_answer_falls_back_to_the_post_page(instagram):
    post = _post(instagram, HTML_CODE)
    assert post.status == "ok" and post.text == "Read from the post page."
    assert post.source[-1] == f"{instagram.base}/p/{HTML_CODE}/"
    assert any("answered no JSON" in note for note in post.notes)
    assert post.counts == {"replies": 14}  # likes and views hidden by the author
    assert "the author hides like and view counts: not recorded" in post.notes


def test_logged_in_reads_a_private_post(instagram):
    post = _post(instagram, PRIVATE_CODE, session={"cookie"}, fetch=session_fetch)
    assert post.status == "ok" and post.post_id == PRIVATE_CODE
    assert post.source == [f"{instagram.base}/api/v1/media/{PRIVATE_ID}/info/"]
    expired = _post(instagram, REEL_CODE, session={"cookie"}, fetch=expired_fetch)
    assert expired.status == "ok" and expired.text == ARABIC_TEXT  # read logged out
    assert "the configured session was refused" in expired.notes[0]


def test_stories_need_a_session(instagram):
    url = f"{PUBLIC}/stories/{USER}/{STORY_ID}/"
    platform = InstagramPlatform(instagram.base)
    wall = asyncio.run(platform.extract_post(platform.match(url), urllib_fetch))
    assert wall.status == "login-wall" and "logged-in viewers only" in wall.notes[0]
    logged_in = InstagramPlatform(instagram.base, {"cookie"})
    story = asyncio.run(logged_in.extract_post(logged_in.match(url), session_fetch))
    assert story.status == "ok" and story.post_id == STORY_ID and story.url == url
    assert story.published == "2026-11-20T08:25:30Z" and story.author_handle == USER
    assert story.media and story.media[0].type == "image" and story.text is None
    gone = asyncio.run(logged_in.extract_post(
        logged_in.match(f"{PUBLIC}/stories/{USER}/3499000000000000999/"), session_fetch))
    assert gone.status == "deleted" and "expired" in gone.notes[0]


def test_listing_first_page_only_when_enough(instagram):
    before = len(instagram.requests)
    refs = _list(instagram, USER, 5)
    assert [r.post_id for r in refs] == [shortcode(pk) for pk in CHRONOLOGICAL[:5]]
    assert refs[0].url == f"{PUBLIC}/reel/{REEL_CODE}/" and refs[0].published == (
        "2026-11-20T08:15:30Z")
    assert refs[1].url == f"{PUBLIC}/p/{PHOTO_CODE}/"
    sent = instagram.requests[before:]
    assert [r["path"] for r in sent] == ["/api/v1/users/web_profile_info/?username=" + USER]
    assert _headers(sent[0])["x-ig-app-id"] == "936619743392459"


def test_listing_pages_with_the_cursor_newest_first(instagram):
    before = len(instagram.requests)
    refs = _list(instagram, USER, 15)
    assert [r.post_id for r in refs] == [shortcode(pk) for pk in CHRONOLOGICAL[:15]]
    sent = instagram.requests[before:]
    assert len(sent) == 2
    query = parse_qs(urlsplit(sent[1]["path"]).query)
    assert query["doc_id"] == ["7950326061742207"]
    assert json.loads(query["variables"][0]) == {"id": USER_ID, "after": cursor(11),
                                                 "first": 12}


def test_listing_reads_past_the_pinned_post(instagram):
    # Page one is the pinned (oldest) post and the 11 newest: the 12th newest is on page two.
    before = len(instagram.requests)
    refs = _list(instagram, USER, 12)
    assert [r.post_id for r in refs] == [shortcode(pk) for pk in CHRONOLOGICAL[:12]]
    assert shortcode(PINNED_ID) not in {r.post_id for r in refs}
    assert len(instagram.requests) - before == 2


def test_listing_everything_sorts_the_pinned_post_into_place(instagram):
    before = len(instagram.requests)
    refs = _list(instagram, USER, 100)
    assert len(refs) == 30 and len(instagram.requests) - before == 3
    assert refs[-1].post_id == shortcode(PINNED_ID)  # pinned on top, but the oldest
    times = [r.published for r in refs]
    assert times == sorted(times, reverse=True)
    assert len({r.post_id for r in refs}) == 30


def test_listing_errors(instagram):
    with pytest.raises(PlatformError, match="no account @nobody.*HTTP 404"):
        _list(instagram, "nobody", 5)
    with pytest.raises(PlatformError, match="no account @gone.account"):
        _list(instagram, "gone.account", 5)
    with pytest.raises(PlatformError, match="@private.account is private"):
        _list(instagram, "private.account", 5)
    with pytest.raises(PlatformError, match="rate limited"):
        _list(instagram, "wait.account", 5)
    with pytest.raises(PlatformError, match="refused the next page .* after the first 12"):
        _list(instagram, "shy.account", 20)


def test_nothing_leaves_the_base(instagram):
    posts = [_post(instagram, code) for code in (REEL_CODE, PHOTO_CODE, CAROUSEL_CODE,
                                                 MISSING_CODE, HTML_CODE)]
    for post in posts:
        assert post.source and all(url.startswith(instagram.base + "/") for url in post.source)
        assert all(m.url.startswith(instagram.base + "/") for m in post.media)
        assert post.url.startswith(PUBLIC + "/")  # the canonical URL stays the public one
    assert all(r["path"].startswith("/") for r in instagram.requests)
    assert all(_headers(r).get("host") == urlsplit(instagram.base).netloc
               for r in instagram.requests)
