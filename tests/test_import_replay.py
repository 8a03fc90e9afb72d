"""Imported material replays in the web app as captures do (issue 14): a real-world WARC and a
real-world ARC, imported with the real CLI into the home of a running `isnad serve`, opened
from the capture's page in real Chromium; ReplayWeb.page (served by Isnad) reads the import's
package (its CDXJ, its WARC, for the ARC the WARC derived from it) by byte ranges, and the
page's own text appears inside the replay frame. Loopback only: every other host is refused
and does not even resolve."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.webserver import PASSWORD, running_server

pytestmark = pytest.mark.e2e

playwright_sync = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
SHARED = Path(__file__).resolve().parents[2] / "shared"
WARC = SHARED / "import-samples" / "pywb--example2.warc.gz"  # warcprox 1.4, 2016
ARC = SHARED / "samples" / "pywb--example.arc.gz"  # ARC v1 of the same page
PAGE = "http://example.com/"
TEXT = "This domain is established to be used for illustrative examples"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
LOCAL_SCHEMES = {"data", "blob", "about", "chrome-error"}


@pytest.fixture(scope="module")
def web_server(tmp_path_factory):
    from isnad.web.replay import DEFAULT_ASSETS

    if not (WARC.is_file() and ARC.is_file()):
        pytest.skip("../shared samples absent")
    if not (DEFAULT_ASSETS / "ui.js").is_file():
        pytest.skip("ReplayWeb.page is not installed: run `make web-deps`")
    if not Path(CHROMIUM).exists():
        pytest.skip("no Chromium at /usr/bin/chromium")
    yield from running_server(tmp_path_factory, workers=0)  # imports run in the CLI


@pytest.fixture(scope="module")
def browser():
    with playwright_sync.sync_playwright() as p:
        # Names other than loopback do not resolve: nothing can reach a real host.
        chromium = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"])
        yield chromium
        chromium.close()


def _replay_frame(page: Any, url: str, timeout_ms: int = 90_000) -> Any:
    """The frame ReplayWeb.page replays ``url`` in (nested below its own frames)."""
    waited = 0
    while waited < timeout_ms:
        for frame in page.frames:
            if "/replay/w/" in frame.url and frame.url.endswith(url):
                return frame
        page.wait_for_timeout(250)
        waited += 250
    raise AssertionError(f"no replay frame for {url}; frames: {[f.url for f in page.frames]}")


@pytest.mark.parametrize("given", [WARC, ARC], ids=["warc", "arc"])
def test_an_imported_page_replays_in_the_app(web_server, browser, given: Path) -> None:
    run = web_server.cli("import", str(given), "--provider", "Partner NGO", "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    (imported,) = json.loads(run.stdout)["files"]
    capture_id = imported["capture_id"]
    assert imported["state"] == "imported" and capture_id
    shown = web_server.client("viewer").get(f"/api/v1/captures/{capture_id}").json()
    package = Path(shown["package_location"])
    with zipfile.ZipFile(package) as z:
        index = z.read("indexes/index.cdx").decode()
        files = {f["member"]: f for f in json.loads(z.read("metadata/provenance.json"))["files"]}
    replayed_from = {json.loads(line.split(" ", 2)[2])["filename"] for line in index.splitlines()}
    if given == ARC:  # the ARC replays through the WARC made of it, marked derived
        (name,) = replayed_from
        assert name.endswith(".converted.warc.gz")
        assert files[f"archive/{name}"]["role"] == "derived"

    outside: list[str] = []
    context = browser.new_context(base_url=web_server.base_url, locale="en-GB")

    def guard(route: Any) -> None:
        parts = urlsplit(route.request.url)
        if parts.hostname in LOOPBACK or parts.scheme in LOCAL_SCHEMES:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    try:
        page = context.new_page()
        page.goto("/login")
        page.fill("input[name=name]", web_server.user("viewer"))
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/captures"))
        page.goto(f"/captures/{capture_id}")
        page.click("a[href$='/replay']")
        frame = _replay_frame(page, PAGE)
        text = frame.get_by_text(TEXT)
        text.wait_for(state="visible", timeout=30_000)
        assert text.is_visible()
        assert frame.locator("h1").inner_text() == "Example Domain"
        # In the replay frame, not on Isnad's own page around it.
        assert TEXT not in page.main_frame.inner_text("body")
    finally:
        context.close()
    assert outside == [], outside
    shown = web_server.client("viewer").get(f"/api/v1/captures/{capture_id}").json()
    actions = [e["details"]["action"] for e in shown["custody"] if e["action"] == "accessed"]
    assert "replay" in actions and "download" in actions  # the view, the package's ranges
