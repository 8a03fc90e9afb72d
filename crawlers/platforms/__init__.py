"""Platform modules, chosen by URL. See :mod:`crawlers.platforms.base` for the interface.

Adding a platform is local work: one module here (a :class:`Platform` subclass), its entry in
``MODULES``, its settings section (``isnad/config.py``), and its stand-in and tests.
"""

from __future__ import annotations

import importlib
from collections.abc import Collection, Mapping

from crawlers.platforms.base import Platform, Target

# Checked in this order. Mastodon matches on path shape alone (any host can be an instance),
# so it comes last.
MODULES = {
    "telegram": ("crawlers.platforms.telegram", "TelegramPlatform"),
    "youtube": ("crawlers.platforms.youtube", "YouTubePlatform"),
    "x": ("crawlers.platforms.x", "XPlatform"),
    "tiktok": ("crawlers.platforms.tiktok", "TikTokPlatform"),
    "facebook": ("crawlers.platforms.facebook", "FacebookPlatform"),
    "instagram": ("crawlers.platforms.instagram", "InstagramPlatform"),
    "bluesky": ("crawlers.platforms.bluesky", "BlueskyPlatform"),
    "vk": ("crawlers.platforms.vk", "VKPlatform"),
    "reddit": ("crawlers.platforms.reddit", "RedditPlatform"),
    "mastodon": ("crawlers.platforms.mastodon", "MastodonPlatform"),
}


def platform_named(name: str, base: str | None = None, session: Collection[str] = ()
                   ) -> Platform:
    """The platform module ``name``, on ``base`` (None: its public base), knowing which
    session headers are configured for it (names only)."""
    module, cls = MODULES[name]
    return getattr(importlib.import_module(module), cls)(base, session)


def platform_for(url: str, bases: Mapping[str, str | None] | None = None,
                 disabled: Collection[str] = frozenset(),
                 sessions: Mapping[str, Collection[str]] | None = None
                 ) -> tuple[Platform, Target] | None:
    """The platform and target of ``url``, or None for a generic web page.

    A URL on a platform's own host that its module does not recognise (a settings page, an
    article) is a generic page: it is never offered to a platform that matches any host
    (Mastodon), even when that platform is disabled."""
    for name in MODULES:
        platform = platform_named(name, (bases or {}).get(name), (sessions or {}).get(name, ()))
        if name not in disabled:
            target = platform.match(url)
            if target is not None:
                return platform, target
        if platform.owns(url):
            return None
    return None
