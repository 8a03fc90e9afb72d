"""The vault against a real S3 endpoint (moto server mode over HTTP) and a local folder."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from archiver.states import CaptureState, CopyState, CustodyAction
from tests.conftest import s3_env
from tests.s3server import Relay

pytestmark = pytest.mark.e2e


def _targets(home: Path, bucket: str, **s3: object) -> list[dict]:
    return [{"name": "local", "url": str(home / "packages")},
            {"name": "s3", "url": f"s3://{bucket}/evidence", **s3}]


def test_capture_stored_on_two_targets_with_object_lock(isnad, site, moto, bucket):
    env = s3_env(moto.url, _targets(isnad.home, bucket, object_lock_mode="COMPLIANCE",
                                    retention_days=1))
    rec = isnad.capture("--no-browser", site.url("/arabic.html"), env=env)
    assert rec["state"] == CaptureState.COMPLETE and rec["exit_code"] == 0, rec["stderr"]
    shown = isnad("show", rec["id"], "--json", env=env).json()
    copies = {c["target"]: c for c in shown["copies"]}
    assert copies["local"]["state"] == copies["s3"]["state"] == CopyState.STORED
    key = shown["package_key"]
    assert copies["s3"]["location"] == f"s3://{bucket}/evidence/{key}"
    assert copies["s3"]["sha256"] == shown["package_sha256"] and copies["s3"]["version"]
    head = moto.client().head_object(Bucket=bucket, Key=f"evidence/{key}")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    actions = [(e["action"], e["details"].get("target")) for e in shown["custody"]]
    for target in ("local", "s3"):
        assert (CustodyAction.STORED, target) in actions
        assert (CustodyAction.VERIFIED, target) in actions
    # Custody events and the index record sit beside the package on S3.
    listed = moto.client().list_objects_v2(Bucket=bucket, Prefix="evidence/")["Contents"]
    names = {o["Key"].rsplit("/", 1)[-1] for o in listed}
    assert {"capture.json", f"{rec['id']}.wacz", "000001-requested.json"} <= names
    verified = isnad("verify", rec["id"], env=env)
    assert verified.code == 0, verified.stdout
    assert "s3: stored package hash matches the catalog" in verified.stdout
    check = isnad("storage", "check", env=env)
    assert "versioning: Enabled" in check.stdout
    assert "COMPLIANCE retention for 1 days" in check.stdout


def test_locked_version_cannot_be_deleted(isnad, site, moto, bucket):
    env = s3_env(moto.url, _targets(isnad.home, bucket, object_lock_mode="COMPLIANCE",
                                    retention_days=30))
    rec = isnad.capture("--no-browser", site.url("/final.html"), env=env)
    key = "evidence/" + isnad("show", rec["id"], "--json", env=env).json()["package_key"]
    s3 = moto.client()
    version = s3.head_object(Bucket=bucket, Key=key)["VersionId"]
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version)
    assert s3.head_object(Bucket=bucket, Key=key, VersionId=version)["ContentLength"] > 0


def test_storage_check_warns_when_evidence_is_deletable(isnad, moto):
    moto.client().create_bucket(Bucket="isnad-plain-bucket")
    env = s3_env(moto.url, [{"name": "s3", "url": "s3://isnad-plain-bucket/x"}])
    run = isnad("storage", "check", env=env)
    assert run.code == 1
    assert "versioning: never enabled" in run.stdout
    assert "evidence in this bucket can be deleted" in run.stdout


def test_outage_loses_nothing_and_sync_resumes(isnad, site, moto, bucket):
    relay = Relay(moto.port).start()
    env = s3_env(relay.url, _targets(isnad.home, bucket))
    env["ISNAD_STORAGE__RETRIES"] = "2"
    first = isnad.capture("--no-browser", site.url("/final.html"), env=env)
    assert first["exit_code"] == 0
    relay.stop()  # the S3 endpoint goes down mid-run
    second = isnad.capture("--no-browser", site.url("/arabic.html"), env=env)
    assert second["state"] == CaptureState.COMPLETE and second["exit_code"] == 1
    shown = isnad("show", second["id"], "--json", env=env).json()
    copies = {c["target"]: c for c in shown["copies"]}
    assert copies["local"]["state"] == CopyState.STORED
    assert copies["s3"]["state"] == CopyState.PENDING
    assert copies["s3"]["last_error"]
    spooled = Path(shown["spool_path"])
    assert spooled.is_file()  # the local copy is kept until S3 has a verified copy
    assert CustodyAction.STORAGE_FAILED in [e["action"] for e in shown["custody"]]
    assert isnad("storage", "sync", env=env).code == 1  # still down: nothing lost, exit 1
    assert spooled.is_file()
    relay.start()  # back up
    synced = isnad("storage", "sync", env=env)
    assert synced.code == 0, synced.stdout
    assert f"{second['id']} → s3" in synced.stdout
    shown = isnad("show", second["id"], "--json", env=env).json()
    assert {c["state"] for c in shown["copies"]} == {CopyState.STORED}
    assert not spooled.exists() and shown["spool_path"] is None
    audit = isnad("audit", "--all", env=env)
    assert audit.code == 0, audit.stdout
    assert "ALL INTACT" in audit.stdout
    for rec in (first, second):
        assert isnad("verify", rec["id"], env=env).code == 0
    # Every custody event reached S3, including those written during the outage.
    catalog_events = len(isnad("show", second["id"], "--json", env=env).json()["custody"])
    listed = moto.client().list_objects_v2(Bucket=bucket, Prefix="evidence/captures/")
    stored_events = [o for o in listed["Contents"]
                     if second["id"] in o["Key"] and "/custody/" in o["Key"]]
    assert len(stored_events) == catalog_events
    relay.stop()


def test_audit_names_a_corrupted_and_a_missing_object(isnad, site, moto):
    s3 = moto.client()
    s3.create_bucket(Bucket="isnad-unlocked")
    env = s3_env(moto.url, [{"name": "s3", "url": "s3://isnad-unlocked/e"}])
    good = isnad.capture("--no-browser", site.url("/final.html"), env=env)
    bad = isnad.capture("--no-browser", site.url("/arabic.html"), env=env)
    gone = isnad.capture("--no-browser", site.url("/crawl/a.html"), env=env)
    key_of = {r["id"]: "e/" + isnad("show", r["id"], "--json", env=env).json()["package_key"]
              for r in (good, bad, gone)}
    data = bytearray(s3.get_object(Bucket="isnad-unlocked", Key=key_of[bad["id"]])["Body"].read())
    data[len(data) // 2] ^= 0xFF
    s3.put_object(Bucket="isnad-unlocked", Key=key_of[bad["id"]], Body=bytes(data))
    s3.delete_object(Bucket="isnad-unlocked", Key=key_of[gone["id"]])
    run = isnad("audit", "--all", env=env)
    assert run.code == 1
    assert f"MISMATCH {bad['id']} on s3" in run.stdout and "hashes to" in run.stdout
    assert f"MISMATCH {gone['id']} on s3" in run.stdout and "missing" in run.stdout
    assert good["id"] not in run.stdout.split("report:")[0].split("\n", 2)[-1]
    report = json.loads(Path(run.stdout.split("report:")[1].strip()).read_text())
    assert report["ok"] is False and len(report["findings"]) == 3
    actions = [e["action"] for e in isnad("show", bad["id"], "--json", env=env).json()["custody"]]
    assert actions[-1] == CustodyAction.AUDIT_FAILED
    sampled = isnad("audit", "--sample", "1", "--target", "s3", "--json", env=env)
    assert len(sampled.json()["findings"]) == 1
    assert sampled.code == (0 if sampled.json()["findings"][0]["ok"] else 1)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
    later = isnad("audit", "--since", tomorrow, "--json", env=env)
    assert later.code == 0 and later.json()["findings"] == []
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert len(isnad("audit", "--since", today, "--json", env=env).json()["findings"]) == 3
    wrong = isnad("audit", "--since", "last tuesday", env=env)
    assert wrong.code == 2 and "--since" in wrong.stderr


def _catalog_dump(db: Path) -> dict:
    """Every catalog row as plain values; JSON columns parsed, bookkeeping columns left out."""
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    ignore = {"worker_host", "worker_pid", "work_dir", "spool_path", "id", "version",
              "stored_at", "attempts", "last_error"}

    def value(v):
        if isinstance(v, str) and v[:1] in "[{":
            return json.loads(v)
        return v

    def rows(sql: str) -> list[dict]:
        return [{k: value(r[k]) for k in r.keys() if k not in ignore} for r in con.execute(sql)]

    dump = {
        "captures": rows("SELECT * FROM captures ORDER BY id"),
        "artifacts": rows("SELECT * FROM artifacts ORDER BY capture_id, path"),
        "events": rows("SELECT * FROM custody_events ORDER BY capture_id, seq"),
        "copies": rows("SELECT * FROM copies ORDER BY capture_id, target"),
    }
    con.close()
    return dump


def test_reindex_rebuilds_the_catalog_from_storage_alone(isnad, site, moto, bucket):
    env = s3_env(moto.url, _targets(isnad.home, bucket))
    isnad.capture("--no-browser", site.url("/final.html"), env=env)
    isnad.capture("--no-browser", "--depth", "1", site.url("/links.html"), env=env)
    failed = isnad("capture", "http://no-such-host.invalid/", env=env)
    assert failed.code == 2
    assert isnad("verify", "--all", env=env).code == 0
    db = isnad.home / "catalog.db"
    before = _catalog_dump(db)
    assert len(before["captures"]) == 3
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    run = isnad("reindex", env=env)
    assert run.code == 0, run.stdout
    assert "rebuilt 3 captures" in run.stdout
    after = _catalog_dump(db)
    for table in ("captures", "artifacts", "events", "copies"):
        assert len(after[table]) == len(before[table]), table
        for old, new in zip(before[table], after[table], strict=True):
            assert new == old, (table, {k: (old[k], new.get(k)) for k in old
                                        if old[k] != new.get(k)})
    assert isnad("verify", "--all", env=env).code == 0
    assert isnad("reindex", env=env).code == 2  # refuses a catalog that is not empty
