"""A YouTube stand-in: watch pages, channel pages, the channel feed and the browse continuation,
in YouTube's public shapes, all on one base.

Served:

- ``/watch?v=<id>`` (any extra query) and ``/shorts/<id>``: a full watch page with the
  ``ytcfg.set``, ``ytInitialPlayerResponse`` and ``ytInitialData`` scripts. A playable
  video's page also has ``<video src="/media/yt-<id>.mp4">`` (real watch pages stream through
  MSE and have no file URL) so that yt-dlp's generic extractor finds the file when the page is
  captured here: the end-to-end tests get ``video_clip()``'s bytes as the post's video.
- The statuses: removed by the uploader, terminated account, private, age-restricted,
  geo-blocked, "Video unavailable", the bot check, HTTP 429 (Google's "sorry" answer), a
  redirect to ``/ServiceLogin`` (Google's sign-in page), a page without player data.
- ``/@syriawitness`` (Home), ``/@syriawitness/videos`` and ``/channel/<UC…>/videos`` (a grid of
  30 and a continuation token), ``/@syriawitness/shorts``, ``/@syriawitness/streams`` (no
  such tab: YouTube shows Home); ``/@terminatedchan`` (YouTube's terminated-account alert);
  ``/@feeddown`` (a channel whose feed answers 404); anything else under ``/@`` is a 404.
- ``/feeds/videos.xml?channel_id=<UC…>``: the Atom feed, newest 15 uploads.
- ``POST /youtubei/v1/browse``: the grid's continuations, checking the token and client.
- ``/media/yt-<id>.mp4`` (the real 2 s MP4) and ``/vi/<id>/<size>.jpg`` (thumbnails).
"""

from __future__ import annotations

import html
import json
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from tests.fixture_site.server import video_clip
from tests.platform_fixtures.server import PlatformFixture, PlatformHandler

HANDLE = "syriawitness"
CHANNEL_ID = "UCsyr1aW1tnessArch1ve00Q"
CHANNEL_NAME = "شاهد سوريا | Syria Witness"
CLIENT_VERSION = "2.20261118.01.00"

ARABIC_ID = "Qx7b2Kp9LmA"
ARABIC_TITLE = "قصف الحي الشرقي — تسجيل المراسل"
ARABIC_TEXT = ("قصف على الحي الشرقي صباح اليوم، ٢٠ تشرين الثاني.\n"
               "التسجيل الكامل من المراسل في الموقع:\n"
               "https://example.org/reports/2026-11-20\n"
               "\n"
               "#سوريا #توثيق")
ARABIC_PUBLISH_DATE = "2026-11-20T01:30:05-08:00"  # as the microformat gives it
ARABIC_PUBLISHED = "2026-11-20T09:30:05Z"
ARABIC_VIEWS, ARABIC_LIKES, ARABIC_COMMENTS = 48213, 1234, 87
VIDEO_FILE = f"/media/yt-{ARABIC_ID}.mp4"

UPLOADS = 70        # upload n (1 oldest .. 70 newest); 70 is the Arabic video
GRID_PAGE = 30      # items per grid page, as YouTube gives them
FEED_SIZE = 15
PLACE_NUMBER = 69   # shot in Aleppo; likes hidden; comment count shown rounded
PLACE = "Aleppo"
# Opaque continuation tokens, shaped like YouTube's (base64 of a protobuf).
TOKENS = ["4qmFsgKlARIYVUNzeXIxYVcxdG5lc3NBcmNoMXZlMDBRGlZFZ1oyYVdSbGIzTVlBeUFBTUFFNEFl"
          "b0RNRU5uUVNJ=",
          "4qmFsgKlARIYVUNzeXIxYVcxdG5lc3NBcmNoMXZlMDBRGlZFZ1oyYVdSbGIzTVlBeUFBTUFFNEFl"
          "b0RNRU5nWkRJ="]

LEGACY_ID = "legacyDate1"   # an old page: publishDate is a date only, the older like button
LEGACY_LIKES = 3907
DELETED_ID = "removedVid1"
TERMINATED_ID = "terminated1"
PRIVATE_ID = "privateVid1"
AGE_ID = "ageGatedVd1"
GEO_ID = "geoBlocked1"
MISSING_ID = "noSuchVid01"
BOT_ID = "botCheckVd1"
RATE_LIMITED_ID = "rateLimitd1"
LOGIN_ID = "signInWall1"
LAYOUT_ID = "layoutChng1"

TERMINATED_CHANNEL = "terminatedchan"
TERMINATED_TEXT = ("This account has been terminated for a violation of YouTube's Terms of "
                   "Service.")
FEED_DOWN_CHANNEL, FEED_DOWN_ID = "feeddown", "UCfeedd0wnChanne1xxxxxxQ"

