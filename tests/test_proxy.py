"""Proxies (HTTP and SOCKS5), end to end: the platform reader, the page (plain HTTP and
Chromium) and yt-dlp all go through the configured proxy, nothing goes around it, the proxy is
recorded in the capture context with its password redacted, and a proxy that is down fails the
capture instead of letting it go direct."""

from __future__ import annotations

import gzip
import hashlib
import json
import socket
import zipfile
from pathlib import Path

import pytest

from archiver.states import CaptureState
from tests.fixture_site.server import video_clip
from tests.platform_fixtures.telegram import TelegramFixture
from tests.proxyserver import ProxyServer

pytestmark = pytest.mark.e2e

# A name only the proxy resolves: a request that reaches the stand-in by it came through the
# proxy (a direct attempt fails its DNS lookup).
PROXIED_HOST = "telegram.isnad.test"


@pytest.fixture(scope="module")
def telegram():
    with TelegramFixture() as server:
        yield server


@pytest.fixture
def proxy():
    with ProxyServer({PROXIED_HOST: "127.0.0.1"}) as server:
        yield server


def _capture(isnad, telegram, proxy_url: str, *mode: str) -> tuple[dict, zipfile.ZipFile]:
    port = telegram.base.rsplit(":", 1)[1]
    base = f"http://{PROXIED_HOST}:{port}"
    env = {"ISNAD_PLATFORMS__TELEGRAM__BASE_URL": base, "ISNAD_PLATFORMS__PROXY": proxy_url}
    rec = isnad.capture(*mode, f"{base}/syriawitness/103", env=env)
    assert rec["state"] == CaptureState.COMPLETE, (rec["reasons"], rec["stderr"])
    shown = isnad("show", rec["id"], "--json", env=env).json()
    return shown, zipfile.ZipFile(Path(next(c["location"] for c in shown["copies"])))


def _video_stored(package: zipfile.ZipFile) -> bool:
    clip = hashlib.sha256(video_clip()).hexdigest()
    return any(hashlib.sha256(package.read(n)).hexdigest() == clip
               for n in package.namelist() if n.startswith("media/"))


@pytest.mark.parametrize("mode", [["--no-browser"], []], ids=["http", "browser"])
def test_http_proxy_carries_every_request(isnad, telegram, proxy, mode):
    shown, package = _capture(isnad, telegram, proxy.http_url, *mode)
    port = telegram.base.rsplit(":", 1)[1]
    proxied = {(c.protocol, c.target, c.path) for c in proxy.log}
    # The platform reader (Scrapy, plain HTTP) read the post through the proxy by its name.
    assert ("http", f"{PROXIED_HOST}:{port}", "/s/syriawitness/103") in proxied, proxied
    # The page itself: Scrapy or Chromium, through the proxy.
    assert ("http", f"{PROXIED_HOST}:{port}", "/syriawitness/103") in proxied, proxied
    # yt-dlp fetched the post's video through the proxy too, and it is in the package.
    assert any(path == "/media/tg-clip.mp4" for _, _, path in proxied), proxied
    assert _video_stored(package)
    post = json.loads(package.read("metadata/post.json"))
    assert post["post_id"] == "103" and post["media"][0]["type"] == "video"
    context = shown["context"]
    assert context["network"]["proxy"] == proxy.http_url
    assert context["platform"]["proxy"] == proxy.http_url


@pytest.mark.parametrize("mode", [["--no-browser"], []], ids=["http", "browser"])
def test_socks5_proxy_carries_every_request(isnad, telegram, proxy, mode):
    socks = proxy.socks_url.replace("socks5://", "socks5h://")  # names resolved at the proxy
    shown, package = _capture(isnad, telegram, socks, *mode)
    port = telegram.base.rsplit(":", 1)[1]
    tunnels = [c for c in proxy.log if c.protocol == "socks5"]
    assert tunnels and {c.protocol for c in proxy.log} == {"socks5"}
    assert f"{PROXIED_HOST}:{port}" in {c.target for c in tunnels}
    # The video (at 127.0.0.1, which a bypass would reach directly) came through the proxy.
    assert f"127.0.0.1:{port}" in {c.target for c in tunnels}
    assert _video_stored(package)
    assert json.loads(package.read("metadata/post.json"))["post_id"] == "103"
    assert shown["context"]["network"]["proxy"] == socks


def test_proxy_password_is_kept_out_of_the_package(isnad, telegram, proxy):
    secret = "hunter2-proxy-password"
    with_credentials = proxy.http_url.replace("http://", f"http://investigator:{secret}@")
    run = isnad("capture", "--json", "--no-browser", f"{telegram.base}/syriawitness/101",
                env={"ISNAD_PLATFORMS__PROXY": with_credentials})
    assert secret not in run.stdout + run.stderr
    record = run.json()[0]
    assert record["state"] == CaptureState.COMPLETE, record["reasons"]
    shown = isnad("show", record["id"], "--json").json()
    assert secret not in json.dumps(shown)
    assert shown["context"]["network"]["proxy"].startswith("http://investigator:[redacted")
    with zipfile.ZipFile(Path(next(c["location"] for c in shown["copies"]))) as package:
        for name in package.namelist():
            data = package.read(name)
            if name.endswith(".gz"):
                data = gzip.decompress(data)
            assert secret.encode() not in data, name
        # Scrapy sent Proxy-Authorization to the proxy: the record keeps the name only.
        warcs = b"".join(gzip.decompress(package.read(n)) for n in package.namelist()
                         if n.startswith("archive/"))
        assert b"Proxy-Authorization: [redacted by Isnad]" in warcs


@pytest.mark.parametrize("mode", [["--no-browser"], []], ids=["http", "browser"])
def test_a_proxy_that_is_down_fails_the_capture_instead_of_going_direct(isnad, telegram, mode):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    before = len(telegram.requests)
    rec = isnad.capture(*mode, f"{telegram.base}/syriawitness/101",
                        env={"ISNAD_PLATFORMS__TELEGRAM__BASE_URL": telegram.base,
                             "ISNAD_PLATFORMS__PROXY": dead})
    assert rec["state"] == CaptureState.FAILED, rec["reasons"]
    assert len(telegram.requests) == before  # not one request went around the proxy
    shown = isnad("show", rec["id"], "--json").json()
    assert shown["context"]["network"]["proxy"] == dead


def test_a_bad_proxy_setting_is_refused_naming_it(isnad):
    run = isnad("capture", "https://example.org/",
                env={"ISNAD_PLATFORMS__TELEGRAM__PROXY": "ftp://127.0.0.1:21"})
    assert run.code == 2
    assert "platforms.telegram.proxy" in run.stderr and "not a proxy URL" in run.stderr
