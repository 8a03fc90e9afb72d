"""Schedules: the scheduler service, its ledger, backoff and per-host spacing (in-process, on a
real SQLite catalog), then `isnad scheduler` itself as a real process (e2e)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from archiver.catalog import Catalog
from scheduler.durations import parse_duration
from scheduler.service import JOBS_TABLE, Schedules, When
from scheduler.state import Backoff, FailureRecord, HostSpacing, RunLedger


@pytest.fixture
def catalog(catalog_url: str) -> Catalog:
    """A catalog on SQLite, and again on PostgreSQL (the schedule tables and the job store)."""
    return Catalog(catalog_url, upgrade=True)


def _second_engine(catalog: Catalog):  # noqa: ANN202 - another connection pool, as another process
    return Catalog(catalog.url).engine


# -- durations ------------------------------------------------------------------------------
@pytest.mark.parametrize("text, seconds", [
    ("90", 90), (90, 90), ("30s", 30), ("15m", 900), ("2h", 7200), ("1d", 86400),
    ("1w", 604800), ("1h30m", 5400), ("0.5s", 0.5), (" 2 H ", 7200)])
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "0s", "-5", "15x", "m", "1d2", "inf", "nan"])
def test_bad_durations_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


# -- backoff and flagging -------------------------------------------------------------------
def test_backoff_doubles_up_to_its_ceiling() -> None:
    backoff = Backoff(base=10, ceiling=100, flag_after=3)
    assert [backoff.delay(n) for n in range(7)] == [0, 10, 20, 40, 80, 100, 100]
    assert backoff.delay(10_000) == 100  # no overflow far past the ceiling


def test_failures_are_counted_flagged_and_reset_in_the_catalog(catalog: Catalog) -> None:
    record = FailureRecord(catalog.engine, Backoff(base=60, ceiling=300, flag_after=3))
    assert record.next_delay("monitor:a") == 0
    first = record.record_failure("monitor:a", "HTTP 429")
    assert (first.failures, first.flagged, first.next_delay) == (1, False, 60)
    record.record_failure("monitor:a", "HTTP 429")
    third = record.record_failure("monitor:a", "login wall")
    assert (third.failures, third.flagged, third.next_delay) == (3, True, 240)
    assert third.last_error == "login wall"
    assert record.next_delay("monitor:b") == 0  # schedules are counted apart
    # Kept in the catalog: another process (another engine) sees the same state.
    other = FailureRecord(_second_engine(catalog), Backoff(base=60, ceiling=300, flag_after=3))
    assert other.health("monitor:a").failures == 3
    assert [h.schedule_id for h in other.flagged()] == ["monitor:a"]
    assert other.record_failure("monitor:a").next_delay == 300  # the ceiling
    ok = record.record_success("monitor:a")
    assert (ok.failures, ok.flagged, ok.next_delay) == (0, False, 0)
    assert other.flagged() == []


def test_failures_recorded_at_once_are_all_counted(catalog: Catalog) -> None:
    record = FailureRecord(catalog.engine)
    record.record_failure("monitor:a")
    threads = [threading.Thread(target=FailureRecord(_second_engine(catalog)).record_failure,
                                args=("monitor:a",)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert record.health("monitor:a").failures == 9


# -- per-host spacing -----------------------------------------------------------------------
def test_runs_against_one_host_are_spaced(catalog: Catalog) -> None:
    spacing = HostSpacing(catalog.engine, spacing=30)
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert spacing.reserve("t.me", now) == now
    assert spacing.reserve("T.ME", now) == now + timedelta(seconds=30)  # same host, any case
    assert spacing.reserve("t.me", now) == now + timedelta(seconds=60)
    assert spacing.reserve("youtube.com", now) == now  # another host is free
    later = now + timedelta(seconds=500)
    assert spacing.reserve("t.me", later) == later  # a host idle long enough is free at once
    assert spacing.wait_for("t.me", later) == 30


def test_spacing_holds_across_schedulers_reserving_at_once(catalog: Catalog) -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    slots: list[datetime] = []
    lock = threading.Lock()

    def reserve() -> None:
        slot = HostSpacing(_second_engine(catalog), spacing=10).reserve("reddit.com", now)
        with lock:
            slots.append(slot)

    threads = [threading.Thread(target=reserve) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(slots) == [now + timedelta(seconds=10 * i) for i in range(8)]


# -- the run ledger -------------------------------------------------------------------------
def test_a_tick_is_claimed_once(catalog: Catalog) -> None:
    due = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    one, two = RunLedger(catalog.engine), RunLedger(_second_engine(catalog))
    assert one.claim("housekeeping:audit", due, "a") is True
    assert two.claim("housekeeping:audit", due, "b") is False
    assert two.claim("housekeeping:audit", due + timedelta(days=1), "b") is True
    one.settle("housekeeping:audit", due, "ok", "all intact")
    runs = one.runs("housekeeping:audit")
    assert [(r.holder, r.outcome) for r in runs] == [("a", "ok"), ("b", None)]


# -- the service ----------------------------------------------------------------------------
def _service(engine, holder: str, **kw) -> Schedules:  # noqa: ANN001
    return Schedules(engine, holder, jitter=0, misfire_grace=60, **kw)


def test_a_schedule_survives_a_restart_with_its_next_run(catalog: Catalog) -> None:
    first = _service(catalog.engine, "a")
    first.start()
    assert first.register("housekeeping:audit", When(every=3600)) is True
    assert first.register("housekeeping:sync", When(cron="*/5 * * * *")) is True
    due = first.next_run("housekeeping:audit")
    first.shutdown()

    again = _service(_second_engine(catalog), "b")
    again.start()
    try:
        # Same timing: kept as stored (a restart does not push the next run back).
        assert again.register("housekeeping:audit", When(every=3600)) is False
        assert again.next_run("housekeeping:audit") == due
        # A changed timing replaces it; one not configured any more is removed.
        assert again.register("housekeeping:sync", When(every=60)) is True
        assert again.keep_only("housekeeping", {"housekeeping:sync"}) == ["housekeeping:audit"]
        assert again.ids() == ["housekeeping:sync"]
    finally:
        again.shutdown()
    with catalog.engine.connect() as conn:
        from sqlalchemy import text

        rows = conn.execute(text(f"SELECT id FROM {JOBS_TABLE}")).scalars().all()
    assert rows == ["housekeeping:sync"]


def test_ticks_missed_while_down_run_once_on_start(catalog: Catalog) -> None:
    def ok(schedule_id: str) -> tuple[bool, str]:
        return True, "ok"

    first = _service(catalog.engine, "a")
    first.start()
    first.register("test:often", When(every=1))
    first.shutdown()
    time.sleep(4.5)  # about four ticks missed, all within the misfire grace
    restarted = datetime.now(UTC)
    again = _service(_second_engine(catalog), "b")
    again.handle("test", ok)
    again.start()
    again.register("test:often", When(every=1))  # same timing: kept, with its overdue run
    again.resume()
    deadline = time.monotonic() + 20
    while not again.ledger.runs("test:often") and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    again.shutdown()
    missed = [r for r in again.ledger.runs("test:often") if r.due_at < restarted]
    assert len(missed) == 1  # coalesced: the missed ticks run once, not once each


@pytest.mark.serial  # counts ticks fired in a few seconds
def test_two_schedulers_run_each_tick_once(catalog: Catalog) -> None:
    ran: list[tuple[str, datetime]] = []
    lock = threading.Lock()

    def handler(holder: str):  # noqa: ANN202
        def run(schedule_id: str) -> tuple[bool, str]:
            time.sleep(0.05)
            return True, f"run by {holder}"
        return run

    services = [_service(_second_engine(catalog), holder) for holder in ("a", "b")]
    for service in services:
        service.handle("test", handler(service.holder))
        original = service.run

        def counted(schedule_id: str, due_at: datetime | None, _run=original, _s=service):
            health = _run(schedule_id, due_at)
            if health is not None:
                with lock:
                    ran.append((schedule_id, due_at))
            return health

        service.run = counted  # type: ignore[method-assign]
        service.start()
        service.register("test:often", When(every=0.5))
        service.resume()
    time.sleep(4)
    for service in services:
        service.shutdown()
    assert len(ran) >= 4
    assert len(set(ran)) == len(ran), "a tick ran twice"
    runs = RunLedger(catalog.engine).runs("test:often")
    assert len(runs) == len(ran) and all(r.outcome == "ok" for r in runs)


def test_a_failing_schedule_is_logged_retried_and_flagged(catalog: Catalog, caplog) -> None:
    calls: list[str] = []

    def broken(schedule_id: str) -> tuple[bool, str]:
        calls.append(schedule_id)
        raise OSError("disk on fire")

    service = _service(catalog.engine, "a", backoff=Backoff(base=1, ceiling=5, flag_after=2))
    service.handle("test", broken)
    service.start()
    service.register("test:broken", When(every=0.4))
    with caplog.at_level(logging.ERROR, logger="isnad.scheduler"):
        service.resume()
        deadline = time.monotonic() + 20
        while len(calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        service.shutdown()
    assert len(calls) >= 3  # the service kept going: each tick tried again
    failed = [r for r in caplog.records if "FAILED" in r.getMessage()]
    assert failed and "disk on fire" in failed[0].getMessage()
    assert any("flagged" in r.getMessage() for r in failed)
    health = service.failures.health("test:broken")
    assert health.flagged and health.failures == len(calls)
    assert all(r.outcome == "failed" for r in service.ledger.runs("test:broken"))


def test_a_tick_that_ends_while_the_catalog_is_down_is_recorded_when_it_returns(
        caplog) -> None:
    """The catalog (a PostgreSQL of the test's own) stops while a tick runs: the tick is not
    left claimed with no outcome for ever (no other scheduler would settle it: its holder is
    alive); its outcome and health are recorded once the catalog answers again."""
    from tests.pgserver import running_postgres

    servers = running_postgres()
    server = next(servers)
    try:
        catalog = Catalog(server.new_database(), upgrade=True)
        service = _service(catalog.engine, "a")
        due = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)

        def run_then_lose_the_catalog(schedule_id: str) -> tuple[bool, str]:
            server.stop()  # fast: the claim, committed, is kept (the test server does not sync)
            return False, "ran, with problems"

        service.handle("test", run_then_lose_the_catalog)
        with caplog.at_level(logging.INFO, logger="isnad.scheduler"):
            assert service.run("test:x", due) is None  # never raises
            assert any("could not be recorded" in r.getMessage() for r in caplog.records)
            assert service.settle_owed() == 0  # still down: kept
            server.start_again()
            assert service.settle_owed() == 1
        runs = RunLedger(Catalog(catalog.url).engine).runs("test:x")
        assert [(r.holder, r.outcome, r.detail) for r in runs] == [
            ("a", "problems", "ran, with problems")]
        assert service.failures.health("test:x").failures == 1  # counted too
        assert service.settle_owed() == 0  # recorded once
    finally:
        next(servers, None)


def test_a_tick_failed_by_a_catalog_outage_logs_one_line_without_a_traceback(
        catalog: Catalog, caplog) -> None:
    """The service says a catalog outage once (``said_by``); a tick that failed because of it
    says so in one line, with no traceback (a traceback a tick is what an outage used to
    fill the log with), and its outcome waits to be recorded."""
    from sqlalchemy.exc import OperationalError

    said: list[Exception] = []

    def outage(exc: Exception) -> bool:
        said.append(exc)
        return isinstance(exc, OperationalError)

    def lost_the_catalog(schedule_id: str) -> tuple[bool, str]:
        raise OperationalError("SELECT 1", {}, Exception("terminating connection\nDETAIL: more"))

    def broken(schedule_id: str) -> tuple[bool, str]:
        raise OSError("disk on fire")

    service = _service(catalog.engine, "a", said_by=outage)
    service.handle("lost", lost_the_catalog)
    service.handle("broken", broken)
    due = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    with caplog.at_level(logging.ERROR, logger="isnad.scheduler"):
        service.run("lost:x", due)
        service.run("broken:x", due)
    lost, other = (next(r for r in caplog.records if f"{kind}:x FAILED" in r.getMessage())
                   for kind in ("lost", "broken"))
    assert lost.exc_info is None and "\n" not in lost.getMessage() and said
    assert other.exc_info is not None and "disk on fire" in other.getMessage()
    assert [r.outcome for r in service.ledger.runs("lost:x")] == ["failed"]


def test_a_run_under_way_finishes_before_shutdown_returns(catalog: Catalog) -> None:
    started, finished = threading.Event(), threading.Event()

    def slow(schedule_id: str) -> tuple[bool, str]:
        started.set()
        time.sleep(1.5)
        finished.set()
        return True, "slow"

    service = _service(catalog.engine, "a")
    service.handle("test", slow)
    service.start()
    service.register("test:slow", When(every=0.3))
    service.resume()
    assert started.wait(20)
    service.shutdown(wait=True)
    assert finished.is_set()
    assert [r.outcome for r in service.ledger.runs("test:slow")] == ["ok"]


def test_a_sync_registers_only_what_changed(catalog: Catalog) -> None:
    """Every 30 s the monitors' plan is synced: what is unchanged costs one query of the ids,
    not a lookup (a SELECT and an unpickle) per schedule."""
    service = _service(catalog.engine, "a")
    service.start()
    plan = {f"monitor:{n:02d}": When(every=3600) for n in range(40)}
    try:
        assert sorted(service.sync("monitor", plan)[0]) == sorted(plan)
        assert service.sync("monitor", plan) == ([], [])  # a first sync looks each up once
        lookups: list[str] = []
        looked_up = service.scheduler.get_job

        def counted(schedule_id: str, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            lookups.append(schedule_id)
            return looked_up(schedule_id, *args, **kwargs)

        service.scheduler.get_job = counted  # type: ignore[method-assign]
        assert service.sync("monitor", plan) == ([], [])
        assert lookups == []
        plan["monitor:07"] = When(cron="0 * * * *")
        del plan["monitor:08"]
        assert service.sync("monitor", plan) == (["monitor:07"], ["monitor:08"])
        assert lookups == ["monitor:07"]
        # Another scheduler removed one (or the table lost it): registered again.
        other = _service(_second_engine(catalog), "b")
        other.start()
        other.scheduler.remove_job("monitor:09")
        other.shutdown()
        assert service.sync("monitor", plan) == (["monitor:09"], [])
        assert service.ids() == sorted(plan)
        kept = service.next_run("monitor:01")
    finally:
        service.shutdown()
    again = _service(_second_engine(catalog), "c")  # a restart keeps each with its next run
    again.start()
    try:
        assert again.sync("monitor", plan) == ([], [])
        assert again.next_run("monitor:01") == kept
        assert again.sync("housekeeping", {}) == ([], [])  # other kinds are left alone
        assert again.ids() == sorted(plan)
    finally:
        again.shutdown()


def test_a_bad_timing_is_refused() -> None:
    with pytest.raises(ValueError):
        When(cron="61 * * * *")
    with pytest.raises(ValueError):
        When(every=60, cron="* * * * *")
    with pytest.raises(ValueError):
        When()


# -- `isnad scheduler`, the real process ----------------------------------------------------
FAST = {  # every housekeeping schedule every second or two, no jitter, signs of life often
    "ISNAD_SCHEDULES__SYNC__EVERY": "1", "ISNAD_SCHEDULES__TIMESTAMPS__EVERY": "1",
    "ISNAD_SCHEDULES__AUDIT__EVERY": "2", "ISNAD_SCHEDULES__ANCHOR__EVERY": "2",
    "ISNAD_SCHEDULES__JITTER": "0", "ISNAD_WORKER__HEARTBEAT": "1",
    "ISNAD_LOGGING__LEVEL": "INFO", "ISNAD_LOGGING__FORMAT": "json",
}


class SchedulerProcess:
    """`isnad scheduler` in a subprocess on the test's home; its JSON log lines in a file."""

    def __init__(self, isnad, env: dict[str, str], name: str = "scheduler",  # noqa: ANN001
                 args: tuple[str, ...] = ()) -> None:
        import subprocess

        self.log_path = isnad.home.parent / f"{name}.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(isnad.command("scheduler", *args), cwd=isnad.home,
                                     env={**isnad.env, **FAST, **env},
                                     stdout=self._log, stderr=subprocess.STDOUT)

    def lines(self) -> list[dict]:
        import json

        found = []
        for line in self.log_path.read_text().splitlines():
            try:
                found.append(json.loads(line))
            except ValueError:
                found.append({"message": line})
        return found

    def ran(self) -> list[tuple[str, str]]:
        """(schedule, due) of each run this process made, whatever its outcome."""
        return [(r["schedule"], r["due"]) for r in self.lines() if "due" in r]

    def wait_for(self, what, timeout: float = 120) -> None:  # noqa: ANN001
        deadline = time.monotonic() + timeout
        while not what():
            assert self.proc.poll() is None, self.log_path.read_text()
            assert time.monotonic() < deadline, self.log_path.read_text()
            time.sleep(0.5)

    def stop(self, timeout: float = 60) -> int:
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._log.close()
        return code


