"""Capture runtime benchmark (issue 12). Prints figures; asserts nothing (timings vary by machine).

Every run below captures the same generated pages of the fixture site (``tests/fixture_site``,
served by its own process on 127.0.0.1; no other host is contacted), each on a fresh
``ISNAD_HOME``, timed from process start to the finished result, peak RSS summed over the
measured process and all its children (Chromium included), sampled with psutil every 0.2 s.

1. Sequential, as before the runtime: ``isnad capture URL1 ... URLn`` of the baseline commit
   (``git archive``, run with this virtualenv, ``PYTHONPATH`` pointing at the extracted tree),
   next to the worker: ``isnad submit -i urls.txt`` then ``isnad worker --concurrency C --burst``
   for each C. Pages/min, peak RSS and their ratios to sequential.
2. Bare Playwright, same pages, same parallelism: the Chromium Isnad uses, each page in a fresh
   context, load + full-page screenshot. Pages/min and Isnad's slowdown against it.
3. Worker memory: one long-running worker given ``--captures`` pages; the RSS of the worker
   process itself after 10 captures and after all of them.

Usage: ``python bench/runtime.py [--pages 60] [--concurrency 1,2,4] [--captures 100] [--quick]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import psutil

ROOT = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024
BASELINE = "3a9db92"  # main before the runtime change: captures one after another
SAMPLE_EVERY = 0.2
# Generated pages on the fixture site: more than the memory run captures, so no URL repeats.
SITE_PAGES = 2000
T = TypeVar("T")


class BenchError(Exception):
    """A run that cannot give a figure; its message is one line a reader can act on."""


# -- measuring ---------------------------------------------------------------------------------
class Sampler:
    """Samples the resident memory of a process and of all its descendants, every 0.2 s."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.peak_tree = 0  # bytes, the process and its children together
        self.peak_own = 0  # bytes, the process alone
        self.own = 0  # bytes, the process alone at the last sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> None:
        """One sample; a process that ends between listing and reading counts as nothing."""
        try:
            own = self.root.memory_info().rss
            children = self.root.children(recursive=True)
        except psutil.Error:
            return
        total = own
        for child in children:
            with contextlib.suppress(psutil.Error):
                total += child.memory_info().rss
        self.own = own
        self.peak_own = max(self.peak_own, own)
        self.peak_tree = max(self.peak_tree, total)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(SAMPLE_EVERY)


@dataclass
class Run:
    """One measured run: how long, how much memory, how the captures ended."""

    label: str
    pages: int
    seconds: float
    peak_tree: int  # bytes
    peak_own: int  # bytes
    load: float  # 1-minute load average when the run started: the machine is shared
    states: Counter[str] = field(default_factory=Counter)  # the catalog's captures
    jobs: Counter[str] = field(default_factory=Counter)  # the catalog's jobs
    phases: str = ""  # where the time goes, median per URL

    @property
    def per_min(self) -> float:
        return self.pages / self.seconds * 60


def measure(cmd: list[str], *, env: dict[str, str], cwd: Path, log: Path,
            timeout: float) -> tuple[float, Sampler]:
    """Run ``cmd`` to its end under a Sampler; (seconds from start to exit, the sampler)."""
    started = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            with Sampler(proc.pid) as sampler:
                proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise BenchError(f"{' '.join(cmd[:4])} ... took over {timeout:.0f} s; see {log}"
                             ) from None
    seconds = time.perf_counter() - started
    if proc.returncode not in (0, 1):  # 1: a capture PARTIAL, still a figure
        raise BenchError(f"{' '.join(cmd[:4])} ... exited {proc.returncode}: {_tail(log)}")
    return seconds, sampler


