"""States and custody actions: one set of names, equal to the text catalogs already hold.

Catalogs and custody logs written before ``archiver/states.py`` existed hold plain strings; the
enums must read them back as equal, and the text written now must be the same text (a changed
value would orphan every capture recorded before it, and break no hash until someone looks).
"""

from __future__ import annotations

import ast
import itertools
import json
import sqlite3
import subprocess
from enum import StrEnum
from pathlib import Path

import pytest

from archiver.custody import CustodyEvent, canonical_json
from archiver.states import (
    CaptureState,
    CopyState,
    CustodyAction,
    ImportFileState,
    JobSource,
    JobState,
    MonitorPostState,
    ProofState,
)

ROOT = Path(__file__).resolve().parents[1]
KINDS: list[type[StrEnum]] = [CaptureState, CopyState, ProofState, JobState, JobSource,
                              MonitorPostState, ImportFileState, CustodyAction]

# The text Isnad has written into catalogs and custody logs (before the enums, and since).
WRITTEN = {
    CaptureState: {"RUNNING", "COMPLETE", "PARTIAL", "FAILED"},
    CopyState: {"STORED", "PENDING"},
    MonitorPostState: {"seen", "captured", "disappeared", "changed"},
    ImportFileState: {"checking", "imported", "duplicate", "refused", "not-packaged"},
    ProofState: {"stamped", "pending", "stamped-late"},  # in the capture context, not a column
    CustodyAction: {"requested", "captured", "packaged", "stored", "storage-failed", "verified",
                    "verification-failed", "failed", "timestamped", "state-changed", "audited",
                    "audit-failed", "exported", "retried", "post-disappeared",
                    "post-changed", "received", "validated", "accessed", "superseded"},
}


def test_every_state_and_action_is_the_text_catalogs_hold():
    for kind, texts in WRITTEN.items():
        assert {m.value for m in kind} == texts, kind.__name__
        for text in texts:
            member = kind(text)  # what a catalog hands back reads as a member...
            assert member == text and isinstance(member, str)  # ...and compares equal to it
            assert json.dumps(member) == json.dumps(text)  # shown as the same plain text
            assert f"{member}" == str(member) == text  # in messages and storage keys too


def test_a_custody_event_hashes_the_same_with_the_member_or_its_text():
    """The chain is verified from what the catalog returns (plain text): a member must hash
    exactly as that text does, or every event recorded with a member would read as edited."""
    fields = dict(capture_id="c1", seq=1, time="2026-12-01T08:00:00.000000Z", actor="analyst",
                  object_sha256=None, details={"target": "local"})
    for action in CustodyAction:
        with_member = CustodyEvent(action=action, **fields)
        with_text = CustodyEvent(action=action.value, **fields)
        assert canonical_json(with_member.body()) == canonical_json(with_text.body())
        assert with_member.computed_hash() == with_text.computed_hash()


def test_a_failed_capture_is_not_a_failed_action():
    assert CaptureState.FAILED != CustodyAction.FAILED
    assert CaptureState.RUNNING != JobState.RUNNING
    assert CopyState.STORED != CustodyAction.STORED
    assert CopyState.PENDING != ProofState.PENDING
    with pytest.raises(ValueError):
        CaptureState(CustodyAction.FAILED.value)
    with pytest.raises(ValueError):
        CustodyAction(CaptureState.FAILED.value)


def test_old_module_constants_are_gone_or_are_the_members():
    """custody.FAILED ("failed") beside catalog.FAILED ("FAILED") was the collision: the custody
    and audit constants are gone, the catalog's remaining names are the members themselves."""
    from archiver import audit, catalog, custody, proof

    for name in ("REQUESTED", "CAPTURED", "PACKAGED", "STORED", "VERIFIED", "FAILED"):
        assert not hasattr(custody, name), name
    assert not hasattr(audit, "AUDITED")
    assert not hasattr(catalog, "RUNNING") and not hasattr(catalog, "PENDING")
    assert catalog.COMPLETE is CaptureState.COMPLETE and catalog.PARTIAL is CaptureState.PARTIAL
    assert catalog.FAILED is CaptureState.FAILED and catalog.STORED is CopyState.STORED
    assert (proof.STAMPED, proof.PENDING, proof.LATE) == tuple(ProofState)
    assert all(isinstance(c, ProofState) for c in (proof.STAMPED, proof.PENDING, proof.LATE))


