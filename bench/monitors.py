"""1,000 monitors on one machine (issue 13): what the scheduler costs. Prints figures; asserts
nothing (timings vary by machine and load).

A fresh ``ISNAD_HOME`` gets ``--monitors`` monitors written straight into its catalog: channels
of the Telegram stand-in (``tests/platform_fixtures/telegram``, served on 127.0.0.1 by this
process; no other host is named, and nothing fetches them: no worker runs). Each runs every
1 h, 2 h, 6 h or 1 d, so none falls due while the benchmark watches. Then the real
``isnad scheduler`` process is started and measured from ``/proc``:

1. start: seconds until every monitor's schedule is in the job table;
2. idle: the CPU the process uses over ``--idle`` seconds (utime + stime, as a share of one
   core), and its resident memory (VmRSS; VmHWM is the peak);
3. due at once: ``--due`` of the monitors are given a crontab line naming one minute (as if
   edited; the scheduler's periodic look at the monitors registers them), jitter 0 and host
   spacing 0 (all stand-in channels are on one host, which spacing would serialise by
   design). Lateness of each run: the time ``start_run`` recorded the run (``monitor_runs.
   started_at``, the queued job beside it) after its due minute; p50, p99, max. Also the CPU
   the scheduler used to fire them.

With ``--baseline COMMIT`` the same is measured on that commit's code first (``git archive``,
run with this virtualenv, ``PYTHONPATH`` pointing at the extracted tree), side by side.

Usage: ``python bench/monitors.py [--monitors 1000] [--due 100] [--idle 60] [--baseline C]``
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024
TICKS = os.sysconf("SC_CLK_TCK")
EVERY = (3600, 7200, 6 * 3600, 86400)  # the idle monitors' intervals: none due while measured
SYNC_WAIT = 30.0  # the scheduler looks at the catalog's monitors this often (MONITOR_SYNC)


class BenchError(Exception):
    """A run that cannot give a figure; its message is one line a reader can act on."""


# -- /proc ---------------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (``/proc/PID/stat``, fields 14 and 15)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / TICKS


def memory(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, in bytes."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) * 1024
    return values["VmRSS"], values["VmHWM"]


# -- the catalog ---------------------------------------------------------------------------
def query(home: Path, sql: str, *params: object) -> list[tuple]:
    """Rows of a read-only query on a home's catalog; none while it cannot be read."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{home / 'catalog.db'}?mode=ro",
                                                uri=True, timeout=30)) as db:
            return db.execute(sql, params).fetchall()
    except sqlite3.OperationalError:  # not created yet
        return []


def create_monitors(home: Path, base: str, count: int) -> None:
    """Write ``count`` monitors into the catalog of ``home`` (run in a process whose
    ``archiver`` is the code under test: ``--create``)."""
    from archiver.catalog import Catalog
    from archiver.ids import new_capture_id
    from archiver.monitors import MonitorRow, MonitorStore

    store = MonitorStore(Catalog(f"sqlite:///{home / 'catalog.db'}"))
    now = datetime.now(UTC)
    with store.session() as s:
        s.add_all(MonitorRow(
            id=new_capture_id(), url=f"{base}/s/bench{n:04d}", kind="channel",
            platform="telegram", every=EVERY[n % len(EVERY)], cron=None, jitter=0,
            tags=[], operator="bench", use_browser=False, paused=False,
            created_at=now, failures=0, flagged=False) for n in range(count))


def make_due(home: Path, count: int, minute: datetime) -> list[str]:
    """Give ``count`` monitors a crontab line naming ``minute`` (UTC); their ids."""
    line = f"{minute.minute} {minute.hour} {minute.day} {minute.month} *"
    with contextlib.closing(sqlite3.connect(home / "catalog.db", timeout=60)) as db, db:
        ids = [r[0] for r in db.execute("SELECT id FROM monitors ORDER BY id LIMIT ?",
                                        (count,))]
        db.executemany("UPDATE monitors SET cron = ?, every = NULL WHERE id = ?",
                       [(line, i) for i in ids])
    return ids


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.rstrip("Z")).replace(tzinfo=UTC)


