"""The Bluesky module against the AppView stand-in."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import pytest

from crawlers.platforms.base import PlatformError
from crawlers.platforms.bluesky import BlueskyPlatform, web_url
from tests.platform_fixtures import urllib_fetch
from tests.platform_fixtures.bluesky import (
    ARABIC_LINK,
    ARABIC_LINK_LABEL,
    ARABIC_RKEY,
    ARABIC_TEXT,
    BACKDATED_RKEY,
    BLOCKED_RKEY,
    BROKEN_RKEY,
    DEACTIVATED_HANDLE,
    DELETED_RKEY,
    DID,
    DISPLAY_NAME,
    GONE_HANDLE,
    GONE_PARENT_RKEY,
    GONE_QUOTED_RKEY,
    HANDLE,
    IMAGE_ALT,
    IMAGES_RKEY,
    LINK_CARD_RKEY,
    LINK_CARD_URL,
    LISTED,
    LOGIN_RKEY,
    MP4_PATH,
    NEWS_RKEY,
    NEWSDESK_HANDLE,
    NOT_FOUND_VIEW_RKEY,
    ORPHAN_REPLY_RKEY,
    QUIET_HANDLE,
    QUIET_RKEY,
    QUOTE_RKEY,
    RATE_LIMITED_RKEY,
    REPLY_RKEY,
    REPOSTED_RKEYS,
    STRANGER_DID,
    SUSPENDED_RKEY,
    TAKENDOWN_HANDLE,
    THUMBNAIL_PATH,
    UPSTREAM_RKEY,
    VIDEO_ALT,
    VIDEO_PATH,
    BlueskyFixture,
    at_uri,
    cid,
    public_url,
)


@pytest.fixture(scope="module")
def bluesky():
    with BlueskyFixture() as server:
        yield server


@pytest.mark.parametrize(("url", "kind", "ids"), [
    ("https://bsky.app/profile/aleppo-witness.bsky.social/post/3n2q3kvmwpk2b", "post",
     {"account": "aleppo-witness.bsky.social", "post": "3n2q3kvmwpk2b"}),
    ("https://www.bsky.app/profile/Aleppo-Witness.bsky.social/post/3n2q3kvmwpk2b/", "post",
     {"account": "aleppo-witness.bsky.social", "post": "3n2q3kvmwpk2b"}),
    ("https://bsky.app/profile/did:plc:k4qjy6vz3bxm2rp7ntfw5sle/post/3n2q3kvmwpk2b", "post",
     {"account": "did:plc:k4qjy6vz3bxm2rp7ntfw5sle", "post": "3n2q3kvmwpk2b"}),
    ("https://bsky.app/profile/did%3Aplc%3Ak4qjy6vz3bxm2rp7ntfw5sle/post/3n2q3kvmwpk2b", "post",
     {"account": "did:plc:k4qjy6vz3bxm2rp7ntfw5sle", "post": "3n2q3kvmwpk2b"}),
    ("https://main.bsky.dev/profile/souris.moe/post/3l4qhp7bcs52c?ref_src=embed", "post",
     {"account": "souris.moe", "post": "3l4qhp7bcs52c"}),
    ("https://bsky.app/profile/aleppo-witness.bsky.social", "channel",
     {"account": "aleppo-witness.bsky.social"}),
    ("https://bsky.app/profile/did:web:newsdesk.example.org/", "channel",
     {"account": "did:web:newsdesk.example.org"}),
])
def test_match(url, kind, ids):
    target = BlueskyPlatform().match(url)
    assert target is not None and (target.kind, target.ids) == (kind, ids)


@pytest.mark.parametrize("url", [
    "https://bsky.app/", "https://bsky.app/search?q=aleppo", "https://bsky.app/settings",
    "https://bsky.app/notifications", "https://bsky.app/hashtag/حلب",
    "https://bsky.app/starter-pack/someone.bsky.social/3kzabc",
    "https://bsky.app/profile/someone.bsky.social/feed/aaalinks",
    "https://bsky.app/profile/someone.bsky.social/lists/3kabc",
    "https://bsky.app/profile/someone.bsky.social/followers",
    "https://bsky.app/profile/someone.bsky.social/post/",
    "https://bsky.app/profile/someone.bsky.social/post/3n2q3kvmwpk2b/liked-by",
    "https://bsky.app/profile/not_a_handle/post/3n2q3kvmwpk2b",
    "https://bsky.app/profile/localhost/post/3n2q3kvmwpk2b",
    "https://bsky.app/profile/handle.invalid",
    "https://bsky.app/profile/did:plc:short/post/3n2q3kvmwpk2b",
    "https://bsky.app/profile/someone.bsky.social/post/..",
    "https://public.api.bsky.app/profile/someone.bsky.social/post/3n2q3kvmwpk2b",
    "https://example.org/profile/someone.bsky.social/post/3n2q3kvmwpk2b",
    "at://did:plc:k4qjy6vz3bxm2rp7ntfw5sle/app.bsky.feed.post/3n2q3kvmwpk2b",
    "ftp://bsky.app/profile/someone.bsky.social",
])
def test_no_match(url):
    assert BlueskyPlatform().match(url) is None


def test_base_host_matches_only_when_overridden(bluesky):
    platform = BlueskyPlatform(bluesky.base)
    assert platform.match(bluesky.post_url()).ids == {"account": HANDLE, "post": ARABIC_RKEY}
    assert platform.match(bluesky.channel_url()).kind == "channel"
    assert BlueskyPlatform().match(bluesky.post_url()) is None
    # Listed posts carry the public URL; the capture goes to the same path on the base.
    assert platform.capture_url(public_url(ARABIC_RKEY)) == bluesky.post_url()
    assert BlueskyPlatform().capture_url(public_url(ARABIC_RKEY)) == public_url(ARABIC_RKEY)


def _post(bluesky, rkey, account=HANDLE):
    platform = BlueskyPlatform(bluesky.base)
    return asyncio.run(platform.extract_post(platform.match(bluesky.post_url(rkey, account)),
                                             urllib_fetch))


def _xrpc(bluesky, method, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{bluesky.base}/xrpc/{method}?{query}"


def _thread_url(bluesky, did, rkey):
    encoded = at_uri(did, rkey).replace(":", "%3A").replace("/", "%2F")
    return _xrpc(bluesky, "app.bsky.feed.getPostThread", uri=encoded, depth=0, parentHeight=1)


def test_arabic_post_every_field(bluesky):
    post = _post(bluesky, ARABIC_RKEY)
    assert post.status == "ok" and post.platform == "bluesky" and post.post_id == ARABIC_RKEY
    assert post.text == ARABIC_TEXT  # line breaks kept, RTL untouched, link label as shown
    assert post.language == "ar"
    assert post.url == f"https://bsky.app/profile/{HANDLE}/post/{ARABIC_RKEY}"
    assert (post.author_id, post.author_handle, post.author_name) == (DID, HANDLE, DISPLAY_NAME)
    assert post.published == "2026-11-20T07:42:10Z" and post.edited is None
    assert post.counts == {"replies": 1, "reposts": 14, "likes": 37, "quotes": 2}
    assert [(m.type, m.url, m.alt) for m in post.media] == [
        ("video", f"{bluesky.base}{VIDEO_PATH}", VIDEO_ALT),
        ("image", f"{bluesky.base}{THUMBNAIL_PATH}", None),
        ("link", ARABIC_LINK, None)]
    assert (post.reply_to, post.quote_of, post.forwarded_from, post.place, post.title) == (
        None, None, None, None, None)
    assert post.source == [
        _xrpc(bluesky, "com.atproto.identity.resolveHandle", handle=HANDLE),
        _thread_url(bluesky, DID, ARABIC_RKEY)]
    assert post.notes == [
        f"record {at_uri(DID, ARABIC_RKEY)}, CID {cid(f'post {ARABIC_RKEY}')} (the hash of the "
        "record as stored in the author's repository)",
        f"the text shows {ARABIC_LINK_LABEL!r} for the link {ARABIC_LINK}"]


def test_did_url_skips_resolving_the_handle(bluesky):
    before = len(bluesky.requests)
    post = _post(bluesky, ARABIC_RKEY, DID)
    paths = [r["path"] for r in bluesky.requests[before:]]
    assert paths == [_thread_url(bluesky, DID, ARABIC_RKEY).removeprefix(bluesky.base)]
    assert post.url == public_url(ARABIC_RKEY) and post.author_handle == HANDLE
    assert bluesky.requests[-1]["headers"].get("Accept") == "application/json"


def test_images_with_alt_several_languages_and_a_label(bluesky):
    post = _post(bluesky, IMAGES_RKEY)
    assert [(m.type, m.alt) for m in post.media] == [("image", IMAGE_ALT), ("image", None)]
    assert all(m.url.startswith(f"{bluesky.base}/img/feed_fullsize/plain/{DID}/")
               for m in post.media)
    assert post.text == "Two photos from the bakery street this morning.\nصور من شارع المخبز."
    assert post.language == "en"
    assert "languages given by the author: en, ar" in post.notes
    assert "the post is labelled 'graphic-media' by Bluesky's moderation" in post.notes


def test_replies(bluesky):
    reply = _post(bluesky, REPLY_RKEY)
    assert reply.reply_to == public_url(ARABIC_RKEY)
    assert reply.counts["reposts"] == 1
    orphan = _post(bluesky, ORPHAN_REPLY_RKEY)
    assert orphan.reply_to == f"https://bsky.app/profile/{STRANGER_DID}/post/{GONE_PARENT_RKEY}"
    assert "the post it replies to is not found (deleted or removed)" in orphan.notes


def test_quotes_and_link_card(bluesky):
    quote = _post(bluesky, QUOTE_RKEY)
    assert quote.quote_of == f"https://bsky.app/profile/{NEWSDESK_HANDLE}/post/{NEWS_RKEY}"
    assert quote.media == []  # the quoted post's own media are not this post's
    card = _post(bluesky, LINK_CARD_RKEY)
    assert card.quote_of == f"https://bsky.app/profile/{STRANGER_DID}/post/{GONE_QUOTED_RKEY}"
    assert ("the quoted post is not found (deleted or removed) "
            "(app.bsky.embed.record#viewNotFound)") in card.notes
    assert [(m.type, m.url.startswith(bluesky.base)) for m in card.media] == [
        ("link", False), ("image", True)]
    assert card.media[0].url == LINK_CARD_URL
    assert f"link card 'Queues at the last open bakery' for {LINK_CARD_URL}" in card.notes


def test_backdated_record_notes_both_times(bluesky):
    post = _post(bluesky, BACKDATED_RKEY)
    assert post.published == "2019-03-15T12:00:00Z"
    assert ("the record says it was created at 2019-03-15T12:00:00Z (set by the author's app); "
            "Bluesky indexed it at 2026-11-19T18:00:01Z") in post.notes


@pytest.mark.parametrize("rkey", [DELETED_RKEY, NOT_FOUND_VIEW_RKEY])
def test_deleted_post(bluesky, rkey):
    post = _post(bluesky, rkey)
    assert post.status == "deleted" and post.text is None and post.author_id == DID
    assert post.notes[0].startswith("Bluesky's AppView does not find the post (")
    assert post.notes[1].startswith("the account itself is active")
    # The account was asked, to tell a deleted post from a suspended account.
    assert post.source[-1] == _xrpc(bluesky, "app.bsky.actor.getProfile",
                                    actor=DID.replace(":", "%3A"))


def test_suspended_and_deactivated_accounts(bluesky):
    suspended = _post(bluesky, SUSPENDED_RKEY, TAKENDOWN_HANDLE)
    assert suspended.status == "suspended"
    assert suspended.notes[-1] == ("Bluesky says the account is suspended (AccountTakedown: "
                                   "Account has been suspended)")
    deactivated = _post(bluesky, SUSPENDED_RKEY, DEACTIVATED_HANDLE)
    assert deactivated.status == "unavailable"
    assert "AccountDeactivated: Account is deactivated" in deactivated.notes[-1]


def test_handle_that_resolves_to_nothing_is_unavailable(bluesky):
    post = _post(bluesky, ARABIC_RKEY, GONE_HANDLE)
    assert post.status == "unavailable" and post.author_id is None
    assert "Unable to resolve handle" in post.notes[0]
    assert "deleted or changed its handle" in post.notes[0]
    assert len(post.source) == 1


def test_blocked_and_login_wall(bluesky):
    blocked = _post(bluesky, BLOCKED_RKEY)
    assert blocked.status == "unavailable" and "blocked" in blocked.notes[0]
    login = _post(bluesky, LOGIN_RKEY)
    assert login.status == "login-wall"
    assert login.notes == ["Bluesky wants a login for this post (HTTP 401: "
                           "AuthenticationRequired: Authentication Required)"]


def test_author_hidden_from_logged_out_visitors_is_read_and_noted(bluesky):
    post = _post(bluesky, QUIET_RKEY, QUIET_HANDLE)
    assert post.status == "ok" and post.text == "I only want signed-in people to read this."
    assert any("!no-unauthenticated" in n and "sign-in prompt" in n for n in post.notes)


def test_rate_limit_server_error_and_layout_change_raise(bluesky):
    with pytest.raises(PlatformError, match=r"rate limited .*HTTP 429, policy 3000;w=300, "
                                            r"resets at 2026-11-24T"):
        _post(bluesky, RATE_LIMITED_RKEY)
    with pytest.raises(PlatformError, match="HTTP 502: UpstreamFailure"):
        _post(bluesky, UPSTREAM_RKEY)
    with pytest.raises(PlatformError, match=r"no app\.bsky\.feed\.defs#threadViewPost with a "
                                            "post view"):
        _post(bluesky, BROKEN_RKEY)


def test_a_site_that_is_not_bluesky_is_an_extractor_error(site):
    platform = BlueskyPlatform(site.url("/").rstrip("/"))
    target = platform.match(site.url(f"/profile/{HANDLE}/post/{ARABIC_RKEY}"))
    with pytest.raises(PlatformError, match="no XRPC JSON object"):
        asyncio.run(platform.extract_post(target, urllib_fetch))


def test_listing_pages_back_newest_first_without_reposts(bluesky):
    platform = BlueskyPlatform(bluesky.base)
    before = len(bluesky.requests)
    refs = asyncio.run(platform.list_posts(platform.match(bluesky.channel_url()),
                                           urllib_fetch, 7))
    assert [r.post_id for r in refs] == LISTED[:7]
    assert not {r.post_id for r in refs} & set(REPOSTED_RKEYS)
    assert refs[0].url == public_url(LISTED[0]) and refs[0].published == "2026-11-20T13:15:00Z"
    assert [r.published for r in refs] == sorted((r.published for r in refs), reverse=True)
    asked = [parse_qs(urlsplit(r["path"]).query) for r in bluesky.requests[before:]]
    assert urlsplit(bluesky.requests[before]["path"]).path == "/xrpc/app.bsky.actor.getProfile"
    feeds = asked[1:]
    assert [q["limit"] for q in feeds] == [["7"], ["4"], ["1"]]  # what is still wanted
    assert [q.get("cursor") for q in feeds] == [
        None, ["2026-11-20T11:15:00.600Z"], ["2026-11-20T09:00:37.999Z"]]
    assert all(q["actor"] == [DID] and q["filter"] == ["posts_with_replies"] for q in feeds)


def test_listing_stops_when_the_feed_ends(bluesky):
    platform = BlueskyPlatform(bluesky.base)
    before = len(bluesky.requests)
    refs = asyncio.run(platform.list_posts(platform.match(bluesky.channel_url()),
                                           urllib_fetch, 50))
    assert [r.post_id for r in refs] == LISTED
    assert len(bluesky.requests) - before == 1 + 4  # the profile, 3 pages, 1 empty page


@pytest.mark.parametrize(("account", "said"), [
    (TAKENDOWN_HANDLE, "is suspended"), (DEACTIVATED_HANDLE, "is deactivated"),
    ("nobody.example.org", "no Bluesky account nobody.example.org"),
])
def test_listing_a_missing_or_suspended_account_raises(bluesky, account, said):
    platform = BlueskyPlatform(bluesky.base)
    with pytest.raises(PlatformError, match=said):
        asyncio.run(platform.list_posts(platform.match(bluesky.channel_url(account)),
                                        urllib_fetch, 3))


def test_nothing_read_off_the_base(bluesky):
    posts = [_post(bluesky, rkey) for rkey in (ARABIC_RKEY, IMAGES_RKEY, DELETED_RKEY)]
    for post in posts:
        assert post.source and all(url.startswith(bluesky.base + "/xrpc/")
                                   for url in post.source)
    served = [m.url for post in posts for m in post.media if m.type != "link"]
    assert served and all(url.startswith(bluesky.base + "/") for url in served)
    # No request came in proxy form (an absolute URL): each was for the stand-in itself.
    assert all(r["path"].startswith("/") for r in bluesky.requests)


def test_stand_in_serves_the_pages_and_a_downloadable_video(bluesky):
    page = asyncio.run(urllib_fetch(bluesky.post_url()))
    assert page.status == 200 and "text/html" in page.headers["content-type"]
    assert f'content="{DISPLAY_NAME} (@{HANDLE})"' in page.text()
    master = asyncio.run(urllib_fetch(f"{bluesky.base}{VIDEO_PATH}")).text()
    variant = master.strip().splitlines()[-1]
    media = asyncio.run(urllib_fetch(f"{bluesky.base}/media/bsky-video/{variant}")).text()
    segment = asyncio.run(urllib_fetch(
        f"{bluesky.base}/media/bsky-video/360p/{media.splitlines()[-2]}"))
    assert segment.headers["content-type"] == "video/mp2t"
    assert segment.body[0] == 0x47 and segment.body[188] == 0x47  # MPEG-TS sync bytes
    clip = asyncio.run(urllib_fetch(f"{bluesky.base}{MP4_PATH}"))
    assert clip.headers["content-type"] == "video/mp4" and clip.body[4:8] == b"ftyp"


@pytest.mark.parametrize(("uri", "handle", "url"), [
    (f"at://{DID}/app.bsky.feed.post/3abc", HANDLE, f"https://bsky.app/profile/{HANDLE}/post/3abc"),
    (f"at://{DID}/app.bsky.feed.post/3abc", "handle.invalid",
     f"https://bsky.app/profile/{DID}/post/3abc"),
    (f"at://{DID}/app.bsky.feed.generator/news", None,
     f"https://bsky.app/profile/{DID}/feed/news"),
    (f"at://{DID}/app.bsky.graph.list/3xyz", HANDLE, f"https://bsky.app/profile/{HANDLE}/lists/3xyz"),
    (f"at://{DID}/app.bsky.graph.starterpack/3sp", HANDLE,
     f"https://bsky.app/starter-pack/{HANDLE}/3sp"),
    (f"at://{DID}/com.example.thing/1", None, f"at://{DID}/com.example.thing/1"),
])
def test_web_url(uri, handle, url):
    assert web_url(uri, handle) == url
