"""Workers on several machines: the real `isnad worker`, `submit` and `jobs` over a real Redis
queue, one shared catalog and one S3 vault (moto), on 127.0.0.1.

Each "machine" is a worker with a data folder (``ISNAD_HOME``) and a machine name
(``worker.host``) of its own, as two hosts would have; they share only what machines share: the
queue URL, the catalog URL, the S3 bucket and the organisation's signing key. The catalog is a
SQLite file shared by path, or a PostgreSQL database (``pg_cluster``), as machines would share it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest

from archiver.catalog import Catalog
from archiver.jobs import JobStore
from archiver.states import CaptureState, CustodyAction, JobState
from tests.conftest import Isnad, s3_env
from tests.test_runtime import running_with_capture, slow, wait_for

pytestmark = pytest.mark.e2e


class Machine(Isnad):
    """One machine's `isnad`: its own home and name; the shared queue, catalog and vault."""

    def __init__(self, home: Path, name: str, shared: dict[str, str]) -> None:
        home.mkdir(parents=True)
        super().__init__(home)
        self.name = name
        self.env.update(shared)
        self.env["ISNAD_WORKER__HOST"] = name

    def start_worker(self, *args: str) -> subprocess.Popen:
        """A worker whose stderr goes to a file (``proc.stderr.read()`` reads it): a pipe
        nobody reads until the end fills up, and a worker writing to it would block."""
        path = self.home / f"worker-{time.monotonic_ns()}.stderr"
        with open(path, "w") as sink:
            proc = subprocess.Popen(self.command("worker", *args), cwd=self.home,
                                    env=self.env, stdout=subprocess.DEVNULL, stderr=sink,
                                    text=True)
        proc.stderr = open(path)  # noqa: SIM115 - read by the test, closed with the process
        return proc


def make_cluster(tmp_path: Path, redis_server, moto, bucket, catalog_url: str | None
                 ) -> dict:
    """Three machines (two workers and an investigator's laptop) over one Redis, one
    catalog (a shared SQLite file when ``catalog_url`` is None) and one bucket."""
    shared_dir = tmp_path / "shared"
    shared_dir.mkdir()
    shared = {
        "ISNAD_QUEUE__URL": redis_server.url,
        "ISNAD_CATALOG__URL": catalog_url or f"sqlite:///{shared_dir / 'catalog.db'}",
        "ISNAD_SIGNING__KEY_DIR": str(shared_dir / "keys"),
        # Machines see each other only through the catalog: a short silence means dead here.
        "ISNAD_WORKER__HEARTBEAT": "1", "ISNAD_WORKER__STALE_AFTER": "8",
        **s3_env(moto.url, [{"name": "vault", "url": f"s3://{bucket}/evidence"}]),
    }
    machines = {name: Machine(tmp_path / name, name, shared)
                for name in ("machine-a", "machine-b", "laptop")}
    upgraded = machines["laptop"]("db", "upgrade")
    assert upgraded.code == 0, upgraded
    assert machines["laptop"]("keys", "init").code == 0  # the organisation's key, shared
    machines["store"] = JobStore(Catalog(shared["ISNAD_CATALOG__URL"]))
    machines["redis"] = redis_server
    return machines


@pytest.fixture
def cluster(tmp_path, redis_server, moto, bucket):
    """The machines over a SQLite catalog file they share by path."""
    return make_cluster(tmp_path, redis_server, moto, bucket, None)


@pytest.fixture
def pg_cluster(tmp_path, redis_server, moto, bucket, pg_url):
    """The machines over a PostgreSQL catalog."""
    machines = make_cluster(tmp_path, redis_server, moto, bucket, pg_url)
    yield machines
    machines["store"].catalog.engine.dispose()


