"""Long pages, growing feeds and video pages in Chromium (issue 18), against a small
server on 127.0.0.1 that counts every request it answers."""

from __future__ import annotations

import functools
import hashlib
import re
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from archiver.states import CaptureState
from tests.fixture_site.server import SERVER_NAME, png
from tests.waczutil import records

pytestmark = pytest.mark.e2e
TOOLS = sys.executable.rsplit("/", 1)[0]

LAZY_IMAGES = 400
IMAGE_LATENCY = 0.2  # seconds before an image is answered
IMAGE_PITCH = 120  # px per image row: 400 rows make a page 48,000 px tall
TRICKLE_START = b"\x89PNG\r\n\x1a\n" + b"first bytes " * 100


def long_page() -> bytes:
    rows = "\n".join(
        f'<div class="row"><img loading="lazy" width="64" height="64" '
        f'src="/img/{n}.png" alt="photo {n}"> Photo {n}</div>'
        for n in range(LAZY_IMAGES))
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>Long page</title>"
        f"<style>.row{{height:{IMAGE_PITCH}px;margin:0}}</style></head>"
        f"<body>\n{rows}\n</body></html>").encode()


def feed_page() -> bytes:
    """A feed that appends a screenful every time its bottom comes into view, forever."""
    return b"""<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>Feed</title>
<style>.post{height:600px}</style></head><body><div id=feed></div><div id=end>end</div>
<script>
let n = 0;
function more() { for (let i = 0; i < 3; i++) { const d = document.createElement('div');
  d.className = 'post'; d.textContent = 'Post ' + (n++);
  document.getElementById('feed').appendChild(d); } }
more();
new IntersectionObserver(es => { if (es.some(e => e.isIntersecting)) setTimeout(more, 20); })
  .observe(document.getElementById('end'));
</script></body></html>"""


@functools.cache
def long_video() -> bytes:
    """A real H.264 MP4 of 60 s (about a megabyte), made once with ffmpeg."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "long.mp4"
        subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi",
             "-i", "testsrc=duration=60:size=320x240:rate=15", "-c:v", "libx264",
             "-pix_fmt", "yuv420p", "-preset", "ultrafast", "-movflags", "+faststart",
             str(out)], check=True)
        return out.read_bytes()


@functools.cache
def big_video() -> bytes:
    """A real H.264 MP4 of about 43 MB (lossless noise), made once with ffmpeg."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "whole.mp4"
        subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi",
             "-i", "testsrc2=duration=1:size=1280x720:rate=25,noise=alls=60:allf=t",
             "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv420p",
             str(out)], check=True)
        return out.read_bytes()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        with self.server.lock:
            self.server.asked.append(path)
        if path == "/long.html":
            self._send(long_page(), "text/html; charset=utf-8")
        elif path == "/trickle.html":
            self._send(b"<!DOCTYPE html><title>Trickle</title><img src=/trickle.png>"
                       b"<script>fetch('/trickle.bin')</script>", "text/html")
        elif path in ("/trickle.png", "/trickle.bin"):
            self._trickle()
        elif path == "/video.html":
            self._send(b"<!DOCTYPE html><title>Video</title><h1>Filmed on the day</h1>"
                       b"<video autoplay muted width=320 src=/media/long.mp4></video>",
                       "text/html")
        elif path == "/media/long.mp4":
            self._video()
        elif path == "/fetch-video.html":
            self._send(b"<!DOCTYPE html><title>Video, no ranges</title><h1>The whole file</h1>"
                       b"<video preload=auto muted width=320 src=/media/whole.mp4></video>",
                       "text/html")
        elif path == "/media/whole.mp4":
            self._send(big_video(), "video/mp4", pace=True)
        elif path == "/feed.html":
            self._send(feed_page(), "text/html; charset=utf-8")
        elif (match := re.fullmatch(r"/img/(\d+)\.png", path)):
            time.sleep(IMAGE_LATENCY)  # a real network's latency: some are in flight at close
            self._send(png(f"img-{match.group(1)}", 64), "image/png")
        else:
            self._send(b"not here", "text/plain", 404)

    def _trickle(self) -> None:
        """A body that starts at once and would take a minute to finish."""
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(TRICKLE_START) + 60 * 4))
        self.end_headers()
        try:
            self.wfile.write(TRICKLE_START)
            self.wfile.flush()
            for _ in range(60 * 4):
                time.sleep(0.25)
                self.wfile.write(b".")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _video(self) -> None:
        """The video with byte ranges. A media element's requests (Chromium sends
        ``Sec-Fetch-Dest: video``) trickle after their first 64 KiB, as a long video over an
        ordinary connection does: the player's stream is still open when the page closes."""
        data = long_video()
        start, end = 0, len(data) - 1
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if match:
            start = int(match.group(1))
            end = int(match.group(2)) if match.group(2) else end
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Server", SERVER_NAME)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        body = data[start:end + 1]
        player = self.headers.get("Sec-Fetch-Dest") == "video"
        try:
            if not player:
                self.wfile.write(body)
            else:
                self.wfile.write(body[:65536])
                for at in range(65536, len(body), 4096):
                    time.sleep(0.2)
                    self.wfile.write(body[at:at + 4096])
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return
        with self.server.lock:
            self.server.answered.append(urlsplit(self.path).path)

    def _send(self, body: bytes, content_type: str, status: int = 200, *,
              pace: bool = False) -> None:
        """``pace``: 1 MiB every 20 ms (about 50 MB/s), as a fast network, not memory, would."""
        self.send_response(status)
        self.send_header("Server", SERVER_NAME)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            step = 1024**2 if pace else len(body) or 1
            for at in range(0, len(body), step):
                self.wfile.write(body[at:at + step])
                if pace:
                    time.sleep(0.02)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return  # the client went away: not answered
        with self.server.lock:  # answered: the whole response was sent
            self.server.answered.append(urlsplit(self.path).path)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.asked: list[str] = []
        self.answered: list[str] = []

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


