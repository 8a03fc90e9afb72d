"""End to end: `isnad capture` in Chromium against the fixture site on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys

import pytest

from archiver.states import CaptureState, CustodyAction
from tests.fixture_site.server import gzip_page_plain_bytes
from tests.waczutil import datapackage, header, pages, records, resource, responses

pytestmark = pytest.mark.e2e
TOOLS = sys.executable.rsplit("/", 1)[0]


def test_page_with_every_subresource_is_a_valid_verified_package(isnad, site):
    rec = isnad.capture(site.url("/"), "--case", "CASE-1", "--tag", "syria", "--tag", "t2",
                        "--note", "first look", "--operator", "analyst-7")
    assert rec["state"] == CaptureState.COMPLETE, rec
    assert rec["exit_code"] == 0
    wacz = rec["package_location"]
    got = responses(wacz)
    for path in ("/", "/static/site.css", "/static/site.js", "/img/logo.png",
                 "/static/font.woff2"):
        assert site.url(path) in got, f"{path} missing from the WARC"
        assert got[site.url(path)].http_status == "200"
    all_records = records(wacz)
    assert all_records[0].type == "warcinfo"
    requests = [r for r in all_records if r.type == "request"]
    response_ids = {r.headers["WARC-Record-ID"] for r in all_records if r.type == "response"}
    assert requests and all(r.headers["WARC-Concurrent-To"] in response_ids for r in requests)
    for r in all_records:
        if r.type in ("response", "request", "resource"):
            assert r.headers["WARC-Block-Digest"].startswith("sha256:")
        if r.type == "response":
            assert r.headers["WARC-Payload-Digest"].startswith("sha256:")
            assert r.headers["WARC-IP-Address"] == "127.0.0.1"
    assert resource(wacz, "urn:fullPage:").payload.startswith(b"\x89PNG\r\n\x1a\n")
    assert resource(wacz, "urn:pdf:").payload.startswith(b"%PDF-")
    dom = resource(wacz, "urn:dom:").payload.decode()
    assert 'data-ready="1"' in dom  # the page's script ran before the snapshot

    # Independent tools agree.
    subprocess.run([f"{TOOLS}/wacz", "validate", "-f", wacz], check=True, capture_output=True)
    with_warc = subprocess.run(
        [sys.executable, "-c", "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); "
         "[open(n.split('/')[-1], 'wb').write(z.read(n)) for n in z.namelist() "
         "if n.startswith('archive/')]", wacz], cwd=isnad.home, check=True)
    assert with_warc.returncode == 0
    warcs = [str(p) for p in isnad.home.glob("*.warc.gz")]
    check = subprocess.run([f"{TOOLS}/warcio", "check", "-v", *warcs], capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stdout
    assert "digest pass" in check.stdout

    # The capture context.
    ctx = datapackage(wacz)["isnad"]
    assert ctx["capture_id"] == rec["id"]
    assert ctx["requested_by"] == "analyst-7"
    assert ctx["case"] == "CASE-1" and ctx["tags"] == ["syria", "t2"]
    assert ctx["note"] == "first look"
    for tool in ("isnad", "scrapy", "playwright", "chromium", "warcio", "yt-dlp"):
        assert ctx["software"][tool], tool
    assert ctx["browser"]["user_agent"] and ctx["browser"]["viewport"]["width"] == 1366
    assert ctx["servers"] == {"127.0.0.1": "127.0.0.1"}
    assert ctx["state"] == CaptureState.COMPLETE and ctx["started_at"] < ctx["ended_at"]
    assert ctx["settings"]["page_timeout"] == 30.0

    # Catalog, custody, verification.
    shown = isnad("show", rec["id"], "--json").json()
    actions = [e["action"] for e in shown["custody"]]
    assert actions == [CustodyAction.REQUESTED, CustodyAction.CAPTURED, CustodyAction.PACKAGED,
                       CustodyAction.STORED, CustodyAction.VERIFIED]
    assert {a["kind"] for a in shown["artifacts"]} >= {"warc", "screenshot", "pdf", "dom"}
    listed = isnad("list", "--json").json()
    assert [c["id"] for c in listed] == [rec["id"]]
    verified = isnad("verify", rec["id"])
    assert verified.code == 0, verified.stdout
    assert isnad("verify", wacz).code == 0


def test_lazy_images_and_infinite_scroll_are_captured(isnad, site):
    rec = isnad.capture(site.url("/lazy.html"))
    assert rec["state"] == CaptureState.COMPLETE, rec
    got = responses(rec["package_location"])
    for name in ("lazy-1", "lazy-2", "lazy-3", "lazy-4", "more-1", "more-2", "more-3"):
        assert site.url(f"/img/{name}.png") in got, name


def test_page_built_by_javascript_from_json(isnad, site):
    rec = isnad.capture(site.url("/js-app.html"))
    assert rec["state"] == CaptureState.COMPLETE, rec
    got = responses(rec["package_location"])
    assert site.url("/api/items.json") in got
    assert site.url("/img/from-json.png") in got
    dom = resource(rec["package_location"], "urn:dom:").payload.decode("utf-8")
    assert dom.count("<li") == 3


def test_redirect_chain_is_recorded(isnad, site):
    rec = isnad.capture(site.url("/redirect"))
    assert rec["state"] == CaptureState.COMPLETE, rec
    assert rec["final_url"] == site.url("/final.html")
    chain = rec["context"]["redirect_chain"]
    assert [h["status"] for h in chain] == [302, 301, 200]
    assert chain[0]["location"].endswith("/redirect-2")
    got = responses(rec["package_location"])
    assert got[site.url("/redirect")].http_status == "302"
    assert pages(rec["package_location"])[0]["url"] == site.url("/final.html")


def test_gzip_body_stored_decoded_with_truthful_headers(isnad, site):
    # 127.0.0.1 as a known media host: yt-dlp reads the page too, through the recording proxy.
    rec = isnad.capture(site.url("/gzip.html"),
                        env={"ISNAD_MEDIA__HOSTS": '["127.0.0.1"]'})
    assert rec["state"] == CaptureState.COMPLETE, rec
    found = [r for r in records(rec["package_location"])
             if r.type == "response" and r.uri == site.url("/gzip.html")]
    page = found[0]  # the browser's: its body as Chromium handed it over, decoded
    assert page.payload == gzip_page_plain_bytes()
    assert header(page, "Content-Encoding") is None
    assert header(page, "X-Orig-Content-Encoding") == "gzip"
    assert header(page, "Content-Length") == str(len(gzip_page_plain_bytes()))
    # yt-dlp read the page again through the recording proxy: recorded as the wire carried it.
    assert len(found) == 2
    assert header(found[1], "Content-Encoding") == "gzip"
    assert header(found[1], "X-Orig-Content-Encoding") is None


def test_missing_subresource_is_recorded_and_reported(isnad, site):
    rec = isnad.capture(site.url("/missing-sub.html"))
    missing = responses(rec["package_location"])[site.url("/img/does-not-exist.png")]
    assert missing.http_status == "404"
    assert rec["state"] == CaptureState.COMPLETE  # the server's 404 is faithfully recorded...
    errors = rec["context"]["stats"]["http_errors"]
    assert {"url": site.url("/img/does-not-exist.png"), "status": 404} in errors  # ...and named


def test_arabic_rtl_page(isnad, site):
    rec = isnad.capture(site.url("/arabic.html"))
    assert rec["state"] == CaptureState.COMPLETE, rec
    assert pages(rec["package_location"])[0]["title"] == "أرشيف الأدلة"
    dom = resource(rec["package_location"], "urn:dom:").payload.decode("utf-8")
    assert 'dir="rtl"' in dom and "أرشيف الأدلة" in dom


def test_size_cap_makes_the_capture_partial(isnad, site):
    rec = isnad.capture(site.url("/big.html"), env={"ISNAD_CAPTURE__MAX_BYTES": "1000000"})
    assert rec["state"] == CaptureState.PARTIAL, rec
    assert rec["exit_code"] == 1
    assert any("size cap" in r for r in rec["reasons"])
    assert site.url("/blob/big.bin?size=3000000") not in responses(rec["package_location"])
    skipped = rec["context"]["stats"]["skipped_for_limits"]
    assert skipped and skipped[0]["limit"] == "max_bytes"


def test_unfinished_subresource_makes_the_capture_partial(isnad, site):
    rec = isnad.capture(site.url("/slow.html"), env={"ISNAD_CAPTURE__NETWORK_IDLE_TIMEOUT": "2",
                                                     "ISNAD_CAPTURE__PAGE_TIMEOUT": "5"})
    assert rec["state"] == CaptureState.PARTIAL, rec
    assert any(r.startswith("timeout") for r in rec["reasons"]), rec["reasons"]
    assert any("failed subresources" in r for r in rec["reasons"]), rec["reasons"]
    failed = rec["context"]["stats"]["failed_requests"]
    assert [f["url"] for f in failed] == [site.url("/slow?seconds=30")]
    assert site.url("/slow.html") in responses(rec["package_location"])


def test_each_capture_has_its_own_browser_context(isnad, site):
    """Cookies and cache of one capture never reach the next: each package is whole."""
    # One after the other (-c 1): the second starts where a shared browser would remember.
    run = isnad("capture", "--json", "-c", "1", site.url("/cookie.html"), site.url("/cookie.html"))
    assert run.code == 0, run.stderr
    first, second = run.json()
    for rec in (first, second):
        got = responses(rec["package_location"])
        assert site.url("/static/site.css") in got  # not served from a shared cache
        assert site.url("/img/logo.png") in got
    sent = {r.uri: r for r in records(second["package_location"]) if r.type == "request"}
    # The document request of the second capture carries no cookie from the first; its own
    # subresources do carry the cookie its own response set, as in any browser.
    assert header(sent[site.url("/cookie.html")], "Cookie") is None
    assert header(sent[site.url("/static/site.css")], "Cookie") == "session=evidence-42"
    assert first["id"] < second["id"]  # time-sortable ids
