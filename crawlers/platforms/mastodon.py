"""Mastodon (and compatible servers): the public REST API of the post's own instance.

Mastodon is federated, so any host can be an instance: URLs match on their path shape
(``/@user/<id>``, ``/users/<user>/statuses/<id>``, ``/@user``), except on other platforms'
well-known hosts. The API answers on the same host.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from parsel import Selector

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
    post_fingerprint,
    utc_iso,
)

OTHER_PLATFORMS = {"x.com", "twitter.com", "facebook.com", "instagram.com", "tiktok.com",
                   "t.me", "telegram.me", "bsky.app", "reddit.com", "vk.com", "youtube.com",
                   "youtu.be", "medium.com", "threads.net"}
POST = re.compile(r"^/(?:@(?P<user>[\w.-]+(?:@[\w.-]+)?)|users/(?P<user2>[\w.-]+)/statuses)"
                  r"/(?P<id>\d+)/?$")
ACCOUNT = re.compile(r"^/@(?P<user>[\w.-]+(?:@[\w.-]+)?)/?$")
MEDIA_TYPES = {"image": "image", "gifv": "video", "video": "video", "audio": "audio"}


class MastodonPlatform(Platform):
    name = "mastodon"
    default_base = ""  # the instance is the URL's own host

    def match(self, url: str) -> Target | None:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host:
            return None
        if any(host == h or host.endswith("." + h) for h in OTHER_PLATFORMS):
            return None
        instance = f"{parts.scheme}://{parts.netloc}"
        if found := POST.match(parts.path):
            user = found.group("user") or found.group("user2")
            return Target(self.name, "post", url,
                          {"instance": instance, "user": user, "post": found.group("id")})
        if found := ACCOUNT.match(parts.path):
            return Target(self.name, "channel", url,
                          {"instance": instance, "user": found.group("user")})
        return None

    async def extract_post(self, target: Target, fetch: Fetch) -> Post:
        instance, post_id = target.ids["instance"], target.ids["post"]
        api = f"{instance}/api/v1/statuses/{post_id}"
        answer = await fetch(api, headers={"Accept": "application/json"})
        post = Post(self.name, post_id, target.url, source=[api])
        if answer.status in (401, 403, 404, 410) and "json" not in answer.headers.get(
                "content-type", ""):
            raise PlatformError(f"{api} answered HTTP {answer.status} without Mastodon's JSON "
                                "error: this host does not look like a Mastodon instance")
        if answer.status in (404, 410):
            post.status = DELETED
            post.notes.append(f"the instance answers HTTP {answer.status} for the post")
            return post
        if answer.status == 401:  # an instance that shows nothing without an account
            post.status = LOGIN_WALL
            post.notes.append(f"the instance asks to sign in (HTTP 401): {_error(answer)}")
            return post
        if answer.status == 403:
            error = _error(answer)
            post.status = SUSPENDED if "suspend" in error.lower() else UNAVAILABLE
            post.notes.append(f"the instance refuses the post (HTTP {answer.status}): {error}")
            return post
        status = _json(answer, "a status")
        if not isinstance(status, dict) or "id" not in status or "account" not in status:
            raise PlatformError(f"{api} is not a Mastodon status (no id/account)")
        _fill(post, status)
        parent = status.get("in_reply_to_id")
        if parent:
            above = await fetch(f"{instance}/api/v1/statuses/{parent}",
                                headers={"Accept": "application/json"})
            parent_url = None
            if above.status == 200:
                parent_url = (_json(above, "a status") or {}).get("url")
            post.reply_to = parent_url or f"{instance}/api/v1/statuses/{parent}"
            post.source.append(f"{instance}/api/v1/statuses/{parent}")
        return post

    async def list_posts(self, target: Target, fetch: Fetch, limit: int) -> Listing:
        instance, user = target.ids["instance"], target.ids["user"]
        lookup = await fetch(f"{instance}/api/v1/accounts/lookup?acct={user}",
                             headers={"Accept": "application/json"})
        if lookup.status == 404:
            raise PlatformError(f"no account @{user} on {instance}")
        account = _json(lookup, "an account")
        if account.get("suspended"):
            raise PlatformError(f"account @{user} on {instance} is suspended")
        refs: list[PostRef] = []
        max_id = None
        while len(refs) < limit:
            page_size = min(40, limit - len(refs))
            url = f"{instance}/api/v1/accounts/{account['id']}/statuses?limit={page_size}"
            if max_id:
                url += f"&max_id={max_id}"
            statuses = _json(await fetch(url, headers={"Accept": "application/json"}),
                             "a list of statuses")
            if not statuses:
                break
            for status in statuses[:limit - len(refs)]:
                refs.append(PostRef(self.name, str(status["id"]), status.get("url") or
                                    f"{instance}/@{user}/{status['id']}",
                                    utc_iso(status.get("created_at")), _fingerprint(status)))
            max_id = statuses[-1]["id"]
        return Listing(refs)


def _fingerprint(status: dict) -> str | None:
    """A listed status's fingerprint (the API lists each status whole, with ``edited_at``);
    None when it is not a status this module reads."""
    post = Post("mastodon", str(status.get("id")), "")
    try:
        _fill(post, status)
    except (KeyError, TypeError, AttributeError, PlatformError):
        return None
    return post_fingerprint(post)


def _fill(post: Post, status: dict) -> None:
    shown = status.get("reblog") or status
    account = status["account"]
    post.url = status.get("url") or post.url
    post.author_id = str(account.get("id"))
    post.author_handle = account.get("acct")
    post.author_name = account.get("display_name") or account.get("username")
    post.published = utc_iso(status.get("created_at"))
    post.edited = utc_iso(status.get("edited_at"))
    post.language = shown.get("language")
    content, fallback_quote = without_quote_line(shown.get("content") or "")
    if fallback_quote is not None:
        post.notes.append("the server's \"RE: <link>\" line for clients without quote "
                          "support is left out of the text (the quote is in quote_of)")
    text = html_to_text(content)
    if shown.get("spoiler_text"):
        text = f"[{shown['spoiler_text']}]\n{text}"
    post.text = text
    if status.get("reblog"):
        post.forwarded_from = status["reblog"].get("url")
    if shown.get("quote") and isinstance(shown["quote"], dict):
        quoted = shown["quote"].get("quoted_status") or shown["quote"]
        post.quote_of = quoted.get("url")
    post.quote_of = post.quote_of or fallback_quote or None
    for attachment in shown.get("media_attachments") or []:
        kind = MEDIA_TYPES.get(attachment.get("type"), "document")
        post.media.append(Media(attachment.get("url") or attachment.get("remote_url") or "",
                                kind, attachment.get("description")))
    for key, name in (("replies_count", "replies"), ("reblogs_count", "reposts"),
                      ("favourites_count", "likes"), ("quotes_count", "quotes")):
        if isinstance(shown.get(key), int):
            post.counts[name] = shown[key]


QUOTE_LINE = re.compile(r'^\s*<p\s+class="quote-inline"[^>]*>(?P<line>.*?)</p>', re.S)


def without_quote_line(content: str) -> tuple[str, str | None]:
    """The status HTML without the ``<p class="quote-inline">RE: <link></p>`` Mastodon
    prepends to a quote post for clients that cannot show quotes (the author did not write
    it), and the quoted post's URL that line links to (None when there is no such line)."""
    found = QUOTE_LINE.match(content)
    if not found:
        return content, None
    link = Selector(text=f"<div>{found.group('line')}</div>").css("a::attr(href)").get()
    return content[found.end():], link or ""


def html_to_text(content: str) -> str:
    """Mastodon's status HTML as the text a reader sees: paragraphs and <br> as line breaks."""
    content = re.sub(r"<br\s*/?>", "\n", content)
    content = re.sub(r"</p>\s*<p>", "\n\n", content)
    return "".join(Selector(text=f"<div>{content}</div>").xpath("//div[1]//text()")
                   .getall()).strip()


def _json(answer: Fetched, what: str):  # noqa: ANN202 - JSON
    if answer.status == 429:
        raise PlatformError(f"the instance rate limited {answer.url} (HTTP 429)")
    if answer.status >= 400:
        raise PlatformError(f"{answer.url} answered HTTP {answer.status}: {_error(answer)}")
    data = answer.json()
    if data is None:
        raise PlatformError(f"{answer.url} gave no {what}")
    return data


def _error(answer: Fetched) -> str:
    try:
        return str(answer.json().get("error", ""))[:200]
    except (PlatformError, AttributeError):
        return answer.text()[:200]
