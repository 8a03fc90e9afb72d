"""A Bluesky stand-in: the public AppView's XRPC answers, the bsky.app pages, media files.

Served on the fixture's base (``127.0.0.1:<port>``), in Bluesky's public shapes:

- ``/xrpc/com.atproto.identity.resolveHandle?handle=``: ``{"did"}``, or HTTP 400
  ``InvalidRequest`` "Unable to resolve handle".
- ``/xrpc/app.bsky.feed.getPostThread?uri=at://<did>/app.bsky.feed.post/<rkey>``: a
  ``#threadViewPost`` (with its parent), ``#notFoundPost``, ``#blockedPost``, HTTP 400
  ``NotFound``, 401, 429 (with ``ratelimit-*`` headers), 502, or a thread without its post.
- ``/xrpc/app.bsky.actor.getProfile?actor=``: a profile, or HTTP 400 ``AccountTakedown`` /
  ``AccountDeactivated`` / ``InvalidRequest`` "Profile not found".
- ``/xrpc/app.bsky.feed.getAuthorFeed?actor=&limit=&cursor=&filter=``: the witness's feed,
  at most :data:`PAGE` items a page, newest first, two reposts among the posts, paged with
  ``cursor`` (the last item's sort time).
- ``/media/bsky-video/playlist.m3u8`` (HLS master) → ``360p/video.m3u8`` → ``360p/video0.ts``
  (the fixture clip remuxed to MPEG-TS with ffmpeg), ``/media/bsky-video/thumbnail.jpg``,
  ``/media/bsky-clip.mp4``; images under ``/img/feed_fullsize|feed_thumbnail/plain/...``.
- ``/profile/<handle-or-did>`` and ``/profile/<handle-or-did>/post/<rkey>``: the bsky.app
  HTML shell with the og: meta and the noscript summary (HTTP 200, like bsky.app).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fixture_site.server import video_clip
from tests.platform_fixtures.server import PlatformFixture, PlatformHandler

POST_TYPE = "app.bsky.feed.post"
DEFS = "app.bsky.feed.defs"
MODERATION = "did:plc:ar7c4by46qjdydhdevvrndac"  # Bluesky's own moderation labeler
PAGE = 4  # the stand-in's author feed answers at most this many items a page
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"


def tid(created: str, clock: int = 7) -> str:
    """A record key as the Bluesky app makes them: a TID from the creation time."""
    moment = datetime.fromisoformat(created.replace("Z", "+00:00"))
    number = (int(moment.timestamp() * 1_000_000) << 10) | clock
    out = ""
    for _ in range(13):
        out = _TID_ALPHABET[number & 31] + out
        number >>= 5
    return out


def cid(seed: str, codec: int = 0x71) -> str:
    """A CIDv1 (sha-256, base32) shaped like Bluesky's: dag-cbor records, raw blobs."""
    raw = bytes([0x01, codec, 0x12, 0x20]) + hashlib.sha256(seed.encode()).digest()
    return "b" + base64.b32encode(raw).decode().lower().rstrip("=")


def at_uri(did: str, rkey: str) -> str:
    return f"at://{did}/{POST_TYPE}/{rkey}"


def _span(text: str, part: str) -> dict[str, int]:
    """A facet's index: UTF-8 byte offsets, as the AT Protocol counts them."""
    start = text.encode().index(part.encode())
    return {"byteStart": start, "byteEnd": start + len(part.encode())}


# The accounts.
HANDLE = "aleppo-witness.bsky.social"
DID = "did:plc:k4qjy6vz3bxm2rp7ntfw5sle"
DISPLAY_NAME = "شاهد من حلب"
NEWSDESK_HANDLE = "newsdesk.example.org"
NEWSDESK_DID = "did:web:newsdesk.example.org"
QUIET_HANDLE = "quiet-voice.bsky.social"
QUIET_DID = "did:plc:w7mzd2hq5nlx3cbvr6tkyp4e"
TAKENDOWN_HANDLE = "banned-account.bsky.social"
TAKENDOWN_DID = "did:plc:t3kd5wnx2yqmh7vczr4bl6pa"
DEACTIVATED_HANDLE = "resting.bsky.social"
DEACTIVATED_DID = "did:plc:d2vq6rhm4xnc7tkzwl5yb3pe"
GONE_HANDLE = "renamed-away.bsky.social"  # resolves to nothing
STRANGER_DID = "did:plc:x5nb2kqw7hzr3mdv6cyt4lfj"  # wrote a post that is gone now

