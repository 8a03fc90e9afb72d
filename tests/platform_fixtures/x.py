"""An X stand-in: the embed service's post records, the embedded profile timeline, the post
pages and the media, all on the stand-in's one base.

Served:

- ``/tweet-result?id=<id>&lang=en&token=<token>``: post records in the embed service's shape
  (``Tweet`` / ``TweetTombstone``); an empty 404 for an unknown post, 429 for ``RATE_ID``.
  The token must be the one X's embed computes from the id (``TOKENS``, worked out with the
  embed's own JavaScript expression in Node): a missing or wrong one is refused (HTTP 400).
- ``/srv/timeline-profile/screen-name/<user>``: the embedded timeline page of ``USER``
  (``__NEXT_DATA__``), an empty one for ``QUIET_USER``, 404 for anyone else.
- ``/<user>/status/<id>`` (and every other page path): the page X sends a browser, a shell
  that needs JavaScript (title, ``noscript``, ``og:`` meta), HTTP 200.
- ``/media/x-aleppo-market.mp4`` (the Arabic post's best video variant: a real 2 s MP4) and
  the images ``/media/x-*.jpg``.
"""

from __future__ import annotations

import html
import json
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

from tests.fixture_site.server import video_clip
from tests.platform_fixtures.server import PlatformFixture, PlatformHandler

USER = "halab_witness"
USER_ID = "1419283746501234688"
USER_NAME = "شاهد حلب | Aleppo Witness"
QUIET_USER = "quiet_account"  # X's embedded timeline answers with no posts for it

# Post ids carry their creation time (X's ids grow with time), as real ones do.
ARABIC_ID = "2123691690687090689"
PHOTO_ID = "2123703438931668994"
REPLY_ID = "2123712976780988419"
QUOTED_ID = "2123476397064261636"
QUOTE_ID = "2123719423424098309"
EDITED_FIRST_ID = "2123733088467689478"
EDITED_ID = "2123736234195689479"
DELETED_ID = "2122955464506347528"
SUSPENDED_ID = "2106017606661898249"
AGE_ID = "2116988647634194442"
PROTECTED_ID = "2118223308125736971"
MISSING_ID = "2123929386087350284"
RATE_ID = "2123756979221917709"
LAYOUT_ID = "2123756995999133710"
PLAIN_IDS = ["2123750704544370944", "2123767565646450945", "2123784426748530946",
             "2123801287850610947", "2123818148952690948", "2123835010054770949",
             "2123851871156850950"]  # oldest first

# (Number(id) / 1e15 * Math.PI).toString(36) without "0" and ".", computed in Node.
TOKENS = {
    ARABIC_ID: "55brvdq53jo", PHOTO_ID: "55bt77pqqvm", REPLY_ID: "55bua1pti3o",
    QUOTED_ID: "55b3it8w78l", QUOTE_ID: "55bvammfp2", EDITED_FIRST_ID: "55bwjxkjelb",
    EDITED_ID: "55bwwqni6y1", DELETED_ID: "559glu2dap", SUSPENDED_ID: "53s8z9xssfu",
    AGE_ID: "54qprwwqla3", PROTECTED_ID: "54uleu7ual", MISSING_ID: "55cir5q5qz8",
    RATE_ID: "55bz97c5bxy", LAYOUT_ID: "55bz99sobzy",
    PLAIN_IDS[0]: "55byjnmqzr6", PLAIN_IDS[1]: "55cgb17j8n", PLAIN_IDS[2]: "55c2cyfo2qa",
    PLAIN_IDS[3]: "55c49lu4m7u", PLAIN_IDS[4]: "55c6698l5pf", PLAIN_IDS[5]: "55c82wn1p7",
    PLAIN_IDS[6]: "55c9zk1i8oh",
}

REPORT_URL = "https://example.org/reports/aleppo-market-2026-11-20"
ARABIC_TEXT = ("قصف مدفعي على سوق الهال في حلب صباح اليوم.\n"
               "شهود عيان يتحدثون عن إصابات بين المدنيين.\n\n"
               f"التقرير الكامل: {REPORT_URL} #حلب")
PHOTO_TEXT = ("Bread queue at the Salah al-Din bakery since 5am & prices up again: "
              "1 bundle > 4,000 SYP.\nTwo photos from this morning.")
PHOTO_ALT = "Queue of about forty people outside a bakery, early morning"
REPLY_TEXT = ("@halab_witness Confirmed by the local council, three injured. Statement: "
              "https://example.org/council/statement-20-11")
VIDEO_PATH = "/media/x-aleppo-market.mp4"

