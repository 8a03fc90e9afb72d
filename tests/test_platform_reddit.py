"""The Reddit module against the public-JSON stand-in."""

from __future__ import annotations

import asyncio
import urllib.request
from urllib.parse import parse_qs, urlsplit

import pytest

from crawlers.platforms.base import PlatformError
from crawlers.platforms.reddit import RedditPlatform
from tests.platform_fixtures import real_sample, saved_fetch, urllib_fetch
from tests.platform_fixtures.reddit import (
    ANTI_EVIL_ID,
    ARABIC_CANONICAL,
    ARABIC_FLAIR,
    ARABIC_ID,
    ARABIC_PERMALINK,
    ARABIC_PUBLISHED,
    ARABIC_TEXT,
    ARABIC_TITLE,
    BANNED_POST,
    BANNED_SUBREDDIT,
    BLOCKED_POST,
    COMMENT_ID,
    COMMENT_SHARE_CODE,
    COMMENT_TEXT,
    COMMENT_USER,
    CROSSPOST_ID,
    DEAD_SHARE_CODE,
    DELETED_COMMENT_ID,
    DELETED_ID,
    EDITED_AT,
    EDITED_ID,
    EDITED_TEXT,
    GALLERY_CAPTIONS,
    GALLERY_ID,
    GALLERY_MEDIA_IDS,
    GALLERY_OUTBOUND,
    LAYOUT_CHANGED_POST,
    LINK_ID,
    LINK_URL,
    LISTED,
    PAGE,
    PRIVATE_POST,
    PRIVATE_SUBREDDIT,
    PROCESSING_ID,
    PROCESSING_LINK,
    QUARANTINE_MESSAGE,
    QUARANTINED_POST,
    QUARANTINED_SUBREDDIT,
    RATE_LIMITED_POST,
    REMOVED_COMMENT_ID,
    REMOVED_ID,
    REPLY_ID,
    REPLY_TEXT,
    SUBREDDIT,
    SUSPENDED_USER,
    UNKNOWN_SUBREDDIT,
    USER,
    USER_ID,
    VIDEO_PATH,
    VIDEO_PREVIEW_PATH,
    RedditFixture,
)


@pytest.fixture(scope="module")
def reddit():
    with RedditFixture() as server:
        yield server


@pytest.mark.parametrize(("url", "kind", "ids"), [
    ("https://www.reddit.com/r/syriawitness/comments/1gx7a2b/power_cut/", "post",
     {"subreddit": "syriawitness", "post": "1gx7a2b"}),
    ("https://old.reddit.com/r/syriawitness/comments/1gx7a2b", "post",
     {"subreddit": "syriawitness", "post": "1gx7a2b"}),
    ("https://np.reddit.com/r/syriawitness/comments/1gx7a2b/x/?utm_source=share", "post",
     {"subreddit": "syriawitness", "post": "1gx7a2b"}),
    ("https://reddit.com/comments/1gx7a2b", "post", {"post": "1gx7a2b"}),
    ("https://m.reddit.com/user/field_witness/comments/1gx7a2b/x/", "post",
     {"user": "field_witness", "post": "1gx7a2b"}),
    ("https://sh.reddit.com/u/field_witness/comments/1gx7a2b", "post",
     {"user": "field_witness", "post": "1gx7a2b"}),
    ("https://redd.it/1gx7a2b", "post", {"post": "1gx7a2b"}),
    ("https://www.reddit.com/gallery/1gx7b3c", "post", {"post": "1gx7b3c"}),
    ("https://www.reddit.com/r/syriawitness/comments/1gx7a2b/power_cut/lq3k9x1/?context=3",
     "post", {"subreddit": "syriawitness", "post": "1gx7a2b", "comment": "lq3k9x1"}),
    ("https://www.reddit.com/r/syriawitness/comments/1gx7a2b/comment/lq3k9x1/", "post",
     {"subreddit": "syriawitness", "post": "1gx7a2b", "comment": "lq3k9x1"}),
    ("https://www.reddit.com/comments/1gx7a2b/comment/lq3k9x1", "post",
     {"post": "1gx7a2b", "comment": "lq3k9x1"}),
    ("https://reddit.com/r/syriawitness/s/Xk3bQ9fLmA", "post",
     {"subreddit": "syriawitness", "share": "Xk3bQ9fLmA"}),
    ("https://www.reddit.com/u/field_witness/s/Xk3bQ9fLmA", "post",
     {"user": "field_witness", "share": "Xk3bQ9fLmA"}),
    ("https://www.reddit.com/r/syriawitness", "channel", {"subreddit": "syriawitness"}),
    ("https://new.reddit.com/r/syriawitness/top/?t=week", "channel",
     {"subreddit": "syriawitness"}),
    ("https://i.reddit.com/r/de/new", "channel", {"subreddit": "de"}),
    ("https://www.reddit.com/user/field_witness/", "channel", {"user": "field_witness"}),
    ("https://www.reddit.com/u/field_witness/submitted", "channel", {"user": "field_witness"}),
])
def test_match(url, kind, ids):
    target = RedditPlatform().match(url)
    assert target is not None and (target.kind, target.ids) == (kind, ids)


