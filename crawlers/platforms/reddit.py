"""Reddit, from its public JSON: the ``.json`` view Reddit gives of every thread and listing.

Where each thing is read from (all on ``www.reddit.com``, or the configured base):

- A post (``/r/<sub>/comments/<id>[/<slug>]``, ``/comments/<id>``, ``/user/<u>/comments/<id>``,
  ``/u/<u>/comments/<id>``, ``/gallery/<id>``, ``redd.it/<id>``):
  ``/comments/<id>/.json?raw_json=1&limit=20``, a list of two Listings: the post (``t3``) and
  its top comments (``t1``, kept in the WARC as context, not read). ``raw_json=1`` keeps ``&``,
  ``<`` and ``>`` as published: without it Reddit HTML-escapes every string.
- A comment (``/r/<sub>/comments/<id>/<slug>/<comment>``, ``.../comments/<id>/comment/<comment>``)
  is a record of its own: ``/comments/<id>/_/<comment>/.json?raw_json=1`` gives the post, then
  the comment first in the second Listing. ``reply_to`` is its parent: the post, or the parent
  comment's permalink (Reddit's form: the post's permalink followed by the comment id).
- A share link (``/r/<sub>/s/<code>``, ``/u/<user>/s/<code>``) is opaque: it is fetched, Reddit
  redirects it to the post or comment, and that final URL is read as above. Both URLs are in
  ``source`` and the resolution is in ``notes``.
- A subreddit (``/r/<sub>``, with or without a sort: the listing is always newest first):
  ``/r/<sub>/new.json?limit=<n>&raw_json=1&after=<fullname>``. A user (``/user/<u>``, ``/u/<u>``,
  ``/submitted``): ``/user/<u>/about.json`` first (missing? suspended?), then
  ``/user/<u>/submitted.json?sort=new&limit=<n>&raw_json=1&after=<fullname>``. Pages follow
  ``data.after`` until the limit or ``null``, at most 100 a page (Reddit's cap). The refs are
  sorted by ``created_utc``, newest first, so a post pinned to the top of a page cannot break
  the order (Reddit pins stickied posts in the hot sort only, but the sort costs nothing).

The record: ``title`` the post title (comments have none); ``text`` the Markdown source as
typed (``selftext`` or a comment's ``body``), None for a link or media post without a body;
``author_handle`` the username, ``author_id`` its fullname (``t2_...``); Reddit shows no
display name with a post, so ``author_name`` stays None. ``edited`` is Reddit's edit time.
Counts: ``score`` (upvotes minus downvotes, fuzzed by Reddit), ``replies`` (``num_comments``:
every comment in the thread, not only direct replies), ``reposts`` (``num_crossposts``: the
crossposts to other communities). The upvote ratio is a share, not a count: it is in ``notes``
with the subreddit, the flair and the flags (NSFW, spoiler, locked, pinned, distinguished).
A crosspost's ``forwarded_from`` is the original's permalink and its media are the original's.

Media: a Reddit-hosted video is listed by its ``fallback_url``, a direct MP4 of the video track
only (Reddit serves the sound as a separate DASH stream); yt-dlp merges the sound when it reads
the post URL, which the capture hands it as well. Gallery images come with their captions as
alt text, image posts with the original ``i.redd.it`` file, a link post's link as ``link`` (a
video page such as YouTube, ``post_hint`` ``rich:video``, as ``video`` for yt-dlp), inline
images of text posts as images, and Reddit's preview image of a link or video last (said so in
``notes``: it is Reddit's thumbnail, not an upload). A video still processing (``is_video`` true,
``media`` null) is listed by its ``v.redd.it`` link, as ``video``, with a note.

Statuses: ``removed_by_category`` says who removed a post (the author, the moderators,
AutoModerator, Reddit's teams, a copyright or legal takedown): DELETED with that in the note;
Reddit's ``[deleted]``/``[removed]`` placeholders are quoted in the note and ``text`` stays None
(they are not what was published). HTTP 404 "Not Found" is DELETED (no public post with that id:
deleted and purged, or never existed); ``{"reason": "banned"}`` SUSPENDED (banned subreddit);
``"private"`` UNAVAILABLE; ``"quarantined"`` and ``"gated"`` LOGIN_WALL (an account that opted
in can read them: configure ``platforms.reddit.cookies_file``); 403 without a reason
UNAVAILABLE; a comment missing from its thread DELETED. Each note quotes Reddit's answer.

Not matched: ``/r/all``, ``/r/popular`` and Reddit's other aggregate feeds (all of Reddit,
not a source anyone follows: a monitor would capture strangers' posts), ``/user/<u>/comments``
(a listing of comments, not posts), search, settings, wiki and submit pages, and ``v.redd.it``
links (their redirect to the post passes through pages Reddit does not document; the page
capture and yt-dlp follow them without this module).

Login: nothing public needs one. Known to break: Reddit blocks anonymous clients by network
(data-centre addresses, VPNs, Tor) with an HTML page ("whoa there, pardner!", "blocked by
network security") and rate-limits anonymous reading (HTTP 429): both raise PlatformError,
the remedy is a session or another network. Reddit also asks for a descriptive User-Agent:
the capture's agent is sent (this module adds only ``Accept: application/json``). Listings
stop after about 1,000 posts (Reddit's limit). Polls' options and images inside comments are
not read.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote, urlsplit

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
    epoch_iso,
    post_fingerprint,
    utc_iso,
)

PUBLIC = "https://www.reddit.com"
JSON = {"Accept": "application/json"}
THREAD_COMMENTS = 20  # a few top comments land in the WARC with the post, as context
PAGE_MAX = 100        # Reddit clamps a listing page to 100 items

SUBREDDIT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{1,20}$")
USERNAME = re.compile(r"^[A-Za-z0-9_-]{3,20}$")
THING_ID = re.compile(r"^[A-Za-z0-9]{2,12}$")  # base36
SHARE_CODE = re.compile(r"^[A-Za-z0-9]{5,20}$")
# Feeds of all of Reddit, or of the reader's own account: not one community or author.
AGGREGATES = {"all", "popular", "random", "randnsfw", "myrandom", "friends", "mod", "home",
              "users", "subreddits"}
SORTS = {"new", "hot", "top", "rising", "controversial", "best"}
PROFILE_TABS = {"submitted", "posts", "overview"}
BLOCK_MARKERS = ("whoa there, pardner", "blocked due to a network policy",
                 "blocked by network security")
REMOVED_BY = {
    "deleted": "deleted by its author",
    "author": "deleted by its author",
    "moderator": "removed by the subreddit's moderators",
    "automod_filtered": "held back by the subreddit's AutoModerator filter (removed unless a "
                        "moderator approves it)",
    "reddit": "removed by Reddit (its spam filters)",
    "anti_evil_ops": "removed by Reddit's Anti-Evil Operations team",
    "community_ops": "removed by Reddit's Community team",
    "legal_operations": "removed by Reddit's legal team",
    "copyright_takedown": "removed by Reddit after a copyright (DMCA) notice",
    "content_takedown": "removed by Reddit after a legal takedown request",
}


class RedditPlatform(Platform):
    name = "reddit"
    default_base = PUBLIC
    hosts = frozenset({"www.reddit.com", "reddit.com", "old.reddit.com", "new.reddit.com",
                       "np.reddit.com", "m.reddit.com", "i.reddit.com", "sh.reddit.com",
                       "amp.reddit.com", "redd.it"})

    def match(self, url: str) -> Target | None:
        if not self.owns(url):
            return None
        parts = urlsplit(url)
        path = [unquote(p) for p in parts.path.split("/") if p]
        if (parts.hostname or "").lower() == "redd.it":
            if len(path) == 1 and THING_ID.match(path[0]):
                return Target(self.name, "post", url, {"post": path[0].lower()})
            return None
        ids = _match_path(path)
        if ids is None:
            return None
        kind = "post" if "post" in ids or "share" in ids else "channel"
        return Target(self.name, kind, url, ids)

    async def extract_post(self, target: Target, fetch: Fetch) -> Post:
        ids, source, notes = dict(target.ids), [], []
        if "share" in ids:
            ids = await self._follow_share(target, fetch, source, notes)
        post_id, comment_id = ids["post"], ids.get("comment")
        # Until Reddit gives the permalink: its short form, which it redirects to the thread.
        prefix = f"/r/{ids['subreddit']}" if "subreddit" in ids else ""
        if comment_id:
            api = f"{self.base}/comments/{post_id}/_/{comment_id}/.json"
            canonical = f"{PUBLIC}{prefix}/comments/{post_id}/comment/{comment_id}/"
        else:
            api = f"{self.base}/comments/{post_id}/.json"
            canonical = f"{PUBLIC}{prefix}/comments/{post_id}/"
        api += f"?raw_json=1&limit={THREAD_COMMENTS}"
        post = Post(self.name, comment_id or post_id, canonical, source=source, notes=notes)
        answer, data = await self._read(fetch, api, source)
        if isinstance(data, dict) and "error" in data:
            post.status, note = _refusal(answer, data, api)
            post.notes.append(note)
            return post
        if not isinstance(data, list) or len(data) < 2:
            raise PlatformError(f"{api} is not Reddit's thread JSON (a list of two Listings: "
                                "the post and its comments): the layout changed")
        thread = _children(data[0], api)
        if not thread or thread[0]["kind"] != "t3":
            raise PlatformError(f"{api} has no post (t3) in its first Listing")
        op = thread[0]["data"]
        if not comment_id:
            _fill_post(post, op, api)
            return post
        comment = next((c["data"] for c in _children(data[1], api)
                        if c["kind"] == "t1" and c["data"].get("id") == comment_id), None)
        if comment is None:
            post.status = DELETED
            post.notes.append(f"comment {comment_id} is not in the thread Reddit returns for it "
                              f"({api}): deleted, or never published")
            return post
        _fill_comment(post, comment, op, api)
        return post

    async def list_posts(self, target: Target, fetch: Fetch, limit: int) -> Listing:
        source: list[str] = []
        if "user" in target.ids:
            user = target.ids["user"]
            who = f"u/{user}"
            await self._check_user(fetch, user, source)
            listing = f"{self.base}/user/{user}/submitted.json?sort=new&"
        else:
            who = f"r/{target.ids['subreddit']}"
            listing = f"{self.base}/r/{target.ids['subreddit']}/new.json?"
        refs: list[PostRef] = []
        seen: set[str] = set()
        after: str | None = None
        while len(refs) < limit:
            url = f"{listing}limit={min(PAGE_MAX, limit - len(refs))}&raw_json=1"
            if after:
                url += f"&after={after}"
            answer, data = await self._read(fetch, url, source)
            if isinstance(data, dict) and "error" in data:
                raise PlatformError(_channel_refusal(who, answer, data, url))
            children = _children(data, url)
            for child in children:
                if child["kind"] != "t3":
                    raise PlatformError(f"{url} lists a {child['kind']!r}, not posts (t3)")
                item = child["data"]
                post_id = _string(item, "id", url)
                if post_id in seen:
                    continue  # a new post shifted the page: the next page repeats one
                seen.add(post_id)
                refs.append(PostRef(self.name, post_id, _permalink(item, url),
                                    epoch_iso(item.get("created_utc")),
                                    _fingerprint(item, url)))
                if len(refs) >= limit:
                    break
            following = data["data"].get("after")
            if not children or not isinstance(following, str) or following == after:
                break
            after = following
        refs.sort(key=lambda ref: ref.published or "", reverse=True)  # stable: ties keep order
        return Listing(refs)

    async def _follow_share(self, target: Target, fetch: Fetch, source: list[str],
                            notes: list[str]) -> dict[str, str]:
        """The ids of the post or comment a share link redirects to."""
        url = self.base + urlsplit(target.url).path
        answer = await fetch(url)
        source.append(url)
        if answer.url != url:
            source.append(answer.url)
        _raise_for_block(answer, url)
        resolved = self.match(answer.url)
        if resolved is None or "post" not in resolved.ids:
            raise PlatformError(f"the share link {target.url} led to {answer.url} (HTTP "
                                f"{answer.status}), not to a Reddit post or comment")
        notes.append(f"share link {target.url} redirects to {answer.url}")
        return resolved.ids

    async def _check_user(self, fetch: Fetch, user: str, source: list[str]) -> None:
        url = f"{self.base}/user/{user}/about.json?raw_json=1"
        answer, data = await self._read(fetch, url, source)
        if isinstance(data, dict) and data.get("error") == 404:
            raise PlatformError(f"Reddit has no account u/{user} ({url} answers HTTP 404 Not "
                                "Found: deleted, shadow-banned or never existed)")
        if isinstance(data, dict) and "error" in data:
            raise PlatformError(_channel_refusal(f"u/{user}", answer, data, url))
        if not isinstance(data, dict) or data.get("kind") != "t2" or not isinstance(
                data.get("data"), dict):
            raise PlatformError(f"{url} is not Reddit's account JSON (kind t2 with data)")
        if data["data"].get("is_suspended"):
            raise PlatformError(f"u/{user} is suspended by Reddit ({url} says "
                                "is_suspended: true)")

    async def _read(self, fetch: Fetch, url: str, source: list[str]) -> tuple[Fetched, Any]:
        """One JSON answer; PlatformError for what is not Reddit's JSON."""
        answer = await fetch(url, headers=JSON)
        source.append(url)
        if answer.url != url:
            source.append(answer.url)
        _raise_for_block(answer, url)
        if "/subreddits/search" in urlsplit(answer.url).path:
            raise PlatformError(f"Reddit has no such subreddit: it redirects {url} to its "
                                "subreddit search")
        if answer.status >= 500:
            raise PlatformError(f"Reddit answered HTTP {answer.status} for {url}: try again "
                                "later")
        kind = answer.headers.get("content-type", "")
        if "json" not in kind or answer.body.lstrip()[:1] not in (b"{", b"["):
            raise PlatformError(f"{url} answered HTTP {answer.status} with "
                                f"{kind or 'no content type'}, not Reddit's JSON: the layout "
                                "changed or this host is not Reddit")
        return answer, answer.json()