# Same name, equal text, in two kinds. Allowed only where the two never meet: a job's state sits in
# the jobs table, an action in the custody log; nothing compares one with the other.
# A monitored post's state sits in monitor_posts, likewise apart from the custody log.
KNOWN_SAME_TEXT = {("JobState.FAILED", "CustodyAction.FAILED"),
                   ("MonitorPostState.CAPTURED", "CustodyAction.CAPTURED")}


def test_no_new_member_name_means_two_things_with_the_same_text():
    """A name shared by two kinds (FAILED, RUNNING, STORED) must not compare equal across them:
    else `row.state == CustodyAction.FAILED` would pass where a capture state was meant."""
    same = set()
    for a, b in itertools.combinations(KINDS, 2):
        for name in set(a.__members__) & set(b.__members__):
            if a[name] == b[name]:
                same.add((f"{a.__name__}.{name}", f"{b.__name__}.{name}"))
    assert same <= KNOWN_SAME_TEXT, same - KNOWN_SAME_TEXT


def _literals_of_states(folder: Path, root: Path = ROOT) -> list[str]:
    """Where a state or action is still spelled as a string in a comparison or a custody call."""
    texts = {m.value for kind in KINDS for m in kind}
    # Names that are also ordinary words of other sets (a request that "failed" in the recording
    # proxy's notes) only count where they meet a state or an action.
    found = []
    for path in sorted(folder.rglob("*.py")):
        if path.name == "states.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
                spelled = [o.value for o in operands
                           if isinstance(o, ast.Constant) and o.value in texts]
                about = ast.unparse(node)
                if spelled and any(w in about for w in ("state", "action")):
                    found.append(f"{path.relative_to(root)}:{node.lineno}: {about}")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr in ("record_event", "record_or_queue", "next_event"):
                args = node.args[2:3] + [k.value for k in node.keywords if k.arg == "action"]
                if any(isinstance(a, ast.Constant) and a.value in texts for a in args):
                    found.append(f"{path.relative_to(root)}:{node.lineno}: {ast.unparse(node)}")
            elif isinstance(node, ast.keyword) and node.arg == "state" and \
                    isinstance(node.value, ast.Constant) and node.value.value in texts:
                found.append(f"{path.relative_to(root)}:{node.value.lineno}: state="
                             f"{node.value.value!r}")
    return found


# Being rewritten into isnad/app/ while this was written (they still spell "verified",
# "timestamped", "state-changed"): drop them from here once they are gone or moved.
NOT_YET: set[str] = set()


def test_states_and_actions_are_named_only_by_their_members():
    found = [f for folder in ("archiver", "crawlers", "scheduler", "isnad")
             for f in _literals_of_states(ROOT / folder) if f.split(":")[0] not in NOT_YET]
    assert found == []


def test_the_literal_finder_finds_a_literal(tmp_path):
    """The check above would pass on an empty list: make sure it sees what it looks for."""
    folder = tmp_path / "pkg"
    folder.mkdir()
    (folder / "a.py").write_text(
        'def f(archive, row, cid):\n'
        '    if row.state == "STORED":\n'
        '        archive.record_event(cid, "isnad", "storage-failed", None)\n'
        '    archive.catalog.update_capture(cid, state="FAILED")\n'
        '    return "failed"\n')  # a plain return value is not a state: not reported
    found = _literals_of_states(folder, tmp_path)
    assert [f.split(":")[1] for f in found] == ["2", "3", "4"], found


# -- a real catalog, written by the current code, read back as plain text ---------------------

def _raw(database: Path) -> dict[str, set[str]]:
    """What the catalog holds, read with sqlite3 alone (no SQLAlchemy, no enums)."""
    con = sqlite3.connect(database)
    try:
        return {
            "captures": {r[0] for r in con.execute("SELECT state FROM captures")},
            "copies": {r[0] for r in con.execute("SELECT state FROM copies")},
            "actions": {r[0] for r in con.execute("SELECT action FROM custody_events")},
        }
    finally:
        con.close()


def _assert_members(raw: dict[str, set[str]]) -> None:
    for text in raw["captures"]:
        assert type(text) is str and CaptureState(text) == text
    for text in raw["copies"]:
        assert type(text) is str and CopyState(text) == text
    for text in raw["actions"]:
        assert type(text) is str and CustodyAction(text) == text


