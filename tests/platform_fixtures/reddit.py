"""A Reddit stand-in: the public ``.json`` views, the post pages, share links and media.

Served on the stand-in's base, in Reddit's public shapes:

- ``/comments/<id>/.json``, ``/comments/<id>/_/<comment>/.json`` (also under ``/r/<sub>/``):
  ``[Listing(t3), Listing(t1)]``; errors as Reddit gives them: 404 ``{"message": "Not Found",
  "error": 404}``, ``{"reason": "banned"|"private"|"quarantined", ...}``, 429, and the HTML
  network-block page. Without ``raw_json=1`` every string is HTML-escaped, as Reddit does.
- ``/r/<sub>/new.json`` and ``/user/<u>/submitted.json`` (``sort=new``; any other sort answers
  in hot order), ``PAGE`` posts a page whatever the ``limit``, paged by ``after=<t3_id>``;
  ``/user/<u>/about.json`` (``is_suspended`` for ``SUSPENDED_USER``, 404 for unknown users);
  an unknown subreddit redirects to ``/subreddits/search.json``, as Reddit does.
- HTML pages at every post, comment, subreddit and profile URL; ``/r/<sub>/s/<code>`` share
  links redirect (301) to the post or comment permalink.
- ``/media/DASH_720.mp4`` (a real MP4), ``/media/*.png`` images; other media answer 404.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from tests.fixture_site.server import png, video_clip
from tests.platform_fixtures.server import PlatformFixture, PlatformHandler

PUBLIC = "https://www.reddit.com"
SUBREDDIT = "syriawitness"
SUBREDDIT_ID = "t5_7x2kq9"
USER = "field_witness"
USER_ID = "t2_9k3m2x7q"

ARABIC_ID = "1gx7a2b"
ARABIC_TITLE = "انقطاع الكهرباء في الأحياء الشرقية من حلب منذ الفجر"
ARABIC_SLUG = "انقطاع_الكهرباء_في_الأحياء_الشرقية_من_حلب_منذ"
ARABIC_TEXT = ("الكهرباء مقطوعة عن الأحياء الشرقية منذ الساعة الخامسة فجراً.\n"
               "الناس يتجمعون عند المخبز الوحيد المفتوح في شارع النيل.\n\n"
               "الفيديو من الشارع الساعة ٧ صباحاً #حلب\n"
               "التقرير الكامل: https://example.org/report?id=12&lang=ar")
ARABIC_PERMALINK = f"/r/{SUBREDDIT}/comments/{ARABIC_ID}/{ARABIC_SLUG}/"
ARABIC_CANONICAL = PUBLIC + ARABIC_PERMALINK
ARABIC_PUBLISHED = "2026-11-20T08:15:30Z"
ARABIC_FLAIR = "فيديو"
VIDEO_PATH = "/media/DASH_720.mp4"
VIDEO_PREVIEW_PATH = "/media/video-preview-1gx7a2b.png"

GALLERY_ID = "1gx7b3c"
GALLERY_CAPTIONS = ("طابور الخبز أمام المخبز", "Generator on Al-Nil street")
GALLERY_MEDIA_IDS = ("k2v8q1x3m9ze1", "p7r4t2w6n1ze1")
GALLERY_OUTBOUND = "https://example.org/generators"
LINK_ID = "1gx7c4d"
LINK_URL = "https://example.org/news/aleppo-power-cut?src=reddit&lang=en"
EDITED_ID = "1gx7e6f"
EDITED_TEXT = ("Correction: the bakery on Al-Nil street reopened at 10:00.\n\n"
               "Edit: it closed again at 13:00 <no flour left> & queues moved to Bab al-Hadid.")
EDITED_AT = "2026-11-20T13:20:00Z"
DELETED_ID = "1gx7f7g"        # deleted by its author
REMOVED_ID = "1gx7g8h"        # removed by the moderators
ANTI_EVIL_ID = "1gx7h9i"      # removed by Reddit's Anti-Evil Operations
CROSSPOST_ID = "1gx9k2p"
PROCESSING_ID = "1gx7p3v"     # a video still processing: is_video, media null, a v.redd.it url
PROCESSING_LINK = "https://v.redd.it/wq4k7t2m8pze1"
CROSSPOST_SUBREDDIT = "MiddleEastNews"
CROSSPOST_USER = "levant_digest"

COMMENT_ID = "lq3k9x1"        # a comment on the Arabic post
COMMENT_TEXT = "أؤكد، نفس الوضع في حي الشعار.\nلا ماء أيضاً."
COMMENT_USER = "aleppo_resident"
REPLY_ID = "lq3m2z7"          # the author's reply to COMMENT_ID
REPLY_TEXT = "شكراً، سأضيف حي الشعار إلى التقرير."
DELETED_COMMENT_ID = "lq3d0e1"
REMOVED_COMMENT_ID = "lq3r3m0"

BANNED_SUBREDDIT, BANNED_POST = "BannedWitness", "1bn4x2q"
PRIVATE_SUBREDDIT, PRIVATE_POST = "privatewitness", "1pv3k8m"
QUARANTINED_SUBREDDIT, QUARANTINED_POST = "quarantinedwitness", "1qr7c2d"
UNKNOWN_SUBREDDIT = "nosuchwitness"
RATE_LIMITED_POST = "1rl9z9z"
BLOCKED_POST = "1bk0b0k"
LAYOUT_CHANGED_POST = "1lc0x0y"  # JSON, but a post without its id and permalink
SUSPENDED_USER = "suspended_reporter"

SHARE_CODE = "Xk3bQ9fLmA"          # → the Arabic post
COMMENT_SHARE_CODE = "Cm7pQ2rT9z"  # → COMMENT_ID
DEAD_SHARE_CODE = "Zz0deadLnk"     # → the subreddit's front page, not a post
SHARE_ID = "kQ2m8vT5xR1nW4pY7zB3c"

REPORT_IDS = tuple(f"1gx6r{n:02d}" for n in range(8, 0, -1))  # newest first
# The subreddit's /new and the user's submitted posts, newest first.
LISTED = (ARABIC_ID, GALLERY_ID, LINK_ID, EDITED_ID, *REPORT_IDS)
PAGE = 5  # posts a listing page, whatever the limit asked

QUARANTINE_MESSAGE = ("This community is quarantined: it may hold content that many find "
                      "shocking. Confirm that you want to see it.")


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC).timestamp()


def _permalink(post_id: str) -> str:
    if post_id == ARABIC_ID:
        return ARABIC_PERMALINK
    if post_id == CROSSPOST_ID:
        return f"/r/{CROSSPOST_SUBREDDIT}/comments/{CROSSPOST_ID}/power_cut_in_eastern_aleppo/"
    return f"/r/{SUBREDDIT}/comments/{post_id}/{_slug(post_id)}/"


def _slug(post_id: str) -> str:
    return {GALLERY_ID: "طوابير_الخبز_والمولدات_صور_من_صباح_اليوم",
            LINK_ID: "aleppo_power_cut_the_provincial_councils",
            EDITED_ID: "correction_bakery_on_alnil_street_reopened",
            DELETED_ID: "checkpoint_on_the_damascus_road",
            REMOVED_ID: "list_of_detained_people_from_the_eastern",
            ANTI_EVIL_ID: "footage_from_the_market_strike"}.get(post_id, f"report_{post_id}")


def _t3(base: str, post_id: str, **fields: Any) -> dict:
    """A post (t3) with the fields Reddit's public JSON gives, then ``fields`` over them."""
    created = fields.pop("created", "2026-11-19T12:00:00Z")
    sub = fields.pop("subreddit", SUBREDDIT)
    author = fields.pop("author", USER)
    data = {
        "approved_at_utc": None, "subreddit": sub, "selftext": "",
        "author_fullname": USER_ID if author == USER else "t2_2z8x5c1v", "saved": False,
        "mod_reason_title": None, "gilded": 0, "clicked": False,
        "title": f"Report {post_id}: the situation this morning", "link_flair_richtext": [],
        "subreddit_name_prefixed": f"r/{sub}", "hidden": False, "pwls": 6,
        "link_flair_css_class": None, "downs": 0, "thumbnail_height": 140,
        "top_awarded_type": None, "hide_score": False, "name": f"t3_{post_id}",
        "quarantine": False, "link_flair_text_color": "dark", "upvote_ratio": 0.94,
        "author_flair_background_color": None, "subreddit_type": "public", "ups": 57,
        "total_awards_received": 0, "media_embed": {}, "thumbnail_width": 140,
        "author_flair_template_id": None, "is_original_content": False, "user_reports": [],
        "secure_media": None, "is_reddit_media_domain": False, "is_meta": False,
        "category": None, "secure_media_embed": {}, "link_flair_text": None,
        "can_mod_post": False, "score": 57, "approved_by": None,
        "is_created_from_ads_ui": False, "author_premium": False, "thumbnail": "self",
        "edited": False, "author_flair_css_class": None, "author_flair_richtext": [],
        "gildings": {}, "content_categories": None, "is_self": True, "mod_note": None,
        "created": _epoch(created), "link_flair_type": "text", "wls": 6,
        "removed_by_category": None, "banned_by": None, "author_flair_type": "text",
        "domain": f"self.{sub}", "allow_live_comments": False, "selftext_html": None,
        "likes": None, "suggested_sort": None, "banned_at_utc": None, "view_count": None,
        "archived": False, "no_follow": False, "is_crosspostable": True, "pinned": False,
        "over_18": False, "all_awardings": [], "awarders": [], "media_only": False,
        "can_gild": False, "spoiler": False, "locked": False, "author_flair_text": None,
        "treatment_tags": [], "visited": False, "removed_by": None, "num_reports": None,
        "distinguished": None, "subreddit_id": SUBREDDIT_ID, "author_is_blocked": False,
        "mod_reason_by": None, "removal_reason": None, "link_flair_background_color": "",
        "id": post_id, "is_robot_indexable": True, "report_reasons": None, "author": author,
        "discussion_type": None, "num_comments": 2, "send_replies": True,
        "contest_mode": False, "mod_reports": [], "author_patreon_flair": False,
        "author_flair_text_color": None, "permalink": _permalink(post_id), "stickied": False,
        "url": PUBLIC + _permalink(post_id), "subreddit_subscribers": 48213,
        "created_utc": _epoch(created), "num_crossposts": 0, "media": None, "is_video": False,
    }
    data.update(fields)
    if data["selftext"] and data["selftext_html"] is None:
        paragraphs = "".join(f"<p>{html.escape(p)}</p>\n"
                             for p in data["selftext"].split("\n\n"))
        data["selftext_html"] = f'<!-- SC_OFF --><div class="md">{paragraphs}</div><!-- SC_ON -->'
    return data