def _match_path(path: list[str]) -> dict[str, str] | None:
    """The ids a reddit.com path names, or None."""
    if len(path) >= 2 and path[0] == "r":
        sub, rest = path[1], path[2:]
        if not SUBREDDIT.match(sub) or sub.lower() in AGGREGATES:
            return None
        if not rest or (len(rest) == 1 and rest[0].lower() in SORTS):
            return {"subreddit": sub}
        if rest[0] == "comments":
            return _thread_ids(rest[1:], {"subreddit": sub})
        if rest[0] == "s" and len(rest) == 2 and SHARE_CODE.match(rest[1]):
            return {"subreddit": sub, "share": rest[1]}
        return None
    if len(path) >= 2 and path[0] in ("user", "u"):
        user, rest = path[1], path[2:]
        if not USERNAME.match(user) or user.lower() == "me":
            return None
        if not rest or (len(rest) == 1 and rest[0].lower() in PROFILE_TABS):
            return {"user": user}
        if rest[0] == "comments" and len(rest) >= 2:
            return _thread_ids(rest[1:], {"user": user})
        if rest[0] == "s" and len(rest) == 2 and SHARE_CODE.match(rest[1]):
            return {"user": user, "share": rest[1]}
        return None
    if path[:1] == ["comments"]:
        return _thread_ids(path[1:], {})
    if len(path) == 2 and path[0] == "gallery" and THING_ID.match(path[1]):
        return {"post": path[1].lower()}
    return None


