"""Scale-out benchmark (issue 16): two workers on two "machines" against one, on I/O-bound
captures. Prints figures; asserts nothing (timings vary by machine).

Every capture is a plain-HTTP capture (``--no-browser``) of a fixture page that the server
trickles over --delay seconds (``/slow-page`` of ``tests/fixture_site``, served by its own
process on 127.0.0.1; no other host is contacted): the time of a capture is spent waiting on
the network, as for a slow site, not on this machine's CPU.

Each "machine" is an ``isnad worker`` with a data folder (``ISNAD_HOME``) and a machine name of
its own; the machines share a Redis queue (tests/redisserver.py), one catalog (a throwaway
PostgreSQL from tests/pgserver.py, or a SQLite file shared by path) and the organisation's
signing key; each keeps its packages in its own local archive folder. The workers are started
and registered before the clock starts; then --jobs URLs are submitted (``isnad submit
--no-browser -i urls.txt``) and the time runs from the submission's start to the moment every
job is DONE in the catalog (polled every 0.1 s). Median of --rounds rounds, for 1 worker and
for 2 workers with the same --concurrency each; their ratio (target >= 1.8x). The 1-minute
load average is printed with every figure: the machine may be shared.

The CPU of a job is counted in the workers and their capture processes (the kernel's
accounting) and, apart, in the database and Redis servers. ``--code DIR`` runs the same rounds
with another version's workers (a checkout, first on their ``PYTHONPATH``), interleaved with
this code's, so that a before/after comparison sees the same load.

Usage: ``python bench/scaleout_bench.py [--jobs 16] [--delay 8] [--concurrency 4]
[--rounds 3] [--db postgresql|sqlite|both] [--code DIR]``
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from runtime import BenchError, fixture_site, isnad, isnad_env  # noqa: E402 - after the path

POLL = 0.1  # seconds between looks at the catalog while the jobs run


@dataclass
class Round:
    """One round: jobs submitted and done, how long, where the time went."""

    workers: int
    seconds: float
    submit_seconds: float
    load: float  # 1-minute load average when the round started
    states: Counter[str]
    per_machine: Counter[str]  # jobs done, by the machine that did them
    wait: float  # median seconds from a job's submission to its start
    run: float  # median seconds from a job's start to its end
    capture: float  # median seconds of the capture itself (the capture row's start to end)
    cpu: float  # CPU seconds per job: the workers and their capture processes, all told
    servers: float  # CPU seconds per job of the database and Redis servers


class Cluster:
    """The machines over one queue and one catalog; workers started and stopped on demand."""

    def __init__(self, work: Path, queue_url: str, catalog_url: str, servers: list[int]
                 ) -> None:
        self.work = work
        self.servers = servers  # the pids of the queue's and the catalog's servers
        self.shared = {"ISNAD_QUEUE__URL": queue_url, "ISNAD_CATALOG__URL": catalog_url,
                       "ISNAD_SIGNING__KEY_DIR": str(work / "keys")}
        self.laptop = isnad_env(work / "laptop", **self.shared)
        for step in (("db", "upgrade"), ("keys", "init")):
            done = subprocess.run(isnad(*step), env=self.laptop, cwd=work, capture_output=True,
                                  text=True, timeout=300)
            if done.returncode:
                raise BenchError(f"isnad {' '.join(step)} exited {done.returncode}: "
                                 f"{(done.stderr or done.stdout).strip().splitlines()[-1:]}")
        from archiver.catalog import Catalog
        from archiver.jobs import JobStore

        self.store = JobStore(Catalog(catalog_url))

    def close(self) -> None:
        self.store.catalog.engine.dispose()

    @contextlib.contextmanager
    def workers(self, count: int, concurrency: int, tag: str, code: Path | None = None
                ) -> Iterator[list[subprocess.Popen]]:
        """``count`` workers, each on its machine, registered in the catalog; yields their
        processes. They are stopped (SIGTERM, then drained) at the end. ``code``: a checkout
        of another version of Isnad for the workers to run (first on ``PYTHONPATH``)."""
        names = [f"machine-{chr(ord('a') + n)}" for n in range(count)]
        procs: list[subprocess.Popen] = []
        logs = []
        try:
            for name in names:
                home = self.work / f"{name}-{tag}"
                env = isnad_env(home, ISNAD_WORKER__HOST=name, **self.shared)
                if code is not None:
                    env["PYTHONPATH"] = str(code)
                log = open(self.work / f"{name}-{tag}.log", "wb")  # noqa: SIM115 - closed below
                logs.append(log)
                procs.append(subprocess.Popen(
                    isnad("worker", "--concurrency", str(concurrency)), env=env, cwd=home,
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
            deadline = time.monotonic() + 120
            while len({w.host for w in self._live()} & set(names)) < count:
                if time.monotonic() > deadline:
                    raise BenchError(f"{count} worker(s) did not register in 120 s; see "
                                     f"{self.work}/machine-*-{tag}.log")
                if any(p.poll() is not None for p in procs):
                    raise BenchError(f"a worker exited at start; see {self.work}")
                time.sleep(0.2)
            yield procs
        finally:
            for proc in procs:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(timeout=180)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            for log in logs:
                log.close()

    def _live(self) -> list:
        return [w for w in self.store.workers() if w.stopped_at is None and w.kind == "worker"]

    def round(self, urls: list[str], workers: list[subprocess.Popen], timeout: float
              ) -> Round:
        """Submit ``urls`` and wait until every job is DONE (or ended otherwise)."""
        cpu = cpu_seconds(workers)
        servers = server_cpu_seconds(self.servers)
        listing = self.work / "urls.txt"
        listing.write_text("".join(f"{url}\n" for url in urls))
        load = os.getloadavg()[0]
        started = time.perf_counter()
        submit = subprocess.run(isnad("submit", "--json", "--no-browser", "-i", str(listing)),
                                env=self.laptop, cwd=self.work, capture_output=True,
                                text=True, timeout=timeout)
        submitted = time.perf_counter() - started
        if submit.returncode:
            raise BenchError(f"isnad submit exited {submit.returncode}: "
                             f"{(submit.stderr or submit.stdout).strip().splitlines()[-1:]}")
        import json

        ids = [job["id"] for job in json.loads(submit.stdout)]
        if len(ids) != len(urls):
            raise BenchError(f"{len(urls)} URLs submitted, {len(ids)} jobs")
        ended = ("done", "failed", "cancelled")
        deadline = time.monotonic() + timeout
        while True:
            rows = self.store.many(ids)
            if all(row.state in ended for row in rows):
                break
            if time.monotonic() > deadline:
                raise BenchError(f"{sum(r.state in ended for r in rows)} of {len(ids)} jobs "
                                 f"ended in {timeout:.0f} s")
            time.sleep(POLL)
        seconds = time.perf_counter() - started
        cpu = (cpu_seconds(workers) - cpu) / len(urls)
        servers = (server_cpu_seconds(self.servers) - servers) / len(urls)
        catalog = self.store.catalog
        spans = []
        for row in rows:
            captured = [catalog.get(c) for c in self.store.captures(row.id)]
            spans.append(((row.started_at - row.created_at).total_seconds(),
                          (row.ended_at - row.started_at).total_seconds(),
                          statistics.median((c.ended_at - c.started_at).total_seconds()
                                            for c in captured if c.ended_at) if captured
                          else float("nan")))
        wait, run, capture = (statistics.median(s[i] for s in spans) for i in range(3))
        return Round(len(workers), seconds, submitted, load, Counter(r.state for r in rows),
                     Counter(r.worker_host for r in rows), wait, run, capture, cpu, servers)


def cpu_seconds(procs: list[subprocess.Popen]) -> float:
    """CPU seconds used so far by ``procs``, by their live descendants and by the children
    each of those reaped (a finished capture's CPU is counted in its parent's: the worker's
    for a fresh capture process, the warm process's for a forked one)."""
    total = 0.0
    for proc in procs:
        root = psutil.Process(proc.pid)
        for process in (root, *root.children(recursive=True)):
            try:
                times = process.cpu_times()
            except psutil.Error:  # ended between the listing and the look: in its parent's
                continue
            total += times.user + times.system + times.children_user + times.children_system
    return total


def server_cpu_seconds(pids: list[int]) -> float:
    """CPU seconds used so far by the servers (``pids``) and their processes, live or ended
    (PostgreSQL's backends, one per connection, are children of its first process)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            for process in (root, *root.children(recursive=True)):
                with contextlib.suppress(psutil.Error):
                    times = process.cpu_times()
                    total += times.user + times.system
            times = root.cpu_times()
            total += times.children_user + times.children_system
    return total


@contextlib.contextmanager
def services(work: Path, db: str) -> Iterator[tuple[str, str, list[int]]]:
    """A Redis and the catalog's database; yields (queue URL, catalog URL, the servers'
    pids)."""
    from tests.redisserver import RedisServer, redis_server_binary

    if redis_server_binary() is None:
        raise BenchError("redis-server is not installed (`make test-system-deps` installs it)")
    redis = RedisServer(work / "redis").start()
    assert redis.proc is not None
    servers = [redis.proc.pid]
    pg = None
    try:
        if db == "postgresql":
            from tests.pgserver import PostgresServer, find_bin_dir

            bin_dir = find_bin_dir()
            if bin_dir is None:
                raise BenchError("PostgreSQL is not installed (`make test-system-deps`)")
            pg = PostgresServer(bin_dir).start()
            catalog_url = pg.new_database()
            servers.append(int((pg.data / "postmaster.pid").read_text().split()[0]))
        else:
            (work / "shared").mkdir()
            catalog_url = f"sqlite:///{work / 'shared' / 'catalog.db'}"
        yield redis.url, catalog_url, servers
    finally:
        if pg is not None:
            pg.destroy()
        redis.stop()


def bench(db: str, args: argparse.Namespace, base: str, serial: Iterator[int]) -> None:
    """Rounds of 1 worker and of 2 workers, alternating (so both see much the same load);
    with ``--code``, the same rounds of that code interleaved with this one's."""
    variants: dict[str, Path | None] = {"this code": None}
    if args.code:
        variants[f"--code {args.code}"] = args.code
    with tempfile.TemporaryDirectory(prefix=f"isnad-scaleout-{db}-") as tmp:
        work = Path(tmp)
        with services(work, db) as (queue_url, catalog_url, servers):
            cluster = Cluster(work, queue_url, catalog_url, servers)
            try:
                rounds: dict[tuple[str, int], list[Round]] = {}
                warm = os.environ.get("ISNAD_WORKER__WARM_PROCESSES", "true")
                print(f"\n{db} catalog, Redis queue: {args.jobs} jobs of {args.delay:g} s "
                      f"each, concurrency {args.concurrency} per worker, warm capture "
                      f"processes: {warm} (ISNAD_WORKER__WARM_PROCESSES)")
                print(f"  {'code':<10} {'workers':>7} {'round':>5} {'load':>5} {'seconds':>8} "
                      f"{'jobs/min':>9} {'submit s':>8} {'wait':>6} {'run':>6} "
                      f"{'capture':>7} {'CPU s/job':>9} {'servers':>7}  jobs (by machine)")
                for n, (name, code), count in itertools.product(
                        range(args.rounds), variants.items(), (1, 2)):
                    urls = [f"{base}/slow-page?seconds={args.delay:g}&n={next(serial)}"
                            for _ in range(args.jobs)]
                    tag = f"{count}w{n}{'' if code is None else 'c'}"
                    with cluster.workers(count, args.concurrency, tag, code=code) as procs:
                        result = cluster.round(urls, procs, args.timeout)
                    rounds.setdefault((name, count), []).append(result)
                    states = ", ".join(f"{v} {k}" for k, v in sorted(result.states.items()))
                    machines = ", ".join(f"{k}: {v}"
                                         for k, v in sorted(result.per_machine.items()))
                    print(f"  {'this' if code is None else '--code':<10} {count:>7} {n + 1:>5} "
                          f"{result.load:5.2f} {result.seconds:8.1f} "
                          f"{args.jobs / result.seconds * 60:9.1f} "
                          f"{result.submit_seconds:8.2f} {result.wait:6.1f} "
                          f"{result.run:6.2f} {result.capture:7.2f} {result.cpu:9.2f} "
                          f"{result.servers:7.2f}  {states} ({machines})")
                for name in variants:
                    summarise(name, rounds[name, 1], rounds[name, 2], db, args)
            finally:
                cluster.close()


