"""The custody hash chain: intact chains pass, any edit, removal or reordering is caught."""

import json
import os
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from archiver.custody import GENESIS, CustodyEvent, chain_problems, next_event
from archiver.states import CaptureState, CustodyAction


def _chain(n: int = 4):
    events = []
    for i in range(n):
        events.append(next_event(events[-1] if events else None, capture_id="c1",
                                 actor="analyst", action=f"step{i}", object_sha256="ab" * 32,
                                 details={"i": i, "text": "نص عربي"}))
    return events


def test_intact_chain_has_no_problems():
    events = _chain()
    assert events[0].prev_hash == GENESIS
    assert [e.seq for e in events] == [1, 2, 3, 4]
    assert all(e.prev_hash == p.hash for p, e in zip(events, events[1:], strict=False))
    assert chain_problems(events) == []


def test_edited_event_is_caught():
    events = _chain()
    events[1] = replace(events[1], actor="someone else")
    problems = chain_problems(events)
    assert any("#2" in p and "edited" in p for p in problems)


def test_removed_event_is_caught():
    events = _chain()
    del events[2]
    assert chain_problems(events)


def test_reordered_events_are_caught():
    events = _chain()
    events[1], events[2] = events[2], events[1]
    assert chain_problems(events)


def test_rehashed_edit_still_breaks_the_link():
    events = _chain()
    forged = replace(events[1], details={"i": 99})
    forged = replace(forged, hash=forged.computed_hash())
    events[1] = forged
    problems = chain_problems(events)
    assert any("#3" in p and "does not link" in p for p in problems)


# -- end to end: what `isnad verify` and `isnad audit` catch in a real capture's custody -------

def _e2e_capture(isnad, site):
    rec = isnad.capture("--no-browser", site.url("/final.html"))
    assert rec["state"] == CaptureState.COMPLETE, rec["stderr"]
    return rec


def _twin(isnad, name: str):
    """A copy of the whole data folder (catalog, keys, storage) to tamper with."""
    from tests.conftest import Isnad

    home = isnad.home.parent / name
    shutil.copytree(isnad.home, home)
    twin = Isnad(home)
    twin.env = {**isnad.env, "ISNAD_HOME": str(home)}
    return twin


def _folder(isnad, capture_id: str) -> Path:
    return next((isnad.home / "packages" / "captures").glob(f"*/*/*/{capture_id}"))


def _sql(isnad, statement: str, *args) -> None:
    con = sqlite3.connect(isnad.home / "catalog.db")
    with con:
        con.execute(statement, args)
    con.close()


def _verify_and_audit(isnad, capture_id: str) -> tuple[str, str]:
    verify = isnad("verify", capture_id)
    assert verify.code == 1 and "Traceback" not in verify.stderr, verify.stdout + verify.stderr
    audit = isnad("audit")
    assert audit.code == 1 and "Traceback" not in audit.stderr, audit.stdout + audit.stderr
    return verify.stdout, audit.stdout


@pytest.mark.e2e
def test_truncated_custody_is_caught_by_verify_and_audit(isnad, site):
    rec = _e2e_capture(isnad, site)
    assert isnad("verify", rec["id"]).code == 0
    count = len(isnad("show", rec["id"], "--json").json()["custody"])

    # The stored custody folder moved away: storage holds none of the catalog's events.
    moved = _twin(isnad, "moved")
    shutil.move(_folder(moved, rec["id"]) / "custody", moved.home / "elsewhere")
    verify, audit = _verify_and_audit(moved, rec["id"])
    assert f"storage holds 0 events, the catalog {count}" in verify
    assert "identical" not in verify and "INTACT" not in verify
    assert "missing in storage: #1 (requested)" in audit  # verify's own event was written

    # The last event deleted in the catalog only.
    catalog_only = _twin(isnad, "catalog-only")
    _sql(catalog_only, "DELETE FROM custody_events WHERE capture_id = ? AND seq = ?", rec["id"],
         count)
    verify, audit = _verify_and_audit(catalog_only, rec["id"])
    assert f"missing in the catalog: #{count}" in verify
    assert f"the head records {count} events, the chain has {count - 1}" in verify

    # The last event deleted in both places: the signed heads still count it.
    both = _twin(isnad, "both")
    _sql(both, "DELETE FROM custody_events WHERE capture_id = ? AND seq = ?", rec["id"], count)
    sorted((_folder(both, rec["id"]) / "custody").iterdir())[-1].unlink()
    verify, audit = _verify_and_audit(both, rec["id"])
    assert f"catalog: signed custody head: the head records {count} events, the chain has " \
        f"{count - 1} (events were removed)" in verify
    assert f"local: signed custody head: the head records {count} events" in verify
    assert f"the head records {count} events" in audit

    # ...and the heads removed too: a chain begun with heads cannot lose them unseen.
    headless = _twin(isnad, "headless")
    _sql(headless, "DELETE FROM custody_events WHERE capture_id = ? AND seq = ?", rec["id"],
         count)
    sorted((_folder(headless, rec["id"]) / "custody").iterdir())[-1].unlink()
    _sql(headless, "DELETE FROM custody_heads WHERE capture_id = ?", rec["id"])
    (_folder(headless, rec["id"]) / "custody-head.json").unlink()
    verify, audit = _verify_and_audit(headless, rec["id"])
    assert "catalog: signed custody head: missing" in verify
    assert "local: signed custody head: missing" in verify
    assert "its head was removed" in audit