def test_a_catalog_written_through_the_archiver_reads_back_equal(tmp_path):
    from archiver.archive import Archive
    from archiver.capture import CaptureRequest, begin_capture
    from archiver.catalog import Catalog
    from archiver.signing import init_keys
    from archiver.storage import LocalFolderStorage

    broken = LocalFolderStorage(tmp_path / "broken", name="broken")
    broken.root.rmdir()
    broken.root.write_text("a file where the folder should be")  # every write there fails
    archive = Archive(tmp_path / "home", Catalog(f"sqlite:///{tmp_path / 'catalog.db'}"),
                      [LocalFolderStorage(tmp_path / "packages"), broken])
    key = init_keys(tmp_path / "keys")
    archive.use_head_key(lambda: key)

    running = begin_capture(archive, CaptureRequest("http://127.0.0.1:9/a", "analyst"), {})
    interrupted = begin_capture(archive, CaptureRequest("http://127.0.0.1:9/b", "analyst"), {})
    gone = subprocess.Popen(["true"])
    gone.wait()  # a process that has ended: its capture was interrupted
    archive.catalog.update_capture(interrupted.capture_id, worker_pid=gone.pid)
    assert archive.recover_interrupted() == [interrupted.capture_id]

    raw = _raw(tmp_path / "catalog.db")
    _assert_members(raw)
    assert raw["captures"] == {CaptureState.RUNNING, CaptureState.FAILED}
    assert raw["copies"] == {CopyState.STORED, CopyState.PENDING}
    assert raw["actions"] == {CustodyAction.REQUESTED, CustodyAction.FAILED,
                              CustodyAction.STORAGE_FAILED}
    # Through the catalog the same text comes back, and compares equal to the members.
    assert archive.catalog.get(running.capture_id).state == CaptureState.RUNNING
    row = archive.catalog.get(interrupted.capture_id)
    assert row.state == CaptureState.FAILED
    assert {c.target: c.state for c in row.copies} == {"local": CopyState.STORED,
                                                       "broken": CopyState.PENDING}
    assert [e.action for e in archive.catalog.events(row.id)] == [
        CustodyAction.REQUESTED, CustodyAction.FAILED, CustodyAction.STORAGE_FAILED]
    # The copy on storage holds the same text, in the events and in their file names.
    files = sorted((tmp_path / "packages").rglob("custody/*.json"))
    assert [f.name for f in files] == ["000001-requested.json", "000002-failed.json",
                                       "000003-storage-failed.json"]
    assert [json.loads(f.read_text())["action"] for f in files] == [
        CustodyAction.REQUESTED, CustodyAction.FAILED, CustodyAction.STORAGE_FAILED]


@pytest.mark.e2e
def test_a_catalog_written_by_the_cli_reads_back_equal(isnad, site, tmp_path):
    """Capture, verify, audit and export with the real CLI; every state and action the catalog
    then holds is a member, and the JSON the CLI prints compares equal to the members."""
    rec = isnad.capture("--no-browser", site.url("/final.html"))
    assert rec["state"] == CaptureState.COMPLETE, rec["stderr"]
    refused = isnad.capture("--no-browser", "http://127.0.0.1:9/")  # nothing listens there
    assert refused["state"] == CaptureState.FAILED, refused
    assert isnad("verify", rec["id"]).code == 0
    assert isnad("audit").code == 0
    assert isnad("export", rec["id"], "-o", str(tmp_path / "bundle")).code == 0

    raw = _raw(isnad.home / "catalog.db")
    _assert_members(raw)
    assert raw["captures"] == {CaptureState.COMPLETE, CaptureState.FAILED}
    assert raw["copies"] == {CopyState.STORED}
    assert raw["actions"] >= {CustodyAction.REQUESTED, CustodyAction.CAPTURED,
                              CustodyAction.PACKAGED, CustodyAction.STORED,
                              CustodyAction.VERIFIED, CustodyAction.FAILED,
                              CustodyAction.AUDITED, CustodyAction.EXPORTED}
    shown = isnad("show", rec["id"], "--json").json()
    assert [e["action"] for e in shown["custody"]][-3:] == [
        CustodyAction.VERIFIED, CustodyAction.AUDITED, CustodyAction.EXPORTED]