def _video(base: str) -> dict:
    return {"reddit_video": {
        "bitrate_kbps": 2400, "fallback_url": f"{base}{VIDEO_PATH}?source=fallback",
        "has_audio": True, "height": 720, "width": 1280,
        "scrubber_media_url": f"{base}/media/DASH_96.mp4",
        "dash_url": f"{base}/media/DASHPlaylist.mpd?a=1766222130%2CY2E5ZmQ&v=1&f=sd",
        "duration": 2, "hls_url": f"{base}/media/HLSPlaylist.m3u8?a=1766222130%2CZjU2Mm&v=1&f=sd",
        "is_gif": False, "transcoding_status": "completed"}}


def _preview(url: str) -> dict:
    return {"images": [{"source": {"url": url, "width": 1280, "height": 720},
                        "resolutions": [{"url": f"{url}&width=108&crop=smart", "width": 108,
                                         "height": 60}],
                        "variants": {}, "id": "rSGWbcTwMb_0RzD2Ms9DqNQ6aIF_j5joM9C3fVgPR-I"}],
            "enabled": False}


def _posts(base: str) -> dict[str, dict]:
    """Every public post of the stand-in, by id."""
    arabic = _t3(
        base, ARABIC_ID, created=ARABIC_PUBLISHED, title=ARABIC_TITLE, selftext=ARABIC_TEXT,
        link_flair_text=ARABIC_FLAIR, ups=1843, score=1843, upvote_ratio=0.97, num_comments=4,
        num_crossposts=1, is_self=False, is_video=True, post_hint="hosted:video",
        domain="v.redd.it", is_reddit_media_domain=True, url="https://v.redd.it/q8z3h1k2w9ze1",
        url_overridden_by_dest="https://v.redd.it/q8z3h1k2w9ze1",
        thumbnail=f"{base}/media/thumb-1gx7a2b.png", media=_video(base),
        secure_media=_video(base),
        preview=_preview(f"{base}{VIDEO_PREVIEW_PATH}?format=pjpg&auto=webp&s=5b1c0e7a"))
    posts = {
        ARABIC_ID: arabic,
        GALLERY_ID: _t3(
            base, GALLERY_ID, created="2026-11-20T07:50:00Z",
            title="طوابير الخبز والمولدات — صور من صباح اليوم", is_self=False,
            is_gallery=True, domain="reddit.com", url=f"{PUBLIC}/gallery/{GALLERY_ID}",
            url_overridden_by_dest=f"{PUBLIC}/gallery/{GALLERY_ID}", ups=402, score=402,
            thumbnail=f"{base}/media/thumb-gallery.png",
            gallery_data={"items": [
                {"caption": GALLERY_CAPTIONS[0], "media_id": GALLERY_MEDIA_IDS[0],
                 "id": 528193001},
                {"caption": GALLERY_CAPTIONS[1], "outbound_url": GALLERY_OUTBOUND,
                 "media_id": GALLERY_MEDIA_IDS[1], "id": 528193002}]},
            media_metadata={media_id: {
                "status": "valid", "e": "Image", "m": "image/png",
                "p": [{"y": 81, "x": 108,
                       "u": f"{base}/media/{media_id}.png?width=108&crop=smart&s=1a2b"}],
                "s": {"y": 1080, "x": 1440,
                      "u": f"{base}/media/{media_id}.png?width=1440&format=png8&s=3c4d"},
                "id": media_id} for media_id in GALLERY_MEDIA_IDS}),
        LINK_ID: _t3(
            base, LINK_ID, created="2026-11-20T07:20:00Z",
            title="Aleppo power cut: the provincial council's statement", is_self=False,
            post_hint="link", domain="example.org", url=LINK_URL,
            url_overridden_by_dest=LINK_URL, thumbnail=f"{base}/media/thumb-link.png",
            preview=_preview(f"{base}/media/external-preview-1gx7c4d.png?auto=webp&s=9f2e")),
        EDITED_ID: _t3(
            base, EDITED_ID, created="2026-11-20T06:45:00Z", selftext=EDITED_TEXT,
            title="Correction: bakery on Al-Nil street reopened", edited=_epoch(EDITED_AT),
            num_comments=0, locked=True),
        DELETED_ID: _t3(
            base, DELETED_ID, created="2026-11-19T22:10:00Z", author="[deleted]",
            selftext="[deleted]", title="Checkpoint on the Damascus road",
            removed_by_category="deleted", is_robot_indexable=False,
            is_crosspostable=False, num_comments=3),
        REMOVED_ID: _t3(
            base, REMOVED_ID, created="2026-11-19T21:30:00Z", selftext="[removed]",
            title="List of detained people from the eastern districts",
            removed_by_category="moderator", is_robot_indexable=False,
            is_crosspostable=False),
        ANTI_EVIL_ID: _t3(
            base, ANTI_EVIL_ID, created="2026-11-19T20:05:00Z", author="[deleted]",
            selftext="[removed]", title="Footage from the market strike",
            removed_by_category="anti_evil_ops", is_robot_indexable=False,
            is_crosspostable=False, over_18=True),
        CROSSPOST_ID: _t3(
            base, CROSSPOST_ID, created="2026-11-20T09:02:00Z", subreddit=CROSSPOST_SUBREDDIT,
            author=CROSSPOST_USER, title="Power cut in eastern Aleppo since dawn (video, Arabic)",
            is_self=False, post_hint="hosted:video", domain="v.redd.it",
            url=ARABIC_PERMALINK, url_overridden_by_dest=ARABIC_PERMALINK,
            crosspost_parent=f"t3_{ARABIC_ID}", crosspost_parent_list=[arabic],
            subreddit_id="t5_2qh13", preview=arabic["preview"], ups=96, score=96,
            num_comments=1),
    }
    # Reddit's shape while an upload is processed (seen in a real 2025 answer): no
    # reddit_video yet, only the v.redd.it link and a preview image.
    posts[PROCESSING_ID] = _t3(
        base, PROCESSING_ID, created="2026-11-20T09:40:00Z", title="Video from the bakery queue",
        selftext="Uploading now, the video is still processing.", is_self=False,
        is_video=True, post_hint="hosted:video", domain=f"/r/{SUBREDDIT}/comments/"
        f"{PROCESSING_ID}/report_{PROCESSING_ID}/", url=PROCESSING_LINK,
        url_overridden_by_dest=PROCESSING_LINK, media=None, secure_media=None,
        preview=_preview(f"{base}/media/external-preview-{PROCESSING_ID}.png?format=pjpg&s=7d1e"))
    for n, post_id in enumerate(REPORT_IDS):
        posts[post_id] = _t3(base, post_id, created=f"2026-11-19T{19 - n:02d}:00:00Z",
                             selftext=f"Situation report {post_id}.\nNo change overnight.")
    for post in posts.values():
        if post["author"] == "[deleted]" or post["removed_by_category"]:
            del post["author_fullname"]  # not given for removed or deleted posts
    return posts