def _pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# -- one measured scheduler ----------------------------------------------------------------
@dataclass
class Figures:
    """What one scheduler did with the monitors."""

    label: str
    load: list[float] = field(default_factory=list)  # 1-min load at start, idle, burst
    start_s: float = float("nan")
    idle_cpu: float = float("nan")  # share of one core
    rss: int = 0
    hwm: int = 0
    due: int = 0
    fired: int = 0
    late: list[float] = field(default_factory=list)  # seconds after the due minute
    burst_cpu: float = float("nan")  # CPU seconds from the due minute to the last run
    problems: list[str] = field(default_factory=list)


def measure(label: str, home: Path, base: str, args: argparse.Namespace,
            pythonpath: str | None) -> Figures:
    """Start ``isnad scheduler`` on ``home`` and measure start, idle and a burst of due runs."""
    figures = Figures(label)
    env = {**os.environ, "ISNAD_HOME": str(home), "ISNAD_ALLOW_PRIVATE_NETWORKS": "true",
           "ISNAD_PLATFORMS__TELEGRAM__BASE_URL": base, "ISNAD_SCHEDULES__JITTER": "0",
           "ISNAD_SCHEDULES__HOST_SPACING": "0", "ISNAD_LOGGING__FORMAT": "json",
           "ISNAD_LOGGING__LEVEL": "INFO"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    created = subprocess.run([sys.executable, __file__, "--create", str(home), base,
                              str(args.monitors)], env=env, capture_output=True, text=True)
    if created.returncode:
        raise BenchError(f"{label}: creating the monitors failed: {created.stderr.strip()}")
    log = (home.parent / f"{home.name}.log").open("w")
    figures.load.append(os.getloadavg()[0])
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "isnad.cli", "scheduler"], env=env,
                            cwd=home, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        _wait(lambda: len(query(home, "SELECT id FROM apscheduler_jobs WHERE id LIKE "
                                "'monitor:%'")) >= args.monitors, proc, args.timeout,
              f"{label}: the monitors' schedules")
        figures.start_s = time.monotonic() - started
        time.sleep(5)  # past the start's own work
        figures.load.append(os.getloadavg()[0])
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(args.idle)
        figures.idle_cpu = (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0)
        figures.rss, figures.hwm = memory(proc.pid)

        # The burst: a minute far enough ahead for the periodic look to register them.
        now = datetime.now(UTC)
        minute = (now + timedelta(seconds=SYNC_WAIT + 35)).replace(second=0, microsecond=0)
        minute += timedelta(minutes=1)
        ids = make_due(home, args.due, minute)
        figures.due = len(ids)
        time.sleep(max(0.0, (minute - datetime.now(UTC)).total_seconds() - 1))
        figures.load.append(os.getloadavg()[0])
        cpu0 = cpu_seconds(proc.pid)
        marks = ",".join("?" * len(ids))
        runs = lambda: query(home, "SELECT monitor_id, min(started_at) FROM monitor_runs "  # noqa: E731
                             f"WHERE monitor_id IN ({marks}) GROUP BY monitor_id", *ids)
        deadline = time.monotonic() + args.timeout
        seen: list[tuple] = []
        while time.monotonic() < deadline and proc.poll() is None:
            seen = runs()
            if len(seen) >= len(ids):
                break
            time.sleep(0.5)
        figures.burst_cpu = cpu_seconds(proc.pid) - cpu0
        figures.fired = len(seen)
        figures.late = [(_moment(at) - minute).total_seconds() for _, at in seen]
        if figures.fired < figures.due:
            figures.problems.append(f"{figures.due - figures.fired} of {figures.due} runs "
                                    f"not queued within {args.timeout:.0f} s")
        rss, hwm = memory(proc.pid)
        figures.hwm = max(figures.hwm, hwm)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            code = proc.wait()
        log.close()
    if code != 0:
        figures.problems.append(f"the scheduler exited {code} after SIGTERM")
    twice = query(home, "SELECT monitor_id, count(*) FROM monitor_runs GROUP BY monitor_id "
                        "HAVING count(*) > 1")
    if twice:
        figures.problems.append(f"{len(twice)} monitor(s) queued more than once")
    return figures


