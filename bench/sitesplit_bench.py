"""Site split benchmark: one capture's pages read by 1 process vs N processes (issue 17).

The site is I/O-bound: the fixture's /split/ site (an index, W sections, W pages each: 1 + W +
W² pages at depth 2) answers each page after a server-side delay, so what limits one process
is how many pages it has in flight (Scrapy's 16 per host without a browser, 4 pages in
Chromium), not the CPU. Each figure is the median of ``--runs`` captures, timed from process
start to a stored, verified WACZ (``isnad capture``, nothing printed but the JSON record), the
runs of both sides interleaved so that both see the same load; the load average is printed
with each figure.

Usage: ``python bench/sitesplit_bench.py [--width 16] [--delay-ms 1500] [--runs 3]
[--processes 2] [--browser] [--timeline]``
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from warcio.archiveiterator import ArchiveIterator  # noqa: E402

from tests.fixture_site import FixtureServer  # noqa: E402


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


@dataclass
class Run:
    """One capture: wall and CPU seconds from process start to a stored package, seconds from
    the first page's response recorded to the last one's (WARC-Date), pages, and where the
    time went (seconds from start)."""

    total: float
    cpu: float
    reading: float
    pages: int
    timeline: list[tuple[str, float]]


def capture(home: Path, seed: str, processes: int, browser: bool) -> Run:
    """One capture in a fresh home. The reading is what a split speeds up; the total also
    holds what it cannot (starting Python, Scrapy and a browser; packaging, storing)."""
    home.mkdir(parents=True)
    env = {**os.environ, "ISNAD_HOME": str(home), "ISNAD_ALLOW_PRIVATE_NETWORKS": "true",
           "ISNAD_CAPTURE__MAX_PAGES": "100000", "ISNAD_CAPTURE__MAX_RESOURCES": "1000000",
           "ISNAD_CAPTURE__TOTAL_TIMEOUT": "3600"}
    args = ["--depth", "2", "--processes", str(processes), *([] if browser else ["--no-browser"])]
    cpu_before = _children_cpu()
    wall_start = datetime.datetime.now(datetime.UTC)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "isnad.cli", "capture", "--json", *args, seed],
                          env=env, capture_output=True, text=True, cwd=home)
    elapsed = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before
    if not proc.stdout.strip():
        raise SystemExit(f"isnad capture failed:\n{proc.stderr}")
    record = json.loads(proc.stdout)[0]
    if record["state"] != "COMPLETE":
        raise SystemExit(f"capture {record['state']}: {record['reasons']}")
    with zipfile.ZipFile(record["package_location"]) as wacz:
        lines = wacz.read("pages/pages.jsonl").decode().splitlines()[1:]
        context = json.loads(wacz.read("datapackage.json"))["isnad"]
        urls = {json.loads(line)["url"] for line in lines if line.strip()}
        # When each page's response was recorded (WARC-Date, microseconds), whichever
        # process read it: the same measure for one process and for several.
        stamps = sorted(
            _parse(r.rec_headers.get_header("WARC-Date"))
            for name in wacz.namelist() if name.startswith("archive/")
            for r in ArchiveIterator(io.BytesIO(wacz.read(name)))
            if r.rec_type == "response" and r.rec_headers.get_header("WARC-Target-URI") in urls)
    events = _events(home, wall_start, context)
    events.append(("command ended", elapsed))
    return Run(elapsed, cpu, (stamps[-1] - stamps[0]).total_seconds(), len(urls),
               sorted(events, key=lambda e: e[1]))


def _parse(stamp: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _events(home: Path, start: datetime.datetime, context: dict) -> list[tuple[str, float]]:
    """Where a run's time went: (what, seconds from the command's start)."""
    def since(value: str | None) -> float | None:
        if not value:
            return None
        when = datetime.datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T"))
        if when.tzinfo is None:  # the catalog's times are UTC without a zone
            when = when.replace(tzinfo=datetime.UTC)
        return (when - start).total_seconds()

    found: list[tuple[str, float | None]] = []
    with sqlite3.connect(home / "catalog.db") as db:
        for queued, ended in db.execute("SELECT created_at, ended_at FROM jobs"):
            found += [("job queued", since(queued)), ("job settled", since(ended))]
        found += [("crawl started", since(v)) for (v,) in
                  db.execute("SELECT started_at FROM captures")]
        names = {"requested": "capture registered", "captured": "WARCs closed",
                 "packaged": "package verified", "stored": "stored",
                 "verified": "stored copy verified"}
        found += [(names[a], since(t)) for a, t in db.execute(
            "SELECT action, time FROM custody_events") if a in names]
    for part in (context.get("site_split") or {}).get("parts", []):
        line = part.get("timeline") or {}
        name = f"part {part['part']}"
        found += [(f"{name} forked" if part.get("start") == "fork" else f"{name} started",
                   since(line.get("started_at"))),
                  (f"{name} ready", since(line.get("ready_at"))),
                  (f"{name} first page read", since(line.get("first_page_at"))),
                  (f"{name} last page read", since(line.get("last_page_at")))]
    return [(what, t) for what, t in found if t is not None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=16, help="sections (and pages each)")
    parser.add_argument("--delay-ms", type=int, default=1500, help="server delay per page")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--browser", action="store_true", help="capture in Chromium")
    parser.add_argument("--timeline", action="store_true", help="where each run's time went")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="isnad-sitesplit-bench-"))
    sides = (1, args.processes)
    runs: dict[int, list[Run]] = {n: [] for n in sides}
    with FixtureServer() as site:
        seed = site.url(f"/split/w{args.width}/d{args.delay_ms}/index.html")
        pages = 1 + args.width + args.width ** 2
        print(f"machine: {os.cpu_count()} cores; site: {pages} pages at depth 2, "
              f"{args.delay_ms} ms server delay each; {'browser' if args.browser else 'HTTP'}")
        for number in range(args.runs):
            for n in sides:
                run = capture(work / f"{n}-{number}", seed, n, args.browser)
                runs[n].append(run)
                print(f"  run {number + 1} processes={n}: {run.total:.1f} s, {run.cpu:.1f} CPU s "
                      f"(pages read in {run.reading:.1f} s, {run.pages} pages); {load()}",
                      flush=True)
                if args.timeline:
                    for what, at in run.timeline:
                        print(f"      {at:6.2f} s  {what}")
    medians = {n: (statistics.median(r.total for r in runs[n]),
                   statistics.median(r.reading for r in runs[n]),
                   statistics.median(r.cpu for r in runs[n])) for n in sides}
    for n in sides:
        total, reading, cpu = medians[n]
        spread = ", ".join(f"{r.total:.1f}" for r in runs[n])
        print(f"processes={n}: median {total:.1f} s start to stored ({spread}; "
              f"{pages / total:.1f} pages/s, {cpu:.1f} CPU s), pages read in {reading:.1f} s "
              f"({', '.join(f'{r.reading:.1f}' for r in runs[n])}); {load()}")
    one, many = medians[1], medians[args.processes]
    print(f"speed-up {args.processes} processes / 1: {one[0] / many[0]:.2f}x start to stored, "
          f"{one[1] / many[1]:.2f}x reading the pages (target >= 1.7x); {load()}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
