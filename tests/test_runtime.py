"""The capture runtime, end to end: the real `isnad submit`, `isnad worker` (Huey on its SQLite
file) and `isnad capture`, capture processes, signals and kill -9, on the fixture site."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from archiver.catalog import Catalog
from archiver.jobs import JobRow, JobStore
from archiver.states import CaptureState, CustodyAction, JobState

pytestmark = pytest.mark.e2e


def jobs_of(isnad) -> JobStore:
    return JobStore(Catalog(f"sqlite:///{isnad.home / 'catalog.db'}"))


def catalog_of(isnad) -> Catalog:
    return Catalog(f"sqlite:///{isnad.home / 'catalog.db'}")


def wait_for(what: Callable[[], object], timeout: float = 120, why: str = "") -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting: {why}")


def start_worker(isnad, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(isnad.command("worker", *args), cwd=isnad.home,
                            env={**isnad.env, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def submit(isnad, *args: str) -> list[dict]:
    run = isnad("submit", "--json", "--no-browser", *args)
    assert run.code == 0, run
    return run.json()


def running_with_capture(store: JobStore, job_id: str) -> JobRow | None:
    row = store.get(job_id)
    return row if row.state == JobState.RUNNING and store.captures(job_id) else None


def slow(site, seconds: float, n: int = 0) -> str:
    return site.url(f"/slow-page?seconds={seconds}&n={n}")


def test_submit_returns_at_once_and_a_worker_captures_each_job_once(isnad, site):
    urls = [site.url(p) for p in ("/", "/arabic.html", "/links.html")]
    jobs = submit(isnad, *urls, "--case", "CASE-7", "--tag", "batch")
    assert [j["state"] for j in jobs] == ["queued"] * 3
    assert {j["url"] for j in jobs} == set(urls)
    worker = isnad("worker", "--burst", "--concurrency", "2", timeout=300)
    assert worker.code == 0, worker
    listed = {j["id"]: j for j in isnad("jobs", "--json").json()}
    catalog = catalog_of(isnad)
    for job in jobs:
        done = listed[job["id"]]
        assert done["state"] == "done" and done["attempts"] == 1, done
        (capture_id,) = done["captures"]
        row = catalog.get(capture_id)
        assert row.state == CaptureState.COMPLETE and row.case_id == "CASE-7"
        requested = catalog.events(capture_id)[0]
        assert requested.action == CustodyAction.REQUESTED
        assert requested.details["origin"] == {"job": job["id"], "attempt": 1, "source": "cli"}
        assert isnad("verify", capture_id).code == 0
    # Each job's message was taken once; nothing is left in the queue.
    assert not isnad("jobs", "--state", "queued", "--json").json()


def test_a_batch_file_with_bad_lines_queues_the_good_ones(isnad, site):
    batch = isnad.home / "urls.txt"
    batch.write_text(f"# from the partner\n{site.url('/')}\nnot-a-url\n\n"
                     f"{site.url('/arabic.html')}  # the Arabic page\nftp://127.0.0.1/x\n")
    run = isnad("submit", "-i", str(batch))
    assert run.code == 1, run
    assert "line 3: not an http(s) URL" in run.stderr
    assert "line 6: not an http(s) URL" in run.stderr
    queued = isnad("jobs", "--json").json()
    assert sorted(j["url"] for j in queued) == sorted([site.url("/"), site.url("/arabic.html")])
    csv_file = isnad.home / "urls.csv"
    csv_file.write_text(f"url,case,tags,priority\n{site.url('/links.html')},C-9,a;b,70\n"
                        f"{site.url('/big.html')},,,soon\n")
    run = isnad("submit", "-i", str(csv_file), "--json")
    assert run.code == 1 and "line 3: priority 'soon' is not a whole number" in run.stderr
    (job,) = run.json()
    assert (job["case"], job["tags"], job["priority"]) == ("C-9", ["a", "b"], 70)
    empty = isnad("submit", "-i", str(isnad.home / "missing.txt"))
    assert empty.code == 2 and "cannot read the batch file" in empty.stderr


@pytest.mark.serial  # a hundred processes at once: it would starve the other tests
def test_a_hundred_concurrent_submissions_lose_and_duplicate_nothing(isnad, site):
    procs = [subprocess.Popen(isnad.command("submit", "--json", site.url(f"/?n={i}")),
                              cwd=isnad.home, env=isnad.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(100)]
    returned = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        returned += [j["id"] for j in json.loads(out)]
    assert len(set(returned)) == 100
    rows = jobs_of(isnad).list()
    assert sorted(r.id for r in rows) == sorted(returned)
    assert sorted(r.url for r in rows) == sorted(site.url(f"/?n={i}") for i in range(100))
    # And the queue holds each job once.
    from huey import SqliteHuey
    queue = SqliteHuey("isnad", filename=str(isnad.home / "queue.db"))
    messages = [m for m in queue.storage.enqueued_items()]
    assert len(messages) == 100


@pytest.mark.serial  # the order jobs start in: no other load may reorder them
def test_priorities_are_honoured(isnad, site):
    low = submit(isnad, site.url("/?p=low"), "--priority", "10")[0]
    normal = submit(isnad, site.url("/?p=normal"))[0]
    high = submit(isnad, site.url("/?p=high"), "--priority", "60")[0]
    assert isnad("worker", "--burst", "-c", "1", timeout=300).code == 0
    store = jobs_of(isnad)
    started = sorted((store.get(j["id"]).started_at, j["id"]) for j in (low, normal, high))
    assert [job_id for _, job_id in started] == [high["id"], normal["id"], low["id"]]


def test_cancelling_a_queued_and_a_running_job(isnad, site):
    running = submit(isnad, slow(site, 60))[0]
    queued = submit(isnad, site.url("/?never"))[0]
    assert isnad("jobs", "cancel", queued["id"]).stdout.startswith("cancelled")
    worker = start_worker(isnad, "--burst", "-c", "1")
    store = jobs_of(isnad)
    try:
        wait_for(lambda: running_with_capture(store, running["id"]), why="the job to start")
        time.sleep(1)
        run = isnad("jobs", "cancel", running["id"][:13])
        assert run.code == 0 and "asked the worker" in run.stdout, run
        wait_for(lambda: store.get(running["id"]).state == JobState.CANCELLED, 60,
                 "the running job to be cancelled")
        assert worker.wait(120) == 0
    finally:
        worker.kill()
    (capture_id,) = store.captures(running["id"])
    assert catalog_of(isnad).get(capture_id).state == CaptureState.FAILED
    assert store.get(queued["id"]).state == JobState.CANCELLED
    assert not store.captures(queued["id"])  # never run
    again = isnad("jobs", "cancel", queued["id"])
    assert again.code == 1 and "already cancelled" in again.stderr


def test_a_worker_killed_mid_capture_has_its_job_completed_once(isnad, site):
    job = submit(isnad, slow(site, 8))[0]
    worker = start_worker(isnad, "-c", "1")
    store = jobs_of(isnad)
    wait_for(lambda: running_with_capture(store, job["id"]), why="the job to start")
    time.sleep(1.5)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    (first,) = store.captures(job["id"])
    catalog = catalog_of(isnad)
    pid = catalog.get(first).worker_pid
    # The capture process dies with its worker: nothing goes on capturing unseen.
    wait_for(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie",
             30, "the capture process to die with its worker")
    assert store.get(job["id"]).state == JobState.RUNNING  # until someone notices
    restarted = isnad("worker", "--burst", "-c", "1", timeout=300)
    assert restarted.code == 0, restarted
    row = store.get(job["id"])
    assert row.state == JobState.DONE and row.attempts == 2, row.history
    assert [h["outcome"] for h in row.history] == ["interrupted", "done"]
    captures = [catalog.get(c) for c in store.captures(job["id"])]
    assert sorted(c.state for c in captures) == ["COMPLETE", "FAILED"], [
        (c.state, c.error, c.reasons) for c in captures]
    assert sorted(c.state for c in captures) == ["COMPLETE", "FAILED"]
    failed = next(c for c in captures if c.state == CaptureState.FAILED)
    assert failed.id == first and failed.error.startswith("interrupted")
    assert (isnad.home / "quarantine" / first).is_dir()  # its files kept aside
    retried = [e for e in catalog.events(first) if e.action == CustodyAction.RETRIED]
    assert retried and retried[0].details["retried_as_attempt"] == 2
    assert isnad("verify", first).code == 0  # a FAILED capture's custody chain is intact


def test_sigterm_lets_a_running_capture_finish(isnad, site):
    job = submit(isnad, slow(site, 4))[0]
    worker = start_worker(isnad, "-c", "1")
    store = jobs_of(isnad)
    wait_for(lambda: running_with_capture(store, job["id"]), why="the job to start")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(120) == 0
    row = store.get(job["id"])
    assert row.state == JobState.DONE and row.attempts == 1
    assert not [w for w in isnad("workers", "--json").json()]


def test_sigterm_hands_back_a_capture_that_outlasts_the_drain(isnad, site):
    job = submit(isnad, slow(site, 60))[0]
    worker = start_worker(isnad, "-c", "1", env={"ISNAD_WORKER__DRAIN_TIMEOUT": "1"})
    store = jobs_of(isnad)
    wait_for(lambda: running_with_capture(store, job["id"]), why="the job to start")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(60) == 0
    row = store.get(job["id"])
    assert row.state == JobState.QUEUED and row.attempts == 1, row
    assert row.history[0]["outcome"] == "interrupted"
    (capture_id,) = store.captures(job["id"])
    assert catalog_of(isnad).get(capture_id).state == CaptureState.FAILED
    # Back in the queue, where the next worker finds it.
    from isnad.app.queue import CaptureQueue
    from isnad.config import Settings

    queue = CaptureQueue(Settings(home=isnad.home))
    assert job["id"] in [task.args[0] for task in queue.huey.pending()]


def test_a_capture_process_that_crashes_fails_that_job_only(isnad, site):
    doomed = submit(isnad, slow(site, 60))[0]
    fine = submit(isnad, site.url("/arabic.html"))[0]
    worker = start_worker(isnad, "--burst", "-c", "2")
    store = jobs_of(isnad)
    try:
        row = wait_for(lambda: running_with_capture(store, doomed["id"]),
                       why="the job to start")
        (capture_id,) = store.captures(row.id)
        pid = catalog_of(isnad).get(capture_id).worker_pid
        os.kill(pid, signal.SIGKILL)  # as when Chromium takes its process down
        assert worker.wait(300) == 0
    finally:
        worker.kill()
    dead = store.get(doomed["id"])
    assert dead.state == JobState.FAILED and "killed by SIGKILL" in dead.error
    assert store.get(fine["id"]).state == JobState.DONE
    assert catalog_of(isnad).get(capture_id).state == CaptureState.FAILED


def test_capture_waits_for_a_running_worker(isnad, site):
    worker = start_worker(isnad, "-c", "1")
    try:
        wait_for(lambda: jobs_of(isnad).workers(), 60, "the worker to register")
        run = isnad("capture", "--no-browser", "--json", site.url("/"))
        assert run.code == 0, run
        assert "worker(s) running will capture them" in run.stderr
        (record,) = run.json()
        (job,) = isnad("jobs", "--json").json()
        assert job["captures"] == [record["id"]]
        assert job["history"][0]["worker"].startswith("worker:")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)


def test_ctrl_c_during_capture_says_what_was_done_and_what_waits(isnad, site):
    proc = subprocess.Popen(isnad.command("capture", "--no-browser", "-c", "1",
                                          slow(site, 60, 1), slow(site, 60, 2)),
                            cwd=isnad.home, env=isnad.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    store = jobs_of(isnad)
    wait_for(lambda: any(running_with_capture(store, r.id) for r in store.list()),
             why="the first capture to start")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    rows = {r.url: r for r in store.list()}
    first, second = rows[slow(site, 60, 1)], rows[slow(site, 60, 2)]
    assert first.state == JobState.FAILED and "Ctrl-C" in first.error
    assert second.state == JobState.QUEUED
    assert f"{first.id}" in err and "abandoned" in err
    assert f"{second.id}" in err and "still queued" in err
    assert "isnad jobs retry" in err and "isnad worker" in err
    (capture_id,) = store.captures(first.id)
    assert catalog_of(isnad).get(capture_id).state == CaptureState.FAILED


def test_the_job_log_keeps_what_the_capture_process_said(isnad, site):
    submit(isnad, site.url("/"))
    assert isnad("worker", "--burst", timeout=300).code == 0
    (job,) = isnad("jobs", "--json").json()
    logs = list(Path(isnad.home / "logs" / "jobs").glob(f"{job['id']}-1.log"))
    assert logs, "no log of the capture process"
