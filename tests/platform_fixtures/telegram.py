"""A Telegram web preview stand-in: t.me/s/<channel> pages in Telegram's public markup."""

from __future__ import annotations

import html
import time
from urllib.parse import parse_qs, urlsplit

from tests.fixture_site.server import video_clip
from tests.platform_fixtures.server import PlatformFixture, PlatformHandler

CHANNEL = "syriawitness"
TITLE = "شاهد سوريا | Syria Witness"
ARABIC = "قصف على الحي الشرقي صباح اليوم.\nالصور من المراسل في الموقع."
FIRST, LAST, PAGE = 101, 110, 5
TOO_BIG = 107  # a video too big for the web preview: a player link, no <video>


def _message(base: str, number: int, edits: dict[int, str] | None = None) -> str:
    minute = number - 100
    body = f"Update {number}: situation report."
    extra = ""
    edited = number == 106
    if edits and number in edits:  # a test edited it: Telegram marks it "edited"
        body, edited = html.escape(edits[number]).replace("\n", "<br/>"), True
    if number == 101:
        body = html.escape(ARABIC).replace("\n", "<br/>")
    elif number == 102:
        extra = (f'<a class="tgme_widget_message_photo_wrap" href="https://t.me/{CHANNEL}/102"'
                 f" style=\"width:320px;background-image:url('{base}/media/tg-photo.jpg')\"></a>")
    elif number == 103:
        extra = ('<a class="tgme_widget_message_video_player" href="https://t.me/'
                 f'{CHANNEL}/103"><div class="tgme_widget_message_video_wrap">'
                 f'<video class="tgme_widget_message_video js-message_video" '
                 f'src="{base}/media/tg-clip.mp4" width="100%"></video></div></a>')
    elif number == TOO_BIG:
        # As Telegram serves it (seen in a real t.me/s page of 2024): no video file at all.
        extra = ('<div class="media_supported_cont"><a class="tgme_widget_message_video_player '
                 f'not_supported js-message_video_player" href="https://t.me/{CHANNEL}/'
                 f'{TOO_BIG}"><i class="tgme_widget_message_video_thumb" style="background-'
                 f"image:url('{base}/media/tg-big-thumb.jpg')\"></i>"
                 '<div class="tgme_widget_message_video_wrap" style="width:1280px;padding-top:'
                 '56.25%"></div><div class="message_video_play js-message_video_play"></div> '
                 '<time class="message_video_duration js-message_video_duration">1:16</time>'
                 '<div class="message_media_not_supported_wrap"><div class="message_media_not_'
                 'supported"><div class="message_media_not_supported_label">Media is too big'
                 '</div><span class="message_media_view_in_telegram">VIEW IN TELEGRAM</span>'
                 "</div></div></a></div>")
    elif number == 104:
        extra = ('<div class="tgme_widget_message_forwarded_from accent_color">Forwarded from '
                 '<a class="tgme_widget_message_forwarded_from_name" '
                 'href="https://t.me/othersource/55"><span dir="auto">Other Source</span></a>'
                 "</div>")
    elif number == 105:
        extra = (f'<a class="tgme_widget_message_reply" href="https://t.me/{CHANNEL}/101">'
                 '<div class="tgme_widget_message_author accent_color">'
                 f'<span class="tgme_widget_message_author_name">{html.escape(TITLE)}</span>'
                 "</div></a>")
    views = "1.2K" if number == 101 else f"{number * 3}"
    stamp = f"2026-11-20T0{minute % 10}:{minute:02d}:00+03:00"  # Damascus time, as shown
    edited = '<span class="tgme_widget_message_meta">edited</span>' if edited else ""
    return f"""
<div class="tgme_widget_message_wrap js-widget_message_wrap">
 <div class="tgme_widget_message text_not_supported_wrap js-widget_message"
      data-post="{CHANNEL}/{number}" data-view="eyJjIjotMTAw">
  <div class="tgme_widget_message_bubble">
   <div class="tgme_widget_message_author accent_color"><a class="tgme_widget_message_owner_name"
     href="https://t.me/{CHANNEL}"><span dir="auto">{html.escape(TITLE)}</span></a></div>
   {extra}
   <div class="tgme_widget_message_text js-message_text" dir="auto">{body}</div>
   <div class="tgme_widget_message_footer compact js-message_footer">
    <div class="tgme_widget_message_info short js-message_info">
     <span class="tgme_widget_message_views">{views}</span>{edited}
     <span class="tgme_widget_message_meta"><a class="tgme_widget_message_date"
       href="https://t.me/{CHANNEL}/{number}"><time datetime="{stamp}"
       class="time">0{minute % 10}:{minute:02d}</time></a></span>
    </div>
   </div>
  </div>
 </div>
</div>"""