def _t1(comment_id: str, parent: str, body: str, author: str, created: str, **fields: Any
        ) -> dict:
    data = {
        "subreddit_id": SUBREDDIT_ID, "approved_at_utc": None, "author_is_blocked": False,
        "comment_type": None, "awarders": [], "mod_reason_by": None, "banned_by": None,
        "author_flair_type": "text", "total_awards_received": 0, "subreddit": SUBREDDIT,
        "author_flair_template_id": None, "likes": None, "replies": "", "user_reports": [],
        "saved": False, "id": comment_id, "banned_at_utc": None, "mod_reason_title": None,
        "gilded": 0, "archived": False, "collapsed_reason_code": None, "no_follow": False,
        "author": author, "can_mod_post": False, "created_utc": _epoch(created),
        "send_replies": True, "parent_id": parent, "score": 12,
        "author_fullname": USER_ID if author == USER else "t2_4h8d2k1z", "approved_by": None,
        "mod_note": None, "all_awardings": [], "collapsed": False, "body": body,
        "edited": False, "top_awarded_type": None, "author_flair_css_class": None,
        "name": f"t1_{comment_id}", "is_submitter": author == USER, "downs": 0,
        "author_flair_richtext": [], "author_patreon_flair": False,
        "body_html": f'<div class="md"><p>{html.escape(body)}</p>\n</div>',
        "removal_reason": None, "collapsed_reason": None, "distinguished": None,
        "associated_award": None, "stickied": False, "author_premium": False,
        "can_gild": False, "gildings": {}, "unrepliable_reason": None,
        "author_flair_text_color": None, "score_hidden": False,
        "permalink": f"{ARABIC_PERMALINK}{comment_id}/", "subreddit_type": "public",
        "locked": False, "report_reasons": None, "created": _epoch(created),
        "author_flair_text": None, "treatment_tags": [], "link_id": f"t3_{ARABIC_ID}",
        "subreddit_name_prefixed": f"r/{SUBREDDIT}", "controversiality": 0, "depth": 0,
        "author_flair_background_color": None, "collapsed_because_crowd_control": None,
        "mod_reports": [], "num_reports": None, "ups": 12,
    }
    data.update(fields)
    if data["author"] == "[deleted]":
        data.pop("author_fullname")
    return data


