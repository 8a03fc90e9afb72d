"""The fixed cost of a capture of a plain HTML page (no media): ``isnad capture --no-browser``
of a fixture page, process start to a stored, verified package, median of ``--runs``.

Prints figures; asserts nothing. ``--code DIR`` runs another checkout of Isnad (its folder put
first on PYTHONPATH) with this one's virtualenv: run it on the code before a change and after
to see what the change saves (e.g. yt-dlp no longer started on a page that shows no media).

Usage: ``python bench/plain_page_bench.py [--runs 5] [--code /tmp/isnad-before]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixture_site import FixtureServer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--code", type=Path, default=ROOT, help="the Isnad checkout to run")
    args = parser.parse_args()
    seconds, media_stage = [], []
    with FixtureServer() as site, tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            home = Path(tmp) / f"home-{run}"
            home.mkdir()
            env = {**os.environ, "ISNAD_HOME": str(home), "PYTHONPATH": str(args.code),
                   "ISNAD_ALLOW_PRIVATE_NETWORKS": "true"}
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "isnad.cli", "capture", "--no-browser", "--json",
                 site.url(f"/final.html?run={run}")],
                env=env, cwd=home, capture_output=True, text=True)
            seconds.append(time.perf_counter() - started)
            if done.returncode != 0:
                raise SystemExit(f"capture failed ({done.returncode}):\n{done.stderr}")
            media = (json.loads(done.stdout)[0]["context"].get("media") or {})
            media_stage.append(media.get("extraction", {"ran": True})["ran"])
    print(f"code: {args.code}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"plain page, isnad capture --no-browser: median {statistics.median(seconds):.2f} s "
          f"over {args.runs} runs (min {min(seconds):.2f}, max {max(seconds):.2f}); "
          f"yt-dlp ran in {sum(media_stage)} of {args.runs}")


if __name__ == "__main__":
    main()
