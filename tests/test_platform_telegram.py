"""The Telegram module against the web-preview stand-in."""

from __future__ import annotations

import asyncio

import pytest

from crawlers.platforms.base import PlatformError
from crawlers.platforms.telegram import TelegramPlatform, parse_count
from tests.platform_fixtures import real_sample, saved_fetch, urllib_fetch
from tests.platform_fixtures.telegram import ARABIC, TITLE, TOO_BIG, TelegramFixture


@pytest.fixture(scope="module")
def telegram():
    with TelegramFixture() as server:
        yield server


@pytest.mark.parametrize(("url", "kind", "ids"), [
    ("https://t.me/syriawitness/101", "post", {"channel": "syriawitness", "post": "101"}),
    ("https://t.me/s/syriawitness/101", "post", {"channel": "syriawitness", "post": "101"}),
    ("https://telegram.me/syriawitness", "channel", {"channel": "syriawitness"}),
    ("https://t.me/s/syriawitness", "channel", {"channel": "syriawitness"}),
])
def test_match(url, kind, ids):
    target = TelegramPlatform().match(url)
    assert target is not None and (target.kind, target.ids) == (kind, ids)


@pytest.mark.parametrize("url", [
    "https://t.me/+AbCdEf", "https://t.me/joinchat/AAAA", "https://example.org/syriawitness/1",
    "https://t.me/syriawitness/101/extra", "https://t.me/", "https://t.me/ab/1",
])
def test_no_match(url):
    assert TelegramPlatform().match(url) is None


def test_base_host_matches(telegram):
    platform = TelegramPlatform(telegram.base)
    assert platform.match(f"{telegram.base}/syriawitness/105").kind == "post"
    assert TelegramPlatform().match(f"{telegram.base}/syriawitness/105") is None


def _post(telegram, number):
    platform = TelegramPlatform(telegram.base)
    target = platform.match(f"https://t.me/syriawitness/{number}")
    return asyncio.run(platform.extract_post(target, urllib_fetch))


def test_arabic_post_every_field(telegram):
    post = _post(telegram, 101)
    assert post.status == "ok"
    assert post.text == ARABIC  # line breaks kept, RTL text untouched
    assert post.url == "https://t.me/syriawitness/101" and post.post_id == "101"
    assert post.author_handle == "syriawitness" and post.author_name == TITLE
    assert post.published == "2026-11-19T22:01:00Z"
    assert post.counts == {"views": 1200}
    assert post.source == [f"{telegram.base}/s/syriawitness/101"]


def test_media_forward_reply_edit(telegram):
    photo = _post(telegram, 102).media
    assert [(m.type, m.url) for m in photo] == [("image", f"{telegram.base}/media/tg-photo.jpg")]
    video = _post(telegram, 103).media
    assert [(m.type, m.url) for m in video] == [("video", f"{telegram.base}/media/tg-clip.mp4")]
    assert _post(telegram, 104).forwarded_from == "https://t.me/othersource/55"
    assert _post(telegram, 105).reply_to == "https://t.me/syriawitness/101"
    assert _post(telegram, 106).edited == "edited"


def test_deleted_and_unavailable(telegram):
    deleted = _post(telegram, 999)
    assert deleted.status == "deleted" and deleted.notes
    platform = TelegramPlatform(telegram.base)
    private = asyncio.run(platform.extract_post(
        platform.match("https://t.me/privatechan/5"), urllib_fetch))
    assert private.status == "unavailable" and "violated" in private.notes[0]


def test_rate_limit_and_layout_change(telegram, site):
    platform = TelegramPlatform(telegram.base)
    with pytest.raises(PlatformError, match="429"):
        asyncio.run(platform.extract_post(platform.match("https://t.me/ratelimited/1"),
                                          urllib_fetch))
    elsewhere = TelegramPlatform(site.url("/").rstrip("/"))
    with pytest.raises(PlatformError, match="markup"):
        asyncio.run(elsewhere.extract_post(elsewhere.match("https://t.me/syriawitness/101"),
                                           urllib_fetch))


def test_listing_pages_back_newest_first(telegram):
    platform = TelegramPlatform(telegram.base)
    refs = asyncio.run(platform.list_posts(platform.match("https://t.me/s/syriawitness"),
                                           urllib_fetch, 7))
    assert [r.post_id for r in refs] == ["110", "109", "108", "107", "106", "105", "104"]
    assert refs[0].url == "https://t.me/syriawitness/110" and refs[0].published.endswith("Z")
    every = asyncio.run(platform.list_posts(platform.match("https://t.me/s/syriawitness"),
                                            urllib_fetch, 50))
    assert len(every) == 10


def test_parse_count():
    assert (parse_count("1.2K"), parse_count("3M"), parse_count("845")) == (1200, 3_000_000, 845)


def test_video_too_big_for_the_preview_is_listed(telegram):
    post = _post(telegram, TOO_BIG)
    assert post.status == "ok"
    assert [(m.type, m.url, m.thumbnail) for m in post.media] == [
        ("video", f"https://t.me/syriawitness/{TOO_BIG}",
         f"{telegram.base}/media/tg-big-thumb.jpg")]
    assert "Media is too big" in post.media[0].note and "1:16" in post.media[0].note
    assert any("Media is too big" in n for n in post.notes)


def test_real_preview_video_too_big():
    page = real_sample("telegram", "mchs_bryansk_snippet.html")
    platform = TelegramPlatform()

    def read(number: int):  # noqa: ANN202 - a Post
        target = platform.match(f"https://t.me/mchs_bryansk/{number}")
        return asyncio.run(platform.extract_post(target, saved_fetch(page, "text/html")))

    big = read(4661)
    assert big.published == "2024-12-05T15:08:13Z"
    assert [(m.type, m.url) for m in big.media] == [("video", "https://t.me/mchs_bryansk/4661")]
    assert big.media[0].thumbnail.startswith("https://cdn4.cdn-telegram.org/file/pOQ7iY1076")
    assert "Media is too big" in big.media[0].note
    assert big.text.startswith("✨Ирина Гориславская")
    album = read(4656)  # an album of three photos: no video invented
    assert [m.type for m in album.media] == ["image", "image", "image"]
    assert read(4660).forwarded_from
