"""Platform URLs end to end: the post record next to the page capture, channel listing with
--posts, the generic fallback when the extractor fails, deleted posts, secrets redacted."""

from __future__ import annotations

import gzip
import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from archiver.states import CaptureState
from tests.fixture_site.server import video_clip
from tests.platform_fixtures.mastodon import MastodonFixture
from tests.platform_fixtures.telegram import TOO_BIG, TelegramFixture
from tests.platform_fixtures.youtube import FEED_DOWN_CHANNEL, YouTubeFixture

pytestmark = pytest.mark.e2e


@pytest.fixture
def telegram():
    with TelegramFixture() as server:
        yield server


def _env(telegram: TelegramFixture, **more: str) -> dict[str, str]:
    return {"ISNAD_PLATFORMS__TELEGRAM__BASE_URL": telegram.base, **more}


def _package(isnad, capture_id: str, env: dict[str, str]) -> tuple[dict, zipfile.ZipFile]:
    shown = isnad("show", capture_id, "--json", env=env).json()
    return shown, zipfile.ZipFile(Path(next(c["location"] for c in shown["copies"])))


def _warc_bytes(package: zipfile.ZipFile) -> bytes:
    return b"".join(gzip.decompress(package.read(n)) for n in package.namelist()
                    if n.startswith("archive/"))


def test_telegram_post_record_beside_the_page_capture(isnad, telegram):
    env = _env(telegram)
    url = f"{telegram.base}/syriawitness/101"
    rec = isnad.capture("--no-browser", url, env=env)
    assert rec["state"] == CaptureState.COMPLETE, (rec["reasons"], rec["stderr"])
    shown, package = _package(isnad, rec["id"], env)
    post = json.loads(package.read("metadata/post.json"))
    assert post["platform"] == "telegram" and post["post_id"] == "101"
    assert post["url"] == "https://t.me/syriawitness/101"
    assert post["author_handle"] == "syriawitness" and post["published"].endswith("Z")
    assert shown["context"]["post"] == post
    assert shown["context"]["platform"]["name"] == "telegram"
    assert shown["posts"] == [{"platform": "telegram", "post_id": "101", "url": post["url"],
                               "status": "ok", "author_handle": "syriawitness",
                               "published": post["published"]}]
    listed = {r["path"] for r in json.loads(package.read("datapackage.json"))["resources"]}
    assert "metadata/post.json" in listed
    # The page the extractor read is in the WARC, as received.
    assert b"/s/syriawitness/101" in _warc_bytes(package)
    assert isnad("verify", rec["id"], env=env).code == 0


def test_video_too_big_for_the_preview_is_recorded_and_its_absence_said(isnad, telegram):
    env = _env(telegram)
    url = f"{telegram.base}/syriawitness/{TOO_BIG}"
    rec = isnad.capture("--no-browser", url, env=env)
    # yt-dlp was handed the post link and found no video: the capture says so.
    assert rec["state"] == CaptureState.PARTIAL, (rec["reasons"], rec["stderr"])
    assert any(f"https://t.me/syriawitness/{TOO_BIG}" not in r and url in r
               and "Media is too big" in r and "not downloaded" in r
               for r in rec["reasons"]), rec["reasons"]
    shown, package = _package(isnad, rec["id"], env)
    post = json.loads(package.read("metadata/post.json"))
    assert [(m["type"], m["url"]) for m in post["media"]] == [
        ("video", f"https://t.me/syriawitness/{TOO_BIG}")]
    assert post["media"][0]["thumbnail"] == f"{telegram.base}/media/tg-big-thumb.jpg"
    assert shown["context"]["media"]["routes"] == {"page": [url], "direct": [url]}
    assert not [n for n in package.namelist() if n.startswith("media/")]


def test_deleted_post_is_recorded_as_deleted(isnad, telegram):
    env = _env(telegram)
    rec = isnad.capture("--no-browser", f"{telegram.base}/syriawitness/999", env=env)
    assert rec["state"] == CaptureState.PARTIAL
    assert any(r.startswith("the post is deleted") for r in rec["reasons"]), rec["reasons"]
    shown, _ = _package(isnad, rec["id"], env)
    assert shown["posts"][0]["status"] == "deleted"


def test_extractor_failure_falls_back_to_the_generic_page_capture(isnad, telegram, site):
    # The "Telegram" at this base is a plain web site: no Telegram markup anywhere.
    env = {"ISNAD_PLATFORMS__TELEGRAM__BASE_URL": site.url("/").rstrip("/")}
    rec = isnad.capture("--no-browser", site.url("/syriawitness/101"), env=env)
    assert rec["state"] == CaptureState.PARTIAL
    assert any("telegram extractor failed" in r and "generic page" in r
               for r in rec["reasons"]), rec["reasons"]
    shown, package = _package(isnad, rec["id"], env)
    assert "metadata/post.json" not in package.namelist()
    assert shown["context"]["platform"]["error"]
    assert shown["context"]["pages"]  # the page itself was still captured