@pytest.mark.e2e
def test_edited_catalog_record_and_capture_json_are_caught(isnad, site):
    rec = _e2e_capture(isnad, site)
    for column, value in (("operator", "someone else"), ("url", "http://example.org/"),
                          ("state", CaptureState.PARTIAL)):
        edited = _twin(isnad, f"edited-{column}")
        _sql(edited, f"UPDATE captures SET {column} = ? WHERE id = ?", value, rec["id"])
        verify, audit = _verify_and_audit(edited, rec["id"])
        assert f"catalog: signed custody head: the capture record does not match its signed " \
            f"head (edited: {column})" in verify, verify
        assert f"(edited: {column})" in audit
    hashes = _twin(isnad, "edited-artifact")
    _sql(hashes, "UPDATE artifacts SET sha256 = ? WHERE capture_id = ?", "0" * 64, rec["id"])
    verify, _ = _verify_and_audit(hashes, rec["id"])
    assert "(edited: artifacts)" in verify

    index = _twin(isnad, "edited-index")
    path = _folder(index, rec["id"]) / "capture.json"
    record = json.loads(path.read_text())
    record["capture"]["operator"] = "someone else"
    path.write_text(json.dumps(record))
    verify, audit = _verify_and_audit(index, rec["id"])
    assert "local: signed custody head: the capture record does not match its signed head " \
        "(edited: operator)" in verify
    assert "local: signed custody head" in audit


@pytest.mark.e2e
def test_a_consistently_rehashed_chain_needs_the_key(isnad, site, tmp_path):
    rec = _e2e_capture(isnad, site)
    forged = _twin(isnad, "forged")
    folder = _folder(forged, rec["id"])
    events = [CustodyEvent.from_dict(json.loads(p.read_text()))
              for p in sorted((folder / "custody").iterdir())]
    rewritten = []
    for event in events:  # the operator rewritten, every hash recomputed, in both places
        actor = "someone else" if event.seq == 1 else event.actor
        rewritten.append(next_event(rewritten[-1] if rewritten else None,
                                    capture_id=event.capture_id, actor=actor,
                                    action=event.action, object_sha256=event.object_sha256,
                                    details=event.details, time=event.time))
    assert chain_problems(rewritten) == []
    for old, new in zip(events, rewritten, strict=True):
        (folder / "custody" / f"{old.seq:06d}-{old.action}.json").write_text(new.to_json())
        _sql(forged, "UPDATE custody_events SET actor = ?, prev_hash = ?, hash = ? "
             "WHERE capture_id = ? AND seq = ?", new.actor, new.prev_hash, new.hash,
             new.capture_id, new.seq)
    verify, _ = _verify_and_audit(forged, rec["id"])
    assert "the chain was rewritten" in verify
    # A new head signed by another key is not trusted either.
    from archiver.custody import chain_head, head_signed_bytes
    from archiver.signing import init_keys, sign_bytes

    other = init_keys(tmp_path / "other-keys")
    head = chain_head(rec["id"], rewritten,
                      json.loads((folder / "custody-head.json").read_text())["record_sha256"])
    head["signature"] = sign_bytes(other, head_signed_bytes(head))
    (folder / "custody-head.json").write_text(json.dumps(head))
    _sql(forged, "UPDATE custody_heads SET head = ? WHERE capture_id = ?", json.dumps(head),
         rec["id"])
    verify, _ = _verify_and_audit(forged, rec["id"])
    assert "is not among the trusted keys" in verify