def _thread_ids(rest: list[str], ids: dict[str, str]) -> dict[str, str] | None:
    """``<id>[/<slug>[/<comment>]]`` after ``comments/``."""
    if not rest or len(rest) > 3 or not THING_ID.match(rest[0]):
        return None
    ids = {**ids, "post": rest[0].lower()}
    if len(rest) == 3:
        if not THING_ID.match(rest[2]):
            return None
        ids["comment"] = rest[2].lower()
    return ids


def _fingerprint(item: dict, url: str) -> str | None:
    """A listed post's fingerprint: the listing JSON gives each post whole (title, text,
    media, ``edited``, a removal). None when this module cannot read it."""
    post = Post("reddit", str(item.get("id")), "")
    try:
        _fill_post(post, item, url)
    except (KeyError, TypeError, AttributeError, ValueError, PlatformError):
        return None
    return post_fingerprint(post)


def _fill_post(post: Post, op: dict, url: str) -> None:
    post.post_id = _string(op, "id", url)
    post.url = _permalink(op, url)
    post.title = op.get("title") if isinstance(op.get("title"), str) else None
    _fill_author_and_times(post, op)
    removal = _removal(op, "selftext")
    if removal:
        post.status, note = removal
        post.notes.append(note)
    elif isinstance(op.get("selftext"), str) and op["selftext"]:
        post.text = op["selftext"]
    _count(post, op, "score", "score")
    _count(post, op, "num_comments", "replies")
    _count(post, op, "num_crossposts", "reposts")
    if isinstance(op.get("subreddit_name_prefixed"), str):
        post.notes.append(f"posted in {op['subreddit_name_prefixed']}")
    if isinstance(op.get("upvote_ratio"), (int, float)):
        post.notes.append(f"upvote ratio {op['upvote_ratio']} (the share of votes that are "
                          "upvotes, as Reddit shows it; not a count)")
    if op.get("link_flair_text"):
        post.notes.append(f"post flair: {op['link_flair_text']!r}")
    _flags(post, op)
    parent = op.get("crosspost_parent")
    if isinstance(parent, str) and parent:
        originals = op.get("crosspost_parent_list")
        original = originals[0] if isinstance(originals, list) and originals and isinstance(
            originals[0], dict) else None
        if original and isinstance(original.get("permalink"), str):
            post.forwarded_from = PUBLIC + original["permalink"]
            post.media = _media(original, post.notes)
            if post.media:
                post.notes.append("the media are the crossposted original's")
        else:
            post.forwarded_from = f"{PUBLIC}/comments/{parent.removeprefix('t3_')}/"
            post.notes.append(f"a crosspost of {parent}; Reddit gives no details of the "
                              "original (crosspost_parent_list is empty)")
    else:
        post.media = _media(op, post.notes)


