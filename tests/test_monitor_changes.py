"""Edits and deletions of monitored posts, through the real CLI and real captures, against
stand-ins whose channels change under the test's control (Telegram, Mastodon, Reddit,
YouTube): between two runs one post is edited, one deleted, one rate limited, one behind a
login wall, and a new one published. The edit is one post-changed custody event with its
field-by-field diff, both versions stay and verify; the deletion is one post-disappeared
event; the rate limit and the login wall are neither; each new post is captured once."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from archiver.catalog import Catalog
from archiver.monitors import MonitorStore
from archiver.states import CaptureState, CustodyAction, MonitorPostState
from crawlers.platforms.base import PostRef
from crawlers.platforms.mastodon import _fingerprint as mastodon_fingerprint
from isnad.app.monitors import post_diff
from tests.platform_fixtures import mastodon, reddit, telegram, youtube


@dataclass
class Channel:
    """A stand-in channel and what the test does to it between the two runs."""

    platform: str
    url: str
    env: dict[str, str]
    first: list[str]       # what the first run lists (--posts 4), newest first
    edited: str
    deleted: str
    limited: str
    walled: str
    new: list[str]         # what the second run finds new
    change: Callable[[], None]
    field: str             # the field the edit changes
    before: str
    after: str
    server: Any = field(default=None, repr=False)


NEW_TEXT = "Correction: the convoy left at 09:40, not 08:00.\nتصحيح: غادرت القافلة الساعة ٩:٤٠."


@contextmanager
def _telegram() -> Iterator[Channel]:
    with telegram.TelegramFixture() as server:
        state = server.server

        def change() -> None:
            server.publish(telegram.LAST + 1)
            state.edits[110] = NEW_TEXT
            # Gone from the channel's page; 108's and 107's own pages say nothing of them.
            state.deleted.update({109, 108, 107})
            state.limited.add(108)
            state.walled.add(107)

        yield Channel("telegram", f"{server.base}/s/{telegram.CHANNEL}",
                      {"ISNAD_PLATFORMS__TELEGRAM__BASE_URL": server.base},
                      ["110", "109", "108", "107"], "110", "109", "108", "107",
                      ["111", "106", "105"], change, "text", "Update 110: situation report.",
                      NEW_TEXT, server)


@contextmanager
def _mastodon() -> Iterator[Channel]:
    with mastodon.MastodonFixture() as server:
        state = server.server

        def change() -> None:
            server.publish(mastodon.LAST + 1)
            state.edits[20010] = NEW_TEXT.replace("\n", " ")
            state.deleted.add(20009)
            state.limited.add(20008)
            state.walled.add(20007)

        yield Channel("mastodon", f"{server.base}/@{mastodon.USER}",
                      {"ISNAD_PLATFORMS__MASTODON__BASE_URL": server.base},
                      ["20010", "20009", "20008", "20007"], "20010", "20009", "20008",
                      "20007", ["20011", "20006", "20005"], change, "text",
                      "Report 20010.", NEW_TEXT.replace("\n", " "), server)


@contextmanager
def _reddit() -> Iterator[Channel]:
    with reddit.RedditFixture() as server:
        state = server.server
        state.hidden.add(reddit.ARABIC_ID)
        reports = reddit.REPORT_IDS

        def change() -> None:
            server.publish(reddit.ARABIC_ID)
            state.edits[reddit.EDITED_ID] = NEW_TEXT
            state.deleted.add(reddit.GALLERY_ID)
            state.limited.add(reddit.LINK_ID)
            state.walled.add(reports[0])

        yield Channel("reddit", server.channel_url(),
                      {"ISNAD_PLATFORMS__REDDIT__BASE_URL": server.base},
                      [reddit.GALLERY_ID, reddit.LINK_ID, reddit.EDITED_ID, reports[0]],
                      reddit.EDITED_ID, reddit.GALLERY_ID, reddit.LINK_ID, reports[0],
                      [reddit.ARABIC_ID, reports[1], reports[2]], change, "text",
                      reddit.EDITED_TEXT, NEW_TEXT, server)


@contextmanager
def _youtube() -> Iterator[Channel]:
    with youtube.YouTubeFixture() as server:
        state = server.server
        state.hidden.add(youtube.ARABIC_ID)
        ids = [youtube.video_id(n) for n in (69, 68, 67, 66, 65, 64)]

        def change() -> None:
            server.publish(youtube.ARABIC_ID)
            state.edits[ids[1]] = {"title": "Situation report 68 (corrected)"}
            state.deleted.add(ids[0])
            state.limited.add(ids[2])
            state.walled.add(ids[3])

        yield Channel("youtube", server.channel_url(),
                      {"ISNAD_PLATFORMS__YOUTUBE__BASE_URL": server.base},
                      ids[:4], ids[1], ids[0], ids[2], ids[3],
                      [youtube.ARABIC_ID, ids[4], ids[5]], change, "title",
                      "Situation report 68", "Situation report 68 (corrected)", server)


CHANNELS = {"telegram": _telegram, "mastodon": _mastodon, "reddit": _reddit,
            "youtube": _youtube}


def _posts(isnad, monitor_id: str, env: dict[str, str]) -> dict[str, dict]:
    timeline = isnad("monitor", "timeline", monitor_id, "--json", env=env)
    assert timeline.code == 0, timeline
    return {p["post_id"]: p for p in timeline.json()["posts"]}


def _events(catalog: Catalog, posts: dict[str, dict], action: str) -> list:
    ids = {c["id"] for p in posts.values() for c in p["captures"] if c["id"]}
    return [e for capture_id in sorted(ids) for e in catalog.events(capture_id)
            if e.action == action]


@pytest.mark.e2e
@pytest.mark.parametrize("platform", list(CHANNELS))
def test_an_edit_a_deletion_a_rate_limit_and_a_login_wall_between_two_runs(isnad, platform):
    with CHANNELS[platform]() as channel:
        env = channel.env
        added = isnad("monitor", "add", channel.url, "--posts", "4", "--no-browser",
                      "--recheck", "7d", "--json", env=env)
        assert added.code == 0, added
        monitor = added.json()["id"]
        first = isnad("monitor", "run", monitor, "--wait", "--json", env=env, timeout=600)
        assert first.code == 0, first
        assert (first.json()["state"], first.json()["new_posts"]) == ("COMPLETE", 4), first
        before = _posts(isnad, monitor, env)
        assert list(before) == channel.first

        channel.change()
        second = isnad("monitor", "run", monitor, "--wait", "--json", env=env, timeout=600)
        run = second.json()
        # The rate limit and the login wall told nothing: the run is PARTIAL and says why.
        assert second.code == 1 and run["state"] == "PARTIAL", run
        for post_id in (channel.limited, channel.walled):
            assert any(f"post {post_id} told nothing" in note
                       and "not taken for a deletion or an edit" in note
                       for note in run["notes"]), (post_id, run["notes"])
        assert run["new_posts"] == 3, run
        posts = _posts(isnad, monitor, env)
        catalog = Catalog(f"sqlite:///{isnad.home / 'catalog.db'}")

        # The edit: a new capture, one post-changed event on the version superseded, with
        # the diff; both versions kept, and both verify.
        edited = posts[channel.edited]
        assert edited["state"] == MonitorPostState.CHANGED, edited
        assert [c["role"] for c in edited["captures"]] == ["post", "edit-check"]
        was = before[channel.edited]["last_good_capture"]
        now = edited["captures"][1]["id"]
        assert edited["last_good_capture"] == now and now != was
        assert edited["versions"] == [was, now]
        (change,) = edited["changes"]
        assert (change["previous_capture"], change["new_capture"], change["on_capture"]) == (
            was, now, was)
        assert change["fields"] == [channel.field], change
        assert change["diff"][channel.field] == {"before": channel.before,
                                                 "after": channel.after}
        (event,) = _events(catalog, posts, CustodyAction.POST_CHANGED)
        assert event.capture_id == was
        assert event.object_sha256 == catalog.get(now).package_sha256
        assert event.details["previous_package_sha256"] == catalog.get(was).package_sha256
        assert event.details["diff"] == change["diff"]
        for capture_id in (was, now):
            assert catalog.get(capture_id).state != CaptureState.FAILED
            verified = isnad("verify", capture_id, env=env)
            assert verified.code == 0, verified
        human = isnad("monitor", "timeline", monitor, env=env)
        assert human.code == 0 and "CHANGED" in human.stdout, human
        assert f"{channel.field}: " in human.stdout

        # The deletion: one post-disappeared event, with the evidence of the absence.
        gone = posts[channel.deleted]
        assert gone["state"] == MonitorPostState.DISAPPEARED, gone
        (evidence,) = [c for c in gone["captures"] if c["role"] == "recheck"]
        assert evidence["post_status"] == "deleted"
        assert gone["disappeared"]["evidence_capture"] == evidence["id"]
        (disappeared,) = _events(catalog, posts, CustodyAction.POST_DISAPPEARED)
        assert disappeared.capture_id == before[channel.deleted]["last_good_capture"]
        assert gone["changes"] == []

        # The rate limit and the login wall: neither a deletion nor an edit.
        for post_id in (channel.limited, channel.walled):
            post = posts[post_id]
            assert post["state"] == MonitorPostState.CAPTURED, post
            assert post["disappeared"] is None and post["changes"] == []
            assert post["last_good_capture"] == before[post_id]["last_good_capture"]

        # Each new post captured once; the posts not touched captured once as well.
        for post_id in channel.new:
            assert [c["role"] for c in posts[post_id]["captures"]] == ["post"], post_id
            assert posts[post_id]["state"] == MonitorPostState.CAPTURED
        assert set(posts) == {*channel.first, *channel.new}

        # Alerts raised (logged only: no webhook set): the edit with its diff, the deletion.
        raised = isnad("alerts", "list", "--monitor", monitor, "--json", env=env).json()
        (changed_alert,) = [a for a in raised if a["event"] == "post-changed"]
        assert changed_alert["body"]["diff"] == change["diff"]
        assert changed_alert["body"]["new_capture"] == now
        (gone_alert,) = [a for a in raised if a["event"] == "post-disappeared"]
        assert gone_alert["body"]["post_id"] == channel.deleted


@pytest.mark.e2e
def test_a_recapture_whose_content_did_not_change_records_no_change(isnad):
    """Mastodon's edited_at moves (an edit that left the text as it was): the listing's
    fingerprint changes, the post is captured again, and nothing is recorded as changed."""
    with mastodon.MastodonFixture() as server:
        env = {"ISNAD_PLATFORMS__MASTODON__BASE_URL": server.base}
        monitor = isnad("monitor", "add", f"{server.base}/@{mastodon.USER}", "--posts", "2",
                        "--no-browser", "--recheck", "7d", "--json", env=env).json()["id"]
        first = isnad("monitor", "run", monitor, "--wait", "--json", env=env, timeout=600)
        assert first.code == 0, first
        server.server.edits[20010] = "Report 20010."  # the same text, edited_at set
        second = isnad("monitor", "run", monitor, "--wait", "--json", env=env, timeout=600)
        run = second.json()
        assert second.code == 0 and run["state"] == "COMPLETE", run
        assert any("post 20010: its content is as in capture" in n and "edited" in n
                   and "no change recorded" in n for n in run["notes"]), run["notes"]
        posts = _posts(isnad, monitor, env)
        post = posts["20010"]
        assert [c["role"] for c in post["captures"]] == ["post", "edit-check"]
        assert post["state"] == MonitorPostState.CAPTURED and post["changes"] == []
        catalog = Catalog(f"sqlite:///{isnad.home / 'catalog.db'}")
        assert _events(catalog, posts, CustodyAction.POST_CHANGED) == []
        # A third run: the fingerprint it was checked for is kept, nothing is queued again.
        third = isnad("monitor", "run", monitor, "--wait", "--json", env=env, timeout=600)
        assert third.code == 0 and third.json()["jobs"] == [], third
        assert len(_posts(isnad, monitor, env)["20010"]["captures"]) == 2


def test_a_listing_fingerprint_ignores_counts_and_sees_text_media_and_edits():
    status = mastodon._status("http://127.0.0.1:1", mastodon.FIRST)
    plain = mastodon_fingerprint(status)
    assert plain and plain.startswith("sha256:")
    assert mastodon_fingerprint({**status, "favourites_count": 9999, "replies_count": 40,
                                 "reblogs_count": 77}) == plain
    assert mastodon_fingerprint({**status, "content": "<p>other</p>"}) != plain
    assert mastodon_fingerprint({**status, "edited_at": "2026-11-22T00:00:00Z"}) != plain
    assert mastodon_fingerprint({**status, "media_attachments": status[
        "media_attachments"][:1]}) != plain
    assert PostRef("x", "1", "u").fingerprint is None  # a listing that shows no content


def test_a_diff_names_each_changed_field_and_leaves_out_what_did_not_change():
    before = {"title": None, "text": "a", "edited": None, "counts": {"views": 10},
              "media": [{"url": "https://cdn1.example/f/x.jpg?sig=1", "type": "image"}]}
    # A CDN's other host and a new signature are the same media; more views are no edit.
    same = {**before, "counts": {"views": 99},
            "media": [{"url": "https://cdn4.example/f/x.jpg?sig=2", "type": "image"}]}
    assert post_diff(before, same) == {"counts": {"before": {"views": 10},
                                                  "after": {"views": 99}}}
    edited = {**same, "text": "b", "edited": "2026-11-21T10:00:00Z",
              "media": [{"url": "https://cdn4.example/f/y.jpg", "type": "image"}]}
    diff = post_diff(before, edited)
    assert set(diff) == {"text", "media", "edited", "counts"}
    assert diff["text"] == {"before": "a", "after": "b"}


def test_a_post_keeps_the_fingerprint_it_was_checked_for(tmp_path):
    """The listing's fingerprint is kept with a new post (and with a known one that had
    none); a different one is not written over it by a listing, only by a check that read
    the post, so a check that met a rate limit is made again next run."""
    store = MonitorStore(Catalog(f"sqlite:///{tmp_path / 'catalog.db'}"))
    monitor = store.add(url="https://t.me/s/chan", kind="channel", platform="telegram",
                        every=900, cron=None, jitter=0, case_id=None, tags=[], note=None,
                        posts=5, recheck=86400, operator="analyst").id
    seen = {"platform": "telegram", "url": "https://t.me/chan/5", "published": None,
            "job": None}
    store.record_post(monitor, "run1", post_id="5", fingerprint="sha256:a", **seen)
    store.record_post(monitor, "run1", post_id="6", fingerprint=None, **seen)
    store.record_post(monitor, "run2", post_id="5", fingerprint="sha256:b", **seen)
    store.record_post(monitor, "run2", post_id="6", fingerprint="sha256:c", **seen)
    assert [p.fingerprint for p in store.posts(monitor)] == ["sha256:a", "sha256:c"]
    store.recheck_done(monitor, "telegram", "5", state=None, capture_id=None,
                       fingerprint="sha256:b")  # told nothing: kept as it was
    assert store.post(monitor, "telegram", "5").fingerprint == "sha256:a"
    store.recheck_done(monitor, "telegram", "5", state=MonitorPostState.CHANGED,
                       capture_id="cap2", fingerprint="sha256:b")
    post = store.post(monitor, "telegram", "5")
    assert (post.fingerprint, post.state, post.last_good_capture) == (
        "sha256:b", MonitorPostState.CHANGED, "cap2")


def test_an_older_catalog_gets_the_fingerprint_column(tmp_path):
    path = tmp_path / "catalog.db"
    with sqlite3.connect(path) as db:  # monitor_posts as catalogs made before it had one
        db.execute("CREATE TABLE monitor_posts (id INTEGER PRIMARY KEY, monitor_id VARCHAR(36),"
                   " platform VARCHAR(40), post_id VARCHAR(200), url TEXT, published "
                   "VARCHAR(40), first_seen DATETIME, last_seen DATETIME, first_run "
                   "VARCHAR(36), job_id VARCHAR(36), state VARCHAR(16), last_good_capture "
                   "VARCHAR(36), recheck_job VARCHAR(36), CONSTRAINT uq_monitor_post UNIQUE "
                   "(monitor_id, platform, post_id))")
    store = MonitorStore(Catalog(f"sqlite:///{path}"))
    MonitorStore(store.catalog)  # opened again: nothing to add
    store.record_post("m1", "run1", platform="telegram", post_id="5", url="u",
                      published=None, job=None, fingerprint="sha256:a")
    assert store.post("m1", "telegram", "5").fingerprint == "sha256:a"