BOT_REASON = "Sign in to confirm you’re not a bot"
STATUSES: dict[str, dict[str, Any]] = {
    DELETED_ID: {"status": "ERROR", "reason": "This video has been removed by the uploader",
                 "screen": ("This video has been removed by the uploader", None)},
    TERMINATED_ID: {"status": "ERROR", "reason": "This video is no longer available because the"
                    " YouTube account associated with this video has been terminated.",
                    "screen": ("Video unavailable", "This video is no longer available because "
                               "the YouTube account associated with this video has been "
                               "terminated.")},
    PRIVATE_ID: {"status": "LOGIN_REQUIRED", "reason": "This video is private",
                 "messages": ["This is a private video. Please sign in to verify that you may "
                              "see it."],
                 "screen": ("Private video", "Sign in if you've been granted access to this "
                            "video")},
    AGE_ID: {"status": "LOGIN_REQUIRED", "reason": "Sign in to confirm your age",
             "screen": ("Sign in to confirm your age", "This video may be inappropriate for "
                        "some users."), "desktopLegacyAgeGateReason": 1},
    GEO_ID: {"status": "UNPLAYABLE", "reason": "Video unavailable",
             "screen": ("Video unavailable", "The uploader has not made this video available "
                        "in your country")},
    MISSING_ID: {"status": "ERROR", "reason": "Video unavailable",
                 "screen": ("Video unavailable", "This video is unavailable")},
    BOT_ID: {"status": "LOGIN_REQUIRED", "reason": BOT_REASON,
             "screen": (BOT_REASON, "This helps protect our community. Learn more")},
}


def video_id(number: int) -> str:
    """The id of upload ``number`` (70 is the Arabic video)."""
    return ARABIC_ID if number == UPLOADS else f"ytv{number:08d}"


def is_short(number: int) -> bool:
    return number % 13 == 0


def published(number: int) -> datetime:
    """Upload ``number``'s publication time: one an hour, the newest the Arabic video's."""
    newest = datetime.fromisoformat(ARABIC_PUBLISHED.replace("Z", "+00:00"))
    return newest - timedelta(hours=UPLOADS - number)


def upload_number(video: str) -> int | None:
    if video == ARABIC_ID:
        return UPLOADS
    if video.startswith("ytv") and video[3:].isdigit() and 1 <= int(video[3:]) < UPLOADS:
        return int(video[3:])
    return None


def regular_videos() -> list[int]:
    """The Videos tab's uploads (no Shorts), newest first."""
    return [n for n in range(UPLOADS, 0, -1) if not is_short(n)]


def shorts() -> list[int]:
    return [n for n in range(UPLOADS, 0, -1) if is_short(n)]


# -- page pieces ------------------------------------------------------------------------------


def _script_json(value: object) -> str:
    """JSON as YouTube puts it in a script: UTF-8 kept, <, > and & escaped."""
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _ytcfg() -> dict[str, Any]:
    return {"INNERTUBE_CLIENT_NAME": "WEB", "INNERTUBE_CLIENT_VERSION": CLIENT_VERSION,
            "INNERTUBE_CONTEXT_CLIENT_NAME": 1, "HL": "en", "GL": "US",
            "INNERTUBE_CONTEXT": {"client": {"hl": "en", "gl": "US", "clientName": "WEB",
                                             "clientVersion": CLIENT_VERSION}},
            "LOGGED_IN": False}


def _page(title: str, head: str, body: str, scripts: list[str]) -> str:
    blobs = "".join(f'<script nonce="fx-n0nce">{s}</script>\n' for s in scripts)
    return f"""<!DOCTYPE html>
<html style="font-size: 10px;font-family: Roboto, Arial, sans-serif;" lang="en" dir="ltr"><head>
<meta charset="utf-8">
<script nonce="fx-n0nce">window.ytcfg = window.ytcfg || {{}};
ytcfg.set = ytcfg.set || function (o) {{ Object.assign(ytcfg, o); }};
ytcfg.set({_script_json(_ytcfg())});</script>
<title>{html.escape(title)} - YouTube</title>
<meta name="theme-color" content="rgba(255,255,255,0.98)">
{head}
</head><body dir="ltr"><ytd-app></ytd-app>
{body}
{blobs}</body></html>"""


def _thumbnails(base: str, video: str) -> list[dict[str, Any]]:
    return [{"url": f"{base}/vi/{video}/{name}.jpg", "width": w, "height": h}
            for name, w, h in (("default", 120, 90), ("mqdefault", 320, 180),
                               ("maxresdefault", 1280, 720), ("hqdefault", 480, 360))]


Edits = dict[str, dict[str, str]] | None  # video id → the fields a test changed