@pytest.mark.e2e
def test_an_empty_custody_file_is_a_finding_not_a_crash(isnad, site):
    rec = _e2e_capture(isnad, site)
    first = sorted((_folder(isnad, rec["id"]) / "custody").iterdir())[0]
    first.write_bytes(b"")
    verify, audit = _verify_and_audit(isnad, rec["id"])
    assert f"{first.name} is empty (0 bytes)" in verify
    assert f"{first.name} is empty (0 bytes)" in audit


@pytest.mark.e2e
def test_verify_of_a_failed_capture_says_what_it_is(isnad):
    failed = isnad.capture("--no-browser", "http://127.0.0.1:9/")
    assert failed["state"] == CaptureState.FAILED
    run = isnad("verify", failed["id"])
    assert run.code == 0, run.stdout + run.stderr
    assert "FAILED CAPTURE" in run.stdout and "INTACT" not in run.stdout
    assert "no package; custody chain checked" in run.stdout
    report = isnad("verify", failed["id"], "--json").json()[0]
    compared = next(c for c in report["checks"]
                    if c["name"] == "local: custody events in storage match the catalog")
    events = len(isnad("show", failed["id"], "--json").json()["custody"])
    # Storage holds every event the catalog held before this verification (its own included
    # from the first run), compared in full.
    assert compared["ok"] and compared["detail"] == f"identical ({events - 1} events)"


@pytest.mark.e2e
def test_anchored_custody_cannot_be_rewritten_even_with_the_key(isnad, site, tmp_path):
    from archiver.custody import chain_head, head_signed_bytes
    from archiver.signing import load_key, sign_bytes
    from tests.tsa import LocalTSA

    with LocalTSA(tmp_path / "tsa") as tsa:
        isnad.env["ISNAD_TIMESTAMPS__TSA"] = json.dumps([tsa.config_entry()])
        rec = _e2e_capture(isnad, site)
        anchored = isnad("custody", "anchor")
        assert anchored.code == 0 and "anchored" in anchored.stdout, anchored.stdout
        assert isnad("custody", "anchor").stdout.strip() == "nothing new to anchor"
        assert isnad("custody", "anchor", "--json").json() == {"anchored": [], "problems": []}
        report = isnad("verify", rec["id"], "--json").json()[0]
        assert report["ok"], [c for c in report["checks"] if not c["ok"]]
        anchor = [c for c in report["checks"] if "custody anchored at event" in c["name"]]
        assert len(anchor) == 1 and "verifies; the chain still holds it" in anchor[0]["detail"]

        # The catalog rebuilt from storage alone keeps the heads and the anchors.
        rebuilt = _twin(isnad, "rebuilt")
        (rebuilt.home / "catalog.db").unlink()
        assert rebuilt("reindex").code == 0
        report = rebuilt("verify", rec["id"], "--json").json()[0]
        assert report["ok"], [c for c in report["checks"] if not c["ok"]]
        assert any("custody anchored at event" in c["name"] for c in report["checks"])

        # Whoever holds the key rewrites the chain and signs new heads: the anchor still shows.
        forged = _twin(isnad, "forged-with-key")
        folder = _folder(forged, rec["id"])
        events = [CustodyEvent.from_dict(json.loads(p.read_text()))
                  for p in sorted((folder / "custody").iterdir())]
        rewritten = []
        for event in events:
            rewritten.append(next_event(
                rewritten[-1] if rewritten else None, capture_id=event.capture_id,
                actor="someone else" if event.seq == 1 else event.actor, action=event.action,
                object_sha256=event.object_sha256, details=event.details, time=event.time))
        for old, new in zip(events, rewritten, strict=True):
            (folder / "custody" / f"{old.seq:06d}-{old.action}.json").write_text(new.to_json())
            _sql(forged, "UPDATE custody_events SET actor = ?, prev_hash = ?, hash = ? "
                 "WHERE capture_id = ? AND seq = ?", new.actor, new.prev_hash, new.hash,
                 new.capture_id, new.seq)
        old_head = json.loads((folder / "custody-head.json").read_text())
        head = chain_head(rec["id"], rewritten, old_head["record_sha256"])
        head["signature"] = sign_bytes(load_key(forged.home / "keys"), head_signed_bytes(head))
        (folder / "custody-head.json").write_text(json.dumps(head))
        _sql(forged, "UPDATE custody_heads SET head = ? WHERE capture_id = ?", json.dumps(head),
             rec["id"])
        verify = forged("verify", rec["id"])
        assert verify.code == 1, verify.stdout
        assert "custody anchored at event" in verify.stdout
        assert "(the chain was rewritten)" in verify.stdout

        # The anchors dropped from the catalog: their tokens on storage still count.
        dropped = _twin(isnad, "anchors-dropped")
        _sql(dropped, "UPDATE custody_heads SET anchors = '[]' WHERE capture_id = ?", rec["id"])
        verify = dropped("verify", rec["id"])
        assert verify.code == 1 and "custody anchors listed in the catalog" in verify.stdout