@pytest.fixture
def server():
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _pairs(wacz: str) -> tuple[dict[str, int], dict[str, int]]:
    """URI -> number of response records, URI -> number of request records."""
    got: dict[str, int] = {}
    sent: dict[str, int] = {}
    for rec in records(wacz):
        if rec.type in ("response", "request"):
            table = got if rec.type == "response" else sent
            table[rec.uri] = table.get(rec.uri, 0) + 1
    return got, sent


def test_long_page_every_answered_request_is_in_the_warc(isnad, server):
    """400 lazy images on a 48,000 px page, each answered after 0.2 s: the page is
    scrolled to its end, and every request the server answered is a request/response pair
    in the WARC, also those still in flight when the snapshots were done (the page is not
    closed on them). The one finding is the network that did not go quiet in time.

    Each scroll step waits for what it set off, at most scroll_pause: at 0.05 s a step
    the scrolling outruns the images (0.2 s each), so many are still in flight at the end."""
    rec = isnad.capture(server.url("/long.html"),
                        env={"ISNAD_CAPTURE__NETWORK_IDLE_TIMEOUT": "1",
                             "ISNAD_CAPTURE__SCROLL_PAUSE": "0.05",
                             "ISNAD_CAPTURE__DRAIN_TIMEOUT": "60"})
    asked = {p for p in server.asked if p.startswith("/img/")}
    assert len(asked) == LAZY_IMAGES, f"only {len(asked)} images were asked for"
    answered = [p for p in server.answered if p != "/favicon.ico"]
    # The browser did not hang up on any of them (closing the page early would).
    assert {p for p in answered if p.startswith("/img/")} == asked
    got, sent = _pairs(rec["package_location"])
    missing = [p for p in answered if server.url(p) not in got or server.url(p) not in sent]
    assert not missing, f"{len(missing)} answered request(s) not in the WARC: {missing[:5]}"
    assert rec["context"]["stats"]["failed_requests"] == []
    assert rec["state"] == CaptureState.PARTIAL
    assert [r.split(" within ")[0] for r in rec["reasons"]] == [
        "timeout: the network did not go idle"], rec["reasons"]