@pytest.mark.parametrize("url", [
    "https://www.reddit.com/r/all", "https://www.reddit.com/r/popular/new",
    "https://www.reddit.com/r/all/comments/1gx7a2b/x/", "https://www.reddit.com/user/me",
    "https://www.reddit.com/user/field_witness/comments/",  # their comments, not posts
    "https://www.reddit.com/search/?q=aleppo", "https://www.reddit.com/settings",
    "https://www.reddit.com/login/", "https://www.reddit.com/submit",
    "https://www.reddit.com/r/syriawitness/wiki/index", "https://www.reddit.com/r/syriawitness/about",
    "https://www.reddit.com/r/syriawitness/submit", "https://www.reddit.com/r/a+b",
    "https://www.reddit.com/r/syriawitness/comments/1gx7a2b/x/lq3k9x1/extra",
    "https://www.reddit.com/", "https://redd.it/", "https://v.redd.it/q8z3h1k2w9ze1",
    "https://i.redd.it/abc123.jpg", "https://example.org/r/syriawitness/comments/1gx7a2b",
    "ftp://www.reddit.com/r/syriawitness", "https://www.reddit.com/r/syriawitness/s/!",
])
def test_no_match(url):
    assert RedditPlatform().match(url) is None


def test_base_host_matches_only_when_overridden(reddit):
    assert RedditPlatform(reddit.base).match(reddit.post_url()).ids == {
        "subreddit": SUBREDDIT, "post": ARABIC_ID}
    assert RedditPlatform(reddit.base).match(reddit.channel_url()).kind == "channel"
    assert RedditPlatform().match(reddit.post_url()) is None
    assert RedditPlatform(reddit.base).capture_url(ARABIC_CANONICAL) == (
        reddit.base + ARABIC_PERMALINK)


def _post(reddit, url):
    platform = RedditPlatform(reddit.base)
    return asyncio.run(platform.extract_post(platform.match(url), urllib_fetch))


def _requests_for(reddit, fragment):
    return [r for r in reddit.requests if fragment in r["path"]]


def test_arabic_post_every_field(reddit):
    post = _post(reddit, reddit.post_url())
    assert post.status == "ok" and post.platform == "reddit" and post.post_id == ARABIC_ID
    assert post.url == ARABIC_CANONICAL
    assert post.title == ARABIC_TITLE
    assert post.text == ARABIC_TEXT  # RTL untouched, line breaks kept, "&" not "&amp;"
    assert (post.author_id, post.author_handle, post.author_name) == (USER_ID, USER, None)
    assert post.published == ARABIC_PUBLISHED and post.edited is None
    assert post.language is None and post.place is None
    assert post.counts == {"score": 1843, "replies": 4, "reposts": 1}
    assert (post.reply_to, post.quote_of, post.forwarded_from) == (None, None, None)
    assert [(m.type, m.url, m.alt) for m in post.media] == [
        ("video", f"{reddit.base}{VIDEO_PATH}?source=fallback", None),
        ("image", f"{reddit.base}{VIDEO_PREVIEW_PATH}?format=pjpg&auto=webp&s=5b1c0e7a", None)]
    api = f"{reddit.base}/comments/{ARABIC_ID}/.json?raw_json=1&limit=20"
    assert post.source == [api]
    notes = " | ".join(post.notes)
    assert f"posted in r/{SUBREDDIT}" in notes and "upvote ratio 0.97" in notes
    assert ARABIC_FLAIR in notes
    assert "video track only" in notes and "preview image" in notes