def _runs(home: Path) -> list[tuple[str, str, str]]:
    """The run ledger (empty while the scheduler has not made it yet)."""
    import sqlite3

    if not (home / "catalog.db").exists():
        return []
    with sqlite3.connect(home / "catalog.db") as db:
        try:
            return db.execute("SELECT schedule_id, due_at, outcome FROM schedule_runs "
                              "ORDER BY started_at").fetchall()
        except sqlite3.OperationalError:  # not created yet
            return []


def _schedule_ids(home: Path) -> list[str]:
    import sqlite3

    with sqlite3.connect(home / "catalog.db") as db:
        return [r[0] for r in db.execute(f"SELECT id FROM {JOBS_TABLE} ORDER BY id")]


@pytest.fixture
def local_tsa(tmp_path: Path):
    from tests.tsa import LocalTSA

    with LocalTSA(tmp_path / "tsa") as tsa:
        yield tsa


@pytest.mark.e2e
def test_scheduler_syncs_uploads_and_stamps_what_was_pending(isnad, site, moto, bucket,
                                                             local_tsa):
    import json

    from archiver.states import CaptureState, CopyState
    from tests.conftest import s3_env
    from tests.s3server import Relay

    relay = Relay(moto.port)  # not started: S3 is unreachable during the capture
    env = s3_env(relay.url, [{"name": "local", "url": str(isnad.home / "packages")},
                             {"name": "s3", "url": f"s3://{bucket}/evidence"}])
    env["ISNAD_STORAGE__RETRIES"] = "1"
    env["ISNAD_TIMESTAMPS__TSA"] = json.dumps([local_tsa.config_entry()])
    local_tsa.down = True
    rec = isnad.capture("--no-browser", site.url("/final.html"), env=env)
    assert rec["state"] == CaptureState.PARTIAL, rec["stderr"]
    shown = isnad("show", rec["id"], "--json", env=env).json()
    assert {c["target"]: c["state"] for c in shown["copies"]}["s3"] == CopyState.PENDING

    local_tsa.down = False
    relay.start()
    scheduler = SchedulerProcess(isnad, env)
    try:  # stopped whatever happens: no scheduler left running after the test
        def settled() -> bool:
            runs = _runs(isnad.home)
            return {"housekeeping:sync", "housekeeping:timestamps"} <= {
                r[0] for r in runs if r[2] == "ok"}
        scheduler.wait_for(settled)
        scheduler.wait_for(lambda: {r[0] for r in _runs(isnad.home) if r[2] == "ok"} >= {
            "housekeeping:audit", "housekeeping:anchor"})
    finally:
        code = scheduler.stop()
    assert code == 0, scheduler.log_path.read_text()
    shown = isnad("show", rec["id"], "--json", env=env).json()
    assert shown["state"] == CaptureState.COMPLETE, shown["reasons"]
    assert {c["state"] for c in shown["copies"]} == {CopyState.STORED}
    messages = [r.get("message", "") for r in scheduler.lines()]
    assert any("storage sync: 0 stored" not in m and "storage sync: " in m for m in messages)
    assert any("timestamps: 2 obtained" in m for m in messages), messages
    assert any("fixity audit of 1 capture(s)" in m and "all intact" in m for m in messages)
    assert any("custody anchors: 1 anchored" in m for m in messages), messages
    # Housekeeping runs one at a time: running at once, they broke the custody chain.
    verified = isnad("verify", rec["id"], env=env)
    relay.stop()
    assert verified.code == 0, verified.stdout


