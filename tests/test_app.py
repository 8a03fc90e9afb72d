"""The application layer called in process, as an API or a scheduler would: no CLI around it.

A real catalog (SQLite), a real local storage target and a real signing key on a fresh home;
the capture is one the archiver settles as FAILED (an address that refuses), so no browser runs.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from archiver.capture import CaptureRequest, begin_capture
from isnad.app import IsnadError, NotFound, records
from isnad.app.archive import open_archive
from isnad.app.audit import audit_fixity, plan_audit
from isnad.app.catalog import find_captures, show_capture
from isnad.app.keys import create_signing_key, public_key
from isnad.app.proof import verify
from isnad.app.reindex import rebuild_catalog
from isnad.app.storage import check_storage
from isnad.config import Settings, load_settings


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    import os

    for key in list(os.environ):
        if key.startswith("ISNAD_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no config/isnad.toml of the working tree is read
    monkeypatch.setenv("ISNAD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ISNAD_OPERATOR", "analyst")
    return load_settings()


def _failed_capture(settings: Settings, url: str = "http://127.0.0.1:9/gone") -> str:
    archive = open_archive(settings)
    session = begin_capture(archive, CaptureRequest(url, "analyst", "case-7", ("t1",)), {})
    session.finish(state="FAILED", reasons=["connection refused"], context={}, pages=[],
                   error="connection refused")
    return session.capture_id


def test_find_show_and_verify_a_capture_without_the_cli(settings):
    cid = _failed_capture(settings)
    archive = open_archive(settings)

    found = find_captures(archive, case="case-7", shorten=True)
    assert found.total == 1 and [c["id"] for c in found.captures] == [cid]
    assert found.captures[0]["state"] == "FAILED" and found.captures[0]["stored"] is None
    assert cid.startswith(found.short_ids[cid]) and len(found.short_ids[cid]) >= 8
    assert find_captures(archive, case="another").captures == []
    assert find_captures(archive, since=datetime(2999, 1, 1, tzinfo=UTC)).total == 0

    record = show_capture(archive, found.short_ids[cid])  # a unique prefix is enough
    assert record["id"] == cid and record["error"] == "connection refused"
    assert [e["action"] for e in record["custody"]][0] == "requested"

    (report,) = verify(settings, cid)
    assert report.ok and report.verdict == "FAILED CAPTURE"
    assert [r.subject for r in verify(settings, every=True)] == [report.subject]
    actions = [e["action"] for e in show_capture(archive, cid)["custody"]]
    assert actions[-2:] == ["verified", "verified"]  # each verification is a custody event


def test_verify_errors_are_the_domain_errors(settings):
    with pytest.raises(IsnadError, match="give a capture id"):
        list(verify(settings))
    with pytest.raises(NotFound):
        list(verify(settings, "0000-no-such-capture"))
    assert list(verify(settings, every=True)) == []  # nothing stored: nothing to report


def test_signing_key_made_then_shown(settings):
    with pytest.raises(IsnadError, match="keys init"):
        public_key(settings)
    made = create_signing_key(settings)
    shown = public_key(settings)
    assert shown.fingerprint == made.fingerprint and "BEGIN PUBLIC KEY" in shown.pem
    assert records.signing_key(made) == {
        "private_key": str(made.private_key), "public_key": str(made.public_key),
        "fingerprint": made.fingerprint, "encrypted": False}
    assert records.public_key(shown)["path"] == str(settings.key_dir / "signing-key.pub.pem")
    assert (made.private_key.stat().st_mode & 0o777) == 0o600


def test_audit_plan_names_what_was_asked(settings):
    _failed_capture(settings)  # no package: nothing for a fixity audit to read
    archive = open_archive(settings)
    since = datetime(2026, 3, 1, tzinfo=UTC)
    plan = plan_audit(archive, since=since, since_text="2026-03-01", target="local")
    assert (plan.rows, plan.selection, plan.total_bytes) == ([], "since 2026-03-01, "
                                                             "target local", 0)
    assert plan_audit(archive, sample=3).selection == "sample of 3"
    assert plan_audit(archive, since=since).selection == f"since {since.isoformat()}"
    result = audit_fixity(archive, plan_audit(archive), "auditor")
    assert result.ok and result.to_dict()["selection"] == "all"


def test_storage_check_and_rebuild(settings):
    (check,) = check_storage(settings)
    assert check.name == "local" and not check.ok  # a local folder is not write-once
    shaped = records.storage_check([check])
    assert shaped["ok"] is False and shaped["targets"][0]["target"] == "local"

    rebuilt = rebuild_catalog(settings)  # an empty home: nothing to read back
    assert (rebuilt.captures, rebuilt.targets, rebuilt.ok) == (0, 1, True)
    _failed_capture(settings)
    with pytest.raises(IsnadError, match="not empty"):
        rebuild_catalog(settings)


def test_a_capture_hashes_its_package_once_in_its_self_verification(settings, monkeypatch):
    """Read once: the package just written is hashed by its self-verification (a real read of
    the file on disk), and that hash is the one recorded, not a second read before it."""
    import hashlib
    from pathlib import Path

    import archiver.hashing
    import archiver.package
    import archiver.verify

    archive = open_archive(settings)
    session = begin_capture(archive, CaptureRequest("http://127.0.0.1:9/p", "analyst"), {})
    warc = session.new_warc({"software": "test"})
    warc.write_resource("http://127.0.0.1:9/p", "text/html", b"<html><p>said</p></html>")
    whole: list[str] = []
    real_file, real_stream = archiver.package.sha256_file, archiver.hashing.sha256_stream
    real_finish = archiver.verify.HashedInOrder.finish

    def file_spy(path, *args, **kwargs):
        whole.append(f"build {Path(path).suffix}")
        return real_file(path, *args, **kwargs)

    def stream_spy(stream, *args, **kwargs):
        if str(getattr(stream, "name", "")).endswith(".wacz"):
            whole.append(f"a whole .wacz hashed apart: {stream.name}")
        return real_stream(stream, *args, **kwargs)

    def finish_spy(self):  # the package's hash, from the bytes its checks read
        whole.append("verify .wacz")
        return real_finish(self)

    monkeypatch.setattr(archiver.package, "sha256_file", file_spy)
    monkeypatch.setattr(archiver.hashing, "sha256_stream", stream_spy)
    monkeypatch.setattr(archiver.verify.HashedInOrder, "finish", finish_spy)
    result = session.finish(state="COMPLETE", reasons=[], context={},
                            pages=[{"id": "0000", "url": "http://127.0.0.1:9/p"}])
    monkeypatch.undo()
    # Then the stored copy is read back once: the storage's own check (see put_file).
    assert whole == ["verify .wacz", f"a whole .wacz hashed apart: {result.location}"], whole
    stored = Path(result.location).read_bytes()
    assert result.package.sha256 == hashlib.sha256(stored).hexdigest()
    assert result.package.size == len(stored)
    record = show_capture(archive, result.capture_id)
    assert record["package_sha256"] == result.package.sha256
    packaged = [e for e in record["custody"] if e["action"] == "packaged"]
    assert packaged[0]["object_sha256"] == result.package.sha256
    assert [p["url"] for p in record["context"]["pages"]] == ["http://127.0.0.1:9/p"]