def _fill_comment(post: Post, comment: dict, op: dict, url: str) -> None:
    post.post_id = _string(comment, "id", url)
    post.url = _permalink(comment, url)
    _fill_author_and_times(post, comment)
    removal = _removal(comment, "body")
    if removal:
        post.status, note = removal
        post.notes.append(note)
    elif isinstance(comment.get("body"), str):
        post.text = comment["body"]
    if comment.get("score_hidden"):
        post.notes.append("Reddit hides this comment's score for now (score_hidden)")
    else:
        _count(post, comment, "score", "score")
    thread = _permalink(op, url)
    parent = comment.get("parent_id")
    if isinstance(parent, str) and parent.startswith("t1_"):
        post.reply_to = f"{thread.rstrip('/')}/{parent.removeprefix('t1_')}/"
    elif isinstance(parent, str) and parent.startswith("t3_"):
        post.reply_to = thread
    else:
        post.notes.append(f"no parent id in {url} (parent_id {parent!r})")
    if isinstance(comment.get("subreddit_name_prefixed"), str):
        post.notes.append(f"a comment in {comment['subreddit_name_prefixed']} on the post "
                          f"{op.get('title')!r}")
    if comment.get("is_submitter"):
        post.notes.append("the commenter is the post's author (OP)")
    _flags(post, comment)


