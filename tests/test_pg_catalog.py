"""End to end with the catalog on a real PostgreSQL: capture, list, show, verify, and a
reindex into an empty PostgreSQL from the storage alone."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from archiver.states import CaptureState

# Bookkeeping that a rebuild does not (and need not) reproduce: row ids, where a worker ran.
IGNORE = {"worker_host", "worker_pid", "work_dir", "spool_path", "id", "version", "stored_at",
          "attempts", "last_error"}


def _dump(url: str) -> dict[str, list[dict]]:
    engine = sa.create_engine(url)
    queries = {"captures": "SELECT * FROM captures ORDER BY id",
               "artifacts": "SELECT * FROM artifacts ORDER BY capture_id, path",
               "events": "SELECT * FROM custody_events ORDER BY capture_id, seq",
               "copies": "SELECT * FROM copies ORDER BY capture_id, target",
               "heads": "SELECT capture_id, head FROM custody_heads ORDER BY capture_id"}
    with engine.connect() as conn:
        dump = {table: [{k: v for k, v in row._mapping.items() if k not in IGNORE}
                        for row in conn.exec_driver_sql(sql)]
                for table, sql in queries.items()}
    engine.dispose()
    return dump


@pytest.mark.e2e
def test_capture_list_show_verify_and_reindex_on_postgresql(isnad, site, postgres):
    first = postgres.new_database()
    env = {"ISNAD_CATALOG__URL": first}
    assert isnad("db", "upgrade", env=env).code == 0
    page = isnad.capture("--no-browser", site.url("/final.html"), env=env)
    assert page["state"] == CaptureState.COMPLETE, page["stderr"]
    crawl = isnad("capture", "--no-browser", "--depth", "1", site.url("/links.html"), env=env)
    assert crawl.code == 0, crawl.stderr
    failed = isnad("capture", "http://no-such-host.invalid/", env=env)
    assert failed.code == 2
    assert not (isnad.home / "catalog.db").exists()  # nothing went to the SQLite default

    listed = isnad("list", "--json", env=env)
    assert listed.code == 0, listed.stderr
    ids = {r["id"] for r in listed.json()}
    assert page["id"] in ids and len(ids) >= 3
    shown = isnad("show", page["id"], "--json", env=env)
    assert shown.code == 0 and shown.json()["custody"], shown.stderr
    verified = isnad("verify", "--all", env=env)
    assert verified.code == 0, verified.stdout + verified.stderr

    # The catalog lost: a new, empty PostgreSQL database, rebuilt from storage alone.
    before = _dump(first)
    second = postgres.new_database()
    env = {"ISNAD_CATALOG__URL": second}
    assert isnad("db", "upgrade", env=env).code == 0
    rebuilt = isnad("reindex", env=env)
    assert rebuilt.code == 0, rebuilt.stdout + rebuilt.stderr
    after = _dump(second)
    for table, rows in before.items():
        assert len(after[table]) == len(rows), table
        for old, new in zip(rows, after[table], strict=True):
            assert new == old, (table, {k: (v, new.get(k)) for k, v in old.items()
                                        if v != new.get(k)})
    assert isnad("verify", "--all", env=env).code == 0
    # A catalog that is not empty is refused, naming it without its password (the test
    # server trusts loopback, so a password in the URL is accepted and ignored).
    with_password = {"ISNAD_CATALOG__URL": second.replace("isnad@", "isnad:s3cret@")}
    refused = isnad("reindex", env=with_password)
    assert refused.code == 2 and "is not empty" in refused.stderr
    assert "s3cret" not in refused.stderr + refused.stdout and "***" in refused.stderr


@pytest.mark.e2e
def test_reindex_into_an_empty_postgresql_from_s3_alone_equals_the_original(
        isnad, site, postgres, moto, bucket, tmp_path):
    """Machines sharing a PostgreSQL catalog and an S3 vault lose the catalog: a new, empty
    PostgreSQL database rebuilt from the bucket alone (a fresh data folder: no spool, no
    work files) equals the original, captures, copies and custody events."""
    from tests.conftest import Isnad, s3_env

    vault = {**s3_env(moto.url, [{"name": "vault", "url": f"s3://{bucket}/evidence"}]),
             # The organisation's key, which every machine trusts.
             "ISNAD_SIGNING__KEY_DIR": str(tmp_path / "keys")}
    first = postgres.new_database()
    env = {"ISNAD_CATALOG__URL": first, **vault}
    assert isnad("keys", "init", env=env).code == 0
    assert isnad("db", "upgrade", env=env).code == 0
    page = isnad.capture("--no-browser", site.url("/final.html"), env=env)
    assert page["state"] == CaptureState.COMPLETE, page["stderr"]
    crawl = isnad("capture", "--no-browser", "--depth", "1", site.url("/links.html"), env=env)
    assert crawl.code == 0, crawl.stderr
    shown = isnad("show", page["id"], "--json", env=env).json()
    assert str(shown["package_location"]).startswith("s3://"), shown
    before = _dump(first)
    assert len(before["captures"]) >= 2 and before["events"] and before["copies"]

    other_dir = tmp_path / "another-machine"
    other_dir.mkdir()
    elsewhere = Isnad(other_dir)  # another machine: nothing of the first one's disk
    second = postgres.new_database()
    env = {"ISNAD_CATALOG__URL": second, **vault}
    assert elsewhere("db", "upgrade", env=env).code == 0
    rebuilt = elsewhere("reindex", env=env)
    assert rebuilt.code == 0, rebuilt.stdout + rebuilt.stderr
    after = _dump(second)
    for table, rows in before.items():
        assert len(after[table]) == len(rows), table
        for old, new in zip(rows, after[table], strict=True):
            assert new == old, (table, {k: (v, new.get(k)) for k, v in old.items()
                                        if v != new.get(k)})
    verified = elsewhere("verify", "--all", env=env)
    assert verified.code == 0, verified.stdout + verified.stderr
