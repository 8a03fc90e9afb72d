"""The web app's pages at catalog scale: what a page asks of the catalog (bench/web_bench.py
measures the times; these tests pin the causes found there)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx
import pytest

PASSWORD = "correct horse battery staple"


def _fill(archive, count: int) -> None:  # noqa: ANN001 - an isnad.app Archive
    """``count`` COMPLETE captures in the catalog, each in the search index with its words."""
    from archiver.catalog import CaptureRow
    from archiver.search import SearchDocument, SearchIndex

    start = datetime(2025, 1, 1, tzinfo=UTC)
    rows, docs = [], []
    for n in range(count):
        capture_id = f"{n:08x}-0000-7000-8000-{n:012x}"
        words = "قصف المستشفى شاهد عيان" if n % 2 else "hospital shelling witness"
        rows.append({"id": capture_id, "url": f"https://example.org/post/{n}", "final_url": None,
                     "state": "COMPLETE", "reasons": [], "error": None, "case_id": "case-1",
                     "tags": ["t1"], "note": None, "operator": "test",
                     "started_at": start + timedelta(minutes=n),
                     "ended_at": start + timedelta(minutes=n, seconds=20),
                     "package_key": f"captures/{capture_id}.wacz", "package_sha256": "0" * 64,
                     "package_size": 1000, "context": {}, "spool_path": None})
        docs.append(SearchDocument(kind="capture", ref_id=capture_id, url=rows[-1]["url"],
                                   title=f"post {n}", page_text=f"{words} name{n}",
                                   state="COMPLETE", case_id="case-1", tags=["t1"],
                                   source="capture", captured_at=rows[-1]["started_at"]))
    with archive.catalog.engine.begin() as conn:
        conn.execute(CaptureRow.__table__.insert(), rows)
    SearchIndex(archive.catalog.engine).put_many(docs)


async def _pages(app, paths: list[str]) -> list[httpx.Response]:  # noqa: ANN001 - FastAPI
    """Sign in through the real form (in process), then GET each of ``paths``."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        form = await client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token, form.text
        done = await client.post("/login", data={"name": "ana", "password": PASSWORD,
                                                 "csrf_token": token.group(1), "next": "/"})
        assert done.status_code == 303, done.text
        return [await client.get(path) for path in paths]


def test_the_search_page_does_not_also_list_the_captures(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch):
    """A search shows its hits alone; it used to run the list's queries as well and throw
    their answer away (a count of every capture, the page of rows, two queries per row for
    its short id): 5x the time of the search itself in bench/web_bench.py."""
    from sqlalchemy import event

    from isnad.app import accounts
    from isnad.app.archive import open_archive
    from isnad.config import load_settings
    from isnad.web.app import create_app

    monkeypatch.setenv("ISNAD_HOME", str(tmp_path / "home"))
    settings = load_settings()
    archive = open_archive(settings, recover=False)
    _fill(archive, 120)
    accounts.add_user(accounts.open_accounts(settings, archive.catalog), "ana", "viewer",
                      PASSWORD)
    app = create_app(settings, archive=archive)
    statements: list[tuple[str, str]] = []
    current = [""]
    event.listen(archive.catalog.engine, "before_cursor_execute",
                 lambda _c, _cur, sql, *_a: statements.append((current[0], sql)))

    async def both() -> list[httpx.Response]:
        current[0] = "list"  # statements are recorded under the page being asked for
        listed = await _pages(app, ["/captures"])
        current[0] = "search"
        searched = await _pages(app, ["/captures?q=" + "name7"])
        return listed + searched
    listed, searched = asyncio.run(both())
    assert listed.status_code == 200 and searched.status_code == 200
    assert "/captures/00000077-0000" in listed.text  # the newest capture, listed
    assert 'class="hit card"' in searched.text and "/captures/00000007-0000" in searched.text

    def reading_captures(page: str) -> list[str]:
        """The statements of ``page`` that read the captures table other than the search's
        own (which looks up each hit's current state there)."""
        return [sql for where, sql in statements if where == page
                and re.search(r"\bFROM captures\b", sql) and "search_documents" not in sql]
    assert len(reading_captures("list")) >= 3  # the list: its count, its rows, short ids
    assert reading_captures("search") == []  # the search reads its index alone
    archive.catalog.engine.dispose()