def test_feed_that_grows_forever_says_so(isnad, server):
    """An infinite feed is not "a long page": the finding names the growth and the bound."""
    rec = isnad.capture(server.url("/feed.html"),
                        env={"ISNAD_CAPTURE__SCROLL_MAX_HEIGHT": "20000"})
    assert rec["state"] == CaptureState.PARTIAL, rec
    finding = [r for r in rec["reasons"] if "infinite feed" in r]
    assert finding, rec["reasons"]
    assert re.search(r"kept growing past \d[\d,]* px", finding[0]), finding
    assert not any("not fully scrolled" in r for r in rec["reasons"]), rec["reasons"]


def test_long_page_cut_by_the_height_bound_says_where_it_stopped(isnad, server):
    """A long (not growing) page cut by the height bound: "stopped at N of M px"."""
    rec = isnad.capture(server.url("/long.html"),
                        env={"ISNAD_CAPTURE__SCROLL_MAX_HEIGHT": "10000"})
    assert rec["state"] == CaptureState.PARTIAL, rec
    finding = [r for r in rec["reasons"] if "not fully scrolled" in r]
    assert finding, rec["reasons"]
    match = re.search(r"stopped at ([\d,]+) of ([\d,]+) px", finding[0])
    assert match, finding
    stopped, total = (int(g.replace(",", "")) for g in match.groups())
    assert 10000 <= stopped < total
    assert total >= LAZY_IMAGES * IMAGE_PITCH
    assert not any("infinite feed" in r for r in rec["reasons"]), rec["reasons"]


def test_body_still_arriving_at_close_is_recorded_truncated(isnad, server):
    """A response still arriving when the page must close is recorded as far as it
    arrived, with WARC-Truncated: time, never dropped; the capture says so (PARTIAL)."""
    rec = isnad.capture(server.url("/trickle.html"),
                        env={"ISNAD_CAPTURE__NETWORK_IDLE_TIMEOUT": "1",
                             "ISNAD_CAPTURE__PAGE_TIMEOUT": "3",
                             "ISNAD_CAPTURE__DRAIN_TIMEOUT": "2"})
    assert rec["state"] == CaptureState.PARTIAL, rec
    got = {r.uri: r for r in records(rec["package_location"]) if r.type == "response"}
    for path in ("/trickle.bin", "/trickle.png"):
        assert server.url(path) in got, f"the cut-off response {path} is not in the WARC"
        assert got[server.url(path)].headers.get("WARC-Truncated") == "time"
        assert got[server.url(path)].http_status == "200"
    # fetch() bodies are kept by Chromium as they arrive: what arrived is recorded. An
    # image's is not handed over before it ends: its record holds a prefix at most.
    assert got[server.url("/trickle.bin")].payload.startswith(TRICKLE_START)
    assert TRICKLE_START.startswith(got[server.url("/trickle.png")].payload[:len(TRICKLE_START)])
    failed = rec["context"]["stats"]["failed_requests"]
    assert sorted(f["url"] for f in failed) == [server.url("/trickle.bin"),
                                                server.url("/trickle.png")]
    assert all("WARC-Truncated: time" in f["error"] for f in failed), failed
    assert any("failed subresources: 2 request(s)" in r for r in rec["reasons"]), rec["reasons"]


