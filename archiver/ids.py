"""Capture identifiers: UUIDv7, so they sort by creation time."""

from uuid6 import uuid7


def new_capture_id() -> str:
    """Return a new time-sortable capture id (UUIDv7, canonical text form)."""
    return str(uuid7())