@pytest.mark.e2e
def test_a_copy_stored_late_gets_the_proofs_made_while_it_waited(isnad, site, moto, bucket,
                                                                  local_tsa):
    """Housekeeping order is not fixed: late tokens and anchors obtained while the S3 copy
    waited (written to the local copy only) reach S3 when the sync stores it. Before, verify
    found the S3 copy's late timestamps missing."""
    import json

    from tests.conftest import s3_env
    from tests.s3server import Relay

    relay = Relay(moto.port)
    env = s3_env(relay.url, [{"name": "local", "url": str(isnad.home / "packages")},
                             {"name": "s3", "url": f"s3://{bucket}/evidence"}])
    env["ISNAD_STORAGE__RETRIES"] = "1"
    env["ISNAD_TIMESTAMPS__TSA"] = json.dumps([local_tsa.config_entry()])
    local_tsa.down = True
    rec = isnad.capture("--no-browser", site.url("/final.html"), env=env)
    local_tsa.down = False
    stamped = isnad("timestamp", "--pending", env=env)  # S3 still down
    assert stamped.code == 0 and "stamped" in stamped.stdout, stamped.stdout + stamped.stderr
    assert isnad("custody", "anchor", env=env).code == 0
    relay.start()
    try:
        synced = isnad("storage", "sync", env=env)
        assert synced.code == 0, synced.stdout + synced.stderr
        assert f"{rec['id']} → s3: datapackage.json.local-tsa.tsr" in synced.stdout
        verified = isnad("verify", rec["id"], env=env)
    finally:
        relay.stop()
    assert verified.code == 0, verified.stdout


