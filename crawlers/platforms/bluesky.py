"""Bluesky posts and profiles, from the public AppView's XRPC API: no login.

URLs: ``https://bsky.app/profile/<handle-or-did>/post/<rkey>`` (a post) and
``https://bsky.app/profile/<handle-or-did>`` (a profile), also on ``www.bsky.app`` and
``main.bsky.dev``. A handle is a domain name (``someone.bsky.social``, ``newsroom.example``);
a DID (``did:plc:...``, ``did:web:...``) names the account for good, handles can change.

Where each thing is read from (all on the base, ``https://public.api.bsky.app``):

- ``com.atproto.identity.resolveHandle?handle=``: the account's DID, when the URL gives a
  handle. A handle that resolves to nothing is ``UNAVAILABLE``: the account was deleted or
  renamed its handle, and Bluesky does not say which.
- ``app.bsky.feed.getPostThread?uri=at://<did>/app.bsky.feed.post/<rkey>&depth=0&parentHeight=1``:
  the post view and its parent. ``text`` is the record's ``text`` exactly (links are shortened
  there, as the author's app wrote them: the full addresses come from the link facets, listed
  as media of type link, each with a note of the label shown); ``published`` is the record's
  ``createdAt``, the time the author's app wrote into the record (it can be set to anything;
  the AppView's ``indexedAt`` is noted when they differ by more than five minutes);
  ``language`` is the first of the record's ``langs`` (all noted when several). Media come from
  the embed *view*: images (``fullsize``, ``alt``), a video's HLS playlist (type video: yt-dlp
  downloads it) and its thumbnail, a link card (link, and its thumbnail). A quoted post is
  ``quote_of``; its own media are not listed (capture it on its own). ``reply_to`` is the
  parent's bsky.app URL. Counts, as the AppView counts them: ``replies`` (replyCount),
  ``reposts`` (repostCount), ``likes`` (likeCount), ``quotes`` (quoteCount). Bluesky posts
  cannot be edited: ``edited`` stays None. Labels (moderation or the author's own) are noted.
  The record's at:// URI and CID (the hash of the record in the author's repository) are noted.
- ``app.bsky.actor.getProfile?actor=``: asked when the post is not found, to tell a suspended
  (``AccountTakedown``: SUSPENDED) or deactivated (``AccountDeactivated``: UNAVAILABLE) account
  from a deleted post (DELETED: the AppView does not tell deletion by the author from removal
  by moderation). For a profile listing, it gives the DID; a suspended, deactivated or missing
  account raises PlatformError.
- ``app.bsky.feed.getAuthorFeed?actor=<did>&limit=&filter=posts_with_replies&cursor=``: the
  profile's posts and replies, newest first (the AppView's order), paged with ``cursor`` until
  the limit. Reposts (``reason`` ``#reasonRepost``) are other people's posts and are left out,
  as is a pinned-post entry.

Login: none. An author's ``!no-unauthenticated`` label makes bsky.app hide their posts from
logged-out visitors: the API still answers (status OK, noted) but the page capture shows a
sign-in prompt. A session configured for Bluesky is not used by this module; the crawler would
still send it to Bluesky's hosts, where the public AppView does not accept account tokens.

Known to break: 429 answers (``ratelimit-*`` headers) raise PlatformError; a handle renamed
since the URL was shared stops resolving (use the DID URL); moderation labels are those of
Bluesky's default labelers; the original video file on the author's PDS is not fetched (the
HLS playlist is); at:// URIs are not matched (they are not pages to capture).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from crawlers.platforms.base import (
    DELETED,
    LOGIN_WALL,
    SUSPENDED,
    UNAVAILABLE,
    Fetch,
    Fetched,
    Listing,
    Media,
    Platform,
    PlatformError,
    Post,
    PostRef,
    Target,
    dig,
    utc_iso,
)

WEB_HOSTS = frozenset({"bsky.app", "www.bsky.app", "main.bsky.dev"})
API_HOSTS = frozenset({"public.api.bsky.app", "api.bsky.app"})
HANDLE = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
                    r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$")
DID = re.compile(r"^did:(?:plc:[a-z2-7]{24}|web:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-])$")
RKEY = re.compile(r"^(?!\.{1,2}$)[A-Za-z0-9._:~-]{1,512}$")
INVALID_HANDLE = "handle.invalid"  # what the AppView shows for a handle that does not verify
MODERATION = "did:plc:ar7c4by46qjdydhdevvrndac"  # Bluesky's own moderation labeler
FEED = "app.bsky.feed.defs"
THREAD_VIEW, NOT_FOUND_POST, BLOCKED_POST = (f"{FEED}#threadViewPost", f"{FEED}#notFoundPost",
                                             f"{FEED}#blockedPost")
QUOTED_GONE = {"app.bsky.embed.record#viewNotFound": "is not found (deleted or removed)",
               "app.bsky.embed.record#viewBlocked": "is blocked from view",
               "app.bsky.embed.record#viewDetached": "was detached from this post by its author"}
WEB_PATHS = {"app.bsky.feed.post": "post", "app.bsky.feed.generator": "feed",
             "app.bsky.graph.list": "lists"}
ACCEPT = {"Accept": "application/json"}
TIME_APART = 300  # seconds between createdAt and indexedAt worth a note


class BlueskyPlatform(Platform):
    name = "bluesky"
    default_base = "https://public.api.bsky.app"
    hosts = WEB_HOSTS | API_HOSTS

    def match(self, url: str) -> Target | None:
        if not self.owns(url):
            return None
        parts = urlsplit(url)
        on_base = self.overridden and parts.netloc == urlsplit(self.base).netloc
        if (parts.hostname or "").lower() not in WEB_HOSTS and not on_base:
            return None  # the API hosts serve no pages
        path = [unquote(p) for p in parts.path.split("/") if p]
        if len(path) not in (2, 4) or path[0] != "profile":
            return None
        account = _account(path[1])
        if account is None:
            return None
        if len(path) == 2:
            return Target(self.name, "channel", url, {"account": account})
        if path[2] != "post" or not RKEY.match(path[3]):
            return None  # feeds, lists, followers... are not posts
        return Target(self.name, "post", url, {"account": account, "post": path[3]})

    async def extract_post(self, target: Target, fetch: Fetch) -> Post:
        account, rkey = target.ids["account"], target.ids["post"]
        post = Post(self.name, rkey, web_url(f"at://{account}/app.bsky.feed.post/{rkey}"))
        did = account if account.startswith("did:") else None
        if did is None:
            url, status, data = await self._call(fetch, "com.atproto.identity.resolveHandle",
                                                 handle=account)
            post.source.append(url)
            if status != 200:
                if _refused(post, status, data):
                    return post
                if status != 400:
                    raise PlatformError(f"{url} answered HTTP {status}: {_said(data)}")
                post.status = UNAVAILABLE
                post.notes.append(
                    f"the handle @{account} does not resolve to an account (Bluesky: "
                    f"{_said(data)}): the account was deleted or changed its handle, and "
                    "Bluesky does not say which; a URL with the account's DID still works "
                    "after a change of handle")
                return post
            did = data.get("did")
            if not isinstance(did, str) or not DID.match(did):
                raise PlatformError(f"{url} gave no DID for @{account}: Bluesky's API changed")
            post.author_handle = account  # the handle resolved: it is the account's now
        post.author_id = did
        uri = f"at://{did}/app.bsky.feed.post/{rkey}"
        url, status, data = await self._call(fetch, "app.bsky.feed.getPostThread", uri=uri,
                                             depth="0", parentHeight="1")
        post.source.append(url)
        if status != 200:
            if _refused(post, status, data):
                return post
            if data.get("error") == "NotFound":
                return await self._not_found(post, fetch, did, _said(data))
            raise PlatformError(f"{url} answered HTTP {status}: {_said(data)}")
        thread = data.get("thread")
        kind = thread.get("$type") if isinstance(thread, dict) else None
        if kind == NOT_FOUND_POST:
            return await self._not_found(post, fetch, did, f"the thread is {NOT_FOUND_POST}")
        if kind == BLOCKED_POST:
            post.status = UNAVAILABLE
            post.notes.append(f"Bluesky shows the post as blocked ({BLOCKED_POST}): a block "
                              "involving its author hides it")
            return post
        if kind != THREAD_VIEW or not isinstance(thread.get("post"), dict):
            raise PlatformError(f"{url} gave no {THREAD_VIEW} with a post view (thread: "
                                f"{kind or type(thread).__name__}): Bluesky's API changed")
        _fill(post, thread, uri, url)
        return post

    async def list_posts(self, target: Target, fetch: Fetch, limit: int) -> Listing:
        account = target.ids["account"]
        url, status, data = await self._call(fetch, "app.bsky.actor.getProfile", actor=account)
        if status != 200:
            said = _said(data)
            if data.get("error") == "AccountTakedown":
                raise PlatformError(f"the Bluesky account {account} is suspended (Bluesky: "
                                    f"{said}): none of its posts are listed")
            if data.get("error") == "AccountDeactivated":
                raise PlatformError(f"the Bluesky account {account} is deactivated (Bluesky: "
                                    f"{said}): none of its posts are listed")
            if status == 400:
                raise PlatformError(f"no Bluesky account {account} ({url} answered: {said})")
            raise PlatformError(f"Bluesky refused the profile {account} ({url} answered HTTP "
                                f"{status}: {said})")
        did = data.get("did")
        if not isinstance(did, str) or not DID.match(did):
            raise PlatformError(f"{url} gave no DID for {account}: Bluesky's API changed")
        refs: list[PostRef] = []
        cursor: str | None = None
        used: set[str] = set()
        while len(refs) < limit:
            params = {"actor": did, "limit": str(min(100, limit - len(refs))),
                      "filter": "posts_with_replies"}
            if cursor:
                params["cursor"] = cursor
            url, status, data = await self._call(fetch, "app.bsky.feed.getAuthorFeed", **params)
            if status != 200:
                raise PlatformError(f"Bluesky refused the posts of {account} ({url} answered "
                                    f"HTTP {status}: {_said(data)})")
            feed = data.get("feed")
            if not isinstance(feed, list):
                raise PlatformError(f"{url} has no feed list: Bluesky's API changed")
            for item in feed:
                if not isinstance(item, dict) or not isinstance(item.get("post"), dict):
                    raise PlatformError(f"{url} lists an item without a post view: Bluesky's "
                                        "API changed")
                if item.get("reason"):
                    continue  # a repost (someone else's post) or the pinned post again
                ref = self._ref(item["post"], did)
                if ref is not None and len(refs) < limit:
                    refs.append(ref)
            cursor = data.get("cursor")
            if not feed or not isinstance(cursor, str) or not cursor:
                break
            if cursor in used:
                raise PlatformError(f"{url} gave a paging cursor already used ({cursor}): "
                                    "Bluesky's paging is not moving on")
            used.add(cursor)
        return Listing(refs)

    def _ref(self, shown: dict[str, Any], did: str) -> PostRef | None:
        """A listed post view as a PostRef (None when it is not the account's own post)."""
        uri = shown.get("uri")
        if not isinstance(uri, str) or not uri.startswith(f"at://{did}/app.bsky.feed.post/"):
            return None
        return PostRef(self.name, uri.rsplit("/", 1)[1],
                       web_url(uri, dig(shown, "author", "handle")),
                       _time(dig(shown, "record", "createdAt")))

    async def _not_found(self, post: Post, fetch: Fetch, did: str, said: str) -> Post:
        """The post is not found: ask the account's profile whether the account is the cause."""
        post.notes.append(f"Bluesky's AppView does not find the post ({said})")
        url, status, data = await self._call(fetch, "app.bsky.actor.getProfile", actor=did)
        post.source.append(url)
        if status != 200 and _refused(post, status, data):
            return post
        post.status = DELETED
        if status == 200:
            post.notes.append("the account itself is active: the post was deleted by its "
                              "author or removed by moderation (Bluesky does not say which)")
        else:
            post.notes.append(f"the account is not found either ({_said(data)}): the post and "
                              "perhaps the whole account were deleted")
        return post

    async def _call(self, fetch: Fetch, method: str, **params: str
                    ) -> tuple[str, int, dict[str, Any]]:
        """One XRPC query: (URL, HTTP status, JSON object). Rate limits, server errors and
        answers that are not XRPC JSON raise PlatformError."""
        url = f"{self.base}/xrpc/{method}?{urlencode(params)}"
        answer = await fetch(url, headers=ACCEPT)
        if answer.status == 429:
            raise PlatformError(_rate_limited(answer, url))
        data = _json_object(answer, url)
        if answer.status >= 500:
            raise PlatformError(f"Bluesky's AppView failed on {url} (HTTP {answer.status}: "
                                f"{_said(data)}): try again later")
        if answer.status != 200 and not isinstance(data.get("error"), str):
            raise PlatformError(f"{url} answered HTTP {answer.status} without an XRPC error: "
                                "not Bluesky's AppView, or its API changed")
        return url, answer.status, data


def web_url(uri: str, handle: str | None = None) -> str:
    """The bsky.app page of an at:// URI (post, feed, list, starter pack), else the URI."""
    parts = uri.removeprefix("at://").split("/")
    if not uri.startswith("at://") or len(parts) != 3:
        return uri
    authority, collection, rkey = parts
    who = handle if isinstance(handle, str) and handle and handle != INVALID_HANDLE \
        else authority
    if collection in WEB_PATHS:
        return f"https://bsky.app/profile/{who}/{WEB_PATHS[collection]}/{rkey}"
    if collection == "app.bsky.graph.starterpack":
        return f"https://bsky.app/starter-pack/{who}/{rkey}"
    if collection == "app.bsky.labeler.service":
        return f"https://bsky.app/profile/{who}"
    return uri


def _account(raw: str) -> str | None:
    """A handle (lower case) or DID from a URL path, or None when it is neither."""
    if raw.startswith("did:"):
        return raw if DID.match(raw) else None
    handle = raw.lower()
    return handle if HANDLE.match(handle) and handle != INVALID_HANDLE else None


def _fill(post: Post, thread: dict[str, Any], uri: str, url: str) -> None:
    """Every field of a ``#threadViewPost``'s post view."""
    shown = thread["post"]
    author, record = shown.get("author"), shown.get("record")
    if not isinstance(author, dict) or not isinstance(record, dict) or not isinstance(
            author.get("did"), str) or not isinstance(record.get("text"), str):
        raise PlatformError(f"{url}: the post view has no author DID or record text: "
                            "Bluesky's API changed")
    if shown.get("uri") != uri:
        raise PlatformError(f"{url} answered for {shown.get('uri')!r}, not {uri}")
    handle = author.get("handle")
    post.author_id = author["did"]
    post.url = web_url(uri, handle)
    if isinstance(handle, str) and handle and handle != INVALID_HANDLE:
        post.author_handle = handle
    else:
        post.notes.append(f"the account's handle does not verify (Bluesky shows "
                          f"{handle!r}): the URL uses its DID")
    post.author_name = author.get("displayName") or None
    post.notes.append(f"record {uri}, CID {shown.get('cid')} (the hash of the record as "
                      "stored in the author's repository)")
    post.text = record["text"]
    _times(post, record.get("createdAt"), shown.get("indexedAt"))
    langs = _strings(record.get("langs"))
    post.language = langs[0] if langs else None
    if len(langs) > 1:
        post.notes.append(f"languages given by the author: {', '.join(langs)}")
    embed = shown.get("embed")
    if isinstance(embed, dict):
        _embed(post, embed)
    elif isinstance(record.get("embed"), dict):
        post.notes.append(f"the record embeds {record['embed'].get('$type')} but the AppView "
                          "shows no embed: not read")
    _facets(post, record)
    for key, name in (("replyCount", "replies"), ("repostCount", "reposts"),
                      ("likeCount", "likes"), ("quoteCount", "quotes")):
        if isinstance(shown.get(key), int) and not isinstance(shown.get(key), bool):
            post.counts[name] = shown[key]
    _reply(post, record.get("reply"), thread.get("parent"))
    tags = _strings(record.get("tags"))
    if tags:
        post.notes.append(f"hashtags in the record but not in the text: {', '.join(tags)}")
    _labels(post, shown.get("labels"), "the post")
    _labels(post, author.get("labels"), "the account")


def _times(post: Post, created: object, indexed: object) -> None:
    post.published = _time(created)
    if created and post.published is None:
        post.notes.append(f"the record's createdAt {created!r} is not a readable time")
    seen = _time(indexed)
    if post.published and seen:
        apart = abs(_seconds(seen) - _seconds(post.published))
        if apart > TIME_APART:
            post.notes.append(f"the record says it was created at {post.published} (set by the "
                              f"author's app); Bluesky indexed it at {seen}")


def _embed(post: Post, embed: dict[str, Any]) -> None:
    """Media and the quoted record from an embed view (recordWithMedia: both)."""
    kind = embed.get("$type", "")
    if kind == "app.bsky.embed.images#view":
        for image in _objects(embed.get("images")):
            source = image.get("fullsize") or image.get("thumb")
            if isinstance(source, str):
                post.media.append(Media(source, "image", image.get("alt") or None))
    elif kind == "app.bsky.embed.video#view":
        if isinstance(embed.get("playlist"), str):
            post.media.append(Media(embed["playlist"], "video", embed.get("alt") or None))
        if isinstance(embed.get("thumbnail"), str):
            post.media.append(Media(embed["thumbnail"], "image"))
    elif kind == "app.bsky.embed.external#view":
        card = embed.get("external") if isinstance(embed.get("external"), dict) else {}
        if isinstance(card.get("uri"), str):
            post.media.append(Media(card["uri"], "link"))
            if card.get("title"):
                post.notes.append(f"link card {card['title']!r} for {card['uri']}")
        if isinstance(card.get("thumb"), str):
            post.media.append(Media(card["thumb"], "image"))
    elif kind == "app.bsky.embed.record#view":
        _quoted(post, embed.get("record"))
    elif kind == "app.bsky.embed.recordWithMedia#view":
        _quoted(post, dig(embed, "record", "record"))
        if isinstance(embed.get("media"), dict):
            _embed(post, embed["media"])
    else:
        post.notes.append(f"an embed of type {kind or '(none given)'} is not read")


def _quoted(post: Post, shown: object) -> None:
    """A record embed: a quoted post (``quote_of``), or a feed, list... (a link)."""
    if not isinstance(shown, dict) or not isinstance(shown.get("uri"), str):
        post.notes.append("the post embeds a record the AppView does not show")
        return
    kind, uri = shown.get("$type", ""), shown["uri"]
    if kind == "app.bsky.embed.record#viewRecord":
        post.quote_of = web_url(uri, dig(shown, "author", "handle"))
    elif kind in QUOTED_GONE:
        post.quote_of = web_url(uri)
        post.notes.append(f"the quoted post {QUOTED_GONE[kind]} ({kind})")
    else:
        post.media.append(Media(web_url(uri, dig(shown, "creator", "handle")), "link"))
        post.notes.append(f"the post embeds {kind or 'a record'}: {uri}")


def _facets(post: Post, record: dict[str, Any]) -> None:
    """Link facets (the full addresses behind the shortened labels) and mentions."""
    raw = record["text"].encode("utf-8")
    listed = {m.url for m in post.media}
    for facet in _objects(record.get("facets")):
        index = facet.get("index") if isinstance(facet.get("index"), dict) else {}
        start, end = index.get("byteStart"), index.get("byteEnd")
        label = None
        if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(raw):
            label = raw[start:end].decode("utf-8", errors="replace")
        for feature in _objects(facet.get("features")):
            kind = feature.get("$type")
            if kind == "app.bsky.richtext.facet#link" and isinstance(feature.get("uri"), str):
                link = feature["uri"]
                if link not in listed:
                    post.media.append(Media(link, "link"))
                    listed.add(link)
                if label and label != link:
                    post.notes.append(f"the text shows {label!r} for the link {link}")
            elif kind == "app.bsky.richtext.facet#mention" and isinstance(
                    feature.get("did"), str):
                post.notes.append(f"{label or 'a mention'} is the account {feature['did']}")


def _reply(post: Post, reply: object, parent: object) -> None:
    if not isinstance(reply, dict):
        return
    parent_uri, root_uri = dig(reply, "parent", "uri"), dig(reply, "root", "uri")
    kind = dig(parent, "$type")
    if kind == THREAD_VIEW and isinstance(dig(parent, "post", "uri"), str):
        post.reply_to = web_url(dig(parent, "post", "uri"),
                                dig(parent, "post", "author", "handle"))
    elif isinstance(parent_uri, str):
        post.reply_to = web_url(parent_uri)
        if kind == NOT_FOUND_POST:
            post.notes.append("the post it replies to is not found (deleted or removed)")
        elif kind == BLOCKED_POST:
            post.notes.append("the post it replies to is blocked from view")
    if isinstance(root_uri, str) and root_uri != parent_uri:
        post.notes.append(f"the thread starts at {web_url(root_uri)}")


def _labels(post: Post, labels: object, where: str) -> None:
    for label in _objects(labels):
        value, source = label.get("val"), label.get("src")
        if not isinstance(value, str) or label.get("neg"):
            continue
        if value == "!no-unauthenticated":
            post.notes.append("the author asks Bluesky to hide their posts from logged-out "
                              "visitors (label !no-unauthenticated): bsky.app shows a sign-in "
                              "prompt instead of this post, the public API still answers")
            continue
        by = "Bluesky's moderation" if source == MODERATION else (
            "the author" if source == post.author_id else source)
        post.notes.append(f"{where} is labelled {value!r} by {by}")


def _refused(post: Post, status: int, data: dict[str, Any]) -> bool:
    """Set the status for what Bluesky says about the account or the viewer; True if it did."""
    error, said = data.get("error"), _said(data)
    if error == "AccountTakedown":
        post.status = SUSPENDED
        post.notes.append(f"Bluesky says the account is suspended ({said})")
    elif error == "AccountDeactivated":
        post.status = UNAVAILABLE
        post.notes.append(f"the account is deactivated ({said}): its posts come back if its "
                          "owner reactivates it")
    elif error in ("BlockedActor", "BlockedByActor"):
        post.status = UNAVAILABLE
        post.notes.append(f"a block hides the account ({said})")
    elif status == 401 or error in ("AuthenticationRequired", "AuthMissing"):
        post.status = LOGIN_WALL
        post.notes.append(f"Bluesky wants a login for this post (HTTP {status}: {said})")
    else:
        return False
    return True


def _json_object(answer: Fetched, url: str) -> dict[str, Any]:
    try:
        data = json.loads(answer.body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        kind = answer.headers.get("content-type", "no content type")
        raise PlatformError(f"{url} answered HTTP {answer.status} with no XRPC JSON object "
                            f"({kind}: {answer.body[:60]!r}): not Bluesky's AppView, or its "
                            "API changed")
    return data


def _rate_limited(answer: Fetched, url: str) -> str:
    policy = answer.headers.get("ratelimit-policy")
    reset = answer.headers.get("ratelimit-reset", "")
    return (f"Bluesky rate limited {url} (HTTP 429"
            + (f", policy {policy}" if policy else "")
            + (f", resets at {utc_iso(int(reset))}" if reset.isdigit() else "")
            + "): wait, then capture again")


def _said(data: dict[str, Any]) -> str:
    """An XRPC error as Bluesky words it: ``Error: message``."""
    error, message = data.get("error"), data.get("message")
    return ": ".join(str(part)[:200] for part in (error, message) if part) or "no error given"


def _time(value: object) -> str | None:
    """A record's time as UTC "Z", or None when it is not a readable ISO 8601 time."""
    if not isinstance(value, str) or not value:
        return None
    # Records may carry more than microsecond precision, which Python does not read.
    value = re.sub(r"(\.\d{6})\d+", r"\1", value)
    try:
        return utc_iso(value)
    except (ValueError, OverflowError):
        return None


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _strings(value: object) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _objects(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
