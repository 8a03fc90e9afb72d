"""The Mastodon module against the instance stand-in."""

from __future__ import annotations

import asyncio
import json

import pytest

from crawlers.platforms.base import PlatformError
from crawlers.platforms.mastodon import MastodonPlatform
from tests.platform_fixtures import real_sample, saved_fetch, urllib_fetch
from tests.platform_fixtures.mastodon import (
    ARABIC_TEXT,
    FIRST,
    QUOTE,
    QUOTE_TEXT,
    MastodonFixture,
)


@pytest.fixture(scope="module")
def mastodon():
    with MastodonFixture() as server:
        yield server


@pytest.mark.parametrize(("url", "kind"), [
    ("https://mastodon.social/@user/113000000000000001", "post"),
    ("https://example.social/users/user/statuses/42", "post"),
    ("https://example.social/@user@other.host/42", "post"),
    ("https://example.social/@user", "channel"),
])
def test_match(url, kind):
    assert MastodonPlatform().match(url).kind == kind


@pytest.mark.parametrize("url", [
    "https://x.com/@user/1", "https://bsky.app/@user/1", "https://example.org/news/1",
    "https://example.social/@user/abc", "ftp://example.social/@user/1",
])
def test_no_match(url):
    assert MastodonPlatform().match(url) is None


def _post(mastodon, number):
    platform = MastodonPlatform()
    return asyncio.run(platform.extract_post(platform.match(mastodon.post_url(number)),
                                             urllib_fetch))


def test_arabic_post_every_field(mastodon):
    post = _post(mastodon, FIRST)
    assert post.status == "ok" and post.post_id == str(FIRST)
    assert post.text == ARABIC_TEXT
    assert post.language == "ar"
    assert post.url == mastodon.post_url(FIRST)
    assert (post.author_id, post.author_handle, post.author_name) == (
        "109384", "witness", "Field Witness")
    assert post.published == "2026-11-20T08:15:30Z"
    assert post.edited == "2026-11-20T09:00:00Z"
    assert post.counts == {"replies": 2, "reposts": 5, "likes": 11, "quotes": 0}
    assert [(m.type, m.url, m.alt) for m in post.media] == [
        ("image", f"{mastodon.base}/media/street.jpg", "شارع مزدحم"),
        ("video", f"{mastodon.base}/media/m-clip.mp4", None)]


def test_reply_and_boost(mastodon):
    assert _post(mastodon, FIRST + 1).reply_to == mastodon.post_url(FIRST)
    boost = _post(mastodon, FIRST + 2)
    assert boost.forwarded_from == "https://other.example/@source/777"
    assert boost.text == f"Report {FIRST + 5}."


def test_deleted_suspended_rate_limited(mastodon):
    assert _post(mastodon, 99999).status == "deleted"
    suspended = _post(mastodon, 30000)
    assert suspended.status == "suspended" and "suspended" in suspended.notes[0]
    with pytest.raises(PlatformError, match="429"):
        _post(mastodon, 42900)


def test_html_instead_of_json_is_an_extractor_error(site):
    platform = MastodonPlatform()
    target = platform.match(site.url("/@someone/123"))
    with pytest.raises(PlatformError):
        asyncio.run(platform.extract_post(target, urllib_fetch))


def test_listing_pages_back_newest_first(mastodon):
    platform = MastodonPlatform()
    target = platform.match(f"{mastodon.base}/@witness")
    refs = asyncio.run(platform.list_posts(target, urllib_fetch, 7))
    assert [int(r.post_id) for r in refs] == list(range(FIRST + 9, FIRST + 2, -1))
    assert refs[0].url == mastodon.post_url(FIRST + 9) and refs[0].published.endswith("Z")
    with pytest.raises(PlatformError, match="no account"):
        asyncio.run(platform.list_posts(platform.match(f"{mastodon.base}/@nobody"),
                                        urllib_fetch, 3))


def test_quote_post_text_is_what_the_author_wrote(mastodon):
    post = _post(mastodon, QUOTE)
    assert post.text == QUOTE_TEXT  # not "RE: http://..." first
    assert post.quote_of == mastodon.post_url(FIRST + 4)
    assert any("RE:" in note for note in post.notes)  # the removal is said, not silent


def test_real_quote_post():
    body = real_sample("mastodon", "status_quote.json")
    status = json.loads(body)
    platform = MastodonPlatform()
    target = platform.match(status["url"])
    post = asyncio.run(platform.extract_post(target, saved_fetch(body)))
    assert post.text == "yoooooooo"
    assert post.quote_of == status["quote"]["quoted_status"]["url"]
    assert post.quote_of == "http://localhost:3000/@mastodonpy_test/117020582917124092"


def test_real_plain_status_keeps_its_text():
    body = real_sample("mastodon", "quoted_parent.json")
    platform = MastodonPlatform()
    post = asyncio.run(platform.extract_post(platform.match(json.loads(body)["url"]),
                                             saved_fetch(body)))
    assert post.text == "Toot!" and post.quote_of is None and not post.notes
