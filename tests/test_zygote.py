"""Warm capture processes (isnad.app.zygote), end to end: real `isnad worker` and `isnad capture`
processes whose capture processes are forked from a warm process; kill -9 of the worker and of
the warm process; a warm process that cannot start; the setting that turns it off."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from archiver.states import CaptureState, JobState
from tests.test_runtime import (
    catalog_of,
    jobs_of,
    running_with_capture,
    slow,
    start_worker,
    submit,
    wait_for,
)

pytestmark = pytest.mark.e2e

FORKED = re.compile(r"capture process (\d+) forked from warm process (\d+) \((\d+) modules")


def job_log(isnad, job_id: str, attempt: int = 1) -> str:
    return (isnad.home / "logs" / "jobs" / f"{job_id}-{attempt}.log").read_text()


def warm_process_of(worker: subprocess.Popen) -> psutil.Process:
    """The worker's warm process: its child running ``isnad.app.zygote``."""
    def find() -> psutil.Process | None:
        for child in psutil.Process(worker.pid).children():
            try:
                if "isnad.app.zygote" in child.cmdline():
                    return child
            except psutil.Error:
                continue
        return None
    return wait_for(find, 120, "the worker's warm process")


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def forked_capture(isnad, store, job_id: str, warm: psutil.Process) -> tuple[str, int]:
    """The capture id and process of a job once it runs, checked to be the warm process's."""
    row = wait_for(lambda: running_with_capture(store, job_id), why="the job to start")
    (capture_id,) = store.captures(row.id)
    pid = catalog_of(isnad).get(capture_id).worker_pid
    assert psutil.Process(pid).ppid() == warm.pid  # forked by the warm process, not fresh
    return capture_id, pid


def test_a_job_runs_in_a_process_forked_from_the_warm_process(isnad, site):
    job = submit(isnad, slow(site, 4))[0]
    worker = start_worker(isnad, "-c", "1")
    store = jobs_of(isnad)
    try:
        warm = warm_process_of(worker)
        # The imports are done once, in the warm process: its memory holds the compiled
        # modules a capture needs (lxml's, cryptography's, SQLAlchemy's) before any job forks.
        wait_for(lambda: all(lib in Path(f"/proc/{warm.pid}/maps").read_text()
                             for lib in ("lxml/etree", "cryptography/hazmat/bindings")),
                 120, "the warm process to import what a capture needs")
        capture_id, pid = forked_capture(isnad, store, job["id"], warm)
        process = psutil.Process(pid)
        assert "isnad.app.zygote" in process.cmdline()
        assert "isnad.app.child" not in process.cmdline()
        assert os.getpgid(pid) == pid and os.getsid(pid) == pid  # the runner ends its group
        wait_for(lambda: store.get(job["id"]).state == JobState.DONE, 180, "the job to end")
    finally:
        stop(worker)
    assert worker.returncode == 0
    # The warm process ends with its worker.
    wait_for(lambda: gone(warm.pid), 30, "the warm process to end with its worker")
    forked = FORKED.search(job_log(isnad, job["id"]))
    assert forked, job_log(isnad, job["id"])
    assert (int(forked[1]), int(forked[2])) == (pid, warm.pid)
    assert int(forked[3]) > 500  # Scrapy, Twisted and the rest came with the fork
    # ... out of the collector's sight: the capture process never walks (nor copies, by
    # writing to their headers) the warm process's objects in a full collection of its own.
    frozen = re.search(r"(\d+) objects frozen out of the collector's sight",
                       job_log(isnad, job["id"]))
    assert frozen and int(frozen[1]) > 50_000, job_log(isnad, job["id"])
    assert catalog_of(isnad).get(capture_id).state == CaptureState.COMPLETE
    assert isnad("verify", capture_id).code == 0


def test_a_worker_killed_with_9_takes_its_warm_process_and_capture_with_it(isnad, site):
    job = submit(isnad, slow(site, 60))[0]
    worker = start_worker(isnad, "-c", "1")
    store = jobs_of(isnad)
    try:
        warm = warm_process_of(worker)
        capture_id, pid = forked_capture(isnad, store, job["id"], warm)
    finally:
        worker.kill()
        worker.wait()
    # PDEATHSIG all the way down: nothing goes on capturing unseen.
    wait_for(lambda: gone(warm.pid), 30, "the warm process to die with its worker")
    wait_for(lambda: gone(pid), 30, "the capture process to die with the warm process")
    restarted = isnad("worker", "--burst", "-c", "1", timeout=300)
    assert restarted.code == 0, restarted
    row = store.get(job["id"])
    assert row.state == JobState.DONE and row.attempts == 2, row.history
    assert [h["outcome"] for h in row.history] == ["interrupted", "done"]


