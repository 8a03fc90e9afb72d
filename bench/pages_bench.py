"""A large crawl's memory and catalog row: ``isnad capture --no-browser --depth`` of a generated
site, its process tree's peak RSS (sampled), and the size of the capture's catalog row.

Prints figures; asserts nothing. ``--code DIR`` runs another checkout of Isnad (its folder put
first on PYTHONPATH) with this one's virtualenv, to compare before and after a change.

Usage: ``python bench/pages_bench.py [--pages 3000] [--code /tmp/isnad-before]``
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixture_site import FixtureServer  # noqa: E402

MiB = 1024 * 1024


def _tree_rss(proc: psutil.Process) -> tuple[int, int]:
    """(sum, largest) RSS of a process and its descendants now."""
    sizes = []
    for p in [proc, *proc.children(recursive=True)]:
        try:
            sizes.append(p.memory_info().rss)
        except psutil.Error:
            pass
    return sum(sizes), max(sizes, default=0)


def crawl(site: FixtureServer, pages: int, home: Path, code: Path, json_out: bool
          ) -> dict[str, float]:
    """One capture of ``pages`` pages; its figures."""
    home.mkdir(parents=True)
    env = {**os.environ, "ISNAD_HOME": str(home), "ISNAD_ALLOW_PRIVATE_NETWORKS": "true",
           "PYTHONPATH": str(code), "ISNAD_CAPTURE__MAX_PAGES": str(pages),
           "ISNAD_CAPTURE__MAX_RESOURCES": "100000", "ISNAD_CAPTURE__TOTAL_TIMEOUT": "3600"}
    args = [sys.executable, "-m", "isnad.cli", "capture", *(["--json"] if json_out else []),
            "--no-browser", "--depth", str(pages), "--scope", "host",
            site.url("/generated/0.html")]
    started = time.perf_counter()
    proc = psutil.Popen(args, env=env, cwd=home, stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE)
    peak_sum = peak_one = 0
    while proc.poll() is None:
        total, largest = _tree_rss(proc)
        peak_sum, peak_one = max(peak_sum, total), max(peak_one, largest)
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    if proc.returncode not in (0, 2):
        raise SystemExit(f"capture failed ({proc.returncode}):\n{proc.stderr.read().decode()}")
    with sqlite3.connect(home / "catalog.db") as db:
        row_bytes, = db.execute("SELECT max(length(context)) FROM captures").fetchone()
        try:
            page_rows, = db.execute("SELECT count(*) FROM pages").fetchone()
        except sqlite3.OperationalError:  # code from before the page table
            page_rows = 0
    return {"seconds": seconds, "peak_tree": peak_sum / MiB, "peak_process": peak_one / MiB,
            "row_kb": row_bytes / 1024, "page_rows": page_rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=3000)
    parser.add_argument("--code", type=Path, default=ROOT, help="the Isnad checkout to run")
    args = parser.parse_args()
    print(f"code: {args.code}; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")
    with FixtureServer(generated_pages=args.pages) as site, \
            tempfile.TemporaryDirectory() as tmp:
        for json_out in (False, True):
            label = "with --json" if json_out else "no --json  "
            f = crawl(site, args.pages, Path(tmp) / label.strip(), args.code, json_out)
            print(f"{args.pages} pages {label}: {f['seconds']:.0f} s, peak RSS "
                  f"{f['peak_process']:.0f} MiB (largest process), "
                  f"{f['peak_tree']:.0f} MiB (process tree); catalog row context "
                  f"{f['row_kb']:.0f} KiB, page table {f['page_rows']} rows")


if __name__ == "__main__":
    main()