def test_requests_ask_for_raw_json(reddit):
    _post(reddit, reddit.post_url(EDITED_ID))
    sent = _requests_for(reddit, f"/comments/{EDITED_ID}/.json")[-1]
    assert parse_qs(urlsplit(sent["path"]).query)["raw_json"] == ["1"]
    assert sent["headers"].get("Accept") == "application/json"
    # Without raw_json=1 the stand-in escapes strings, as Reddit does: the module would see it.
    with urllib.request.urlopen(f"{reddit.base}/comments/{EDITED_ID}/.json") as answer:
        assert b"&lt;no flour left&gt; &amp; queues" in answer.read()


def test_edited_post(reddit):
    post = _post(reddit, reddit.post_url(EDITED_ID))
    assert post.text == EDITED_TEXT
    assert post.edited == EDITED_AT and post.published == "2026-11-20T06:45:00Z"
    assert "locked: no new comments allowed" in post.notes
    assert post.media == []


def test_gallery_link_and_crosspost(reddit):
    gallery = _post(reddit, reddit.post_url(GALLERY_ID))
    assert gallery.text is None
    assert [(m.type, m.url, m.alt) for m in gallery.media] == [
        ("image", f"{reddit.base}/media/{GALLERY_MEDIA_IDS[0]}.png?width=1440&format=png8&s=3c4d",
         GALLERY_CAPTIONS[0]),
        ("image", f"{reddit.base}/media/{GALLERY_MEDIA_IDS[1]}.png?width=1440&format=png8&s=3c4d",
         GALLERY_CAPTIONS[1]),
        ("link", GALLERY_OUTBOUND, None)]
    link = _post(reddit, reddit.post_url(LINK_ID))
    assert [(m.type, m.url) for m in link.media] == [
        ("link", LINK_URL),
        ("image", f"{reddit.base}/media/external-preview-{LINK_ID}.png?auto=webp&s=9f2e")]
    crosspost = _post(reddit, reddit.post_url(CROSSPOST_ID))
    assert crosspost.forwarded_from == ARABIC_CANONICAL
    assert crosspost.author_handle == "levant_digest" and crosspost.text is None
    assert crosspost.media[0].url == f"{reddit.base}{VIDEO_PATH}?source=fallback"
    assert "the media are the crossposted original's" in crosspost.notes


def test_comment_and_reply_are_posts_of_their_own(reddit):
    comment = _post(reddit, reddit.comment_url(COMMENT_ID))
    assert comment.status == "ok" and comment.post_id == COMMENT_ID
    assert comment.url == f"{ARABIC_CANONICAL}{COMMENT_ID}/"
    assert comment.text == COMMENT_TEXT and comment.title is None
    assert (comment.author_handle, comment.author_id) == (COMMENT_USER, "t2_4h8d2k1z")
    assert comment.reply_to == ARABIC_CANONICAL
    assert comment.counts == {"score": 212} and comment.published == "2026-11-20T09:12:00Z"
    assert comment.source == [
        f"{reddit.base}/comments/{ARABIC_ID}/_/{COMMENT_ID}/.json?raw_json=1&limit=20"]
    reply = _post(reddit, reddit.comment_url(REPLY_ID))
    assert reply.text == REPLY_TEXT and reply.reply_to == f"{ARABIC_CANONICAL}{COMMENT_ID}/"
    assert reply.edited == "2026-11-20T09:45:00Z"
    assert "the commenter is the post's author (OP)" in reply.notes


def test_share_links_are_followed(reddit):
    post = _post(reddit, reddit.share_url())
    assert post.post_id == ARABIC_ID and post.text == ARABIC_TEXT
    assert post.source[0] == reddit.share_url()
    assert post.source[1].startswith(reddit.post_url() + "?share_id=")
    assert post.source[2].startswith(f"{reddit.base}/comments/{ARABIC_ID}/.json")
    assert any(note.startswith(f"share link {reddit.share_url()} redirects to")
               for note in post.notes)
    comment = _post(reddit, reddit.share_url(COMMENT_SHARE_CODE))
    assert comment.post_id == COMMENT_ID and comment.reply_to == ARABIC_CANONICAL
    with pytest.raises(PlatformError, match="not to a Reddit post"):
        _post(reddit, reddit.share_url(DEAD_SHARE_CODE))