TIMES = {
    ARABIC_ID: "2026-11-20T08:15:30Z", PHOTO_ID: "2026-11-20T09:02:11Z",
    REPLY_ID: "2026-11-20T09:40:05Z", QUOTED_ID: "2026-11-19T18:00:00Z",
    QUOTE_ID: "2026-11-20T10:05:42Z", EDITED_FIRST_ID: "2026-11-20T11:00:00Z",
    EDITED_ID: "2026-11-20T11:12:30Z", LAYOUT_ID: "2026-11-20T12:35:00Z",
    **{post_id: f"2026-11-20T{12 + i:02d}:{10 + i * 7:02d}:00Z"
       for i, post_id in enumerate(PLAIN_IDS)},
}
TIMELINE = [ARABIC_ID, *reversed(PLAIN_IDS), EDITED_ID, QUOTE_ID, PHOTO_ID]  # pinned first

TOMBSTONES = {
    DELETED_ID: "This Post was deleted by the Post author. Learn more",
    SUSPENDED_ID: "This Post is from a suspended account. Learn more",
    AGE_ID: ("Age-restricted adult content. This content might not be appropriate for people "
             "under 18 years old. To view this media, you\u2019ll need to log in to X. "
             "Learn more"),
    PROTECTED_ID: ("You\u2019re unable to view this Post because this account owner limits "
                   "who can view their Posts. Learn more"),
}


class _Text:
    """A post text built piece by piece, with its entities at code-point indices (X's unit)."""

    def __init__(self) -> None:
        self.text = ""
        self.entities: dict[str, list] = {"hashtags": [], "urls": [], "user_mentions": [],
                                          "symbols": [], "media": []}

    def add(self, words: str) -> _Text:
        self.text += words
        return self

    def _span(self, shown: str) -> list[int]:
        start = len(self.text)
        self.text += shown
        return [start, len(self.text)]

    def link(self, short: str, target: str) -> _Text:
        display = target.split("://", 1)[1]
        self.entities["urls"].append({"display_url": display[:23] + ("…" if len(display) > 23
                                                                      else ""),
                                      "expanded_url": target,
                                      "indices": self._span(short), "url": short})
        return self

    def hashtag(self, tag: str) -> _Text:
        self.entities["hashtags"].append({"indices": self._span(f"#{tag}"), "text": tag})
        return self

    def mention(self, name: str, user_id: str, shown: str) -> _Text:
        self.entities["user_mentions"].append({"id_str": user_id, "indices": self._span(
            f"@{name}"), "name": shown, "screen_name": name})
        return self

    def media(self, short: str, expanded: str) -> list[int]:
        """The trailing link X adds for attached media (outside display_text_range)."""
        self.text += " "
        span = self._span(short)
        self.entities["media"].append({"display_url": f"pic.x.com/{short.rsplit('/', 1)[1]}",
                                       "expanded_url": expanded, "indices": span, "url": short})
        return span

    def escaped(self) -> str:
        """The text as the record carries it: X escapes &, < and >."""
        return self.text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _user(base: str, screen: str = USER, user_id: str = USER_ID, name: str = USER_NAME
          ) -> dict:
    return {"id_str": user_id, "name": name, "profile_image_url_https":
            f"{base}/media/x-avatar-{screen}_normal.jpg", "profile_image_shape": "Circle",
            "screen_name": screen, "verified": False, "is_blue_verified": False}


def _edit_control(post_id: str, chain: list[str] | None = None) -> dict:
    chain = chain or [post_id]
    ms = int(datetime.fromisoformat(TIMES[chain[0]].replace("Z", "+00:00")).timestamp() * 1000)
    initial = {"edit_tweet_ids": chain, "editable_until_msecs": str(ms + 3_600_000),
               "is_edit_eligible": True, "edits_remaining": str(6 - len(chain))}
    if post_id == chain[0]:
        return initial
    return {"initial_tweet_id": chain[0], "edit_control_initial": initial}


def _sizes(width: int, height: int) -> dict:
    return {name: {"h": height, "resize": "fit", "w": width}
            for name in ("large", "medium", "small", "thumb")}


def _base_record(base: str, post_id: str, text: _Text, user: dict, end: int | None = None,
                 start: int = 0) -> dict:
    return {
        "__typename": "Tweet", "lang": "en", "favorite_count": 12, "possibly_sensitive": False,
        "created_at": TIMES[post_id].replace("Z", ".000Z"),
        "display_text_range": [start, len(text.text) if end is None else end],
        "entities": text.entities, "id_str": post_id, "text": text.escaped(), "user": user,
        "edit_control": _edit_control(post_id), "conversation_count": 1,
        "news_action_type": "conversation", "isEdited": False, "isStaleEdit": False,
    }