# The witness's posts, oldest first.
ARABIC_CREATED = "2026-11-20T07:42:10.318Z"
ARABIC_RKEY = tid(ARABIC_CREATED)
ARABIC_LINK = "https://example.org/reports/2026/aleppo-power-outage"
ARABIC_LINK_LABEL = "example.org/reports/2026/ale..."
ARABIC_TEXT = ("انقطاع الكهرباء عن الأحياء الشرقية في حلب منذ الفجر.\n"
               "الناس يتجمعون أمام المخبز الوحيد المفتوح.\n\n"
               f"التقرير الكامل: {ARABIC_LINK_LABEL}\n#حلب")
VIDEO_ALT = "طابور طويل أمام المخبز عند الفجر"
VIDEO_CID = cid("witness video", 0x55)
VIDEO_PATH = "/media/bsky-video/playlist.m3u8"
THUMBNAIL_PATH = "/media/bsky-video/thumbnail.jpg"
MP4_PATH = "/media/bsky-clip.mp4"
IMAGES_RKEY = tid("2026-11-20T08:05:44.120Z")
IMAGE_ALT = "واجهة المخبز المحترقة"
REPLY_RKEY = tid("2026-11-20T08:30:02.901Z")
QUOTE_RKEY = tid("2026-11-20T09:00:37.455Z")
LINK_CARD_RKEY = tid("2026-11-20T09:20:15.010Z")
LINK_CARD_URL = "https://example.org/news/bakery-queues"
ORPHAN_REPLY_RKEY = tid("2026-11-20T10:00:00.000Z")
UPDATE_RKEYS = [tid(f"2026-11-20T{hour}:15:00.000Z") for hour in (11, 12, 13)]
WITNESS_POSTS = [ARABIC_RKEY, IMAGES_RKEY, REPLY_RKEY, QUOTE_RKEY, LINK_CARD_RKEY,
                 ORPHAN_REPLY_RKEY, *UPDATE_RKEYS]
# What the feed lists, newest first, reposts left out: the expected listing.
LISTED = list(reversed(WITNESS_POSTS))

# Other people's posts.
NEWS_RKEY = tid("2026-11-20T06:55:00.000Z", 3)  # quoted by QUOTE_RKEY
REPOSTED_RKEYS = [tid("2026-11-20T09:40:00.000Z", 3), tid("2026-11-20T12:40:00.000Z", 3)]
GONE_QUOTED_RKEY = tid("2026-11-19T21:00:00.000Z", 5)
GONE_PARENT_RKEY = tid("2026-11-19T22:00:00.000Z", 5)
QUIET_RKEY = tid("2026-11-20T05:30:00.000Z", 9)
BACKDATED_RKEY = tid("2026-11-19T18:00:00.000Z", 4)  # says 2019, indexed in 2026 (not in feed)

# Posts that are not there, or not readable (all under the witness's DID unless said).
DELETED_RKEY = tid("2026-11-18T10:00:00.000Z")        # HTTP 400 NotFound
NOT_FOUND_VIEW_RKEY = tid("2026-11-18T11:00:00.000Z")  # 200, thread #notFoundPost
BLOCKED_RKEY = tid("2026-11-18T12:00:00.000Z")        # 200, thread #blockedPost
LOGIN_RKEY = tid("2026-11-18T13:00:00.000Z")          # 401 AuthenticationRequired
RATE_LIMITED_RKEY = tid("2026-11-18T14:00:00.000Z")   # 429
UPSTREAM_RKEY = tid("2026-11-18T15:00:00.000Z")       # 502 UpstreamFailure
BROKEN_RKEY = tid("2026-11-18T16:00:00.000Z")         # 200, a thread without its post
SUSPENDED_RKEY = tid("2026-11-17T09:00:00.000Z")      # by TAKENDOWN_HANDLE / DEACTIVATED_HANDLE
RATE_LIMIT_RESET = 1795500000  # epoch seconds, as ratelimit-reset gives it


