"""CLI benchmarks: commands that must answer at once at any catalog size. Prints figures (the
median of --runs, the load average beside each, peak RSS); asserts nothing.

1. `isnad --help` and `isnad list` on an empty home (target: <= 0.25 s each).
2. On a catalog of --captures rows (default 100,000; written directly into the catalog, not by
   capturing): `isnad list` (first page, target <= 0.3 s), `isnad list --page 1000`,
   `isnad list --json` and `--jsonl` to /dev/null (streamed: peak RSS must not grow with the
   catalog), and `isnad list --json` on a tenth of it to show that it does not.

Usage: ``python bench/cli.py [--captures 100000] [--runs 3]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_catalog(home: Path, count: int) -> None:
    """``count`` captures (each with a stored copy and three custody-free artifacts' worth of
    context), inserted in bulk into ``home``'s catalog: what years of captures leave behind."""
    from archiver.catalog import CaptureRow, Catalog, CopyRow

    home.mkdir(parents=True, exist_ok=True)
    catalog = Catalog(f"sqlite:///{home / 'catalog.db'}")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    states = ("COMPLETE",) * 8 + ("PARTIAL", "FAILED")
    with catalog.engine.begin() as conn:
        for first in range(0, count, 5000):
            captures, copies = [], []
            for i in range(first, min(first + 5000, count)):
                capture_id = f"{i:08x}-{i % 65536:04x}-7000-8000-{i:012x}"
                state = states[i % len(states)]
                key = None if state == "FAILED" else f"captures/{capture_id}.wacz"
                captures.append({
                    "id": capture_id, "url": f"https://site{i % 97}.example.org/post/{i}",
                    "final_url": None, "state": state, "reasons": [], "error": None,
                    "case_id": f"CASE-{i % 40}", "tags": ["bench", f"t{i % 7}"], "note": None,
                    "operator": "bench", "started_at": start + timedelta(minutes=i),
                    "ended_at": start + timedelta(minutes=i, seconds=20),
                    "package_key": key, "package_sha256": "0" * 64 if key else None,
                    "package_size": 123456 if key else None, "context": {"stats": {}},
                    "spool_path": None})
                copies.append({"capture_id": capture_id, "target": "local", "state": "STORED",
                               "key": key, "location": f"/archive/{key}", "sha256": "0" * 64,
                               "size": 123456, "events_stored": 1, "attempts": 1})
            conn.execute(CaptureRow.__table__.insert(), captures)
            conn.execute(CopyRow.__table__.insert(), copies)
    catalog.engine.dispose()


def run(home: Path, *args: str) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MiB) and exit status of `isnad ARGS`, stdout to /dev/null."""
    env = {**os.environ, "ISNAD_HOME": str(home), "COLUMNS": "120"}
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "isnad.cli", *args], stdout=sink,
                                stderr=subprocess.DEVNULL, env=env, cwd=home)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - started, usage.ru_maxrss / 1024, proc.returncode


def measure(label: str, home: Path, args: tuple[str, ...], runs: int) -> None:
    load = os.getloadavg()[0]
    results = [run(home, *args) for _ in range(runs)]
    wall = statistics.median(r[0] for r in results)
    rss = max(r[1] for r in results)
    codes = sorted({r[2] for r in results})
    print(f"{label:44} {wall:6.2f} s  peak {rss:5.0f} MiB  exit {codes}  "
          f"(load {load:.2f})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--captures", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores; median of "
          f"{options.runs} runs each", flush=True)
    with tempfile.TemporaryDirectory(prefix="isnad-bench-cli-") as tmp:
        empty = Path(tmp) / "empty"
        empty.mkdir()
        measure("isnad --help", empty, ("--help",), options.runs)
        measure("isnad list (empty home)", empty, ("list",), options.runs)
        big, tenth = Path(tmp) / "big", Path(tmp) / "tenth"
        started = time.perf_counter()
        make_catalog(big, options.captures)
        make_catalog(tenth, options.captures // 10)
        print(f"(catalogs of {options.captures:,} and {options.captures // 10:,} captures "
              f"written in {time.perf_counter() - started:.0f} s)", flush=True)
        n = f"{options.captures:,}"
        measure(f"isnad list, {n} captures (first page)", big, ("list",), options.runs)
        measure(f"isnad list --page 1000, {n}", big, ("list", "--page", "1000"), options.runs)
        measure(f"isnad list --case CASE-7, {n}", big, ("list", "--case", "CASE-7"),
                options.runs)
        measure(f"isnad list --json, {n}", big, ("list", "--json"), options.runs)
        measure(f"isnad list --jsonl, {n}", big, ("list", "--jsonl"), options.runs)
        measure(f"isnad list --json, {options.captures // 10:,}", tenth, ("list", "--json"),
                options.runs)


if __name__ == "__main__":
    main()
