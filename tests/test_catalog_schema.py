"""The catalog's schema under Alembic migrations, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from archiver import schema
from archiver.catalog import Base, CaptureRow, Catalog, CustodyEventRow
from archiver.custody import next_event
from archiver.errors import SchemaError

ROOT = Path(__file__).resolve().parents[1]


def _open(url: str) -> Catalog:
    """A new catalog at head (PostgreSQL is never upgraded implicitly: upgrade it first)."""
    return Catalog(url, upgrade=True)


def test_a_new_catalog_is_at_head_and_its_tables_are_the_models(catalog_url):
    catalog = _open(catalog_url)
    assert schema.current(catalog.engine) == schema.head()
    # Every model table exists, with the models' columns, types and indexes: a model changed
    # without a revision fails here.
    assert schema.check(catalog.engine) == []
    tables = set(sa.inspect(catalog.engine).get_table_names())
    assert {"captures", "custody_events", "custody_heads", "jobs", "monitors",
            "monitor_posts", "alembic_version"} <= tables


def test_a_model_without_its_revision_is_reported(tmp_path):
    catalog = _open(f"sqlite:///{tmp_path / 'catalog.db'}")
    with catalog.engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_jobs_state")
        conn.exec_driver_sql("ALTER TABLE monitors DROP COLUMN flagged")
    differences = "\n".join(schema.check(catalog.engine))
    assert "ix_jobs_state" in differences and "flagged" in differences


def test_postgresql_is_upgraded_only_on_request(pg_url):
    with pytest.raises(SchemaError, match="has no Isnad schema yet.*isnad db upgrade"):
        Catalog(pg_url)
    before, after = schema.upgrade(sa.create_engine(pg_url))
    assert (before, after) == (None, schema.head())
    Catalog(pg_url).add_capture(_capture("c" * 36))
    assert Catalog(pg_url).get("c" * 36).url == "http://127.0.0.1:9/"


def test_a_catalog_of_a_newer_isnad_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    catalog = _open(url)
    with catalog.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'ffff9999'")
    with pytest.raises(SchemaError, match="ffff9999.*newer version"):
        Catalog(url)


def _capture(capture_id: str) -> CaptureRow:
    return CaptureRow(id=capture_id, url="http://127.0.0.1:9/", state="COMPLETE", reasons=[],
                      tags=["a"], operator="analyst", started_at=datetime.now(UTC), context={})


def test_an_old_sqlite_catalog_is_brought_under_migrations_without_losing_data(tmp_path):
    # A catalog as Isnad made it before migrations: create_all, no alembic_version, and (as
    # when no job was ever submitted) without the jobs tables.
    path = tmp_path / "catalog.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    old = [t for name, t in Base.metadata.tables.items()
           if name not in ("jobs", "job_captures", "workers")]
    Base.metadata.create_all(engine, tables=old)
    first = next_event(None, capture_id="d" * 36, actor="a", action="captured",
                       object_sha256=None)
    with sa.orm.Session(engine) as s, s.begin():
        s.add(_capture("d" * 36))
        s.flush()
        s.add(CustodyEventRow(**first.__dict__))
    engine.dispose()

    catalog = Catalog(f"sqlite:///{path}")  # SQLite: upgraded on opening
    assert schema.current(catalog.engine) == schema.head()
    assert schema.check(catalog.engine) == []  # the missing jobs tables were made
    row = catalog.get("d" * 36)
    assert row.tags == ["a"] and [e.hash for e in row.events] == [first.hash]


_OPEN = """
import sys
from archiver.catalog import Catalog
Catalog(sys.argv[1], upgrade=True).is_empty()
"""


def test_many_processes_opening_a_new_catalog_at_once_make_it_once(catalog_url):
    procs = [subprocess.Popen([sys.executable, "-c", _OPEN, catalog_url], cwd=ROOT,
                              stderr=subprocess.PIPE, text=True) for _ in range(6)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, errors
    engine = sa.create_engine(catalog_url)
    with engine.connect() as conn:
        versions = conn.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    assert versions == [(schema.head(),)]
    assert schema.check(engine) == []


def test_isnad_db_upgrade_and_current_on_postgresql(isnad, pg_url):
    env = {"ISNAD_CATALOG__URL": pg_url}
    behind = isnad("db", "current", env=env)
    assert behind.code == 1 and "(no schema yet)" in behind.stdout
    refused = isnad("list", env=env)
    assert refused.code == 2
    assert "has no Isnad schema yet" in refused.stderr and "isnad db upgrade" in refused.stderr
    upgraded = isnad("db", "upgrade", env=env)
    assert upgraded.code == 0 and f"(none) → {schema.head()}" in upgraded.stdout
    status = isnad("db", "current", "--check", "--json", env=env)
    assert status.code == 0, status.stderr
    assert status.json()["current"] == schema.head() and status.json()["differences"] == []
    assert isnad("list", env=env).code == 0