def summarise(name: str, one_worker: list[Round], two_workers: list[Round], db: str,
              args: argparse.Namespace) -> None:
    """The medians of a code's rounds: the ratio, and the CPU a job takes."""
    one = statistics.median(r.seconds for r in one_worker)
    two = statistics.median(r.seconds for r in two_workers)
    ideal = args.jobs / args.concurrency * args.delay
    print(f"  {name}, median of {args.rounds}: 1 worker {one:.1f} s, 2 workers {two:.1f} s: "
          f"{one / two:.2f}x (target >= 1.8x); the delay alone is {ideal:.0f} s for 1 worker, "
          f"{ideal / 2:.0f} s for 2; load now {os.getloadavg()[0]:.2f}")
    # CPU is what two machines have twice and two workers on one machine share.
    cpu = statistics.median(r.cpu for r in one_worker + two_workers)
    servers = statistics.median(r.servers for r in one_worker + two_workers)
    need = (cpu + servers) * args.concurrency / args.delay
    print(f"  {name}: CPU per job {cpu:.2f} s (workers and capture processes) and "
          f"{servers:.2f} s (the {db} and Redis servers): at the delay's pace 1 worker needs "
          f"{need:.1f} cores, 2 workers {2 * need:.1f}; this machine has {os.cpu_count()}, "
          "shared")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=16, help="captures per round")
    parser.add_argument("--delay", type=float, default=8.0,
                        help="seconds the fixture server takes to send each page")
    parser.add_argument("--concurrency", type=int, default=4, help="captures per worker")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", choices=("postgresql", "sqlite", "both"), default="both")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per round")
    parser.add_argument("--code", type=Path, help="a checkout of another version (e.g. `git "
                        "archive` of a commit, extracted) whose workers run rounds interleaved "
                        "with this code's: a before/after comparison under the same load")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; wait: submission "
          f"to start, run: start to end, capture: the capture itself (medians per job, s)")
    serial = itertools.count()  # every URL differs across rounds: nothing is deduplicated
    failures = []
    with tempfile.TemporaryDirectory(prefix="isnad-scaleout-site-") as tmp:
        with fixture_site(Path(tmp)) as base:
            for db in ("postgresql", "sqlite") if args.db == "both" else (args.db,):
                try:
                    bench(db, args, base, serial)
                except BenchError as exc:
                    print(f"{db}: no figure: {exc}")
                    failures.append(db)
    if failures:
        sys.exit(f"no figure for: {', '.join(failures)}")


if __name__ == "__main__":
    main()
