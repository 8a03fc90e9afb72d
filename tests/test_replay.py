"""Replay in the browser (isnad/web/replay.py): ReplayWeb.page served by Isnad from its npm
package, reading a real capture's package through the byte-range endpoint, in real Chromium,
against real uvicorn on 127.0.0.1; the package read by ranges from a local folder and from S3
(moto server)."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from archiver.errors import NotFound, StorageError
from archiver.storage import LocalFolderStorage
from tests.conftest import Isnad
from tests.s3server import CREDENTIALS, free_port, wait_for_port

FIXTURE_TEXT = "Statement of a witness, 3 March"  # written by the page's script, from its JSON


# -- byte ranges (no server) -------------------------------------------------------------------

@pytest.mark.parametrize(("header", "size", "expected"), [
    (None, 100, None),
    ("bytes=0-9", 100, (0, 9)),
    ("bytes=10-19", 100, (10, 19)),
    ("bytes=90-", 100, (90, 99)),
    ("bytes=-10", 100, (90, 99)),
    ("bytes=-1000", 100, (0, 99)),  # a suffix longer than the package: all of it
    ("bytes=95-1000", 100, (95, 99)),  # an end past the package: clipped
    ("bytes=99-99", 100, (99, 99)),
    (" bytes = 5 - 6 ", 100, (5, 6)),
    ("bytes=0-1,5-6", 100, None),  # several ranges: the whole package (RFC 9110 allows it)
    ("items=0-9", 100, None),  # another unit: ignored
    ("bytes=9-0", 100, None),  # invalid: ignored
    ("bytes=-", 100, None),
    ("bytes=abc", 100, None),
])
def test_parse_byte_range(header: str | None, size: int, expected: tuple[int, int] | None
                          ) -> None:
    from isnad.web.ranges import parse_byte_range

    assert parse_byte_range(header, size) == expected


@pytest.mark.parametrize(("header", "size"), [
    ("bytes=100-", 100), ("bytes=100-200", 100), ("bytes=-0", 100), ("bytes=0-", 0),
    ("bytes=-5", 0),
])
def test_unsatisfiable_byte_ranges(header: str, size: int) -> None:
    from isnad.web.ranges import RangeNotSatisfiable, parse_byte_range

    with pytest.raises(RangeNotSatisfiable):
        parse_byte_range(header, size)


def test_partial_reads_are_logged_once_per_reader_and_window() -> None:
    """A replay reads dozens of ranges: one access line for them, not one each; whole
    downloads and replay views are each logged; another reader is logged apart."""
    from isnad.web.replay import AccessLog

    heard: list[tuple[Any, str, str]] = []
    log = AccessLog(lambda _req, who, cid, action: heard.append((who, cid, action)), window=0.3)
    for _ in range(5):
        log(None, "ana", "c1", "download", partial=True)  # type: ignore[arg-type]
    log(None, "ben", "c1", "download", partial=True)  # type: ignore[arg-type]
    log(None, "ana", "c2", "download", partial=True)  # type: ignore[arg-type]
    log(None, "ana", "c1", "download")  # type: ignore[arg-type]
    log(None, "ana", "c1", "replay")  # type: ignore[arg-type]
    assert heard == [("ana", "c1", "download"), ("ben", "c1", "download"),
                     ("ana", "c2", "download"), ("ana", "c1", "download"),
                     ("ana", "c1", "replay")]
    time.sleep(0.35)
    log(None, "ana", "c1", "download", partial=True)  # type: ignore[arg-type]
    assert heard[-1] == ("ana", "c1", "download") and len(heard) == 6


def test_local_folder_reads_only_the_range(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    storage = LocalFolderStorage(tmp_path / "store")
    storage.put_bytes("a/pkg.wacz", data)
    for start, length in ((0, 1), (0, len(data)), (1024 * 1024 - 3, 2 * 1024 * 1024),
                          (len(data) - 5, 5)):
        with storage.open_range("a/pkg.wacz", start, length) as stream:
            got = b""
            while chunk := stream.read(100_000):
                assert len(chunk) <= 100_000
                got += chunk
        assert got == data[start:start + length]
    with pytest.raises(NotFound):
        storage.open_range("a/none.wacz", 0, 1)
    with pytest.raises(ValueError):
        storage.open_range("a/pkg.wacz", 0, 0)


# -- one real capture, stored on a local folder and on S3 ----------------------------------------

@dataclass
class Captured:
    """The fixture page captured once for this module, its package on both targets."""

    home: Path
    record: dict[str, Any]
    data: bytes
    targets: list[dict[str, Any]]
    site_url: str

    @property
    def id(self) -> str:
        return self.record["id"]

    def archive(self, primary: str = "local"):  # noqa: ANN201 - an Archive
        """The archive of this home, ``primary`` its first storage target."""
        from isnad.app.archive import open_archive
        from isnad.config import Settings

        targets = sorted(self.targets, key=lambda t: t["name"] != primary)
        return open_archive(Settings(home=self.home, storage={"targets": targets}),
                            recover=False)


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory, site, moto) -> Iterator[Captured]:
    bucket = "isnad-replay"
    moto.client().create_bucket(Bucket=bucket)
    home = tmp_path_factory.mktemp("replay") / "home"
    home.mkdir()
    targets = [{"name": "local", "url": str(home / "packages")},
               {"name": "vault", "url": f"s3://{bucket}/isnad", "endpoint_url": moto.url}]
    isnad = Isnad(home)
    env = {**CREDENTIALS, "ISNAD_STORAGE__TARGETS": json.dumps(targets)}
    record = isnad.capture(site.url("/js-app.html"), env=env)
    assert record["state"] == "COMPLETE", record["stderr"]
    package = home / "packages" / record["package_key"]
    data = package.read_bytes()
    assert hashlib.sha256(data).hexdigest() == record["package_sha256"]
    saved = {k: os.environ.get(k) for k in CREDENTIALS}
    os.environ.update(CREDENTIALS)  # boto3 in this process reads them
    try:
        yield Captured(home, record, data, targets, site.url("/js-app.html"))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class ReplayServer:
    """A tiny FastAPI app holding only the replay router, served by uvicorn on 127.0.0.1."""

    base: str
    archive: Any
    heard: list[tuple[str, str, str]] = field(default_factory=list)


@pytest.fixture
def serve() -> Iterator[Any]:
    """Start one ReplayServer over an archive: ``serve(archive)``; stopped at the end."""
    import uvicorn
    from fastapi import FastAPI

    from isnad.web.replay import make_router

    running: list[tuple[Any, threading.Thread]] = []

    def start(archive: Any) -> ReplayServer:
        port = free_port()
        server = ReplayServer(f"http://127.0.0.1:{port}", archive)

        def reader() -> str:  # a permissive stand-in for the app's authentication
            return "investigator"

        def on_access(request: Any, principal: Any, capture_id: str, action: str) -> None:
            server.heard.append((principal, capture_id, action))

        app = FastAPI()
        app.include_router(make_router(reader, on_access, archive=lambda _request: archive))
        uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
        thread = threading.Thread(target=uv.run, daemon=True)
        thread.start()
        wait_for_port(port)
        running.append((uv, thread))
        return server

    yield start
    for uv, thread in running:
        uv.should_exit = True
        thread.join(10)


def http(url: str, *, method: str = "GET", headers: dict[str, str] | None = None
         ) -> tuple[int, dict[str, str], bytes]:
    """One real HTTP request: status, headers (lower-case names), body."""
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


# -- the package endpoint ------------------------------------------------------------------------

@pytest.mark.e2e
def test_package_byte_ranges_from_a_local_folder(captured: Captured, serve) -> None:
    server = serve(captured.archive("local"))
    url = f"{server.base}/captures/{captured.id}/package.wacz"
    data, size = captured.data, len(captured.data)
    etag = f'"{captured.record["package_sha256"]}"'

    status, headers, body = http(url, method="HEAD")
    assert (status, body) == (200, b"")
    assert headers["content-length"] == str(size)
    assert headers["accept-ranges"] == "bytes"
    assert headers["etag"] == etag
    assert headers["content-type"] == "application/zip"
    assert "sandbox" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert server.heard == []  # a HEAD reads nothing

    status, headers, body = http(url)
    assert status == 200 and body == data and headers["content-length"] == str(size)
    assert hashlib.sha256(body).hexdigest() == captured.record["package_sha256"]
    assert server.heard == [("investigator", captured.id, "download")]

    middle = size // 2
    for asked, first, last in (("bytes=0-99", 0, 99),
                               (f"bytes={middle}-{middle + 1000}", middle, middle + 1000),
                               ("bytes=-500", size - 500, size - 1),
                               (f"bytes={size - 10}-", size - 10, size - 1),
                               (f"bytes={size - 5}-{size + 100}", size - 5, size - 1)):
        status, headers, body = http(url, headers={"Range": asked})
        assert status == 206, asked
        assert body == data[first:last + 1], asked
        assert headers["content-range"] == f"bytes {first}-{last}/{size}"
        assert headers["content-length"] == str(last - first + 1)
        assert headers["etag"] == etag
    # The partial reads of one reader: one access line in the window, not one each.
    assert server.heard[1:] == [("investigator", captured.id, "download")]

    status, headers, body = http(url, method="HEAD", headers={"Range": "bytes=10-19"})
    assert (status, body, headers["content-length"]) == (206, b"", "10")
    assert headers["content-range"] == f"bytes 10-19/{size}"

    for asked in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
        status, headers, body = http(url, headers={"Range": asked})
        assert status == 416, asked
        assert headers["content-range"] == f"bytes */{size}"

    # If-Range with another version's tag: the whole package, not a piece of another one.
    status, _, body = http(url, headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert (status, body) == (200, data)
    status, _, body = http(url, headers={"Range": "bytes=0-9", "If-Range": etag})
    assert (status, body) == (206, data[:10])


@pytest.mark.e2e
def test_only_captures_the_catalog_knows(captured: Captured, serve) -> None:
    """A capture id that is unknown, a prefix, or a path: 404; nothing from the URL reaches the
    filesystem. The static route serves its two files and nothing else."""
    server = serve(captured.archive("local"))
    for ident in ("01234567-0000-0000-0000-000000000000", captured.id[:8],
                  "..%2F..%2Fcatalog.db", "%2Fetc%2Fpasswd", "..", captured.record["package_key"]
                  .replace("/", "%2F")):
        for path in ("package.wacz", "replay"):
            status, _, body = http(f"{server.base}/captures/{ident}/{path}")
            assert status == 404, (ident, path, body[:200])
    status, headers, body = http(f"{server.base}/replay/ui.js")
    assert status == 200 and body.startswith(b"/*!")
    assert headers["content-type"].startswith("text/javascript")
    status, headers, _ = http(f"{server.base}/replay/sw.js")
    assert status == 200
    assert headers["content-security-policy"] == ("default-src 'none'; script-src 'self'; "
                                                  "connect-src 'self'")
    for name in ("package.json", "index.js", "..%2F..%2Fpyproject.toml", "dist%2Fsw.js",
                 "adblock%2Fadblock.gz"):
        status, _, _ = http(f"{server.base}/replay/{name}")
        assert status == 404, name
    assert server.heard == []


@pytest.mark.e2e
def test_package_waiting_in_the_spool_or_nowhere(captured: Captured, serve,
                                                 tmp_path: Path) -> None:
    """Settings naming neither target that holds the package: the copy waiting in the spool
    (recorded in the catalog) is served; without it, 404 (never a guess at a path)."""
    import shutil

    from isnad.app.archive import open_archive
    from isnad.config import Settings

    home = tmp_path / "home"
    shutil.copytree(captured.home, home)
    settings = Settings(home=home, storage={"targets": [
        {"name": "elsewhere", "url": str(tmp_path / "elsewhere")}]})
    archive = open_archive(settings, recover=False)
    server = serve(archive)
    url = f"{server.base}/captures/{captured.id}/package.wacz"
    assert http(url)[0] == 404
    assert http(f"{server.base}/captures/{captured.id}/replay")[0] == 404

    spooled = home / "spool" / captured.id / f"{captured.id}.wacz"
    spooled.parent.mkdir(parents=True)
    spooled.write_bytes(captured.data)
    archive.catalog.update_capture(captured.id, spool_path=str(spooled))
    status, headers, body = http(url, headers={"Range": "bytes=-64"})
    assert status == 206 and body == captured.data[-64:]
    assert headers["etag"] == f'"{captured.record["package_sha256"]}"'

    # A capture naming no web page (an imported file's): replay opens on its list of pages.
    status, _, page = http(f"{server.base}/captures/{captured.id}/replay")
    assert status == 200 and f'url="{captured.site_url}"'.encode() in page
    archive.catalog.update_capture(captured.id, url="import:handed-over.warc.gz",
                                   final_url=None)
    status, _, page = http(f"{server.base}/captures/{captured.id}/replay")
    assert status == 200 and b'view="pages"' in page and b" url=" not in page
    assert b"import:handed-over.warc.gz" in page  # still named above the replay


@pytest.mark.e2e
def test_package_byte_ranges_from_s3(captured: Captured, serve) -> None:
    """With the S3 target first, the endpoint reads the package from the bucket, and asks it
    for the range only (a ranged GET: the bytes asked, not the package)."""
    archive = captured.archive("vault")
    target = archive.targets[0]
    assert target.name == "vault"
    asked: list[str | None] = []

    def note(request: Any, **_: Any) -> None:
        value = request.headers.get("Range")
        asked.append(value.decode() if isinstance(value, bytes) else value)

    target.client.meta.events.register("before-send.s3.GetObject", note)
    server = serve(archive)
    url = f"{server.base}/captures/{captured.id}/package.wacz"
    data, size = captured.data, len(captured.data)
    for header, first, last in (("bytes=0-99", 0, 99), ("bytes=-300", size - 300, size - 1),
                                (f"bytes={size // 3}-{size // 3 + 4095}", size // 3,
                                 size // 3 + 4095)):
        status, headers, body = http(url, headers={"Range": header})
        assert status == 206 and body == data[first:last + 1], header
        assert headers["content-range"] == f"bytes {first}-{last}/{size}"
    assert asked == ["bytes=0-99", f"bytes={size - 300}-{size - 1}",
                     f"bytes={size // 3}-{size // 3 + 4095}"]
    status, _, body = http(url)
    assert status == 200 and body == data


@pytest.mark.e2e
def test_s3_store_ignoring_the_range_is_refused(captured: Captured) -> None:
    """A store that answers a ranged GET with the whole object: its bytes are not passed on as
    the range (they would be the wrong bytes)."""
    from isnad.app.packages import find_package

    archive = captured.archive("vault")
    target = archive.targets[0]

    def drop_range(params: dict[str, Any], **_: Any) -> None:
        params.pop("Range", None)

    target.client.meta.events.register("before-parameter-build.s3.GetObject", drop_range)
    package = find_package(archive, captured.id)
    assert package.target is target
    with pytest.raises(StorageError, match="asked bytes 100-199"):
        package.open_range(100, 100)


# -- replay in real Chromium ---------------------------------------------------------------------

LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}
LOCAL_SCHEMES = {"data", "blob", "about", "chrome-error"}


@pytest.mark.e2e
def test_replay_shows_the_captured_page_inside_the_replay_frame(captured: Captured, serve,
                                                                site) -> None:
    from isnad.web.replay import DEFAULT_ASSETS

    if not (DEFAULT_ASSETS / "ui.js").is_file():
        pytest.skip("ReplayWeb.page is not installed: run `make web-deps`")
    from playwright.sync_api import sync_playwright

    from isnad.config import BrowserSettings

    server = serve(captured.archive("local"))
    site_hits = sum(site.hits.values())
    outside: list[str] = []
    console: list[str] = []
    seen: list[str] = []

    def watch(request: Any) -> None:
        seen.append(request.url)
        parts = urlsplit(request.url)
        if parts.scheme not in LOCAL_SCHEMES and parts.hostname not in LOOPBACK:
            outside.append(request.url)

    def guard(route: Any) -> None:
        """Loopback only: anything else is refused (and was recorded by ``watch``)."""
        host = urlsplit(route.request.url).hostname
        if host in LOOPBACK or urlsplit(route.request.url).scheme in LOCAL_SCHEMES:
            route.continue_()
        else:
            route.abort()

    with sync_playwright() as pw:
        # Names other than loopback do not even resolve: a request that slipped past the
        # route (a service worker's own fetch) still reaches nothing.
        browser = pw.chromium.launch(
            executable_path=BrowserSettings().executable_path,
            args=["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"])
        try:
            context = browser.new_context()
            context.route("**/*", guard)
            context.on("request", watch)
            # ReplayWeb.page's workers too: a policy refusing them something is logged there.
            context.on("serviceworker", lambda w: w.on(
                "console", lambda m: console.append(f"service worker {m.type}: {m.text}")))
            page = context.new_page()
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("worker", lambda w: w.on(
                "console", lambda m: console.append(f"worker {m.type}: {m.text}")))
            page.goto(f"{server.base}/captures/{captured.id}/replay")
            frame = _replayed_frame(page, captured.site_url, timeout=90)
            text = frame.get_by_text(FIXTURE_TEXT)
            text.wait_for(state="visible", timeout=30_000)
            assert text.is_visible()
            # The text is in the replay frame, not on Isnad's own page around it.
            assert FIXTURE_TEXT not in page.main_frame.inner_text("body")
            # The Arabic item too, unmangled.
            frame.get_by_text("بيان شاهد عيان").wait_for(state="visible", timeout=10_000)
            page.screenshot(path=str(captured.home / "replay.png"))
        finally:
            browser.close()

    assert outside == [], outside
    # Replayed from the package: the live site was not asked for anything.
    assert sum(site.hits.values()) == site_hits
    assert any("/package.wacz" in url for url in seen)
    refused = [line for line in console if "Content Security Policy" in line]
    assert any(line.startswith("service worker") for line in console)  # it was heard
    assert refused == [], refused
    actions = [a for _, cid, a in server.heard if cid == captured.id]
    assert actions[0] == "replay" and "download" in actions


def _replayed_frame(page: Any, url: str, timeout: float) -> Any:
    """The frame ReplayWeb.page replays ``url`` in (nested below its own frames)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for frame in page.frames:
            if "/replay/w/" in frame.url and frame.url.endswith(url):
                return frame
        page.wait_for_timeout(250)
    raise AssertionError(f"no replay frame for {url}; frames: {[f.url for f in page.frames]}")
