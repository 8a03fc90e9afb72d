"""The package layout that independent tools accept: ``wacz validate`` (py-wacz) passes on
packages with media, subtitles, thumbnails, a post record, a signature and timestamp tokens;
packages in the older layout still pass ``isnad verify``."""

from __future__ import annotations

import gzip
import io
import json
import os
import struct
import subprocess
import sys
import threading
import zipfile
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from warcio.warcwriter import WARCWriter

from archiver.package import build_package, layout_problem
from archiver.proof import ProofOptions
from archiver.states import CaptureState
from archiver.verify import verify_package_file
from tests.fixture_site.server import video_clip
from tests.tsa import LocalTSA

VTT = b"WEBVTT\n\n00:00.000 --> 00:01.500\n\xd8\xb4\xd8\xa7\xd9\x87\xd8\xaf (witness)\n"


def png(width: int = 32, height: int = 18) -> bytes:
    """A real PNG (grey), written by hand: the poster image of the video page."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    rows = b"".join(b"\x00" + b"\x80\x80\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                              0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PAGE = b"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Clip with subtitles</title></head><body><h1>A video with subtitles</h1>
<video controls width="160" poster="/poster.png">
<source src="/clip.mp4" type="video/mp4">
<track kind="subtitles" src="/clip.en.vtt" srclang="en" label="English">
</video></body></html>"""


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        path = self.path.split("?")[0]
        files = {"/clip.html": (PAGE, "text/html; charset=utf-8"),
                 "/clip.mp4": (video_clip(), "video/mp4"),
                 "/clip.en.vtt": (VTT, "text/vtt"),
                 "/poster.png": (png(), "image/png")}
        if path not in files:
            self.send_error(404)
            return
        body, media_type = files[path]
        self.send_response(200)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def clip_site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def wacz_validate(package: Path, *more: str) -> subprocess.CompletedProcess:
    """py-wacz's validator, the command installed beside this Python."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run(["wacz", "validate", "-f", str(package), *more], env=env,
                          capture_output=True, text=True, timeout=120)


def _location(isnad, capture_id: str, env: dict[str, str] | None = None) -> Path:
    shown = isnad("show", capture_id, "--json", env=env).json()
    return Path(next(c["location"] for c in shown["copies"]))


def test_media_names_fit_the_layout():
    from crawlers.media import package_name

    assert package_name("000", "watch？v=Qx7b2.mp4", set()) == "media/000-watch_v_Qx7b2.mp4"
    assert package_name("000", "a?b.mp4", {"media/000-a_b.mp4"}) == "media/000-a_b-2.mp4"
    assert layout_problem(package_name("001", "عربي.info.json", set())) is None


def test_layout_rule():
    assert layout_problem("media/000-clip.mp4") is None
    assert layout_problem("metadata/post.json") is None
    assert "one folder deep" in layout_problem("media/000/clip.info.json")
    assert "one folder deep" in layout_problem("post.json")
    assert "package folders" in layout_problem("extra/x.json")
    assert "characters" in layout_problem("media/000-watch？v=1.mp4")


@pytest.mark.e2e
def test_package_with_media_subtitles_thumbnail_signature_and_tokens_passes_wacz_validate(
        isnad, clip_site, tmp_path):
    with LocalTSA(tmp_path / "tsa") as tsa:
        assert isnad("keys", "init").code == 0
        env = {"ISNAD_TIMESTAMPS__TSA": json.dumps([tsa.config_entry()]),
               "ISNAD_CAPTURE__PDF": "true"}
        rec = isnad.capture(f"{clip_site}/clip.html", env=env)
        assert rec["state"] == CaptureState.COMPLETE, (rec["reasons"], rec["stderr"][-2000:])
        package = _location(isnad, rec["id"], env)
        with zipfile.ZipFile(package) as wacz:
            names = wacz.namelist()
            digest = json.loads(wacz.read("datapackage-digest.json"))
        media = [n for n in names if n.startswith("media/")]
        kinds = {f["kind"] for item in isnad("show", rec["id"], "--json", env=env).json()
                 ["context"]["media"]["items"] for f in item["files"]}
        assert {"video", "subtitle", "thumbnail", "info"} <= kinds, (kinds, media)
        assert any(n.endswith(".vtt") for n in media) and any(n.endswith(".png") for n in media)
        assert any(n.startswith("timestamps/") for n in names) and digest["signedData"]
        assert all(layout_problem(n) is None for n in names if n not in (
            "datapackage.json", "datapackage-digest.json")), names
        validated = wacz_validate(package)
        assert validated.returncode == 0, validated.stdout + validated.stderr
        assert "not listed" not in validated.stdout
        assert isnad("verify", rec["id"], env=env).code == 0
        # The export bundle's own verify.sh (which runs wacz validate) passes too.
        bundle = isnad.home / "bundle"
        assert isnad("export", rec["id"], "-o", str(bundle), env=env).code == 0
        script = subprocess.run(["sh", "verify.sh"], cwd=bundle, capture_output=True,
                                text=True, timeout=180, env={
                                    **os.environ,
                                    "PATH": f"{Path(sys.executable).parent}:"
                                            f"{os.environ['PATH']}"})
        assert script.returncode == 0, script.stdout + script.stderr
        assert "All checks passed." in script.stdout


@pytest.mark.e2e
def test_package_with_a_post_record_passes_wacz_validate(isnad):
    from tests.platform_fixtures.youtube import YouTubeFixture

    with YouTubeFixture() as server:
        env = {"ISNAD_PLATFORMS__YOUTUBE__BASE_URL": server.base}
        rec = isnad.capture("--no-browser", server.post_url(), env=env)
        assert rec["state"] == CaptureState.COMPLETE, (rec["reasons"], rec["stderr"][-2000:])
        package = _location(isnad, rec["id"], env)
        with zipfile.ZipFile(package) as wacz:
            assert json.loads(wacz.read("metadata/post.json"))["status"] == "ok"
            assert any(n.startswith("media/") for n in wacz.namelist())
        validated = wacz_validate(package)
        assert validated.returncode == 0, validated.stdout + validated.stderr


def _warc(path: Path) -> Path:
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        payload = b"<html>old</html>"
        from warcio.statusandheaders import StatusAndHeaders
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html"),
                                           ("X-Isnad-Original-Content-Encoding", "gzip"),
                                           ("Content-Length", str(len(payload)))],
                                protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(
            "http://127.0.0.1:9/old.html", "response", payload=io.BytesIO(payload),
            http_headers=http))
    return path


def test_a_package_in_the_older_layout_still_verifies(tmp_path):
    """Packages written before the flat layout (media two folders deep, post.json at the top,
    the X-Isnad-Original-* header prefix) stay INTACT for `isnad verify`."""
    media = tmp_path / "clip.info.json"
    media.write_text('{"id": "clip"}')
    package = build_package(
        [_warc(tmp_path / "old.warc.gz")], tmp_path / "old.wacz",
        pages=[{"url": "http://127.0.0.1:9/old.html", "ts": "2026-01-01T00:00:00Z"}],
        context={"state": CaptureState.COMPLETE}, extra_files=[("post.json", b'{"status": "ok"}')],
        extra_paths=[("media/001/clip.info.json", media)])
    assert {"post.json", "media/001/clip.info.json"} <= {f.path for f in package.files}
    # Unsigned (built here without a key): integrity is what this test is about.
    report = verify_package_file(package.path, ProofOptions(allow_unsigned=True))
    assert report.ok, [c for c in report.checks if not c.ok]


@pytest.mark.parametrize("pages", [
    [{"url": "http://127.0.0.1:9/old.html", "ts": "2026-01-01T00:00:00Z"}],
    [{"url": "http://127.0.0.1:9/old.html", "title": ""}, {"id": "", "url": "http://x.test/"},
     {"id": "0001", "url": "http://y.test/", "title": "y"}],
], ids=["no-id-no-title", "empty-id-and-title"])
def test_pages_written_by_hand_pass_wacz_validate(tmp_path, pages):
    """``wacz validate`` reads pages.jsonl as a table of the header line's keys (format, id,
    title): a page with neither id nor title was a "Blank Row" failing the package. Each page
    gets an id (its position, unless taken); what the caller gave is kept, not altered."""
    given = json.loads(json.dumps(pages))
    package = build_package([_warc(tmp_path / "w.warc.gz")], tmp_path / "p.wacz", pages=pages,
                            context={"state": CaptureState.COMPLETE})
    validated = wacz_validate(package.path)
    assert validated.returncode == 0 and "is valid" in validated.stdout, (
        validated.stdout + validated.stderr)
    assert pages == given
    with zipfile.ZipFile(package.path) as z:
        written = [json.loads(line) for line in z.read("pages/pages.jsonl").splitlines()][1:]
    ids = [p["id"] for p in written]
    assert all(ids) and len(set(ids)) == len(ids)
    assert [{k: v for k, v in p.items() if k != "id"} for p in written] == [
        {k: v for k, v in p.items() if k != "id"} for p in given]


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def _jpeg_size(data: bytes) -> tuple[int, int]:
    assert data[:2] == b"\xff\xd8"
    at = 2
    while at < len(data):
        marker, length = data[at + 1], struct.unpack(">H", data[at + 2:at + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):  # start of frame: height, width
            height, width = struct.unpack(">HH", data[at + 5:at + 9])
            return width, height
        at += 2 + length
    raise AssertionError("no JPEG frame header")


@pytest.mark.e2e
def test_screenshots_are_named_as_replay_tools_look_for_them(isnad, site):
    """ReplayWeb.page's page list asks for urn:thumbnail:<page url>; Browsertrix also writes
    urn:view: and urn:fullPage: resource records: the same names, types and index entries."""
    from tests.waczutil import pages, records

    rec = isnad.capture(site.url("/arabic.html"), env={
        "ISNAD_CAPTURE__VIEWPORT_WIDTH": "1280", "ISNAD_CAPTURE__VIEWPORT_HEIGHT": "720"})
    assert rec["state"] == CaptureState.COMPLETE, (rec["reasons"], rec["stderr"][-2000:])
    package = _location(isnad, rec["id"])
    (page,) = pages(package)
    shots = {r.uri: r for r in records(package) if r.type == "resource"}
    view = shots[f"urn:view:{page['url']}"]
    thumb = shots[f"urn:thumbnail:{page['url']}"]
    full = shots[f"urn:fullPage:{page['url']}"]
    assert (view.content_type, thumb.content_type, full.content_type) == (
        "image/png", "image/jpeg", "image/png")
    assert _png_size(view.payload) == (1280, 720)
    assert _jpeg_size(thumb.payload) == (640, 360)
    full_size = _png_size(full.payload)
    assert full_size[0] == 1280 and full_size[1] >= 720
    with zipfile.ZipFile(package) as wacz:
        index = gzip.decompress(wacz.read("indexes/index.cdx.gz")).decode()
    for kind in ("view", "thumbnail", "fullPage"):  # replay finds them through the index
        assert f"urn:{kind}:{page['url']}" in index
    kinds = {a["kind"] for a in isnad("show", rec["id"], "--json").json()["artifacts"]}
    assert {"view", "thumbnail", "screenshot", "dom"} <= kinds
    assert isnad("verify", rec["id"]).code == 0


def test_export_reads_the_older_screenshot_name_and_the_replay_names(tmp_path):
    """An older package's urn:screenshot: and a new one's urn:fullPage:/view:/thumbnail:
    records all become plain files of the export bundle."""
    from isnad.app.export import _extract_snapshots

    unpacked = tmp_path / "package"
    (unpacked / "archive").mkdir(parents=True)
    with open(unpacked / "archive" / "a.warc.gz", "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for uri, media_type, data in [
                ("urn:screenshot:http://127.0.0.1:9/old", "image/png", png()),
                ("urn:fullPage:http://127.0.0.1:9/new", "image/png", png(64, 48)),
                ("urn:view:http://127.0.0.1:9/new", "image/png", png(64, 36)),
                ("urn:thumbnail:http://127.0.0.1:9/new", "image/jpeg", b"\xff\xd8jpeg")]:
            writer.write_record(writer.create_warc_record(
                uri, "resource", payload=io.BytesIO(data), warc_content_type=media_type))
    files = {path for path, _, _ in _extract_snapshots(unpacked, tmp_path / "files")}
    assert files == {"files/screenshot-001.png", "files/screenshot-002.png",
                     "files/view-001.png", "files/thumbnail-001.jpg"}
    assert (tmp_path / "files" / "screenshot-001.png.url.txt").read_text() == \
        "http://127.0.0.1:9/old\n"
