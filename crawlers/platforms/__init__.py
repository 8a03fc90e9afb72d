"""Platform modules, chosen by URL. See :mod:`crawlers.platforms.base` for the interface."""

from __future__ import annotations

import importlib

from crawlers.platforms.base import Platform, Target

# Checked in this order; Mastodon matches on path shape alone (any host can be an instance),
# so it comes last. Other platforms (Bluesky, Reddit, VK, X, YouTube, TikTok, Facebook,
# Instagram) have no module yet: their URLs are captured as generic pages, media via yt-dlp.
MODULES = {
    "telegram": ("crawlers.platforms.telegram", "TelegramPlatform"),
    "mastodon": ("crawlers.platforms.mastodon", "MastodonPlatform"),
}


def platform_named(name: str, base: str | None = None) -> Platform:
    module, cls = MODULES[name]
    return getattr(importlib.import_module(module), cls)(base)


def platform_for(url: str, bases: dict[str, str | None] | None = None,
                 disabled: set[str] = frozenset()) -> tuple[Platform, Target] | None:
    """The platform and target of ``url``, or None for a generic web page."""
    for name in MODULES:
        if name in disabled:
            continue
        platform = platform_named(name, (bases or {}).get(name))
        target = platform.match(url)
        if target is not None:
            return platform, target
    return None
