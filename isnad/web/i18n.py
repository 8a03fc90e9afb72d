"""The interface's languages: JSON catalogs in ``isnad/web/locales/`` (one per language, a flat
map of message keys to text with ``{name}`` fields), and which one a request gets.

A language is chosen by ``?lang=``, then the ``lang`` cookie, then the browser's
Accept-Language, else English. A key missing from a catalog falls back to English, then to the
key itself: a missing translation shows, it never breaks a page.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

LOCALES = Path(__file__).resolve().parent / "locales"
DEFAULT = "en"
RTL = frozenset({"ar", "fa", "he", "ur"})
COOKIE = "lang"


@cache
def catalog(lang: str) -> dict[str, str]:
    """The messages of ``lang`` (empty when it has no catalog)."""
    path = LOCALES / f"{lang}.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in data.items()}


@cache
def languages() -> tuple[str, ...]:
    """The languages with a catalog, English first."""
    found = sorted(p.stem for p in LOCALES.glob("*.json"))
    return tuple([DEFAULT] + [lang for lang in found if lang != DEFAULT])


def translate(lang: str, key: str, **fields: Any) -> str:
    """The text of ``key`` in ``lang`` (else English, else the key), its fields filled."""
    text = catalog(lang).get(key) or catalog(DEFAULT).get(key) or key
    if fields:
        try:
            return text.format(**fields)
        except (KeyError, IndexError, ValueError):
            return text
    return text


def direction(lang: str) -> str:
    """``rtl`` for a language written right to left, else ``ltr``."""
    return "rtl" if lang in RTL else "ltr"


def _known(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip().lower().replace("_", "-").split("-", 1)[0]
    return value if value in languages() else None


def choose(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The language of a request: ``?lang=``, the ``lang`` cookie, Accept-Language, English."""
    for given in (query, cookie):
        found = _known(given)
        if found:
            return found
    weighted: list[tuple[float, int, str]] = []
    for n, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        found = _known(tag)
        if found and weight > 0:
            weighted.append((-weight, n, found))
    return sorted(weighted)[0][2] if weighted else DEFAULT