def _kill_group(proc: subprocess.Popen) -> None:
    """End a process we started and everything it started (its own session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _tail(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def counts(home: Path, table: str) -> Counter[str]:
    """Rows by state of a table of a home's catalog (``captures``: COMPLETE, PARTIAL, FAILED,
    RUNNING; ``jobs``: queued, running, done, failed, cancelled); empty if there is none."""
    db = home / "catalog.db"
    if not db.exists():
        return Counter()
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True,
                                                timeout=5)) as conn:
            rows = conn.execute(f"SELECT state, count(*) FROM {table} GROUP BY state").fetchall()
    except sqlite3.OperationalError:  # not created yet, or busy past the timeout
        return Counter()
    return Counter(dict(rows))


def _rows(home: Path, query: str) -> list[tuple]:
    """Rows of a query on a home's catalog; none if it cannot be read."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{home / 'catalog.db'}?mode=ro", uri=True,
                                                timeout=5)) as conn:
            return conn.execute(query).fetchall()
    except sqlite3.OperationalError:
        return []


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def where_time_goes(home: Path) -> str:
    """Median seconds per URL, from the catalog's own times: for jobs, from the job's start to
    its capture's start (the capture process starting), the capture itself, and from its end
    to the job's end; for a sequential run, each capture and the gap to the next one."""
    stamp = datetime.fromisoformat
    jobs = _rows(home, "SELECT j.started_at, c.started_at, c.ended_at, j.ended_at FROM jobs j "
                       "JOIN job_captures jc ON jc.job_id = j.id "
                       "JOIN captures c ON c.id = jc.capture_id")
    if jobs:
        spans = [[(stamp(b.rstrip("Z")) - stamp(a.rstrip("Z"))).total_seconds()
                  for a, b in itertools.pairwise(row)] for row in jobs if all(row)]
        start, capture, end = (_median([span[i] for span in spans]) for i in range(3))
        return (f"job start to capture start {start:.2f} s, capture {capture:.2f} s, "
                f"capture end to job end {end:.2f} s")
    captures = _rows(home, "SELECT started_at, ended_at FROM captures ORDER BY started_at")
    if not captures:
        return ""
    times = [(stamp(a.rstrip("Z")), stamp(b.rstrip("Z"))) for a, b in captures if a and b]
    gaps = [(nxt[0] - cur[1]).total_seconds() for cur, nxt in itertools.pairwise(times)]
    return (f"capture {_median([(b - a).total_seconds() for a, b in times]):.2f} s, "
            f"gap to the next capture {_median(gaps):.2f} s")


def isnad_env(home: Path, **extra: str) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "ISNAD_HOME": str(home),
            # The fixture site lives on 127.0.0.1, which the SSRF guard refuses by default.
            "ISNAD_ALLOW_PRIVATE_NETWORKS": "true", **extra}


def isnad(*args: str) -> list[str]:
    return [sys.executable, "-m", "isnad.cli", *args]


