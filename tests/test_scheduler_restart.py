"""`isnad scheduler` processes running monitors, as they fail in use: two at once on one home,
one killed (SIGKILL) in the middle of a tick and started again, one stopped (SIGTERM) in the
middle of a tick. Real processes on a fresh home, the Telegram stand-in on 127.0.0.1, intervals
of seconds; then a real worker captures what they queued, and each post is captured once."""

from __future__ import annotations

import re
import signal
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from archiver.states import MonitorPostState
from tests.test_monitors import (
    _add,
    _assert_each_post_captured_once,
    _env,
    _jobs,
    _wait_for,
    telegram,  # noqa: F401 - the fixture
)
from tests.test_schedules import SchedulerProcess

# Ticks of 2-3 s, host spacing of 8 s and kills timed to land mid-tick: on a machine shared with
# other tests the timings drift, so `make test` runs these alone, after the parallel run.
pytestmark = pytest.mark.serial

QUIET = {  # monitors only: the housekeeping schedules off
    "ISNAD_SCHEDULES__AUDIT__ENABLED": "false", "ISNAD_SCHEDULES__SYNC__ENABLED": "false",
    "ISNAD_SCHEDULES__TIMESTAMPS__ENABLED": "false",
    "ISNAD_SCHEDULES__ANCHOR__ENABLED": "false"}


def _ledger(home: Path) -> list[dict]:
    """The monitors' rows of the run ledger (``schedule_runs``), oldest first."""
    with sqlite3.connect(home / "catalog.db", timeout=30) as db:
        db.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in db.execute(
                "SELECT * FROM schedule_runs WHERE schedule_id LIKE 'monitor:%' "
                "ORDER BY started_at")]
        except sqlite3.OperationalError:  # not created yet
            return []


def _listings(isnad, monitor_id: str) -> list:
    return [j for j in _jobs(isnad).list() if j.source == f"monitor:{monitor_id}"
            and j.spec["monitor"]["role"] == "listing"]


def _queued(rows: list[dict], monitor_id: str) -> list[str]:
    """The runs the ledger says each tick of a monitor queued."""
    return [m[1] for r in rows if r["schedule_id"] == f"monitor:{monitor_id}"
            and (m := re.match(r"run (\S+) of ", r["detail"] or ""))]


def _assert_each_tick_queued_one_run(isnad, monitor_ids: list[str]) -> None:
    """Every listing job of a monitor was queued by one tick the ledger records, and no tick
    queued two: ticks and runs match one to one."""
    rows = _ledger(isnad.home)
    for monitor_id in monitor_ids:
        queued = _queued(rows, monitor_id)
        assert len(queued) == len(set(queued))
        assert sorted(queued) == sorted(j.id for j in _listings(isnad, monitor_id)), rows


def _open_tick(home: Path, older_than: float) -> dict | None:
    """A monitor tick claimed more than ``older_than`` seconds ago and not settled yet."""
    now = datetime.now(UTC)
    for row in _ledger(home):
        started = datetime.fromisoformat(row["started_at"].rstrip("Z")).replace(tzinfo=UTC)
        if row["outcome"] is None and (now - started).total_seconds() > older_than:
            return row
    return None


@pytest.mark.e2e
def test_two_schedulers_queue_each_monitor_tick_once_and_each_post_is_captured_once(
        isnad, telegram):  # noqa: F811
    env = {**_env(telegram), **QUIET, "ISNAD_SCHEDULES__HOST_SPACING": "0"}
    monitor = _add(isnad, telegram, "--every", "2s")
    pair = [SchedulerProcess(isnad, env, "one"), SchedulerProcess(isnad, env, "two")]
    try:
        for scheduler in pair:
            scheduler.wait_for(lambda s=scheduler: any(
                "started" in r.get("message", "") for r in s.lines()))
        pair[0].wait_for(lambda: len(_listings(isnad, monitor["id"])) >= 5)
    finally:
        codes = [s.stop() for s in pair]
    assert codes == [0, 0]
    ran = pair[0].ran() + pair[1].ran()
    assert len(set(ran)) == len(ran), "a tick ran in both schedulers"
    rows = _ledger(isnad.home)
    assert rows and all(r["outcome"] == "ok" for r in rows), rows
    _assert_each_tick_queued_one_run(isnad, [monitor["id"]])
    worker = isnad("worker", "--burst", "-c", "2", env=env, timeout=900)
    assert worker.code == 0, worker
    timeline = _assert_each_post_captured_once(isnad, monitor["id"], env)
    assert len(timeline["posts"]) == 3