def _author(base: str, who: str) -> dict:
    """An app.bsky.actor.defs#profileViewBasic."""
    did, handle, name, labels = {
        "witness": (DID, HANDLE, DISPLAY_NAME, []),
        "newsdesk": (NEWSDESK_DID, NEWSDESK_HANDLE, "Newsdesk", []),
        "quiet": (QUIET_DID, QUIET_HANDLE, "Quiet Voice", [
            {"ver": 1, "src": QUIET_DID, "uri": f"at://{QUIET_DID}/app.bsky.actor.profile/self",
             "cid": cid("quiet profile"), "val": "!no-unauthenticated",
             "cts": "2025-02-01T10:00:00.000Z"}]),
    }[who]
    return {"did": did, "handle": handle, "displayName": name,
            "avatar": f"{base}/img/avatar/plain/{did}/{cid(did, 0x55)}@jpeg",
            "associated": {"chat": {"allowIncoming": "following"}},
            "viewer": {"muted": False, "blockedBy": False}, "labels": labels,
            "createdAt": "2023-09-12T10:04:31.214Z"}


def _image(base: str, did: str, seed: str, alt: str) -> tuple[dict, dict]:
    """One image: as the record holds it (a blob) and as the AppView shows it (URLs)."""
    blob = cid(seed, 0x55)
    record = {"alt": alt, "image": {"$type": "blob", "ref": {"$link": blob},
                                     "mimeType": "image/jpeg", "size": 48213},
              "aspectRatio": {"width": 1600, "height": 1200}}
    view = {"thumb": f"{base}/img/feed_thumbnail/plain/{did}/{blob}@jpeg",
            "fullsize": f"{base}/img/feed_fullsize/plain/{did}/{blob}@jpeg",
            "alt": alt, "aspectRatio": {"width": 1600, "height": 1200}}
    return record, view