def test_playing_video_is_not_partial_when_the_media_route_got_it_whole(isnad, server):
    """A page whose video plays (autoplay, byte ranges): the player is paused, its stream
    is recorded as what it is (a 206 with Content-Range, cut off: WARC-Truncated), and since
    yt-dlp downloaded the same URL whole (its SHA-256 recorded), the capture is COMPLETE."""
    video = long_video()
    rec = isnad.capture(server.url("/video.html"),
                        env={"ISNAD_CAPTURE__DRAIN_TIMEOUT": "2"})
    assert rec["state"] == CaptureState.COMPLETE, rec["reasons"]
    url = server.url("/media/long.mp4")
    streams = [r for r in records(rec["package_location"])
               if r.type == "response" and r.uri == url]
    player = [r for r in streams if r.http_status == "206"]
    assert player, [r.http_status for r in streams]
    assert player[0].headers.get("WARC-Truncated") == "time"
    ranges = dict((k.lower(), v) for k, v in player[0].http_headers)
    assert ranges["content-range"].endswith(f"/{len(video)}")
    whole = [r for r in streams if r.http_status == "200"]
    assert whole and whole[0].payload == video, "yt-dlp's download is not in the WARC"
    media = rec["context"]["media"]
    files = [f for item in media["items"] for f in item["files"] if f["kind"] == "video"]
    assert any(f["size"] == len(video) for f in files), files
    assert any("media player's stream" in e and url in e for e in media["excused"]), media
    assert rec["context"]["stats"]["failed_requests"] == []
    # Independent tools accept the package, its cut-off record included.
    subprocess.run([f"{TOOLS}/wacz", "validate", "-f", rec["package_location"]], check=True,
                   capture_output=True)
    # Every answer the server finished (the browser's and yt-dlp's) is an exchange in the WARC.
    got, sent = _pairs(rec["package_location"])
    for path in set(server.answered) - {"/favicon.ico"}:
        times = server.answered.count(path)
        assert got.get(server.url(path), 0) >= times, (path, times, got)
        assert sent.get(server.url(path), 0) >= times, (path, times, sent)


def test_playing_video_stays_partial_when_no_route_got_it(isnad, server):
    """The same page with media downloads off: the player's cut-off stream is all there
    is of the video, and the capture is PARTIAL for it."""
    rec = isnad.capture(server.url("/video.html"),
                        env={"ISNAD_CAPTURE__DRAIN_TIMEOUT": "2", "ISNAD_MEDIA__ENABLED": "false"})
    assert rec["state"] == CaptureState.PARTIAL, rec
    assert any("failed subresources: 1 request(s)" in r for r in rec["reasons"]), rec["reasons"]
    failed = rec["context"]["stats"]["failed_requests"]
    assert [f["url"] for f in failed] == [server.url("/media/long.mp4")]
    assert "media player stream" in failed[0]["error"]


def test_video_fetched_whole_is_recorded_from_disk(isnad, server):
    """A player that fetches a large video from a server without byte ranges: its body is
    streamed to disk as it arrives (not taken from the browser in one piece) and recorded
    whole (a second request of the player, abandoned or cut off, is a prefix marked
    truncated, and no reason for PARTIAL since the whole file is there)."""
    video = big_video()
    assert len(video) > 32 * 1024**2
    rec = isnad.capture(server.url("/fetch-video.html"),
                        env={"ISNAD_MEDIA__ENABLED": "false", "ISNAD_CAPTURE__DRAIN_TIMEOUT": "3"})
    found = [r for r in records(rec["package_location"])
             if r.type == "response" and r.uri == server.url("/media/whole.mp4")]
    # The player may ask more than once; each answer is recorded as far as it was read.
    assert found
    for got in found:
        assert got.http_status == "200"
        if "WARC-Truncated" in got.headers:
            assert got.headers["WARC-Truncated"] == "time"
            assert video.startswith(got.payload)
    whole = [r for r in found if "WARC-Truncated" not in r.headers]
    assert whole, "the video is not recorded whole"
    digest = hashlib.sha256(video).hexdigest()
    assert all(hashlib.sha256(r.payload).hexdigest() == digest for r in whole)
    assert rec["state"] == CaptureState.COMPLETE, rec["context"]["stats"]["failed_requests"]