@pytest.mark.serial  # counts ticks fired in a few seconds
@pytest.mark.e2e
def test_scheduler_restarts_with_its_schedules_and_stops_cleanly(isnad):
    first = SchedulerProcess(isnad, {}, "first")
    try:
        first.wait_for(lambda: len({r[0] for r in _runs(isnad.home)}) >= 3)
        shown = isnad("workers", "--json").json()
        assert [(w["kind"], w["pid"]) for w in shown] == [("scheduler", first.proc.pid)]
    finally:
        assert first.stop() == 0
    messages = [r.get("message", "") for r in first.lines()]
    assert "SIGTERM received" in " ".join(messages) and messages[-1].endswith("stopped")
    ids = _schedule_ids(isnad.home)
    # No TSA configured: no anchoring schedule.
    assert ids == ["housekeeping:audit", "housekeeping:sync", "housekeeping:timestamps"]
    assert isnad("workers", "--json").json() == []  # stopped: not shown as alive

    # Restart with the audit turned off: the same ids, no duplicates, the audit removed.
    before = len(_runs(isnad.home))
    again = SchedulerProcess(isnad, {"ISNAD_SCHEDULES__AUDIT__ENABLED": "false"}, "again")
    try:
        again.wait_for(lambda: len(_runs(isnad.home)) >= before + 2)
        assert _schedule_ids(isnad.home) == ["housekeeping:sync", "housekeeping:timestamps"]
    finally:
        assert again.stop() == 0