def _fill_author_and_times(post: Post, thing: dict) -> None:
    author = thing.get("author")
    if isinstance(author, str) and author and author != "[deleted]":
        post.author_handle = author
    elif author == "[deleted]":
        post.notes.append('Reddit shows the author as "[deleted]": the account or the post '
                          "was deleted")
    if isinstance(thing.get("author_fullname"), str):
        post.author_id = thing["author_fullname"]
    post.published = epoch_iso(thing.get("created_utc"))
    edited = thing.get("edited")
    if edited is True:  # very old things are marked edited without a time
        post.edited = "edited"
    elif isinstance(edited, (int, float)) and not isinstance(edited, bool):
        post.edited = utc_iso(edited)


def _removal(thing: dict, text_key: str) -> tuple[str, str] | None:
    """DELETED and why, when Reddit says the post or comment was deleted or removed."""
    category = thing.get("removed_by_category")
    shown = thing.get(text_key)
    placeholder = (f"; Reddit shows {shown!r} in place of the text"
                   if shown in ("[deleted]", "[removed]") else "")
    if isinstance(category, str) and category:
        who = REMOVED_BY.get(category, "removed")
        return DELETED, f"{who} (removed_by_category {category!r}){placeholder}"
    if shown == "[deleted]" and thing.get("author") == "[deleted]":
        return DELETED, f"deleted by its author{placeholder} and for the author"
    if shown == "[removed]":
        return DELETED, ("removed by the moderators or by Reddit (Reddit does not say "
                         f"which){placeholder}")
    return None


def _flags(post: Post, thing: dict) -> None:
    for key, note in (("over_18", "marked NSFW (over_18)"), ("spoiler", "marked as a spoiler"),
                      ("locked", "locked: no new comments allowed"),
                      ("stickied", "pinned by the moderators (stickied)"),
                      ("pinned", "pinned to the author's profile"),
                      ("quarantine", "in a quarantined subreddit"),
                      ("hide_score", "Reddit hides the score for now (hide_score): the score "
                                     "shown may not be the real one")):
        if thing.get(key) is True:
            post.notes.append(note)
    if isinstance(thing.get("distinguished"), str):
        post.notes.append(f"distinguished as {thing['distinguished']}")


