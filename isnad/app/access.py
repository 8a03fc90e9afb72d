"""The access log as custody: every view of a capture's content, download, replay and export
through the web app or the HTTP API is a custody event ``accessed`` on that capture, in its
hash chain like every other step: who, when, what, from which address.

The event only looks (its head keeps the record hash of the head before: a look never
vouches for an edited record), and is written through the same full-disk-safe queue as a
verification, so a look is never lost to a full disk.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from archiver.archive import Archive
from archiver.errors import IsnadError
from archiver.states import CustodyAction
from isnad.config import Settings


class AccessAction(StrEnum):
    """What was done with the evidence."""

    VIEW = "view"  # its page, screenshot or post record shown
    DOWNLOAD = "download"  # a file of it sent
    REPLAY = "replay"  # its package replayed in the browser
    EXPORT = "export"  # an export bundle of it made and sent


def record_access(settings: Settings, capture_id: str, *, actor: str, action: str,
                  address: str | None, detail: dict[str, Any] | None = None,
                  archive: Archive | None = None, object_sha256: str | None = None) -> None:
    """Write the custody event of an access to ``capture_id`` by ``actor`` from ``address``
    (``action``: view, download, replay, export; ``detail``: what exactly, e.g. the file and
    its hash). ``archive``: the open archive to write to (else the settings' is opened).
    Raises :class:`IsnadError` when the event could be neither recorded nor queued: the
    caller then refuses the access (nothing looked at without its record)."""
    action = AccessAction(action).value
    archive = archive or _open(settings)
    row = archive.catalog.get(capture_id)
    details = {"action": action, "address": address, **(detail or {})}
    problem = archive.record_or_queue(row.id, actor, CustodyAction.ACCESSED,
                                      object_sha256 or row.package_sha256, details,
                                      checked_only=True)
    if problem is not None and problem.startswith("NOT"):
        raise IsnadError(f"the access to {row.id} could not be recorded: {problem}")


def _open(settings: Settings) -> Archive:
    from isnad.app.archive import open_archive

    return open_archive(settings, recover=False)
