"""A Facebook stand-in: public post and page HTML as Facebook serves it to a logged-out browser.

Each page carries the Open Graph tags in its head and the page data in several
``<script type="application/json" data-content-len="N" data-sjs>`` blobs: ``ScheduledServerJS``
payloads whose ``RelayPrefetchedStreamCache`` entries hold the Relay query results, with the
story split into fragments (content, context layout with the timestamp, feedback with the
counts) that share one Relay id, nested among unrelated objects as on the real site.

Served on the stand-in's base (``fixture.base``), shaped like www.facebook.com:

- ``/<PAGE>/posts/<id or pfbid>``, ``/permalink.php?story_fbid=<id>&id=<PAGE_ID>``: post pages;
  ``/story.php?story_fbid=<id>&id=<PAGE_ID>`` redirects (301) to the pfbid post URL.
- ``/<PAGE>/videos/<VIDEO_ID>/``, ``/watch/?v=<VIDEO_ID>``, ``/reel/<VIDEO_ID>/``: the Arabic
  post's page; ``/photo/?fbid=<id>``, ``/photo.php?fbid=<id>``, ``/<PAGE>/photos/a.<n>/<id>/``:
  the photo post's page.
- ``/share/p|v|r/<code>/`` and ``/fb.watch/<code>/`` (fb.watch, which the module reads under
  ``<base>/fb.watch/`` when its base is overridden): 302 to the post, video or reel;
  ``SHARE_IN_PLACE_CODE`` answers with the post's page itself, without a redirect.
- ``/<PAGE>``, ``/profile.php?id=<PAGE_ID>``: the page's logged-out timeline (``LISTED``);
  ``/<LOGIN_PAGE>`` redirects to the login page, ``/<QUIET_PAGE>`` holds no posts.
- Statuses: a post behind a login redirect (``LOGIN_POST_ID``), a group post answered with a
  login form (``GROUP_LOGIN_URL_PATH``), "This content isn't available right now"
  (``GONE_POST_ID``), "This page isn't available" (``/<REMOVED_PAGE>``, HTTP 404), "You're
  Temporarily Blocked" (``BLOCKED_POST_ID``), a checkpoint redirect (``CHECKPOINT_POST_ID``),
  HTTP 429 (``RATE_LIMITED_POST_ID``), a post page with Open Graph tags only
  (``OG_ONLY_POST_ID``).
- ``/media/fb-*.mp4`` (``video_clip()`` bytes, video/mp4) and ``/media/fb-*.jpg`` (image/jpeg).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from tests.fixture_site.server import video_clip
from tests.platform_fixtures.server import PlatformFixture, PlatformHandler

WWW = "https://www.facebook.com"
PAGE = "AleppoWitnessNetwork"
PAGE_ID = "100064521934876"
PAGE_NAME = "شبكة شهود حلب | Aleppo Witness Network"

ARABIC_POST_ID = "1029384756647382"
VIDEO_ID = "1122334455667788"
VIDEO_PATH = f"/media/fb-{VIDEO_ID}-hd.mp4"       # the HD file: what the module lists
VIDEO_SD_PATH = f"/media/fb-{VIDEO_ID}.mp4"       # playable_url (SD), served as well
ARABIC_TEXT = ("قصف مدفعي على حي الشعار صباح اليوم.\n"
               "فرق الإنقاذ تعمل على انتشال العالقين من تحت الأنقاض.\n\n"
               "#حلب #الدفاع_المدني\n"
               "التفاصيل: https://example.org/aleppo-report")
ARABIC_PUBLISHED = "2026-11-20T06:15:42Z"
ARABIC_COUNTS = {"likes": 1543, "replies": 212, "shares": 87, "views": 48210}
ARABIC_PLACE = "Aleppo, Syria"

PHOTO_POST_ID = "1029384756647390"
PHOTO_IDS = ("2233445566778801", "2233445566778802")
PHOTO_TEXT = "Damage at the eastern market after last night's strikes.\nPhotos: our volunteers."
PHOTO_ALTS = ("May be an image of rubble and street",
              "May be an image of 3 people and building")

SHARED_POST_ID = "1029384756647401"
SHARED_TEXT = "نقلاً عن المركز الإعلامي في حلب:"
ORIGINAL_PAGE = "AleppoMediaCenterAMC"
ORIGINAL_PAGE_ID = "100070000000001"
ORIGINAL_POST_ID = "8877665544332211"
ORIGINAL_PHOTO_ID = "3344556677889900"

TEXT_POST_IDS = ("1029384756647250", "1029384756647177", "1029384756646001")  # last: pinned
ROUNDED_POST_ID = TEXT_POST_IDS[0]  # its reactions only as Facebook displays them: "1.2K"
OG_ONLY_POST_ID = "1029384756647415"
GONE_POST_ID = "1029384756647420"
LOGIN_POST_ID = "1029384756647425"
BLOCKED_POST_ID = "1029384756647430"
CHECKPOINT_POST_ID = "1029384756647433"
RATE_LIMITED_POST_ID = "1029384756647435"
REMOVED_PAGE = "OldWitnessPage"     # "This page isn't available" (HTTP 404)
LOGIN_PAGE = "ClosedWitnessProfile"  # redirects to the login page
QUIET_PAGE = "QuietWitnessPage"      # a page whose logged-out view holds no posts
GROUP_LOGIN_URL_PATH = "/groups/alepponeighbours/posts/7766554433221100/"

SHARE_POST_CODE = "1AbCdEfGhJ"     # /share/p/ -> the photo post (pfbid URL)
SHARE_VIDEO_CODE = "2KlMnOpQrS"    # /share/v/ -> /<PAGE>/videos/<VIDEO_ID>/
SHARE_REEL_CODE = "3TuVwXyZaB"     # /share/r/ -> /reel/<VIDEO_ID>/
SHARE_LOGIN_CODE = "4ExpiredCd"    # /share/p/ -> the login page
SHARE_IN_PLACE_CODE = "5InPlaceXy"  # /share/p/ answered in place (no redirect): the photo post
FB_WATCH_CODE = "xQ7vP2mN9k"       # fb.watch/<code> -> /watch/?v=<VIDEO_ID>

OTHER_PAGE_POST_ID = "5550001112223334"  # an unrelated video post on the Arabic post's page

# The page's posts: (post_id, epoch creation_time). The page shows the pinned post first.
TIMELINE = (
    (TEXT_POST_IDS[2], 1790845200),   # pinned, 2026-10-01
    (SHARED_POST_ID, 1795168951),     # 2026-11-20T10:02:31Z
    (ARABIC_POST_ID, 1795155342),     # 2026-11-20T06:15:42Z
    (PHOTO_POST_ID, 1795110005),      # 2026-11-19T17:40:05Z
    (TEXT_POST_IDS[0], 1795003209),   # 2026-11-18T12:00:09Z
    (TEXT_POST_IDS[1], 1794904200),   # 2026-11-17T08:30:00Z
)
LISTED = (SHARED_POST_ID, ARABIC_POST_ID, PHOTO_POST_ID, TEXT_POST_IDS[0], TEXT_POST_IDS[1],
          TEXT_POST_IDS[2])  # newest first
CREATED = dict(TIMELINE)


def pfbid(post_id: str) -> str:
    """The stand-in's pfbid for a post: stable, alphanumeric, shaped like Facebook's."""
    digest = hashlib.sha256(post_id.encode()).hexdigest()
    return "pfbid0" + digest[:44].replace("0", "Z").replace("1", "q") + "l"


def post_public_url(post_id: str, page: str = PAGE) -> str:
    """The post's public URL as Facebook's page data gives it (the pfbid form)."""
    return f"{WWW}/{page}/posts/{pfbid(post_id)}"


def _relay_id(owner: str, post_id: str) -> str:
    return base64.b64encode(f"S:_I{owner}:{post_id}".encode()).decode()


def _feedback_id(post_id: str) -> str:
    return base64.b64encode(f"feedback:{post_id}".encode()).decode()


def _actor(page: str, page_id: str, name: str, base: str) -> dict[str, Any]:
    return {"__typename": "Page", "__isActor": "Page", "id": page_id, "name": name,
            "url": f"{WWW}/{page}", "profile_url": f"{WWW}/{page}",
            "profile_picture": {"uri": f"{base}/media/fb-avatar-{page_id}.jpg", "width": 40,
                                "height": 40},
            "is_verified": False, "__isEntity": "Page"}


def _photo(base: str, photo_id: str, alt: str) -> dict[str, Any]:
    return {"__typename": "Photo", "__isMedia": "Photo", "id": photo_id,
            "accessibility_caption": alt,
            "photo_image": {"uri": f"{base}/media/fb-{photo_id}.jpg", "height": 960,
                            "width": 1280},
            "viewer_image": {"height": 960, "width": 1280},
            "url": f"{WWW}/photo/?fbid={photo_id}&set=a.{PAGE_ID}",
            "is_playable": False, "owner": {"__typename": "Page", "id": PAGE_ID}}


def _video(base: str) -> dict[str, Any]:
    return {"__typename": "Video", "__isMedia": "Video", "id": VIDEO_ID, "videoId": VIDEO_ID,
            "is_playable": True, "playable_duration_in_ms": 2000,
            "playable_url": f"{base}{VIDEO_SD_PATH}",
            "playable_url_quality_hd": f"{base}{VIDEO_PATH}",
            "browser_native_sd_url": f"{base}{VIDEO_SD_PATH}",
            "browser_native_hd_url": f"{base}{VIDEO_PATH}",
            "video_view_count": ARABIC_COUNTS["views"],
            "preferred_thumbnail": {"image": {"uri": f"{base}/media/fb-{VIDEO_ID}-thumb.jpg"}},
            "permalink_url": f"{WWW}/{PAGE}/videos/{VIDEO_ID}/",
            "creation_time": 1795154110,  # the upload, before the post: not the post's time
            "owner": {"__typename": "Page", "id": PAGE_ID, "name": PAGE_NAME}}


def _attachment(media: dict[str, Any]) -> dict[str, Any]:
    style = ("StoryAttachmentVideoStyleRenderer" if media["__typename"] == "Video"
             else "StoryAttachmentPhotoStyleRenderer")
    return {"styles": {"__typename": style, "is_prod_eligible": True,
                       "attachment": {"media": media, "url": media.get("url"),
                                      "style_list": ["photo", "fallback"]}},
            "style_list": ["photo", "fallback"], "target": {"__typename": media["__typename"],
                                                            "id": media["id"]}}


def _content(base: str, post_id: str) -> tuple[str, list[dict[str, Any]], dict[str, Any] | None,
                                              dict[str, Any] | None]:
    """The text, attachments, attached (shared) story and place of one of the page's posts."""
    if post_id == ARABIC_POST_ID:
        return (ARABIC_TEXT, [_attachment(_video(base))], None,
                {"__typename": "Place", "id": "108099245876523", "name": ARABIC_PLACE})
    if post_id == PHOTO_POST_ID:
        nodes = [{"media": _photo(base, pid, alt)} for pid, alt in zip(PHOTO_IDS, PHOTO_ALTS,
                                                                        strict=True)]
        return (PHOTO_TEXT, [{"styles": {"__typename": "StoryAttachmentAlbumStyleRenderer",
                                         "attachment": {"all_subattachments": {
                                             "count": 2, "nodes": nodes}}}}], None, None)
    if post_id == SHARED_POST_ID:
        original = _relay_id(ORIGINAL_PAGE_ID, ORIGINAL_POST_ID)
        attached = {
            "__typename": "Story", "id": original, "post_id": ORIGINAL_POST_ID,
            "actors": [_actor(ORIGINAL_PAGE, ORIGINAL_PAGE_ID, "المركز الإعلامي في حلب", base)],
            "wwwURL": post_public_url(ORIGINAL_POST_ID, ORIGINAL_PAGE),
            "message": {"__typename": "TextWithEntities",
                        "text": "حريق في مستودع للأدوية بعد القصف.", "ranges": []},
            "attachments": [_attachment(_photo(base, ORIGINAL_PHOTO_ID,
                                               "May be an image of fire and smoke"))],
            "comet_sections": {"context_layout": {"story": {
                "id": original, "comet_sections": {"metadata": [{"story": {
                    "id": original, "creation_time": 1795147800}}]}}}},
        }
        return SHARED_TEXT, [], attached, None
    number = TEXT_POST_IDS.index(post_id) + 1
    return f"Daily situation report no. {number}.\nNo new casualties reported.", [], None, None


