"""Monitors of web pages and feeds: what ``monitor add`` keeps for one, and the items a run
found, checked before they are queued.

The reading itself is in :mod:`crawlers.feeds` (the listing capture's platform reader): a
feed monitor's run is a capture job of its URL like a channel's, and its items are the
listing's post refs (platform ``feed`` for an RSS/Atom entry, ``web`` for a sitemap URL or a
page's link). :mod:`isnad.app.monitors` queues each new one exactly once, as it does posts.
"""

from __future__ import annotations

from typing import Any

from archiver.errors import CaptureFailed, CaptureRefused, IsnadError
from crawlers.feeds import ITEM_PLATFORMS, check_scope
from crawlers.netguard import check_target
from isnad.config import Settings

KIND = "feed"  # monitors.kind of a web page or feed (a platform's listing is "channel")

__all__ = ["ITEM_PLATFORMS", "KIND", "check_scope", "guarded_items", "listing_options"]


def listing_options(scope: str | None) -> dict[str, Any]:
    """What a feed monitor's listing job carries (``JobSpec.monitor["feed"]``)."""
    return {"scope": scope}


def guarded_items(settings: Settings, refs: list[dict[str, Any]]
                  ) -> tuple[list[dict[str, Any]], list[str]]:
    """The items whose URL the SSRF guard lets through, and a note for each refused one.

    Nothing is resolved here (an item's host name is looked up only when its own capture
    starts, by the same guard): an IP address or a name of this machine is checked as
    written, as for a request through a proxy. A feed is written by someone else; an entry
    pointing at a private address is refused and said, never a crash."""
    kept, notes = [], []
    for ref in refs:
        try:
            check_target(ref["url"], settings.allow_private_networks, proxied=True,
                         private_origins=settings.private_origins)
        except (CaptureRefused, CaptureFailed, IsnadError) as exc:
            notes.append(f"item {ref['url']} refused by the SSRF guard: {exc}")
            continue
        kept.append(ref)
    return kept, notes
