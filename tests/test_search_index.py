"""The search index in the catalog database, on SQLite (FTS5) and on a real PostgreSQL
(tsvector + GIN): made by the migration, filled, queried in every spelling."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from archiver import schema
from archiver.catalog import Catalog
from archiver.search import SearchDocument, SearchFilters, SearchIndex

ARABIC_PAGE = ("تُحذف المنشورات ومقاطع الفيديو التي توثّق الانتهاكات خلال ساعات من نشرها.\n"
               "يحفظ هذا الأرشيف كل صفحة كما رآها الناس، مع بصمة رقمية وختم زمني لكل ملف.\n"
               "سلسلة الحيازة تسجّل كل يد مرّت بها الأدلة منذ لحظة جمعها.")


@pytest.fixture
def index(catalog_url) -> SearchIndex:
    catalog = Catalog(catalog_url, upgrade=True)
    found = SearchIndex(catalog.engine)
    found.put(SearchDocument(
        kind="capture", ref_id="a" * 36, url="http://127.0.0.1:8000/arabic.html",
        title="أرشيف الأدلة", titles="أرشيف الأدلة", page_text=ARABIC_PAGE,
        state="COMPLETE", case_id="case-7", tags=["syria", "hospitals"], source="capture",
        captured_at=datetime(2026, 3, 1, 12, tzinfo=UTC)))
    found.put(SearchDocument(
        kind="capture", ref_id="b" * 36, url="http://127.0.0.1:8000/post/1",
        title="A channel post", post_text="Shelling near the hospital reported this morning",
        notes="checked by the desk", state="PARTIAL", case_id="case-8", tags=["hospitals"],
        platform="telegram", source="capture", captured_at=datetime(2026, 4, 2, tzinfo=UTC)))
    found.put(SearchDocument(
        kind="import", ref_id="c" * 36, title="import from Partner NGO",
        notes="Hospital evidence handed over", state="COMPLETE", source="import",
        captured_at=datetime(2026, 5, 1, tzinfo=UTC)))
    return found


def _ids(index: SearchIndex, query: str, **filters) -> list[str]:
    hits, total = index.search(query, SearchFilters(**filters))
    assert total == len(hits)
    return [h.ref_id[0] for h in hits]


def test_the_migration_makes_the_index_on_each_database(catalog_url):
    catalog = Catalog(catalog_url, upgrade=True)
    assert schema.current(catalog.engine) == schema.head()
    tables = set(sa.inspect(catalog.engine).get_table_names())
    assert "search_documents" in tables
    assert schema.check(catalog.engine) == []  # the index tables are not model tables
    if catalog.engine.dialect.name == "postgresql":
        with catalog.engine.connect() as conn:
            kinds = conn.execute(sa.text(
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'search_documents'")
            ).scalars().all()
        assert any("USING gin (tsv)" in k for k in kinds)
    else:
        assert "search_fts" in tables


@pytest.mark.parametrize("query", [
    "أرشيف",            # as the page writes it
    "ارشيف",            # bare alef
    "الادله",           # bare alef, taa marbuta as haa
    "الأَدِلَّة",         # with harakat
    "الأدلـــة",         # with tatweel
    "توثق",             # the page has a shadda
    '"سلسلة الحيازه"',   # a phrase
    "ارش*",             # a prefix
])
def test_arabic_is_found_in_every_spelling(index, query):
    assert _ids(index, query) == ["a"]


def test_words_must_all_match_and_phrases_be_in_order(index):
    assert _ids(index, "الأرشيف بصمة") == ["a"]
    assert _ids(index, "الأرشيف hospital") == []
    assert _ids(index, '"الحيازة سلسلة"') == []


def test_snippets_show_the_original_words_marked(index):
    hits, _ = index.search("الادله توثق")
    snippet = hits[0].snippet
    assert "<mark>أرشيف</mark>" not in snippet
    assert "<mark>الأدلة</mark>" in snippet  # the title matched: shown as written
    hits, _ = index.search("توثق")
    assert "<mark>توثّق</mark>" in hits[0].snippet


def test_filters_narrow(index):
    assert sorted(_ids(index, "hospital")) == ["b", "c"]
    assert sorted(_ids(index, "hospital*")) == ["a", "b", "c"]  # a's tag: hospitals
    assert _ids(index, "hospital", platform="telegram") == ["b"]
    assert _ids(index, "hospital", source="import") == ["c"]
    assert _ids(index, "hospital", kind="capture") == ["b"]
    assert _ids(index, "hospital", state="COMPLETE") == ["c"]
    assert _ids(index, "", tag="hospitals") == ["b", "a"]  # newest first
    assert _ids(index, "", tag="hospital") == []  # a tag is matched whole
    assert _ids(index, "", case="case-7") == ["a"]
    assert _ids(index, "", since=datetime(2026, 4, 1, tzinfo=UTC),
                until=datetime(2026, 5, 1, tzinfo=UTC)) == ["b"]


def test_putting_a_document_again_replaces_it(index):
    index.put(SearchDocument(kind="capture", ref_id="a" * 36, title="replaced",
                             page_text="nothing Arabic now", state="COMPLETE"))
    assert _ids(index, "ارشيف") == []
    assert _ids(index, "replaced") == ["a"]
    assert index.count() == 3
    index.remove("capture", "a" * 36)
    assert _ids(index, "replaced") == [] and index.count() == 2


@pytest.mark.parametrize("hostile", [
    '"', '"unclosed', "*", ":", "title:x", "NEAR(a b)", "a NEAR b", "-a", "a -b", "(", ")",
    "a OR b", "AND", "^a", "a'b", "'); DROP TABLE captures; --", "\\", "{a b}", "a:*", "!",
    "a & b | c", "<->", "hospital -", '"hospital"*', "%", "_",
])
def test_hostile_queries_do_not_error(index, hostile):
    hits, total = index.search(hostile)
    assert total == len(hits)
    assert index.count() == 3  # nothing was dropped either


def test_paging(index):
    first, total = index.search("", limit=2)
    second, _ = index.search("", limit=2, offset=2)
    assert total == 3 and len(first) == 2 and len(second) == 1
    assert {h.ref_id for h in first} | {h.ref_id for h in second} == {"a" * 36, "b" * 36,
                                                                      "c" * 36}


def test_the_state_shown_is_the_catalogs_now(catalog_url, index):
    """A PARTIAL capture made COMPLETE later (a late timestamp) is found and shown
    COMPLETE, without indexing it again."""
    from archiver.catalog import CaptureRow

    catalog = Catalog(catalog_url)
    catalog.add_capture(CaptureRow(id="b" * 36, url="http://127.0.0.1:8000/post/1",
                                   state="PARTIAL", reasons=[], tags=[], operator="o",
                                   started_at=datetime(2026, 4, 2, tzinfo=UTC), context={}))
    assert _ids(index, "shelling", state="PARTIAL") == ["b"]
    catalog.update_capture("b" * 36, state="COMPLETE")
    assert _ids(index, "shelling", state="PARTIAL") == []
    hits, _ = index.search("shelling", SearchFilters(state="COMPLETE"))
    assert [h.state for h in hits] == ["COMPLETE"]


def test_the_use_case_takes_filters_as_text_and_refuses_unknown_ones(tmp_path, catalog_url):
    from archiver.errors import IsnadError
    from isnad.app.search import search
    from isnad.config import Settings

    settings = Settings(home=tmp_path / "home", catalog={"url": catalog_url})
    catalog = Catalog(catalog_url, upgrade=True)
    SearchIndex(catalog.engine).put(SearchDocument(
        kind="capture", ref_id="d" * 36, title="أرشيف", page_text=ARABIC_PAGE,
        state="COMPLETE", case_id="C-1", captured_at=datetime(2026, 3, 1, tzinfo=UTC)))
    page = search(settings, "الادله", filters={"case": "C-1", "since": "2026-02-28",
                                               "until": "2026-03-02T00:00:00Z", "tag": None})
    assert page.total == 1 and page.hits[0]["id"] == "d" * 36
    assert page.hits[0]["captured_at"] == "2026-03-01T00:00:00+00:00"
    assert "<mark>الأدلة</mark>" in page.hits[0]["snippet"]
    assert search(settings, "الادله", filters={"since": "2026-03-02"}).total == 0
    with pytest.raises(IsnadError, match="unknown search filter.*colour"):
        search(settings, "x", filters={"colour": "red"})
    with pytest.raises(IsnadError, match="since.*not an ISO 8601"):
        search(settings, "x", filters={"since": "last week"})