def _video(base: str, video: str, edits: Edits = None) -> dict[str, Any] | None:
    """What the watch page says of an existing video (its title and text as ``edits`` has
    them, when a test edited it), or None."""
    number = upload_number(video)
    if number is not None and edits and video in edits:
        return {**(_video(base, video) or {}), **edits[video]}
    if number is not None:
        when = published(number).astimezone(UTC)
        shown = (ARABIC_PUBLISH_DATE if number == UPLOADS
                 else when.strftime("%Y-%m-%dT%H:%M:%S+00:00"))
        return {"title": ARABIC_TITLE if number == UPLOADS else f"Situation report {number}",
                "text": ARABIC_TEXT if number == UPLOADS
                else f"Daily situation report number {number}.\nSources in the comments.",
                "views": ARABIC_VIEWS if number == UPLOADS else number * 100,
                "published": shown, "short": is_short(number), "number": number}
    if video in (LEGACY_ID, GEO_ID):
        return {"title": "Archive footage", "text": "Footage from 2019.", "views": 5120,
                "published": "2019-04-02", "short": False, "number": 0}
    return None


def _player_response(base: str, video: str, edits: Edits = None) -> dict[str, Any]:
    facts = _video(base, video, edits)
    status = STATUSES.get(video)
    response: dict[str, Any] = {
        "responseContext": {"visitorData": "CgtGaXh0dXJlVmlzaXQ%3D",
                            "mainAppWebResponseContext": {"loggedOut": True}},
    }
    if status:
        playability: dict[str, Any] = {"status": status["status"], "reason": status["reason"]}
        if "messages" in status:
            playability["messages"] = status["messages"]
        reason, subreason = status["screen"]
        screen: dict[str, Any] = {"reason": {"simpleText": reason},
                                  "icon": {"iconType": "ERROR_OUTLINE"}}
        if subreason:
            screen["subreason"] = {"runs": [{"text": subreason}]}
        playability["errorScreen"] = {"playerErrorMessageRenderer": screen}
        if "desktopLegacyAgeGateReason" in status:
            playability["desktopLegacyAgeGateReason"] = status["desktopLegacyAgeGateReason"]
        playability["contextParams"] = "Q0FFU0FnZ0M="
        response["playabilityStatus"] = playability
    else:
        response["playabilityStatus"] = {"status": "OK", "playableInEmbed": True,
                                         "contextParams": "Q0FFU0FnZ0M="}
        # Real web formats are ciphered and expire; the module must never list them.
        response["streamingData"] = {"expiresInSeconds": "21540", "formats": [{
            "itag": 18, "mimeType": "video/mp4; codecs=\"avc1.42001E, mp4a.40.2\"",
            "width": 160, "height": 120, "qualityLabel": "120p",
            "signatureCipher": "s=fixture&sp=sig&url=https%3A%2F%2Frr3---sn-fixture."
                               "googlevideo.com%2Fvideoplayback%3Fexpire%3D1795000000"}]}
    if facts is None:
        return response
    thumbnails = _thumbnails(base, video)
    response["videoDetails"] = {
        "videoId": video, "title": facts["title"], "lengthSeconds": "2",
        "keywords": ["سوريا", "توثيق"] if video == ARABIC_ID else ["report"],
        "channelId": CHANNEL_ID, "isOwnerViewing": False, "shortDescription": facts["text"],
        "isCrawlable": True, "thumbnail": {"thumbnails": thumbnails}, "allowRatings": True,
        "viewCount": str(facts["views"]), "author": CHANNEL_NAME, "isPrivate": False,
        "isUnpluggedCorpus": False, "isLiveContent": False}
    response["microformat"] = {"playerMicroformatRenderer": {
        "thumbnail": {"thumbnails": [thumbnails[2]]},
        "embed": {"iframeUrl": f"https://www.youtube.com/embed/{video}", "width": 1280,
                  "height": 720},
        "title": {"simpleText": facts["title"]}, "description": {"simpleText": facts["text"]},
        "lengthSeconds": "2", "ownerProfileUrl": f"http://www.youtube.com/@{HANDLE}",
        "externalChannelId": CHANNEL_ID, "isFamilySafe": True,
        "availableCountries": ["SY", "LB", "JO", "TR", "US"], "isUnlisted": False,
        "hasYpcMetadata": False, "viewCount": str(facts["views"]),
        "category": "News & Politics", "publishDate": facts["published"],
        "ownerChannelName": CHANNEL_NAME, "uploadDate": facts["published"],
        "isShortsEligible": facts["short"]}}
    return response