def story_node(base: str, post_id: str, created: int) -> dict[str, Any]:
    """One post as a Comet ``Story`` node: its fragments share the Relay id."""
    sid = _relay_id(PAGE_ID, post_id)
    url = post_public_url(post_id)
    actor = _actor(PAGE, PAGE_ID, PAGE_NAME, base)
    text, attachments, attached, place = _content(base, post_id)
    reactions = 1543 if post_id == ARABIC_POST_ID else 40 + int(post_id[-2:])
    comments = 212 if post_id == ARABIC_POST_ID else 3
    shares = 87 if post_id == ARABIC_POST_ID else 1
    feedback = {
        "__typename": "Feedback", "id": _feedback_id(post_id),
        "subscription_target_id": post_id, "can_viewer_comment": False,
        "reaction_count": {"count": reactions},
        "i18n_reaction_count": f"{reactions / 1000:.1f}K" if reactions >= 1000 else str(
            reactions),
        "top_reactions": {"count": 2, "edges": [
            {"reaction_count": reactions - 100 if reactions > 100 else reactions,
             "node": {"id": "1635855486666999", "localized_name": "Like"}},
            {"reaction_count": 100 if reactions > 100 else 0,
             "node": {"id": "908563459236466", "localized_name": "Sad"}}]},
        "share_count": {"count": shares}, "i18n_share_count": str(shares),
        "comment_rendering_instance": {"comments": {"total_count": comments}},
    }
    if post_id == ROUNDED_POST_ID:  # some feedback objects carry only the displayed count
        del feedback["reaction_count"]
        feedback["i18n_reaction_count"] = "1.2K"
    content_story = {
        "__typename": "Story", "__isFeedUnit": "Story", "id": sid, "post_id": post_id,
        "actors": [actor], "wwwURL": url, "url": url, "attachments": attachments,
        "attached_story": attached, "place": place,
        "comet_sections": {
            "message": {"__typename": "CometFeedStoryDefaultMessageRenderingStrategy",
                        "story": {"id": sid, "is_text_only_story": not attachments,
                                  "message": {"__typename": "TextWithEntities", "text": text,
                                              "delight_ranges": [], "ranges": []}}},
            "message_container": None, "attached_story_layout": None},
        "feedback": {"id": _feedback_id(post_id)},
        "encrypted_tracking": "AZWv" + hashlib.md5(post_id.encode()).hexdigest(),  # noqa: S324
    }
    return {
        "__typename": "Story", "id": sid, "cache_id": "-" + post_id[-9:],
        "comet_sections": {
            "content": {"__typename": "CometFeedStoryDefaultContentStrategy",
                        "story": content_story},
            "context_layout": {"__typename": "CometFeedStoryContextLayoutStrategy", "story": {
                "id": sid, "comet_sections": {
                    "actor_photo": {"story": {"actors": [actor]}},
                    "metadata": [
                        {"__typename": "CometFeedStoryMinimizedTimestampStrategy",
                         "story": {"id": sid, "creation_time": created, "url": url,
                                   "ghl_label": None}},
                        {"__typename": "CometFeedStoryAudienceStrategy",
                         "story": {"id": sid, "privacy_scope": {
                             "description": "Public", "icon_image": {"name": "globe"}}}}],
                    "title": {"story": {"id": sid, "actors": [actor], "title": None}}}}},
            "feedback": {"story": {"id": sid, "story_ufi_container": {"story": {
                "feedback_context": {"feedback_target_with_context": {
                    "comet_ufi_summary_and_actions_renderer": {
                        "__typename": "CometUFISummaryAndActionsRenderer",
                        "feedback": feedback}}}}}}},
        },
    }


