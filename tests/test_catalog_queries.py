"""The catalog's queries, on SQLite and on a real PostgreSQL: the same answers on both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from archiver.catalog import CaptureRow, Catalog
from archiver.errors import NotFound

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _row(capture_id: str, url: str, tags: list[str], hours: int, case: str | None = None,
         state: str = "COMPLETE") -> CaptureRow:
    return CaptureRow(id=capture_id, url=url, state=state, reasons=[], tags=tags, case_id=case,
                      operator="analyst", started_at=T0 + timedelta(hours=hours), context={})


@pytest.fixture
def catalog(catalog_url) -> Catalog:
    catalog = Catalog(catalog_url, upgrade=True)
    for row in (
        _row("0190aaaa-0000-7000-8000-000000000001", "https://Example.org/a_b", ["x", "y"], 0,
             "C1"),
        _row("0190aaaa-0000-7000-8000-000000000002", "https://example.org/a%b", ["x"], 1,
             "C1", "FAILED"),
        # "x_" is no "x": a tag is matched whole, and _ % \\ are no wildcards.
        _row("0190bbbb-0000-7000-8000-000000000003", "https://other.net/", ["x_", 'q"t'], 2),
    ):
        catalog.add_capture(row)
    return catalog


def _ids(found: tuple[list[CaptureRow], int]) -> list[str]:
    rows, total = found
    assert total == len(rows)
    return [r.id[-1] for r in rows]


def test_filters_agree_on_both_databases(catalog):
    assert _ids(catalog.find()) == ["3", "2", "1"]  # newest first
    assert _ids(catalog.find(tags=("x",))) == ["2", "1"]
    assert _ids(catalog.find(tags=("x", "y"))) == ["1"]
    assert _ids(catalog.find(tags=("x_",))) == ["3"]
    assert _ids(catalog.find(tags=('q"t',))) == ["3"]
    assert _ids(catalog.find(url="example.org/A_")) == ["1"]  # case-insensitive, _ literal
    assert _ids(catalog.find(url="a%b")) == ["2"]
    assert _ids(catalog.find(case="C1", states=("FAILED",))) == ["2"]
    assert _ids(catalog.find(since=T0 + timedelta(minutes=30), until=T0 + timedelta(hours=2))
                ) == ["2"]
    rows, total = catalog.find(limit=1)
    assert len(rows) == 1 and total == 3


def test_ids_by_prefix_on_both_databases(catalog):
    assert catalog.get("0190bbbb").id.endswith("3")
    with pytest.raises(NotFound, match="ambiguous"):
        catalog.get("0190aaaa")
    ids = [r.id for r in catalog.list()]
    assert catalog.unique_prefixes(ids) == {
        ids[0]: ids[0][:36], ids[1]: ids[1][:36], ids[2]: "0190bbbb"}


def test_a_page_of_short_ids_is_one_statement_on_both_databases(catalog):
    """The web app's list shows 50 short ids a page: one statement, not two per id (bench/
    web_bench.py: most of the list page's time); an id the catalog lacks still gets one."""
    from sqlalchemy import event

    for n in range(4, 60):
        catalog.add_capture(_row(f"0190cccc-0000-7000-8000-{n:012d}", "https://e.org/", [], n))
    ids = [r.id for r in catalog.find(limit=50)[0]]
    statements: list[str] = []
    event.listen(catalog.engine, "before_cursor_execute",
                 lambda _c, _cur, sql, *_a: statements.append(sql))
    short = catalog.unique_prefixes(ids)
    assert len([s for s in statements if "captures" in s]) == 1
    assert short[ids[0]] == ids[0]  # 0190cccc-0000-7000-8000-000000000059: its rival ...58
    assert short[ids[-1]] == ids[-1]
    statements.clear()
    missing = "0190bbbb-0000-7000-8000-000000000009"  # between 3 and the 0190cccc ones
    assert catalog.unique_prefixes([missing, ids[0]]) == {
        missing: "0190bbbb-0000-7000-8000-000000000009", ids[0]: ids[0]}
    every = [r.id for r in catalog.list()]
    assert catalog.unique_prefixes(every)["0190bbbb-0000-7000-8000-000000000003"] == "0190bbbb"


def test_captures_are_found_by_the_platform_of_their_post(catalog):
    catalog.set_post("0190aaaa-0000-7000-8000-000000000001",
                     {"platform": "telegram", "post_id": "1", "url": "https://t.me/c/1",
                      "status": "available"})
    catalog.set_post("0190bbbb-0000-7000-8000-000000000003",
                     {"platform": "x", "post_id": "9", "url": "https://x.com/a/status/9",
                      "status": "available"})
    assert _ids(catalog.find(platform="telegram")) == ["1"]
    assert _ids(catalog.find(platform="x", tags=("x_",))) == ["3"]
    assert _ids(catalog.find(platform="youtube")) == []
    assert [r.id[-1] for r in catalog.iter_find(platform="x")] == ["3"]