@pytest.mark.e2e
def test_a_scheduler_killed_mid_tick_is_settled_on_restart_and_sigterm_leaves_none_open(
        isnad, telegram):  # noqa: F811
    """Two monitors on one host, spaced 8 s: one tick waits for its slot, and the scheduler
    is killed while it waits. The restarted scheduler records that tick as interrupted (it was
    left claimed, with no outcome), goes on running both monitors, and on SIGTERM in the
    middle of another wait exits 0 with no tick left open. Each post is captured once."""
    env = {**_env(telegram), **QUIET, "ISNAD_SCHEDULES__HOST_SPACING": "8"}
    monitors = [_add(isnad, telegram, "--every", "2s")["id"] for _ in range(2)]
    first = SchedulerProcess(isnad, env, "first")
    try:
        waiting = None

        def a_tick_waits() -> bool:
            nonlocal waiting
            waiting = _open_tick(isnad.home, 2.0)
            return waiting is not None
        first.wait_for(a_tick_waits)
    finally:
        first.proc.send_signal(signal.SIGKILL)
        first.stop()
    assert waiting is not None
    # Left claimed with no outcome: nobody settled it (nor the other monitor's, if it waited).
    left = {(r["schedule_id"], r["due_at"]): r for r in _ledger(isnad.home)
            if r["outcome"] is None}
    assert (waiting["schedule_id"], waiting["due_at"]) in left
    killed_at = datetime.now(UTC)

    again = SchedulerProcess(isnad, env, "again")
    try:
        def settled() -> list[dict]:
            rows = [r for r in _ledger(isnad.home) if (r["schedule_id"], r["due_at"]) in left]
            return rows if all(r["outcome"] for r in rows) else []
        for row in _wait_for(settled, 120, "the killed scheduler's ticks settled"):
            assert row["outcome"] == "interrupted", row
            assert "stopped during this tick" in row["detail"], row
            assert row["holder"] == waiting["holder"] and row["holder"] in row["detail"]

        def both_run_again() -> bool:  # the next runs go on, for both monitors
            return all(any(j.created_at.replace(tzinfo=UTC) > killed_at
                           for j in _listings(isnad, m)) for m in monitors)
        again.wait_for(both_run_again, 180)
        again.wait_for(lambda: _open_tick(isnad.home, 1.0) is not None, 120)
    finally:
        code = again.stop()
    assert code == 0, again.log_path.read_text()  # SIGTERM in the middle of a tick
    rows = _ledger(isnad.home)
    assert [r for r in rows if r["outcome"] is None] == [], "a tick left half-recorded"
    assert any("the scheduler is stopping: run not queued" in (r["detail"] or "")
               for r in rows), rows
    _assert_each_tick_queued_one_run(isnad, monitors)
    worker = isnad("worker", "--burst", "-c", "2", env=env, timeout=900)
    assert worker.code == 0, worker
    for monitor_id in monitors:
        _assert_each_post_captured_once(isnad, monitor_id, env)


@pytest.mark.e2e
def test_a_scheduler_with_a_worker_runs_everything_on_one_machine(isnad, telegram):  # noqa: F811
    """`isnad scheduler --worker 2` alone: the monitor's runs are queued and captured, with no
    other command; SIGTERM drains the worker and stops both."""
    from archiver.archive import process_alive

    env = {**_env(telegram), **QUIET, "ISNAD_SCHEDULES__HOST_SPACING": "0"}
    monitor = _add(isnad, telegram, "--every", "3s")

    def captured() -> bool:
        timeline = isnad("monitor", "timeline", monitor["id"], "--json", env=env).json()
        return len(timeline["posts"]) == 3 and all(
            p["state"] == MonitorPostState.CAPTURED for p in timeline["posts"])

    alone = SchedulerProcess(isnad, env, "alone", ("--worker", "2"))
    try:
        alone.wait_for(captured, timeout=600)
    finally:
        code = alone.stop(timeout=300)
    assert code == 0, alone.log_path.read_text()[-3000:]
    (pid,) = [int(m[1]) for r in alone.lines()
              if (m := re.match(r"worker process (\d+) started", r.get("message", "")))]
    assert not process_alive(pid)  # drained and gone with the scheduler
    _assert_each_post_captured_once(isnad, monitor["id"], env)
    shown = isnad("workers", "--json", env=env).json()
    assert not [w for w in shown if w["state"] == "alive"], shown
