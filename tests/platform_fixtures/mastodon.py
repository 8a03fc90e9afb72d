"""A Mastodon instance stand-in: the public REST API (v1) and the post pages."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.fixture_site.server import video_clip
from tests.platform_fixtures.server import PlatformFixture, PlatformHandler

ACCOUNT_ID = "109384"
USER = "witness"
ARABIC_HTML = ("<p>انقطاع الكهرباء في المدينة منذ الفجر.<br />الناس يتجمعون عند المخبز.</p>"
               "<p>صور من الشارع <a href=\"https://example.org/tags/x\" class=\"mention hashtag\""
               " rel=\"tag\">#<span>حلب</span></a></p>")
ARABIC_TEXT = ("انقطاع الكهرباء في المدينة منذ الفجر.\nالناس يتجمعون عند المخبز.\n\n"
               "صور من الشارع #حلب")
FIRST, LAST = 20001, 20010
QUOTE = FIRST + 3  # a quote post of FIRST + 4, in Mastodon 4.x's shape
QUOTE_TEXT = "This is the same street, an hour later."


def _account(base: str) -> dict:
    return {"id": ACCOUNT_ID, "username": USER, "acct": USER, "display_name": "Field Witness",
            "locked": False, "bot": False, "created_at": "2023-02-01T00:00:00.000Z",
            "note": "<p>Reports from the ground.</p>", "url": f"{base}/@{USER}",
            "avatar": f"{base}/avatars/witness.png", "followers_count": 1530,
            "following_count": 12, "statuses_count": 10, "last_status_at": "2026-11-20",
            "emojis": [], "fields": []}


def _status(base: str, number: int) -> dict:
    status = {
        "id": str(number), "created_at": f"2026-11-20T{number - FIRST + 8:02d}:15:30.000Z",
        "in_reply_to_id": None, "in_reply_to_account_id": None, "sensitive": False,
        "spoiler_text": "", "visibility": "public", "language": "en",
        "uri": f"{base}/users/{USER}/statuses/{number}", "url": f"{base}/@{USER}/{number}",
        "replies_count": 2, "reblogs_count": 5, "favourites_count": 11, "quotes_count": 0,
        "edited_at": None, "content": f"<p>Report {number}.</p>", "reblog": None,
        "application": {"name": "Web", "website": None}, "account": _account(base),
        "media_attachments": [], "mentions": [], "tags": [], "emojis": [], "card": None,
        "poll": None,
    }
    if number == FIRST:
        status.update(language="ar", content=ARABIC_HTML, edited_at="2026-11-20T09:00:00.000Z",
                      media_attachments=[
                          {"id": "1", "type": "image", "url": f"{base}/media/street.jpg",
                           "preview_url": f"{base}/media/street-small.jpg", "remote_url": None,
                           "description": "شارع مزدحم", "blurhash": "UBL_:rOpGG-o"},
                          {"id": "2", "type": "video", "url": f"{base}/media/m-clip.mp4",
                           "preview_url": f"{base}/media/m-clip.png", "remote_url": None,
                           "description": None, "blurhash": None}])
    elif number == FIRST + 1:
        status.update(in_reply_to_id=str(FIRST), in_reply_to_account_id=ACCOUNT_ID)
    elif number == FIRST + 2:
        status.update(content="", reblog={**_status(base, FIRST + 5),
                                          "url": "https://other.example/@source/777"})
    elif number == QUOTE:
        quoted = _status(base, FIRST + 4)
        link = quoted["url"]
        shown = link.split("://", 1)[1]
        # Mastodon prepends an "RE: <link>" paragraph for clients that cannot show quotes.
        status.update(content=(
            f'<p class="quote-inline">RE: <a href="{link}" target="_blank" rel="nofollow '
            f'noopener" translate="no"><span class="invisible">http://</span><span '
            f'class="ellipsis">{shown[:30]}</span><span class="invisible">{shown[30:]}'
            f"</span></a></p><p>{QUOTE_TEXT}</p>"),
            quote={"state": "accepted", "quoted_status": quoted}, quotes_count=0)
    return status


class _Handler(PlatformHandler):
    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        base = self.base
        path = parts.path
        if path == "/media/m-clip.mp4":
            return self.send(200, video_clip(), "video/mp4")
        changes = self.server
        if path.startswith("/api/v1/statuses/"):
            number = int(path.rsplit("/", 1)[1])
            if number == 42900 or number in changes.limited:
                return self.send_json(429, {"error": "Too many requests"})
            if number in changes.walled:  # an instance that lets no one in without an account
                return self.send_json(401, {"error": "This API requires an authenticated "
                                                    "user"})
            if number in changes.deleted:
                return self.send_json(404, {"error": "Record not found"})
            if number == 30000:
                return self.send_json(403, {"error": "This action is not allowed: the account "
                                                 "is suspended"})
            if FIRST <= number <= changes.last:
                return self.send_json(200, self._status(number))
            return self.send_json(404, {"error": "Record not found"})
        if path == "/api/v1/accounts/lookup":
            if query.get("acct") == [USER]:
                return self.send_json(200, _account(base))
            return self.send_json(404, {"error": "Record not found"})
        if path == f"/api/v1/accounts/{ACCOUNT_ID}/statuses":
            limit = int(query.get("limit", ["20"])[0])
            top = min(int(query.get("max_id", [str(changes.last + 1)])[0]) - 1, changes.last)
            gone = changes.deleted | changes.limited | changes.walled
            numbers = [n for n in range(top, FIRST - 1, -1)
                       if n not in gone][:min(limit, 5)]  # 5 per page
            return self.send_json(200, [self._status(n) for n in numbers])
        if path.startswith(f"/@{USER}"):
            page = (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
                    f"Field Witness (@{USER})</title></head><body><div id=\"mastodon\">"
                    f"<noscript>To use the Mastodon web application, please enable "
                    f"JavaScript.</noscript></div></body></html>")
            return self.send(200, page.encode(), "text/html; charset=utf-8")
        return self.send(404, b"Not found", "text/plain")

    def _status(self, number: int) -> dict:
        """A status, as a test edited it (new text, Mastodon's ``edited_at`` set)."""
        status = _status(self.base, number)
        if number in self.server.edits:
            status.update(content=f"<p>{self.server.edits[number]}</p>",
                          edited_at="2026-11-21T10:00:00.000Z")
        return status


class MastodonFixture(PlatformFixture):
    """The instance. A test changes it as it goes: ``publish`` adds newer statuses, ``edits``
    gives a status another text (and ``edited_at``); a ``deleted`` status answers 404, a
    ``limited`` one 429 and a ``walled`` one 401 (the instance wants an account); none of
    these three is listed any more."""

    handler = _Handler

    def __init__(self) -> None:
        super().__init__()
        self.server.last = LAST
        self.server.edits: dict[int, str] = {}
        self.server.deleted: set[int] = set()
        self.server.limited: set[int] = set()
        self.server.walled: set[int] = set()

    def publish(self, last: int) -> None:
        """The newest status is now ``last``."""
        self.server.last = last

    def post_url(self, number: int = FIRST) -> str:
        return f"{self.base}/@{USER}/{number}"