def _channel_page(base: str, numbers: list[int], edits: dict[int, str] | None = None) -> str:
    messages = "".join(_message(base, n, edits) for n in numbers)
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(TITLE)} – Telegram</title>
<meta property="og:title" content="{html.escape(TITLE)}"></head>
<body class="widget_frame_base tgme_webpreview_body">
<header class="tgme_header"><div class="tgme_channel_info">
 <div class="tgme_channel_info_header"><div class="tgme_channel_info_header_title">
 <span dir="auto">{html.escape(TITLE)}</span></div>
 <div class="tgme_channel_info_header_username"><a href="https://t.me/{CHANNEL}">@{CHANNEL}</a>
 </div></div></div></header>
<main class="tgme_main"><section class="tgme_channel_history js-message_history">
{messages}
</section></main></body></html>"""


PRIVATE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>Telegram: Contact</title>
</head><body class="tgme_page_body"><div class="tgme_page">
<div class="tgme_page_title"><span dir="auto">privatechan</span></div>
<div class="tgme_page_description">This channel can't be displayed because it violated local
laws.</div></div></body></html>"""


# A sign-in page instead of the preview (a stand-in for a login wall: not Telegram's markup).
SIGN_IN = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>Log in</title></head>
<body><form><h1>Log in to continue</h1><input type="tel" name="phone"></form></body></html>"""


class _Handler(PlatformHandler):
    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        path = [p for p in parts.path.split("/") if p]
        base = self.base
        if parts.path == "/media/tg-clip.mp4":
            return self.send(200, video_clip(), "video/mp4")
        if parts.path in ("/media/tg-photo.jpg", "/media/tg-big-thumb.jpg"):
            return self.send(200, b"\xff\xd8\xff\xe0fixture-jpeg", "image/jpeg")
        if path[:2] == ["s", "ratelimited"]:
            return self.send(429, b"Too Many Requests", "text/plain")
        if path[:2] == ["s", "privatechan"] or path == ["privatechan"]:
            return self.send(200, PRIVATE.encode(), "text/html; charset=utf-8")
        last = self.server.last  # the newest post so far (a test may publish more)
        if len(path) >= 2 and path[0] == "s" and path[1] == CHANNEL:
            if len(path) == 2:
                time.sleep(self.server.listing_delay)  # a slow listing, when a test asks
            if len(path) == 3 and path[2].isdigit() and FIRST <= int(path[2]) <= last:
                centre = int(path[2])
                numbers = list(range(max(FIRST, centre - 2), min(last, centre + 2) + 1))
            else:
                before = int(parse_qs(parts.query).get("before", [str(last + 1)])[0])
                top = min(before - 1, last)
                numbers = list(range(max(FIRST, top - PAGE + 1), top + 1))
            if len(path) == 3 and path[2].isdigit() and int(path[2]) in self.server.limited:
                return self.send(429, b"Too Many Requests", "text/plain")
            if len(path) == 3 and path[2].isdigit() and int(path[2]) in self.server.walled:
                return self.send(200, SIGN_IN.encode(), "text/html; charset=utf-8")
            numbers = [n for n in numbers if n not in self.server.deleted]
            page = _channel_page(base, numbers, self.server.edits)
            return self.send(200, page.encode(), "text/html; charset=utf-8")
        if len(path) == 2 and path[0] == CHANNEL and path[1].isdigit():
            # t.me/<channel>/<id> itself: the post page people open (an embed).
            number = int(path[1])
            shown = FIRST <= number <= last and number not in self.server.deleted
            page = _channel_page(base, [number] if shown else [], self.server.edits)
            return self.send(200, page.encode(), "text/html; charset=utf-8")
        return self.send(404, b"<html><body>Not found</body></html>", "text/html")


class TelegramFixture(PlatformFixture):
    handler = _Handler

    def __init__(self) -> None:
        super().__init__()
        self.server.last = LAST
        self.server.listing_delay = 0.0
        self.server.deleted: set[int] = set()  # posts deleted since (a test deletes them)
        self.server.limited: set[int] = set()  # posts whose page answers 429 (rate limited)
        self.server.walled: set[int] = set()  # posts whose page is a sign-in page
        self.server.edits: dict[int, str] = {}  # posts a test edited: their new text

    def publish(self, last: int) -> None:
        """The channel's newest post is now ``last`` (posts up to it appear, as published)."""
        self.server.last = last
