"""A capture's page list lives in its package (pages/pages.jsonl) and the catalog's page
table, not in the capture's row: the row stays small however many pages a crawl found, and
`show`, `capture --pages` and `export` still list every page (old rows included)."""

from __future__ import annotations

import json
import sqlite3
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from archiver.catalog import CaptureRow, Catalog


def _row_context(home: Path, capture_id: str) -> dict:
    with sqlite3.connect(home / "catalog.db") as db:
        (text,) = db.execute("SELECT context FROM captures WHERE id = ?",
                             (capture_id,)).fetchone()
    return json.loads(text)


@pytest.mark.e2e
def test_a_crawls_page_list_is_in_the_package_and_page_table_not_the_row(isnad, site,
                                                                          tmp_path):
    rec = isnad.capture("--no-browser", "--depth", "1", "--scope", "host",
                        site.url("/links.html"))
    assert rec["state"] == "COMPLETE", rec["stderr"]
    cid, count = rec["id"], rec["page_count"]
    assert count >= 3
    context = _row_context(isnad.home, cid)
    assert "pages" not in context and context["page_count"] == count
    with sqlite3.connect(isnad.home / "catalog.db") as db:
        rows = db.execute("SELECT seq, url, data FROM pages WHERE capture_id = ? ORDER BY seq",
                          (cid,)).fetchall()
    assert [r[0] for r in rows] == list(range(count))
    # The table holds what the package lists, line for line.
    with zipfile.ZipFile(rec["package_location"]) as wacz:
        _, *lines = wacz.read("pages/pages.jsonl").decode().splitlines()
        datapackage = json.loads(wacz.read("datapackage.json"))
    assert [json.loads(line) for line in lines] == [json.loads(r[2]) for r in rows]
    assert "pages" not in datapackage["isnad"]  # listed once in the package, not twice
    urls = [r[1] for r in rows]
    assert site.url("/links.html") in urls
    shown = isnad("show", cid, "--json").json()
    assert [p["url"] for p in shown["context"]["pages"]] == urls
    assert shown["page_count"] == count
    human = isnad("show", cid)
    assert f"pages             {count}" in human.stdout
    assert all(url in human.stdout for url in urls)
    bundle = isnad("export", cid, "-o", str(tmp_path / "bundle"), "--json")
    assert bundle.code == 0, bundle.stdout + bundle.stderr
    report = (tmp_path / "bundle" / "report.html").read_text(encoding="utf-8")
    assert f"Pages ({count}," in report and all(url in report for url in urls)
    # A catalog rebuilt from storage has the list again (read from the stored package).
    for name in ("catalog.db", "catalog.db-wal", "catalog.db-shm"):
        (isnad.home / name).unlink(missing_ok=True)
    rebuilt = isnad("reindex", "--json")
    assert rebuilt.code == 0 and rebuilt.json()["ok"] is True, rebuilt.stdout + rebuilt.stderr
    again = isnad("show", cid, "--json").json()
    assert [p["url"] for p in again["context"]["pages"]] == urls


def test_a_row_catalogued_before_the_page_table_is_read_from_its_context(tmp_path):
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}", upgrade=True)
    old_pages = [{"id": "0000", "url": "https://example.org/", "ts": "2026-11-01T12:00:00Z",
                  "title": "Old"}]
    catalog.add_capture(CaptureRow(
        id="0190aaaa-0000-7000-8000-000000000001", url="https://example.org/",
        state="COMPLETE", reasons=[], tags=[], operator="analyst",
        started_at=datetime(2026, 11, 1, 12, tzinfo=UTC), context={"pages": old_pages}))
    assert catalog.pages("0190aaaa-0000-7000-8000-000000000001") == old_pages
    from isnad.app import records

    row = catalog.get("0190aaaa")
    record = records.capture_record(row)
    assert record["page_count"] == 1 and "pages" not in record["context"]
    assert records.capture_record(row, old_pages)["context"]["pages"] == old_pages
    # A row catalogued now: its pages replace each other in order, the list is read back.
    new = [{"id": f"{i:04d}", "url": f"https://example.org/{i}"} for i in range(2500)]
    catalog.replace_pages(row.id, new)
    catalog.replace_pages(row.id, new)  # replacing does not duplicate
    assert catalog.pages(row.id) == new