def _specs(base: str) -> dict[str, dict]:
    """Every post the stand-in knows, by record key: author, record, embed view, counts."""
    specs: dict[str, dict] = {}

    def add(rkey: str, who: str, created: str, text: str, **more: object) -> None:
        specs[rkey] = {"who": who, "created": created, "text": text, "langs": ["en"],
                       "counts": (0, 0, 0, 0), **more}

    link = _span(ARABIC_TEXT, ARABIC_LINK_LABEL)
    add(ARABIC_RKEY, "witness", ARABIC_CREATED, ARABIC_TEXT, langs=["ar"],
        counts=(1, 14, 37, 2),
        facets=[{"$type": "app.bsky.richtext.facet", "index": link, "features": [
                    {"$type": "app.bsky.richtext.facet#link", "uri": ARABIC_LINK}]},
                {"$type": "app.bsky.richtext.facet", "index": _span(ARABIC_TEXT, "#حلب"),
                 "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "حلب"}]}],
        embed={"$type": "app.bsky.embed.video", "alt": VIDEO_ALT,
               "video": {"$type": "blob", "ref": {"$link": VIDEO_CID}, "mimeType": "video/mp4",
                         "size": len(video_clip())},
               "aspectRatio": {"width": 160, "height": 120}},
        view={"$type": "app.bsky.embed.video#view", "cid": VIDEO_CID,
              "playlist": f"{base}{VIDEO_PATH}", "thumbnail": f"{base}{THUMBNAIL_PATH}",
              "alt": VIDEO_ALT, "aspectRatio": {"width": 160, "height": 120}})
    first, first_view = _image(base, DID, "bakery front", IMAGE_ALT)
    second, second_view = _image(base, DID, "street", "")
    add(IMAGES_RKEY, "witness", "2026-11-20T08:05:44.120Z",
        "Two photos from the bakery street this morning.\nصور من شارع المخبز.",
        langs=["en", "ar"], counts=(0, 3, 9, 0),
        embed={"$type": "app.bsky.embed.images", "images": [first, second]},
        view={"$type": "app.bsky.embed.images#view", "images": [first_view, second_view]},
        labels=[{"ver": 1, "src": MODERATION, "uri": at_uri(DID, IMAGES_RKEY),
                 "cid": cid(f"post {IMAGES_RKEY}"), "val": "graphic-media",
                 "cts": "2026-11-20T08:09:00.000Z"}])
    add(REPLY_RKEY, "witness", "2026-11-20T08:30:02.901Z",
        "Update: power is back in two streets.", counts=(0, 1, 4, 0),
        reply={"root": {"uri": at_uri(DID, ARABIC_RKEY), "cid": cid(f"post {ARABIC_RKEY}")},
               "parent": {"uri": at_uri(DID, ARABIC_RKEY), "cid": cid(f"post {ARABIC_RKEY}")}})
    news_uri = at_uri(NEWSDESK_DID, NEWS_RKEY)
    add(QUOTE_RKEY, "witness", "2026-11-20T09:00:37.455Z",
        "This matches what we saw on the ground.", counts=(0, 2, 6, 0),
        embed={"$type": "app.bsky.embed.record",
               "record": {"uri": news_uri, "cid": cid(f"post {NEWS_RKEY}")}},
        view={"$type": "app.bsky.embed.record#view", "record": {
            "$type": "app.bsky.embed.record#viewRecord", "uri": news_uri,
            "cid": cid(f"post {NEWS_RKEY}"), "author": _author(base, "newsdesk"),
            "value": {"$type": POST_TYPE, "text": "Power cuts reported across the city.",
                      "createdAt": "2026-11-20T06:55:00.000Z", "langs": ["en"]},
            "labels": [], "likeCount": 40, "replyCount": 3, "repostCount": 12,
            "quoteCount": 1, "indexedAt": "2026-11-20T06:55:00.812Z", "embeds": []}})
    gone_uri = at_uri(STRANGER_DID, GONE_QUOTED_RKEY)
    add(LINK_CARD_RKEY, "witness", "2026-11-20T09:20:15.010Z",
        "The bakery queues, in the local press. The post this answered is gone.",
        counts=(0, 0, 2, 0),
        embed={"$type": "app.bsky.embed.recordWithMedia",
               "record": {"$type": "app.bsky.embed.record",
                          "record": {"uri": gone_uri, "cid": cid("gone quoted")}},
               "media": {"$type": "app.bsky.embed.external", "external": {
                   "uri": LINK_CARD_URL, "title": "Queues at the last open bakery",
                   "description": "Residents wait for hours."}}},
        view={"$type": "app.bsky.embed.recordWithMedia#view",
              "record": {"record": {"$type": "app.bsky.embed.record#viewNotFound",
                                    "uri": gone_uri, "notFound": True}},
              "media": {"$type": "app.bsky.embed.external#view", "external": {
                  "uri": LINK_CARD_URL, "title": "Queues at the last open bakery",
                  "description": "Residents wait for hours.",
                  "thumb": f"{base}/img/feed_thumbnail/plain/{DID}/{cid('card', 0x55)}@jpeg"}}})
    gone_parent = at_uri(STRANGER_DID, GONE_PARENT_RKEY)
    add(ORPHAN_REPLY_RKEY, "witness", "2026-11-20T10:00:00.000Z",
        "Answering a question from last night: yes, the road is open.",
        reply={"root": {"uri": gone_parent, "cid": cid("gone parent")},
               "parent": {"uri": gone_parent, "cid": cid("gone parent")}})
    for number, rkey in enumerate(UPDATE_RKEYS, 1):
        add(rkey, "witness", f"2026-11-20T{10 + number}:15:00.000Z",
            f"Update {number}: situation report from the eastern districts.",
            counts=(number, number, number * 5, 0))
    add(NEWS_RKEY, "newsdesk", "2026-11-20T06:55:00.000Z",
        "Power cuts reported across the city.", counts=(3, 12, 40, 1))
    for number, rkey in enumerate(REPOSTED_RKEYS, 1):
        add(rkey, "newsdesk", f"2026-11-20T{9 + 3 * (number - 1):02d}:40:00.000Z",
            f"Newsdesk bulletin {number}.")
    add(BACKDATED_RKEY, "witness", "2019-03-15T12:00:00.000Z",
        "Archived from my old blog: the bakery before the war.",
        indexed="2026-11-19T18:00:01.250Z")
    add(QUIET_RKEY, "quiet", "2026-11-20T05:30:00.000Z",
        "I only want signed-in people to read this.")
    return specs


def _post_view(base: str, rkey: str, spec: dict) -> dict:
    """An app.bsky.feed.defs#postView."""
    author = _author(base, spec["who"])
    record: dict = {"$type": POST_TYPE, "createdAt": spec["created"], "langs": spec["langs"],
                    "text": spec["text"]}
    for key in ("facets", "embed", "reply"):
        if key in spec:
            record[key] = spec[key]
    replies, reposts, likes, quotes = spec["counts"]
    created = datetime.fromisoformat(spec["created"].replace("Z", "+00:00"))
    indexed = created.replace(microsecond=min(created.microsecond + 600_000, 999_000))
    indexed_at = spec.get("indexed") or indexed.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    view = {"uri": at_uri(author["did"], rkey), "cid": cid(f"post {rkey}"), "author": author,
            "record": record, "bookmarkCount": 0, "replyCount": replies,
            "repostCount": reposts, "likeCount": likes, "quoteCount": quotes,
            "indexedAt": indexed_at,
            "viewer": {"bookmarked": False, "threadMuted": False, "embeddingDisabled": False},
            "labels": spec.get("labels", [])}
    if "view" in spec:
        view["embed"] = spec["view"]
    return view


def _feed(base: str, specs: dict[str, dict]) -> list[tuple[str, dict]]:
    """The witness's author feed, newest first: (sort time, feedViewPost)."""
    items: list[tuple[str, dict]] = []
    for rkey in WITNESS_POSTS:
        view = _post_view(base, rkey, specs[rkey])
        item: dict = {"post": view}
        if rkey == REPLY_RKEY:
            parent = _post_view(base, ARABIC_RKEY, specs[ARABIC_RKEY])
            item["reply"] = {"root": {"$type": f"{DEFS}#postView", **parent},
                             "parent": {"$type": f"{DEFS}#postView", **parent}}
        elif rkey == ORPHAN_REPLY_RKEY:
            gone = {"$type": f"{DEFS}#notFoundPost",
                    "uri": at_uri(STRANGER_DID, GONE_PARENT_RKEY), "notFound": True}
            item["reply"] = {"root": gone, "parent": gone}
        items.append((view["indexedAt"], item))
    for rkey in REPOSTED_RKEYS:
        view = _post_view(base, rkey, specs[rkey])
        when = view["indexedAt"].replace(":40:", ":45:")  # reposted five minutes later
        items.append((when, {"post": view, "reason": {
            "$type": f"{DEFS}#reasonRepost", "by": _author(base, "witness"),
            "uri": f"at://{DID}/app.bsky.feed.repost/{tid(when)}",
            "cid": cid(f"repost {rkey}"), "indexedAt": when}}))
    return sorted(items, key=lambda pair: pair[0], reverse=True)


def _profile(base: str, who: str) -> dict:
    """An app.bsky.actor.defs#profileViewDetailed."""
    profile = _author(base, who)
    profile.update(description="Reports from the ground.", followersCount=1530,
                   followsCount=12, postsCount=len(WITNESS_POSTS),
                   indexedAt="2025-01-10T08:00:00.000Z",
                   banner=f"{base}/img/banner/plain/{profile['did']}/{cid('banner', 0x55)}@jpeg")
    return profile


@functools.cache
def hls_segment() -> bytes:
    """The fixture clip as one MPEG-TS segment (H.264/AAC, stream copy), made once."""
    with tempfile.TemporaryDirectory() as tmp:
        source, out = Path(tmp) / "clip.mp4", Path(tmp) / "video0.ts"
        source.write_bytes(video_clip())
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(source), "-c", "copy",
                        "-f", "mpegts", str(out)], check=True)
        return out.read_bytes()