def _other_page_story(base: str) -> dict[str, Any]:
    """An unrelated video post ("More from Watch"), so the right story must be chosen."""
    sid = _relay_id("100080000000002", OTHER_PAGE_POST_ID)
    video = {**_video(base), "id": "9988776655443322", "videoId": "9988776655443322",
             "playable_url": f"{base}/media/fb-other.mp4", "playable_url_quality_hd": None,
             "browser_native_hd_url": None}
    return {"__typename": "Story", "id": sid, "post_id": OTHER_PAGE_POST_ID,
            "actors": [_actor("SomeOtherPage", "100080000000002", "Some Other Page", base)],
            "wwwURL": post_public_url(OTHER_PAGE_POST_ID, "SomeOtherPage"),
            "message": {"text": "Not the post you asked for."},
            "attachments": [_attachment(video)],
            "comet_sections": {"context_layout": {"story": {"id": sid, "comet_sections": {
                "metadata": [{"story": {"id": sid, "creation_time": 1794858300}}]}}}}}


def _sjs(payload: dict[str, Any]) -> str:
    # Facebook's JSON escapes non-ASCII and "/" in these blobs.
    text = json.dumps(payload, separators=(",", ":")).replace("/", "\\/")
    return (f'<script type="application/json" data-content-len="{len(text)}" data-sjs>'
            f"{text}</script>")