def _wait(done, proc: subprocess.Popen, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not done():
        if proc.poll() is not None:
            raise BenchError(f"{what}: the scheduler exited {proc.returncode} first")
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: not there after {timeout:.0f} s")
        time.sleep(0.5)


# -- the code under test -------------------------------------------------------------------
def baseline_tree(commit: str, work: Path) -> Path:
    """``commit``'s tree, extracted for ``PYTHONPATH``."""
    tree = work / f"baseline-{commit}"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit],
                             capture_output=True, check=False)
    if archive.returncode:
        raise BenchError(f"git archive {commit}: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def show(results: list[Figures], args: argparse.Namespace) -> None:
    """The figures side by side, one column a code version."""
    rows = [("load average (1 min) at start / idle / burst",
             lambda f: " / ".join(f"{x:.2f}" for x in f.load)),
            ("start: all schedules registered", lambda f: f"{f.start_s:.1f} s"),
            (f"CPU while idle ({args.idle:.0f} s), share of one core",
             lambda f: f"{f.idle_cpu * 100:.2f} %"),
            ("memory: RSS when idle / peak",
             lambda f: f"{f.rss / MiB:.0f} / {f.hwm / MiB:.0f} MiB"),
            (f"runs queued of {args.due} due at once", lambda f: f"{f.fired}"),
            ("lateness p50 / p99 / max",
             lambda f: (f"{statistics.median(f.late):.2f} / {_pct(f.late, 99):.2f} / "
                        f"{max(f.late):.2f} s") if f.late else "-"),
            ("CPU to fire them", lambda f: f"{f.burst_cpu:.1f} s")]
    width = max(len(r[0]) for r in rows)
    cols = [max(24, len(f.label)) for f in results]
    print(" " * width + " | " + " | ".join(f.label.ljust(c) for f, c in zip(results, cols,
                                                                          strict=True)))
    for name, value in rows:
        print(name.ljust(width) + " | " + " | ".join(
            value(f).ljust(c) for f, c in zip(results, cols, strict=True)))
    for f in results:
        for problem in f.problems:
            print(f"{f.label}: {problem}")
    for f in results:
        if not math.isnan(f.idle_cpu):
            met = "met" if f.idle_cpu < 0.05 else "NOT met"
            print(f"{f.label}: idle CPU {f.idle_cpu * 100:.2f} % of a core (target < 5 %: {met})")


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--create":  # in the code under test's process
        create_monitors(Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--monitors", type=int, default=1000)
    parser.add_argument("--due", type=int, default=100, help="monitors falling due at once")
    parser.add_argument("--idle", type=float, default=60.0, help="seconds measured idle")
    parser.add_argument("--baseline", default="", metavar="COMMIT",
                        help="also measure this commit's code, first, side by side")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per wait")
    args = parser.parse_args()
    if args.due > args.monitors:
        parser.error("--due cannot exceed --monitors")
    sys.stdout.reconfigure(line_buffering=True)
    sys.path.insert(0, str(ROOT))
    from tests.platform_fixtures.telegram import TelegramFixture

    results: list[Figures] = []
    failures = []
    with tempfile.TemporaryDirectory(prefix="isnad-monitor-bench-") as tmp, \
            TelegramFixture() as telegram:
        work = Path(tmp)
        print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; "
              f"{args.monitors} monitors of the Telegram stand-in at {telegram.base}, "
              f"{args.due} due at once; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
        versions = [(f"baseline {args.baseline}", args.baseline)] if args.baseline else []
        versions.append(("this code", ""))
        for label, commit in versions:
            try:
                path = str(baseline_tree(commit, work)) if commit else None
                home = work / f"home-{len(results)}"
                home.mkdir()
                results.append(measure(label, home, telegram.base, args, path))
            except BenchError as exc:
                print(exc)
                failures.append(str(exc))
            print(f"{label}: measured")
    print()
    show(results, args)
    if failures:
        sys.exit(f"{len(failures)} run(s) gave no figure (see above)")


if __name__ == "__main__":
    main()
