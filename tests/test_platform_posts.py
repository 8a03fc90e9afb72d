"""Every platform end to end through the real CLI, against its stand-in: the post record in
the package and the catalog beside the page capture, the post's video downloaded and hashed,
and a channel's recent posts listed and each captured as its own package (``--posts``)."""

from __future__ import annotations

import gzip
import hashlib
import importlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from archiver.states import CaptureState
from tests.fixture_site.server import video_clip

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Stand:
    name: str          # platform name (and fixture module)
    fixture: str       # the stand-in's class
    post_id: str       # the Arabic post's id as the module records it
    video: str         # "clip": the served MP4 itself; "hls": a playlist yt-dlp repackages

    def start(self):  # noqa: ANN201 - the stand-in
        module = importlib.import_module(f"tests.platform_fixtures.{self.name}")
        return getattr(module, self.fixture)()

    @property
    def arabic_text(self) -> str:
        return importlib.import_module(f"tests.platform_fixtures.{self.name}").ARABIC_TEXT


STANDS = [
    Stand("youtube", "YouTubeFixture", "Qx7b2Kp9LmA", "clip"),
    Stand("x", "XFixture", "2123691690687090689", "clip"),
    Stand("tiktok", "TikTokFixture", "7710006002885546695", "clip"),
    Stand("facebook", "FacebookFixture", "1029384756647382", "clip"),
    Stand("instagram", "InstagramFixture", "DCOHJ-Mz2eH", "clip"),
    Stand("bluesky", "BlueskyFixture", "3n2q3kvmwpk2b", "hls"),
    Stand("vk", "VKFixture", "-211987654_510", "clip"),
    Stand("reddit", "RedditFixture", "1gx7a2b", "clip"),
]


def _env(stand: Stand, server) -> dict[str, str]:  # noqa: ANN001 - any stand-in
    return {f"ISNAD_PLATFORMS__{stand.name.upper()}__BASE_URL": server.base}


def _package(isnad, capture_id: str, env: dict[str, str]) -> tuple[dict, zipfile.ZipFile]:
    shown = isnad("show", capture_id, "--json", env=env).json()
    return shown, zipfile.ZipFile(Path(next(c["location"] for c in shown["copies"])))


BROWSER = [s for s in STANDS if s.name in ("reddit", "tiktok", "bluesky")]


def _param(*values: object, stand: Stand, name: str) -> object:
    """A parameter set; Instagram's in the serial pass: under the parallel pass's load its
    stand-in closed connections before answering (twice in two CI runs, never alone; cause not
    found), leaving the capture PARTIAL."""
    serial = [pytest.mark.serial] if stand.name == "instagram" else []
    return pytest.param(*values, id=name, marks=serial)


@pytest.mark.parametrize(("stand", "mode"), [
    *(_param(s, "http", stand=s, name=f"{s.name}-http") for s in STANDS),
    *(_param(s, "browser", stand=s, name=f"{s.name}-browser") for s in BROWSER)])
def test_post_record_and_video_beside_the_page_capture(isnad, stand, mode):
    with stand.start() as server:
        env = _env(stand, server)
        rec = isnad.capture(*(["--no-browser"] if mode == "http" else []), server.post_url(),
                            env=env)
        assert rec["state"] == CaptureState.COMPLETE, (rec["reasons"], rec["stderr"][-2000:])
        shown, package = _package(isnad, rec["id"], env)
        post = json.loads(package.read("metadata/post.json"))
        assert (post["platform"], post["post_id"], post["status"]) == (
            stand.name, stand.post_id, "ok")
        assert post["text"] == stand.arabic_text  # UTF-8, RTL and line breaks as published
        assert post["published"].endswith("Z")
        assert not post["url"].startswith(server.base)  # the public, canonical URL
        assert shown["context"]["post"] == post
        assert shown["posts"][0]["post_id"] == stand.post_id
        resources = {r["path"]: r for r in json.loads(package.read("datapackage.json"))
                     ["resources"]}
        assert "metadata/post.json" in resources
        items = shown["context"]["media"]["items"]
        if stand.video == "clip":
            clip = hashlib.sha256(video_clip()).hexdigest()
            stored = [n for n in package.namelist() if n.startswith("media/")
                      and hashlib.sha256(package.read(n)).hexdigest() == clip]
            assert len(stored) == 1, sorted(package.namelist())  # stored once
            assert resources[stored[0]]["hash"] == f"sha256:{clip}"
        else:  # HLS: yt-dlp joins the segments into a new file; it is listed with its hash
            (item,) = [i for i in items if i["source_url"].endswith(".m3u8")]
            video = next(f for f in item["files"] if f["kind"] == "video")
            data = package.read(video["path"])
            assert resources[video["path"]]["hash"] == (
                f"sha256:{hashlib.sha256(data).hexdigest()}") and len(data) > 10_000
        assert all(i["yt_dlp"] and i["extractor"] for i in items)
        if mode == "browser":
            kinds = {a["kind"] for a in shown["context"]["artifacts"]}
            assert {"screenshot", "pdf", "dom"} <= kinds
        assert isnad("verify", rec["id"], env=env).code == 0