def test_sqlite_catalog_keeps_planner_statistics_so_a_state_filter_does_not_sort_the_catalog(
        tmp_path):
    """Without statistics SQLite answered `find(states=("COMPLETE",))` through the index on
    ``state`` (three values): every COMPLETE capture visited and sorted for a page of 50, in
    time growing with the catalog (bench/web_bench.py). Opening the catalog analyses a table
    that has none or has doubled since; the page is then read in id order and stops at 50."""
    from sqlalchemy import select

    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    catalog = Catalog(url)
    rows = [{"id": f"0190{n:04x}-0000-7000-8000-{n:012d}", "url": "https://e.org/",
             "state": "COMPLETE" if n % 10 < 8 else "FAILED", "reasons": [], "tags": [],
             "case_id": f"C{n % 50}", "operator": "a", "context": {},
             "started_at": T0 + timedelta(minutes=n)} for n in range(3000)]
    with catalog.engine.begin() as conn:
        conn.execute(CaptureRow.__table__.insert(), rows)
    catalog.engine.dispose()

    def plan(catalog: Catalog) -> str:
        query = (select(CaptureRow.id).where(CaptureRow.state.in_(["COMPLETE"]))
                 .order_by(CaptureRow.id.desc()).limit(50))
        compiled = query.compile(catalog.engine, compile_kwargs={"literal_binds": True})
        with catalog.engine.connect() as conn:
            return " / ".join(r[-1] for r in conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {compiled}"))

    reopened = Catalog(url)
    assert "TEMP B-TREE" not in plan(reopened) and "ix_captures_state" not in plan(reopened)
    with reopened.engine.connect() as conn:
        stats = dict(conn.exec_driver_sql("SELECT idx, stat FROM sqlite_stat1 "
                                          "WHERE tbl = 'captures'").all())
    assert stats["ix_captures_state"] == "3000 1500"  # two values: unselective
    rows_found, total = reopened.find(states=("COMPLETE",), limit=50)
    assert total == 2400 and rows_found[0].id == rows[2997]["id"]  # 2998, 2999: FAILED
    reopened.engine.dispose()


def test_list_and_show_run_as_many_statements_at_any_catalog_size(catalog_url):
    """`isnad list`'s page and `isnad show` must not run a statement per capture or per custody
    event (bench/catalog_bench.py: the same counts at 1,000 and 100,000 captures with ten events
    each): the counts with 20 captures and with 200 are the same."""
    from sqlalchemy import event

    from archiver.catalog import CustodyEventRow, PageRow

    catalog = Catalog(catalog_url, upgrade=True)

    def grow_to(count: int, start: int) -> None:
        ids = [f"0190{n:04x}-0000-7000-8000-{n:012d}" for n in range(start, count)]
        with catalog.engine.begin() as conn:
            conn.execute(CaptureRow.__table__.insert(), [
                {"id": cid, "url": f"https://e.org/{n}", "state": "COMPLETE", "reasons": [],
                 "tags": ["t"], "operator": "a", "context": {},
                 "started_at": T0 + timedelta(minutes=n)} for n, cid in enumerate(ids, start)])
            conn.execute(PageRow.__table__.insert(), [
                {"capture_id": cid, "seq": 0, "url": "https://e.org/", "data": {}}
                for cid in ids])
            conn.execute(CustodyEventRow.__table__.insert(), [
                {"capture_id": cid, "seq": seq, "time": "2026-11-01T12:00:00Z", "actor": "a",
                 "action": "CAPTURED", "details": {}, "prev_hash": "0" * 64, "hash": "1" * 64}
                for cid in ids for seq in range(10)])

    def statements() -> tuple[int, int]:
        seen: list[str] = []

        def note(_c, _cur, sql, *_a) -> None:
            seen.append(sql)

        event.listen(catalog.engine, "before_cursor_execute", note)
        try:
            rows, _total = catalog.find(limit=50, context=False)
            assert all(r.package_location is None for r in rows)  # their copies, loaded
            catalog.unique_prefixes([r.id for r in rows])
            listed = len(seen)
            shown = catalog.get(rows[-1].id)
            assert len(shown.events) == 10
            catalog.pages(shown.id)
            return listed, len(seen) - listed
        finally:
            event.remove(catalog.engine, "before_cursor_execute", note)

    grow_to(20, 0)
    small = statements()
    grow_to(200, 20)
    assert statements() == small, small
    catalog.engine.dispose()
