"""The recording proxy on its own: each exchange a tool makes through it is a request/response
pair in the WARC; the SSRF guard holds on its upstream connections; a configured proxy is
chained; chunked bodies are stored de-chunked and truthfully labelled; a response the tool
stops reading is recorded as truncated; large bodies stream in bounded memory."""

from __future__ import annotations

import gc
import hashlib
import http.client
import os
import subprocess
import sys
import threading
import tracemalloc
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from archiver.warcwriter import CaptureWarc
from crawlers.recording_proxy import RecordingProxy
from tests.fixture_site import FixtureServer
from tests.proxyserver import ProxyServer

PROXIED_HOST = "media.isnad.test"  # resolved by the test proxy only


@pytest.fixture(scope="module")
def server():
    with FixtureServer(generated_pages=5) as fixture:
        yield fixture


@pytest.fixture
def warc(tmp_path: Path) -> CaptureWarc:
    return CaptureWarc(tmp_path / "test.warc.gz", {"software": "test"})


def _opener(proxy: RecordingProxy) -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy.url}))


def _records(warc: CaptureWarc) -> list:
    path = warc.close()
    out = []
    with open(path, "rb") as fh:
        for record in ArchiveIterator(fh):
            out.append((record.rec_type, dict(record.rec_headers.headers),
                        list(record.http_headers.headers) if record.http_headers else [],
                        record.content_stream().read()))
    return out


def _proxy(warc: CaptureWarc, tmp_path: Path, **kwargs: object) -> RecordingProxy:
    kwargs.setdefault("allow_private_networks", True)
    return RecordingProxy(warc, spool_dir=tmp_path, timeout=10, **kwargs)  # type: ignore[arg-type]


def test_an_exchange_through_the_proxy_is_a_pair_in_the_warc(server, warc, tmp_path):
    before = server.hits.get("/final.html", 0)
    with _proxy(warc, tmp_path) as proxy:
        with _opener(proxy).open(server.url("/final.html")) as answer:
            body = answer.read()
    assert server.hits["/final.html"] == before + 1
    records = _records(warc)
    assert [r[0] for r in records] == ["warcinfo", "response", "request"]
    _, response, http, payload = records[1]
    _, request, request_http, _ = records[2]
    assert payload == body and response["WARC-Target-URI"] == server.url("/final.html")
    assert response["WARC-IP-Address"] == "127.0.0.1"
    assert request["WARC-Concurrent-To"] == response["WARC-Record-ID"]
    assert response["WARC-Payload-Digest"] == "sha256:" + hashlib.sha256(body).hexdigest()
    agent = f"Python-urllib/{sys.version_info.major}.{sys.version_info.minor}"
    assert ("User-Agent", agent) in request_http  # as the tool sent it
    assert proxy.stats.exchanges == 1


def test_the_ssrf_guard_holds_on_the_proxy_upstream(server, warc, tmp_path):
    before = dict(server.hits)
    with _proxy(warc, tmp_path, allow_private_networks=False) as proxy:
        with pytest.raises(urllib.error.HTTPError) as refused:
            _opener(proxy).open(server.url("/final.html"))
    assert refused.value.code == 403 and "loopback" in refused.value.reason
    assert server.hits == before  # nothing reached the server
    assert proxy.stats.refused and proxy.stats.exchanges == 0
    assert [r[0] for r in _records(warc)] == ["warcinfo"]


@pytest.mark.parametrize("kind", ["http", "socks5h"])
def test_a_configured_proxy_is_chained_not_bypassed(server, warc, tmp_path, kind):
    with ProxyServer({PROXIED_HOST: "127.0.0.1"}) as upstream:
        url = upstream.http_url if kind == "http" else \
            upstream.socks_url.replace("socks5://", "socks5h://")
        # The guard cannot see through the proxy's names (they are resolved there), so a
        # name only the proxy knows is fetched even with private networks refused.
        with _proxy(warc, tmp_path, upstream_proxy=url, allow_private_networks=False) as proxy:
            target = f"http://{PROXIED_HOST}:{server.port}/final.html"
            with _opener(proxy).open(target) as answer:
                assert answer.status == 200
            with pytest.raises(urllib.error.HTTPError) as refused:  # an IP literal is checked
                _opener(proxy).open(server.url("/final.html"))
            assert refused.value.code == 403
        logged = {(c.protocol, c.target) for c in upstream.log}
    protocol = "http" if kind == "http" else "socks5"
    assert logged == {(protocol, f"{PROXIED_HOST}:{server.port}")}
    responses = [r for r in _records(warc) if r[0] == "response"]
    assert [r[1]["WARC-Target-URI"] for r in responses] == [target]