@pytest.mark.parametrize("stand", [_param(s, stand=s, name=s.name) for s in STANDS])
def test_channel_lists_its_posts_and_captures_each(isnad, stand):
    with stand.start() as server:
        env = _env(stand, server)
        run = isnad("capture", "--no-browser", "--posts", "2", "--json", server.channel_url(),
                    env=env)
        records = run.json()
        assert len(records) == 3, [(r["url"], r["state"], r["reasons"]) for r in records]
        channel, posts = records[0], records[1:]
        assert channel["state"] == CaptureState.COMPLETE, channel["reasons"]
        _, package = _package(isnad, channel["id"], env)
        refs = json.loads(package.read("metadata/posts.json"))
        assert len(refs) >= 2 and all(r["platform"] == stand.name for r in refs)
        stamped = [r["published"] for r in refs if r["published"]]
        assert stamped == sorted(stamped, reverse=True)  # newest first
        for ref, record in zip(refs, posts, strict=True):
            assert record["state"] == CaptureState.COMPLETE, (record["url"], record["reasons"])
            detail = isnad("show", record["id"], "--json", env=env).json()
            assert detail["posts"][0]["post_id"] == ref["post_id"], record["url"]
            assert detail["posts"][0]["status"] == "ok"


@pytest.mark.parametrize(("name", "fixture", "post", "status"), [
    ("x", "XFixture", "DELETED_ID", "deleted"),
    ("reddit", "RedditFixture", "DELETED_ID", "deleted"),
    ("tiktok", "TikTokFixture", "PRIVATE_ID", "unavailable"),
    ("vk", "VKFixture", "DELETED_POST", "deleted"),
])
def test_a_post_that_is_gone_is_recorded_as_such(isnad, name, fixture, post, status):
    module = importlib.import_module(f"tests.platform_fixtures.{name}")
    with getattr(module, fixture)() as server:
        env = {f"ISNAD_PLATFORMS__{name.upper()}__BASE_URL": server.base}
        rec = isnad.capture("--no-browser", server.post_url(getattr(module, post)), env=env)
        assert rec["state"] == CaptureState.PARTIAL
        assert any(r.startswith(f"the post is {status}") for r in rec["reasons"]), rec["reasons"]
        shown, package = _package(isnad, rec["id"], env)
        assert json.loads(package.read("metadata/post.json"))["status"] == status
        assert shown["posts"][0]["status"] == status
        assert rec["exit_code"] == 1  # never a silent success


def test_vk_session_token_reads_the_api_and_never_enters_the_package(isnad):
    from tests.platform_fixtures.vk import ARABIC_TEXT, TOKEN, VKFixture

    with VKFixture() as server:
        env = {"ISNAD_PLATFORMS__VK__BASE_URL": server.base,
               "ISNAD_PLATFORMS__VK__HEADERS": json.dumps({"Authorization": f"Bearer {TOKEN}"})}
        run = isnad("capture", "--json", "--no-browser", server.post_url(), env=env)
        assert TOKEN not in run.stdout + run.stderr
        record = run.json()[0]
        assert record["state"] == CaptureState.COMPLETE, record["reasons"]
        shown, package = _package(isnad, record["id"], env)
        post = json.loads(package.read("metadata/post.json"))
        assert post["text"] == ARABIC_TEXT
        assert any("/method/wall.getById" in url for url in post["source"])  # the API was used
        for name in package.namelist():
            data = package.read(name)
            data = gzip.decompress(data) if name.endswith(".gz") else data
            assert TOKEN.encode() not in data, name
        warcs = b"".join(gzip.decompress(package.read(n)) for n in package.namelist()
                         if n.startswith("archive/"))
        assert b"Authorization: [redacted by Isnad]" in warcs
        assert shown["context"]["platform"]["logged_in"] is True
        assert TOKEN not in json.dumps(shown)
        # The token went to the stand-in's API, which refuses requests without it.
        assert any(r["headers"].get("Authorization") == f"Bearer {TOKEN}"
                   for r in server.requests if r["path"].startswith("/method/"))