def _comments() -> dict[str, dict]:
    reply = _t1(REPLY_ID, f"t1_{COMMENT_ID}", REPLY_TEXT, USER, "2026-11-20T09:40:00Z",
                depth=1, edited=_epoch("2026-11-20T09:45:00Z"), score=31, ups=31)
    comment = _t1(COMMENT_ID, f"t3_{ARABIC_ID}", COMMENT_TEXT, COMMENT_USER,
                  "2026-11-20T09:12:00Z", score=212, ups=212,
                  replies=_listing([{"kind": "t1", "data": reply}], None))
    return {
        COMMENT_ID: comment, REPLY_ID: reply,
        DELETED_COMMENT_ID: _t1(DELETED_COMMENT_ID, f"t3_{ARABIC_ID}", "[deleted]",
                                "[deleted]", "2026-11-20T09:20:00Z", score=1, ups=1),
        REMOVED_COMMENT_ID: _t1(REMOVED_COMMENT_ID, f"t3_{ARABIC_ID}", "[removed]",
                                "[deleted]", "2026-11-20T09:25:00Z", score=0, ups=0),
    }


def _listing(children: list[dict], after: str | None, dist: int | None = None) -> dict:
    return {"kind": "Listing", "data": {"after": after, "dist": dist, "modhash": "",
                                        "geo_filter": "", "children": children,
                                        "before": None}}