# -- the library: heads as the archive writes them ---------------------------------------------

def _archive(tmp_path: Path):
    from archiver.archive import Archive
    from archiver.catalog import Catalog
    from archiver.signing import init_keys
    from archiver.storage import LocalFolderStorage

    archive = Archive(tmp_path / "home", Catalog(f"sqlite:///{tmp_path / 'catalog.db'}"),
                      [LocalFolderStorage(tmp_path / "packages")])
    key = init_keys(tmp_path / "keys")
    archive.use_head_key(lambda: key)
    return archive, key


def test_every_event_leaves_a_signed_head_and_a_break_is_never_signed_away(tmp_path):
    from archiver.archive import capture_index, record_sha256
    from archiver.capture import CaptureRequest, begin_capture
    from archiver.custody import head_problems, head_signed_bytes
    from archiver.signing import verify_bytes

    archive, key = _archive(tmp_path)
    session = begin_capture(archive, CaptureRequest("http://127.0.0.1:9/", "analyst"), {})
    cid = session.capture_id
    archive.record_event(cid, "analyst", "noted", None, {"n": 1})
    archive.record_event(cid, "analyst", "noted", None, {"n": 2})
    head = archive.catalog.head(cid).head
    events = archive.catalog.events(cid)
    assert head["count"] == 3 and head["last_hash"] == events[-1].hash
    assert verify_bytes(head["signature"], head_signed_bytes(head), {key.fingerprint}).ok
    row = archive.catalog.get(cid)
    assert head_problems(head, events, record_sha256(capture_index(row))) == []

    # The last event removed behind the archive's back, then a new event recorded: the new
    # head is signed, but it carries the break.
    con = sqlite3.connect(tmp_path / "catalog.db")
    with con:
        con.execute("DELETE FROM custody_events WHERE capture_id = ? AND seq = 3", (cid,))
    con.close()
    archive.record_event(cid, "auditor", CustodyAction.VERIFICATION_FAILED, None, checked_only=True)
    head = archive.catalog.head(cid).head
    events = archive.catalog.events(cid)
    assert head["count"] == len(events) == 3 and head["breaks"][0]["at_event"] == 3
    problems = head_problems(head, events, record_sha256(capture_index(row)))
    assert any("the head records 3 events, the chain has 2" in p for p in problems), problems
    archive.record_event(cid, "analyst", "noted", None)
    assert archive.catalog.head(cid).head["breaks"] == head["breaks"]  # carried, not doubled


def test_checking_never_vouches_for_an_edited_record(tmp_path):
    from archiver.archive import capture_index, record_sha256
    from archiver.capture import CaptureRequest, begin_capture

    archive, _ = _archive(tmp_path)
    cid = begin_capture(archive, CaptureRequest("http://127.0.0.1:9/", "analyst"), {}).capture_id
    signed = archive.catalog.head(cid).head["record_sha256"]
    archive.catalog.update_capture(cid, operator="someone else")  # behind the archive's back
    archive.record_event(cid, "auditor", CustodyAction.VERIFIED, None, checked_only=True)
    head = archive.catalog.head(cid).head
    assert head["record_sha256"] == signed
    assert head["record_sha256"] != record_sha256(capture_index(archive.catalog.get(cid)))


