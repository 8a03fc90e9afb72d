"""Search end to end: a real capture of the fixture site's Arabic page (and a real import of
a partner's WARC and ARC) found through `isnad search`, in spellings the page does not use."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
IMPORTS = SHARED / "import-samples"
OLD_ARC = IMPORTS / "webarchive-discovery--IAH-20080430204825-00000-blackbook-truncated.arc.gz"
EXAMPLE2 = IMPORTS / "pywb--example2.warc.gz"


def _search(isnad, *args: str) -> dict:
    run = isnad("search", *args, "--json")
    assert run.code == 0, run.stderr
    return run.json()


def _ids(found: dict) -> list[str]:
    return [h["id"] for h in found["hits"]]


@pytest.mark.e2e
def test_a_captured_arabic_page_is_found_in_other_spellings(isnad, site):
    record = isnad.capture(site.url("/arabic.html"), "--case", "C-15", "--tag", "gaza",
                           "--note", "نُشر على قناة محلية")
    assert record["state"] == "COMPLETE", record
    other = isnad.capture(site.url("/gzip.html"))
    assert other["state"] == "COMPLETE", other

    for query in ("ارشيف",            # the page writes أرشيف (hamza on alef)
                  "الادله",           # الأدلة: bare alef, taa marbuta written as haa
                  "الأَدِلَّةُ",        # with harakat
                  "تحذف",             # the page writes تُحذف (damma)
                  '"سلسلة الحيازه"',   # a phrase
                  "قناه محليه"):       # the capture's note
        found = _search(isnad, query)
        assert _ids(found) == [record["id"]], (query, found)
    hit = _search(isnad, "الادله")["hits"][0]
    assert hit["kind"] == "capture" and hit["state"] == "COMPLETE"
    assert hit["url"] == site.url("/arabic.html") and hit["title"] == "أرشيف الأدلة"
    assert hit["captured_at"] == record["started_at"]
    assert "<mark>الأدلة</mark>" in hit["snippet"]  # the original word, marked
    assert "<mark>" not in _search(isnad, "تحذف")["hits"][0]["snippet"].replace(
        "<mark>تُحذف</mark>", "")

    # Filters narrow; words that are not there find nothing; hostile input is plain text.
    assert _ids(_search(isnad, "ارشيف", "--case", "C-15", "--tag", "gaza")) == [record["id"]]
    assert _search(isnad, "ارشيف", "--case", "other")["total"] == 0
    assert _search(isnad, "ارشيف", "--source", "import")["total"] == 0
    assert _search(isnad, "مستشفى")["total"] == 0
    for hostile in ('"', 'ارشيف NEAR(', "-ارشيف", "title:*", "'; DROP TABLE captures"):
        run = isnad("search", "--json", "--", hostile)
        assert run.code == 0, (hostile, run.stderr)

    # The table view shows the hit with its words.
    shown = isnad("search", "الادله")
    assert shown.code == 0 and record["id"][:12] in shown.stdout and "الأدلة" in shown.stdout

    # The index is a working copy: emptied, it is rebuilt from the stored packages.
    with sqlite3.connect(isnad.home / "catalog.db") as db:
        db.execute("DELETE FROM search_fts")
        db.execute("DELETE FROM search_documents")
    assert _search(isnad, "الادله")["total"] == 0
    rebuilt = isnad("search", "--rebuild", "--json")
    assert rebuilt.code == 0, rebuilt.stderr
    assert rebuilt.json()["captures"] == 2
    assert _ids(_search(isnad, "الادله")) == [record["id"]]


@pytest.mark.e2e
def test_a_capture_whose_indexing_fails_is_still_complete(isnad, site):
    assert isnad("db", "upgrade").code == 0
    with sqlite3.connect(isnad.home / "catalog.db") as db:
        db.execute("DROP TABLE search_fts")  # indexing will fail
    record = isnad.capture(site.url("/arabic.html"))
    assert record["state"] == "COMPLETE" and record["exit_code"] == 0, record
    # Said in the job's log, in one line naming the capture and what to run.
    logged = "".join(p.read_text() for p in (isnad.home / "logs" / "jobs").glob("*.log"))
    line = next(x for x in logged.splitlines() if "not indexed for search" in x)
    assert record["id"] in line and "isnad search --rebuild" in line
    assert "no such table: search_fts" in line and "[SQL" not in line


@pytest.mark.e2e
@pytest.mark.skipif(not IMPORTS.is_dir(), reason="../shared import samples absent")
def test_imported_warcs_and_arcs_are_searchable(isnad):
    run = isnad("import", str(EXAMPLE2), str(OLD_ARC), "--provider", "Partner NGO",
                "--note", "تسليم على قرص", "--json")
    assert run.code in (0, 1), run.stderr
    data = run.json()
    captures = {f["name"]: f["capture_id"] for f in data["files"]}
    # Words of the HTML inside the received files (example.com, archive.org in 2008).
    found = _search(isnad, "example", "domain")
    assert captures[EXAMPLE2.name] in _ids(found)
    assert all(h["source"] == "import" for h in found["hits"])
    assert captures[OLD_ARC.name] in _ids(_search(isnad, "internet", "archive"))
    # The import itself: by its provider and its note.
    imported = _search(isnad, "partner")
    assert [(h["kind"], h["id"]) for h in imported["hits"]] == [("import", data["id"])]
    # Its note is the note of each of its captures too.
    assert set(_ids(_search(isnad, "تسليم", "--source", "import"))) == {
        data["id"], *captures.values()}
