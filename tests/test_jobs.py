"""Capture jobs as records: batch files, the job store's claims and settlements (no crawl)."""

from __future__ import annotations

import os
import threading

import pytest

from archiver.catalog import Catalog
from archiver.errors import CaptureRefused
from archiver.jobs import JobStore
from archiver.states import JobState
from isnad.app.jobs import JobSpec, parse_batch

TEMPLATE = JobSpec(url="", operator="alice", case_id="CASE-1", tags=("base",))


@pytest.fixture
def store(catalog_url):
    """A job store on SQLite, and again on PostgreSQL (claims are conditional UPDATEs)."""
    return JobStore(Catalog(catalog_url, upgrade=True))


def add(store: JobStore, url: str = "http://127.0.0.1:9/a", priority: int = 30):
    return store.add(url=url, spec=JobSpec(url=url, operator="alice").to_dict(),
                     priority=priority, source="cli", operator="alice", case_id=None)


def test_a_text_batch_keeps_good_lines_and_names_bad_ones_by_number():
    text = ("# sources for case 1\n\nhttp://127.0.0.1:9/a\nnot-a-url\n"
            "  https://127.0.0.1:9/b  # trailing\nftp://127.0.0.1/c\nhttp://127.0.0.1:9/d\n"
            "http://127.0.0.1:9/e http://127.0.0.1:9/f\n")
    specs, problems = parse_batch(text, TEMPLATE)
    assert [s.url for s in specs] == ["http://127.0.0.1:9/a", "https://127.0.0.1:9/b",
                                      "http://127.0.0.1:9/d"]
    assert [p.line for p in problems] == [4, 6, 8]
    assert "not an http(s) URL" in str(problems[0])
    assert all(s.operator == "alice" and s.case_id == "CASE-1" for s in specs)


def test_a_csv_batch_reads_its_columns_and_keeps_unknown_ones():
    text = ("url,case,tags,note,priority,source_row\n"
            "http://127.0.0.1:9/a,CASE-2,\"x;y\",seen on tv,50,17\n"
            "http://127.0.0.1:9/b,,,,,18\n"
            "http://127.0.0.1:9/c,,,,high,19\n"
            ",CASE-3,,,,20\n"
            "http://127.0.0.1:9/e,,,,,21,extra\n")
    specs, problems = parse_batch(text, TEMPLATE)
    first, second = specs
    assert (first.url, first.case_id, first.tags, first.note, first.priority) == (
        "http://127.0.0.1:9/a", "CASE-2", ("base", "x", "y"), "seen on tv", 50)
    assert first.extra == {"source_row": "17"}
    assert second.case_id == "CASE-1" and second.priority is None
    assert [(p.line, p.problem.split(" ")[0]) for p in problems] == [
        (4, "priority"), (5, "no"), (6, "more")]


def test_a_spec_survives_the_trip_through_json():
    spec = JobSpec(url="http://127.0.0.1:9/a", operator="bob", tags=("t",), depth=1,
                   scope="host", posts=3, source="monitor:42")
    again = JobSpec.from_dict(spec.to_dict())
    assert again == spec
    assert again.effective_priority() == 20  # a monitor's run waits for a person's
    assert JobSpec(url="http://127.0.0.1:9/", operator="x", source="import:7"
                   ).effective_priority() == 10
    with pytest.raises(CaptureRefused):
        JobSpec(url="http://127.0.0.1:9/", operator="x", source="somewhere").check()


def test_two_workers_claiming_one_job_run_it_once(store):
    job = add(store)
    wins = []

    def claim(name: str) -> None:
        attempt = store.claim(job.id, name, "host", os.getpid())
        if attempt is not None:
            wins.append((name, attempt))

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and wins[0][1] == 1
    assert store.get(job.id).state == JobState.RUNNING


def test_an_attempt_is_settled_once_and_a_stale_settlement_is_refused(store):
    job = add(store)
    assert store.claim(job.id, "w1", "host", 1) == 1
    store.link_capture(job.id, 1, "cap-1")
    assert store.requeue(job.id, 1, "its worker died")
    assert not store.finish(job.id, 1, JobState.DONE, error=None, outcome={})  # too late
    assert store.claim(job.id, "w2", "host", 2) == 2
    assert store.finish(job.id, 2, JobState.DONE, error=None, outcome={"outcome": "done"})
    row = store.get(job.id)
    assert row.state == JobState.DONE and row.attempts == 2
    assert [h["outcome"] for h in row.history] == ["interrupted", "done"]
    assert row.history[0]["captures"] == ["cap-1"]


def test_cancel_and_retry(store):
    queued, running = add(store), add(store, "http://127.0.0.1:9/b")
    store.claim(running.id, "w", "host", 1)
    assert store.cancel(queued.id) == JobState.CANCELLED
    assert store.claim(queued.id, "w", "host", 1) is None  # a cancelled job never runs
    assert store.cancel(running.id) == JobState.RUNNING  # asked; its worker stops it
    assert store.cancel_requested([running.id, queued.id]) == {running.id}
    assert not store.retry(running.id)  # still running
    assert store.retry(queued.id)
    assert store.get(queued.id).state == JobState.QUEUED


def test_a_job_whose_worker_process_is_gone_is_stale(store):
    mine, dead = add(store), add(store, "http://127.0.0.1:9/b")
    store.claim(mine.id, "w1", "here", os.getpid())
    store.claim(dead.id, "w2", "here", 999_999_999)
    stale = {row.id for row in store.stale("here", lambda pid: pid == os.getpid(), 60.0)}
    assert stale == {dead.id}
