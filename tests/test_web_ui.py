"""The screens in real Chromium (Playwright) against a real `isnad serve`: sign in, submit the
fixture site's pages, watch them finish on the jobs screen, open a capture and its
screenshot, play its video, download an export and check its SHA256SUMS, use the interface in
Arabic. Each screen is photographed (English and Arabic) into ``ISNAD_UI_SHOTS`` or a temp
folder, for a person to look at."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.webserver import PASSWORD, running_server

pytestmark = pytest.mark.e2e

playwright_sync = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "import-samples"


@pytest.fixture(scope="module")
def web_server(tmp_path_factory):
    yield from running_server(tmp_path_factory, workers=2)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("ISNAD_UI_SHOTS") or tmp_path_factory.mktemp("ui-shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("no Chromium at /usr/bin/chromium")
    with playwright_sync.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--autoplay-policy=no-user-gesture-required"])
        yield chromium
        chromium.close()


def _wait(page, expression: str, timeout: float = 30.0) -> None:
    """Wait until ``expression`` is true in the page (page.wait_for_function evaluates a
    string, which the app's CSP, rightly, forbids; page.evaluate is not bound by it)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout} s: {expression}"
        page.wait_for_timeout(200)


def _sign_in(browser, web_server, role: str = "investigator", lang: str | None = None):
    context = browser.new_context(base_url=web_server.base_url, accept_downloads=True,
                                  viewport={"width": 1280, "height": 900},
                                  locale="en-GB")
    page = context.new_page()
    page.goto("/captures" + (f"?lang={lang}" if lang else ""))
    assert "/login" in page.url  # nothing without signing in
    page.fill("input[name=name]", web_server.user(role))
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/captures"))
    return context, page


@pytest.fixture(scope="module")
def submitted(browser, web_server, site, shots):
    """The fixture pages submitted through the form (a URL, a list, a file), watched to the
    end on the jobs screen: {path: capture id}."""
    context, page = _sign_in(browser, web_server)
    page.goto("/submit")
    page.screenshot(path=shots / "submit-en.png", full_page=True)
    page.fill("input[name=url]", site.url("/video.html"))
    page.fill("textarea[name=urls]", site.url("/arabic.html") + "\n")
    batch = shots.parent / "batch.csv"
    batch.write_text(f"url,tags\n{site.url('/')},from-file\n", encoding="utf-8")
    page.set_input_files("input[name=batch]", str(batch))
    page.fill("input[name=case]", "قضية-7")
    page.fill("input[name=tags]", "ui, شهادة")
    page.fill("textarea[name=note]", "ملاحظة المحقق")
    page.click("form[action='/submit'] button[type=submit]")
    page.wait_for_url(re.compile(r"/jobs\?new="))
    rows = page.locator("tr.fresh")
    assert rows.count() == 3
    page.wait_for_timeout(2500)  # a worker has taken one by now: its stage, live
    page.screenshot(path=shots / "jobs-running-en.png", full_page=True)
    # The page follows the jobs live (polling): no reload until all three are done.
    _wait(page, "Array.from(document.querySelectorAll('tr.fresh'))"
          ".every(r => r.dataset.final === 'yes')", timeout=240)
    page.screenshot(path=shots / "jobs-en.png", full_page=True)
    labels = [rows.nth(i).locator("[data-field=state_label]").inner_text() for i in range(3)]
    assert labels == ["done"] * 3, (labels, web_server.output())
    found = {}
    for i in range(3):
        url = rows.nth(i).locator("td.url").inner_text()
        link = rows.nth(i).locator("[data-field=captures] a")
        assert link.count() == 1  # filled in by the live update
        found[url.replace(site.base_url, "")] = link.get_attribute("href").rsplit("/", 1)[1]
    rows.nth(0).locator("a").first.click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]+$"))
    assert "done" in page.locator("table.jobs").inner_text()
    assert page.locator("a[href^='/captures/']").count() >= 1
    page.screenshot(path=shots / "job-en.png", full_page=True)
    context.close()
    return found