def test_deleted_and_removed_posts(reddit):
    deleted = _post(reddit, reddit.post_url(DELETED_ID))
    assert deleted.status == "deleted" and deleted.text is None
    assert deleted.author_handle is None and deleted.title == "Checkpoint on the Damascus road"
    assert any("deleted by its author" in n and "'[deleted]'" in n for n in deleted.notes)
    removed = _post(reddit, reddit.post_url(REMOVED_ID))
    assert removed.status == "deleted" and removed.text is None
    assert removed.author_handle == USER and removed.author_id is None
    assert any("removed by the subreddit's moderators" in n and "'[removed]'" in n
               for n in removed.notes)
    by_reddit = _post(reddit, reddit.post_url(ANTI_EVIL_ID))
    assert by_reddit.status == "deleted"
    assert any("Anti-Evil Operations" in n for n in by_reddit.notes)
    missing = _post(reddit, f"https://www.reddit.com/r/{SUBREDDIT}/comments/1zz9zz9/gone/")
    assert missing.status == "deleted"
    assert missing.url == f"https://www.reddit.com/r/{SUBREDDIT}/comments/1zz9zz9/"
    assert 'HTTP 404 {"message": "Not Found", "error": 404}' in missing.notes[0]


def test_deleted_removed_and_missing_comments(reddit):
    deleted = _post(reddit, reddit.comment_url(DELETED_COMMENT_ID))
    assert deleted.status == "deleted" and deleted.text is None
    assert "deleted by its author" in " ".join(deleted.notes)
    removed = _post(reddit, reddit.comment_url(REMOVED_COMMENT_ID))
    assert removed.status == "deleted" and "does not say which" in " ".join(removed.notes)
    missing = _post(reddit, reddit.comment_url("lq3zzzz"))
    assert missing.status == "deleted" and "not in the thread" in missing.notes[0]


@pytest.mark.parametrize(("sub", "post_id", "status", "said"), [
    (BANNED_SUBREDDIT, BANNED_POST, "suspended", '"reason": "banned"'),
    (PRIVATE_SUBREDDIT, PRIVATE_POST, "unavailable", '"reason": "private"'),
    (QUARANTINED_SUBREDDIT, QUARANTINED_POST, "login-wall", QUARANTINE_MESSAGE),
])
def test_subreddit_refusals(reddit, sub, post_id, status, said):
    post = _post(reddit, f"https://www.reddit.com/r/{sub}/comments/{post_id}/x/")
    assert post.status == status and said in post.notes[0]
    assert post.url == f"https://www.reddit.com/r/{sub}/comments/{post_id}/"


def test_rate_limit_block_page_and_layout_change(reddit, site):
    with pytest.raises(PlatformError, match=r"rate limited .* \(HTTP 429\).* 412 s"):
        _post(reddit, f"https://www.reddit.com/comments/{RATE_LIMITED_POST}")
    with pytest.raises(PlatformError, match="Reddit blocked the request"):
        _post(reddit, f"https://www.reddit.com/comments/{BLOCKED_POST}")
    with pytest.raises(PlatformError, match="without 'id'"):
        _post(reddit, f"https://www.reddit.com/comments/{LAYOUT_CHANGED_POST}")
    elsewhere = RedditPlatform(site.url("/").rstrip("/"))
    with pytest.raises(PlatformError, match="not Reddit's JSON"):
        asyncio.run(elsewhere.extract_post(
            elsewhere.match("https://www.reddit.com/comments/1gx7a2b"), urllib_fetch))


def _list(reddit, url, limit):
    platform = RedditPlatform(reddit.base)
    return asyncio.run(platform.list_posts(platform.match(url), urllib_fetch, limit))