def _relay(query: str, data: dict[str, Any]) -> str:
    key = f"adp_{query}RelayPreloader_{hashlib.md5(query.encode()).hexdigest()[:21]}"  # noqa: S324
    return _sjs({"require": [["ScheduledServerJS", "handle", None, [{"__bbox": {"require": [
        ["RelayPrefetchedStreamCache", "next", [], [key, {"__bbox": {
            "complete": True, "result": {"data": data, "extensions": {"is_final": True}},
            "sequence_number": 0}}]]]}}]]]})


def _shell_blobs() -> str:
    """The blobs every logged-out page carries: no post in them."""
    return "\n".join([
        _sjs({"require": [["ScheduledServerJS", "handle", None, [{"__bbox": {"define": [
            ["CurrentUserInitialData", [], {"ACCOUNT_ID": "0", "USER_ID": "0", "NAME": "",
                                            "SHORT_NAME": None, "IS_LOGGED_OUT": True}, 270],
            ["LSD", [], {"token": "AVqbxe3J_YA"}, 323],
            ["SiteData", [], {"server_revision": 1018476223, "client_revision": 1018476223,
                              "push_phase": "C3", "pkg_cohort": "BP:DEFAULT"}, 317]]}}]]]}),
        _relay("CometLoggedOutLoginDialogQuery", {"login_data": {
            "lsd": {"name": "lsd", "value": "AVqbxe3J_YA"}, "next": None}}),
    ])