MASTER_PLAYLIST = ("#EXTM3U\n#EXT-X-VERSION:3\n"
                   '#EXT-X-STREAM-INF:BANDWIDTH=180000,RESOLUTION=160x120,'
                   'CODECS="avc1.64000c,mp4a.40.2"\n360p/video.m3u8\n')
MEDIA_PLAYLIST = ("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n"
                  "#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n"
                  "#EXTINF:2.023,\nvideo0.ts\n#EXT-X-ENDLIST\n")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00fixture-jpeg\xff\xd9"
HANDLES = {HANDLE: DID, NEWSDESK_HANDLE: NEWSDESK_DID, QUIET_HANDLE: QUIET_DID,
           TAKENDOWN_HANDLE: TAKENDOWN_DID, DEACTIVATED_HANDLE: DEACTIVATED_DID}
PROFILES = {DID: "witness", NEWSDESK_DID: "newsdesk", QUIET_DID: "quiet"}
XRPC_ERRORS = {  # (HTTP status, error, message) by record key
    DELETED_RKEY: (400, "NotFound", None),
    LOGIN_RKEY: (401, "AuthenticationRequired", "Authentication Required"),
    RATE_LIMITED_RKEY: (429, "RateLimitExceeded", "Rate Limit Exceeded"),
    UPSTREAM_RKEY: (502, "UpstreamFailure", "Upstream Failure"),
}