def _arabic(base: str) -> dict:
    text = (_Text().add("قصف مدفعي على سوق الهال في حلب صباح اليوم.\n"
                        "شهود عيان يتحدثون عن إصابات بين المدنيين.\n\n"
                        "التقرير الكامل: ")
            .link("https://t.co/Qx7LmA2pZk", REPORT_URL).add(" ").hashtag("حلب"))
    end = len(text.text)
    watch = f"https://x.com/{USER}/status/{ARABIC_ID}/video/1"
    span = text.media("https://t.co/Vd9RkT3mQe", watch)
    poster = f"{base}/media/x-aleppo-market.jpg"
    variants = [
        {"content_type": "application/x-mpegURL", "url": f"{base}/media/x-aleppo-market.m3u8"},
        {"bitrate": 256000, "content_type": "video/mp4",
         "url": f"{base}/media/x-aleppo-market-320x240.mp4"},
        {"bitrate": 2176000, "content_type": "video/mp4", "url": f"{base}{VIDEO_PATH}"},
        {"bitrate": 832000, "content_type": "video/mp4",
         "url": f"{base}/media/x-aleppo-market-640x480.mp4"},
    ]
    record = _base_record(base, ARABIC_ID, text, _user(base), end)
    record.update(
        lang="ar", favorite_count=1532, conversation_count=87,
        mediaDetails=[{
            "display_url": "pic.x.com/Vd9RkT3mQe", "expanded_url": watch,
            "ext_media_availability": {"status": "Available"}, "indices": span,
            "media_url_https": poster,
            "original_info": {"height": 120, "width": 160, "focus_rects": []},
            "sizes": _sizes(160, 120), "type": "video", "url": "https://t.co/Vd9RkT3mQe",
            "additional_media_info": {"monetizable": False},
            "video_info": {"aspect_ratio": [4, 3], "duration_millis": 2000,
                           "variants": variants}}],
        video={"aspectRatio": [4, 3], "contentType": "media_entity", "durationMs": 2000,
               "mediaAvailability": {"status": "available"}, "poster": poster,
               "variants": [{"type": v["content_type"], "src": v["url"]} for v in variants],
               "videoId": {"type": "tweet", "id": ARABIC_ID}, "viewCount": 48210})
    return record


def _photo(base: str) -> dict:
    text = _Text().add(PHOTO_TEXT)
    end = len(text.text)
    watch = f"https://x.com/{USER}/status/{PHOTO_ID}/photo/1"
    span = text.media("https://t.co/Ph0tOs4321", watch)
    details = []
    for number, alt in ((1, PHOTO_ALT), (2, None)):
        detail = {"display_url": "pic.x.com/Ph0tOs4321", "expanded_url": watch,
                  "ext_media_availability": {"status": "Available"}, "indices": span,
                  "media_url_https": f"{base}/media/x-bakery-{number}.jpg",
                  "original_info": {"height": 900, "width": 1200, "focus_rects": []},
                  "sizes": _sizes(1200, 900), "type": "photo", "url": "https://t.co/Ph0tOs4321"}
        if alt:
            detail["ext_alt_text"] = alt
        details.append(detail)
    record = _base_record(base, PHOTO_ID, text, _user(base), end)
    record.update(
        favorite_count=240, conversation_count=9, mediaDetails=details,
        photos=[{"backgroundColor": {"red": 204, "green": 214, "blue": 221}, "cropCandidates": [],
                 "expandedUrl": watch, "url": d["media_url_https"], "width": 1200, "height": 900}
                for d in details],
        place={"id": "0b5b6e3b2f4c0f1a", "url": "https://api.x.com/1.1/geo/id/0b5b6e3b2f4c0f1a",
               "place_type": "city", "name": "Aleppo", "full_name": "Aleppo, Syria",
               "country_code": "SY", "country": "Syria"})
    return record


def _reply(base: str) -> dict:
    statement = "https://example.org/council/statement-20-11"
    text = (_Text().mention(USER, USER_ID, USER_NAME)
            .add(" Confirmed by the local council, three injured. Statement: ")
            .link("https://t.co/R3pLy0Cnfm", statement))
    medic = _user(base, "idlib_medic", "1501928374655123456", "Idlib Medic")
    record = _base_record(base, REPLY_ID, text, medic, start=len(f"@{USER} "))
    parent = _arabic(base)
    record.update(
        in_reply_to_screen_name=USER, in_reply_to_status_id_str=ARABIC_ID,
        in_reply_to_user_id_str=USER_ID,
        parent={key: parent[key] for key in ("lang", "created_at", "display_text_range",
                                             "entities", "id_str", "text", "user",
                                             "edit_control", "isEdited", "isStaleEdit")}
        | {"reply_count": 87, "retweet_count": 410, "favorite_count": 1532},
        card={"card_platform": {"platform": {"audience": {"name": "production"},
                                             "device": {"name": "Swift", "version": "12"}}},
              "name": "summary", "url": "https://t.co/R3pLy0Cnfm",
              "binding_values": {"card_url": {"type": "STRING",
                                              "string_value": "https://t.co/R3pLy0Cnfm"},
                                 "title": {"type": "STRING", "string_value": "Council statement"}}})
    return record