HEADER = ('<div role="banner"><form id="login_form" method="post" '
          'action="/login/device-based/regular/login/?login_attempt=1">'
          '<input type="text" name="email" placeholder="Email or phone">'
          '<input type="password" name="pass" placeholder="Password">'
          '<button name="login" type="submit">Log In</button></form></div>')


def _page(title: str, body: str, blobs: str = "", og: dict[str, str] | None = None) -> str:
    meta = "".join(f'<meta property="{html.escape(k)}" content="{html.escape(v)}" />'
                   for k, v in (og or {}).items())
    canonical = (og or {}).get("og:url")
    link = f'<link rel="canonical" href="{html.escape(canonical)}" />' if canonical else ""
    return (f'<!DOCTYPE html><html id="facebook" class="_9dls" lang="en" dir="ltr"><head>'
            f'<meta charset="utf-8" /><meta name="referrer" content="default" '
            f'id="meta_referrer" /><title>{html.escape(title)}</title>{meta}{link}'
            '</head><body class="_6s5d _71pn system-fonts--body"><div id="mount_0_0_Xy">'
            f'{body}</div>\n{blobs}\n{_shell_blobs()}</body></html>')


def _og_description(text: str) -> str:
    # Facebook cuts the text for the meta tags.
    flat = " ".join(text.split())
    return flat if len(flat) <= 60 else flat[:60] + "..."