def stop(proc: subprocess.Popen, how: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(how)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def submit(machine: Machine, *urls: str) -> list[str]:
    run = machine("submit", "--json", "--no-browser", *urls)
    assert run.code == 0, run
    return [job["id"] for job in run.json()]


@pytest.mark.serial  # outages and kills timed against running captures
@pytest.mark.timeout(1800)
def test_fifty_captures_spread_over_two_machines_each_done_once(cluster, site):
    a, b, laptop, store = (cluster[k] for k in ("machine-a", "machine-b", "laptop", "store"))
    workers = [a.start_worker("-c", "2"), b.start_worker("-c", "2")]
    try:
        wait_for(lambda: len(laptop("workers", "--json").json()) == 2, 60,
                 "both machines' workers to register")
        urls = [site.url(f"/generated/{n}.html") for n in range(50)]
        job_ids = submit(laptop, *urls[:25]) + submit(laptop, *urls[25:])
        assert len(set(job_ids)) == 50
        wait_for(lambda: all(r.state == JobState.DONE for r in store.many(job_ids)), 900,
                 "the 50 jobs to be done")
    finally:
        for proc in workers:
            stop(proc)
    assert [p.returncode for p in workers] == [0, 0], [p.stderr.read()[-2000:]
                                                      for p in workers]
    catalog = store.catalog
    rows = store.many(job_ids)
    machines_used = Counter(r.history[-1]["worker"].split(":")[1] for r in rows)
    assert set(machines_used) == {"machine-a", "machine-b"}, machines_used
    for row in rows:
        assert row.attempts == 1 and len(row.history) == 1, row.history  # done exactly once
        (capture_id,) = store.captures(row.id)
        capture = catalog.get(capture_id)
        assert capture.state == CaptureState.COMPLETE, (capture.state, capture.reasons)
        assert capture.worker_host == row.history[0]["worker"].split(":")[1]
        assert str(capture.package_location).startswith("s3://"), capture.package_location
    assert sorted(catalog.get(store.captures(r.id)[0]).url for r in rows) == sorted(urls)
    # Nothing is left in the queue, and a third machine verifies from the vault alone.
    assert cluster["redis"].client().zcard("huey.redis.isnad") == 0
    assert laptop("verify", store.captures(rows[0].id)[0]).code == 0


@pytest.mark.serial  # outages and kills timed against running captures
@pytest.mark.timeout(1800)
def test_a_machine_killed_mid_capture_its_job_done_once_elsewhere_settled_on_return(
        cluster, site):
    a, b, laptop, store = (cluster[k] for k in ("machine-a", "machine-b", "laptop", "store"))
    catalog = store.catalog
    worker_a = a.start_worker("-c", "1")
    wait_for(lambda: store.workers(), 60, "machine-a's worker to register")
    (job_id,) = submit(laptop, slow(site, 6))
    row = wait_for(lambda: running_with_capture(store, job_id), 120, "the job to start")
    assert row.worker_host == "machine-a"
    (first,) = store.captures(job_id)
    time.sleep(1)
    worker_a.send_signal(signal.SIGKILL)  # the machine dies
    worker_a.wait()
    pid = catalog.get(first).worker_pid
    wait_for(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie",
             30, "the capture process to die with its worker")
    worker_b = b.start_worker("-c", "1")
    try:
        # Machine B cannot see machine A's processes: A's silence in the catalog tells it.
        wait_for(lambda: store.get(job_id).state == JobState.DONE, 300,
                 "machine B to take the job over and finish it")
        gone = laptop("workers", "--json").json()
        dead = [w for w in gone if w["host"] == "machine-a"]
        assert dead and dead[0]["state"] == "gone", gone
    finally:
        stop(worker_b)
    row = store.get(job_id)
    assert row.attempts == 2 and [h["outcome"] for h in row.history] == ["interrupted", "done"]
    assert row.history[1]["worker"].split(":")[1] == "machine-b"
    second = [c for c in store.captures(job_id) if c != first]
    assert [catalog.get(c).state for c in second] == [CaptureState.COMPLETE]
    # A's attempt is on A's disk: nobody else settles it; it waits for its machine.
    assert catalog.get(first).state == CaptureState.RUNNING
    assert (a.home / "work" / first).is_dir()
    # Machine A comes back: its worker settles what it left, links it to the retry.
    back = a("worker", "--burst", "-c", "1", timeout=300)
    assert back.code == 0, back
    settled = catalog.get(first)
    assert settled.state == CaptureState.FAILED and settled.error.startswith("interrupted")
    assert (a.home / "quarantine" / first).is_dir()  # its files kept aside, on its machine
    retried = [e for e in catalog.events(first) if e.action == CustodyAction.RETRIED]
    assert len(retried) == 1, retried
    assert retried[0].details["job"] == job_id
    assert retried[0].details["retried_as_attempt"] == 2
    final = store.get(job_id)
    assert final.state == JobState.DONE and final.attempts == 2  # not run a third time
    assert sum(catalog.get(c).state == CaptureState.COMPLETE
               for c in store.captures(job_id)) == 1
    assert laptop("verify", first).code == 0  # the FAILED capture's custody chain is intact


@pytest.mark.serial  # outages and kills timed against running captures
@pytest.mark.timeout(1800)
def test_a_redis_outage_loses_nothing_and_workers_resume(cluster, site):
    a, b, laptop, store = (cluster[k] for k in ("machine-a", "machine-b", "laptop", "store"))
    redis = cluster["redis"]
    workers = [a.start_worker("-c", "1"), b.start_worker("-c", "1")]
    try:
        wait_for(lambda: len(store.workers()) == 2, 60, "both workers to register")
        # Two long captures keep both workers busy; four more wait in Redis.
        busy = submit(laptop, slow(site, 10, 1), slow(site, 10, 2))
        waiting = submit(laptop, *(site.url(f"/generated/{n}.html") for n in range(4)))
        wait_for(lambda: all(r.state == JobState.RUNNING for r in store.many(busy)), 120,
                 "both workers to be busy")
        redis.stop()  # Redis goes down and comes back empty: the waiting messages are gone
        refused = laptop("submit", "--no-browser", site.url("/arabic.html"))
        assert refused.code == 2, refused
        (line,) = refused.stderr.strip().splitlines()
        assert f"the queue at {redis.url} cannot be reached" in line, line
        assert "nothing was submitted" in line, line
        assert not [r for r in store.list() if r.url == site.url("/arabic.html")]
        time.sleep(3)
        assert [p.poll() for p in workers] == [None, None]  # the workers ride it out
        # Held still while Redis starts and is looked at: a worker restores the lost messages
        # within its next tick (a second), which may come before the look that checks they
        # are lost (it did in 3 runs of 3 with warm capture processes, none in 1 without).
        for proc in workers:
            proc.send_signal(signal.SIGSTOP)
        try:
            redis.start()
            assert redis.client().zcard("huey.redis.isnad") == 0
        finally:
            for proc in workers:
                proc.send_signal(signal.SIGCONT)
        everything = busy + waiting
        wait_for(lambda: all(r.state == JobState.DONE for r in store.many(everything)), 600,
                 "every job, the lost messages restored, to be done")
        after = submit(laptop, site.url("/arabic.html"))
        wait_for(lambda: store.get(after[0]).state == JobState.DONE, 300,
                 "a job submitted after the outage to be done")
    finally:
        for proc in workers:
            stop(proc)
    for row in store.many(busy + waiting):
        assert row.attempts == 1, row.history
        captures = [store.catalog.get(c) for c in store.captures(row.id)]
        assert [c.state for c in captures] == [CaptureState.COMPLETE], [
            (row.url, c.error, c.reasons) for c in captures]
    logs = "".join(p.stderr.read() for p in workers)
    assert "lost message(s) restored" in logs
    # Said once, not a traceback per failed read (Huey's consumer tries several a second).
    assert "cannot be reached" in logs and "Error reading from queue" not in logs


@pytest.mark.serial  # outages and kills timed against running captures
@pytest.mark.timeout(1800)
def test_a_worker_started_while_redis_is_down_waits_for_it(cluster, site):
    a, laptop, store, redis = (cluster[k] for k in ("machine-a", "laptop", "store", "redis"))
    redis.stop()
    worker = a.start_worker("-c", "1")
    try:
        wait_for(lambda: store.workers(), 60, "the worker to register")
        time.sleep(2)
        assert worker.poll() is None
        redis.start()
        (job_id,) = submit(laptop, site.url("/"))
        wait_for(lambda: store.get(job_id).state == JobState.DONE, 300, "the job to be done")
    finally:
        stop(worker)
    assert worker.returncode == 0


def test_submit_names_the_queue_without_its_password(tmp_path, redis_server):
    laptop = Machine(tmp_path / "laptop", "laptop", {
        "ISNAD_QUEUE__URL": f"redis://:s3cret@127.0.0.1:{redis_server.port}/0"})
    redis_server.stop()
    run = laptop("submit", "--no-browser", "http://127.0.0.1:9/")
    assert run.code == 2
    assert "s3cret" not in run.stderr and "redis://***@127.0.0.1" in run.stderr, run.stderr
    assert os.environ.get("ISNAD_QUEUE__URL") is None


def test_workers_shows_the_live_and_the_gone_and_with_all_the_stopped(isnad):
    from datetime import UTC, datetime, timedelta

    from archiver.jobs import WorkerRow

    isnad.env.update({"ISNAD_WORKER__HOST": "here", "ISNAD_WORKER__STALE_AFTER": "30"})
    store = JobStore(Catalog(f"sqlite:///{isnad.home / 'catalog.db'}"))
    me = os.getpid()
    store.register_worker("worker:here:1", "worker", "here", me, 2)
    store.register_worker("worker:elsewhere:7:1", "worker", "elsewhere", 7, 4)
    store.register_worker("worker:elsewhere:8:1", "worker", "elsewhere", 8, 1)
    store.register_worker("worker:old:9:1", "worker", "old", 9, 1)
    store.stop_worker("worker:elsewhere:8:1")
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    with store.session() as s:
        s.get(WorkerRow, "worker:elsewhere:7:1").heartbeat_at = long_ago  # silent: gone
        s.get(WorkerRow, "worker:old:9:1").heartbeat_at = long_ago - timedelta(days=2)
    job = store.add(url="http://127.0.0.1:9/", spec={"url": "http://127.0.0.1:9/"},
                    priority=30, source="cli", operator="t", case_id=None)
    store.claim(job.id, "worker:elsewhere:7:1", "elsewhere", 7)
    shown = {w["id"]: w for w in isnad("workers", "--json").json()}
    assert set(shown) == {"worker:here:1", "worker:elsewhere:7:1"}
    assert shown["worker:here:1"]["state"] == "alive"
    gone = shown["worker:elsewhere:7:1"]
    assert (gone["state"], gone["host"], gone["concurrency"], gone["jobs"]) == (
        "gone", "elsewhere", 4, [job.id])  # its job waits to be queued again
    every = {w["id"]: w["state"] for w in isnad("workers", "--all", "--json").json()}
    assert every == {"worker:here:1": "alive", "worker:elsewhere:7:1": "gone",
                     "worker:elsewhere:8:1": "stopped", "worker:old:9:1": "gone"}
    table = isnad("workers")
    assert table.code == 0 and "gone" in table.stdout and "elsewhere" in table.stdout


@pytest.mark.serial  # outages and kills timed against running captures
@pytest.mark.timeout(1800)
def test_on_postgresql_jobs_spread_over_two_machines_one_killed_each_done_once(
        pg_cluster, site):
    """Two machines over Redis, a PostgreSQL catalog and S3: 16 submissions (not 50: the
    SQLite test above has the volume; this one has the engine and the kill), one machine
    killed with -9 while capturing. Every job is done exactly once, each with exactly one
    COMPLETE capture; what the dead machine left is settled and linked when it returns."""
    a, b, laptop, store = (pg_cluster[k] for k in ("machine-a", "machine-b", "laptop", "store"))
    catalog = store.catalog
    assert catalog.engine.dialect.name == "postgresql"
    workers = {"a": a.start_worker("-c", "2"), "b": b.start_worker("-c", "2")}
    try:
        wait_for(lambda: len(laptop("workers", "--json").json()) == 2, 60,
                 "both machines' workers to register")
        # Slow pages first, so that each machine is busy capturing when one is killed.
        urls = [slow(site, 6, n) for n in range(4)]
        urls += [site.url(f"/generated/{n}.html") for n in range(12)]
        job_ids = submit(laptop, *urls)
        assert len(set(job_ids)) == 16

        def a_capturing() -> list[str]:
            return [r.id for r in store.many(job_ids) if r.state == JobState.RUNNING
                    and r.worker_host == "machine-a" and store.captures(r.id)]

        killed = wait_for(a_capturing, 180, "machine-a to be capturing")
        workers["a"].send_signal(signal.SIGKILL)  # the machine dies mid-capture
        workers["a"].wait()
        left_running = {c for j in killed for c in store.captures(j)}
        wait_for(lambda: all(r.state == JobState.DONE for r in store.many(job_ids)), 900,
                 "machine B to finish every job, machine A's included")
    finally:
        for proc in workers.values():
            stop(proc)
    assert workers["b"].returncode == 0, workers["b"].stderr.read()[-2000:]
    rows = store.many(job_ids)
    ran_on = Counter(h["worker"].split(":")[1] for r in rows for h in r.history)
    assert set(ran_on) == {"machine-a", "machine-b"}, ran_on
    for row in rows:
        states = [catalog.get(c).state for c in store.captures(row.id)]
        assert states.count(CaptureState.COMPLETE) == 1, (row.url, states, row.history)
        done = [h for h in row.history if h["outcome"] == "done"]
        assert len(done) == 1, row.history  # done exactly once
        # Killed with its worker (a capture under way, or only just claimed): run again.
        if row.id in killed or row.history[0]["outcome"] == "interrupted":
            assert [h["outcome"] for h in row.history] == ["interrupted", "done"]
            assert row.history[0]["worker"].split(":")[1] == "machine-a"
            assert done[0]["worker"].split(":")[1] == "machine-b"
        else:
            assert row.attempts == 1, row.history
    assert sorted(catalog.get(c).url for r in rows for c in store.captures(r.id)
                  if catalog.get(c).state == CaptureState.COMPLETE) == sorted(urls)
    # What machine A was capturing waits for A (its files are on A's disk), then is settled.
    assert {catalog.get(c).state for c in left_running} == {CaptureState.RUNNING}
    back = a("worker", "--burst", "-c", "1", timeout=300)
    assert back.code == 0, back
    for capture_id in left_running:
        settled = catalog.get(capture_id)
        assert settled.state == CaptureState.FAILED and settled.error.startswith("interrupted")
        retried = [e for e in catalog.events(capture_id) if e.action == CustodyAction.RETRIED]
        assert len(retried) == 1 and retried[0].details["retried_as_attempt"] == 2, retried
    assert all(r.state == JobState.DONE and r.attempts <= 2 for r in store.many(job_ids))
    assert pg_cluster["redis"].client().zcard("huey.redis.isnad") == 0
    assert laptop("verify", next(iter(left_running))).code == 0


@pytest.fixture
def own_postgres():
    """A PostgreSQL server of this test's own: it is stopped and started again mid-run."""
    from tests.pgserver import running_postgres

    yield from running_postgres()


@pytest.mark.serial  # outages and kills timed against running captures
@pytest.mark.timeout(1800)
def test_postgresql_stopped_mid_capture_nothing_is_claimed_without_its_record(
        tmp_path, redis_server, moto, bucket, own_postgres, site):
    """The catalog's server stops while a worker captures, and comes back. After recovery
    no capture is COMPLETE without its catalog row and its custody events (on the catalog
    and in the vault), the job is done (or settled and run again), nothing is lost, and the
    worker goes on taking jobs."""
    machines = make_cluster(tmp_path, redis_server, moto, bucket, own_postgres.new_database())
    a, laptop, store = (machines[k] for k in ("machine-a", "laptop", "store"))
    catalog = store.catalog
    worker = a.start_worker("-c", "1")
    try:
        wait_for(lambda: store.workers(), 60, "the worker to register")
        (job_id,) = submit(laptop, slow(site, 5))
        wait_for(lambda: running_with_capture(store, job_id), 120, "the capture to start")
        time.sleep(1)
        own_postgres.stop("fast")  # the catalog goes away mid-capture...
        time.sleep(10)  # ...while the crawl ends and its package is to be sealed
        assert worker.poll() is None  # the worker rides it out
        own_postgres.start_again()
        try:
            wait_for(lambda: store.get(job_id).state in (JobState.DONE, JobState.FAILED), 300,
                     "the job to be settled after the outage")
        except BaseException:
            stop(worker)
            row = store.get(job_id)
            print("JOB", row.state, row.attempts, row.worker, row.heartbeat_at, row.history)
            for c in store.captures(job_id):
                print("CAP", catalog.get(c).state, catalog.get(c).error)
            print("STDERR", worker.stderr.read()[-6000:])
            for f in (a.home / "logs" / "jobs").glob("*"):
                print("LOG", f, f.read_text()[-3000:])
            raise
        (after,) = submit(laptop, site.url("/arabic.html"))
        wait_for(lambda: store.get(after).state == JobState.DONE, 300,
                 "a job submitted after the outage to be done")
        wait_for(lambda: not catalog.list(state=CaptureState.RUNNING), 120,
                 "no capture left RUNNING")
    finally:
        stop(worker)
    said = worker.stderr.read()
    assert worker.returncode == 0, said[-3000:]
    # The outage is said in a line when it starts and one when it ends, not in a traceback a
    # second (which filled the worker's stderr pipe and blocked its heartbeat for good).
    assert "the catalog cannot be reached" in said and "the catalog answers again" in said, (
        said[-3000:])
    assert said.count("Traceback") <= 2, said[-6000:]
    row = store.get(job_id)
    captures = [catalog.get(c) for c in store.captures(job_id)]
    assert captures, row.history
    complete = [c for c in captures if c.state == CaptureState.COMPLETE]
    assert len(complete) <= 1, [(c.id, c.state) for c in captures]
    # The outage is not the capture's fault: its job is run again and done, not failed.
    assert row.state == JobState.DONE, row.history
    assert complete, ([(c.state, c.error) for c in captures], row.history)
    for earlier in row.history[:-1]:
        assert "catalog could not be written" in earlier["error"], row.history
    for capture in captures:
        actions = [e.action for e in catalog.events(capture.id)]
        assert actions[0] == CustodyAction.REQUESTED, actions
        if capture.state == CaptureState.COMPLETE:
            assert {CustodyAction.CAPTURED, CustodyAction.PACKAGED,
                    CustodyAction.STORED} <= set(actions), actions
            assert str(capture.package_location).startswith("s3://")
        else:
            assert capture.state == CaptureState.FAILED and capture.error, capture.state
            assert CustodyAction.FAILED in actions or CustodyAction.SUPERSEDED in actions
        # The vault holds the same chain and says the same state as the catalog.
        checked = laptop("verify", capture.id)
        assert checked.code == 0, checked.stdout + checked.stderr
    # The vault alone: every capture it holds is in the catalog, in the state it records.
    s3 = moto.client()
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", [])]
    held = {k.split("/")[-2] for k in keys if k.endswith("/custody-head.json")}
    assert held and held <= {c.id for c in catalog.list()}, held
    catalog.engine.dispose()
