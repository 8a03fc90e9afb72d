"""The X module against the embed-service stand-in."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import pytest

from crawlers.platforms import x as x_module
from crawlers.platforms.base import Fetched, PlatformError
from crawlers.platforms.x import XPlatform, embed_token, published_text
from tests.platform_fixtures import urllib_fetch
from tests.platform_fixtures.x import (
    AGE_ID,
    ARABIC_ID,
    ARABIC_TEXT,
    DELETED_ID,
    EDITED_FIRST_ID,
    EDITED_ID,
    LAYOUT_ID,
    MISSING_ID,
    PHOTO_ALT,
    PHOTO_ID,
    PHOTO_TEXT,
    PLAIN_IDS,
    PROTECTED_ID,
    QUIET_USER,
    QUOTE_ID,
    QUOTED_ID,
    RATE_ID,
    REPLY_ID,
    REPLY_TEXT,
    SUSPENDED_ID,
    TOKENS,
    USER,
    USER_ID,
    USER_NAME,
    VIDEO_PATH,
    XFixture,
)


@pytest.fixture(scope="module")
def x():
    with XFixture() as server:
        yield server


@pytest.mark.parametrize(("url", "kind", "ids"), [
    ("https://x.com/halab_witness/status/2123691690687090689", "post",
     {"user": "halab_witness", "post": "2123691690687090689"}),
    ("https://twitter.com/halab_witness/status/2123691690687090689?s=20", "post",
     {"user": "halab_witness", "post": "2123691690687090689"}),
    ("https://mobile.twitter.com/halab_witness/statuses/42/", "post",
     {"user": "halab_witness", "post": "42"}),
    ("https://www.x.com/halab_witness/status/42/photo/2", "post",
     {"user": "halab_witness", "post": "42"}),
    ("https://x.com/halab_witness/status/42/video/1", "post",
     {"user": "halab_witness", "post": "42"}),
    ("https://x.com/halab_witness/status/42/analytics", "post",
     {"user": "halab_witness", "post": "42"}),
    ("https://x.com/i/web/status/42", "post", {"post": "42"}),
    ("https://x.com/i/status/42", "post", {"post": "42"}),
    ("https://twitter.com/statuses/42", "post", {"post": "42"}),
    ("https://cdn.syndication.twimg.com/tweet-result?id=42&lang=en&token=x", "post",
     {"post": "42"}),
    ("https://x.com/halab_witness", "channel", {"user": "halab_witness"}),
    ("https://twitter.com/Halab_Witness/", "channel", {"user": "Halab_Witness"}),
    ("https://mobile.x.com/halab_witness/with_replies", "channel", {"user": "halab_witness"}),
    ("https://x.com/a", "channel", {"user": "a"}),
    ("https://syndication.twitter.com/srv/timeline-profile/screen-name/halab_witness",
     "channel", {"user": "halab_witness"}),
])
def test_match(url, kind, ids):
    target = XPlatform().match(url)
    assert target is not None and (target.kind, target.ids) == (kind, ids)


@pytest.mark.parametrize("url", [
    "https://x.com/home", "https://x.com/explore", "https://x.com/search?q=aleppo",
    "https://x.com/settings/account", "https://x.com/i/flow/login", "https://x.com/login",
    "https://x.com/hashtag/حلب", "https://x.com/intent/tweet?text=hi", "https://x.com/messages",
    "https://x.com/notifications", "https://x.com/compose/post", "https://x.com/tos",
    "https://x.com/privacy", "https://x.com/",
    "https://x.com/halab_witness/status/abc", "https://x.com/halab_witness/status/42/extra",
    "https://x.com/a_name_far_too_long_for_x/status/42", "https://x.com/halab_witness/followers",
    "https://example.org/halab_witness/status/42", "https://t.co/Qx7LmA2pZk",
    "ftp://x.com/halab_witness/status/42", "https://cdn.syndication.twimg.com/halab_witness",
    "https://cdn.syndication.twimg.com/tweet-result?id=abc",
])
def test_no_match(url):
    assert XPlatform().match(url) is None


def test_base_host_matches_only_when_overridden(x):
    platform = XPlatform(x.base)
    assert platform.match(x.post_url()).ids == {"user": USER, "post": ARABIC_ID}
    assert platform.match(x.channel_url()).kind == "channel"
    assert platform.match(f"{x.base}/srv/timeline-profile/screen-name/{USER}").kind == "channel"
    assert platform.match(f"{x.base}/settings") is None
    assert XPlatform().match(x.post_url()) is None
    assert XPlatform().match(x.channel_url()) is None


def test_embed_token_is_the_embeds_formula():
    # Values from Node: (Number(id) / 1e15 * Math.PI).toString(36).replace(/(0+|\.)/g, "")
    assert embed_token("20") == "6dq1a2xwd93"
    assert embed_token("1") == "bhi2ay3f28n"
    assert embed_token("1234567890123456789") == "2zqic77uqyk"
    assert embed_token("1869304832245649849") == "4j4le8zbre8"
    assert embed_token("1592868735316373505") == "3v57jwzrdl"
    assert {post_id: embed_token(post_id) for post_id in TOKENS} == TOKENS


def _post(x, post_id, user=USER):
    platform = XPlatform(x.base)
    return asyncio.run(platform.extract_post(platform.match(x.post_url(post_id, user)),
                                             urllib_fetch))


def test_arabic_post_every_field(x):
    before = len(x.requests)
    post = _post(x, ARABIC_ID)
    assert post.status == "ok" and post.post_id == ARABIC_ID
    assert post.url == f"https://x.com/{USER}/status/{ARABIC_ID}"
    assert post.text == ARABIC_TEXT  # line breaks kept, RTL untouched, link expanded
    assert post.language == "ar"
    assert (post.author_id, post.author_handle, post.author_name) == (USER_ID, USER, USER_NAME)
    assert post.published == "2026-11-20T08:15:30Z" and post.edited is None
    assert post.counts == {"replies": 87, "likes": 1532, "video_views": 48210}
    assert (post.reply_to, post.quote_of, post.forwarded_from, post.place, post.title) == (
        None, None, None, None, None)
    # the highest-bitrate MP4 of four variants (an HLS playlist, 256k, 2176k, 832k)
    assert [(m.type, m.url, m.alt) for m in post.media] == [
        ("video", f"{x.base}{VIDEO_PATH}", None)]
    assert post.source == [f"{x.base}/tweet-result?id={ARABIC_ID}&lang=en"
                           f"&token={TOKENS[ARABIC_ID]}"]
    assert any("https://t.co/Vd9RkT3mQe" in n and "removed" in n for n in post.notes)
    assert any("https://t.co/Qx7LmA2pZk" in n and "expanded_url" in n for n in post.notes)
    sent = x.requests[before:]
    assert [urlsplit(r["path"]).path for r in sent] == ["/tweet-result"]
    assert parse_qs(urlsplit(sent[0]["path"]).query) == {
        "id": [ARABIC_ID], "lang": ["en"], "token": [TOKENS[ARABIC_ID]]}


def test_post_page_and_video_are_served(x):
    page = asyncio.run(urllib_fetch(x.post_url()))
    assert page.status == 200 and "text/html" in page.headers["content-type"]
    assert "<noscript>" in page.text() and 'property="og:description"' in page.text()
    video = asyncio.run(urllib_fetch(f"{x.base}{VIDEO_PATH}"))
    assert video.status == 200 and video.headers["content-type"] == "video/mp4"
    assert video.body[4:8] == b"ftyp"


def test_photos_alt_place_and_escaped_text(x):
    post = _post(x, PHOTO_ID)
    assert post.text == PHOTO_TEXT  # "&amp;" and "&gt;" in the record shown as "&" and ">"
    assert [(m.type, m.url, m.alt) for m in post.media] == [
        ("image", f"{x.base}/media/x-bakery-1.jpg", PHOTO_ALT),
        ("image", f"{x.base}/media/x-bakery-2.jpg", None)]
    assert post.place == "Aleppo, Syria"
    assert post.counts == {"replies": 9, "likes": 240}


def test_reply_quote_and_link_card(x):
    reply = _post(x, REPLY_ID, "idlib_medic")
    assert reply.reply_to == f"https://x.com/{USER}/status/{ARABIC_ID}"
    assert reply.text == REPLY_TEXT  # the leading @mention is part of the published text
    assert reply.author_handle == "idlib_medic" and reply.quote_of is None
    assert [(m.type, m.url) for m in reply.media] == [
        ("link", "https://example.org/council/statement-20-11")]
    assert not any("URL names" in n for n in reply.notes)
    renamed = _post(x, REPLY_ID, USER)  # X ignores the name in the URL: the note says so
    assert renamed.url == f"https://x.com/idlib_medic/status/{REPLY_ID}"
    assert any("@idlib_medic" in n for n in renamed.notes)
    quote = _post(x, QUOTE_ID)
    assert quote.quote_of == f"https://x.com/un_observer_sy/status/{QUOTED_ID}"
    assert quote.reply_to is None and quote.notes == []


def test_edited_post_reads_its_first_version(x):
    latest = _post(x, EDITED_ID)
    assert (latest.published, latest.edited) == ("2026-11-20T11:00:00Z", "2026-11-20T11:12:30Z")
    assert latest.text == "Casualty count corrected: 4 (hospital confirmed)"
    assert [parse_qs(urlsplit(u).query)["id"][0] for u in latest.source] == [
        EDITED_ID, EDITED_FIRST_ID]
    first = _post(x, EDITED_FIRST_ID)
    assert (first.published, first.edited) == ("2026-11-20T11:00:00Z", "2026-11-20T11:12:30Z")
    assert first.text == "Casualty count: 3"
    assert any(f"https://x.com/{USER}/status/{EDITED_ID}" in n for n in first.notes)


@pytest.mark.parametrize(("post_id", "status", "said"), [
    (DELETED_ID, "deleted", "deleted by the Post author"),
    (SUSPENDED_ID, "suspended", "from a suspended account"),
    (AGE_ID, "login-wall", "you\u2019ll need to log in to X"),
    (PROTECTED_ID, "unavailable", "limits who can view their Posts"),
    (MISSING_ID, "deleted", "does not know this post"),
])
def test_statuses(x, post_id, status, said):
    post = _post(x, post_id)
    assert post.status == status
    assert len(post.notes) == 1 and said in post.notes[0]
    assert post.text is None and post.author_handle is None and post.media == []


def test_rate_limit_and_layout_changes(x, site):
    with pytest.raises(PlatformError, match="429"):
        _post(x, RATE_ID)
    with pytest.raises(PlatformError, match="no user"):
        _post(x, LAYOUT_ID)
    elsewhere = XPlatform(site.url("/").rstrip("/"))  # a web site that is not X
    with pytest.raises(PlatformError, match="not X"):
        asyncio.run(elsewhere.extract_post(elsewhere.match(f"https://x.com/{USER}/status/1"),
                                           urllib_fetch))


def test_html_where_json_was_expected():
    async def page(url, headers=None, **_):
        return Fetched(url, 200, {"content-type": "text/html"}, b"<html>Log in to X</html>")

    platform = XPlatform()
    with pytest.raises(PlatformError, match="text/html"):
        asyncio.run(platform.extract_post(platform.match("https://x.com/i/status/5"), page))


def test_the_stand_in_refuses_a_wrong_token_and_the_module_says_so(x, monkeypatch):
    wrong = asyncio.run(urllib_fetch(f"{x.base}/tweet-result?id={ARABIC_ID}&lang=en&token=abc"))
    missing = asyncio.run(urllib_fetch(f"{x.base}/tweet-result?id={ARABIC_ID}&lang=en"))
    assert (wrong.status, missing.status) == (400, 400)
    monkeypatch.setattr(x_module, "embed_token", lambda post_id: "notthetoken")
    with pytest.raises(PlatformError, match="token"):
        _post(x, ARABIC_ID)


def test_text_keeps_a_tail_that_is_not_a_media_link():
    record = {"text": "See https://t.co/abc", "display_text_range": [0, 3],
              "entities": {"urls": [{"url": "https://t.co/abc",
                                     "expanded_url": "https://example.org/a"}]}}
    text, notes = published_text(record)
    assert text == "See https://example.org/a"
    assert any("kept" in n for n in notes)


def test_listing_newest_first_one_page(x):
    platform = XPlatform(x.base)
    before = len(x.requests)
    refs = asyncio.run(platform.list_posts(platform.match(x.channel_url()), urllib_fetch, 4))
    assert [r.post_id for r in refs] == list(reversed(PLAIN_IDS))[:4]
    assert refs[0].url == f"https://x.com/{USER}/status/{PLAIN_IDS[-1]}"
    assert refs[0].published == "2026-11-20T18:52:00Z"
    sent = [r["path"] for r in x.requests[before:]]
    assert sent == [f"/srv/timeline-profile/screen-name/{USER}"]  # no paging: one request
    every = asyncio.run(platform.list_posts(platform.match(x.channel_url()), urllib_fetch, 50))
    # the pinned Arabic post comes first on the page, yet is the oldest
    assert [r.post_id for r in every] == [*reversed(PLAIN_IDS), EDITED_ID, QUOTE_ID, PHOTO_ID,
                                          ARABIC_ID]
    assert platform.capture_url(every[-1].url) == x.post_url(ARABIC_ID)


def test_empty_or_missing_timeline_is_an_error(x):
    platform = XPlatform(x.base)
    with pytest.raises(PlatformError, match="lists no posts"):
        asyncio.run(platform.list_posts(platform.match(x.channel_url(QUIET_USER)),
                                        urllib_fetch, 5))
    with pytest.raises(PlatformError, match="404"):
        asyncio.run(platform.list_posts(platform.match(x.channel_url("nobody_here")),
                                        urllib_fetch, 5))


def test_timeline_without_next_data_is_a_layout_change(site):
    platform = XPlatform(site.url("/").rstrip("/"))
    with pytest.raises(PlatformError, match="__NEXT_DATA__|404"):
        asyncio.run(platform.list_posts(platform.match("https://x.com/halab_witness"),
                                        urllib_fetch, 5))


def test_nothing_leaves_the_base(x):
    for post_id in (ARABIC_ID, EDITED_ID, EDITED_FIRST_ID, REPLY_ID, DELETED_ID):
        post = _post(x, post_id)
        assert post.source and all(u.startswith(f"{x.base}/") for u in post.source)
        assert all(m.url.startswith(x.base) for m in post.media if m.type != "link")


def test_public_hosts_without_a_base():
    asked: list[str] = []

    async def record(url, headers=None, **_):
        asked.append(url)
        return Fetched(url, 404, {}, b"")

    platform = XPlatform()
    post = asyncio.run(platform.extract_post(platform.match("https://x.com/i/status/20"),
                                             record))
    assert post.status == "deleted"
    assert asked == ["https://cdn.syndication.twimg.com/tweet-result?id=20&lang=en"
                     "&token=6dq1a2xwd93"]
    with pytest.raises(PlatformError):
        asyncio.run(platform.list_posts(platform.match("https://x.com/halab_witness"), record, 5))
    assert asked[-1] == ("https://syndication.twitter.com/srv/timeline-profile/screen-name/"
                         "halab_witness")