def test_subreddit_listing_pages_newest_first(reddit):
    before = len(reddit.requests)
    refs = _list(reddit, reddit.channel_url(), 7)
    assert [r.post_id for r in refs] == list(LISTED[:7])
    assert refs[0].url == ARABIC_CANONICAL and refs[0].published == ARABIC_PUBLISHED
    assert [r.published for r in refs] == sorted((r.published for r in refs), reverse=True)
    sent = [r["path"] for r in reddit.requests[before:]]
    assert sent == [f"/r/{SUBREDDIT}/new.json?limit=7&raw_json=1",
                    f"/r/{SUBREDDIT}/new.json?limit=2&raw_json=1&after=t3_{LISTED[PAGE - 1]}"]
    before = len(reddit.requests)
    every = _list(reddit, f"https://www.reddit.com/r/{SUBREDDIT}/top/", 50)
    assert [r.post_id for r in every] == list(LISTED)  # the sort in the URL is not followed
    assert len(reddit.requests) - before == 3  # 5 + 5 + 2, then after is null


def test_user_listing(reddit):
    before = len(reddit.requests)
    refs = _list(reddit, reddit.user_url(), 6)
    assert [r.post_id for r in refs] == list(LISTED[:6])
    sent = [r["path"] for r in reddit.requests[before:]]
    assert sent[0] == f"/user/{USER}/about.json?raw_json=1"
    assert sent[1] == f"/user/{USER}/submitted.json?sort=new&limit=6&raw_json=1"
    assert sent[2].endswith(f"&after=t3_{LISTED[PAGE - 1]}")


@pytest.mark.parametrize(("path", "message"), [
    (f"/user/{SUSPENDED_USER}/", "is suspended"),
    ("/user/nobody_here/", "Reddit has no account u/nobody_here"),
    (f"/r/{BANNED_SUBREDDIT}/", f"r/{BANNED_SUBREDDIT} is banned"),
    (f"/r/{PRIVATE_SUBREDDIT}/", "is private"),
    (f"/r/{QUARANTINED_SUBREDDIT}/", "is quarantined"),
    (f"/r/{UNKNOWN_SUBREDDIT}/", f"no such subreddit: it redirects .*/r/{UNKNOWN_SUBREDDIT}/"),
])
def test_listing_refusals(reddit, path, message):
    with pytest.raises(PlatformError, match=message):
        _list(reddit, reddit.base + path, 5)


def test_nothing_leaves_the_base(reddit):
    urls = [reddit.post_url(), reddit.post_url(GALLERY_ID), reddit.post_url(CROSSPOST_ID),
            reddit.comment_url(REPLY_ID), reddit.share_url(), reddit.post_url(DELETED_ID)]
    for url in urls:
        post = _post(reddit, url)
        assert post.source and all(s.startswith(reddit.base + "/") for s in post.source)
        assert all(m.url.startswith(reddit.base) for m in post.media if m.type != "link")
    assert reddit.requests  # every request above arrived here


def test_stand_in_serves_the_pages_the_capture_loads(reddit):
    for url in (reddit.post_url(), reddit.comment_url(), reddit.channel_url(),
                reddit.user_url()):
        with urllib.request.urlopen(url) as answer:
            assert answer.status == 200 and "text/html" in answer.headers["Content-Type"]
    with urllib.request.urlopen(reddit.share_url()) as answer:
        assert answer.url.startswith(reddit.post_url())
    with urllib.request.urlopen(reddit.base + VIDEO_PATH) as answer:
        assert answer.headers["Content-Type"] == "video/mp4" and len(answer.read()) > 1000


def _video_still_processing(post) -> None:  # noqa: ANN001 - a Post
    """A video still processing is recorded as a video, by its v.redd.it link, and says so."""
    assert post.status == "ok"
    videos = [m for m in post.media if m.type == "video"]
    assert len(videos) == 1 and videos[0].url.startswith("https://v.redd.it/")
    assert any("processing" in n and videos[0].url in n for n in post.notes)


def test_video_still_processing_keeps_its_v_redd_it_link(reddit):
    post = _post(reddit, reddit.post_url(PROCESSING_ID))
    _video_still_processing(post)
    assert post.media[0].url == PROCESSING_LINK
    assert [m.type for m in post.media] == ["video", "image"]  # the preview image after it


def test_real_video_still_processing():
    body = real_sample("reddit", "comments_1khufen.json")
    platform = RedditPlatform()
    target = platform.match("https://www.reddit.com/comments/1khufen/")
    post = asyncio.run(platform.extract_post(target, saved_fetch(body)))
    _video_still_processing(post)
    assert post.media[0].url == "https://v.redd.it/wpo12zyk4lze1"
    assert post.text == "Testing **PRAW** video submission *with markdown selftext*."