def post_page(base: str, post_id: str, *, with_other: bool = False) -> str:
    """A post's page: OG tags, and the post's story among other page data."""
    created = CREATED[post_id]
    node = story_node(base, post_id, created)
    text = _content(base, post_id)[0]
    og = {"og:title": PAGE_NAME, "og:description": _og_description(text),
          "og:url": post_public_url(post_id), "og:type": "article",
          "og:image": f"{base}/media/fb-og-{post_id}.jpg"}
    if post_id == ARABIC_POST_ID:
        og.update({"og:type": "video.other", "og:video": f"{base}{VIDEO_SD_PATH}",
                   "og:video:secure_url": f"{base}{VIDEO_SD_PATH}", "og:video:type": "video/mp4"})
    blobs = [_relay("CometSinglePostContentQuery", {"node": node, "is_logged_out": True})]
    if with_other:
        blobs.insert(0, _relay("CometVideoHomeNextUpQuery", {"viewer": {"video_home_feed": {
            "edges": [{"node": {"__typename": "VideoHomeFeedUnit",
                                "story": _other_page_story(base)}}]}}}))
    body = (HEADER + f'<div role="main"><div role="article" aria-posinset="1">'
            f'<h2><a href="{WWW}/{PAGE}">{html.escape(PAGE_NAME)}</a></h2></div></div>')
    return _page(f"{PAGE_NAME} | Facebook", body, "\n".join(blobs), og)


def og_only_page(base: str) -> str:
    """A post page whose data blobs do not hold the post: only the OG tags describe it."""
    og = {"og:title": PAGE_NAME,
          "og:description": "Night shelling reported in the western districts, residents "
                            "moving towards...",
          "og:url": post_public_url(OG_ONLY_POST_ID), "og:type": "video.other",
          "og:image": f"{base}/media/fb-og-{OG_ONLY_POST_ID}.jpg",
          "og:video": f"{base}/media/fb-og-{OG_ONLY_POST_ID}.mp4",
          "og:video:secure_url": f"{base}/media/fb-og-{OG_ONLY_POST_ID}.mp4"}
    return _page(f"{PAGE_NAME} | Facebook", HEADER + '<div role="main"></div>', "", og)


def timeline_page(base: str) -> str:
    """The page's logged-out timeline: the first screenful of posts, pinned first."""
    edges = [{"node": story_node(base, post_id, created), "cursor": f"AQHRc{post_id[-6:]}"}
             for post_id, created in TIMELINE]
    header = _relay("ProfileCometHeaderQuery", {"user": {
        "__typename": "User", "id": PAGE_ID, "name": PAGE_NAME, "is_additional_profile_plus": True,
        "profile_header_renderer": {"user": {"id": PAGE_ID, "name": PAGE_NAME,
                                             "profile_social_context": {"content": [
                                                 {"text": {"text": "48K likes"}}]}}}}})
    related = _relay("PagesCometRelatedPagesQuery", {"page": {"related_pages": {"nodes": [
        {"__typename": "Page", "id": "100080000000002", "name": "Some Other Page",
         "url": f"{WWW}/SomeOtherPage"}]}}})
    timeline = _relay("ProfileCometTimelineFeedQuery", {"node": {
        "__typename": "User", "id": PAGE_ID, "timeline_list_feed_units": {
            "edges": edges, "page_info": {"end_cursor": "AQHRxk3Vb9Q2", "has_next_page": True}}}})
    og = {"og:title": PAGE_NAME, "og:url": f"{WWW}/{PAGE}", "og:type": "profile",
          "og:description": "شبكة شهود حلب. 48K likes · 2,103 talking about this.",
          "og:image": f"{base}/media/fb-avatar-{PAGE_ID}.jpg"}
    body = HEADER + f'<div role="main"><h1>{html.escape(PAGE_NAME)}</h1></div>'
    return _page(f"{PAGE_NAME} | Facebook", body, "\n".join([header, related, timeline]), og)


def quiet_page() -> str:
    """A page that exists, but whose logged-out view carries no posts in its data."""
    header = _relay("ProfileCometHeaderQuery", {"user": {
        "__typename": "User", "id": "100090000000003", "name": "Quiet Witness Page"}})
    og = {"og:title": "Quiet Witness Page", "og:url": f"{WWW}/{QUIET_PAGE}",
          "og:type": "profile"}
    return _page("Quiet Witness Page | Facebook", HEADER + '<div role="main"></div>', header, og)


