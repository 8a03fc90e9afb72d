"""The YouTube module against the watch-page / feed / browse stand-in."""

from __future__ import annotations

import asyncio
import json

import pytest

from crawlers.platforms.base import Fetched, PlatformError
from crawlers.platforms.youtube import YouTubePlatform
from tests.platform_fixtures import real_sample, saved_fetch, urllib_fetch
from tests.platform_fixtures import youtube as yt
from tests.platform_fixtures.youtube import YouTubeFixture


@pytest.fixture(scope="module")
def youtube():
    with YouTubeFixture() as server:
        yield server


V = yt.ARABIC_ID
UC = yt.CHANNEL_ID


@pytest.mark.parametrize(("url", "kind", "ids"), [
    (f"https://www.youtube.com/watch?v={V}", "post", {"post": V}),
    (f"https://www.youtube.com/watch?app=desktop&v={V}&list=PLx&t=30s", "post", {"post": V}),
    (f"https://youtube.com/watch?v={V}", "post", {"post": V}),
    (f"https://m.youtube.com/watch?v={V}", "post", {"post": V}),
    (f"https://music.youtube.com/watch?v={V}", "post", {"post": V}),
    (f"https://youtu.be/{V}?si=AbCdEf", "post", {"post": V}),
    (f"https://www.youtube.com/shorts/{V}?feature=share", "post", {"post": V}),
    (f"https://www.youtube.com/live/{V}", "post", {"post": V}),
    (f"https://www.youtube.com/embed/{V}?start=10", "post", {"post": V}),
    (f"https://www.youtube-nocookie.com/embed/{V}", "post", {"post": V}),
    (f"https://www.youtube.com/v/{V}", "post", {"post": V}),
    ("https://www.youtube.com/@syriawitness", "channel", {"channel": "@syriawitness"}),
    ("https://www.youtube.com/@syriawitness/videos", "channel",
     {"channel": "@syriawitness", "tab": "videos"}),
    ("https://www.youtube.com/@syriawitness/shorts/", "channel",
     {"channel": "@syriawitness", "tab": "shorts"}),
    ("https://www.youtube.com/@%D8%B4%D8%A7%D9%87%D8%AF", "channel", {"channel": "@شاهد"}),
    (f"https://www.youtube.com/channel/{UC}/streams", "channel",
     {"channel": f"channel/{UC}", "channel_id": UC, "tab": "streams"}),
    ("https://www.youtube.com/c/SyriaWitness/featured", "channel",
     {"channel": "c/SyriaWitness", "tab": "featured"}),
    ("https://www.youtube.com/user/syriawitness", "channel", {"channel": "user/syriawitness"}),
])
def test_match(url, kind, ids):
    target = YouTubePlatform().match(url)
    assert target is not None and (target.kind, target.ids) == (kind, ids)


@pytest.mark.parametrize("url", [
    "https://www.youtube.com/", "https://www.youtube.com/watch", "https://www.youtube.com/"
    "watch?v=tooShort", f"https://www.youtube.com/watch?list=PL{V}",
    "https://www.youtube.com/playlist?list=PLabcdefghijk", "https://www.youtube.com/feed/trending",
    "https://www.youtube.com/results?search_query=aleppo", "https://www.youtube.com/account",
    "https://www.youtube.com/hashtag/syria", "https://www.youtube.com/@ab",
    "https://www.youtube.com/@syriawitness/community", "https://www.youtube.com/@syriawitness/live",
    "https://www.youtube.com/channel/UCshort", f"https://www.youtube.com/shorts/{V}/extra",
    "https://youtu.be/", f"https://youtu.be/{V}/x", f"https://example.org/watch?v={V}",
    "https://www.youtube.com/syriawitness", f"ftp://www.youtube.com/watch?v={V}",
])
def test_no_match(url):
    assert YouTubePlatform().match(url) is None


def test_base_host_matches_only_when_overridden(youtube):
    platform = YouTubePlatform(youtube.base)
    assert platform.match(youtube.post_url()).ids == {"post": V}
    assert platform.match(youtube.channel_url()).ids == {"channel": "@syriawitness"}
    assert platform.match(f"{youtube.base}/results?search_query=x") is None
    assert YouTubePlatform().match(youtube.post_url()) is None
    assert YouTubePlatform().match(youtube.channel_url()) is None