def _media(op: dict, notes: list[str]) -> list[Media]:
    """The post's media, as Reddit lists them (see the module docstring)."""
    found: list[Media] = []
    video = _reddit_video(op)
    if op.get("is_gallery"):
        found += _gallery(op, notes)
    elif video is not None:
        fallback = video.get("fallback_url")
        if isinstance(fallback, str) and fallback:
            found.append(Media(fallback, "video"))
            notes.append(
                "the video has no sound at all (has_audio: false)" if video.get("has_audio")
                is False else f"{fallback} is Reddit's DASH fallback: the video track only; "
                "the sound is a separate stream that yt-dlp merges from the post URL")
        else:
            notes.append("Reddit lists a video without a file (still processing?)")
    elif op.get("is_video"):
        # A video still processing: no file yet, but its v.redd.it link is the evidence that
        # the post is a video (the preview image alone would suggest a picture).
        link = op.get("url_overridden_by_dest") or op.get("url")
        if _is_web_url(link) and "/comments/" not in link:
            found.append(Media(link, "video"))
            notes.append(f"marked as a video, but Reddit lists no video file yet (still "
                         f"processing?): {link} is the video's own link")
        else:
            notes.append("marked as a video, but Reddit lists no video file (still "
                         "processing?)")
    elif op.get("post_hint") == "image" or op.get("domain") == "i.redd.it":
        if _is_web_url(op.get("url")):
            found.append(Media(op["url"], "image"))
    elif op.get("is_self"):
        found += _inline(op, notes)
    elif _is_web_url(op.get("url")):
        found.append(Media(op["url"], "video" if op.get("post_hint") == "rich:video" else "link"))
    if op.get("post_hint") != "image" and not op.get("is_gallery"):
        for image in (op.get("preview") or {}).get("images") or []:
            shown = image.get("source", {}).get("url") if isinstance(image, dict) else None
            if _is_web_url(shown):
                found.append(Media(shown, "image"))
                notes.append(f"{shown} is Reddit's preview image of the post, not an upload")
    return found


def _reddit_video(op: dict) -> dict | None:
    for key in ("secure_media", "media"):
        holder = op.get(key)
        if isinstance(holder, dict) and isinstance(holder.get("reddit_video"), dict):
            return holder["reddit_video"]
    return None


def _gallery(op: dict, notes: list[str]) -> list[Media]:
    items = (op.get("gallery_data") or {}).get("items")
    metadata = op.get("media_metadata")
    if not isinstance(items, list) or not isinstance(metadata, dict):
        notes.append("a gallery whose items Reddit no longer lists (gallery_data or "
                      "media_metadata missing: removed or deleted)")
        return []
    found = []
    for item in items:
        if not isinstance(item, dict):
            continue
        media_id = item.get("media_id")
        meta = metadata.get(media_id)
        caption = item.get("caption") if isinstance(item.get("caption"), str) else None
        if not isinstance(meta, dict) or meta.get("status") != "valid":
            status = meta.get("status") if isinstance(meta, dict) else "missing"
            notes.append(f"gallery item {media_id} not readable (status {status!r})")
            continue
        medium = _metadata_medium(meta, caption)
        if medium:
            found.append(medium)
        if _is_web_url(item.get("outbound_url")):
            found.append(Media(item["outbound_url"], "link"))
    return found


def _inline(op: dict, notes: list[str]) -> list[Media]:
    """Images and videos placed inside a text post's body."""
    metadata = op.get("media_metadata")
    if not isinstance(metadata, dict):
        return []
    found = []
    for media_id, meta in metadata.items():
        if isinstance(meta, dict) and meta.get("status") == "valid":
            medium = _metadata_medium(meta, None)
            if medium:
                found.append(medium)
        else:
            notes.append(f"inline media {media_id} not readable")
    return found


def _metadata_medium(meta: dict, caption: str | None) -> Media | None:
    kind = meta.get("e")
    shown = meta.get("s") if isinstance(meta.get("s"), dict) else {}
    if kind == "RedditVideo" and _is_web_url(meta.get("hlsUrl")):
        return Media(meta["hlsUrl"], "video", caption)
    if kind == "AnimatedImage" and _is_web_url(shown.get("mp4")):
        return Media(shown["mp4"], "video", caption)
    for key in ("u", "gif"):
        if _is_web_url(shown.get(key)):
            return Media(shown[key], "image", caption)
    return None


