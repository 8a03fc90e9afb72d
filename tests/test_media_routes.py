"""The rule for media reachable two ways (crawlers/media_routes.py), on MediaOutcome values
shaped as crawlers.media builds them."""

from __future__ import annotations

from crawlers.media import MediaOutcome
from crawlers.media_routes import page_media_evidence, plan_routes, settle

PAGE = "https://www.tiktok.com/@witness/video/7710006002885546695"
PLAY = "https://v16-webapp.tiktok.com/video/tos/play.mp4"


def _post(*media: dict) -> dict:
    return {"media": list(media)}


def _item(url: str, entries: int = 0) -> dict:
    item = {"source_url": url, "files": [{"path": "media/000/x.mp4", "kind": "video"}]}
    if entries:
        item["entries"] = [{"id": str(n)} for n in range(entries)]
    return item


def test_routes_page_first_once_each_on_the_configured_base():
    routes = plan_routes(
        "http://127.0.0.1:9/tg/107", page_ok=True, channel=False,
        loaded=["http://127.0.0.1:9/clip.mp4"],
        post=_post({"url": "https://t.me/tg/107", "type": "video"},
                   {"url": "https://t.me/img.jpg", "type": "image"}),
        capture_url=lambda u: u.replace("https://t.me", "http://127.0.0.1:9"))
    assert routes.page == ["http://127.0.0.1:9/tg/107", "http://127.0.0.1:9/clip.mp4"]
    assert routes.direct == ["http://127.0.0.1:9/tg/107"]  # images are not handed to yt-dlp
    assert routes.candidates == ["http://127.0.0.1:9/tg/107", "http://127.0.0.1:9/clip.mp4"]


def test_no_page_route_for_a_channel_or_a_failed_page():
    assert plan_routes(PAGE, page_ok=True, channel=True, loaded=[], post=None).page == []
    assert plan_routes(PAGE, page_ok=False, channel=False, loaded=[], post=None).page == []


def test_refused_direct_url_is_excused_when_the_page_route_got_the_video():
    # TikTok's play URL refuses a client without the page's cookies; yt-dlp got it from the page.
    routes = plan_routes(PAGE, page_ok=True, channel=False, loaded=[],
                         post=_post({"url": PLAY, "type": "video"}))
    refused = f"media of {PLAY} failed: HTTP Error 403: Forbidden"
    settled = settle(routes, MediaOutcome(items=[_item(PAGE)], reasons=[refused]))
    assert settled.reasons == []
    assert len(settled.excused) == 1 and settled.excused[0].startswith(refused)
    assert "page route got the post's video" in settled.excused[0]


def test_failed_page_route_is_excused_when_the_direct_url_got_every_video():
    # VK's logged-out video page refuses yt-dlp; the API's file URL worked.
    routes = plan_routes(PAGE, page_ok=True, channel=False, loaded=[],
                         post=_post({"url": PLAY, "type": "video"}))
    refused = f"media of {PAGE} failed: This video is only available for registered users"
    settled = settle(routes, MediaOutcome(items=[_item(PLAY)], reasons=[refused]))
    assert settled.reasons == [] and "came by the direct URL" in settled.excused[0]


def test_both_routes_failing_is_partial_with_both_reasons():
    routes = plan_routes(PAGE, page_ok=True, channel=False, loaded=[],
                         post=_post({"url": PLAY, "type": "video"}))
    both = [f"media of {PAGE} failed: refused", f"media of {PLAY} failed: HTTP Error 403"]
    settled = settle(routes, MediaOutcome(reasons=both))
    assert settled.reasons == both and settled.excused == []


def test_page_route_must_cover_every_listed_video_to_excuse():
    other = "https://cdn.example/second.mp4"
    routes = plan_routes(PAGE, page_ok=True, channel=False, loaded=[],
                         post=_post({"url": PLAY, "type": "video"},
                                    {"url": other, "type": "video"}))
    refused = f"media of {other} failed: HTTP Error 403"
    # The page gave one video, the post lists two: which one it is cannot be told.
    one = settle(routes, MediaOutcome(items=[_item(PAGE), _item(PLAY)], reasons=[refused]))
    assert one.reasons == [refused]
    two = settle(routes, MediaOutcome(items=[_item(PAGE, entries=2)], reasons=[refused]))
    assert two.reasons == [] and two.excused


def test_a_listed_video_no_route_got_is_said():
    # Telegram's "Media is too big": the post link is the only route; yt-dlp finds nothing,
    # which for an ordinary page is no failure and leaves no reason at all.
    post = "https://t.me/mchs_bryansk/4661"
    routes = plan_routes(post, page_ok=True, channel=False, loaded=[], post=_post(
        {"url": post, "type": "video", "note": "not in the web preview (Media is too big)"}))
    settled = settle(routes, MediaOutcome())
    assert len(settled.reasons) == 1
    assert post in settled.reasons[0] and "Media is too big" in settled.reasons[0]
    assert "was not downloaded" in settled.reasons[0]


def test_a_failure_of_the_one_url_both_routes_share_is_never_excused():
    watch = "https://www.youtube.com/watch?v=Qx7b2Kp9LmA"
    routes = plan_routes(watch, page_ok=True, channel=False, loaded=[],
                         post=_post({"url": watch, "type": "video"}))
    failed = f"media of {watch} failed: Sign in to confirm you're not a bot"
    assert settle(routes, MediaOutcome(reasons=[failed])).reasons == [failed]


def test_reasons_about_the_whole_capture_always_count():
    limit = "media: more than 10 items; the rest of the page's media was not downloaded"
    routes = plan_routes(PAGE, page_ok=True, channel=False, loaded=[], post=None)
    assert settle(routes, MediaOutcome(items=[_item(PAGE)], reasons=[limit])).reasons == [limit]


def test_a_page_without_a_post_keeps_todays_behaviour():
    routes = plan_routes(PAGE, page_ok=True, channel=False, loaded=[], post=None)
    assert settle(routes, MediaOutcome()).reasons == []  # no media is not a failure
    failed = f"media of {PAGE} failed: boom"
    assert settle(routes, MediaOutcome(reasons=[failed])).reasons == [failed]


def test_yt_dlp_reads_a_page_only_for_a_sign_of_media():
    hosts = ("youtube.com", "vimeo.com")
    plain = {"video_elements": 0, "audio_elements": 0,
             "embeds": ["https://ads.example.net/frame.html"]}

    def why(url: str = "https://example.org/a", loaded=(), page_media=plain, post=None):
        return page_media_evidence(url, loaded=loaded, page_media=page_media, post=post,
                                   hosts=hosts)

    assert why() == []  # a plain page: yt-dlp is not started
    assert why(page_media={}) == []  # nothing noted (not HTML)
    assert why(loaded=["https://example.org/v.mp4"]) == [
        "the page loaded 1 video/audio response(s)"]
    assert why(page_media={"video_elements": 2, "audio_elements": 1}) == [
        "the page has 2 <video> and 1 <audio> element(s)"]
    assert why(page_media={"embeds": ["https://www.youtube.com/embed/x"]}) == [
        "the page embeds a player from youtube.com"]
    assert why("https://m.youtube.com/watch?v=x") == [
        "youtube.com is a known media host (media.hosts)"]
    assert why("https://notyoutube.com/watch") == []  # a host, not a suffix of a name
    assert why(post={"media": [{"type": "video", "url": "u"}, {"type": "image"}]}) == [
        "the platform module listed 1 video/audio item(s)"]