@pytest.mark.serial  # counts ticks fired in a few seconds
@pytest.mark.e2e
def test_two_schedulers_at_once_run_each_tick_once(isnad):
    pair = [SchedulerProcess(isnad, {}, "one"), SchedulerProcess(isnad, {}, "two")]
    try:
        for scheduler in pair:
            # Both up and firing: each has logged its start.
            scheduler.wait_for(lambda s=scheduler: any(
                "started" in r.get("message", "") for r in s.lines()))
        time.sleep(8)
    finally:
        codes = [s.stop() for s in pair]
    assert codes == [0, 0]
    ran = pair[0].ran() + pair[1].ran()
    assert len(ran) >= 6
    assert len(set(ran)) == len(ran), "a tick ran in both schedulers"
    assert sorted(ran) == sorted((s, d) for s, d, _ in (
        (r[0], datetime.fromisoformat(r[1]).replace(tzinfo=UTC).isoformat(), r[2])
        for r in _runs(isnad.home)))


def test_schedule_settings_read_durations_and_crontab(monkeypatch) -> None:
    from isnad.app import IsnadError
    from isnad.app.schedules import housekeeping_plan
    from isnad.config import load_settings

    monkeypatch.setenv("ISNAD_SCHEDULES__SYNC__EVERY", "5m")
    monkeypatch.setenv("ISNAD_SCHEDULES__TIMESTAMPS__ENABLED", "false")
    plan = housekeeping_plan(load_settings())
    assert plan == {"housekeeping:audit": When(cron="0 3 * * *"),
                    "housekeeping:sync": When(every=300)}  # no TSA: no anchoring
    monkeypatch.setenv("ISNAD_SCHEDULES__AUDIT__CRON", "0 25 * * *")
    with pytest.raises(IsnadError, match=r"schedules\.audit\.cron \(ISNAD_SCHEDULES__AUDIT__CRON"):
        load_settings()
    monkeypatch.delenv("ISNAD_SCHEDULES__AUDIT__CRON")
    monkeypatch.setenv("ISNAD_SCHEDULES__SYNC__EVERY", "soon")
    with pytest.raises(IsnadError, match="not a duration"):
        load_settings()
    monkeypatch.setenv("ISNAD_SCHEDULES__SYNC__EVERY", "5m")
    monkeypatch.setenv("ISNAD_SCHEDULES__ENABLED", "false")
    assert housekeeping_plan(load_settings()) == {}
