"""Telegram public channels, from the web preview (``t.me/s/<channel>``) anyone can open.

A post ``t.me/<channel>/<id>`` is read from ``/s/<channel>/<id>``, the preview page centred on
that message: each message is a ``div.tgme_widget_message`` with ``data-post="channel/id"``.
The channel listing pages back with ``?before=<id>``.

Media: photos (the preview's background image), videos the preview plays (``<video src>``),
documents and link previews. A video too big for the web preview ("Media is too big": a player
link with a thumbnail and no ``<video>``) is listed by its post link, with its thumbnail and
that fact in ``note``, and a note on the post: the capture hands the post link to yt-dlp and
says so when no route got the video.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from parsel import Selector

from crawlers.platforms.base import (
    DELETED,
    OK,
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
    shown_count,
    utc_iso,
)

NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")
RESERVED = {"joinchat", "addstickers", "share", "proxy", "socks", "login", "s", "c", "iv"}


class TelegramPlatform(Platform):
    name = "telegram"
    default_base = "https://t.me"
    hosts = frozenset({"t.me", "www.t.me", "telegram.me", "www.telegram.me"})

    def match(self, url: str) -> Target | None:
        if not self.owns(url):
            return None
        parts = urlsplit(url)
        path = [p for p in parts.path.split("/") if p]
        preview = bool(path) and path[0] == "s"
        if preview:
            path = path[1:]
        if not path or not NAME.match(path[0]) or path[0].lower() in RESERVED:
            return None
        channel = path[0]
        if len(path) == 1:
            return Target(self.name, "channel", url, {"channel": channel})
        if len(path) == 2 and path[1].isdigit():
            return Target(self.name, "post", url, {"channel": channel, "post": path[1]})
        return None

    async def extract_post(self, target: Target, fetch: Fetch) -> Post:
        channel, post_id = target.ids["channel"], target.ids["post"]
        canonical = f"https://t.me/{channel}/{post_id}"
        post = Post(self.name, post_id, canonical, author_id=channel, author_handle=channel)
        url = f"{self.base}/s/{channel}/{post_id}"
        post.source.append(url)
        try:
            page = await self._page(fetch, url)
        except _Unavailable as exc:
            post.status = UNAVAILABLE
            post.notes.append(f"the channel has no public preview: {exc}")
            return post
        selector = Selector(text=page.text())
        owner = _text(selector.css(".tgme_channel_info_header_title")) or None
        message = selector.css(f'div.tgme_widget_message[data-post="{channel}/{post_id}"]')
        if not message:
            message = selector.xpath(
                "//div[contains(@class,'tgme_widget_message')]"
                f"[translate(@data-post,'ABCDEFGHIJKLMNOPQRSTUVWXYZ','abcdefghijklmnopqrstuvwxyz')"
                f"='{channel.lower()}/{post_id}']")
        if not message:
            post.status = DELETED
            post.author_name = owner
            post.notes.append(f"message {channel}/{post_id} is not on the channel's public "
                              "page: deleted, or never published")
            return post
        _fill(post, message[0])
        post.author_name = post.author_name or owner
        return post

    async def list_posts(self, target: Target, fetch: Fetch, limit: int) -> Listing:
        channel = target.ids["channel"]
        refs: list[PostRef] = []
        url = f"{self.base}/s/{channel}"
        while len(refs) < limit:
            page = await self._page(fetch, url)
            found = []
            for message in Selector(text=page.text()).css("div.tgme_widget_message[data-post]"):
                name, _, number = message.attrib["data-post"].partition("/")
                if number.isdigit():
                    published = message.css(".tgme_widget_message_date time::attr(datetime)").get()
                    found.append(PostRef(self.name, number, f"https://t.me/{name}/{number}",
                                         utc_iso(published), _fingerprint(message, number)))
            if not found:
                break
            found.sort(key=lambda r: int(r.post_id), reverse=True)  # pages list oldest first
            known = {r.post_id for r in refs}
            refs += [r for r in found if r.post_id not in known][:limit - len(refs)]
            oldest = int(found[-1].post_id)
            if oldest <= 1:
                break
            url = f"{self.base}/s/{channel}?before={oldest}"
        return Listing(refs)

    async def _page(self, fetch: Fetch, url: str) -> Fetched:
        page = await fetch(url)
        if page.status == 429:
            raise PlatformError(f"Telegram rate limited the request for {url} (HTTP 429)")
        if page.status >= 500:
            raise PlatformError(f"Telegram answered HTTP {page.status} for {url}")
        text = page.text()
        if "tgme_" not in text:
            raise PlatformError(f"{url} (HTTP {page.status}) has none of Telegram's page "
                                "markup (tgme_*): the layout changed or this is not Telegram")
        if "tgme_channel_history" not in text and "tgme_widget_message" not in text:
            description = _text(Selector(text=text).css(".tgme_page_description"))
            raise _Unavailable(description or "the channel has no public preview")
        return page


class _Unavailable(PlatformError):
    pass


def _fingerprint(message: Selector, number: str) -> str | None:
    """The listed message's fingerprint: the page shows each message whole (text, media,
    the "edited" mark). None when it cannot be read (the post's own capture will say why)."""
    post = Post("telegram", number, "")
    try:
        _fill(post, message)
    except PlatformError:
        return None
    return post_fingerprint(post)


def _fill(post: Post, message: Selector) -> None:
    post.author_name = _text(message.css(".tgme_widget_message_owner_name")) or None
    post.published = utc_iso(message.css(".tgme_widget_message_date time::attr(datetime)").get())
    meta = _text(message.css(".tgme_widget_message_meta"))
    if "edited" in meta.lower():
        post.notes.append("marked edited by Telegram (the edit time is not shown)")
        post.edited = "edited"
    text_node = message.css(".tgme_widget_message_text")
    if text_node:
        post.text = _text_with_breaks(text_node[0])
    views = _text(message.css(".tgme_widget_message_views"))
    if views:
        post.counts["views"] = parse_count(views)
    forwarded = message.css(".tgme_widget_message_forwarded_from_name")
    if forwarded:
        post.forwarded_from = forwarded.attrib.get("href") or _text(forwarded)
    reply = message.css("a.tgme_widget_message_reply::attr(href)").get()
    if reply:
        post.reply_to = reply
    for wrap in message.css(".tgme_widget_message_photo_wrap"):
        found = re.search(r"background-image:\s*url\(['\"]?([^'\")]+)", wrap.attrib.get(
            "style", ""))
        if found:
            post.media.append(Media(found.group(1), "image"))
    for src in message.css("video.tgme_widget_message_video::attr(src)").getall():
        post.media.append(Media(src, "video"))
    for player in message.css("a.tgme_widget_message_video_player"):
        if player.css("video"):
            continue  # a playable video: its file is listed above
        post.media.append(_video_not_in_page(post, player))
    for link in message.css("a.tgme_widget_message_document_wrap::attr(href)").getall():
        post.media.append(Media(link, "document"))
    for link in message.css("a.tgme_widget_message_link_preview::attr(href)").getall():
        post.media.append(Media(link, "link"))
    post.status = OK


def _video_not_in_page(post: Post, player: Selector) -> Media:
    """A video the preview shows only as a player link, with no file: Telegram's web preview
    does not serve large videos ("Media is too big"). The video is listed by its post link
    (yt-dlp is handed it) with the thumbnail, so the record never reads as a text post."""
    link = player.attrib.get("href") or post.url
    thumb = re.search(r"background-image:\s*url\(['\"]?([^'\")]+)", " ".join(
        player.css(".tgme_widget_message_video_thumb::attr(style)").getall()))
    label = _text(player.css(".message_media_not_supported_label")) or "no video file"
    duration = _text(player.css(".message_video_duration"))
    said = (f"not in the web preview (Telegram: {label!r})"
            + (f", duration {duration}" if duration else ""))
    post.notes.append(f"the post has a video {said}; its post link {link} is listed for "
                      "the media download")
    return Media(link, "video", thumbnail=thumb.group(1) if thumb else None, note=said)


def _text(nodes: Selector) -> str:
    return " ".join(" ".join(nodes.css("::text").getall()).split())


def _text_with_breaks(node: Selector) -> str:
    """The message text as shown: <br> become line breaks, nothing else changes."""
    html = re.sub(r"<br\s*/?>", "\n", node.get())
    return "".join(Selector(text=html).xpath("//body//text()").getall()).strip()


def parse_count(shown: str) -> int:
    """Telegram's "1.2K", "3M", "845" as a number; unreadable is a layout change."""
    number = shown_count(shown)
    if number is None:
        raise PlatformError(f"unreadable view count {shown!r}")
    return number
