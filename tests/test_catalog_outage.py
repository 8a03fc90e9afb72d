"""The catalog going away under a worker: calls fail within bounded time, the outage is said
in a few lines (not a traceback a second), a progress write it refuses does not end a capture,
and a job whose attempt could not be settled is settled once the catalog is back.

A real PostgreSQL server of this module's own (tests/pgserver.py) is stopped and started
again; a silent TCP listener on 127.0.0.1 stands for a server behind a dead link.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

import archiver.catalog as catalog_module
from archiver.catalog import Catalog
from archiver.jobs import JobStore
from archiver.states import JobState
from isnad.app.archive import open_archive
from isnad.app.jobs import JobSpec
from isnad.app.runner import Attempt, JobRunner
from isnad.app.worker import Heartbeat
from isnad.config import Settings

ROOT = Path(__file__).resolve().parents[1]

# Outages timed against heartbeats and running captures: not beside other tests.
pytestmark = pytest.mark.serial


@pytest.fixture(scope="module")
def own_pg():
    """A PostgreSQL server this module stops and starts (kept running between tests)."""
    from tests.pgserver import running_postgres

    yield from running_postgres()


@pytest.fixture
def outage(own_pg):
    """Stops the server (``outage.begin()``) and makes sure it runs again after the test."""

    class Outage:
        def begin(self) -> None:
            own_pg.stop("fast")

        def end(self) -> None:
            own_pg.start_again()

    yield Outage()
    try:
        own_pg.start_again()  # a test that failed mid-outage leaves it stopped
    except RuntimeError:
        pass  # it runs already


def worker_parts(tmp_path: Path, url: str, **worker: float):
    """A job store and a runner over the catalog at ``url``, as a worker has them."""
    Catalog(url, upgrade=True).engine.dispose()
    settings = Settings(home=tmp_path / "home", catalog={"url": url},
                        worker={"heartbeat": 1, **worker})
    archive = open_archive(settings, recover=False)
    store = JobStore(archive.catalog)
    runner = JobRunner(settings, archive, store, f"worker:test:{os.getpid()}:1")
    store.register_worker(runner.worker_id, "worker", settings.machine(), os.getpid(), 1)
    return store, runner


def add_job(store: JobStore, url: str = "http://127.0.0.1:9/a"):
    return store.add(url=url, spec=JobSpec(url=url, operator="alice").to_dict(), priority=30,
                     source="cli", operator="alice", case_id=None)


def test_a_catalog_server_that_never_answers_fails_within_bounded_time(monkeypatch):
    """A server behind a dead link accepts (or seems to) and says nothing: without a connect
    timeout libpq waits for ever, and so did the capture process that opened it."""
    monkeypatch.setattr(catalog_module, "CONNECT_TIMEOUT", 2)  # libpq's least
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshake; nothing ever answers
        port = silent.getsockname()[1]
        outcome: list[BaseException | None] = []

        def open_it() -> None:
            try:
                Catalog(f"postgresql+psycopg://isnad@127.0.0.1:{port}/isnad")
                outcome.append(None)
            except BaseException as exc:  # noqa: BLE001 - looked at below
                outcome.append(exc)

        started = time.monotonic()
        opener = threading.Thread(target=open_it, daemon=True)
        opener.start()
        opener.join(60)
        took = time.monotonic() - started
    assert outcome, "opening a catalog whose server never answers did not end in 60 s"
    assert isinstance(outcome[0], OperationalError), outcome
    assert "timeout" in str(outcome[0]).lower(), outcome[0]
    assert took < 30, took


def test_postgresql_connections_are_bounded_unless_the_url_says_otherwise():
    bounds = catalog_module._connect_args("postgresql+psycopg://u@127.0.0.1:5432/isnad")
    assert bounds["connect_timeout"] == catalog_module.CONNECT_TIMEOUT
    assert bounds["keepalives"] == 1 and bounds["tcp_user_timeout"] > 0
    chosen = catalog_module._connect_args(
        "postgresql+psycopg://u@127.0.0.1:5432/isnad?connect_timeout=45")
    assert "connect_timeout" not in chosen and chosen["keepalives"] == 1  # the URL's wins
    assert catalog_module._connect_args("sqlite:///x.db") == {"timeout": 60}


def test_a_catalog_outage_is_said_once_when_it_starts_and_once_when_it_ends(
        tmp_path, own_pg, outage, caplog):
    """The heartbeat used to log a full traceback every second of an outage (a worker whose
    stderr was a pipe read late filled it and blocked in logging for good)."""
    store, runner = worker_parts(tmp_path, own_pg.new_database())
    heartbeat = Heartbeat(runner, 0.2)  # a look (and a sign of life) every 0.2 s
    with caplog.at_level(logging.INFO):
        heartbeat.start()
        try:
            time.sleep(1)  # the catalog answers
            outage.begin()
            time.sleep(3)  # a dozen looks fail
            outage.end()
            time.sleep(2)
        finally:
            heartbeat.stopped.set()
            heartbeat.join(30)
    said = [r for r in caplog.records if r.name.startswith("isnad")]
    assert not [r for r in said if r.exc_info], [r.getMessage() for r in said if r.exc_info]
    messages = [r.getMessage() for r in said]
    assert len(messages) == 2, messages
    assert "the catalog cannot be reached" in messages[0], messages
    assert "OperationalError" in messages[0] and "\n" not in messages[0], messages
    assert "the catalog answers again" in messages[1] and "failed look(s)" in messages[1]
    assert all(r.levelno == logging.WARNING for r in said)
    beat = next(w for w in store.workers() if w.id == runner.worker_id).heartbeat_at
    assert time.time() - beat.timestamp() < 30  # the sign of life after the outage was written


def test_an_outage_that_lasts_is_recalled_every_so_often(tmp_path, own_pg, outage, caplog):
    _, runner = worker_parts(tmp_path, own_pg.new_database())
    heartbeat = Heartbeat(runner, 1.0)
    heartbeat.interval = 0.0
    heartbeat.outage.remind_every = 0.2
    with caplog.at_level(logging.WARNING):
        outage.begin()
        for _ in range(3):
            heartbeat.tick()
            time.sleep(0.25)
        outage.end()
    still = [r.getMessage() for r in caplog.records if "still cannot be reached" in
             r.getMessage()]
    assert len(still) == 2, [r.getMessage() for r in caplog.records]


def test_a_progress_write_the_catalog_refuses_does_not_end_the_capture(
        tmp_path, own_pg, outage, caplog):
    """It raised into the runner, which then stopped the capture process: a capture killed
    because `isnad jobs` could not be told how far it had got."""
    store, runner = worker_parts(tmp_path, own_pg.new_database())
    job = add_job(store)
    number = store.claim(job.id, runner.worker_id, runner.host, os.getpid())
    attempt = Attempt(job.id, number, process=None)  # type: ignore[arg-type]
    attempt.progress = {"stage": "crawling", "exchanges": 3}
    with caplog.at_level(logging.INFO, logger="isnad"):
        outage.begin()
        runner._write_progress(attempt, force=True)  # raised OperationalError before
        runner._write_progress(attempt, force=True)
        outage.end()
        attempt.progress["exchanges"] = 9
        runner._write_progress(attempt, force=True)
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("isnad")]
    assert sum("could not be recorded" in m for m in messages) == 1, messages
    assert any("recorded again" in m for m in messages), messages
    assert store.get(job.id).progress["exchanges"] == 9


def test_recovery_settles_this_workers_own_job_that_it_no_longer_runs(tmp_path, own_pg):
    """A job whose settling failed (the catalog was down) stays RUNNING under this live
    worker. Recovery skipped every job of its own worker, so it stayed RUNNING for ever."""
    store, runner = worker_parts(tmp_path, own_pg.new_database(), stale_after=1)
    job = add_job(store)
    store.claim(job.id, runner.worker_id, runner.host, os.getpid())
    time.sleep(1.5)  # no sign of life for it since: stale
    assert runner.recover() == [job.id]
    row = store.get(job.id)
    assert row.state == JobState.QUEUED and row.attempts == 1, (row.state, row.history)


def test_a_job_left_unsettled_by_an_outage_is_settled_at_the_next_recovery(tmp_path, own_pg):
    """...at once, not after ``worker.stale_after`` more seconds of waiting to look stale."""
    store, runner = worker_parts(tmp_path, own_pg.new_database(), stale_after=3600)
    job = add_job(store)
    number = store.claim(job.id, runner.worker_id, runner.host, os.getpid())
    runner._leave_to_recovery(job.id, number, OperationalError("x", {}, Exception("down")))
    assert runner.recover() == [job.id]
    row = store.get(job.id)
    assert row.state == JobState.QUEUED, (row.state, row.history)
    assert "catalog could not be written" in row.history[-1]["reason"], row.history
    assert runner.unsettled == {}


def test_a_crawl_whose_on_start_raises_ends_the_process(tmp_path):
    """``on_start`` writing to a catalog that went away raised inside the crawl loop's
    generator: the reactor ran on, the capture process never ended."""
    code = (
        "from crawlers.run import run_crawls\n"
        "def on_start(job):\n"
        "    raise RuntimeError('the catalog went away')\n"
        "try:\n"
        "    run_crawls([object()], lambda job: None, on_start=on_start,\n"
        "               executable_path='/nonexistent/chromium')\n"
        "except RuntimeError as exc:\n"
        "    print('raised:', exc)\n"
    )
    try:
        run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                             text=True, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail("run_crawls did not return after on_start raised (the reactor ran on)")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "raised: the catalog went away" in run.stdout, run.stdout + run.stderr[-2000:]


def test_isnad_capture_runs_again_its_own_job_queued_again(tmp_path):
    """`isnad capture` with no worker runs its jobs itself and waits for them: a job of its
    own queued again (its capture process ended because the catalog could not record it)
    must run here again, or the command would wait for a worker that never comes."""
    from isnad.app.worker import LocalRun

    url = "http://10.255.255.1/unreachable"  # private: refused at once, no browser, no wait
    settings = Settings(home=tmp_path / "home", worker={"heartbeat": 1})
    archive = open_archive(settings, recover=False)
    store = JobStore(archive.catalog)
    job = store.add(url=url, spec=JobSpec(url=url, operator="alice", use_browser=False)
                    .to_dict(), priority=30, source="cli", operator="alice", case_id=None)
    offered: list[str] = []
    local = LocalRun(settings, archive, 1, requeue=lambda row: offered.append(row.id))
    try:
        number = store.claim(job.id, local.id, settings.machine(), os.getpid())
        local.futures[job.id] = local.pool.submit(lambda: None)  # one of its own jobs
        # What the runner does when a capture process ends for want of a catalog:
        assert local.runner.give_back(store.get(job.id), number, "the catalog could not be "
                                      "written during the capture (test)")
        assert offered == [job.id]  # the queue has its message too (a worker may take it)
        assert local.futures[job.id].result(timeout=240) == JobState.DONE
    finally:
        local.close()
    row = store.get(job.id)
    assert row.state == JobState.DONE and row.attempts == 2, (row.state, row.history)


def test_a_job_left_unsettled_whose_attempt_sealed_a_capture_is_failed_not_run_again(tmp_path):
    """Its attempt sealed one capture and left another interrupted: it must not be queued
    again (never two results for one job), nor stay RUNNING for ever because the queueing is
    refused: it is recorded failed, as it ended."""
    from datetime import UTC, datetime

    from archiver.catalog import CaptureRow

    settings = Settings(home=tmp_path / "home", worker={"heartbeat": 1, "stale_after": 3600})
    archive = open_archive(settings, recover=False)
    store = JobStore(archive.catalog)
    runner = JobRunner(settings, archive, store, f"worker:test:{os.getpid()}:1")
    job = add_job(store)
    number = store.claim(job.id, runner.worker_id, runner.host, os.getpid())
    for n, (state, error) in enumerate([("COMPLETE", None), ("FAILED", "interrupted: test")]):
        capture_id = f"01a23300-0000-7000-8000-{n:012d}"
        archive.catalog.add_capture(CaptureRow(
            id=capture_id, url=job.url, state=state, error=error, reasons=[], tags=[],
            operator="alice", started_at=datetime.now(UTC), context={}))
        store.link_capture(job.id, number, capture_id)
    runner._leave_to_recovery(job.id, number, OperationalError("x", {}, Exception("down")))
    assert runner.recover() == [job.id]
    row = store.get(job.id)
    assert row.state == JobState.FAILED and row.attempts == 1, (row.state, row.history)
    assert "catalog could not be written" in row.error, row.error
    assert runner.unsettled == {}


def test_a_dead_workers_job_with_a_sealed_and_an_interrupted_capture_is_settled(tmp_path):
    """A worker killed -9 after its job sealed one capture (a channel's listing) and while it
    ran another (a post): giving the job back was refused by the catalog (a sealed capture
    is never run twice) on every recovery, and the job stayed RUNNING for ever under a dead
    worker. Now it is settled once: FAILED as it ended, the sealed capture the job's one
    COMPLETE, the interrupted one FAILED with its files in quarantine."""
    from datetime import UTC, datetime

    from archiver.catalog import CaptureRow
    from archiver.states import CaptureState, CustodyAction

    settings = Settings(home=tmp_path / "home", worker={"heartbeat": 1, "stale_after": 3600})
    archive = open_archive(settings, recover=False)
    store = JobStore(archive.catalog)
    runner = JobRunner(settings, archive, store, f"worker:test:{os.getpid()}:2")
    dead = subprocess.Popen(["true"])  # the killed worker's (and its capture's) process
    dead.wait()
    job = add_job(store)
    number = store.claim(job.id, "worker:gone:1:1", archive.host, dead.pid)
    sealed, interrupted = "01a23300-0000-7000-8000-000000000001", \
        "01a23300-0000-7000-8000-000000000002"
    work = tmp_path / "work" / interrupted
    work.mkdir(parents=True)
    (work / "isnad-part.warc.gz").write_bytes(b"half a record")
    for capture_id, state, folder in [(sealed, CaptureState.COMPLETE, None),
                                      (interrupted, CaptureState.RUNNING, str(work))]:
        archive.catalog.add_capture(CaptureRow(
            id=capture_id, url=job.url, state=state, reasons=[], tags=[], operator="alice",
            started_at=datetime.now(UTC), context={}, worker_host=archive.host,
            worker_pid=dead.pid, work_dir=folder))
        store.link_capture(job.id, number, capture_id)

    assert runner.recover() == [job.id]  # the old code: [] here and at every recovery after
    assert runner.recover() == []  # settled once
    row = store.get(job.id)
    assert row.state == JobState.FAILED and row.attempts == 1, (row.state, row.history)
    assert sealed in row.error and interrupted in row.error, row.error
    assert row.history[-1]["sealed_captures"] == [sealed], row.history
    assert row.history[-1]["interrupted_captures"] == [interrupted], row.history
    assert archive.catalog.get(sealed).state == CaptureState.COMPLETE
    lost = archive.catalog.get(interrupted)
    assert lost.state == CaptureState.FAILED and lost.error.startswith("interrupted"), lost
    kept = archive.quarantine_root / interrupted / "isnad-part.warc.gz"
    assert kept.read_bytes() == b"half a record" and not work.exists()
    assert CustodyAction.FAILED in [e.action for e in archive.catalog.events(interrupted)]
    completes = [c for c in store.captures(job.id, number)
                 if archive.catalog.get(c).state == CaptureState.COMPLETE]
    assert completes == [sealed]  # never two COMPLETE captures for one job


def _outage_lines(lines: list[dict]) -> tuple[list[str], list[str], list[str]]:
    """(outage warnings, recovery lines, lines with a traceback) of a JSON log."""
    messages = [r.get("message", "") for r in lines]
    return ([m for m in messages if "the catalog cannot be reached" in m],
            [m for m in messages if "the catalog answers again" in m],
            [r.get("message", "") + "\n" + r["exception"][-600:] for r in lines
             if r.get("exception")])


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_schedulers_ride_out_a_catalog_outage_and_one_fires_after_it(isnad, own_pg, outage):
    """Two `isnad scheduler` processes (two machines) on one PostgreSQL catalog that stops
    for longer than the lease. Their heartbeats, lease renewals and alert couriers logged a
    traceback every second of it (one a second per thread); the leader kept its APScheduler
    firing though it could not renew its lease. Now: one warning and one recovery line each,
    no tick fired during the outage, exactly one leads after it and fires again, and no
    tick is fired twice."""
    from tests.test_schedules import SchedulerProcess

    url = own_pg.new_database()
    Catalog(url, upgrade=True).engine.dispose()

    def on(machine: str) -> dict[str, str]:
        return {"ISNAD_CATALOG__URL": url, "ISNAD_SCHEDULES__LEASE": "4",
                "ISNAD_WORKER__HOST": machine, "ISNAD_ALERTS__POLL": "1"}

    def said(process: SchedulerProcess, text: str) -> int:
        return sum(text in r.get("message", "") for r in process.lines())

    one = SchedulerProcess(isnad, on("machine-a"), "one")
    two = None
    try:
        one.wait_for(lambda: said(one, "leads") == 1)
        two = SchedulerProcess(isnad, on("machine-b"), "two")
        two.wait_for(lambda: said(two, "standing by") == 1)
        one.wait_for(lambda: len(one.ran()) >= 3)
        outage.begin()
        time.sleep(9)  # more than twice the lease: nobody may hold it
        ran_before = len(one.ran()) + len(two.ran())
        time.sleep(1)
        assert len(one.ran()) + len(two.ran()) == ran_before, "a tick fired in the outage"
        restarted_at = time.time()
        outage.end()
        for process in (one, two):
            process.wait_for(lambda p=process: said(p, "the catalog answers again") >= 1, 90)
        # One of them leads again and fires.
        fired_after = lambda: [(s, d) for s, d in one.ran() + two.ran()  # noqa: E731
                               if datetime_of(d) > restarted_at]
        one.wait_for(lambda: len(fired_after()) >= 3, 120)
        time.sleep(3)
        # Exactly one leads after the outage (its last word on the lease is that it leads);
        # read before they stop (the first to stop gives the lease to the other).
        leaders = [p for p in (one, two) if "leads (lease" in _role(p.lines())]
    finally:
        codes = [p.stop() for p in (one, two) if p is not None]
    assert codes == [0, 0][:len(codes)]
    for process in (one, two):
        lines = process.lines()
        warned, recovered, tracebacks = _outage_lines(lines)
        assert not tracebacks, tracebacks[:3]
        assert len(warned) == 1, warned
        assert "no schedule fires" in warned[0] and "\n" not in warned[0], warned
        assert len(recovered) == 1 and "failed look(s)" in recovered[0], recovered
        # APScheduler's own failed reads of its job table are not said again, nor in full.
        assert not [r for r in lines if "\n" in r.get("message", "")
                    or "job table" in r.get("message", "")], process.log_path
    assert len(leaders) == 1, [p.log_path.read_text()[-3000:] for p in (one, two)]
    ran = one.ran() + two.ran()
    assert len(set(ran)) == len(ran), "a tick ran twice"


def _role(lines: list[dict]) -> str:
    """A scheduler's last line about the lease: it leads, or it stands by."""
    said = [r.get("message", "") for r in lines if any(
        word in r.get("message", "") for word in ("leads (lease", "stands by", "standing by"))]
    return said[-1] if said else ""


def datetime_of(due: str) -> float:
    """A run's due time (ISO 8601, as logged) as a Unix time."""
    from datetime import UTC, datetime

    moment = datetime.fromisoformat(due)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def test_the_alert_courier_says_an_outage_once(tmp_path, own_pg, outage, caplog):
    """The courier logged a traceback on every pass (every ``alerts.poll`` second) while the
    catalog was down."""
    from isnad.app.alerts import AlertCourier

    url = own_pg.new_database()
    Catalog(url, upgrade=True).engine.dispose()
    settings = Settings(home=tmp_path / "home", catalog={"url": url}, alerts={"poll": 0.2})
    stop = threading.Event()
    courier = AlertCourier(settings, stop)
    with caplog.at_level(logging.INFO):
        courier.start()
        try:
            time.sleep(1)
            outage.begin()
            time.sleep(3)  # a dozen passes fail
            outage.end()
            deadline = time.monotonic() + 30
            # (the old courier had no outage to look at: it waits the 30 s)
            while (getattr(getattr(courier, "outage", None), "since", 0) is not None
                   and time.monotonic() < deadline):
                time.sleep(0.2)
        finally:
            stop.set()
            courier.join(30)
    said = [r for r in caplog.records if r.name.startswith("isnad")]
    assert not [r for r in said if r.exc_info], [r.getMessage() for r in said if r.exc_info]
    messages = [r.getMessage() for r in said]
    assert len(messages) == 2, messages
    assert "the catalog cannot be reached" in messages[0], messages
    assert "no alert is delivered" in messages[0] and "\n" not in messages[0], messages
    assert "the catalog answers again" in messages[1], messages
