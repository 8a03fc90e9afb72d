"""Case notes (issue 15): the use cases on SQLite and PostgreSQL, and through a real
`isnad serve`: who may write a note (API token, the case page's form with its CSRF token), and
where it shows (the Cases screen, the case's page, GET /api/v1/cases)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from urllib.parse import quote

import pytest

from archiver.archive import Archive
from archiver.catalog import CaptureRow, Catalog
from archiver.errors import IsnadError
from archiver.storage.local import LocalFolderStorage
from isnad.app import catalog as catalog_app
from tests.webserver import running_server

NOTE_AR = "القضية: قصف سوق المدينة\nالمصادر: قناتان على تلغرام، شاهدان."


def _archive(catalog_url: str, tmp_path) -> Archive:
    return Archive(tmp_path / "home", Catalog(catalog_url, upgrade=True),
                   [LocalFolderStorage(tmp_path / "packages")])


def _capture(catalog: Catalog, capture_id: str, case: str | None) -> None:
    catalog.add_capture(CaptureRow(
        id=capture_id, url="https://example.org/", state="COMPLETE", reasons=[], tags=[],
        case_id=case, operator="analyst", started_at=datetime(2026, 11, 1, tzinfo=UTC),
        context={}))


# -- the use cases, on both databases -------------------------------------------------------
def test_a_case_note_is_written_read_and_replaced_on_both_databases(catalog_url, tmp_path):
    archive = _archive(catalog_url, tmp_path)
    assert catalog_app.case_note(archive, "C-7") == {
        "case": "C-7", "note": "", "updated_at": None, "updated_by": None}
    written = catalog_app.set_case_note(archive, "C-7", NOTE_AR.replace("\n", "\r\n"),
                                        by="analyst")
    assert written["note"] == NOTE_AR  # a form's CRLF kept as \n
    assert written["updated_by"] == "analyst"
    assert datetime.fromisoformat(written["updated_at"]).utcoffset().total_seconds() == 0
    assert catalog_app.case_note(archive, "C-7") == written
    again = catalog_app.set_case_note(archive, "C-7", "second", by="lead")
    assert catalog_app.case_note(archive, "C-7")["note"] == "second"
    assert again["updated_by"] == "lead"
    # One row per case: writing a note again replaces it, never adds a second.
    with archive.catalog.engine.connect() as conn:
        assert list(conn.exec_driver_sql("SELECT count(*) FROM cases"))[0][0] == 1


def test_list_cases_gives_each_case_its_note_and_the_cases_with_only_a_note(
        catalog_url, tmp_path):
    archive = _archive(catalog_url, tmp_path)
    _capture(archive.catalog, "0190aaaa-0000-7000-8000-000000000001", "C-1")
    _capture(archive.catalog, "0190aaaa-0000-7000-8000-000000000002", None)
    catalog_app.set_case_note(archive, "C-1", NOTE_AR, by="analyst")
    catalog_app.set_case_note(archive, "C-new", "not captured yet", by="analyst")
    cases = {c["case"]: c for c in catalog_app.list_cases(archive)}
    assert set(cases) == {"C-1", None, "C-new"}
    assert (cases["C-1"]["captures"], cases["C-1"]["note"]) == (1, NOTE_AR)
    assert cases["C-1"]["note_updated_by"] == "analyst"
    assert (cases[None]["note"], cases[None]["note_updated_at"]) == ("", None)
    assert (cases["C-new"]["captures"], cases["C-new"]["latest"], cases["C-new"]["note"]) == (
        0, None, "not captured yet")


def test_a_note_too_long_or_without_a_case_is_refused_and_nothing_written(tmp_path):
    archive = _archive(f"sqlite:///{tmp_path / 'catalog.db'}", tmp_path)
    fits = "ب" * catalog_app.NOTE_MAX
    assert catalog_app.set_case_note(archive, "C", fits, by="a")["note"] == fits
    with pytest.raises(IsnadError, match=r"at most 20,000 characters; this one has 20,001"):
        catalog_app.set_case_note(archive, "C", fits + "x", by="b")
    assert catalog_app.case_note(archive, "C")["updated_by"] == "a"  # unchanged
    with pytest.raises(IsnadError, match="needs a case id"):
        catalog_app.set_case_note(archive, "  ", "x", by="a")
    with pytest.raises(IsnadError, match="at most 200 characters"):
        catalog_app.set_case_note(archive, "c" * 201, "x", by="a")


def test_a_case_note_is_not_in_the_search_index(tmp_path):
    archive = _archive(f"sqlite:///{tmp_path / 'catalog.db'}", tmp_path)
    catalog_app.set_case_note(archive, "C", "كلمةسرية unusualword", by="a")
    with archive.catalog.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT count(*) FROM search_documents WHERE notes LIKE "
                                    "'%unusualword%' OR titles LIKE '%unusualword%'")
        assert list(rows)[0][0] == 0


# -- the CLI ------------------------------------------------------------------------------------
def test_the_cli_writes_shows_and_lists_a_case_note(isnad):
    written = isnad("cases", "note", "C-9", NOTE_AR, "--operator", "amira", "--json")
    assert written.code == 0, written.stderr
    assert (written.json()["note"], written.json()["updated_by"]) == (NOTE_AR, "amira")
    shown = isnad("cases", "note", "C-9")
    assert shown.code == 0 and shown.stdout == NOTE_AR + "\n" and "amira" in shown.stderr
    listed = isnad("cases", "--json")
    assert [(c["case"], c["captures"], c["note"]) for c in listed.json()] == [
        ("C-9", 0, NOTE_AR)]
    table = isnad("cases")
    assert table.code == 0 and "C-9" in table.stdout and "القضية" in table.stdout
    too_long = isnad("cases", "note", "C-9", "x" * 20_001)
    assert too_long.code != 0 and "at most 20,000 characters" in too_long.stderr
    assert "Traceback" not in too_long.stderr


# -- through the real app ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def web_server(tmp_path_factory):
    yield from running_server(tmp_path_factory)


CASE = "سوريا/حلب 2026"  # Arabic, a space and a slash: the case id travels in the path


def _path(case: str) -> str:
    return quote(case, safe="/")


@pytest.mark.e2e
def test_a_viewer_cannot_write_a_case_note_by_token_nor_by_form(web_server):
    by_token = web_server.client("viewer").put(f"/api/v1/cases/{_path(CASE)}/note",
                                               json={"note": "viewer's"})
    assert by_token.status_code == 403 and "submit" in by_token.json()["detail"]
    session = web_server.login("viewer")
    page = session.get(f"/cases/{_path(CASE)}")
    assert page.status_code == 200 and "<textarea" not in page.text  # read only
    by_form = session.post(f"/cases/{_path(CASE)}/note",
                           data={"note": "viewer's", "csrf_token": session.csrf})
    assert by_form.status_code == 403
    note = web_server.client("viewer").get(f"/api/v1/cases/{_path(CASE)}/note").json()
    assert note["note"] != "viewer's"


@pytest.mark.e2e
def test_an_investigator_writes_a_note_by_token_and_it_shows_everywhere(web_server):
    capture_id = "0190cccc-0000-7000-8000-000000000001"
    _capture(Catalog(f"sqlite:///{web_server.home / 'catalog.db'}"), capture_id, CASE)
    put = web_server.client("investigator").put(f"/api/v1/cases/{_path(CASE)}/note",
                                                json={"note": NOTE_AR})
    assert put.status_code == 200, put.text
    assert put.json()["note"] == NOTE_AR and put.json()["updated_by"] == "investigator-user"
    listed = web_server.client("viewer").get("/api/v1/cases").json()["cases"]
    mine = next(c for c in listed if c["case"] == CASE)
    assert (mine["captures"], mine["note"]) == (1, NOTE_AR)
    viewer = web_server.login("viewer")
    screen = viewer.get("/cases?lang=ar")
    assert screen.status_code == 200
    assert f'<div class="note-text" dir="auto">{html.escape(NOTE_AR)}</div>' in screen.text
    assert f'href="/cases/{_path(CASE)}"' in screen.text
    page = viewer.get(f"/cases/{_path(CASE)}?lang=ar")
    assert page.status_code == 200 and html.escape(NOTE_AR) in page.text
    assert "ملاحظة القضية" in page.text and f'href="/captures/{capture_id}"' in page.text
    too_long = web_server.client("investigator").put(
        f"/api/v1/cases/{_path(CASE)}/note", json={"note": "x" * 20_001})
    assert too_long.status_code == 422 and "20,000" in too_long.json()["detail"]


@pytest.mark.e2e
def test_an_investigator_edits_the_note_on_the_case_page_with_its_csrf_token(web_server):
    session = web_server.login("investigator")
    page = session.get(f"/cases/{_path(CASE)}")
    assert page.status_code == 200 and "<textarea" in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    forged = session.post(f"/cases/{_path(CASE)}/note", data={"note": "forged"})
    assert forged.status_code == 403
    edited = "ملاحظة معدلة\r\nسطر ثان <b>ليس وسمًا</b>"
    done = session.post(f"/cases/{_path(CASE)}/note", data={"note": edited,
                                                             "csrf_token": csrf})
    assert done.status_code == 303 and done.headers["location"] == f"/cases/{_path(CASE)}"
    note = web_server.client("viewer").get(f"/api/v1/cases/{_path(CASE)}/note").json()
    assert note["note"] == edited.replace("\r\n", "\n")
    assert note["updated_by"] == "investigator-user"
    shown = session.get(f"/cases/{_path(CASE)}").text
    assert "&lt;b&gt;ليس وسمًا&lt;/b&gt;" in shown and "<b>ليس" not in shown  # text, not HTML
    refused = session.post(f"/cases/{_path(CASE)}/note", data={"note": "y" * 20_001,
                                                               "csrf_token": csrf})
    assert refused.status_code == 400 and "20,000" in refused.text