# -- the fixture site --------------------------------------------------------------------------
@contextlib.contextmanager
def fixture_site(work: Path) -> Iterator[str]:
    """The fixture site in its own process (so serving never competes with the sampler for
    this process's interpreter); yields its base URL."""
    log = open(work / "site.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fixture_site.server", "--port", "0",
         "--pages", str(SITE_PAGES)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        assert proc.stdout
        base = proc.stdout.readline().strip()
        if not base.startswith("http://127.0.0.1:"):
            raise BenchError(f"the fixture site did not start: {base!r}")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


# -- 1. sequential vs the worker ---------------------------------------------------------------
def sequential(urls: list[str], work: Path, baseline: str, timeout: float) -> Run:
    """``isnad capture URL...`` of the baseline commit, in this virtualenv."""
    tree = work / f"baseline-{baseline}"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", baseline],
                             capture_output=True, check=False)
    if archive.returncode:
        raise BenchError(f"git archive {baseline}: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    home = work / "home-sequential"
    env = isnad_env(home, PYTHONPATH=str(tree))
    where = subprocess.run([sys.executable, "-c", "import isnad; print(isnad.__file__)"],
                           env=env, cwd=home, capture_output=True, text=True)
    if not where.stdout.startswith(str(tree)):
        raise BenchError(f"the baseline tree is not what Python imports: {where.stdout.strip()}"
                         f"{where.stderr.strip()}")
    load = os.getloadavg()[0]
    seconds, sampler = measure(isnad("capture", "--jsonl", *urls), env=env, cwd=home,
                               log=work / "sequential.log", timeout=timeout)
    return Run(f"sequential ({baseline})", len(urls), seconds, sampler.peak_tree,
               sampler.peak_own, load, counts(home, "captures"), phases=where_time_goes(home))


def missing_commands(names: tuple[str, ...]) -> list[str]:
    """The ``isnad`` commands of ``names`` that this code does not have."""
    with tempfile.TemporaryDirectory(prefix="isnad-bench-probe-") as tmp:
        env = isnad_env(Path(tmp))
        return [name for name in names
                if subprocess.run(isnad(name, "--help"), env=env, cwd=tmp,
                                  capture_output=True).returncode != 0]


def worker(urls: list[str], work: Path, concurrency: int, timeout: float) -> Run:
    """``isnad submit -i urls.txt`` then ``isnad worker --concurrency C --burst``; both timed."""
    home = work / f"home-worker-{concurrency}"
    env = isnad_env(home)
    listing = home / "urls.txt"
    listing.write_text("".join(f"{url}\n" for url in urls))
    load = os.getloadavg()[0]
    started = time.perf_counter()
    submit = subprocess.run(isnad("submit", "-i", str(listing)), env=env, cwd=home,
                            capture_output=True, text=True, timeout=timeout)
    if submit.returncode:
        raise BenchError(f"isnad submit exited {submit.returncode}: "
                         f"{(submit.stderr or submit.stdout).strip().splitlines()[-1:]}")
    submitted = time.perf_counter() - started
    seconds, sampler = measure(
        isnad("worker", "--concurrency", str(concurrency), "--burst"), env=env, cwd=home,
        log=work / f"worker-{concurrency}.log", timeout=timeout)
    return Run(f"worker, concurrency {concurrency}", len(urls), submitted + seconds,
               sampler.peak_tree, sampler.peak_own, load, counts(home, "captures"),
               counts(home, "jobs"), where_time_goes(home))


# -- 2. bare Playwright ------------------------------------------------------------------------
async def bare_playwright(urls: list[str], concurrency: int) -> None:
    """Load + full-page screenshot of every URL, each in a fresh context, ``concurrency`` at
    once, in the Chromium Isnad launches with Isnad's flags and viewport."""
    from playwright.async_api import async_playwright

    from crawlers.settings import CHROMIUM_ARGS
    from isnad.config import Settings

    settings = Settings()
    pending = iter(urls)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=settings.browser.executable_path,
                                           headless=True, args=CHROMIUM_ARGS)

        async def lane() -> None:
            for url in pending:  # the lanes share one iterator: each URL is taken once
                context = await browser.new_context(viewport={
                    "width": settings.capture.viewport_width,
                    "height": settings.capture.viewport_height})
                page = await context.new_page()
                await page.goto(url, wait_until="load")
                await page.screenshot(full_page=True, type="png")
                await context.close()

        await asyncio.gather(*(lane() for _ in range(concurrency)))
        await browser.close()


def bare(urls: list[str], work: Path, concurrency: int, timeout: float) -> Run:
    """This script's bare Playwright mode in a process of its own, measured like Isnad's."""
    listing = work / "bare-urls.txt"
    listing.write_text("".join(f"{url}\n" for url in urls))
    home = work / f"home-bare-{concurrency}"
    load = os.getloadavg()[0]
    seconds, sampler = measure(
        [sys.executable, str(Path(__file__).resolve()), "--bare-playwright", str(listing),
         "--concurrency", str(concurrency)],
        env=isnad_env(home), cwd=home, log=work / f"bare-{concurrency}.log", timeout=timeout)
    return Run(f"bare Playwright, {concurrency} at once", len(urls), seconds,
               sampler.peak_tree, sampler.peak_own, load)


# -- 3. worker memory over many captures -------------------------------------------------------
FINAL_JOB_STATES = ("done", "failed", "cancelled")


def finished(home: Path) -> int:
    """Jobs run to an end (a job that fails before its capture starts counts too)."""
    jobs = counts(home, "jobs")
    return sum(jobs[state] for state in FINAL_JOB_STATES)


