"""The platform registry: every public URL shape goes to its platform, a known platform's other
pages are generic pages, and only what is left may be a Mastodon instance."""

from __future__ import annotations

import pytest

from crawlers.platforms import MODULES, platform_for, platform_named
from isnad.config import PlatformsSettings


@pytest.mark.parametrize(("url", "platform", "kind"), [
    ("https://t.me/syriawitness/101", "telegram", "post"),
    ("https://t.me/s/syriawitness", "telegram", "channel"),
    ("https://www.youtube.com/watch?v=Qx7b2Kp9LmA", "youtube", "post"),
    ("https://youtu.be/Qx7b2Kp9LmA", "youtube", "post"),
    ("https://www.youtube.com/@syriawitness", "youtube", "channel"),
    ("https://x.com/halab_witness/status/2123691690687090689", "x", "post"),
    ("https://twitter.com/halab_witness", "x", "channel"),
    ("https://www.tiktok.com/@syria.witness/video/7300000000000000001", "tiktok", "post"),
    ("https://www.tiktok.com/@syria.witness", "tiktok", "channel"),
    ("https://www.facebook.com/AleppoWitnessNetwork/posts/pfbid02abcDEF", "facebook", "post"),
    ("https://www.facebook.com/AleppoWitnessNetwork", "facebook", "channel"),
    ("https://www.instagram.com/p/DBx1a2b3c4d/", "instagram", "post"),
    ("https://www.instagram.com/aleppo.witness/", "instagram", "channel"),
    ("https://bsky.app/profile/aleppo-witness.bsky.social/post/3kq2abcxyz22a", "bluesky", "post"),
    ("https://bsky.app/profile/aleppo-witness.bsky.social", "bluesky", "channel"),
    ("https://vk.com/wall-211987654_510", "vk", "post"),
    ("https://vk.com/aleppo.witness", "vk", "channel"),
    ("https://www.reddit.com/r/syriawitness/comments/1abcde2/title/", "reddit", "post"),
    ("https://www.reddit.com/r/syriawitness/", "reddit", "channel"),
    ("https://mastodon.social/@witness/113000000000000001", "mastodon", "post"),
    ("https://example.social/@witness", "mastodon", "channel"),
])
def test_each_url_goes_to_its_platform(url, platform, kind):
    found = platform_for(url)
    assert found is not None, url
    assert (found[0].name, found[1].kind) == (platform, kind)


@pytest.mark.parametrize("url", [
    "https://vk.ru/@some-article",            # VK's own host: not a Mastodon account
    "https://x.com/settings/profile",
    "https://www.facebook.com/login/",
    "https://www.youtube.com/feed/trending",
    "https://www.reddit.com/r/all/",
    "https://example.org/news/2026/11/report.html",
])
def test_other_pages_are_generic_pages(url):
    assert platform_for(url) is None


def test_a_disabled_platform_leaves_its_urls_to_the_generic_capture():
    assert platform_for("https://vk.com/wall-1_2", disabled={"vk"}) is None
    assert platform_for("https://vk.com/@article", disabled={"vk"}) is None


def test_every_module_is_registered_and_configurable():
    sections = PlatformsSettings()
    for name in MODULES:
        platform = platform_named(name)
        assert platform.name == name
        assert sections.get(name).enabled  # a settings section of its own
        assert platform.hosts or name == "mastodon"  # Mastodon: any host can be an instance


def test_base_override_maps_public_urls_onto_the_base():
    platform = platform_named("youtube", "http://127.0.0.1:8123")
    assert platform.match("http://127.0.0.1:8123/watch?v=Qx7b2Kp9LmA").kind == "post"
    assert (platform.capture_url("https://www.youtube.com/watch?v=Qx7b2Kp9LmA")
            == "http://127.0.0.1:8123/watch?v=Qx7b2Kp9LmA")
    assert platform_named("youtube").capture_url("https://www.youtube.com/watch?v=x") == (
        "https://www.youtube.com/watch?v=x")