CONTENT_GONE_BODY = (HEADER + '<div role="main"><div><span dir="auto">This content isn\'t '
                     'available right now</span></div><div><span dir="auto">When this happens, '
                     "it's usually because the owner only shared it with a small group of people, "
                     "changed who can see it or it's been deleted.</span></div>"
                     '<a href="/">Go to News Feed</a><a href="#">Go back</a>'
                     '<a href="/help/">Visit Help Center</a></div>')
PAGE_GONE_BODY = (HEADER + '<div role="main"><h2>This page isn’t available</h2>'
                  "<p>The link you followed may be broken, or the page may have been removed."
                  '</p><a href="/">Go to News Feed</a><a href="#">Go back</a>'
                  '<a href="/help/">Visit Help Center</a></div>')
BLOCKED_BODY = ('<div role="main"><h2>You’re Temporarily Blocked</h2><p>It looks like you were '
                "misusing this feature by going too fast. You’ve been temporarily blocked from "
                'using it.</p><a href="/help/contact/571927962827151">Let us know</a></div>')
LOGIN_BODY = ('<div role="main"><h2>You must log in to continue.</h2>'
              '<form id="login_form" method="post" action="/login/device-based/regular/login/">'
              '<input type="text" name="email" id="email"><input type="password" name="pass" '
              'id="pass"><button id="loginbutton" name="login">Log In</button></form></div>')
LOGIN_BLOB = _relay("useCometLogInFormQuery", {"queryName": "useCometLogInFormQuery",
                                               "login_data": {"lsd": {"name": "lsd",
                                                                      "value": "AVqbxe3J_YA"}}})