def _quote(base: str) -> dict:
    text = _Text().add("Earlier report from the UN observer, same street.")
    record = _base_record(base, QUOTE_ID, text, _user(base))
    observer = _Text().add("Observed shelling near the market area of Aleppo this evening.")
    record["quoted_tweet"] = {
        **{key: value for key, value in _base_record(
            base, QUOTED_ID, observer, _user(base, "un_observer_sy", "987654321012345678",
                                             "UN Observer Syria")).items()
           if key not in ("__typename", "conversation_count", "news_action_type")},
        "reply_count": 3, "retweet_count": 55, "favorite_count": 120,
        "self_thread": {"id_str": QUOTED_ID}}
    return record


def _edited(base: str, post_id: str) -> dict:
    words = ("Casualty count: 3" if post_id == EDITED_FIRST_ID
             else "Casualty count corrected: 4 (hospital confirmed)")
    record = _base_record(base, post_id, _Text().add(words), _user(base))
    record.update(edit_control=_edit_control(post_id, [EDITED_FIRST_ID, EDITED_ID]),
                  isEdited=True, isStaleEdit=post_id != EDITED_ID)
    return record


def _plain(base: str, post_id: str) -> dict:
    number = PLAIN_IDS.index(post_id) + 1
    return _base_record(base, post_id, _Text().add(f"Update {number} from the market: "
                                                   "no new shelling this hour."), _user(base))


def tweet_record(base: str, post_id: str) -> dict | None:
    """The embed service's record for ``post_id`` on this stand-in, or None."""
    if post_id in TOMBSTONES:
        said = TOMBSTONES[post_id]
        return {"__typename": "TweetTombstone", "tombstone": {"text": {
            "text": said, "rtl": False, "entities": [{
                "from_index": len(said) - len("Learn more"), "to_index": len(said),
                "ref": {"__typename": "TimelineUrl", "url_type": "ExternalUrl",
                        "url": "https://help.x.com/rules-and-policies/notices-on-x"}}]}}}
    builders = {ARABIC_ID: _arabic, PHOTO_ID: _photo, REPLY_ID: _reply, QUOTE_ID: _quote}
    if post_id in builders:
        return builders[post_id](base)
    if post_id in (EDITED_FIRST_ID, EDITED_ID):
        return _edited(base, post_id)
    if post_id in PLAIN_IDS:
        return _plain(base, post_id)
    if post_id == LAYOUT_ID:  # a record without its author: the shape changed
        return {"__typename": "Tweet", "id_str": LAYOUT_ID, "text": "no user here",
                "created_at": TIMES[LAYOUT_ID]}
    return None


def _legacy_time(iso: str) -> str:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).strftime(
        "%a %b %d %H:%M:%S +0000 %Y")


def _timeline_page(base: str, screen: str, ids: list[str]) -> str:
    entries = []
    for post_id in ids:
        record = tweet_record(base, post_id) or {}
        tweet = {"id": int(post_id), "id_str": post_id, "conversation_id_str": post_id,
                 "created_at": _legacy_time(TIMES[post_id]), "text": record.get("text", ""),
                 "full_text": record.get("text", ""),
                 "display_text_range": record.get("display_text_range"),
                 "entities": record.get("entities"), "favorite_count": 12, "reply_count": 1,
                 "retweet_count": 2, "quote_count": 0, "lang": record.get("lang", "en"),
                 "permalink": f"/{screen}/status/{post_id}", "possibly_sensitive": False,
                 "user": {**_user(base), "followers_count": 18250, "statuses_count": 3120,
                          "protected": False}}
        entries.append({"type": "tweet", "entry_id": f"tweet-{post_id}", "sort_index": post_id,
                        "content": {"tweet": tweet}})
    data = {
        "props": {"pageProps": {
            "contextProvider": {"features": {}, "hasResults": bool(entries), "lang": "en",
                                "theme": "light"},
            "lang": "en", "maxHeight": None, "showHeader": True, "hideBorder": False,
            "hideFooter": False, "hideScrollBar": False, "transparent": False,
            "timeline": {"entries": entries},
            "latest_tweet_id": max(ids, key=int) if ids else None,
            "headerProps": {"screenName": screen}}, "__N_SSP": True},
        "page": "/timeline-profile/screen-name/[screenName]", "query": {"screenName": screen},
        "buildId": "fixture-build", "isFallback": False, "gssp": True, "customServer": True,
    }
    # Next.js escapes "<", ">" and "&" in the JSON it puts in a script tag.
    blob = (json.dumps(data, ensure_ascii=False).replace("&", "\\u0026")
            .replace("<", "\\u003c").replace(">", "\\u003e"))
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Timeline of '
            f'@{screen}</title></head><body><div id="__next"><div class="timeline-Widget">'
            f'</div></div><script id="__NEXT_DATA__" type="application/json">{blob}</script>'
            f"</body></html>")