def test_a_warm_process_killed_mid_job_fails_that_job_and_the_next_one_runs(isnad, site):
    doomed = submit(isnad, slow(site, 60))[0]
    fine = submit(isnad, site.url("/arabic.html"))[0]
    worker = start_worker(isnad, "--burst", "-c", "1")
    store = jobs_of(isnad)
    try:
        warm = warm_process_of(worker)
        capture_id, pid = forked_capture(isnad, store, doomed["id"], warm)
        warm.kill()  # SIGKILL: the capture process dies with it, unreaped by it
        assert worker.wait(300) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    stderr = worker.stderr.read()
    dead = store.get(doomed["id"])
    # Settled as any capture process that dies: FAILED with how it ended, its capture too.
    assert dead.state == JobState.FAILED and "killed by SIGKILL" in dead.error, dead.error
    assert catalog_of(isnad).get(capture_id).state == CaptureState.FAILED
    assert store.get(fine["id"]).state == JobState.DONE
    # The next job ran in a process forked from a new warm process.
    forked = FORKED.search(job_log(isnad, fine["id"]))
    assert forked and int(forked[2]) != warm.pid, job_log(isnad, fine["id"])
    assert f"the warm process {warm.pid} ended" in stderr, stderr


def test_without_a_warm_process_capture_processes_start_fresh(isnad, site, tmp_path):
    # A warm process that cannot start (here: its interpreter exits before importing
    # anything, as a broken install would make it) leaves the worker on fresh processes,
    # said once in its log.
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import sys\n"
        "if 'isnad.app.zygote' in sys.orig_argv:\n"
        "    sys.exit(7)\n")
    jobs = submit(isnad, site.url("/"), site.url("/arabic.html"))
    run = isnad("worker", "--burst", "-c", "1", env={"PYTHONPATH": str(hook)}, timeout=300)
    assert run.code == 0, run
    for job in jobs:
        assert jobs_of(isnad).get(job["id"]).state == JobState.DONE
        assert not FORKED.search(job_log(isnad, job["id"]))
    assert run.stderr.count("warm capture processes unavailable") == 1, run.stderr
    assert "python -m isnad.app.child" in run.stderr
    # Turned off: no warm process is started at all.
    job = submit(isnad, site.url("/"))[0]
    off = isnad("worker", "--burst", "-c", "1", env={"ISNAD_WORKER__WARM_PROCESSES": "false"},
                timeout=300)
    assert off.code == 0, off
    assert jobs_of(isnad).get(job["id"]).state == JobState.DONE
    assert not FORKED.search(job_log(isnad, job["id"]))
    assert "warm" not in off.stderr


def test_capture_of_several_urls_forks_them_from_a_warm_process(isnad, site):
    run = isnad("capture", "--no-browser", "--json", "-c", "2", site.url("/"),
                site.url("/arabic.html"))
    assert run.code == 0, run
    records = run.json()
    assert sorted(r["state"] for r in records) == ["COMPLETE", "COMPLETE"]
    warm = set()
    for job in isnad("jobs", "--json").json():
        forked = FORKED.search(job_log(isnad, job["id"]))
        assert forked, job_log(isnad, job["id"])
        warm.add(forked[2])
    assert len(warm) == 1  # both from the one warm process of this command
    assert gone(int(warm.pop()))  # which ended with the command
    # One URL: a fresh capture process (a warm one would cost the imports it saves).
    one = isnad("capture", "--no-browser", "--json", site.url("/"))
    assert one.code == 0, one
    (job,) = [j for j in isnad("jobs", "--json").json() if j["captures"] == [one.json()[0]["id"]]]
    assert not FORKED.search(job_log(isnad, job["id"]))


def test_the_warm_process_has_imported_what_every_capture_imports_late():
    """What a capture imports inside functions (the package's CDXJ writers, py-wacz's indexer,
    the full-text index, Scrapy's built-in middlewares, handlers and extensions, the platform
    modules, the catalog's driver) is imported once by the warm process, not by each forked
    capture: measured, ~0.3 CPU s a job.
    And importing them installs no reactor and starts no thread (forking stays safe)."""
    probe = (
        "import sys, threading\n"
        "from isnad.app import zygote\n"
        "zygote.preload()\n"
        "wanted = ['cdxj_indexer.main', 'wacz.waczindexer', 'surt', 'isnad.app.search',\n"
        "          'archiver.proof', 'scrapy.downloadermiddlewares.cookies',\n"
        "          'scrapy.spidermiddlewares.depth', 'crawlers.platforms.telegram',\n"
        "          'crawlers.platforms.youtube', 'psycopg', 'sqlite3', 'archiver.schema',\n"
        "          'apscheduler.triggers.cron', 'scrapy.squeues', 'scrapy.dupefilters',\n"
        "          'scrapy.extensions.feedexport', 'scrapy.extensions.memusage',\n"
        "          'crawlers.playwright_handler']\n"
        "print([m for m in wanted if m not in sys.modules])\n"
        "print('twisted.internet.reactor' in sys.modules, threading.active_count(),\n"
        "      'scrapy.extensions.remote_control' in sys.modules,\n"
        "      'scrapy.extensions.telnet' in sys.modules)\n"
        "from archiver.catalog import CaptureRow\n"
        "print(CaptureRow.__mapper__.configured)\n")
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert run.returncode == 0, run.stderr
    missing, state, mapped = run.stdout.splitlines()
    assert missing == "[]"
    assert state == "False 1 False False"
    assert mapped == "True"  # the catalog's mappers configured once, not by each capture
