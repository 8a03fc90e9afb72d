"""Browser memory benchmark for a large video the page's player fetches whole (no ranges).
Prints figures; asserts nothing (memory and timings vary by machine).

Serves a page with ``<video preload=auto src=/big.mp4>`` from 127.0.0.1, the video a real
H.264 file made with ffmpeg (lossless noise: about 43 MB a second), answered whole (no byte
ranges), and captures it in Chromium with media downloads off, so only the browser recording
holds the video. The recorder streams a media element's body to disk as Chromium receives it;
this prints the peak RSS of the capture's Python process (``VmHWM``, sampled while it runs)
next to the video's size, and whether the WARC holds it whole.

Usage: ``python bench/player_bench.py [--seconds 6]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024


def serve(video: Path) -> ThreadingHTTPServer:
    page = (b"<!doctype html><html><head><title>Large video, no ranges</title></head><body>"
            b"<h1>Large video</h1><video preload=auto muted src=\"/big.mp4\"></video>"
            b"</body></html>")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            body = video if self.path == "/big.mp4" else None
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4" if body else "text/html")
            self.send_header("Content-Length",
                             str(body.stat().st_size if body else len(page)))
            self.end_headers()
            try:
                if body:
                    with open(body, "rb") as fh:
                        shutil.copyfileobj(fh, self.wfile, MiB)
                else:
                    self.wfile.write(page)
            except (BrokenPipeError, ConnectionResetError):
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def peak_rss_mib(pid: int) -> float | None:
    """The process's peak resident set (VmHWM), or None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def recorded(package: Path, path: str) -> list[tuple[int, str | None]]:
    """(payload length, WARC-Truncated) of each response record for ``path``, read in
    pieces."""
    from warcio.archiveiterator import ArchiveIterator

    found = []
    with zipfile.ZipFile(package) as wacz:
        for name in wacz.namelist():
            if not name.startswith("archive/"):
                continue
            with wacz.open(name) as stream:
                for rec in ArchiveIterator(stream):
                    uri = rec.rec_headers.get_header("WARC-Target-URI") or ""
                    if rec.rec_type == "response" and uri.endswith(path):
                        length = 0
                        reader = rec.content_stream()
                        while chunk := reader.read(MiB):
                            length += len(chunk)
                        found.append((length, rec.rec_headers.get_header("WARC-Truncated")))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=6, help="video length (≈43 MB/s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="isnad-player-bench-") as tmp:
        work = Path(tmp)
        video = work / "big.mp4"
        subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
             f"testsrc2=duration={args.seconds}:size=1280x720:rate=25,noise=alls=60:allf=t",
             "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv420p",
             str(video)], check=True)
        size = video.stat().st_size
        server = serve(video)
        base = f"http://127.0.0.1:{server.server_address[1]}"
        env = {**os.environ, "ISNAD_HOME": str(work / "home"),
               "ISNAD_ALLOW_PRIVATE_NETWORKS": "true", "ISNAD_MEDIA__ENABLED": "false",
               "ISNAD_CAPTURE__MAX_BYTES": str(4 * size + 64 * MiB)}
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "isnad.cli", "capture", "--json",
                                 f"{base}/page.html"], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        peak = 0.0
        while proc.poll() is None:
            peak = max(peak, peak_rss_mib(proc.pid) or 0.0)
            time.sleep(0.1)
        out, err = proc.communicate()
        seconds = time.perf_counter() - started
        server.shutdown()
        if not out.strip():
            sys.exit(f"capture failed ({proc.returncode}):\n{err}")
        record = json.loads(out)[0]
        print(f"video: {size / MiB:.0f} MiB, answered whole (no ranges) from 127.0.0.1")
        print(f"capture: {seconds:.1f} s, state {record['state']}, "
              f"reasons {record.get('reasons')}")
        print(f"peak RSS of the capture's Python process: {peak:.0f} MiB "
              f"({peak / (size / MiB):.2f} x the video)")
        for length, truncated in recorded(Path(record["package_location"]), "/big.mp4"):
            print(f"WARC response for the video: {length / MiB:.0f} MiB"
                  f"{', WARC-Truncated: ' + truncated if truncated else ', whole'}")


if __name__ == "__main__":
    main()