def _like_button(exact: int | None) -> dict[str, Any]:
    if exact is None:  # the uploader hid the count
        title, label = "Like", "I like this"
    else:
        shown = f"{exact / 1000:.1f}K" if exact >= 1000 else str(exact)
        title, label = shown, f"like this video along with {exact:,} other people"
    return {"segmentedLikeDislikeButtonViewModel": {
        "likeButtonViewModel": {"likeButtonViewModel": {
            "toggleButtonViewModel": {"toggleButtonViewModel": {
                "defaultButtonViewModel": {"buttonViewModel": {
                    "iconName": "LIKE", "title": title, "accessibilityText": label,
                    "style": "BUTTON_VIEW_MODEL_STYLE_MONO",
                    "buttonSize": "BUTTON_VIEW_MODEL_SIZE_DEFAULT"}},
                "toggledButtonViewModel": {"buttonViewModel": {
                    "iconName": "LIKE", "title": title,
                    "accessibilityText": f"Unlike{'' if exact is None else f' ({exact:,})'}"}}}},
            "likeStatusEntityKey": "EgtRaXhMaWtlU3RhdHVz", "likeStatusEntity": {
                "key": "EgtRaXhMaWtlU3RhdHVz", "likeStatus": "INDIFFERENT"}}},
        "dislikeButtonViewModel": {"dislikeButtonViewModel": {"toggleButtonViewModel": {
            "toggleButtonViewModel": {"defaultButtonViewModel": {"buttonViewModel": {
                "iconName": "DISLIKE", "title": "", "accessibilityText": "Dislike this video"}}}}}},
        "iconType": "LIKE_ICON_TYPE_UNKNOWN"}}


def _old_like_button(exact: int) -> dict[str, Any]:
    """The like button of 2023 pages (``toggleButtonRenderer``), which YouTube still serves
    to some visitors; shaped as in a real saved watch page (pytubefix's mocks)."""
    def text(count: int) -> dict[str, Any]:
        return {"accessibility": {"accessibilityData": {"label": f"{count:,} likes"}},
                "simpleText": f"{count / 1000:.1f}K" if count >= 1000 else str(count)}
    return {"segmentedLikeDislikeButtonRenderer": {
        "likeButton": {"toggleButtonRenderer": {
            "style": {"styleType": "STYLE_TEXT"}, "isToggled": False, "isDisabled": False,
            "defaultIcon": {"iconType": "LIKE"}, "defaultText": text(exact),
            "toggledText": text(exact + 1),
            "accessibility": {"label": f"like this video along with {exact:,} other people"},
            "defaultTooltip": "I like this", "toggledTooltip": "Unlike",
            "toggledStyle": {"styleType": "STYLE_DEFAULT_ACTIVE"}}},
        "dislikeButton": {"toggleButtonRenderer": {
            "style": {"styleType": "STYLE_TEXT"}, "isToggled": False, "isDisabled": False,
            "defaultIcon": {"iconType": "DISLIKE"},
            "accessibility": {"label": "Dislike this video"},
            "defaultTooltip": "I dislike this", "toggledTooltip": "I dislike this"}}}}