def test_an_edit_behind_the_catalogs_back_is_never_signed_in(tmp_path):
    from archiver.archive import capture_index, record_fields, record_sha256
    from archiver.capture import CaptureRequest, begin_capture

    archive, _ = _archive(tmp_path)
    cid = begin_capture(archive, CaptureRequest("http://127.0.0.1:9/", "analyst"), {}).capture_id
    signed = archive.catalog.head(cid).head["record_sha256"]
    con = sqlite3.connect(tmp_path / "catalog.db")
    with con:
        con.execute("UPDATE captures SET operator = 'someone else' WHERE id = ?", (cid,))
    con.close()
    # Any later event, not only checks:
    archive.record_event(cid, "analyst", CustodyAction.EXPORTED, None)
    assert archive.catalog.head(cid).head["record_sha256"] == signed
    # A change made through the catalog is signed in with the next event; the edit still not.
    archive.catalog.update_capture(cid, state=CaptureState.FAILED)
    archive.record_event(cid, "isnad", CustodyAction.FAILED, None)
    head = archive.catalog.head(cid).head
    current = record_fields(capture_index(archive.catalog.get(cid)))
    assert head["record_fields"]["state"] == current["state"]
    assert head["record_fields"]["operator"] != current["operator"]
    assert head["record_sha256"] != record_sha256(capture_index(archive.catalog.get(cid)))


def test_queued_events_are_recorded_in_order_and_strays_kept_aside(tmp_path):
    from archiver.capture import CaptureRequest, begin_capture

    archive, _ = _archive(tmp_path)
    cid = begin_capture(archive, CaptureRequest("http://127.0.0.1:9/", "analyst"), {}).capture_id
    archive.queue_root.mkdir(parents=True)
    entry = {"capture_id": cid, "actor": "auditor", "action": CustodyAction.VERIFIED,
             "object_sha256": None, "details": {"checks": 3}, "checked_only": True,
             "time": "2026-01-02T03:04:05.000000Z"}
    (archive.queue_root / "2026-01-02T03:04:05.000000Z-1.json").write_text(json.dumps(entry))
    (archive.queue_root / "2026-01-02T03:04:06.000000Z-1.json").write_text(
        json.dumps({**entry, "capture_id": "not-in-this-catalog"}))
    fresh = archive.queue_root / "2099-01-01T00:00:00.000000Z-2.json"
    fresh.write_text(json.dumps(entry))
    old = 1_700_000_000
    for path in archive.queue_root.iterdir():
        if path != fresh:
            os.utime(path, (old, old))
    assert archive.record_queued_events(min_age=60) == 1
    last = archive.catalog.events(cid)[-1]
    assert last.action == CustodyAction.VERIFIED and last.time == entry["time"]
    assert "queued" in last.details and chain_problems(archive.catalog.events(cid)) == []
    left = sorted(p.name for p in archive.queue_root.iterdir())
    assert left == ["2026-01-02T03:04:06.000000Z-1.json.unrecorded", fresh.name]


def test_a_chain_recorded_before_heads_still_verifies_and_gets_heads_from_then_on(tmp_path):
    from datetime import UTC, datetime

    from archiver.audit import custody_checks
    from archiver.catalog import FAILED, CaptureRow

    archive, _ = _archive(tmp_path)
    archive.catalog.add_capture(CaptureRow(
        id="01a00000-0000-7000-8000-000000000001", url="http://127.0.0.1:9/", state=FAILED,
        reasons=["old"], operator="analyst", started_at=datetime.now(UTC), context={}))
    cid = "01a00000-0000-7000-8000-000000000001"
    old = None
    # As the code before heads wrote them:
    for action in (CustodyAction.REQUESTED, CustodyAction.FAILED):
        old = next_event(old, capture_id=cid, actor="analyst", action=action,
                         object_sha256=None)
        archive.catalog.add_event(old)
    archive.preserve(cid, None, "analyst")  # stores capture.json and the events
    checks = custody_checks(archive, archive.catalog.get(cid))
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
    assert any("recorded before custody heads" in c.detail for c in checks)
    archive.record_event(cid, "auditor", CustodyAction.VERIFIED, None, checked_only=True)
    head = archive.catalog.head(cid).head
    assert head["count"] == 3 and "breaks" not in head
    checks = custody_checks(archive, archive.catalog.get(cid))
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