def _legacy_escape(value: Any) -> Any:
    """What Reddit does to every string without ``raw_json=1``."""
    if isinstance(value, str):
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if isinstance(value, list):
        return [_legacy_escape(v) for v in value]
    if isinstance(value, dict):
        return {k: _legacy_escape(v) for k, v in value.items()}
    return value


BLOCK_PAGE = """<!doctype html><html><head><title>Blocked</title></head><body>
<h1>whoa there, pardner!</h1>
<p>Your request has been blocked due to a network policy.</p>
<p>(Fixture wording: sign in, or register an application, to read from this network.)</p>
</body></html>"""


class _Handler(PlatformHandler):
    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = parse_qs(parts.query)
        if path.startswith("/media/"):
            return self._media(path)
        if path.endswith(".json"):
            core = path[:-len("/.json")] if path.endswith("/.json") else path[:-len(".json")]
            segments = [s for s in core.split("/") if s]
            return self._json(segments, query)
        return self._page([s for s in path.split("/") if s])

    # JSON

    def _answer(self, status: int, data: object, query: dict,
                headers: dict[str, str] | None = None) -> None:
        if query.get("raw_json") != ["1"]:
            data = _legacy_escape(data)
        self.send_json(status, data, headers)

    def _json(self, segments: list[str], query: dict) -> None:
        if segments[:1] == ["r"] and len(segments) >= 3 and segments[2] == "comments":
            segments = segments[2:]
        if segments[:1] == ["comments"] and len(segments) >= 2:
            comment = segments[3] if len(segments) == 4 else None
            return self._thread(segments[1], comment, query)
        if segments[:1] == ["r"] and len(segments) == 3 and segments[2] == "new":
            return self._subreddit_listing(segments[1], query)
        if segments[:1] == ["user"] and len(segments) == 3 and segments[2] == "about":
            return self._about(segments[1], query)
        if segments[:1] == ["user"] and len(segments) == 3 and segments[2] == "submitted":
            if segments[1] == SUSPENDED_USER:
                return self._answer(403, {"message": "Forbidden", "error": 403}, query)
            if segments[1] != USER:
                return self._answer(404, {"message": "Not Found", "error": 404}, query)
            return self._page_of(self._listed(), query, hot=query.get("sort") != ["new"])
        if segments == ["subreddits", "search"]:
            return self._answer(200, _listing([], None, 0), query)
        return self._answer(404, {"message": "Not Found", "error": 404}, query)

    def _refused(self, post_or_sub: str, query: dict) -> bool:
        """Reddit's refusals, by post id or subreddit name; True when one was sent."""
        if post_or_sub in (BANNED_POST, BANNED_SUBREDDIT):
            self._answer(404, {"reason": "banned", "message": "Not Found", "error": 404}, query)
        elif post_or_sub in (PRIVATE_POST, PRIVATE_SUBREDDIT):
            self._answer(403, {"reason": "private", "message": "Forbidden", "error": 403},
                         query)
        elif post_or_sub in (QUARANTINED_POST, QUARANTINED_SUBREDDIT):
            self._answer(403, {"reason": "quarantined", "quarantine_message_html":
                               f'<div class="md"><p>{QUARANTINE_MESSAGE}</p></div>',
                               "message": "Forbidden", "quarantine_message": QUARANTINE_MESSAGE,
                               "error": 403}, query)
        elif post_or_sub == RATE_LIMITED_POST:
            self._answer(429, {"message": "Too Many Requests", "error": 429}, query,
                         {"x-ratelimit-used": "100", "x-ratelimit-remaining": "0.0",
                          "x-ratelimit-reset": "412"})
        elif post_or_sub == BLOCKED_POST:
            self.send_html(403, BLOCK_PAGE)
        elif post_or_sub == LAYOUT_CHANGED_POST:
            self._answer(200, [_listing([{"kind": "t3", "data": {"title": "?"}}], None),
                               _listing([], None)], query)
        else:
            return False
        return True

    def _thread(self, post_id: str, comment_id: str | None, query: dict) -> None:
        if self._refused(post_id, query):
            return None
        changes = self.server
        if post_id in changes.limited:
            return self._answer(429, {"message": "Too Many Requests", "error": 429}, query)
        if post_id in changes.walled:  # Reddit's answer for a quarantined community
            self._refused(QUARANTINED_POST, query)
            return None
        if post_id in changes.deleted:  # deleted and purged: no public post with this id
            return self._answer(404, {"message": "Not Found", "error": 404}, query)
        posts = self._posts()
        if post_id not in posts:
            return self._answer(404, {"message": "Not Found", "error": 404}, query)
        top = _listing([{"kind": "t3", "data": posts[post_id]}], None, 1)
        comments = _comments() if post_id == ARABIC_ID else {}
        if comment_id:
            found = [comments[comment_id]] if comment_id in comments else []
        else:
            found = [c for c in comments.values() if c["parent_id"] == f"t3_{post_id}"]
        replies = _listing([{"kind": "t1", "data": c} for c in found], None)
        return self._answer(200, [top, replies], query)

    def _subreddit_listing(self, name: str, query: dict) -> None:
        if self._refused(name, query):
            return None
        if name.lower() == UNKNOWN_SUBREDDIT:
            return self.redirect(f"{self.base}/subreddits/search.json?q={name}", 302)
        if name.lower() != SUBREDDIT:
            return self._answer(200, _listing([], None, 0), query)
        return self._page_of(self._listed(), query)

    def _page_of(self, ids: list[str], query: dict, *, hot: bool = False) -> None:
        if hot:  # Reddit's default sort: by votes, not time
            ids = sorted(ids, key=lambda i: -self._posts()[i]["score"])
        limit = min(int(query.get("limit", ["25"])[0]), PAGE)
        after = query.get("after", [""])[0].removeprefix("t3_")
        start = ids.index(after) + 1 if after in ids else 0 if not after else len(ids)
        page = ids[start:start + limit]
        following = f"t3_{page[-1]}" if page and start + limit < len(ids) else None
        posts = self._posts()
        return self._answer(200, _listing([{"kind": "t3", "data": posts[i]} for i in page],
                                          following, len(page)), query)

    def _posts(self) -> dict[str, dict]:
        """Every public post, as a test edited them (new text, ``edited`` set)."""
        posts = _posts(self.base)
        for post_id, text in self.server.edits.items():
            posts[post_id].update(
                selftext=text, edited=_epoch("2026-11-21T10:00:00Z"),
                selftext_html=f'<!-- SC_OFF --><div class="md"><p>{html.escape(text)}</p>\n'
                              "</div><!-- SC_ON -->")
        return posts

    def _listed(self) -> list[str]:
        """The listing's posts, newest first, without those a test took out of it."""
        changes = self.server
        gone = changes.hidden | changes.deleted | changes.limited | changes.walled
        return [post_id for post_id in LISTED if post_id not in gone]

    def _about(self, user: str, query: dict) -> None:
        if user == SUSPENDED_USER:
            return self._answer(200, {"kind": "t2", "data": {"name": SUSPENDED_USER,
                                                             "is_suspended": True}}, query)
        if user != USER:
            return self._answer(404, {"message": "Not Found", "error": 404}, query)
        return self._answer(200, {"kind": "t2", "data": {
            "is_employee": False, "is_friend": False, "verified": True, "is_suspended": False,
            "hide_from_robots": False, "id": USER_ID.removeprefix("t2_"),
            "is_gold": False, "is_mod": False, "has_verified_email": True, "name": USER,
            "icon_img": f"{self.base}/media/avatar.png", "link_karma": 5120,
            "comment_karma": 880, "total_karma": 6000, "accept_followers": True,
            "created": _epoch("2023-02-01T00:00:00Z"),
            "created_utc": _epoch("2023-02-01T00:00:00Z"),
            "subreddit": {"display_name": f"u_{USER}", "display_name_prefixed": f"u/{USER}",
                          "title": "Field Witness", "subreddit_type": "user",
                          "url": f"/user/{USER}/", "over_18": False,
                          "public_description": "Reports from the ground."}}}, query)

    # Pages and media

    def _media(self, path: str) -> None:
        if path == VIDEO_PATH:
            return self.send(200, video_clip(), "video/mp4")
        if path.endswith(".png"):
            return self.send(200, png(path), "image/png")
        return self.not_found()

    def _page(self, segments: list[str]) -> None:
        base = self.base
        if len(segments) == 4 and segments[0] in ("r", "u", "user") and segments[2] == "s":
            target = {SHARE_CODE: ARABIC_PERMALINK,
                      COMMENT_SHARE_CODE: f"{ARABIC_PERMALINK}{COMMENT_ID}/"}.get(
                          segments[3], f"/r/{segments[1]}/")
            query = (f"?share_id={SHARE_ID}&utm_content=1&utm_medium=android_app"
                     "&utm_name=androidcss&utm_source=share&utm_term=1")
            return self.redirect(base + quote(target) + query, 301)
        thread = segments[2:] if segments[:1] in (["r"], ["user"], ["u"]) else segments
        if thread[:1] in (["comments"], ["gallery"]) and len(thread) >= 2:
            return self._post_page(thread[1], thread[3] if len(thread) == 4 else None,
                                   bare=segments[:1] in (["comments"], ["gallery"]))
        if segments in ([], ["r", SUBREDDIT], ["r", SUBREDDIT, "new"], ["user", USER],
                        ["u", USER], ["user", USER, "submitted"]):
            posts = self._posts()
            items = "\n".join(
                f'<article><a href="{html.escape(quote(posts[i]["permalink"]))}">'
                f'{html.escape(posts[i]["title"])}</a></article>' for i in self._listed())
            return self.send_html(200, _html(f"r/{SUBREDDIT}", f"<main>{items}</main>"))
        return self.send_html(404, _html("page not found", "<p>page not found</p>"))

    def _post_page(self, post_id: str, comment_id: str | None, *, bare: bool) -> None:
        if post_id in (BANNED_POST, PRIVATE_POST, QUARANTINED_POST, RATE_LIMITED_POST):
            status = {BANNED_POST: 404, RATE_LIMITED_POST: 429}.get(post_id, 403)
            return self.send_html(status, _html("Reddit", "<p>This community is not "
                                                          "available.</p>"))
        if post_id == BLOCKED_POST:
            return self.send_html(403, BLOCK_PAGE)
        changes = self.server
        if post_id in changes.deleted | changes.limited | changes.walled:
            status = 429 if post_id in changes.limited else (
                403 if post_id in changes.walled else 404)
            return self.send_html(status, _html("Reddit", "<p>page not found</p>"))
        posts = self._posts()
        if post_id not in posts:
            return self.send_html(404, _html("page not found", "<p>page not found</p>"))
        post = posts[post_id]
        if bare:  # /comments/<id> and /gallery/<id>: Reddit redirects to the permalink
            return self.redirect(self.base + quote(post["permalink"]), 301)
        created = datetime.fromtimestamp(post["created_utc"], UTC).isoformat()
        body = (f'<shreddit-post id="t3_{post_id}" permalink="{html.escape(post["permalink"])}"'
                f' post-title="{html.escape(post["title"])}" author="{post["author"]}"'
                f' created-timestamp="{created}" score="{post["score"]}"'
                f' comment-count="{post["num_comments"]}"'
                f' subreddit-prefixed-name="{post["subreddit_name_prefixed"]}">'
                f'<h1 slot="title">{html.escape(post["title"])}</h1>'
                f'<div slot="text-body"><div class="md" dir="auto">'
                f'{html.escape(post["selftext"]).replace(chr(10), "<br>")}</div></div>'
                "</shreddit-post>")
        if comment_id:
            comment = _comments().get(comment_id)
            if comment:
                body += (f'<shreddit-comment thingid="t1_{comment_id}" '
                         f'author="{comment["author"]}"><div slot="comment" dir="auto">'
                         f'{html.escape(comment["body"])}</div></shreddit-comment>')
        return self.send_html(200, _html(f'{html.escape(post["title"])} : '
                                         f'{post["subreddit_name_prefixed"]}', body))