class _Chunked(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for piece in (b"first part, ", b"second part"):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")


def test_a_chunked_body_is_stored_dechunked_and_says_so(warc, tmp_path):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Chunked)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with _proxy(warc, tmp_path) as proxy:
            url = f"http://127.0.0.1:{httpd.server_address[1]}/chunked"
            with _opener(proxy).open(url) as answer:
                assert answer.read() == b"first part, second part"
    finally:
        httpd.shutdown()
        httpd.server_close()
    (_, headers, http, payload), = [r for r in _records(warc) if r[0] == "response"]
    assert payload == b"first part, second part"
    names = dict(http)
    assert names["X-Orig-Transfer-Encoding"] == "chunked"
    assert "Transfer-Encoding" not in names and names["Content-Length"] == str(len(payload))


def test_a_response_the_tool_stops_reading_is_recorded_truncated(server, warc, tmp_path):
    size = 8 * 1024**2
    with _proxy(warc, tmp_path) as proxy:
        answer = _opener(proxy).open(server.url(f"/blob/cut.bin?size={size}"))
        assert len(answer.read(100_000)) == 100_000
        answer.close()  # the tool has what it wanted (as yt-dlp does when sniffing a file)
    (_, headers, _, payload), = [r for r in _records(warc) if r[0] == "response"]
    assert headers["WARC-Truncated"] == "disconnect"
    assert 100_000 <= len(payload) < size
    assert proxy.stats.truncated == 1


def test_a_large_body_streams_in_bounded_memory(server, warc, tmp_path):
    size = 48 * 1024**2
    gc.collect()
    tracemalloc.start()
    try:
        with _proxy(warc, tmp_path) as proxy:
            with _opener(proxy).open(server.url(f"/blob/large.bin?size={size}")) as answer:
                while answer.read(256 * 1024):
                    pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024**2, peak  # a few buffers, never the body
    assert proxy.stats.payload_bytes == size
    (_, headers, _, payload), = [r for r in _records(warc) if r[0] == "response"]
    assert len(payload) == size and "WARC-Truncated" not in headers


@pytest.mark.parametrize("chained", [False, True], ids=["direct", "through-a-proxy"])
def test_keep_alive_requests_are_each_recorded(server, warc, tmp_path, chained):
    """Several requests on one connection to the proxy (as yt-dlp's pooled connections send
    them); the test proxy closes its connection after each request, so the second one goes
    out on a fresh upstream connection, and is recorded once."""
    before = server.hits.get("/final.html", 0)
    with ProxyServer() as upstream:
        with _proxy(warc, tmp_path, upstream_proxy=upstream.http_url if chained else None
                    ) as proxy:
            connection = http.client.HTTPConnection("127.0.0.1", int(proxy.url.rsplit(":")[-1]),
                                                    timeout=10)
            for _ in range(3):
                connection.request("GET", server.url("/final.html"))
                answer = connection.getresponse()
                assert answer.status == 200 and answer.read()
            connection.close()
    assert server.hits["/final.html"] == before + 3
    assert len([r for r in _records(warc) if r[0] == "request"]) == 3


def test_ffmpeg_sent_through_the_proxy_is_recorded(server, warc, tmp_path):
    """yt-dlp hands some downloads (HLS/DASH) to ffmpeg with the proxy in ``http_proxy``: what
    ffmpeg fetches lands in the WARC like yt-dlp's own requests."""
    before = server.hits.get("/media/clip.mp4", 0)
    out = tmp_path / "copy.mp4"
    with _proxy(warc, tmp_path) as proxy:
        env = {k: v for k, v in os.environ.items() if k.lower() != "no_proxy"}
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i",
                        server.url("/media/clip.mp4"), "-c", "copy", str(out)],
                       env={**env, "http_proxy": proxy.url}, check=True, timeout=60)
    served = server.hits["/media/clip.mp4"] - before
    requests = [r for r in _records(warc) if r[0] == "request"]
    assert served >= 1 and len(requests) == served
    assert any("Lavf" in dict(r[2]).get("User-Agent", "") for r in requests)  # ffmpeg's own
    assert out.stat().st_size > 10_000


def test_an_exchange_that_cannot_be_written_is_said_not_lost(server, warc, tmp_path):
    warc.close()  # e.g. the capture ended while a connection was still open
    with _proxy(warc, tmp_path) as proxy:
        with _opener(proxy).open(server.url("/final.html")) as answer:
            assert answer.status == 200
    assert proxy.stats.exchanges == 0
    assert [u["url"] for u in proxy.stats.unrecorded] == [server.url("/final.html")]
