"""Byte ranges (RFC 9110, section 14): the one reading of a ``Range`` header for every route
that serves a file in parts (the API's downloads, the player's media, the replay's package)."""

from __future__ import annotations

import re


class RangeNotSatisfiable(Exception):
    """A Range header none of whose bytes lie in the package (HTTP 416)."""


def parse_byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range ``(first, last)`` asked by a ``Range`` header, clipped to ``size``;
    None to send the whole package (no header, a unit other than bytes, several ranges, or a
    malformed one, which RFC 9110 lets a server ignore). RangeNotSatisfiable when no byte asked
    exists."""
    if not header:
        return None
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # a suffix: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable(header)
        return max(0, size - suffix), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # invalid: ignored
    if start >= size:
        raise RangeNotSatisfiable(header)
    return start, min(end, size - 1)