def _html(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="en-US"><head><meta charset="utf-8"><title>{title}'
            f"</title></head><body><shreddit-app>{body}</shreddit-app></body></html>")


class RedditFixture(PlatformFixture):
    """The stand-in; point ``platforms.reddit.base_url`` at ``.base``."""

    handler = _Handler

    def __init__(self) -> None:
        super().__init__()
        # A test changes the subreddit as it goes: ``hidden`` posts are not published yet
        # (``publish`` shows them), ``edits`` give a post another text (and ``edited``); a
        # ``deleted`` post answers 404, a ``limited`` one 429 and a ``walled`` one Reddit's
        # quarantine refusal (sign in and opt in); none of these three is listed any more.
        self.server.hidden: set[str] = set()
        self.server.edits: dict[str, str] = {}
        self.server.deleted: set[str] = set()
        self.server.limited: set[str] = set()
        self.server.walled: set[str] = set()

    def publish(self, *post_ids: str) -> None:
        """Hidden posts appear."""
        self.server.hidden.difference_update(post_ids)

    def post_url(self, post_id: str = ARABIC_ID) -> str:
        """A post's URL on the base, percent-encoded as a browser copies it."""
        return self.base + quote(_permalink(post_id))

    def comment_url(self, comment_id: str = COMMENT_ID) -> str:
        return self.base + quote(f"{ARABIC_PERMALINK}{comment_id}/")

    def share_url(self, code: str = SHARE_CODE) -> str:
        return f"{self.base}/r/{SUBREDDIT}/s/{code}"

    def channel_url(self) -> str:
        """The subreddit on the base."""
        return f"{self.base}/r/{SUBREDDIT}/"

    def user_url(self, user: str = USER) -> str:
        return f"{self.base}/user/{user}/"
