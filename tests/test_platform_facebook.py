"""The Facebook module against the logged-out HTML stand-in."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest

from crawlers.platforms.base import Fetched, PlatformError
from crawlers.platforms.base import shown_count as parse_count
from crawlers.platforms.facebook import FacebookPlatform
from tests.platform_fixtures import urllib_fetch
from tests.platform_fixtures.facebook import (
    ARABIC_COUNTS,
    ARABIC_PLACE,
    ARABIC_POST_ID,
    ARABIC_PUBLISHED,
    ARABIC_TEXT,
    BLOCKED_POST_ID,
    CHECKPOINT_POST_ID,
    FB_WATCH_CODE,
    GONE_POST_ID,
    GROUP_LOGIN_URL_PATH,
    LISTED,
    LOGIN_PAGE,
    LOGIN_POST_ID,
    OG_ONLY_POST_ID,
    ORIGINAL_PAGE,
    ORIGINAL_PHOTO_ID,
    ORIGINAL_POST_ID,
    PAGE,
    PAGE_ID,
    PAGE_NAME,
    PHOTO_ALTS,
    PHOTO_IDS,
    PHOTO_POST_ID,
    PHOTO_TEXT,
    QUIET_PAGE,
    RATE_LIMITED_POST_ID,
    REMOVED_PAGE,
    ROUNDED_POST_ID,
    SHARE_IN_PLACE_CODE,
    SHARE_LOGIN_CODE,
    SHARE_POST_CODE,
    SHARE_REEL_CODE,
    SHARE_VIDEO_CODE,
    SHARED_POST_ID,
    SHARED_TEXT,
    VIDEO_ID,
    VIDEO_PATH,
    FacebookFixture,
    pfbid,
    post_public_url,
)

FB = "https://www.facebook.com"


@pytest.fixture(scope="module")
def facebook():
    with FacebookFixture() as server:
        yield server


@pytest.mark.parametrize(("url", "kind", "ids"), [
    (f"{FB}/{PAGE}/posts/{ARABIC_POST_ID}", "post", {"page": PAGE, "post": ARABIC_POST_ID}),
    ("https://m.facebook.com/attn/posts/pfbid0j1Czf2gGDVqeQ8KiMLFm3pWN8GxsQmeRrVhi/", "post",
     {"page": "attn", "post": "pfbid0j1Czf2gGDVqeQ8KiMLFm3pWN8GxsQmeRrVhi"}),
    (f"{FB}/permalink.php?story_fbid=1035862816472149&id=116132035111903", "post",
     {"post": "1035862816472149", "owner": "116132035111903"}),
    ("https://m.facebook.com/story.php?story_fbid=pfbid0Fnzhm8Uuzj&id=100073071055552", "post",
     {"post": "pfbid0Fnzhm8Uuzj", "owner": "100073071055552"}),
    (f"{FB}/cnn/videos/10155529876156509/", "post",
     {"page": "cnn", "video": "10155529876156509"}),
    (f"{FB}/ChristyClarkForBC/videos/vb.22819070941/10153870694020942/?type=2&theater", "post",
     {"page": "ChristyClarkForBC", "video": "10153870694020942"}),
    (f"{FB}/watch/?v=647537299265662", "post", {"video": "647537299265662"}),
    (f"{FB}/watch?v=647537299265662", "post", {"video": "647537299265662"}),
    (f"{FB}/watch/live/?v=1823658634322275", "post", {"video": "1823658634322275"}),
    (f"{FB}/video.php?v=10204634152394104&fref=nf", "post", {"video": "10204634152394104"}),
    (f"{FB}/reel/1195289147628387", "post", {"video": "1195289147628387"}),
    (f"{FB}/photo/?fbid=2233445566778801&set=a.1", "post", {"photo": "2233445566778801"}),
    (f"{FB}/photo.php?fbid=2233445566778801", "post", {"photo": "2233445566778801"}),
    (f"{FB}/{PAGE}/photos/a.1005/2233445566778801/", "post",
     {"page": PAGE, "photo": "2233445566778801"}),
    (f"{FB}/groups/1024490957622648/permalink/1396382447100162/", "post",
     {"group": "1024490957622648", "post": "1396382447100162"}),
    (f"{FB}/groups/1513990329015294/posts/d41d8cd9/2013209885760000/?app=fbl", "post",
     {"group": "1513990329015294", "post": "2013209885760000"}),
    (f"{FB}/groups/ateistiskselskab/posts/10154930137678856", "post",
     {"group": "ateistiskselskab", "post": "10154930137678856"}),
    ("https://web.facebook.com/share/p/1AbCdEfGhJ/", "post",
     {"share": "1AbCdEfGhJ", "share_kind": "p"}),
    (f"{FB}/share/v/2KlMnOpQrS/", "post", {"share": "2KlMnOpQrS", "share_kind": "v"}),
    (f"{FB}/share/r/3TuVwXyZaB", "post", {"share": "3TuVwXyZaB", "share_kind": "r"}),
    ("https://fb.watch/xQ7vP2mN9k/", "post", {"share": "xQ7vP2mN9k", "share_kind": "watch"}),
    ("https://ar-ar.facebook.com/AleppoWitnessNetwork/posts/1029384756647382", "post",
     {"page": PAGE, "post": ARABIC_POST_ID}),
    (f"{FB}/{PAGE}", "channel", {"page": PAGE}),
    ("https://facebook.com/AleppoWitnessNetwork/?ref=page_internal", "channel", {"page": PAGE}),
    ("https://mbasic.facebook.com/cnn", "channel", {"page": "cnn"}),
    ("https://www.fb.com/zuck", "channel", {"page": "zuck"}),
    (f"{FB}/profile.php?id={PAGE_ID}", "channel", {"profile_id": PAGE_ID}),
    (f"{FB}/people/Aleppo-Witness/{PAGE_ID}/", "channel",
     {"page": "Aleppo-Witness", "profile_id": PAGE_ID}),
])
def test_match(url, kind, ids):
    target = FacebookPlatform().match(url)
    assert target is not None and (target.kind, target.ids) == (kind, ids)


@pytest.mark.parametrize("url", [
    f"{FB}/", f"{FB}/login/", f"{FB}/login.php?next=x", f"{FB}/help/", f"{FB}/settings",
    f"{FB}/marketplace/", f"{FB}/watch/", f"{FB}/watch", f"{FB}/groups/",
    f"{FB}/groups/alepponeighbours", f"{FB}/events/1509582499515440", f"{FB}/gaming",
    f"{FB}/privacy/policy/", f"{FB}/policies", f"{FB}/photo.php", f"{FB}/photo/?fbid=abc",
    f"{FB}/{PAGE}/posts/", f"{FB}/{PAGE}/posts/not-an-id", f"{FB}/{PAGE}/about",
    f"{FB}/share/x/1AbCdEfGhJ/", f"{FB}/profile.php", f"{FB}/search/top?q=aleppo",
    "https://example.org/AleppoWitnessNetwork/posts/1029384756647382",
    "https://notfacebook.com/AleppoWitnessNetwork", "https://developers.facebook.com/docs",
    "https://l.facebook.com/l.php?u=https%3A%2F%2Fexample.org", "ftp://www.facebook.com/cnn",
    "https://fb.watch/", "https://fb.watch/a/b/",
])
def test_no_match(url):
    assert FacebookPlatform().match(url) is None


def test_base_host_matches_only_when_overridden(facebook):
    platform = FacebookPlatform(facebook.base)
    assert platform.match(facebook.post_url()).ids == {"page": PAGE, "post": ARABIC_POST_ID}
    assert platform.match(facebook.channel_url()).kind == "channel"
    assert platform.match(f"{facebook.base}/fb.watch/{FB_WATCH_CODE}/").ids == {
        "share": FB_WATCH_CODE, "share_kind": "watch"}
    assert platform.match(f"{FB}/{PAGE}").kind == "channel"  # the public URLs still match
    assert FacebookPlatform().match(facebook.post_url()) is None
    assert FacebookPlatform().match(facebook.channel_url()) is None


def _post(facebook, url):
    platform = FacebookPlatform(facebook.base)
    target = platform.match(url)
    assert target is not None, url
    return asyncio.run(platform.extract_post(target, urllib_fetch))


def _on_base(facebook, post):
    assert post.source and all(s.startswith(facebook.base + "/") for s in post.source)


def test_arabic_video_post_every_field(facebook):
    post = _post(facebook, f"{FB}/{PAGE}/posts/{ARABIC_POST_ID}")
    assert post.status == "ok"
    assert post.platform == "facebook" and post.post_id == ARABIC_POST_ID
    assert post.url == post_public_url(ARABIC_POST_ID)  # Facebook's own (pfbid) URL, public
    assert post.text == ARABIC_TEXT  # line breaks, hashtags, link and RTL text untouched
    assert (post.author_id, post.author_handle, post.author_name) == (PAGE_ID, PAGE, PAGE_NAME)
    # The story's creation_time, not the video's upload time (2026-11-20T05:55:10Z).
    assert post.published == ARABIC_PUBLISHED
    assert post.edited is None and post.language is None and post.title is None
    assert post.counts == ARABIC_COUNTS
    assert post.place == ARABIC_PLACE
    assert (post.reply_to, post.quote_of, post.forwarded_from) == (None, None, None)
    # One video, once, its HD file first: not the SD playable_url, not the other page's video.
    assert [(m.type, m.url, m.alt) for m in post.media] == [
        ("video", f"{facebook.base}{VIDEO_PATH}", None)]
    assert post.source == [f"{facebook.base}/{PAGE}/posts/{ARABIC_POST_ID}"]
    assert post.notes == ["read from the post page's data (Relay JSON in its data-sjs scripts)"]


@pytest.mark.parametrize("path", [
    f"/{PAGE}/videos/{VIDEO_ID}/", f"/reel/{VIDEO_ID}", f"/watch/?v={VIDEO_ID}",
    f"/{PAGE}/posts/{pfbid(ARABIC_POST_ID)}",
    f"/permalink.php?story_fbid={ARABIC_POST_ID}&id={PAGE_ID}",
])
def test_other_urls_of_the_arabic_post(facebook, path):
    post = _post(facebook, facebook.base + path)
    assert post.post_id == ARABIC_POST_ID and post.text == ARABIC_TEXT
    assert post.media[0].url == facebook.video_url()
    assert post.source == [facebook.base + path]


def test_photo_post_with_captions(facebook):
    post = _post(facebook, facebook.post_url(PHOTO_POST_ID))
    assert post.text == PHOTO_TEXT and post.published == "2026-11-19T17:40:05Z"
    assert [(m.type, m.url, m.alt) for m in post.media] == [
        ("image", f"{facebook.base}/media/fb-{pid}.jpg", alt)
        for pid, alt in zip(PHOTO_IDS, PHOTO_ALTS, strict=True)]
    assert post.counts == {"likes": 130, "replies": 3, "shares": 1}
    via_photo = _post(facebook, f"{facebook.base}/photo/?fbid={PHOTO_IDS[1]}")
    assert via_photo.post_id == PHOTO_POST_ID


def test_shared_post_is_forwarded_from_the_original(facebook):
    post = _post(facebook, facebook.post_url(SHARED_POST_ID))
    assert post.post_id == SHARED_POST_ID and post.text == SHARED_TEXT  # the sharer's own words
    assert post.forwarded_from == post_public_url(ORIGINAL_POST_ID, ORIGINAL_PAGE)
    assert post.author_handle == PAGE  # the sharer, not the original's author
    assert [(m.type, m.url) for m in post.media] == [
        ("image", f"{facebook.base}/media/fb-{ORIGINAL_PHOTO_ID}.jpg")]
    assert any("shared post" in n and ORIGINAL_PAGE in n for n in post.notes)


def test_rounded_reaction_count_is_said(facebook):
    post = _post(facebook, facebook.post_url(ROUNDED_POST_ID))
    assert post.counts["likes"] == 1200
    assert any("'1.2K'" in n for n in post.notes)


def test_open_graph_fallback_says_so(facebook):
    post = _post(facebook, facebook.post_url(OG_ONLY_POST_ID))
    assert post.status == "ok" and post.url == post_public_url(OG_ONLY_POST_ID)
    assert post.text.endswith("...")  # og:description, cut by Facebook
    assert post.author_id is None and post.published is None and post.counts == {}
    assert [(m.type, m.url) for m in post.media] == [
        ("video", f"{facebook.base}/media/fb-og-{OG_ONLY_POST_ID}.mp4"),
        ("image", f"{facebook.base}/media/fb-og-{OG_ONLY_POST_ID}.jpg")]
    notes = " ".join(post.notes)
    assert "Open Graph tags only" in notes and "truncates" in notes and "not read" in notes


@pytest.mark.parametrize(("kind", "code", "post_id", "final"), [
    ("v", SHARE_VIDEO_CODE, ARABIC_POST_ID, f"/{PAGE}/videos/{VIDEO_ID}/"),
    ("r", SHARE_REEL_CODE, ARABIC_POST_ID, f"/reel/{VIDEO_ID}/"),
    ("p", SHARE_POST_CODE, PHOTO_POST_ID, f"/{PAGE}/posts/{pfbid(PHOTO_POST_ID)}/?rdid=Gd8x"),
])
def test_share_links_follow_the_redirect(facebook, kind, code, post_id, final):
    post = _post(facebook, f"{FB}/share/{kind}/{code}/")
    assert post.status == "ok" and post.post_id == post_id
    assert post.url == post_public_url(post_id)
    assert post.source == [f"{facebook.base}/share/{kind}/{code}/", facebook.base + final]


def test_share_link_answered_in_place_is_the_pages_only_post(facebook):
    post = _post(facebook, facebook.share_url("p", SHARE_IN_PLACE_CODE))
    assert post.status == "ok" and post.post_id == PHOTO_POST_ID
    assert post.url == post_public_url(PHOTO_POST_ID)
    assert post.source == [facebook.share_url("p", SHARE_IN_PLACE_CODE)]


def test_fb_watch_and_old_story_links_follow_the_redirect(facebook):
    watch = _post(facebook, f"{facebook.base}/fb.watch/{FB_WATCH_CODE}/")
    assert watch.post_id == ARABIC_POST_ID
    assert watch.source == [f"{facebook.base}/fb.watch/{FB_WATCH_CODE}/",
                            f"{facebook.base}/watch/?v={VIDEO_ID}"]
    story = _post(facebook, f"{FB}/story.php?story_fbid={PHOTO_POST_ID}&id={PAGE_ID}")
    assert story.post_id == PHOTO_POST_ID
    assert story.source[1] == f"{facebook.base}/{PAGE}/posts/{pfbid(PHOTO_POST_ID)}"


def test_content_not_available_is_unavailable_not_deleted(facebook):
    post = _post(facebook, facebook.post_url(GONE_POST_ID))
    assert post.status == "unavailable" and post.post_id == GONE_POST_ID
    assert post.text is None and post.media == []
    assert "This content isn't available right now" in post.notes[0]
    assert "small group of people" in post.notes[0]  # Facebook's own words, quoted
    assert "does not say whether the post was deleted" in post.notes[0]


def test_removed_page_post_is_unavailable(facebook):
    post = _post(facebook, f"{FB}/{REMOVED_PAGE}/posts/1234567890")
    assert post.status == "unavailable"
    assert "This page isn’t available" in post.notes[0] and "link is wrong" in post.notes[0]


def test_login_redirect_and_login_form_are_login_walls(facebook):
    redirected = _post(facebook, facebook.post_url(LOGIN_POST_ID))
    assert redirected.status == "login-wall" and redirected.text is None
    assert redirected.source[1].startswith(f"{facebook.base}/login/?next=")
    assert "login page" in redirected.notes[0] and "cookies_file" in redirected.notes[0]
    form = _post(facebook, facebook.base + GROUP_LOGIN_URL_PATH)
    assert form.status == "login-wall" and "login form" in form.notes[0]
    share = _post(facebook, facebook.share_url("p", SHARE_LOGIN_CODE))
    assert share.status == "login-wall"
    assert share.url == f"{FB}/share/p/{SHARE_LOGIN_CODE}/"


@pytest.mark.parametrize(("post_id", "cause"), [
    (RATE_LIMITED_POST_ID, "rate limited.*HTTP 429"),
    (BLOCKED_POST_ID, "Temporarily Blocked.*going too fast"),
    (CHECKPOINT_POST_ID, "checkpoint"),
])
def test_rate_limit_and_blocks_raise(facebook, post_id, cause):
    with pytest.raises(PlatformError, match=cause) as raised:
        _post(facebook, facebook.post_url(post_id))
    assert post_id in str(raised.value)  # names the URL


def test_layout_change_raises(site):
    elsewhere = FacebookPlatform(site.url("/").rstrip("/"))
    target = elsewhere.match(f"{FB}/{PAGE}/posts/{ARABIC_POST_ID}")
    with pytest.raises(PlatformError, match="neither Facebook's page data.*Open Graph"):
        asyncio.run(elsewhere.extract_post(target, urllib_fetch))
    with pytest.raises(PlatformError, match="neither Facebook's page data"):
        asyncio.run(elsewhere.list_posts(elsewhere.match(f"{FB}/{PAGE}"), urllib_fetch, 5))


def test_no_request_leaves_the_base(facebook):
    for post_id in (ARABIC_POST_ID, SHARED_POST_ID, OG_ONLY_POST_ID, LOGIN_POST_ID):
        _on_base(facebook, _post(facebook, f"{FB}/{PAGE}/posts/{post_id}"))
    _on_base(facebook, _post(facebook, f"https://fb.watch/{FB_WATCH_CODE}/"))
    _on_base(facebook, _post(facebook, f"https://m.facebook.com/share/v/{SHARE_VIDEO_CODE}/"))
    sent = facebook.requests[-1]["headers"]
    assert sent["Accept-Language"].startswith("en-US")  # Facebook's messages, in English


def test_server_error_raises():
    async def fetch(url, headers=None, *, method="GET", body=None):
        return Fetched(url, 503, {"content-type": "text/html"}, b"<html></html>")

    platform = FacebookPlatform()
    with pytest.raises(PlatformError, match="HTTP 503 for https://www.facebook.com/cnn"):
        asyncio.run(platform.list_posts(platform.match(f"{FB}/cnn"), fetch, 5))


def test_public_base_reads_www_and_fb_watch():
    asked: list[str] = []

    async def fetch(url, headers=None, *, method="GET", body=None):
        asked.append(url)
        return Fetched(url, 429, {}, b"")

    platform = FacebookPlatform()
    for url in ("https://m.facebook.com/story.php?story_fbid=1&id=2",
                "https://fb.watch/xQ7vP2mN9k/"):
        with pytest.raises(PlatformError):
            asyncio.run(platform.extract_post(platform.match(url), fetch))
    assert asked == [f"{FB}/story.php?story_fbid=1&id=2", "https://fb.watch/xQ7vP2mN9k/"]
    assert platform.capture_url(f"{FB}/{PAGE}/posts/1") == f"{FB}/{PAGE}/posts/1"


def _list(facebook, url, limit):
    platform = FacebookPlatform(facebook.base)
    return asyncio.run(platform.list_posts(platform.match(url), urllib_fetch, limit))


def test_listing_newest_first_from_one_page(facebook):
    before = len(facebook.requests)
    refs = _list(facebook, f"{FB}/{PAGE}", 50)
    # Pinned (oldest) post last; the shared original (another page's post) not listed.
    assert [r.post_id for r in refs] == list(LISTED)
    assert ORIGINAL_POST_ID not in {r.post_id for r in refs}
    assert refs[0].url == post_public_url(SHARED_POST_ID)
    assert [r.published for r in refs[:3]] == [
        "2026-11-20T10:02:31Z", ARABIC_PUBLISHED, "2026-11-19T17:40:05Z"]
    assert all(r.platform == "facebook" for r in refs)
    # No paging without a login: one request, for the page itself, and no GraphQL.
    assert [r["path"] for r in facebook.requests[before:]] == [f"/{PAGE}"]


def test_listing_limit_and_profile_url(facebook):
    refs = _list(facebook, f"{FB}/profile.php?id={PAGE_ID}", 3)
    assert [r.post_id for r in refs] == list(LISTED[:3])
    assert facebook.requests[-1]["path"] == f"/profile.php?id={PAGE_ID}"


def test_listed_posts_are_captured_on_the_base(facebook):
    platform = FacebookPlatform(facebook.base)
    ref = _list(facebook, facebook.channel_url(), 1)[0]
    capture = platform.capture_url(ref.url)
    assert capture == f"{facebook.base}{urlsplit(ref.url).path}"
    answer = asyncio.run(urllib_fetch(capture))
    assert answer.status == 200 and "text/html" in answer.headers["content-type"]
    assert platform.capture_url(f"https://fb.watch/{FB_WATCH_CODE}/") == (
        f"{facebook.base}/fb.watch/{FB_WATCH_CODE}/")


@pytest.mark.parametrize(("page", "cause"), [
    (REMOVED_PAGE, "This page isn’t available.*removed, restricted"),
    (LOGIN_PAGE, "login page.*logged-in session"),
    (QUIET_PAGE, "lists no posts"),
])
def test_listing_errors(facebook, page, cause):
    with pytest.raises(PlatformError, match=cause) as raised:
        _list(facebook, f"{FB}/{page}", 5)
    assert page in str(raised.value)


def test_the_stand_in_serves_the_video(facebook):
    answer = asyncio.run(urllib_fetch(facebook.video_url()))
    assert answer.status == 200 and answer.headers["content-type"] == "video/mp4"
    assert answer.body[4:8] == b"ftyp"


def test_parse_count():
    assert [parse_count(s) for s in ("1.2K", "3M", "1,204", "845", "n/a")] == [
        1200, 3_000_000, 1204, 845, None]
