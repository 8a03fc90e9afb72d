"""The TikTok module against the TikTok stand-in (post pages, short links, profile listing)."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from urllib.parse import parse_qs, urlsplit

import pytest

from crawlers.platforms.base import DELETED, SUSPENDED, UNAVAILABLE, Fetched, PlatformError
from crawlers.platforms.tiktok import EMPTY_WEEKS, TikTokPlatform, post_status
from tests.fixture_site.server import video_clip
from tests.platform_fixtures import urllib_fetch
from tests.platform_fixtures.tiktok import (
    ARABIC_COUNTS,
    ARABIC_ID,
    ARABIC_PUBLISHED,
    ARABIC_SOUND,
    ARABIC_TEXT,
    AUTHOR_ID,
    BANNED_ID,
    BROKEN_ID,
    CAPTCHA_ID,
    CLASSIFIED_ID,
    DEAD_SHORT,
    DELETED_ID,
    DUET_ID,
    DUET_TEXT,
    GEO_ID,
    GONE_ID,
    LIMITED_ID,
    LISTED,
    LOGIN_ID,
    NICKNAME,
    NOW,
    OFFSITE_SHORT,
    OTHER_ID,
    OTHER_NICKNAME,
    OTHER_USER,
    PAGE,
    PHOTO_ID,
    PHOTO_TEXT,
    PHOTO_TITLE,
    PLACE,
    PRIVATE_ID,
    PROFILE_SHORT,
    REGION,
    SEC_UID,
    SHORT_CODE,
    UNKNOWN_STATUS_ID,
    USER,
    TikTokFixture,
)

PUBLIC = "https://www.tiktok.com"
WEEK_MS = 7 * 86_400_000


@pytest.fixture(scope="module")
def tiktok():
    with TikTokFixture() as server:
        yield server


@pytest.mark.parametrize(("url", "kind", "ids"), [
    (f"{PUBLIC}/@syria.witness/video/{ARABIC_ID}", "post",
     {"user": "syria.witness", "post": ARABIC_ID}),
    (f"{PUBLIC}/@syria.witness/video/{ARABIC_ID}/?is_from_webapp=1&sender_device=pc", "post",
     {"user": "syria.witness", "post": ARABIC_ID}),
    ("https://tiktok.com/@field_reporter.2/photo/7240568259186019630", "post",
     {"user": "field_reporter.2", "post": "7240568259186019630"}),
    ("https://m.tiktok.com/@syria.witness/video/42", "post", {"user": "syria.witness",
                                                             "post": "42"}),
    (f"{PUBLIC}/@/video/7668090902816017671/", "post", {"post": "7668090902816017671"}),
    (f"{PUBLIC}/embed/v2/{ARABIC_ID}", "post", {"post": ARABIC_ID}),
    (f"{PUBLIC}/embed/{ARABIC_ID}", "post", {"post": ARABIC_ID}),
    ("https://www.tiktokv.com/share/video/7668090902816017671/", "post",
     {"post": "7668090902816017671"}),
    ("https://m.tiktok.com/v/6748451240264420610.html", "post", {"post": "6748451240264420610"}),
    ("https://vm.tiktok.com/ZTR45GpSF/", "post", {"short": "ZTR45GpSF"}),
    ("https://vt.tiktok.com/ZSe4FqkKd", "post", {"short": "ZSe4FqkKd"}),
    (f"{PUBLIC}/t/ZTRC5xgJp/", "post", {"short": "ZTRC5xgJp"}),
    (f"{PUBLIC}/@syria.witness", "channel", {"user": "syria.witness"}),
    ("https://tiktok.com/@corgibobaa/?lang=en", "channel", {"user": "corgibobaa"}),
])
def test_match(url, kind, ids):
    target = TikTokPlatform().match(url)
    assert target is not None and (target.kind, target.ids) == (kind, ids)


@pytest.mark.parametrize("url", [
    f"{PUBLIC}/", f"{PUBLIC}/login", f"{PUBLIC}/foryou", f"{PUBLIC}/explore",
    f"{PUBLIC}/search?q=aleppo", f"{PUBLIC}/tag/حلب", f"{PUBLIC}/music/sound-7106798200794926362",
    f"{PUBLIC}/@syria.witness/live", f"{PUBLIC}/@syria.witness/video/abc",
    f"{PUBLIC}/@syria.witness/video/1/comments", f"{PUBLIC}/@bad-name",
    f"{PUBLIC}/@syria.witness/collection/news-7300000000000000000",
    "https://vm.tiktok.com/", "https://vm.tiktok.com/ZTR45GpSF/extra",
    "https://m.tiktok.com/v/abc.html", "https://example.org/@syria.witness/video/1",
    "https://tiktok.com.example.org/@syria.witness/video/1",
    "ftp://www.tiktok.com/@syria.witness/video/1",
])
def test_no_match(url):
    assert TikTokPlatform().match(url) is None


def test_base_host_matches_only_when_overridden(tiktok):
    assert TikTokPlatform(tiktok.base).match(tiktok.post_url()).ids == {"user": USER,
                                                                        "post": ARABIC_ID}
    assert TikTokPlatform(tiktok.base).match(tiktok.channel_url()).kind == "channel"
    assert TikTokPlatform(tiktok.base).match(tiktok.short_url()).ids == {"short": SHORT_CODE}
    assert TikTokPlatform().match(tiktok.post_url()) is None
    assert TikTokPlatform().match(tiktok.channel_url()) is None


def _post(tiktok, url):
    platform = TikTokPlatform(tiktok.base)
    return asyncio.run(platform.extract_post(platform.match(url), urllib_fetch))


def test_arabic_post_every_field(tiktok):
    post = _post(tiktok, f"{PUBLIC}/@{USER}/video/{ARABIC_ID}")
    assert post.status == "ok" and post.platform == "tiktok" and post.post_id == ARABIC_ID
    assert post.url == f"{PUBLIC}/@{USER}/video/{ARABIC_ID}"
    assert (post.author_id, post.author_handle, post.author_name) == (AUTHOR_ID, USER, NICKNAME)
    assert post.published == ARABIC_PUBLISHED and post.edited is None
    assert post.text == ARABIC_TEXT  # line breaks and hashtags kept, RTL untouched
    assert post.language == "ar"
    assert post.counts == ARABIC_COUNTS  # statsV2's exact play count, not stats' 58300
    assert [(m.type, m.url, m.alt) for m in post.media] == [
        ("video", tiktok.video_url(), None),
        ("image", f"{tiktok.base}/media/tt-cover-{ARABIC_ID}.jpg", None)]
    assert post.place == PLACE
    assert (post.reply_to, post.quote_of, post.forwarded_from, post.title) == (None,) * 4
    assert post.source == [tiktok.post_url()]
    assert any(f"locationCreated, not a place): {REGION}" in note for note in post.notes)
    assert any(ARABIC_SOUND in note for note in post.notes)
    assert any("cookies" in note and "playAddr" in note for note in post.notes)


def test_the_video_and_the_post_page_are_served(tiktok):
    with urllib.request.urlopen(tiktok.video_url()) as answer:  # noqa: S310 - the stand-in
        assert answer.headers["Content-Type"] == "video/mp4"
        assert answer.read() == video_clip()
    with urllib.request.urlopen(tiktok.post_url()) as answer:  # noqa: S310 - the stand-in
        assert answer.status == 200 and b"__UNIVERSAL_DATA_FOR_REHYDRATION__" in answer.read()


def test_photo_post_images_title_and_sound(tiktok):
    post = _post(tiktok, tiktok.photo_url())
    assert post.status == "ok"
    assert post.url == f"{PUBLIC}/@{USER}/photo/{PHOTO_ID}"
    assert post.title == PHOTO_TITLE and post.text == PHOTO_TEXT
    assert [(m.type, m.url) for m in post.media] == [
        ("image", f"{tiktok.base}/media/tt-photo-{PHOTO_ID}-1.jpg"),
        ("image", f"{tiktok.base}/media/tt-photo-{PHOTO_ID}-2.jpg"),
        ("audio", f"{tiktok.base}/media/tt-sound-{PHOTO_ID}.m4a")]
    # A photo post is read from its /video/ page, which carries the post data.
    assert post.source == [f"{tiktok.base}/@{USER}/video/{PHOTO_ID}"]


def test_duet_quotes_the_post_it_answers(tiktok):
    post = _post(tiktok, tiktok.post_url(DUET_ID, OTHER_USER))
    assert post.quote_of == f"{PUBLIC}/@{USER}/video/{ARABIC_ID}"
    assert (post.author_id, post.author_handle, post.author_name) == (
        OTHER_ID, OTHER_USER, OTHER_NICKNAME)
    assert post.text == DUET_TEXT
    assert post.media[0].type == "video" and post.media[0].url == tiktok.video_url(DUET_ID)
    assert post.language is None  # TikTok's "un": undetermined
    assert not any("locationCreated" in note for note in post.notes)


def test_embed_url_reads_the_post_page(tiktok):
    post = _post(tiktok, f"{tiktok.base}/embed/v2/{ARABIC_ID}")
    assert post.source == [f"{tiktok.base}/@_/video/{ARABIC_ID}"]
    assert post.url == f"{PUBLIC}/@{USER}/video/{ARABIC_ID}" and post.text == ARABIC_TEXT


def test_short_link_leads_to_the_post(tiktok):
    before = len(tiktok.requests)
    post = _post(tiktok, tiktok.short_url())
    assert post.status == "ok" and post.post_id == ARABIC_ID and post.text == ARABIC_TEXT
    assert post.url == f"{PUBLIC}/@{USER}/video/{ARABIC_ID}"
    final = f"{tiktok.base}/@{USER}/video/{ARABIC_ID}?_r=1&_t=ZS-91bXkQ2"
    assert post.source == [tiktok.short_url(), final]
    assert f"read through the short link {PUBLIC}/t/{SHORT_CODE}/, which led to {final}" in (
        post.notes)
    # The redirect brought the post page: it is read, not fetched a second time.
    assert [r["path"] for r in tiktok.requests[before:]] == [
        f"/t/{SHORT_CODE}/", f"/@{USER}/video/{ARABIC_ID}?_r=1&_t=ZS-91bXkQ2"]


def test_public_short_link_is_read_on_the_replaced_base(tiktok):
    before = len(tiktok.requests)
    post = _post(tiktok, f"https://vm.tiktok.com/{SHORT_CODE}/")
    assert post.post_id == ARABIC_ID
    assert tiktok.requests[before]["path"] == f"/t/{SHORT_CODE}/"
    assert any(f"short link https://vm.tiktok.com/{SHORT_CODE}/" in n for n in post.notes)


def test_dead_short_link_is_unavailable(tiktok):
    post = _post(tiktok, tiktok.short_url(DEAD_SHORT))
    assert post.status == UNAVAILABLE and post.post_id == DEAD_SHORT
    assert post.url == f"{PUBLIC}/t/{DEAD_SHORT}/"
    assert "not to a post" in post.notes[0] and f"{tiktok.base}/?_r=1" in post.notes[0]
    assert "home page" in post.notes[0]


def test_short_link_to_a_profile_says_so(tiktok):
    with pytest.raises(PlatformError, match=f"{PROFILE_SHORT}/ leads to the profile"):
        _post(tiktok, tiktok.short_url(PROFILE_SHORT))


def test_short_link_on_the_public_host_is_fetched_there():
    asked = []

    async def gone(url, headers=None, *, method="GET", body=None):  # no network: a 404
        asked.append(url)
        return Fetched(url, 404, {"content-type": "text/html"}, b"<html></html>")

    platform = TikTokPlatform()
    post = asyncio.run(platform.extract_post(platform.match("https://vt.tiktok.com/ZSe4FqkKd"),
                                             gone))
    assert asked == ["https://vt.tiktok.com/ZSe4FqkKd/"]
    assert post.status == DELETED and "HTTP 404" in post.notes[0]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # the 3xx itself comes back, as the crawler's Scrapy fetch hands it over


async def unfollowed_fetch(url: str, headers: dict[str, str] | None = None, *,
                           method: str = "GET", body: bytes | None = None) -> Fetched:
    """A fetch that does not follow redirects (the crawler's, with handle_httpstatus_all)."""
    def get() -> Fetched:
        request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
        try:
            with urllib.request.build_opener(_NoRedirects).open(request, timeout=10) as answer:
                return Fetched(answer.url, answer.status,
                               {k.lower(): v for k, v in answer.headers.items()}, answer.read())
        except urllib.error.HTTPError as exc:
            return Fetched(url, exc.code, {k.lower(): v for k, v in exc.headers.items()},
                           exc.read())

    return await asyncio.to_thread(get)


def test_redirects_are_followed_when_fetch_does_not(tiktok):
    platform = TikTokPlatform(tiktok.base)
    before = len(tiktok.requests)
    post = asyncio.run(platform.extract_post(platform.match(tiktok.short_url()),
                                             unfollowed_fetch))
    final = f"{tiktok.base}/@{USER}/video/{ARABIC_ID}?_r=1&_t=ZS-91bXkQ2"
    assert post.status == "ok" and post.text == ARABIC_TEXT
    assert post.source == [tiktok.short_url(), final]
    assert [r["path"] for r in tiktok.requests[before:]] == [
        f"/t/{SHORT_CODE}/", f"/@{USER}/video/{ARABIC_ID}?_r=1&_t=ZS-91bXkQ2"]
    login = asyncio.run(platform.extract_post(platform.match(tiktok.post_url(LOGIN_ID)),
                                              unfollowed_fetch))
    assert login.status == "login-wall" and "login page" in login.notes[0]
    dead = asyncio.run(platform.extract_post(platform.match(tiktok.short_url(DEAD_SHORT)),
                                             unfollowed_fetch))
    assert dead.status == UNAVAILABLE and f"led to {tiktok.base}/?_r=1" in dead.notes[0]


def test_a_redirect_off_tiktok_is_not_followed(tiktok):
    platform = TikTokPlatform(tiktok.base)
    before = len(tiktok.requests)
    post = asyncio.run(platform.extract_post(platform.match(tiktok.short_url(OFFSITE_SHORT)),
                                             unfollowed_fetch))
    assert post.status == UNAVAILABLE
    assert "led to https://example.org/promo?_r=1, not to a post" in post.notes[0]
    assert "home page" not in post.notes[0]
    assert [r["path"] for r in tiktok.requests[before:]] == [f"/t/{OFFSITE_SHORT}/"]


@pytest.mark.parametrize(("post_id", "status", "said"), [
    (DELETED_ID, DELETED, "statusMsg 'status_deleted'"),
    (GEO_ID, UNAVAILABLE, "withholds the post in the region"),
    (GONE_ID, UNAVAILABLE, "does not say why; the post may be deleted, private, or blocked"),
    (PRIVATE_ID, UNAVAILABLE, "statusCode 10216 for the post: VIDEO_PRIVATE_BY_USER"),
    (BANNED_ID, SUSPENDED, "statusCode 10221 for the post: USER_BAN"),
])
def test_statuses_with_what_tiktok_said(tiktok, post_id, status, said):
    post = _post(tiktok, tiktok.post_url(post_id))
    assert post.status == status
    assert said in post.notes[0] and post.text is None and post.media == []
    assert post.url == f"{PUBLIC}/@{USER}/video/{post_id}"


@pytest.mark.parametrize(("message", "status", "word"), [
    ("item_privacy_authorization&status_deleted", DELETED, "deleted"),
    ("person_geo_fencing", UNAVAILABLE, "region"),
    ("author_status,status_reviewing", UNAVAILABLE, "under review"),
    ("item_privacy_authorization", UNAVAILABLE, "private"),
])
def test_the_reasons_tiktok_gives_for_10204(message, status, word):
    assert post_status(10204, message, "u")[0] == status
    assert word in post_status(10204, message, "u")[1]


def test_login_walls(tiktok):
    redirected = _post(tiktok, tiktok.post_url(LOGIN_ID))
    assert redirected.status == "login-wall"
    assert "login page" in redirected.notes[0] and f"{tiktok.base}/login?" in redirected.notes[0]
    classified = _post(tiktok, tiktok.post_url(CLASSIFIED_ID))
    assert classified.status == "login-wall" and classified.media == []
    assert "isContentClassified" in classified.notes[0]
    assert classified.author_handle == USER  # what TikTok does show is kept


@pytest.mark.parametrize(("post_id", "cause"), [
    (LIMITED_ID, "rate limited .* \\(HTTP 429\\)"),
    (CAPTCHA_ID, "bot check"),
    (BROKEN_ID, "no __UNIVERSAL_DATA_FOR_REHYDRATION__ script: TikTok's page layout changed"),
    (UNKNOWN_STATUS_ID, "statusCode 10299 \\('item_new_reason'\\).*none is claimed"),
])
def test_what_cannot_be_read_raises(tiktok, post_id, cause):
    with pytest.raises(PlatformError, match=cause) as raised:
        _post(tiktok, tiktok.post_url(post_id))
    assert post_id in str(raised.value)  # the message names the URL


def test_a_site_that_is_not_tiktok_is_a_layout_change(site):
    platform = TikTokPlatform(site.url("/").rstrip("/"))
    target = platform.match(site.url(f"/@{USER}/video/{ARABIC_ID}"))
    with pytest.raises(PlatformError, match="layout changed, or this is not TikTok"):
        asyncio.run(platform.extract_post(target, urllib_fetch))


def _listing(tiktok, user, limit):
    platform = TikTokPlatform(tiktok.base)
    before = len(tiktok.requests)
    refs = asyncio.run(platform.list_posts(platform.match(tiktok.channel_url(user)),
                                           urllib_fetch, limit))
    return refs, tiktok.requests[before:]


def _queries(requests):
    return [parse_qs(urlsplit(r["path"]).query) for r in requests
            if r["path"].startswith("/api/creator/item_list/")]


def test_listing_pages_back_newest_first(tiktok):
    refs, requests = _listing(tiktok, USER, 9)
    assert [r.post_id for r in refs] == [post_id for post_id, _ in LISTED[:9]]
    assert refs[0].url == f"{PUBLIC}/@{USER}/video/{LISTED[0][0]}"
    assert [r.published for r in refs] == sorted((r.published for r in refs), reverse=True)
    assert requests[0]["path"] == f"/@{USER}"
    queries = _queries(requests)
    assert len(queries) == 5 == len(requests) - 1
    assert {(q["aid"][0], q["type"][0], q["secUid"][0]) for q in queries} == {
        ("1988", "1", SEC_UID)}
    cursors = [int(q["cursor"][0]) for q in queries]
    assert cursors[0] >= NOW * 1000  # the first page: from now back
    # The next cursor is the oldest createTime of the page (PAGE items per answer) ...
    assert cursors[1] == LISTED[PAGE - 1][1] * 1000 and cursors[2] == LISTED[5][1] * 1000
    # ... and an empty week moves it a week back, until the older posts come.
    assert cursors[3] == cursors[2] - WEEK_MS and cursors[4] == cursors[3] - WEEK_MS
    assert [q["count"][0] for q in queries] == ["9", "5", "3", "3", "3"]
    # The listing says it skipped those empty weeks (a monitor and the user see it).
    assert len(refs.notes) == 1 and "2 week window(s)" in refs.notes[0]
    assert "skipped" in refs.notes[0] and f"@{USER}" in refs.notes[0]


def test_listing_limit_is_respected(tiktok):
    refs, requests = _listing(tiktok, USER, 3)
    assert [r.post_id for r in refs] == [post_id for post_id, _ in LISTED[:3]]
    assert len(_queries(requests)) == 1
    assert refs.notes == []  # no week skipped: nothing to say


def test_listing_the_whole_timeline_stops_when_tiktok_has_no_more(tiktok):
    refs, requests = _listing(tiktok, USER, 50)
    assert [r.post_id for r in refs] == [post_id for post_id, _ in LISTED]
    assert len(_queries(requests)) == 6


def test_listed_posts_are_captured_on_the_base(tiktok):
    refs, _ = _listing(tiktok, USER, 1)
    platform = TikTokPlatform(tiktok.base)
    page = platform.capture_url(refs[0].url)
    assert page == tiktok.post_url(refs[0].post_id)
    with urllib.request.urlopen(page) as answer:  # noqa: S310 - the stand-in
        assert answer.status == 200 and refs[0].post_id.encode() in answer.read()


def test_private_account_a_follower_sees_is_listed(tiktok):
    refs, _ = _listing(tiktok, "followed.private", 2)
    assert [r.post_id for r in refs] == [post_id for post_id, _ in LISTED[:2]]


@pytest.mark.parametrize(("user", "cause"), [
    ("banned.account", "@banned.account is banned \\(statusCode 10221"),
    ("nobody.here", "@nobody.here does not exist \\(statusCode 10202"),
    ("private.account", "@private.account is private \\(statusCode 10222"),
    ("signed.only", "answered an empty body .* signed parameters"),
    ("checked.list", "did not answer JSON .* a bot check"),
])
def test_listing_what_cannot_be_listed(tiktok, user, cause):
    with pytest.raises(PlatformError, match=cause):
        _listing(tiktok, user, 5)


def test_listing_gives_up_after_empty_weeks(tiktok):
    before = len(tiktok.requests)
    with pytest.raises(PlatformError, match=f"none for {EMPTY_WEEKS} week windows"):
        _listing(tiktok, "quiet.account", 5)
    assert len(_queries(tiktok.requests[before:])) == EMPTY_WEEKS


def test_nothing_leaves_the_base(tiktok):
    posts = [_post(tiktok, url) for url in (
        tiktok.post_url(), tiktok.photo_url(), tiktok.short_url(),
        f"{PUBLIC}/@{USER}/video/{DUET_ID}", f"https://vm.tiktok.com/{SHORT_CODE}/")]
    for post in posts:
        assert post.source and all(s.startswith(tiktok.base + "/") for s in post.source)
        assert all(m.url.startswith(tiktok.base + "/media/") for m in post.media)
        assert post.url.startswith(PUBLIC + "/")  # the record names the public post
    # Every request the module made arrived at the stand-in, over its one base.
    assert tiktok.requests and all(r["headers"].get("Host") == urlsplit(tiktok.base).netloc
                                   for r in tiktok.requests)