def worker_memory(urls: list[str], work: Path, concurrency: int, timeout: float
                  ) -> tuple[tuple[int, int], tuple[int, int], Counter[str], Counter[str]]:
    """A long-running worker (no --burst) given every URL: ((captures, RSS of the worker
    process) once 10 are finished, the same once all are), and how the captures and the jobs
    ended. The worker is stopped with SIGTERM once all are finished."""
    home = work / "home-memory"
    env = isnad_env(home)
    listing = home / "urls.txt"
    listing.write_text("".join(f"{url}\n" for url in urls))
    submit = subprocess.run(isnad("submit", "-i", str(listing)), env=env, cwd=home,
                            capture_output=True, text=True, timeout=timeout)
    if submit.returncode:
        raise BenchError(f"isnad submit exited {submit.returncode}: "
                         f"{(submit.stderr or submit.stdout).strip().splitlines()[-1:]}")
    log = work / "worker-memory.log"
    early: tuple[int, int] | None = None
    late: tuple[int, int] | None = None
    deadline = time.monotonic() + timeout
    with open(log, "wb") as out:
        proc = subprocess.Popen(isnad("worker", "--concurrency", str(concurrency)), env=env,
                                cwd=home, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            sampler = Sampler(proc.pid)
            while late is None:
                if proc.poll() is not None:
                    raise BenchError(f"the worker exited {proc.returncode} after "
                                     f"{finished(home)} captures: {_tail(log)}")
                if time.monotonic() > deadline:
                    raise BenchError(f"{finished(home)} of {len(urls)} captures in "
                                     f"{timeout:.0f} s; see {log}")
                done = finished(home)
                sampler.sample()
                if early is None and done >= min(10, len(urls)):
                    early = (done, sampler.own)
                if done >= len(urls):
                    late = (done, sampler.own)
                time.sleep(SAMPLE_EVERY)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                _kill_group(proc)
    assert early is not None
    return early, late, counts(home, "captures"), counts(home, "jobs")


# -- printing ----------------------------------------------------------------------------------
def outcome(pages: int, states: Counter[str], jobs: Counter[str]) -> str:
    """How the captures (and jobs) ended; a run that did not capture every page says so."""
    if not states:
        return ""
    text = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
    if jobs:
        text += "; jobs: " + ", ".join(f"{n} {state}" for state, n in sorted(jobs.items()))
    return text if states.get("COMPLETE", 0) == pages else f"{text} (not all COMPLETE)"


def print_runs(runs: list[Run], reference: Run | None) -> None:
    print(f"{'run':30} {'load':>5} {'seconds':>8} {'pages/min':>10} {'x seq':>6} "
          f"{'peak RSS':>10} {'x seq':>6} {'own RSS':>8}  captures")
    for run in runs:
        speed = f"{run.per_min / reference.per_min:.2f}" if reference else "-"
        memory = f"{run.peak_tree / reference.peak_tree:.2f}" if reference else "-"
        print(f"{run.label:30} {run.load:5.1f} {run.seconds:8.1f} {run.per_min:10.1f} "
              f"{speed:>6} {run.peak_tree / MiB:7.0f} MiB {memory:>6} "
              f"{run.peak_own / MiB:5.0f} MiB  {outcome(run.pages, run.states, run.jobs)}")
    for run in runs:
        if run.phases:
            print(f"{run.label:30} median per URL: {run.phases}")
    print("load: 1-minute load average at the run's start; peak RSS: the process and its "
          "children (Chromium's shared pages counted in each process); own RSS: the measured "
          "process alone")


def attempt(label: str, action: Callable[[], T], failures: list[str]) -> T | None:
    """Run one part; a part that cannot give a figure says why in one line, the rest go on."""
    try:
        return action()
    except BenchError as exc:
        line = f"{label}: no figure: {exc}"
        print(line, flush=True)
        failures.append(line)
        return None


def compare(args: argparse.Namespace, urls: list[str], work: Path, failures: list[str]
            ) -> None:
    """Parts 1 and 2: sequential, then the worker and bare Playwright at each concurrency
    (one after the other, so both sides of a pair run under much the same load)."""
    runs: list[Run] = []
    reference = None
    if "sequential" in args.parts:
        reference = attempt("sequential", lambda: sequential(
            urls, work, args.baseline, args.timeout), failures)
        runs += [reference] if reference else []
    workers: dict[int, Run] = {}
    bares: dict[int, Run] = {}
    for c in args.concurrency:
        if "worker" in args.parts:
            run = attempt(f"worker {c}", lambda c=c: worker(urls, work, c, args.timeout),
                          failures)
            workers.update({c: run} if run else {})
            runs += [run] if run else []
        if "bare" in args.parts:
            run = attempt(f"bare Playwright {c}", lambda c=c: bare(urls, work, c, args.timeout),
                          failures)
            bares.update({c: run} if run else {})
            runs += [run] if run else []
    print()
    print_runs(runs, reference)
    print()
    for c in args.concurrency:
        if c in workers and c in bares:
            slower = (1 - workers[c].per_min / bares[c].per_min) * 100
            print(f"isnad worker vs bare Playwright, {c} at once: {slower:+.0f}% slower "
                  f"(target <= 15%); {workers[c].seconds / bares[c].seconds:.1f}x the time")
    top = max(args.concurrency)
    if reference and top in workers:
        print(f"worker at concurrency {top} vs sequential: "
              f"{workers[top].per_min / reference.per_min:.2f}x (target >= 2x)")


def memory(args: argparse.Namespace, base: str, work: Path, failures: list[str]) -> None:
    """Part 3: the long-running worker's own RSS after 10 captures and after all of them."""
    top = max(args.concurrency)
    urls = [f"{base}/generated/{n % SITE_PAGES}.html" for n in range(args.captures)]
    result = attempt("worker memory", lambda: worker_memory(urls, work, top, args.timeout * 4),
                     failures)
    if result:
        (n_early, rss_early), (n_late, rss_late), states, jobs = result
        print(f"worker memory, concurrency {top}: RSS of the worker process "
              f"{rss_early / MiB:.0f} MiB after {n_early} jobs, {rss_late / MiB:.0f} MiB after "
              f"{n_late} ({(rss_late - rss_early) / MiB:+.0f} MiB); "
              f"{outcome(args.captures, states, jobs)}")


PARTS = ("sequential", "worker", "bare", "memory")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, help="pages captured by each run (default 60)")
    parser.add_argument("--concurrency", help="worker and bare Playwright parallelism, "
                        "comma-separated (default 1,2,4)")
    parser.add_argument("--captures", type=int, help="captures given to the long-running "
                        "worker (default 100; issue 12 asks for 500)")
    parser.add_argument("--quick", action="store_true", help="a quick look: defaults of 12 "
                        "pages, concurrency 1,4 and 30 captures")
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"what to run, comma-separated (default: {','.join(PARTS)})")
    parser.add_argument("--baseline", default=BASELINE,
                        help="the commit whose `isnad capture` is the sequential reference")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    parser.add_argument("--bare-playwright", type=Path, metavar="URLS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # figures as they come, even into a file
    quick = {"pages": 12, "concurrency": "1,4", "captures": 30}
    full = {"pages": 60, "concurrency": "1,2,4", "captures": 100}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c.strip()]
    args.parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if args.bare_playwright:  # the bare Playwright side, in its own process (see bare())
        asyncio.run(bare_playwright(args.bare_playwright.read_text().split(),
                                    max(args.concurrency)))
        return
    if unknown := args.parts - set(PARTS):
        parser.error(f"--parts: unknown {', '.join(sorted(unknown))}; known: {', '.join(PARTS)}")

    failures: list[str] = []
    if args.parts & {"worker", "memory"} and (missing := missing_commands(("submit", "worker"))):
        line = (f"isnad {' and '.join(missing)}: not on this code; the worker runs need the "
                f"runtime of issue 12 (merge main once it has landed)")
        print(line, flush=True)
        failures.append(line)
        args.parts -= {"worker", "memory"}

    with tempfile.TemporaryDirectory(prefix="isnad-runtime-bench-") as tmp:
        work = Path(tmp)
        with fixture_site(work) as base:
            urls = [f"{base}/generated/{n}.html" for n in range(args.pages)]
            print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; "
                  f"pages of {base}/generated/ (HTML, stylesheet, image); parts: "
                  f"{', '.join(p for p in PARTS if p in args.parts)}")
            if args.parts & {"sequential", "worker", "bare"}:
                compare(args, urls, work, failures)
            if "memory" in args.parts:
                memory(args, base, work, failures)
    if failures:
        sys.exit(f"{len(failures)} part(s) gave no figure (see above)")


if __name__ == "__main__":
    main()
