"""A late or partitioned worker cannot seal a second result for one job, and a capture left
by a dead process is settled once however many processes look (issue 16). Real catalogs
(SQLite, PostgreSQL), real packages; no crawl."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from archiver.archive import Archive
from archiver.capture import CaptureRequest, CaptureSession, begin_capture
from archiver.catalog import Catalog
from archiver.jobs import JobStore
from archiver.states import CaptureState, CustodyAction, JobState
from archiver.storage import LocalFolderStorage
from archiver.verify import verify_package_file
from isnad.app.jobs import JobSpec

URL = "http://127.0.0.1:9/page"


@pytest.fixture
def archive(catalog_url, tmp_path) -> Archive:
    """An archive on SQLite, and again on PostgreSQL."""
    made = Archive(tmp_path / "home", Catalog(catalog_url, upgrade=True),
                   [LocalFolderStorage(tmp_path / "vault")], host="machine-a")
    yield made
    made.catalog.engine.dispose()


def claimed_job(store: JobStore, worker: str = "worker:machine-a:1:1") -> tuple[str, int]:
    job = store.add(url=URL, spec=JobSpec(url=URL, operator="alice").to_dict(), priority=30,
                    source="cli", operator="alice", case_id=None)
    return job.id, store.claim(job.id, worker, "machine-a", 1)


def captured(archive: Archive, store: JobStore, job_id: str, attempt: int) -> CaptureSession:
    """A capture of the job's attempt with one exchange written, ready to be sealed."""
    session = begin_capture(archive, CaptureRequest(
        URL, "alice", origin={"job": job_id, "attempt": attempt, "source": "cli"}), {})
    store.link_capture(job_id, attempt, session.capture_id)
    warc = session.new_warc({"software": "test"})
    warc.write_exchange(url=URL, method="GET", request_headers=[], request_body=None,
                        status=200, reason="OK",
                        response_headers=[("Content-Type", "text/html")],
                        body=b"<html><title>t</title>evidence</html>")
    return session


def seal(session: CaptureSession):
    return session.finish(state=CaptureState.COMPLETE, reasons=[], context={"final_url": URL},
                          pages=[{"url": URL, "title": "t"}], title="t")


def test_a_capture_of_the_current_attempt_is_sealed_complete(archive):
    store = JobStore(archive.catalog)
    job_id, attempt = claimed_job(store)
    result = seal(captured(archive, store, job_id, attempt))
    assert result.state == CaptureState.COMPLETE and result.stored
    assert archive.catalog.get(result.capture_id).state == CaptureState.COMPLETE


def test_a_late_worker_whose_job_was_run_again_records_its_result_as_superseded(archive):
    store = JobStore(archive.catalog)
    job_id, first = claimed_job(store)
    late = captured(archive, store, job_id, first)
    # Meanwhile machine A was silent: another worker queued the job again and took it.
    assert store.requeue(job_id, first, "its worker went silent")
    second = store.claim(job_id, "worker:machine-b:2:1", "machine-b", 2)
    assert second == first + 1

    result = seal(late)  # machine A comes back and finishes its capture
    cid = result.capture_id
    row = archive.catalog.get(cid)
    assert result.state == row.state == CaptureState.FAILED, row.error
    assert row.error.startswith(f"superseded: job {job_id} attempt {first}"), row.error
    assert row.package_sha256 is None  # no package is the job's result
    events = archive.catalog.events(cid)
    (event,) = [e for e in events if e.action == CustodyAction.SUPERSEDED]
    assert event.details["job"] == job_id and event.details["attempt"] == first
    assert event.details["superseded_by_attempt"] == second
    assert event.details["would_have_been"] == CaptureState.COMPLETE
    # Nothing lost: the package it made is kept aside, whole, and named in the event.
    kept = Path(event.details["package_kept_in"]) / f"{cid}.wacz"
    assert kept.is_file() and kept.parent == archive.quarantine_root / cid
    assert event.object_sha256 == next(e.object_sha256 for e in events
                                       if e.action == CustodyAction.PACKAGED)
    from archiver.proof import ProofOptions

    assert verify_package_file(kept, ProofOptions(allow_unsigned=True)).ok
    assert not [c for c in store.captures(job_id)
                if archive.catalog.get(c).state == CaptureState.COMPLETE]
    assert store.get(job_id).state == JobState.RUNNING  # the second attempt goes on


def test_a_job_whose_attempt_sealed_a_capture_is_not_queued_again(archive):
    """The other side of the race: a recovery that looked (capture RUNNING, worker silent)
    before the capture was sealed must not queue the job for a second COMPLETE."""
    store = JobStore(archive.catalog)
    job_id, attempt = claimed_job(store)
    sealed = seal(captured(archive, store, job_id, attempt))
    assert sealed.state == CaptureState.COMPLETE
    assert not store.requeue(job_id, attempt, "its worker went silent")
    row = store.get(job_id)
    assert (row.state, row.attempts, row.history) == (JobState.RUNNING, attempt, [])
    assert store.finish(job_id, attempt, JobState.DONE, error=None, outcome={"outcome": "done"})


def test_a_dead_process_capture_is_settled_once_when_two_processes_look(archive, tmp_path):
    session = begin_capture(archive, CaptureRequest(URL, "alice"), {})
    cid = session.capture_id
    (session.work_dir / "partial.warc.gz.open").write_bytes(b"partial")
    gone = subprocess.Popen(["true"])
    gone.wait()
    archive.catalog.update_capture(cid, worker_pid=gone.pid)
    # Another process of the same machine (its own catalog connection) listed the RUNNING
    # captures just before this one settled them.
    other = Archive(archive.home, Catalog(str(archive.catalog.engine.url.render_as_string(
        hide_password=False))), archive.targets, host="machine-a")
    seen = other.catalog.list(state=CaptureState.RUNNING)
    assert archive.recover_interrupted() == [cid]
    other.catalog.list = lambda state=None: seen  # noqa: ARG005 - its earlier look
    assert other.recover_interrupted() == []
    other.catalog.engine.dispose()
    row = archive.catalog.get(cid)
    assert row.state == CaptureState.FAILED
    assert row.work_dir == str(archive.quarantine_root / cid)  # not overwritten by the other
    assert (archive.quarantine_root / cid / "partial.warc.gz.open").read_bytes() == b"partial"
    assert [e.action for e in archive.catalog.events(cid)].count(CustodyAction.FAILED) == 1
