"""A monitor in an export bundle, through the real CLI against the Telegram stand-in: every
capture of the monitor (listings, posts, the evidence of a deleted post), its timeline as JSON
and in the report, each capture's place in it, all covered by SHA256SUMS; and an export of one
post's capture carries that post's history."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from archiver.catalog import Catalog
from archiver.states import CustodyAction
from tests.platform_fixtures.telegram import TelegramFixture


@pytest.mark.e2e
def test_export_of_a_monitor_bundles_its_captures_and_timeline(isnad, tmp_path: Path):
    with TelegramFixture() as telegram:
        env = {"ISNAD_PLATFORMS__TELEGRAM__BASE_URL": telegram.base}
        added = isnad("monitor", "add", f"{telegram.base}/s/syriawitness", "--posts", "3",
                      "--no-browser", "--recheck", "7d", "--json", env=env)
        assert added.code == 0, added
        monitor = added.json()["id"]
        assert isnad("monitor", "run", monitor, "--wait", env=env, timeout=400).code == 0
        telegram.server.deleted.add(109)
        assert isnad("monitor", "run", monitor, "--wait", env=env, timeout=400).code == 0
    timeline = isnad("monitor", "timeline", monitor, "--json").json()
    posts = {p["post_id"]: p for p in timeline["posts"]}
    assert posts["109"]["state"] == "disappeared"
    expected = sorted({r["listing_capture"] for r in timeline["runs"]}
                      | {c["id"] for p in timeline["posts"] for c in p["captures"]})
    assert len(expected) == 2 + 4 + 1  # two listings, posts 110-107, 109's evidence

    bundle = tmp_path / "bundle"
    run = isnad("export", "--monitor", monitor[:13], "-o", str(bundle), "--json",
                timeout=600)
    assert run.code == 0, run
    assert sorted(run.json()["captures"]) == expected
    assert json.loads((bundle / "timeline.json").read_text()) == timeline
    roles = {}
    for capture_id in expected:
        entry = json.loads((bundle / capture_id / "monitor.json").read_text())
        assert entry["monitor"]["id"] == monitor and entry["capture"] == capture_id
        roles[capture_id] = entry["role"]
        if entry["role"] == "listing":
            assert entry["run"]["listing_capture"] == capture_id
        else:
            assert capture_id in [c["id"] for c in entry["post"]["captures"]]
    assert sorted(roles.values()) == ["listing", "listing", "post", "post", "post", "post",
                                      "recheck"]
    evidence = posts["109"]["disappeared"]["evidence_capture"]
    gone = json.loads((bundle / evidence / "monitor.json").read_text())
    assert (gone["role"], gone["post"]["post_id"], gone["post"]["disappeared"]["status"]) == (
        "recheck", "109", "deleted")
    # The hashes cover the new files, and a changed timeline no longer passes.
    sums = (bundle / "SHA256SUMS").read_text()
    assert "  timeline.json\n" in sums
    assert all(f"  {cid}/monitor.json\n" in sums for cid in expected)
    check = ["sha256sum", "-c", "--quiet", "SHA256SUMS"]
    assert subprocess.run(check, cwd=bundle, capture_output=True).returncode == 0
    report = (bundle / "report.html").read_text()
    assert "Monitor timeline" in report and "DISAPPEARED</b> (deleted)" in report
    assert report.count("<th>Monitor</th>") == len(expected)
    (bundle / "timeline.json").write_text(
        (bundle / "timeline.json").read_text().replace('"disappeared"', '"captured"', 1))
    assert subprocess.run(check, cwd=bundle, capture_output=True).returncode != 0
    # The export is in each capture's custody log, naming the monitor.
    catalog = Catalog(f"sqlite:///{isnad.home / 'catalog.db'}")
    (event,) = [e for e in catalog.events(evidence) if e.action == CustodyAction.EXPORTED]
    assert event.details["monitor"] == monitor

    # One post's capture exported alone: its history comes with it, not the whole timeline.
    one = tmp_path / "one"
    first_109 = next(c["id"] for c in posts["109"]["captures"] if c["role"] == "post")
    assert isnad("export", first_109, "-o", str(one), timeout=600).code == 0
    assert not (one / "timeline.json").exists()
    entry = json.loads((one / first_109 / "monitor.json").read_text())
    assert entry["post"] == posts["109"] and entry["role"] == "post"
    assert f"  {first_109}/monitor.json\n" in (one / "SHA256SUMS").read_text()

    nothing = isnad("export", "-o", str(tmp_path / "none"))
    assert nothing.code != 0 and "give capture ids, or --monitor ID" in nothing.stderr