def _watch_data(video: str, edits: Edits = None) -> dict[str, Any]:
    """The watch page's ytInitialData: the primary and secondary info, the comments panel."""
    facts = _video("", video, edits) or {}
    number = facts.get("number")
    primary: dict[str, Any] = {
        "title": {"runs": [{"text": facts.get("title", "")}]},
        "viewCount": {"videoViewCountRenderer": {
            "viewCount": {"simpleText": f"{facts.get('views', 0):,} views"},
            "shortViewCount": {"simpleText": "48K views"}, "originalViewCount": "0"}},
        "videoActions": {"menuRenderer": {"topLevelButtons": [
            _old_like_button(LEGACY_LIKES) if video == LEGACY_ID else
            _like_button(None if number == PLACE_NUMBER else
                         ARABIC_LIKES if video == ARABIC_ID else (number or 1) * 3),
            {"buttonViewModel": {"iconName": "SHARE", "title": "Share"}}]}},
        "dateText": {"simpleText": "Nov 20, 2026"},
        "relativeDateText": {"simpleText": "2 days ago"}}
    if video == ARABIC_ID:  # the description's hashtags, shown above the title
        primary["superTitleLink"] = {"runs": [
            {"text": "#سوريا", "navigationEndpoint": {"commandMetadata": {
                "webCommandMetadata": {"url": "/hashtag/%D8%B3%D9%88%D8%B1%D9%8A%D8%A7"}}}},
            {"text": " "}, {"text": "#توثيق"}]}
    if number == PLACE_NUMBER:
        primary["superTitleLink"] = {"runs": [{"text": PLACE, "navigationEndpoint": {
            "commandMetadata": {"webCommandMetadata": {"url": "/results?sp=place"}}}}]}
        primary["superTitleIcon"] = {"iconType": "LOCATION_PIN"}
    data: dict[str, Any] = {
        "responseContext": {"mainAppWebResponseContext": {"loggedOut": True}},
        "contents": {"twoColumnWatchNextResults": {"results": {"results": {"contents": [
            {"videoPrimaryInfoRenderer": primary},
            {"videoSecondaryInfoRenderer": {
                "owner": {"videoOwnerRenderer": {
                    "title": {"runs": [{"text": CHANNEL_NAME, "navigationEndpoint": {
                        "browseEndpoint": {"browseId": CHANNEL_ID,
                                           "canonicalBaseUrl": f"/@{HANDLE}"}}}]},
                    "subscriberCountText": {"simpleText": "12.4K subscribers"}}},
                "attributedDescription": {"content": facts.get("text", "")}}},
            {"itemSectionRenderer": {"sectionIdentifier": "comment-item-section",
                                     "targetId": "comments-section", "contents": [
                                         {"continuationItemRenderer": {
                                             "trigger": "CONTINUATION_TRIGGER_ON_ITEM_SHOWN",
                                             "continuationEndpoint": {"continuationCommand": {
                                                 "token": "Eg0SC2NvbW1lbnRz",
                                                 "request": "CONTINUATION_REQUEST_TYPE_WATCH_NEXT"
                                             }}}}]}}]}}}},
        "engagementPanels": [],
    }
    comments = (str(ARABIC_COMMENTS) if video == ARABIC_ID
                else "1.2K" if number == PLACE_NUMBER else None)
    if comments:
        data["engagementPanels"].append({"engagementPanelSectionListRenderer": {
            "panelIdentifier": "engagement-panel-comments-section",
            "header": {"engagementPanelTitleHeaderRenderer": {
                "title": {"runs": [{"text": "Comments"}]},
                "contextualInfo": {"runs": [{"text": comments}]}}},
            "visibility": "ENGAGEMENT_PANEL_VISIBILITY_HIDDEN"}})
    return data


def watch_page(base: str, video: str, edits: Edits = None) -> str:
    """The watch page of ``video`` as the stand-in serves it."""
    facts = _video(base, video, edits)
    title = facts["title"] if facts else "YouTube"
    canonical = f"https://www.youtube.com/watch?v={video}"
    head = ""
    if facts:
        head = f"""<meta name="title" content="{html.escape(title)}">
<meta name="description" content="{html.escape(facts['text'][:160])}">
<link rel="shortlinkUrl" href="https://youtu.be/{video}">
<link rel="alternate" media="handheld" href="https://m.youtube.com/watch?v={video}">
<link rel="canonical" href="{canonical}">
<meta property="og:site_name" content="YouTube">
<meta property="og:url" content="{canonical}">
<meta property="og:title" content="{html.escape(title)}">
<meta property="og:image" content="{base}/vi/{video}/maxresdefault.jpg">
<meta property="og:type" content="video.other">
<meta property="og:video:type" content="text/html">
<meta itemprop="identifier" content="{video}">
<meta itemprop="uploadDate" content="{facts['published']}">"""
    body = ""
    if facts and video not in STATUSES:
        # Stand-in only: real watch pages have no file URL (the player streams through MSE).
        body = (f'<video class="video-stream html5-main-video" controls width="160" '
                f'src="/media/yt-{video}.mp4"></video>')
    player = _script_json(_player_response(base, video, edits))
    scripts = ['window["ytInitialPlayerResponse"] = null;',
               f"var ytInitialPlayerResponse = {player};"
               "var meta = document.createElement('meta');"]
    if facts or video not in STATUSES:
        scripts.append(f"var ytInitialData = {_script_json(_watch_data(video, edits))};")
    return _page(title, head, body, scripts)


# -- channel pieces --------------------------------------------------------------------------


def _grid_item(number: int) -> dict[str, Any]:
    video = video_id(number)
    title = _video("", video)["title"]  # type: ignore[index]
    if is_short(number):
        return {"richItemRenderer": {"content": {"shortsLockupViewModel": {
            "entityId": f"shorts-shelf-item-{video}",
            "accessibilityText": f"{title}, {number * 100} views - play Short",
            "onTap": {"innertubeCommand": {
                "commandMetadata": {"webCommandMetadata": {"url": f"/shorts/{video}",
                                                           "webPageType": "WEB_PAGE_TYPE_SHORTS"}},
                "reelWatchEndpoint": {"videoId": video, "playerParams": "8AEBoAMBiAQG",
                                      "overlay": {}}}},
            "overlayMetadata": {"primaryText": {"content": title},
                                "secondaryText": {"content": f"{number * 100} views"}}}}}}
    hours = UPLOADS - number
    return {"richItemRenderer": {"content": {"videoRenderer": {
        "videoId": video,
        "title": {"runs": [{"text": title}],
                  "accessibility": {"accessibilityData": {"label": f"{title} 2 seconds"}}},
        "publishedTimeText": {"simpleText": f"{hours} hours ago" if hours else "1 hour ago"},
        "lengthText": {"simpleText": "0:02"},
        "viewCountText": {"simpleText": f"{number * 100:,} views"},
        "navigationEndpoint": {"commandMetadata": {"webCommandMetadata": {
            "url": f"/watch?v={video}", "webPageType": "WEB_PAGE_TYPE_WATCH"}},
            "watchEndpoint": {"videoId": video}}}}}}


