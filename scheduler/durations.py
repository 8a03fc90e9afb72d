"""Durations as people write them in settings and commands: ``90``, ``30s``, ``15m``, ``2h``,
``1d``, ``1w`` (and ``1h30m``)."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(text: str | float | int) -> float:
    """Seconds in ``text``; a bare number is seconds. Raises ValueError, saying what is
    expected, for anything else (and for zero or less)."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        value = str(text).strip().lower().replace(" ", "")
        if re.fullmatch(r"\d+(?:\.\d+)?", value):
            seconds = float(value)
        elif value and re.fullmatch(f"(?:{_PART.pattern})+", value):
            seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(value))
        else:
            raise ValueError(f"{text!r} is not a duration: expected e.g. 90, 30s, 15m, 2h, 1d, "
                             "1w or 1h30m")
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"{text!r} is not a duration: it must be more than zero")
    return seconds
