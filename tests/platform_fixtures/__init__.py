"""Fixture servers in the platforms' public shapes, on 127.0.0.1, one module per platform.

``urllib_fetch`` is a plain ``fetch`` for testing platform modules without Scrapy; the crawler
passes its own, which records every exchange in the capture's WARC.
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from crawlers.platforms.base import Fetch, Fetched


async def urllib_fetch(url: str, headers: dict[str, str] | None = None, *, method: str = "GET",
                       body: bytes | str | None = None) -> Fetched:
    data = body.encode() if isinstance(body, str) else body

    def get() -> Fetched:
        request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - tests
                return Fetched(answer.url, answer.status,
                               {k.lower(): v for k, v in answer.headers.items()}, answer.read())
        except urllib.error.HTTPError as exc:
            return Fetched(exc.url or url, exc.code,
                           {k.lower(): v for k, v in exc.headers.items()}, exc.read())

    return await asyncio.to_thread(get)


REAL = Path(__file__).resolve().parents[3] / "shared" / "real-platforms"


def real_sample(platform: str, name: str) -> bytes:
    """A real saved platform response from ``../shared/real-platforms`` (see its SOURCES.md);
    the test is skipped when the samples are not beside the clone."""
    path = REAL / platform / name
    if not path.is_file():
        pytest.skip(f"real sample {platform}/{name} not present (../shared/real-platforms)")
    return path.read_bytes()


def saved_fetch(saved: bytes, content_type: str = "application/json") -> Fetch:
    """A ``fetch`` that answers every request with one saved real response: the real URLs
    inside are parsed, never contacted."""
    async def fetch(url: str, headers: dict[str, str] | None = None, *, method: str = "GET",
                    body: bytes | str | None = None) -> Fetched:
        return Fetched(url, 200, {"content-type": content_type}, saved)

    return fetch