class _Recording:
    """urllib_fetch, remembering every URL and request it made."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    async def __call__(self, url, headers=None, *, method="GET", body=None):
        self.calls.append({"url": url, "headers": headers or {}, "method": method,
                           "body": body})
        return await urllib_fetch(url, headers, method=method, body=body)


def _post(youtube, video, fetch=urllib_fetch):
    platform = YouTubePlatform(youtube.base)
    return asyncio.run(platform.extract_post(platform.match(youtube.post_url(video)), fetch))


def test_arabic_post_every_field(youtube):
    fetch = _Recording()
    post = _post(youtube, V, fetch)
    assert post.status == "ok"
    assert post.platform == "youtube" and post.post_id == V
    assert post.url == f"https://www.youtube.com/watch?v={V}"  # public, not the stand-in
    assert post.title == yt.ARABIC_TITLE
    assert post.text == yt.ARABIC_TEXT  # line breaks, link, hashtags and RTL text as published
    assert post.author_id == UC
    assert post.author_handle == "syriawitness"
    assert post.author_name == yt.CHANNEL_NAME
    assert post.published == yt.ARABIC_PUBLISHED == "2026-11-20T09:30:05Z"  # from -08:00
    assert post.edited is None and post.language is None
    assert post.counts == {"views": yt.ARABIC_VIEWS, "likes": yt.ARABIC_LIKES,
                           "replies": yt.ARABIC_COMMENTS}
    assert post.reply_to is None and post.quote_of is None and post.forwarded_from is None
    assert post.place is None  # the hashtags above the title are not a place
    assert post.notes == []
    watch = f"{youtube.base}/watch?v={V}&hl=en&has_verified=1&bpctr=9999999999"
    assert post.source == [watch]
    assert [c["url"] for c in fetch.calls] == [watch]  # one request
    assert fetch.calls[0]["headers"]["Accept-Language"] == "en"


def test_media_is_the_watch_page_and_the_largest_thumbnail(youtube):
    post = _post(youtube, V)
    assert [(m.type, m.url, m.alt) for m in post.media] == [
        ("video", youtube.post_url(), None),  # what yt-dlp is handed, on the stand-in
        ("image", f"{youtube.base}/vi/{V}/maxresdefault.jpg", None)]
    assert not any("googlevideo" in m.url for m in post.media)  # signed streams never listed
    public = YouTubePlatform()
    canonical = f"https://www.youtube.com/watch?v={V}"
    assert public.capture_url(canonical) == canonical  # on YouTube itself: the public URL


def test_place_hidden_likes_and_rounded_comment_count(youtube):
    post = _post(youtube, "ytv00000069")
    assert post.place == yt.PLACE
    assert post.counts == {"views": 6900}  # neither hidden likes nor "1.2K" become numbers
    assert "likes not shown (hidden by the uploader)" in post.notes
    assert "comment count shown only as '1.2K': not recorded as a count" in post.notes
    assert post.published == "2026-11-20T08:30:05Z"


def test_short_and_date_only_page(youtube):
    platform = YouTubePlatform(youtube.base)
    short = asyncio.run(platform.extract_post(
        platform.match(f"{youtube.base}/shorts/ytv00000065"), urllib_fetch))
    assert (short.post_id, short.url) == ("ytv00000065",
                                          "https://www.youtube.com/watch?v=ytv00000065")
    assert short.status == "ok" and short.counts["likes"] == 195
    legacy = _post(youtube, yt.LEGACY_ID)
    assert legacy.published is None  # a date alone is not turned into a time
    assert legacy.counts["likes"] == yt.LEGACY_LIKES  # the older like button, exact
    assert any("only the date 2019-04-02" in n for n in legacy.notes)


@pytest.mark.parametrize(("video", "status", "said"), [
    (yt.DELETED_ID, "deleted", "This video has been removed by the uploader"),
    (yt.TERMINATED_ID, "suspended", "account associated with this video has been terminated"),
    (yt.PRIVATE_ID, "unavailable", "This video is private"),
    (yt.AGE_ID, "unavailable", "Sign in to confirm your age"),
    (yt.GEO_ID, "unavailable", "not made this video available in your country"),
    (yt.MISSING_ID, "deleted", "does not say whether it was removed or never published"),
    (yt.LOGIN_ID, "login-wall", "Google's sign-in page"),
])
def test_statuses_quote_youtube(youtube, video, status, said):
    post = _post(youtube, video)
    assert post.status == status
    assert any(said in note for note in post.notes), post.notes
    assert not any(m.type == "video" for m in post.media)  # nothing for yt-dlp to download


def test_age_gate_note_says_why_it_is_not_a_login_wall(youtube):
    post = _post(youtube, yt.AGE_ID)
    assert "age-restricted: a signed-in adult account could open it" in post.notes[0]


def test_geo_blocked_video_keeps_what_youtube_still_shows(youtube):
    post = _post(youtube, yt.GEO_ID)
    assert post.status == "unavailable"
    assert (post.title, post.author_id, post.counts) == ("Archive footage", UC,
                                                         {"views": 5120})
    assert [m.type for m in post.media] == ["image"]


def test_bot_check_rate_limit_and_layout_change_raise(youtube, site):
    with pytest.raises(PlatformError, match="not a bot.*says nothing about the video"):
        _post(youtube, yt.BOT_ID)
    with pytest.raises(PlatformError, match=r"rate limited .*rateLimitd1.*HTTP 429"):
        _post(youtube, yt.RATE_LIMITED_ID)
    with pytest.raises(PlatformError, match="no ytInitialPlayerResponse"):
        _post(youtube, yt.LAYOUT_ID)
    elsewhere = YouTubePlatform(site.url("/").rstrip("/"))  # a web site that is not YouTube
    with pytest.raises(PlatformError, match="no ytInitialPlayerResponse"):
        asyncio.run(elsewhere.extract_post(elsewhere.match(f"https://youtu.be/{V}"),
                                           urllib_fetch))


def test_consent_page_raises():
    async def consent(url, headers=None, *, method="GET", body=None):
        return Fetched("https://consent.youtube.com/m?continue=x&gl=DE", 200,
                       {"content-type": "text/html"}, b"<html>Before you continue</html>")

    platform = YouTubePlatform()
    with pytest.raises(PlatformError, match="consent page"):
        asyncio.run(platform.extract_post(platform.match(f"https://youtu.be/{V}"), consent))


def _list(youtube, url, limit, fetch=urllib_fetch):
    platform = YouTubePlatform(youtube.base)
    return asyncio.run(platform.list_posts(platform.match(url), fetch, limit))


def test_listing_within_the_feed(youtube):
    fetch = _Recording()
    refs = _list(youtube, youtube.channel_url(), 5, fetch)
    assert [r.post_id for r in refs] == [V, "ytv00000069", "ytv00000068", "ytv00000067",
                                         "ytv00000066"]
    assert refs[0].url == f"https://www.youtube.com/watch?v={V}"
    assert refs[0].published == yt.ARABIC_PUBLISHED and refs[4].published == \
        "2026-11-20T05:30:05Z"
    assert [(c["method"], c["url"]) for c in fetch.calls] == [
        ("GET", f"{youtube.base}/@syriawitness/videos?hl=en"),
        ("GET", f"{youtube.base}/feeds/videos.xml?channel_id={UC}")]


def test_listing_past_the_feed_follows_the_grid_and_its_continuations(youtube):
    fetch = _Recording()
    refs = _list(youtube, youtube.channel_url(), 100, fetch)
    ids = [r.post_id for r in refs]
    feed = [yt.video_id(n) for n in range(yt.UPLOADS, yt.UPLOADS - yt.FEED_SIZE, -1)]
    rest = [yt.video_id(n) for n in yt.regular_videos() if yt.video_id(n) not in feed]
    assert ids == feed + rest  # newest first: whatever the feed lacks is older
    assert len(ids) == len(set(ids)) == 66  # older Shorts are only on the Shorts tab
    assert "ytv00000065" in ids and "ytv00000052" not in ids
    assert all(r.published for r in refs[:15]) and not any(r.published for r in refs[15:])
    posts = [c for c in fetch.calls if c["method"] == "POST"]
    assert [c["url"] for c in posts] == [f"{youtube.base}/youtubei/v1/browse?prettyPrint=false"] * 2
    bodies = [json.loads(c["body"]) for c in posts]
    assert [b["continuation"] for b in bodies] == yt.TOKENS  # the page's token, then the next
    assert {b["context"]["client"]["clientVersion"] for b in bodies} == {yt.CLIENT_VERSION}
    assert posts[0]["headers"]["X-YouTube-Client-Version"] == yt.CLIENT_VERSION
    assert len(fetch.calls) == 4


def test_listing_limit_is_respected_across_sources(youtube):
    fetch = _Recording()
    refs = _list(youtube, youtube.channel_url(), 20, fetch)
    assert len(refs) == 20
    assert [r.post_id for r in refs[15:]] == ["ytv00000055", "ytv00000054", "ytv00000053",
                                              "ytv00000051", "ytv00000050"]
    assert not any(c["method"] == "POST" for c in fetch.calls)  # the first grid page sufficed
    fetch = _Recording()
    refs = _list(youtube, youtube.channel_url(), 40, fetch)
    assert len(refs) == 40 and refs[-1].post_id == "ytv00000029"  # the second grid page's
    assert [c["method"] for c in fetch.calls] == ["GET", "GET", "POST"]  # one page, no more
    assert _list(youtube, youtube.channel_url(), 0).refs == []


def test_listing_shorts_tab_and_channel_id_url(youtube):
    shorts = _list(youtube, f"{youtube.channel_url()}/shorts", 100)
    assert [r.post_id for r in shorts[15:]] == ["ytv00000052", "ytv00000039", "ytv00000026",
                                                "ytv00000013"]
    by_id = _list(youtube, f"{youtube.base}/channel/{UC}/videos", 3)
    assert [r.post_id for r in by_id] == [V, "ytv00000069", "ytv00000068"]


def test_feed_outage_falls_back_to_the_grid_with_a_note(youtube):
    refs = _list(youtube, f"{youtube.base}/@feeddown/videos", 30)
    grid = [yt.video_id(n) for n in yt.regular_videos()]  # the videos tab, newest first
    assert len(refs) == 30 and [r.post_id for r in refs] == grid[:30]
    assert all(r.published is None for r in refs)  # the grid shows no exact times
    assert len(refs.notes) == 1
    assert "feed" in refs.notes[0] and "HTTP 404" in refs.notes[0]
    assert "without exact publication times" in refs.notes[0]
    assert _list(youtube, youtube.channel_url(), 100).notes == []


@pytest.mark.parametrize(("url", "error"), [
    ("/@terminatedchan", "This account has been terminated for a violation"),
    ("/@nobodyhere", "no channel at .*HTTP 404"),
    ("/@syriawitness/streams", "no list of the channel's streams"),
])
def test_listing_failures_say_why(youtube, url, error):
    with pytest.raises(PlatformError, match=error):
        _list(youtube, f"{youtube.base}{url}", 30)


def test_refused_continuation_raises_with_youtubes_message(youtube):
    platform = YouTubePlatform(youtube.base)
    with pytest.raises(PlatformError, match="HTTP 400.*invalid argument"):
        asyncio.run(platform._more(urllib_fetch, "not-a-token", yt.CLIENT_VERSION))


def test_nothing_is_fetched_off_the_base(youtube):
    fetch = _Recording()
    posts = [_post(youtube, v, fetch) for v in (V, "ytv00000069", yt.GEO_ID, yt.LOGIN_ID)]
    _list(youtube, youtube.channel_url(), 100, fetch)
    assert fetch.calls and all(c["url"].startswith(youtube.base + "/") for c in fetch.calls)
    for post in posts:
        assert all(s.startswith(youtube.base + "/") for s in post.source)
        assert all(m.url.startswith(youtube.base + "/") for m in post.media)


def _real_watch(video: str):  # noqa: ANN202 - a Post
    page = real_sample("youtube", f"watch_{video}.html")
    platform = YouTubePlatform()
    target = platform.match(f"https://www.youtube.com/watch?v={video}")
    return asyncio.run(platform.extract_post(target, saved_fetch(page, "text/html")))


def test_real_page_with_the_older_like_button():
    post = _real_watch("QRS8MkLhQmM")
    assert post.status == "ok" and post.title == "YouTube Captions and Subtitles"
    assert post.counts["likes"] == 3907  # "like this video along with 3,907 other people"
    assert not any("like" in n for n in post.notes)


@pytest.mark.parametrize(("video", "said"), [
    ("m8uHb5jIGN8", "Private video"),
    ("5YceQ8YqYMc", "This live stream recording is not available."),
])
def test_real_pages_of_videos_that_do_not_play(video, said):
    post = _real_watch(video)
    assert post.status == "unavailable"
    assert any(said in note for note in post.notes), post.notes