def test_channel_listing_captures_each_post(isnad, telegram):
    env = _env(telegram)
    run = isnad("capture", "--no-browser", "--posts", "3", "--json",
                f"{telegram.base}/s/syriawitness", env=env)
    records = run.json()
    assert len(records) == 4, [r["url"] for r in records]
    channel, posts = records[0], records[1:]
    shown, package = _package(isnad, channel["id"], env)
    refs = json.loads(package.read("metadata/posts.json"))
    assert [r["post_id"] for r in refs][:3] == ["110", "109", "108"]
    assert [r["url"].rsplit("/", 1)[-1] for r in posts] == ["110", "109", "108"]
    for record in posts:
        detail = isnad("show", record["id"], "--json", env=env).json()
        assert detail["posts"][0]["post_id"] == record["url"].rsplit("/", 1)[-1]


def test_session_secrets_never_enter_the_package(isnad, telegram, tmp_path):
    secret = "s3cr3t-session-value-4242"
    cookies = tmp_path / "telegram-cookies.txt"
    host = telegram.base.split("//")[1].split(":")[0]
    cookies.write_text("# Netscape HTTP Cookie File\n"
                       f"{host}\tFALSE\t/\tFALSE\t0\tstel_ssid\t{secret}\n")
    env = _env(telegram, ISNAD_PLATFORMS__TELEGRAM__COOKIES_FILE=str(cookies),
               ISNAD_PLATFORMS__TELEGRAM__HEADERS=json.dumps(
                   {"Authorization": f"Bearer {secret}"}))
    for mode in (["--no-browser"], []):
        run = isnad("capture", "--json", *mode, f"{telegram.base}/syriawitness/101", env=env)
        assert secret not in run.stdout + run.stderr
        record = run.json()[0]
        assert record["state"] == CaptureState.COMPLETE, record["reasons"]
        shown, package = _package(isnad, record["id"], env)
        warc = _warc_bytes(package)
        assert secret.encode() not in warc
        for name in package.namelist():
            assert secret.encode() not in package.read(name), name
        assert b"[redacted by Isnad]" in warc
        platform = shown["context"]["platform"]
        assert platform["logged_in"] is True
        assert {"Cookie", "Authorization"} <= set(platform["redacted_headers"])
        assert secret not in json.dumps(shown)


def test_mastodon_post_with_its_video(isnad):
    with MastodonFixture() as mastodon:
        url = mastodon.post_url()
        rec = isnad.capture("--no-browser", url)
        assert rec["state"] == CaptureState.COMPLETE, (rec["reasons"], rec["stderr"])
        shown, package = _package(isnad, rec["id"], {})
        post = json.loads(package.read("metadata/post.json"))
        assert post["platform"] == "mastodon" and post["text"]
        assert any(m["type"] == "video" for m in post["media"])
        clip = hashlib.sha256(video_clip()).hexdigest()
        stored = [n for n in package.namelist() if n.startswith("media/")
                  and hashlib.sha256(package.read(n)).hexdigest() == clip]
        assert len(stored) == 1  # the post's video, downloaded by yt-dlp from the API's URL
        assert shown["posts"][0]["author_handle"] == "witness"


def test_listing_notes_reach_the_record_and_the_user(isnad):
    with YouTubeFixture() as youtube:
        env = {"ISNAD_PLATFORMS__YOUTUBE__BASE_URL": youtube.base}
        run = isnad("capture", "--no-browser", "--json",
                    f"{youtube.base}/@{FEED_DOWN_CHANNEL}/videos", env=env)
        record = run.json()[0]
        # The feed was down: the listing fell back to the grid, and says so.
        assert record["state"] == CaptureState.PARTIAL, record["reasons"]
        said = [r for r in record["reasons"] if r.startswith("the listing: ")]
        assert len(said) == 1 and "HTTP 404" in said[0], record["reasons"]
        shown, package = _package(isnad, record["id"], env)
        assert shown["context"]["listing_notes"] == [said[0].removeprefix("the listing: ")]
        refs = json.loads(package.read("metadata/posts.json"))
        assert refs and all(r["published"] is None for r in refs)
        human = isnad("capture", "--no-browser", f"{youtube.base}/@{FEED_DOWN_CHANNEL}/videos",
                      env=env)
        assert "the listing: " in human.stdout  # printed, not only stored