class _Handler(PlatformHandler):
    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        parts = urlsplit(self.path)
        path = [p for p in parts.path.split("/") if p]
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        base = self.base
        if path[:1] == ["media"] and len(path) == 2:
            if path[1].endswith(".mp4"):
                return self.send(200, video_clip(), "video/mp4")
            if path[1].endswith(".jpg"):
                return self.send(200, b"\xff\xd8\xff\xe0\x00\x10JFIFfixture-fb-jpeg", "image/jpeg")
        if path[:1] == ["share"] and len(path) == 3:
            return self._share(path[1], path[2])
        if path[:1] == ["fb.watch"] and path[1:] == [FB_WATCH_CODE]:
            return self.redirect(f"{base}/watch/?v={VIDEO_ID}")
        if path[:1] in (["login"], ["login.php"]):
            return self.send_html(200, _page("Log in to Facebook", LOGIN_BODY, LOGIN_BLOB,
                                             {"og:url": f"{WWW}/login/",
                                              "og:site_name": "Facebook"}))
        if path[:1] == ["checkpoint"]:
            return self.send_html(200, _page("Facebook", BLOCKED_BODY))
        if parts.path.rstrip("/") == GROUP_LOGIN_URL_PATH.rstrip("/"):
            return self.send_html(200, _page("Log in or sign up to view", LOGIN_BODY, LOGIN_BLOB))
        if path[:1] == [REMOVED_PAGE]:
            return self.send_html(404, _page("Facebook", PAGE_GONE_BODY))
        if path[:1] == [LOGIN_PAGE]:
            return self.redirect(f"{base}/login/?next=" + quote(f"{WWW}/{LOGIN_PAGE}", safe=""))
        if path == [QUIET_PAGE]:
            return self.send_html(200, quiet_page())
        if path in ([PAGE], ["profile.php"]) and (path == [PAGE] or query.get("id") == PAGE_ID):
            return self.send_html(200, timeline_page(base))
        post_id = self._post_id(path, query)
        if post_id is None:
            return self.not_found()
        return self._post(post_id, path)

    def _share(self, kind: str, code: str) -> None:
        base = self.base
        targets = {("p", SHARE_POST_CODE): f"{base}/{PAGE}/posts/{pfbid(PHOTO_POST_ID)}/?rdid=Gd8x",
                   ("v", SHARE_VIDEO_CODE): f"{base}/{PAGE}/videos/{VIDEO_ID}/",
                   ("r", SHARE_REEL_CODE): f"{base}/reel/{VIDEO_ID}/",
                   ("p", SHARE_LOGIN_CODE): f"{base}/login/?next="
                                            + quote(f"{WWW}/share/p/{SHARE_LOGIN_CODE}/", safe="")}
        if (kind, code) == ("p", SHARE_IN_PLACE_CODE):
            return self.send_html(200, post_page(base, PHOTO_POST_ID))
        target = targets.get((kind, code))
        return self.redirect(target) if target else self.not_found()

    def _post_id(self, path: list[str], query: dict[str, str]) -> str | None:
        """Which post a post-shaped path names (by id, pfbid, video or photo id)."""
        known = {*CREATED, OG_ONLY_POST_ID, GONE_POST_ID, LOGIN_POST_ID, BLOCKED_POST_ID,
                 CHECKPOINT_POST_ID, RATE_LIMITED_POST_ID}
        by_pfbid = {pfbid(p): p for p in CREATED}
        found: str | None = None
        if len(path) == 3 and path[0] == PAGE and path[1] == "posts":
            found = by_pfbid.get(path[2], path[2])
        elif path in (["permalink.php"], ["story.php"]) and query.get("id") == PAGE_ID:
            found = query.get("story_fbid")
        elif (path[:2] == [PAGE, "videos"] and path[-1] == VIDEO_ID) or path == [
                "reel", VIDEO_ID] or (path == ["watch"] and query.get("v") == VIDEO_ID):
            found = ARABIC_POST_ID
        elif ((path in (["photo"], ["photo.php"]) and query.get("fbid") in PHOTO_IDS)
              or (path[:2] == [PAGE, "photos"] and path[-1] in PHOTO_IDS)):
            found = PHOTO_POST_ID
        return found if found in known else None

    def _post(self, post_id: str, path: list[str]) -> None:
        base = self.base
        if post_id == RATE_LIMITED_POST_ID:
            return self.send_html(429, _page("Facebook", "<p>Sorry, something went wrong.</p>"))
        if post_id == LOGIN_POST_ID:
            next_url = quote(f"{WWW}/{PAGE}/posts/{post_id}", safe="")
            return self.redirect(f"{base}/login/?next={next_url}")
        if post_id == CHECKPOINT_POST_ID:
            return self.redirect(f"{base}/checkpoint/block/?next=%2F{PAGE}%2Fposts%2F{post_id}")
        if post_id == BLOCKED_POST_ID:
            return self.send_html(200, _page("You’re Temporarily Blocked", BLOCKED_BODY))
        if post_id == GONE_POST_ID:
            return self.send_html(200, _page("Facebook", CONTENT_GONE_BODY))
        if post_id == OG_ONLY_POST_ID:
            return self.send_html(200, og_only_page(base))
        if path == ["story.php"]:  # Facebook moves old story links to the pfbid URL
            return self.redirect(f"{base}/{PAGE}/posts/{pfbid(post_id)}", 301)
        return self.send_html(200, post_page(base, post_id, with_other=post_id == ARABIC_POST_ID))


class FacebookFixture(PlatformFixture):
    """The Facebook stand-in; see the module docstring for what it serves."""

    handler = _Handler

    def post_url(self, post_id: str = ARABIC_POST_ID) -> str:
        """A post's URL on the stand-in, shaped like ``facebook.com/<page>/posts/<id>``."""
        return f"{self.base}/{PAGE}/posts/{post_id}"

    def channel_url(self) -> str:
        """The page's URL on the stand-in (``facebook.com/<page>``)."""
        return f"{self.base}/{PAGE}"

    def share_url(self, kind: str = "v", code: str = SHARE_VIDEO_CODE) -> str:
        """A share link (``facebook.com/share/<kind>/<code>/``) on the stand-in."""
        return f"{self.base}/share/{kind}/{code}/"

    def video_url(self) -> str:
        """The Arabic post's video file (HD) on the stand-in."""
        return f"{self.base}{VIDEO_PATH}"
