"""Every time Isnad writes says it is UTC: the catalog, `--json` output, context, custody."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import pytest

from archiver.catalog import COMPLETE, CaptureRow, Catalog, as_utc
from archiver.custody import chain_problems, next_event
from archiver.states import CaptureState, CustodyAction

ZONED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$")


def _row(capture_id: str, started: datetime) -> CaptureRow:
    return CaptureRow(id=capture_id, url="https://example.org/", state=COMPLETE, reasons=[],
                      tags=[], operator="analyst", started_at=started, context={})


def test_catalog_times_come_back_in_utc(catalog_url):
    catalog = Catalog(catalog_url, upgrade=True)
    moment = datetime(2026, 12, 1, 2, 1, 3, 179458, tzinfo=UTC)
    catalog.add_capture(_row("a" * 36, moment))
    # Another zone is the same moment, kept as UTC.
    catalog.add_capture(_row("b" * 36, moment.astimezone(timezone(timedelta(hours=3)))))
    for capture_id in ("a" * 36, "b" * 36):
        started = catalog.get(capture_id).started_at
        assert started.tzinfo is not None and started.utcoffset() == timedelta(0)
        assert started == moment
        assert ZONED.match(started.isoformat())


def test_rows_written_before_zones_were_kept_read_as_utc(tmp_path):
    """Catalogs of earlier versions hold naive UTC strings: they read back as UTC."""
    path = tmp_path / "catalog.db"
    catalog = Catalog(f"sqlite:///{path}")
    catalog.add_capture(_row("c" * 36, datetime(2026, 1, 1, tzinfo=UTC)))
    with sqlite3.connect(path) as db:
        db.execute("UPDATE captures SET started_at = '2026-12-01 02:01:03.179458', "
                   "ended_at = '2026-12-01 02:01:09.000000'")
    row = Catalog(f"sqlite:///{path}").get("c" * 36)
    assert row.started_at == datetime(2026, 12, 1, 2, 1, 3, 179458, tzinfo=UTC)
    assert row.ended_at.isoformat() == "2026-12-01T02:01:09+00:00"


def test_as_utc():
    assert as_utc(datetime(2026, 1, 1, 12)) == datetime(2026, 1, 1, 12, tzinfo=UTC)
    east = datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=5)))
    assert as_utc(east).isoformat() == "2026-01-01T07:00:00+00:00"


def test_custody_chains_with_naive_times_still_verify():
    """Events hash their time as written: an old chain without zones stays intact."""
    first = next_event(None, capture_id="x", actor="a", action=CustodyAction.REQUESTED,
                       object_sha256=None, time="2025-06-01T10:00:00.000001")
    second = next_event(first, capture_id="x", actor="a", action=CustodyAction.CAPTURED,
                        object_sha256=None)
    assert chain_problems([first, second]) == []
    assert ZONED.match(second.time)


def _times(value, path=""):
    """(path, value) of every field named like a time anywhere in a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}"
            if isinstance(item, str) and (key.endswith(("_at", "time")) or key == "ts"):
                yield where, item
            else:
                yield from _times(item, where)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _times(item, f"{path}[{i}]")


@pytest.mark.e2e
def test_json_output_and_context_say_utc(isnad, site):
    rec = isnad.capture("--no-browser", site.url("/final.html"),
                        env={"ISNAD_MEDIA__ENABLED": "false"})
    assert rec["state"] == CaptureState.COMPLETE, rec
    shown = isnad("show", rec["id"], "--json").json()
    listed = isnad("list", "--json").json()
    found = [*_times(rec, "capture"), *_times(shown, "show"), *_times(listed, "list")]
    names = {path.rsplit(".", 1)[-1] for path, _ in found}
    assert {"started_at", "ended_at", "stored_at", "time", "ts"} <= names, names
    naive = [(path, value) for path, value in found if not ZONED.match(value)]
    assert not naive, naive