def test_a_bad_address_is_refused_in_words_next_to_its_field(browser, web_server):
    context, page = _sign_in(browser, web_server)
    page.goto("/submit")
    page.fill("textarea[name=urls]", "ftp://example.org/x\nnot a url at all\n")
    page.click("form[action='/submit'] button[type=submit]")
    errors = page.locator("textarea[name=urls] >> xpath=../following-sibling::p[1]")
    assert "line 1" in errors.inner_text()
    assert page.locator(".field-error:visible").count() == 2
    assert page.input_value("textarea[name=urls]").startswith("ftp://")  # kept to correct
    page.goto("/jobs")
    assert page.locator("tr.fresh").count() == 0
    context.close()


def test_a_batch_file_past_the_upload_limit_is_refused_in_words(browser, web_server,
                                                                tmp_path):
    limit = 5 * 1024 * 1024  # web.max_upload_bytes, its default
    big = tmp_path / "urls.txt"
    big.write_bytes(b"https://example.org/page\n" * (limit // 25 + 10))
    context, page = _sign_in(browser, web_server)
    page.goto("/submit")
    page.set_input_files("input[name=batch]", str(big))
    said = page.locator("[data-error-for=batch]")
    assert said.is_visible() and "5.0 MB" in said.inner_text()
    page.click("form[action='/submit'] button[type=submit]")
    page.wait_for_timeout(1000)
    assert page.url.endswith("/submit")  # the browser did not send it
    assert page.evaluate("document.querySelector('input[name=batch]').validity.valid") is False
    # Sent anyway (no script), the server refuses it before reading it.
    client = web_server.login("investigator")
    refused = client.post("/submit", data={"csrf_token": client.csrf},
                          files={"batch": ("urls.txt", big.read_bytes(), "text/plain")})
    assert refused.status_code == 413
    page.goto("/jobs")
    assert page.locator("tr.fresh").count() == 0
    context.close()


def test_a_viewer_cannot_submit(browser, web_server):
    context, page = _sign_in(browser, web_server, "viewer")
    assert page.locator("nav a[href='/submit']").count() == 0
    response = page.goto("/submit")
    assert response.status == 403
    context.close()


def test_captures_list_filters_and_a_capture_shows_its_screenshot(browser, web_server,
                                                                   submitted, shots):
    context, page = _sign_in(browser, web_server)
    page.goto("/captures")
    page.screenshot(path=shots / "captures-en.png", full_page=True)
    assert page.locator("table.captures tbody tr").count() == 3
    page.goto("/captures?tag=from-file")
    assert page.locator("table.captures tbody tr").count() == 1
    page.goto("/captures?case=" + "قضية-7" + "&tag=شهادة")
    assert page.locator("table.captures tbody tr").count() == 3
    page.goto("/captures?state=FAILED")
    assert page.locator("table.captures tbody tr").count() == 0
    page.goto(f"/captures/{submitted['/arabic.html']}")
    image = page.locator("img.screenshot")
    image.wait_for()
    _wait(page, "document.querySelector('img.screenshot').complete")
    assert page.evaluate("document.querySelector('img.screenshot').naturalWidth") > 300
    assert page.locator("a[href$='/replay']").count() == 1
    assert "ملاحظة المحقق" in page.locator("table.facts").inner_text()
    page.screenshot(path=shots / "capture-en.png", full_page=True)
    # Verify: a POST with the CSRF token, its report on the page, a custody event of its own.
    page.click("button[name=verify]")
    page.locator("#report").wait_for()
    assert "intact" in page.locator("#report h2").inner_text()
    assert "verified" in page.locator("ol.timeline").inner_text()
    page.screenshot(path=shots / "capture-verified-en.png", full_page=True)
    context.close()


def test_an_arabic_word_in_another_spelling_finds_the_page_highlighted(browser, web_server,
                                                                        submitted, shots):
    context, page = _sign_in(browser, web_server)
    # The page says "الأدلة" (alef with hamza); the search is typed with a bare alef.
    page.goto("/captures?q=" + quote("الادلة"))
    links = [a.get_attribute("href") for a in page.locator("ol.hits li a").all()]
    assert f"/captures/{submitted['/arabic.html']}" in links, links
    marked = page.locator("ol.hits mark").all_inner_texts()
    assert "الأدلة" in marked, marked  # the original word is the one highlighted
    page.screenshot(path=shots / "search-en.png", full_page=True)
    # Taa marbuta typed as haa, narrowed by the case filter; a word on no page finds nothing.
    page.goto("/captures?q=" + quote("بصمه") + "&case=" + quote("قضية-7"))
    assert page.locator("ol.hits li").count() >= 1
    page.goto("/captures?q=" + quote("كلمةغيرموجودة"))
    assert page.locator("ol.hits li").count() == 0
    context.close()


def test_replay_in_the_app_shows_the_captured_page_inside_its_frame(browser, web_server,
                                                                      submitted, site, shots):
    from isnad.web.replay import DEFAULT_ASSETS
    from tests.test_replay import _replayed_frame

    if not (DEFAULT_ASSETS / "ui.js").is_file():
        pytest.skip("ReplayWeb.page is not installed: run `make web-deps`")
    context, page = _sign_in(browser, web_server, role="viewer")
    capture_id = submitted["/arabic.html"]
    hits = sum(site.hits.values())
    page.goto(f"/captures/{capture_id}")
    page.click("a[href$='/replay']")
    frame = _replayed_frame(page, site.url("/arabic.html"), timeout=90)
    frame.get_by_text("سلسلة الحيازة").wait_for(state="visible", timeout=30_000)
    page.screenshot(path=shots / "replay-en.png")
    context.close()
    assert sum(site.hits.values()) == hits  # replayed from the package, not fetched again
    shown = web_server.client("viewer").get(f"/api/v1/captures/{capture_id}").json()
    actions = [e["details"]["action"] for e in shown["custody"] if e["action"] == "accessed"]
    assert "replay" in actions and "download" in actions  # the view, the package's ranges


def test_a_captured_video_plays_and_seeks(browser, web_server, submitted, shots):
    context, page = _sign_in(browser, web_server)
    page.goto(f"/captures/{submitted['/video.html']}")
    video = page.locator(".media video")
    assert video.count() >= 1
    page.evaluate("document.querySelector('.media video').muted = true")
    page.evaluate("document.querySelector('.media video').play()")
    _wait(page, "document.querySelector('.media video').currentTime > 0.3")
    # Seeking asks for a byte range: the server answers 206 from inside the package.
    src = page.evaluate("document.querySelector('.media video').currentSrc")
    ranged = context.request.get(src, headers={"Range": "bytes=100-199"})
    assert ranged.status == 206 and len(ranged.body()) == 100
    whole = context.request.get(src).body()
    assert ranged.body() == whole[100:200]
    assert ranged.headers["content-range"] == f"bytes 100-199/{len(whole)}"
    past = context.request.get(src, headers={"Range": f"bytes={len(whole)}-"})
    assert past.status == 416
    page.evaluate("document.querySelector('.media video').currentTime = 0.1")
    _wait(page, "document.querySelector('.media video').readyState >= 2")
    page.screenshot(path=shots / "capture-video-en.png", full_page=True)
    # No path from the request reaches a file: only the catalog's numbered media exist.
    base = src.rsplit("/", 1)[0]
    for wrong in ("/7", "/..%2F..%2Fcatalog.db", "/-1"):
        assert context.request.get(base + wrong).status in (404, 422)
    for wrong in ("/captures/ffffffff", "/captures/ffffffff/screenshot",
                  f"/captures/{submitted['/video.html']}/screenshot?kind=..%2Fcatalog.db",
                  "/jobs/ffffffff", "/monitors/ffffffff", "/imports/ffffffff"):
        assert context.request.get(wrong).status == 404, wrong
    context.close()


def test_an_export_downloads_with_sha256sums_matching_its_files(browser, web_server,
                                                                submitted, tmp_path):
    context, page = _sign_in(browser, web_server)
    page.goto(f"/captures/{submitted['/video.html']}")
    with page.expect_download(timeout=180_000) as waiting:
        page.click("button[name=export]")
    saved = tmp_path / waiting.value.suggested_filename
    waiting.value.save_as(saved)
    with zipfile.ZipFile(saved) as bundle:
        names = bundle.namelist()
        top = names[0].split("/", 1)[0]
        sums = bundle.read(f"{top}/SHA256SUMS").decode()
        listed = 0
        for line in sums.splitlines():
            digest, name = line.split(None, 1)
            name = name.lstrip("*")
            assert hashlib.sha256(bundle.read(f"{top}/{name}")).hexdigest() == digest, name
            listed += 1
    assert listed >= 5 and any(n.endswith(".wacz") for n in names)
    context.close()


def test_the_interface_in_arabic_is_right_to_left(browser, web_server, submitted, shots):
    context, page = _sign_in(browser, web_server, lang="ar")
    assert page.evaluate("document.dir") == "rtl"
    assert page.locator("h1").inner_text() == "الالتقاطات"
    # The Arabic case name is shown as it was written.
    assert "قضية-7" in page.locator("table.captures").inner_text()
    # The cookie keeps the language from page to page, each screen photographed.
    for name, path in (("captures", "/captures"), ("submit", "/submit"), ("jobs", "/jobs"),
                       ("capture", f"/captures/{submitted['/arabic.html']}"),
                       ("monitors", "/monitors"), ("imports", "/imports"), ("cases", "/cases")):
        page.goto(path)
        assert page.evaluate("document.documentElement.dir") == "rtl", name
        page.screenshot(path=shots / f"{name}-ar.png", full_page=True)
    page.goto("/submit")
    assert page.locator("form[action='/submit'] button[type=submit]").inner_text() == "التقط"
    # The start of a row is on the right in Arabic.
    box = page.locator("h1").bounding_box()
    assert box["x"] + box["width"] > 1280 * 0.6
    context.close()


def test_monitors_imports_and_cases_screens(browser, web_server, submitted, site, shots):
    context, page = _sign_in(browser, web_server)
    page.goto("/monitors")
    page.fill("input[name=url]", site.url("/links.html"))
    page.fill("input[name=every]", "6h")
    page.fill("input[name=case]", "قضية-7")
    page.click("form[action='/monitors'] button[type=submit]")
    page.wait_for_url(re.compile(r"/monitors$"))
    row = page.locator("table.monitors tr", has_text="links.html")
    assert "active" in row.inner_text()
    row.locator("button").click()  # pause
    row = page.locator("table.monitors tr", has_text="links.html")
    assert "paused" in row.inner_text()
    page.screenshot(path=shots / "monitors-en.png", full_page=True)
    row.locator("a").first.click()
    assert "links.html" in page.locator(".url-line").inner_text()
    page.screenshot(path=shots / "monitor-en.png", full_page=True)
    page.goto("/monitors")
    page.fill("input[name=url]", site.url("/links.html"))
    page.fill("input[name=every]", "often")
    page.click("form[action='/monitors'] button[type=submit]")
    assert "often" in page.locator(".field-error").inner_text()
    page.goto("/cases")
    case = page.locator("section.case", has_text="قضية-7")
    assert "3" in case.locator("small").inner_text()
    page.screenshot(path=shots / "cases-en.png", full_page=True)
    context.close()


def test_imports_screens_show_provider_files_and_findings(browser, web_server, tmp_path,
                                                          shots):
    good = SAMPLES / "pywb--example2.warc.gz"
    bad = SAMPLES / "py-wacz--invalid_signed_example_1.wacz"
    if not (good.is_file() and bad.is_file()):
        pytest.skip("shared/import-samples is not beside the project")
    run = web_server.cli("import", str(good), str(bad), "--provider", "شبكة الشهود",
                         "--json")
    assert run.returncode in (0, 1), run.stderr
    context, page = _sign_in(browser, web_server, lang="ar")
    page.goto("/imports")
    row = page.locator("table tr", has_text="شبكة الشهود")
    assert row.count() == 1
    page.screenshot(path=shots / "imports-ar.png", full_page=True)
    row.locator("a").first.click()
    page.wait_for_url(re.compile(r"/imports/"))
    text = page.locator("main").inner_text()
    assert "pywb--example2.warc.gz" in text and "py-wacz--invalid_signed_example_1.wacz" in text
    assert page.locator(".findings li, td .warn").count() >= 1  # the bad signature, in words
    page.screenshot(path=shots / "import-ar.png", full_page=True)
    page.goto("/imports?lang=en")
    page.screenshot(path=shots / "imports-en.png", full_page=True)
    context.close()


def test_tags_and_schedules_as_people_write_them():
    from isnad.web.pages import _duration, _tags

    assert _tags("ui, شهادة،  سوريا;ui") == ("ui", "شهادة", "سوريا")  # Arabic comma too
    assert _tags("") == ()
    assert [_duration(s) for s in (21600, 1800, 86400, 90, None)] == ["6h", "30m", "1d",
                                                                       "90s", ""]


def test_a_post_record_is_shown_in_full_with_its_arabic_text_isolated():
    """The post section of a capture's page (a platform capture's normalized post), rendered
    by the real template in Arabic."""
    from isnad.web import i18n
    from isnad.web.render import environment

    post = {"platform": "telegram", "post_id": "107", "status": "ok",
            "author_handle": "witness_sy", "published": "2026-11-30T08:00:00Z"}
    record = {"id": "01a2", "state": "COMPLETE", "url": "https://t.me/witness_sy/107",
              "final_url": None, "case": None, "tags": [], "note": None, "operator": "x",
              "started_at": None, "ended_at": None, "stored": True, "storage": "stored: local",
              "package_sha256": "ab" * 32, "package_size": 10, "package_key": "k",
              "error": None, "reasons": [], "artifacts": [], "custody": [], "posts": [post]}
    full = {"text": "قصفٌ على الحيّ الشرقي\nفي الساعة الثامنة", "author_name": "شاهد عيان",
            "counts": {"views": 1200, "forwards": 3}, "notes": ["reactions: not shown"]}
    html = environment().get_template("capture.html").render(
        t=lambda key, **fields: i18n.translate("ar", key, **fields), lang="ar", dir="rtl",
        languages=("en", "ar"), lang_url=lambda code: "", csrf_field=lambda: "",
        principal=None, version="0", c=record, media=[], screenshot=False,
        proof={"signed": False, "timestamps": []}, time=lambda v: v or "",
        size=lambda n: str(n), ltr=lambda v: v, post=full)
    assert '<td dir="auto" class="post-text">قصفٌ على الحيّ الشرقي\nفي الساعة الثامنة</td>' in html
    assert '<bdi dir="auto">شاهد عيان</bdi>' in html
    assert "مشاهدات: 1200" in html and "forwards" not in html  # counts named in Arabic
    assert "reactions: not shown" in html  # what could not be read, said


# Two monitor runs, each waiting for its captures, within the CLI's 120 s: under the load of
# other tests' captures it ran out of time (seen with four xdist workers on 2 busy cores).
@pytest.mark.serial
def test_a_monitor_timeline_shows_its_posts_and_runs(browser, web_server, shots):
    from tests.platform_fixtures.feeds import FeedFixture

    with FeedFixture() as news:
        context, page = _sign_in(browser, web_server)
        page.goto("/monitors")
        page.fill("input[name=url]", news.url("/updates"))
        page.fill("input[name=every]", "1d")
        page.fill("input[name=recheck]", "7d")
        page.click("form[action='/monitors'] button[type=submit]")
        link = page.locator("table.monitors tr", has_text="/updates").locator("a").first
        monitor = link.get_attribute("href").rsplit("/", 1)[1]
        first = web_server.cli("monitor", "run", monitor, "--wait", "--json")
        assert first.returncode == 0, first.stderr
        second = web_server.cli("monitor", "run", monitor, "--wait", "--json")
        assert second.returncode == 0, second.stderr
        page.goto(f"/monitors/{monitor}")
        posts = page.locator("ol.posts > li")
        assert posts.count() == 3
        assert page.locator("table tr").filter(has_text="complete").count() == 2  # two runs
        page.screenshot(path=shots / "monitor-timeline-en.png", full_page=True)
        timeline = json.loads(web_server.cli("monitor", "timeline", monitor, "--json").stdout)
        for post in timeline["posts"]:  # each post with its capture, linked
            item = posts.filter(has_text=post["url"])
            assert item.locator(f"a[href='/captures/{post['captures'][0]['id']}']").count() == 1
        page.goto(f"/monitors/{monitor}?lang=ar")
        page.screenshot(path=shots / "monitor-timeline-ar.png", full_page=True)
        context.close()


def test_a_post_edit_and_a_deletion_are_on_the_timeline_in_words():
    """The timeline template (monitor.html) over a timeline as `monitors.timeline` shapes it:
    an edited post shows the fields changed, before and after; a deleted one, when and the
    capture that shows it; in Arabic, the post's text isolated."""
    from isnad.web import i18n
    from isnad.web.render import environment

    before, after = "جريحان", "ثلاثة جرحى"
    line = {"monitor": {"id": "01a2monitor", "url": "https://t.me/s/witness", "platform":
                        "telegram", "paused": False, "cron": None, "every": 3600,
                        "case": None, "tags": [], "note": None, "posts_seen": 2},
            "runs": [],
            "posts": [
                {"url": "https://t.me/witness/7", "state": "changed", "published": None,
                 "first_seen": "2026-11-30T08:00:00", "last_seen": "2026-11-30T09:00:00",
                 "captures": [{"id": "c-first", "role": "post", "state": "COMPLETE"},
                              {"id": "c-edit", "role": "edit-check", "state": "COMPLETE"}],
                 "changes": [{"at": "2026-11-30T09:00:00", "fields": ["text"],
                              "diff": {"text": {"before": before, "after": after}}}],
                 "disappeared": None},
                {"url": "https://t.me/witness/8", "state": "disappeared", "published": None,
                 "first_seen": "2026-11-30T08:00:00", "last_seen": "2026-11-30T08:00:00",
                 "captures": [], "changes": [],
                 "disappeared": {"at": "2026-11-30T10:00:00", "status": "deleted",
                                 "evidence_capture": "c-gone"}}]}
    html = environment().get_template("monitor.html").render(
        t=lambda key, **fields: i18n.translate("ar", key, **fields), lang="ar", dir="rtl",
        languages=("en", "ar"), lang_url=lambda code: "", csrf_field=lambda: "",
        principal=None, version="0", line=line, m=line["monitor"], time=lambda v: v or "",
        duration=lambda s: "1h", ltr=lambda v: f"\u2066{v}\u2069")
    assert f'<del dir="auto">{before}</del> → <ins dir="auto">{after}</ins>' in html
    assert "فحص التعديل" in html  # the edit-check capture, named in Arabic
    # The time keeps its order inside the Arabic sentence (a left-to-right isolate).
    assert "اختفى، رُصد في \u20662026-11-30T10:00:00\u2069 (UTC)" in html
    assert "(deleted)" in html
    assert 'href="/captures/c-gone"' in html