def _continuation(token: str) -> dict[str, Any]:
    return {"continuationItemRenderer": {
        "trigger": "CONTINUATION_TRIGGER_ON_ITEM_SHOWN",
        "continuationEndpoint": {"clickTrackingParams": "CBQQ7zsYACITCPixtA",
                                 "commandMetadata": {"webCommandMetadata": {
                                     "sendPost": True, "apiUrl": "/youtubei/v1/browse"}},
                                 "continuationCommand": {
                                     "token": token,
                                     "request": "CONTINUATION_REQUEST_TYPE_BROWSE"}}}}


def grid_page(page: int) -> list[dict[str, Any]]:
    """Page ``page`` (0 first) of the Videos grid, with the next page's token."""
    numbers = regular_videos()[page * GRID_PAGE:(page + 1) * GRID_PAGE]
    items = [_grid_item(n) for n in numbers]
    if (page + 1) * GRID_PAGE < len(regular_videos()):
        items.append(_continuation(TOKENS[page]))
    return items


def _tab(title: str, url: str, selected: bool, content: dict | None = None) -> dict:
    renderer: dict[str, Any] = {
        "endpoint": {"commandMetadata": {"webCommandMetadata": {
            "url": url, "webPageType": "WEB_PAGE_TYPE_CHANNEL", "rootVe": 3611,
            "apiUrl": "/youtubei/v1/browse"}},
            "browseEndpoint": {"browseId": CHANNEL_ID, "params": "EgZ2aWRlb3PyBgQKAjoA",
                               "canonicalBaseUrl": f"/@{HANDLE}"}},
        "title": title, "selected": selected}
    if content is not None:
        renderer["content"] = content
    return {"tabRenderer": renderer}


def channel_page(tab: str, handle: str = HANDLE, channel_id: str = CHANNEL_ID) -> str:
    """A channel page showing ``tab`` ("home", "videos" or "shorts")."""
    grids = {"videos": grid_page(0), "shorts": [_grid_item(n) for n in shorts()]}
    tabs = [_tab("Home", f"/@{handle}/featured", tab == "home",
                 {"sectionListRenderer": {"contents": []}} if tab == "home" else None)]
    for name, title in (("videos", "Videos"), ("shorts", "Shorts")):
        content = ({"richGridRenderer": {"contents": grids[name],
                                         "targetId": f"browse-feed{channel_id}{name}",
                                         "style": "RICH_GRID_RENDERER_STYLE_TABS"}}
                   if tab == name else None)
        tabs.append(_tab(title, f"/@{handle}/{name}", tab == name, content))
    tabs.append(_tab("Playlists", f"/@{handle}/playlists", False))
    data = {
        "responseContext": {"mainAppWebResponseContext": {"loggedOut": True}},
        "contents": {"twoColumnBrowseResultsRenderer": {"tabs": tabs}},
        "header": {"pageHeaderRenderer": {"pageTitle": CHANNEL_NAME}},
        "metadata": {"channelMetadataRenderer": {
            "title": CHANNEL_NAME, "description": "توثيق يومي من سوريا",
            "rssUrl": f"https://www.youtube.com/feeds/videos.xml?channel_id={channel_id}",
            "externalId": channel_id, "ownerUrls": [f"http://www.youtube.com/@{handle}"],
            "channelUrl": f"https://www.youtube.com/channel/{channel_id}",
            "vanityChannelUrl": f"http://www.youtube.com/@{handle}", "isFamilySafe": True}},
        "microformat": {"microformatDataRenderer": {
            "urlCanonical": f"https://www.youtube.com/channel/{channel_id}",
            "title": CHANNEL_NAME}},
    }
    head = f"""<link rel="canonical" href="https://www.youtube.com/channel/{channel_id}">
<link rel="alternate" type="application/rss+xml" title="RSS" href="https://www.youtube.com/feeds/videos.xml?channel_id={channel_id}">
<meta property="og:title" content="{html.escape(CHANNEL_NAME)}">
<meta property="og:url" content="https://www.youtube.com/channel/{channel_id}">"""
    return _page(CHANNEL_NAME, head, "", [f"var ytInitialData = {_script_json(data)};"])


