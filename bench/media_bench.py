"""Media benchmark. Prints figures; asserts nothing (timings vary by machine).

Captures a page whose video is a large file (default 2 GiB) served from 127.0.0.1: yt-dlp
downloads it, Isnad streams it into the package, hashes, packages, stores and verifies it.
Prints the capture's throughput (video bytes per second, from process start to a stored,
verified package), its CPU seconds and the peak RSS of the capture process (target < 300 MiB),
next to a plain download of the same file and `sha256sum` of it for reference, with the load
average before and after each figure (the machine may be shared: CPU seconds compare better
than wall seconds under load). ``--runs N`` repeats the capture and prints the median.

``--code DIR`` runs another checkout of Isnad (from its folder) with this one's virtualenv, to
compare before and after a change.

Usage: ``python bench/media_bench.py [--size-mib 2048] [--runs 1] [--code /tmp/isnad-before]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024


def serve(video: Path) -> ThreadingHTTPServer:
    page = (b"<!doctype html><html><head><title>Large video</title></head><body>"
            b"<h1>Large video</h1><video controls src=\"/big.mp4\"></video></body></html>")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:  # noqa: N802
            self.do_GET(head=True)

        def do_GET(self, head: bool = False) -> None:  # noqa: N802
            if self.path == "/big.mp4":
                size = video.stat().st_size
                self.send_response(200)
                self.send_header("Content-Type", "video/mp4")
                self.send_header("Content-Length", str(size))
                self.end_headers()
                if not head:
                    with open(video, "rb") as fh:
                        shutil.copyfileobj(fh, self.wfile, MiB)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            if not head:
                self.wfile.write(page)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--code", type=Path, default=ROOT, help="the Isnad checkout to run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="isnad-media-bench-") as tmp:
        work = Path(tmp)
        video = work / "big.mp4"
        with open(video, "wb") as out:
            block = os.urandom(MiB)
            for _ in range(args.size_mib):
                out.write(block)
        server = serve(video)
        base = f"http://127.0.0.1:{server.server_address[1]}"
        size = video.stat().st_size
        print(f"code: {args.code}")
        print(f"video: {args.size_mib} MiB of random bytes served from 127.0.0.1")
        load = _load()
        started = time.perf_counter()
        with urllib.request.urlopen(f"{base}/big.mp4") as answer, \
                open(work / "plain.mp4", "wb") as out:
            shutil.copyfileobj(answer, out, MiB)
        seconds = time.perf_counter() - started
        print(f"plain HTTP download of the file:  {size / MiB / seconds:7.1f} MiB/s "
              f"({seconds:.1f} s; load average {load} → {_load()})")
        (work / "plain.mp4").unlink()
        load, cpu = _load(), _children_cpu()
        started = time.perf_counter()
        subprocess.run(["sha256sum", str(video)], check=True, capture_output=True)
        seconds = time.perf_counter() - started
        print(f"sha256sum of the file:            {size / MiB / seconds:7.1f} MiB/s "
              f"({seconds:.1f} s, {_children_cpu() - cpu:.1f} s CPU; load average {load} → "
              f"{_load()})")
        figures = []
        for run in range(args.runs):
            env = {**os.environ, "ISNAD_HOME": str(work / f"home-{run}"),
                   "ISNAD_ALLOW_PRIVATE_NETWORKS": "true",
                   "ISNAD_MEDIA__MAX_BYTES": str(size + MiB)}
            load, cpu = _load(), _children_cpu()
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "isnad.cli", "capture",
                                   "--no-browser", "--json", f"{base}/page.html"],
                                  cwd=args.code, env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - started
            cpu = _children_cpu() - cpu
            if done.returncode != 0:
                sys.exit(f"capture failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
            record = json.loads(done.stdout)[0]
            figures.append(seconds)
            print(f"isnad capture (page + yt-dlp + package + store + verify): "
                  f"{size / MiB / seconds:7.1f} MiB/s ({seconds:.1f} s, {cpu:.1f} s CPU), "
                  f"state {record['state']}; load average {load} → {_load()}")
            shutil.rmtree(work / f"home-{run}", ignore_errors=True)
        server.shutdown()
        if args.runs > 1:
            median = statistics.median(figures)
            print(f"median of {args.runs}: {size / MiB / median:.1f} MiB/s ({median:.1f} s)")
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"peak RSS of the largest child process (the capture): {peak:.0f} MiB "
              "(target < 300 MiB)")


if __name__ == "__main__":
    main()
