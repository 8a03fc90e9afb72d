"""Media through yt-dlp: the video of a page lands in the package once, hashed; a media item
that fails makes the capture PARTIAL with the reason; limits are obeyed."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from archiver.states import CaptureState
from tests.fixture_site.server import video_clip

pytestmark = pytest.mark.e2e


def _package(isnad, capture_id: str) -> tuple[dict, dict]:
    shown = isnad("show", capture_id, "--json").json()
    location = Path(next(c["location"] for c in shown["copies"]))
    with zipfile.ZipFile(location) as wacz:
        datapackage = json.loads(wacz.read("datapackage.json"))
        media = {name: wacz.read(name) for name in wacz.namelist()
                 if name.startswith("media/")}
    return shown, {"datapackage": datapackage, "media": media}


@pytest.mark.parametrize("mode", [["--no-browser"], []], ids=["http", "browser"])
def test_video_of_a_page_is_in_the_package_with_its_hash(isnad, site, mode):
    rec = isnad.capture(*mode, site.url("/video.html"))
    assert rec["state"] == CaptureState.COMPLETE, (rec["reasons"], rec["stderr"])
    shown, package = _package(isnad, rec["id"])
    clip = hashlib.sha256(video_clip()).hexdigest()
    videos = [name for name, data in package["media"].items()
              if hashlib.sha256(data).hexdigest() == clip]
    assert len(videos) == 1, sorted(package["media"])  # stored once, even when seen twice
    listed = {r["path"]: r for r in package["datapackage"]["resources"]}
    assert listed[videos[0]]["hash"] == f"sha256:{clip}"
    assert any(name.endswith(".info.json") for name in package["media"])
    items = shown["context"]["media"]["items"]
    assert items and items[0]["yt_dlp"] and items[0]["extractor"]
    # Hashed as yt-dlp wrote it (not read again for it), and that hash is the file's.
    video = next(f for f in items[0]["files"] if f["path"] == videos[0])
    assert video["hashed"] == "while downloading" and video["sha256"] == clip
    assert shown["context"]["software"]["yt-dlp"] == items[0]["yt_dlp"]
    artifacts = {a["path"]: a for a in shown["artifacts"]}
    assert artifacts[videos[0]]["kind"] == "media" and artifacts[videos[0]]["sha256"] == clip
    assert isnad("verify", rec["id"]).code == 0


def test_a_media_item_that_fails_makes_the_capture_partial(isnad, site):
    rec = isnad.capture("--no-browser", site.url("/broken-video.html"))
    assert rec["state"] == CaptureState.PARTIAL and rec["exit_code"] == 1
    assert any(r.startswith("media of") and "404" in r for r in rec["reasons"]), rec["reasons"]


def test_media_over_the_size_limit_is_not_downloaded_and_says_so(isnad, site):
    rec = isnad.capture("--no-browser", site.url("/video.html"),
                        env={"ISNAD_MEDIA__MAX_BYTES": "1000"})
    assert rec["state"] == CaptureState.PARTIAL
    assert any("media.max_bytes" in r for r in rec["reasons"]), rec["reasons"]
    _, package = _package(isnad, rec["id"])
    assert not any(name.endswith(".mp4") for name in package["media"])


@pytest.mark.parametrize("mode", [["--no-browser"], []], ids=["http", "browser"])
def test_a_page_without_media_is_not_a_failure_and_yt_dlp_is_not_run(isnad, site, mode):
    target = f"/final.html?plain={len(mode)}"  # this test's own URL: the site is shared
    rec = isnad.capture(*mode, site.url(target))
    assert rec["state"] == CaptureState.COMPLETE, rec["reasons"]
    media = isnad("show", rec["id"], "--json").json()["context"]["media"]
    assert media["items"] == [] and media["candidates"] == []
    # Said, not silent: why yt-dlp did not run.
    assert media["extraction"]["ran"] is False
    assert "the page showed no media" in media["extraction"]["why"]
    # yt-dlp would have fetched the page again (its own request): the server saw one.
    assert [t for t, _ in site._server.received if t == target] == [target]
    assert media["recording"] is None


def test_yt_dlp_runs_on_a_page_with_a_video_element_and_says_why(isnad, site):
    rec = isnad.capture("--no-browser", site.url("/video.html?why=1"))
    media = isnad("show", rec["id"], "--json").json()["context"]["media"]
    assert media["extraction"]["ran"] is True
    assert "the page has 1 <video> and 0 <audio> element(s)" in media["extraction"]["because"]
    assert media["items"] and media["recording"]["exchanges"] >= 1
    # The crawl's fetch of the page, and yt-dlp's.
    assert len([t for t, _ in site._server.received if t == "/video.html?why=1"]) == 2
