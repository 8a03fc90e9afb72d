"""Monitors through the real CLI and a real worker, against the Telegram stand-in whose
channel publishes new posts under the test's control: each new post is captured once, even
when two runs go at once or the worker is killed mid-run."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from archiver.catalog import Catalog
from archiver.jobs import JobStore
from archiver.states import CaptureState, CustodyAction, JobState, MonitorPostState
from tests.platform_fixtures.telegram import LAST, TelegramFixture


@pytest.fixture
def telegram():
    with TelegramFixture() as server:
        yield server


def _env(server: TelegramFixture) -> dict[str, str]:
    return {"ISNAD_PLATFORMS__TELEGRAM__BASE_URL": server.base}


def _add(isnad, server: TelegramFixture, *args: str) -> dict:
    run = isnad("monitor", "add", f"{server.base}/s/syriawitness", "--posts", "3",
                "--no-browser", "--case", "CASE-9", "--tag", "watch", "--json", *args,
                env=_env(server))
    assert run.code == 0, run
    return run.json()


def _jobs(isnad) -> JobStore:
    return JobStore(Catalog(f"sqlite:///{isnad.home / 'catalog.db'}"))


def _wait_for(what: Callable[[], object], timeout: float, why: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := what():
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out waiting: {why}")


def _post_jobs(isnad, monitor_id: str) -> list:
    return [j for j in _jobs(isnad).list() if j.source == f"monitor:{monitor_id}"
            and j.spec["monitor"]["role"] == "post"]


def _assert_each_post_captured_once(isnad, monitor_id: str, env: dict[str, str]) -> dict:
    timeline = isnad("monitor", "timeline", monitor_id, "--json", env=env).json()
    jobs = _post_jobs(isnad, monitor_id)
    assert sorted(j.spec["monitor"]["post_id"] for j in jobs) == sorted(
        p["post_id"] for p in timeline["posts"])  # one capture job a post, no more
    for post in timeline["posts"]:
        good = [c for c in post["captures"] if c["state"] == CaptureState.COMPLETE]
        assert len(good) == 1, post
        assert post["state"] == MonitorPostState.CAPTURED
        assert post["last_good_capture"] == good[0]["id"]
    return timeline


def test_add_refuses_what_it_cannot_watch_in_one_line(isnad, telegram):
    env = _env(telegram)
    # (A web page or feed is watched too: tests/test_monitor_feeds.py.)
    post = isnad("monitor", "add", f"{telegram.base}/s/syriawitness/101", env=env)
    assert post.code == 2 and "not a channel or profile" in post.stderr
    assert len(post.stderr.strip().splitlines()) == 1
    bad = isnad("monitor", "add", f"{telegram.base}/s/syriawitness", "--every", "15 minutes",
                env=env)
    assert bad.code == 2 and "--every '15 minutes': write a whole number and a unit" in bad.stderr
    both = isnad("monitor", "add", f"{telegram.base}/s/syriawitness", "--every", "1h",
                 "--cron", "0 * * * *", env=env)
    assert both.code == 2 and "not both" in both.stderr
    assert isnad("monitor", "list", "--json").json() == []


def test_monitor_commands_keep_the_schedule_the_scheduler_reads(isnad, telegram):
    env = _env(telegram)
    added = _add(isnad, telegram, "--every", "15m", "--recheck", "7d", "--note", "n1")
    assert (added["every"], added["cron"], added["recheck"], added["platform"]) == (
        900, None, 7 * 86400, "telegram")
    cron = isnad("monitor", "add", f"{telegram.base}/s/syriawitness", "--cron", "0 */2 * * *",
                 "--json", env=env).json()
    assert (cron["every"], cron["cron"]) == (None, "0 */2 * * *")
    listed = isnad("monitor", "list", "--json").json()
    assert [m["id"] for m in listed] == [added["id"], cron["id"]]
    assert isnad("monitor", "pause", added["id"][:13]).code == 0
    assert isnad("monitor", "show", added["id"], "--json").json()["paused"] is True
    assert isnad("monitor", "resume", added["id"]).code == 0
    shown = isnad("monitor", "show", added["id"], "--json").json()
    assert (shown["paused"], shown["case"], shown["tags"], shown["note"]) == (
        False, "CASE-9", ["watch"], "n1")
    assert isnad("monitor", "remove", cron["id"]).code == 0
    assert [m["id"] for m in isnad("monitor", "list", "--json").json()] == [added["id"]]
    gone = isnad("monitor", "show", cron["id"])
    assert gone.code == 2 and "no monitor" in gone.stderr


@pytest.mark.e2e
def test_a_run_captures_each_new_post_and_a_second_run_only_the_new_one(isnad, telegram):
    env = _env(telegram)
    monitor = _add(isnad, telegram)
    first = isnad("monitor", "run", monitor["id"], "--wait", "--json", env=env, timeout=400)
    assert first.code == 0, first
    run = first.json()
    assert (run["state"], run["listed"], run["new_posts"]) == ("COMPLETE", 3, 3), run
    assert sorted(j["state"] for j in run["jobs"]) == [JobState.DONE] * 3
    assert all(j["source"] == f"monitor:{monitor['id']}" and j["case"] == "CASE-9"
               and j["tags"] == ["watch"] and j["priority"] == 20 for j in run["jobs"])
    # The listing is a capture of its own: its WARC holds the channel page, its posts.json
    # the posts it listed.
    listing = isnad("show", run["listing_capture"], "--json", env=env).json()
    package = zipfile.ZipFile(Path(next(c["location"] for c in listing["copies"])))
    assert [r["post_id"] for r in json.loads(package.read("metadata/posts.json"))] == [
        "110", "109", "108"]
    assert listing["context"]["post_refs"][0]["post_id"] == "110"

    telegram.publish(LAST + 1)  # one new post
    second = isnad("monitor", "run", monitor["id"], "--wait", "--json", env=env, timeout=400)
    assert second.code == 0, second
    run = second.json()
    assert (run["listed"], run["new_posts"]) == (3, 1), run
    assert [j["url"].rsplit("/", 1)[-1] for j in run["jobs"]] == [str(LAST + 1)]
    timeline = _assert_each_post_captured_once(isnad, monitor["id"], env)
    assert [p["post_id"] for p in timeline["posts"]] == ["110", "109", "108", "111"]
    assert len(timeline["runs"]) == 2
    seen_twice = timeline["posts"][0]
    assert seen_twice["last_seen"] > seen_twice["first_seen"]
    shown = isnad("monitor", "show", monitor["id"], "--json").json()
    assert (shown["posts_seen"], shown["failures"], shown["flagged"]) == (4, 0, False)
    human = isnad("monitor", "timeline", monitor["id"], env=env)
    assert human.code == 0 and "telegram 111" in human.stdout and "COMPLETE" in human.stdout


@pytest.mark.e2e
def test_two_runs_at_once_capture_each_post_once(isnad, telegram):
    env = _env(telegram)
    monitor = _add(isnad, telegram)
    runs = [isnad("monitor", "run", monitor["id"], "--json", env=env).json()["run"]
            for _ in range(2)]
    worker = isnad("worker", "--burst", "--concurrency", "2", env=env, timeout=400)
    assert worker.code == 0, worker
    shown = isnad("monitor", "show", monitor["id"], "--json").json()
    assert sorted(r["id"] for r in shown["runs"]) == sorted(runs)
    assert all(r["state"] == "COMPLETE" and r["listed"] == 3 for r in shown["runs"])
    assert sum(r["new_posts"] for r in shown["runs"]) == 3  # shared between them, once each
    timeline = _assert_each_post_captured_once(isnad, monitor["id"], env)
    assert len(timeline["posts"]) == 3


@pytest.mark.e2e
def test_a_worker_killed_mid_run_has_each_post_captured_once(isnad, telegram):
    env = _env(telegram)
    monitor = _add(isnad, telegram)
    telegram.server.listing_delay = 4.0  # the listing is being read when the worker dies
    run_id = isnad("monitor", "run", monitor["id"], "--json", env=env).json()["run"]
    store = _jobs(isnad)
    worker = subprocess.Popen(isnad.command("worker", "-c", "2"), cwd=isnad.home,
                              env={**isnad.env, **env}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: store.get(run_id).state == JobState.RUNNING and store.captures(
            run_id), 120, "the run to start")
        time.sleep(1.5)
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
    finally:
        worker.kill()
    assert store.get(run_id).state == JobState.RUNNING  # until someone notices
    assert not _post_jobs(isnad, monitor["id"])
    telegram.server.listing_delay = 0.0
    restarted = isnad("worker", "--burst", "-c", "2", env=env, timeout=400)
    assert restarted.code == 0, restarted
    row = store.get(run_id)
    assert (row.state, row.attempts) == (JobState.DONE, 2), row.history
    shown = isnad("monitor", "show", monitor["id"], "--json").json()
    (run,) = shown["runs"]
    assert (run["state"], run["new_posts"]) == ("COMPLETE", 3), run
    _assert_each_post_captured_once(isnad, monitor["id"], env)


@pytest.mark.e2e
def test_a_recheck_records_a_deleted_post_and_never_takes_a_rate_limit_for_one(isnad,
                                                                              telegram):
    env = _env(telegram)
    monitor = _add(isnad, telegram, "--recheck", "7d")
    first = isnad("monitor", "run", monitor["id"], "--wait", "--json", env=env, timeout=400)
    assert first.code == 0 and first.json()["new_posts"] == 3, first  # 110, 109, 108
    before = {p["post_id"]: p for p in isnad(
        "monitor", "timeline", monitor["id"], "--json", env=env).json()["posts"]}
    # 109 is deleted; 108 is gone from the listing too, but its page is rate limited.
    telegram.server.deleted.update({109, 108})
    telegram.server.limited.add(108)
    second = isnad("monitor", "run", monitor["id"], "--wait", "--json", env=env, timeout=400)
    run = second.json()
    assert second.code == 1 and run["state"] == "PARTIAL", run  # the rate limit: PARTIAL
    assert run["new_posts"] == 2  # 107 and 106 are listed now
    assert any("post 108 told nothing" in n and "not taken for a deletion" in n
               for n in run["notes"]), run["notes"]
    posts = {p["post_id"]: p for p in isnad(
        "monitor", "timeline", monitor["id"], "--json", env=env).json()["posts"]}
    gone = posts["109"]
    assert gone["state"] == MonitorPostState.DISAPPEARED
    (evidence,) = [c for c in gone["captures"] if c["role"] == "recheck"]
    assert evidence["post_status"] == "deleted"
    assert gone["disappeared"]["evidence_capture"] == evidence["id"]
    assert gone["disappeared"]["on_capture"] == before["109"]["last_good_capture"]
    assert gone["last_good_capture"] == before["109"]["last_good_capture"]  # kept as it was
    # The event is in the custody log of the post as it was, and the chain still verifies.
    catalog = Catalog(f"sqlite:///{isnad.home / 'catalog.db'}")
    (event,) = [e for e in catalog.events(gone["last_good_capture"])
                if e.action == CustodyAction.POST_DISAPPEARED]
    evidence_row = catalog.get(evidence["id"])
    assert event.object_sha256 == evidence_row.package_sha256
    assert (event.details["status"], event.details["evidence_capture"]) == (
        "deleted", evidence["id"])
    assert isnad("verify", gone["last_good_capture"], env=env).code == 0
    limited = posts["108"]
    assert limited["state"] == MonitorPostState.CAPTURED and limited["disappeared"] is None
    assert not [e for e in catalog.events(limited["last_good_capture"])
                if e.action == CustodyAction.POST_DISAPPEARED]
    assert posts["110"]["state"] == MonitorPostState.CAPTURED  # still listed: not rechecked
    assert [c["role"] for c in posts["110"]["captures"]] == ["post"]


def test_a_run_whose_job_ends_unrecorded_counts_as_a_failure(isnad, telegram):
    env = _env(telegram)
    monitor = _add(isnad, telegram)
    queued = isnad("monitor", "run", monitor["id"], env=env)
    assert queued.code == 0 and "no worker is running" in queued.stderr, queued
    run_id = queued.stdout.split()[-1]
    assert isnad("monitor", "show", monitor["id"], "--json").json()["runs"][0]["state"] is None
    assert isnad("jobs", "cancel", run_id).code == 0
    shown = isnad("monitor", "list", "--json").json()[0]
    assert shown["failures"] == 1 and not shown["flagged"]
    (run,) = shown["runs"]
    assert run["state"] == "FAILED" and "the run's job cancelled" in run["notes"][0], run
    again = isnad("monitor", "show", monitor["id"], "--json").json()
    assert again["failures"] == 1  # settled once, however often it is looked at


@pytest.mark.serial  # a scheduler firing every 3 s, counted
def test_the_scheduler_runs_monitors_on_their_schedule_and_each_post_is_captured_once(
        isnad, telegram):
    """A real `isnad scheduler` fires a monitor every few seconds: its runs are queued jobs;
    a worker then captures the listings and each post once, however many runs there were."""
    env = {**_env(telegram), "ISNAD_SCHEDULES__HOST_SPACING": "0",
           "ISNAD_SCHEDULES__AUDIT__ENABLED": "false", "ISNAD_SCHEDULES__SYNC__ENABLED": "false",
           "ISNAD_SCHEDULES__TIMESTAMPS__ENABLED": "false",
           "ISNAD_SCHEDULES__ANCHOR__ENABLED": "false"}
    monitor = _add(isnad, telegram, "--every", "3s")
    paused = _add(isnad, telegram, "--every", "3s")
    assert isnad("monitor", "pause", paused["id"], env=env).code == 0
    scheduler = subprocess.Popen(isnad.command("scheduler"), cwd=isnad.home,
                                 env={**isnad.env, **env}, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
    try:
        listings = lambda: [j for j in _jobs(isnad).list()  # noqa: E731
                            if j.source == f"monitor:{monitor['id']}"]
        _wait_for(lambda: len(listings()) >= 2, 90, "two runs queued by the scheduler")
    finally:
        scheduler.send_signal(signal.SIGTERM)
        _, err = scheduler.communicate(timeout=60)
    assert scheduler.returncode == 0, err
    assert not [j for j in _jobs(isnad).list() if j.source == f"monitor:{paused['id']}"]
    assert isnad("worker", "--burst", "-c", "2", env=env, timeout=600).code == 0
    _assert_each_post_captured_once(isnad, monitor["id"], env)
