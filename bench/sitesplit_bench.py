"""Site split benchmark: one capture's pages read by 1 process vs N processes (issue 17).

The site is I/O-bound: the fixture's /split/ site (an index, W sections, W pages each: 1 + W +
W² pages at depth 2) answers each page after a server-side delay, so what limits one process
is how many pages it has in flight (Scrapy's 16 per host without a browser, 4 pages in
Chromium), not the CPU. Each figure is the median of ``--runs`` captures, timed from process
start to a stored, verified WACZ (``isnad capture``, nothing printed but the JSON record), the
runs of both sides interleaved so that both see the same load; the load average is printed
with each figure.

Usage: ``python bench/sitesplit_bench.py [--width 16] [--delay-ms 1500] [--runs 3]
[--processes 2] [--browser]``
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixture_site import FixtureServer  # noqa: E402


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def capture(home: Path, seed: str, processes: int, browser: bool) -> tuple[float, float, int]:
    """One capture in a fresh home: (seconds from process start to a stored package, seconds
    from the first page read to the last, pages). The second is what a split speeds up; the
    first also holds what it cannot (starting Python, Scrapy and a browser; packaging)."""
    home.mkdir(parents=True)
    env = {**os.environ, "ISNAD_HOME": str(home), "ISNAD_ALLOW_PRIVATE_NETWORKS": "true",
           "ISNAD_CAPTURE__MAX_PAGES": "100000", "ISNAD_CAPTURE__MAX_RESOURCES": "1000000",
           "ISNAD_CAPTURE__TOTAL_TIMEOUT": "3600"}
    args = ["--depth", "2", "--processes", str(processes), *([] if browser else ["--no-browser"])]
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "isnad.cli", "capture", "--json", *args, seed],
                          env=env, capture_output=True, text=True, cwd=home)
    elapsed = time.perf_counter() - started
    if not proc.stdout.strip():
        raise SystemExit(f"isnad capture failed:\n{proc.stderr}")
    record = json.loads(proc.stdout)[0]
    if record["state"] != "COMPLETE":
        raise SystemExit(f"capture {record['state']}: {record['reasons']}")
    with zipfile.ZipFile(record["package_location"]) as wacz:
        lines = wacz.read("pages/pages.jsonl").decode().splitlines()[1:]
    stamps = sorted(_parse(json.loads(line)["ts"]) for line in lines if line.strip())
    # Page times have one-second resolution: the span is that of the reading, +-1 s.
    return elapsed, (stamps[-1] - stamps[0]).total_seconds(), len(stamps)


def _parse(stamp: str) -> datetime.datetime:
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=16, help="sections (and pages each)")
    parser.add_argument("--delay-ms", type=int, default=1500, help="server delay per page")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--browser", action="store_true", help="capture in Chromium")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="isnad-sitesplit-bench-"))
    sides = (1, args.processes)
    times: dict[int, list[tuple[float, float, int]]] = {n: [] for n in sides}
    with FixtureServer() as site:
        seed = site.url(f"/split/w{args.width}/d{args.delay_ms}/index.html")
        pages = 1 + args.width + args.width ** 2
        print(f"machine: {os.cpu_count()} cores; site: {pages} pages at depth 2, "
              f"{args.delay_ms} ms server delay each; {'browser' if args.browser else 'HTTP'}")
        for run in range(args.runs):
            for n in sides:
                figure = capture(work / f"{n}-{run}", seed, n, args.browser)
                times[n].append(figure)
                print(f"  run {run + 1} processes={n}: {figure[0]:.1f} s "
                      f"(pages read in {figure[1]:.0f} s, {figure[2]} pages); {load()}", flush=True)
    medians = {n: (statistics.median(t[0] for t in times[n]),
                   statistics.median(t[1] for t in times[n])) for n in sides}
    for n in sides:
        total, crawl = medians[n]
        print(f"processes={n}: median {total:.1f} s start to stored "
              f"({pages / total:.1f} pages/s), pages read in {crawl:.0f} s; {load()}")
    one, many = medians[1], medians[args.processes]
    print(f"speed-up {args.processes} processes / 1: {one[0] / many[0]:.2f}x start to stored, "
          f"{one[1] / many[1]:.2f}x reading the pages (target >= 1.7x); {load()}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