def _refusal(answer: Fetched, data: dict, url: str) -> tuple[str, str]:
    """The status of a post Reddit refuses, and the note quoting its answer."""
    said = _quote(answer, data)
    reason = data.get("reason")
    if reason == "banned":
        return SUSPENDED, f"{said}: the subreddit is banned"
    if reason == "private":
        return UNAVAILABLE, f"{said}: the subreddit is private (approved accounts only)"
    if reason in ("quarantined", "gated"):
        message = data.get("quarantine_message")
        extra = f"; Reddit's warning: {message[:300]!r}" if isinstance(message, str) else ""
        return LOGIN_WALL, (f"{said}: the subreddit is {reason}; only an account that opted in "
                            f"can read it{extra}")
    if data.get("error") == 404 and not reason:
        return DELETED, (f"{said}: no public post with this id (deleted and purged, or never "
                         "existed)")
    if data.get("error") == 403 and not reason:
        return UNAVAILABLE, f"{said}: Reddit refuses the post without saying why"
    raise PlatformError(f"{url}: unexpected answer from Reddit: {said}")


def _channel_refusal(who: str, answer: Fetched, data: dict, url: str) -> str:
    said = _quote(answer, data)
    reason = data.get("reason")
    why = {"banned": "is banned by Reddit",
           "private": "is private (approved accounts only)",
           "quarantined": "is quarantined (only an account that opted in can read it: "
                          "configure platforms.reddit.cookies_file)",
           "gated": "is gated behind a content warning (only an account that opted in can "
                    "read it: configure platforms.reddit.cookies_file)"}.get(reason or "")
    if why:
        return f"{who} {why}: {url} {said}"
    if data.get("error") == 404:
        return f"Reddit has no {who}: {url} {said}"
    return f"Reddit refuses the listing of {who}: {url} {said}"


def _quote(answer: Fetched, data: dict) -> str:
    shown = {k: data[k] for k in ("reason", "message", "error") if k in data}
    return f"Reddit answers HTTP {answer.status} {json.dumps(shown, ensure_ascii=False)}"


def _raise_for_block(answer: Fetched, url: str) -> None:
    """Reddit's rate limit and its network block page are PlatformErrors."""
    if answer.status == 429:
        reset = answer.headers.get("x-ratelimit-reset")
        wait = f"; Reddit says the limit resets in {reset} s" if reset else ""
        raise PlatformError(f"Reddit rate limited the request for {url} (HTTP 429){wait}")
    if "html" in answer.headers.get("content-type", "") or answer.body.lstrip()[:1] == b"<":
        page = answer.text().lower()
        if any(marker in page for marker in BLOCK_MARKERS):
            raise PlatformError(f"Reddit blocked the request for {url} (HTTP {answer.status}, "
                                "its network-policy block page): log in with "
                                "platforms.reddit.cookies_file or use another network")


def _children(listing: Any, url: str) -> list[dict]:
    """A Listing's children, each checked to have a kind and a data object."""
    data = listing.get("data") if isinstance(listing, dict) else None
    children = data.get("children") if isinstance(data, dict) else None
    if not isinstance(listing, dict) or listing.get("kind") != "Listing" or not isinstance(
            children, list):
        raise PlatformError(f"{url} is not a Reddit Listing (kind Listing with data.children)")
    for child in children:
        if not isinstance(child, dict) or not isinstance(child.get("kind"), str) or (
                not isinstance(child.get("data"), dict)):
            raise PlatformError(f"{url} has a Listing child without kind and data")
    return children


def _string(thing: dict, key: str, url: str) -> str:
    value = thing.get(key)
    if not isinstance(value, str) or not value:
        raise PlatformError(f"{url}: a Reddit item without {key!r}")
    return value


def _permalink(thing: dict, url: str) -> str:
    path = _string(thing, "permalink", url)
    if not path.startswith("/"):
        raise PlatformError(f"{url}: permalink {path!r} is not a path on reddit.com")
    return PUBLIC + path


def _count(post: Post, thing: dict, key: str, name: str) -> None:
    value = thing.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        post.counts[name] = value


def _is_web_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://"))