def _page_shell(base: str, path: str) -> str:
    """What X sends a browser for any page: a shell its JavaScript fills in."""
    parts = [p for p in path.split("/") if p]
    post_id = parts[2] if len(parts) >= 3 and parts[1] == "status" else None
    record = tweet_record(base, post_id) if post_id else None
    meta = ""
    title = "X"
    if record and record.get("__typename") == "Tweet" and isinstance(record.get("user"), dict):
        name = record["user"]["name"]
        words = html.unescape(record["text"])
        title = f"{name} on X: \u201c{words[:60]}\u201d / X"
        meta = (f'<meta property="og:type" content="article">'
                f'<meta property="og:url" content="https://x.com/{record["user"]["screen_name"]}'
                f'/status/{post_id}">'
                f'<meta property="og:title" content="{html.escape(name)} on X">'
                f'<meta property="og:description" content="{html.escape(words)}">')
    elif len(parts) == 1:
        title = f"{USER_NAME} (@{parts[0]}) / X"
    return (f'<!DOCTYPE html><html dir="ltr" lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{html.escape(title)}</title>"
            f'<meta property="og:site_name" content="X (formerly Twitter)">{meta}</head>'
            f'<body><noscript><div class="errorContainer"><h1>JavaScript is not available.</h1>'
            f"<p>This page needs JavaScript. Turn it on, or use a browser that supports it, to "
            f'go on using x.com.</p></div></noscript><div id="react-root"></div></body></html>')


class _Handler(PlatformHandler):
    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        base = self.base
        if path == VIDEO_PATH:
            return self.send(200, video_clip(), "video/mp4")
        if path.startswith("/media/"):
            if path.endswith(".jpg"):
                return self.send(200, b"\xff\xd8\xff\xe0fixture-x-jpeg", "image/jpeg")
            return self.send(404, b"", "text/plain")
        if path == "/tweet-result":
            return self._tweet_result(query)
        if path.startswith("/srv/timeline-profile/screen-name/"):
            screen = path.rsplit("/", 1)[1]
            if screen == USER:
                return self.send_html(200, _timeline_page(base, USER, TIMELINE))
            if screen == QUIET_USER:
                return self.send_html(200, _timeline_page(base, QUIET_USER, []))
            return self.send(404, b"", "text/html; charset=utf-8")
        return self.send_html(200, _page_shell(base, path))

    do_HEAD = do_GET  # noqa: N815 - http.server's name

    def _tweet_result(self, query: dict[str, list[str]]) -> None:
        post_id = (query.get("id") or [""])[0]
        token = (query.get("token") or [""])[0]
        if not post_id.isdigit() or not token:
            return self.send(400, b"", "text/plain")
        if post_id in TOKENS and token != TOKENS[post_id]:
            return self.send(400, b"", "text/plain")
        if post_id == RATE_ID:
            return self.send_json(429, {"errors": [{"code": 88,
                                                    "message": "Rate limit exceeded."}]})
        record = tweet_record(self.base, post_id)
        if record is None:
            return self.send(404, b"", "text/plain")  # X's answer for a post it does not know
        return self.send_json(200, record, {"Cache-Control": "public, max-age=86400"})


class XFixture(PlatformFixture):
    """The X stand-in; set ``ISNAD_PLATFORMS__X__BASE_URL`` to its ``base``."""

    handler = _Handler

    def post_url(self, post_id: str = ARABIC_ID, user: str = USER) -> str:
        """A post URL on the stand-in, shaped like ``https://x.com/<user>/status/<id>``."""
        return f"{self.base}/{user}/status/{post_id}"

    def channel_url(self, user: str = USER) -> str:
        """The profile URL on the stand-in, shaped like ``https://x.com/<user>``."""
        return f"{self.base}/{user}"