def terminated_page() -> str:
    data = {"responseContext": {"mainAppWebResponseContext": {"loggedOut": True}},
            "alerts": [{"alertRenderer": {"type": "ERROR",
                                          "text": {"simpleText": TERMINATED_TEXT}}}]}
    return _page("YouTube", "", "", [f"var ytInitialData = {_script_json(data)};"])


def feed(base: str, edits: Edits = None, absent: Collection[str] = ()) -> str:
    """The channel's Atom feed: the newest 15 uploads, newest first (without the ``absent``
    ones a test deleted or has not published yet)."""
    entries = []
    shown = [n for n in range(UPLOADS, 0, -1) if video_id(n) not in absent][:FEED_SIZE]
    for number in shown:
        video = video_id(number)
        facts = _video(base, video, edits)
        when = published(number).strftime("%Y-%m-%dT%H:%M:%S+00:00")
        link = (f"https://www.youtube.com/shorts/{video}" if is_short(number)
                else f"https://www.youtube.com/watch?v={video}")
        entries.append(f""" <entry>
  <id>yt:video:{video}</id>
  <yt:videoId>{video}</yt:videoId>
  <yt:channelId>{CHANNEL_ID}</yt:channelId>
  <title>{html.escape(facts["title"])}</title>
  <link rel="alternate" href="{link}"/>
  <author>
   <name>{html.escape(CHANNEL_NAME)}</name>
   <uri>https://www.youtube.com/channel/{CHANNEL_ID}</uri>
  </author>
  <published>{when}</published>
  <updated>{when}</updated>
  <media:group>
   <media:title>{html.escape(facts["title"])}</media:title>
   <media:content url="https://www.youtube.com/v/{video}?version=3"
    type="application/x-shockwave-flash" width="640" height="390"/>
   <media:thumbnail url="{base}/vi/{video}/hqdefault.jpg" width="480" height="360"/>
   <media:description>{html.escape(facts["text"])}</media:description>
   <media:community>
    <media:starRating count="{number * 3}" average="5.00" min="1" max="5"/>
    <media:statistics views="{facts["views"]}"/>
   </media:community>
  </media:group>
 </entry>""")
    body = "\n".join(entries)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015"
 xmlns:media="http://search.yahoo.com/mrss/" xmlns="http://www.w3.org/2005/Atom">
 <link rel="self" href="http://www.youtube.com/feeds/videos.xml?channel_id={CHANNEL_ID}"/>
 <id>yt:channel:{CHANNEL_ID}</id>
 <yt:channelId>{CHANNEL_ID}</yt:channelId>
 <title>{html.escape(CHANNEL_NAME)}</title>
 <link rel="alternate" href="https://www.youtube.com/channel/{CHANNEL_ID}"/>
 <author>
  <name>{html.escape(CHANNEL_NAME)}</name>
  <uri>https://www.youtube.com/channel/{CHANNEL_ID}</uri>
 </author>
 <published>2021-03-15T08:00:00+00:00</published>
{body}
</feed>
"""


GOOGLE_404 = """<!DOCTYPE html><html lang=en><meta charset=utf-8>
<title>Error 404 (Not Found)!!1</title>
<p><b>404.</b> <ins>That’s an error.</ins><p>The requested URL was not found on this server.
<ins>That’s all we know.</ins>"""

SORRY_429 = """<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8">
<title>Sorry...</title></head><body><div><h1>Sorry...</h1>
<p>Unusual traffic was detected from this network. Please try your request again later.</p>
</div></body></html>"""

SIGN_IN = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Sign in - Google Accounts</title></head><body><form id="identifier">
<h1>Sign in</h1><p>to continue to YouTube</p><input type="email" name="identifier">
</form></body></html>"""

YOUTUBE_404 = _page("404 Not Found", "", '<div id="error-page"><p>This page isn\'t available. '
                    "Sorry about that.</p><p>Try searching for something else.</p></div>", [])

NEW_LAYOUT = _page("YouTube", "", "<main><p>A watch page without the player data.</p></main>", [])


