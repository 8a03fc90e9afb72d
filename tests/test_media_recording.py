"""Every exchange recorded, yt-dlp's included: what the target's server saw is what the WARC
holds, request for request, over HTTP and HTTPS; the WARC passes `warcio check`."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography import x509

from archiver.states import CaptureState
from tests import test_capture_tls
from tests.fixture_site import FixtureServer
from tests.fixture_site.server import video_clip
from tests.waczutil import records

pytestmark = pytest.mark.e2e

https_site = test_capture_tls.https_site  # the HTTPS fixture site (a test CA, a chain of two)


@pytest.fixture
def counted_site():
    """A fixture site of its own, so its request counts are this test's alone."""
    with FixtureServer(generated_pages=5) as server:
        yield server


def _package(isnad, capture_id: str) -> Path:
    shown = isnad("show", capture_id, "--json").json()
    return Path(next(c["location"] for c in shown["copies"]))


def _pairs(package: Path) -> list[tuple[object, object]]:
    """(request, response) records paired by WARC-Concurrent-To."""
    recs = records(package)
    responses = {r.headers["WARC-Record-ID"]: r for r in recs if r.type == "response"}
    requests = [r for r in recs if r.type == "request"]
    assert len(requests) == len(responses)
    return [(q, responses[q.headers["WARC-Concurrent-To"]]) for q in requests]


def _warcio_check(package: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(package) as wacz:
        for name in wacz.namelist():
            if name.startswith("archive/"):
                target = tmp_path / Path(name).name
                target.write_bytes(wacz.read(name))
                check = subprocess.run(
                    [str(Path(sys.executable).with_name("warcio")), "check", "-v",
                     str(target)], capture_output=True, text=True)
                assert check.returncode == 0, check.stdout + check.stderr


def _user_agent(record) -> str:  # noqa: ANN001 - a waczutil.Rec
    return next((v for n, v in record.http_headers if n.lower() == "user-agent"), "")


def _assert_counts_match(server: FixtureServer, pairs) -> None:  # noqa: ANN001
    recorded = Counter(urlsplit(q.uri).path for q, _ in pairs)
    assert recorded == Counter(server.hits), (recorded, server.hits)


@pytest.mark.parametrize("mode", [["--no-browser"], []], ids=["http", "browser"])
def test_every_request_the_server_saw_is_in_the_warc(isnad, counted_site, tmp_path, mode):
    rec = isnad.capture(*mode, counted_site.url("/video.html"))
    assert rec["state"] == CaptureState.COMPLETE, (rec["reasons"], rec["stderr"])
    package = _package(isnad, rec["id"])
    pairs = _pairs(package)
    _assert_counts_match(counted_site, pairs)
    # yt-dlp read the page again, and that request is in the WARC as sent: with the capture's
    # one agent (yt-dlp is given it), as the server received it.
    shown = isnad("show", rec["id"], "--json").json()
    pages = [q for q, _ in pairs if q.uri.endswith("/video.html")]
    assert len(pages) >= 2
    agents = {_user_agent(q) for q in pages}
    assert agents == {shown["context"]["browser"]["user_agent"]}, agents
    # The video as yt-dlp downloaded it, whole, with the server's address; and in media/.
    clips = [r for _, r in pairs if r.uri.endswith("/media/clip.mp4")
             and "WARC-Truncated" not in r.headers]
    assert any(r.payload == video_clip() for r in clips)
    assert all(r.headers["WARC-IP-Address"] == "127.0.0.1" for _, r in pairs)
    recording = shown["context"]["media"]["recording"]
    assert recording["exchanges"] >= 2 and recording["servers"] == {"127.0.0.1": "127.0.0.1"}
    with zipfile.ZipFile(package) as wacz:
        assert any(wacz.read(n) == video_clip() for n in wacz.namelist()
                   if n.startswith("media/"))
    _warcio_check(package, tmp_path)
    assert isnad("verify", rec["id"]).code == 0


def test_https_exchanges_of_yt_dlp_are_recorded_with_the_chain(isnad, https_site, tmp_path):
    before = Counter(https_site.hits)
    ca_file = tmp_path / "test-ca.pem"
    chain = Path(https_site.tls[0]).read_bytes()
    ca_file.write_bytes(chain[chain.index(b"-----END CERTIFICATE-----") + 26:])
    rec = isnad.capture("--no-browser", https_site.url("/video.html"),
                        env={"SSL_CERT_FILE": str(ca_file)})  # the proxy trusts the test CA
    assert rec["state"] == CaptureState.COMPLETE, (rec["reasons"], rec["stderr"])
    package = _package(isnad, rec["id"])
    pairs = _pairs(package)
    seen = Counter(https_site.hits) - before
    assert Counter(urlsplit(q.uri).path for q, _ in pairs) == seen
    assert any(r.payload == video_clip() for _, r in pairs if r.uri.endswith("/clip.mp4"))
    tls = isnad("show", rec["id"], "--json").json()["context"]["media"]["recording"]["tls"]
    presented = tls["127.0.0.1"]
    assert presented["protocol"].startswith("TLSv1.")
    leaf = x509.load_pem_x509_certificate(presented["chain_pem"][0].encode())
    assert leaf == https_site.leaf  # the site's own certificate, not the proxy's
    _warcio_check(package, tmp_path)


def test_the_proxy_verifies_the_site_certificate(isnad, https_site):
    """Without trust in the site's CA the media is refused by the proxy (a clear TLS reason),
    though yt-dlp itself trusts the proxy."""
    pin = https_site.spki_pin
    rec = isnad.capture(https_site.url("/video.html"), env={
        "ISNAD_BROWSER__EXTRA_ARGS": f'["--ignore-certificate-errors-spki-list={pin}"]'})
    assert rec["state"] == CaptureState.PARTIAL, rec["reasons"]
    assert any(r.startswith("media of") and "certificate" in r for r in rec["reasons"]), \
        rec["reasons"]


def test_hls_playlists_and_segments_are_recorded(isnad):
    """An HLS video: the playlists and every segment yt-dlp (or the ffmpeg it starts) fetched
    are in the WARC, as many as the server answered."""
    from tests.platform_fixtures.bluesky import BlueskyFixture, hls_segment

    with BlueskyFixture() as stand:
        env = {"ISNAD_PLATFORMS__BLUESKY__BASE_URL": stand.base}
        rec = isnad.capture("--no-browser", stand.post_url(), env=env)
        assert rec["state"] == CaptureState.COMPLETE, (rec["reasons"], rec["stderr"][-2000:])
        served = Counter(urlsplit(r["path"]).path for r in stand.requests)
        shown = isnad("show", rec["id"], "--json", env=env).json()
        package = Path(next(c["location"] for c in shown["copies"]))
    pairs = _pairs(package)
    assert Counter(urlsplit(q.uri).path for q, _ in pairs) == served
    segments = [r for _, r in pairs if r.uri.endswith("/360p/video0.ts")]
    assert segments and all(r.payload == hls_segment() for r in segments)
    assert any(r.uri.endswith("/playlist.m3u8") for _, r in pairs)