class _Handler(PlatformHandler):
    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        if path.startswith("/xrpc/"):
            return self._xrpc(path.removeprefix("/xrpc/"), query)
        if path == VIDEO_PATH:
            return self.send(200, MASTER_PLAYLIST.encode(), "application/vnd.apple.mpegurl")
        if path == "/media/bsky-video/360p/video.m3u8":
            return self.send(200, MEDIA_PLAYLIST.encode(), "application/vnd.apple.mpegurl")
        if path == "/media/bsky-video/360p/video0.ts":
            return self.send(200, hls_segment(), "video/mp2t")
        if path == MP4_PATH:
            return self.send(200, video_clip(), "video/mp4")
        if path == THUMBNAIL_PATH or path.startswith("/img/"):
            return self.send(200, JPEG, "image/jpeg")
        if path.startswith("/profile/"):
            return self.send_html(200, self._page(unquote(path)))
        return self.not_found()

    def _xrpc(self, method: str, query: dict[str, str]) -> None:
        base = self.base
        if method == "com.atproto.identity.resolveHandle":
            did = HANDLES.get(query.get("handle", "").lower())
            if did is None:
                return self._error(400, "InvalidRequest", "Unable to resolve handle")
            return self.send_json(200, {"did": did})
        if method == "app.bsky.actor.getProfile":
            actor = query.get("actor", "")
            did = HANDLES.get(actor.lower(), actor)
            if did == TAKENDOWN_DID:
                return self._error(400, "AccountTakedown", "Account has been suspended")
            if did == DEACTIVATED_DID:
                return self._error(400, "AccountDeactivated", "Account is deactivated")
            if did not in PROFILES:
                return self._error(400, "InvalidRequest", "Profile not found")
            return self.send_json(200, _profile(base, PROFILES[did]))
        if method == "app.bsky.feed.getPostThread":
            return self._thread(query.get("uri", ""))
        if method == "app.bsky.feed.getAuthorFeed":
            return self._author_feed(query)
        return self._error(501, "MethodNotImplemented", "Method Not Implemented")

    def _thread(self, uri: str) -> None:
        if not uri.startswith("at://") or uri.count("/") != 4:
            return self._error(400, "InvalidRequest", "Error: uri must be a valid at-uri")
        authority, collection, rkey = uri.removeprefix("at://").split("/")
        did = HANDLES.get(authority.lower(), authority)
        uri = at_uri(did, rkey)
        if rkey in XRPC_ERRORS and did == DID:
            status, error, message = XRPC_ERRORS[rkey]
            headers = {}
            if status == 429:
                headers = {"ratelimit-limit": "3000", "ratelimit-remaining": "0",
                           "ratelimit-reset": str(RATE_LIMIT_RESET),
                           "ratelimit-policy": "3000;w=300"}
            return self._error(status, error, message or f"Post not found: {uri}", headers)
        if did == DID and rkey == NOT_FOUND_VIEW_RKEY:
            return self.send_json(200, {"thread": {"$type": f"{DEFS}#notFoundPost",
                                                   "uri": uri, "notFound": True}})
        if did == DID and rkey == BLOCKED_RKEY:
            return self.send_json(200, {"thread": {
                "$type": f"{DEFS}#blockedPost", "uri": uri, "blocked": True,
                "author": {"did": did, "viewer": {"blockedBy": True}}}})
        if did == DID and rkey == BROKEN_RKEY:
            return self.send_json(200, {"thread": {"$type": f"{DEFS}#threadViewPost"}})
        specs = _specs(self.base)
        spec = specs.get(rkey)
        if collection != POST_TYPE or spec is None or _author(self.base, spec["who"])[
                "did"] != did:
            return self._error(400, "NotFound", f"Post not found: {uri}")
        thread: dict = {"$type": f"{DEFS}#threadViewPost",
                        "post": _post_view(self.base, rkey, spec), "replies": []}
        parent = (spec.get("reply") or {}).get("parent", {}).get("uri", "")
        if parent:
            parent_rkey = parent.rsplit("/", 1)[1]
            if parent_rkey in specs:
                thread["parent"] = {"$type": f"{DEFS}#threadViewPost",
                                    "post": _post_view(self.base, parent_rkey,
                                                       specs[parent_rkey])}
            else:
                thread["parent"] = {"$type": f"{DEFS}#notFoundPost", "uri": parent,
                                    "notFound": True}
        return self.send_json(200, {"thread": thread})

    def _author_feed(self, query: dict[str, str]) -> None:
        actor = query.get("actor", "")
        did = HANDLES.get(actor.lower(), actor)
        if did != DID:
            return self._error(400, "InvalidRequest", "Profile not found")
        limit = int(query.get("limit", "50"))
        items = _feed(self.base, _specs(self.base))
        if "cursor" in query:
            items = [pair for pair in items if pair[0] < query["cursor"]]
        page = items[:min(limit, PAGE)]
        answer: dict = {"feed": [item for _, item in page]}
        if page:  # like the AppView: a cursor after every page that has items
            answer["cursor"] = page[-1][0]
        return self.send_json(200, answer)

    def _error(self, status: int, error: str, message: str,
               headers: dict[str, str] | None = None) -> None:
        self.send_json(status, {"error": error, "message": message}, headers)

    def _page(self, path: str) -> str:
        """The bsky.app shell: og: meta and a noscript summary for crawlers (posts only)."""
        segments = [s for s in path.split("/") if s]
        meta = summary = ""
        title = "Bluesky"
        specs = _specs(self.base)
        if len(segments) == 4 and segments[2] == "post" and segments[3] in specs:
            spec = specs[segments[3]]
            author = _author(self.base, spec["who"])
            if spec["who"] != "quiet":  # bsky.app keeps logged-out visitors away from these
                text = html.escape(spec["text"])
                title = f"@{author['handle']} on Bluesky"
                meta = (f'<meta property="og:type" content="article">\n'
                        f'<meta property="profile:username" content="{author["handle"]}">\n'
                        f'<meta property="og:title" content="{html.escape(author["displayName"])}'
                        f' (@{author["handle"]})">\n'
                        f'<meta property="og:description" content="{text}">\n'
                        f'<meta property="article:published_time" content="{spec["created"]}">\n'
                        f'<meta name="twitter:card" content="summary">\n'
                        f'<link rel="alternate" href="{at_uri(author["did"], segments[3])}">\n')
                summary = (f'<div id="bsky_post_summary"><h3>Post</h3>'
                           f'<p id="bsky_display_name">{html.escape(author["displayName"])}</p>'
                           f'<p id="bsky_handle">{author["handle"]}</p>'
                           f'<p id="bsky_did">{author["did"]}</p>'
                           f'<p id="bsky_post_text">{text}</p>'
                           f'<p id="bsky_post_indexedat">{spec["created"]}</p></div>')
        return (f"<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"UTF-8\">\n"
                f"<title>{html.escape(title)}</title>\n{meta}"
                f'<meta name="application-name" content="Bluesky">\n</head>\n<body>\n'
                f'<div id="root"></div>\n<noscript><h1 lang="en">JavaScript Required</h1>'
                f"<p>This is a heavily interactive web application, and JavaScript is "
                f"required.</p>{summary}</noscript>\n</body>\n</html>\n")


class BlueskyFixture(PlatformFixture):
    """The Bluesky stand-in. Point the module (or ``ISNAD_PLATFORMS__BLUESKY__BASE_URL``) at
    ``.base``."""

    handler = _Handler

    def post_url(self, rkey: str = ARABIC_RKEY, account: str = HANDLE) -> str:
        """A post's URL on the stand-in, shaped like bsky.app's (default: the Arabic post)."""
        return f"{self.base}/profile/{account}/post/{rkey}"

    def channel_url(self, account: str = HANDLE) -> str:
        """A profile's URL on the stand-in, shaped like bsky.app's (default: the witness)."""
        return f"{self.base}/profile/{account}"


def public_url(rkey: str, account: str = HANDLE) -> str:
    """The canonical bsky.app URL of a post."""
    return f"https://bsky.app/profile/{account}/post/{rkey}"