class _Handler(PlatformHandler):
    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        path = [p for p in parts.path.split("/") if p]
        query = parse_qs(parts.query)
        if parts.path.startswith("/media/yt-") and parts.path.endswith(".mp4"):
            return self.send(200, video_clip(), "video/mp4")
        if len(path) == 3 and path[0] == "vi":
            return self.send(200, b"\xff\xd8\xff\xe0\x00\x10JFIF fixture thumbnail",
                             "image/jpeg")
        if path == ["watch"] or (len(path) == 2 and path[0] == "shorts"):
            video = query.get("v", [""])[0] if path == ["watch"] else path[1]
            return self._watch(video, parts.query)
        if path == ["ServiceLogin"]:
            return self.send_html(200, SIGN_IN)
        if path == ["feeds", "videos.xml"]:
            if query.get("channel_id") == [CHANNEL_ID]:
                server = self.server
                absent = server.hidden | server.deleted | server.limited | server.walled
                return self.send(200, feed(self.base, server.edits, absent).encode(),
                                 "text/xml; charset=UTF-8")
            return self.send(404, GOOGLE_404.encode(), "text/html; charset=UTF-8")
        if path and path[0].startswith("@") or path[:1] == ["channel"]:
            return self._channel(path)
        return self.send_html(404, YOUTUBE_404)

    def _watch(self, video: str, query: str) -> None:
        if video == RATE_LIMITED_ID or video in self.server.limited:
            return self.send_html(429, SORRY_429)
        if video in self.server.deleted:  # as YouTube shows a video its uploader removed
            return self.send_html(200, watch_page(self.base, DELETED_ID).replace(
                DELETED_ID, video))
        if video == LOGIN_ID or video in self.server.walled:
            return self.redirect(f"{self.base}/ServiceLogin?service=youtube&continue="
                                 f"{quote(f'https://www.youtube.com/watch?{query}', safe='')}")
        if video == LAYOUT_ID:
            return self.send_html(200, NEW_LAYOUT)
        if _video(self.base, video) is None and video not in STATUSES:
            video = MISSING_ID  # YouTube answers 200 with "Video unavailable" for any id
        return self.send_html(200, watch_page(self.base, video, self.server.edits))

    def _channel(self, path: list[str]) -> None:
        owner, tab = (path[0], path[1:]) if path[0].startswith("@") else (
            "/".join(path[:2]), path[2:])
        tab_name = tab[0] if tab else "featured"
        if owner == f"@{TERMINATED_CHANNEL}":
            return self.send_html(200, terminated_page())
        if owner == f"@{FEED_DOWN_CHANNEL}":
            return self.send_html(200, channel_page("videos", FEED_DOWN_CHANNEL, FEED_DOWN_ID))
        if owner not in (f"@{HANDLE}", f"channel/{CHANNEL_ID}") or len(tab) > 1:
            return self.send_html(404, YOUTUBE_404)
        if tab_name in ("videos", "shorts"):
            return self.send_html(200, channel_page(tab_name))
        return self.send_html(200, channel_page("home"))  # featured, and tabs it lacks

    def do_POST(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        if parts.path != "/youtubei/v1/browse":
            return self.send_html(404, YOUTUBE_404)
        try:
            request = json.loads(self.body())
        except ValueError:
            request = {}
        client = (request.get("context") or {}).get("client") or {}
        token = request.get("continuation")
        if client.get("clientName") != "WEB" or not client.get("clientVersion") or \
                token not in TOKENS:
            return self.send_json(400, {"error": {
                "code": 400, "message": "Request contains an invalid argument.",
                "errors": [{"message": "Request contains an invalid argument.",
                            "domain": "global", "reason": "badRequest"}],
                "status": "INVALID_ARGUMENT"}})
        items = grid_page(TOKENS.index(token) + 1)
        return self.send_json(200, {
            "responseContext": {"visitorData": "CgtGaXh0dXJlVmlzaXQ%3D"},
            "trackingParams": "CAAQhGciEwj4sbQ",
            "onResponseReceivedActions": [{
                "clickTrackingParams": "CAAQhGciEwj4sbQ",
                "appendContinuationItemsAction": {
                    "continuationItems": items,
                    "targetId": f"browse-feed{CHANNEL_ID}videos"}}]})


class YouTubeFixture(PlatformFixture):
    """The YouTube stand-in. Point ``platforms.youtube.base_url`` at ``.base``.

    A test changes the channel as it goes: ``hidden`` uploads are not published yet (not in
    the feed; ``publish`` shows them), ``edits`` give a video another title or text, and a
    ``deleted`` video is shown removed by its uploader, a ``limited`` one answers 429 and a
    ``walled`` one sends to the sign-in page (none of these three is in the feed)."""

    handler = _Handler

    def __init__(self) -> None:
        super().__init__()
        self.server.hidden: set[str] = set()
        self.server.edits: dict[str, dict[str, str]] = {}
        self.server.deleted: set[str] = set()
        self.server.limited: set[str] = set()
        self.server.walled: set[str] = set()

    def publish(self, *videos: str) -> None:
        """Hidden uploads appear."""
        self.server.hidden.difference_update(videos)

    def post_url(self, video: str = ARABIC_ID) -> str:
        """The watch URL, on the stand-in, of ``video`` (by default the Arabic one)."""
        return f"{self.base}/watch?v={video}"

    def channel_url(self) -> str:
        """The channel's @handle URL on the stand-in."""
        return f"{self.base}/@{HANDLE}"
