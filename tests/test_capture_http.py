"""End to end: `isnad capture --no-browser` (plain Scrapy HTTP) with the same WARC recording."""

from __future__ import annotations

import gzip

import pytest

from archiver.states import CaptureState
from tests.fixture_site.server import gzip_page_plain_bytes
from tests.waczutil import header, pages, responses

pytestmark = pytest.mark.e2e


def test_gzip_response_kept_exactly_as_sent(isnad, site):
    rec = isnad.capture("--no-browser", site.url("/gzip.html"))
    assert rec["state"] == CaptureState.COMPLETE, rec
    page = responses(rec["package_location"])[site.url("/gzip.html")]
    assert header(page, "Content-Encoding") == "gzip"
    # warcio decodes Content-Encoding when reading; the stored bytes are the gzip stream.
    assert page.payload in (gzip_page_plain_bytes(),) or gzip.decompress(page.payload) == \
        gzip_page_plain_bytes()
    assert rec["context"]["browser"]["mode"] == "http"


def test_depth_and_host_scope(isnad, site):
    rec = isnad.capture("--no-browser", "--depth", "2", "--scope", "host",
                        site.url("/links.html"))
    assert rec["state"] == CaptureState.COMPLETE, rec
    urls = {p["url"] for p in pages(rec["package_location"])}
    assert urls == {site.url(p) for p in ("/links.html", "/crawl/a.html", "/crawl/b.html",
                                          "/crawl/c.html")}
    assert not any("localhost" in u for u in urls)  # another host: out of scope


def test_page_cap_makes_the_capture_partial(isnad, site):
    rec = isnad.capture("--no-browser", "--depth", "3", site.url("/generated/0.html"),
                        env={"ISNAD_CAPTURE__MAX_PAGES": "5"})
    assert rec["state"] == CaptureState.PARTIAL, rec
    assert len(pages(rec["package_location"])) == 5
    assert any("page cap" in r for r in rec["reasons"])


def test_redirects_recorded_in_http_mode(isnad, site):
    rec = isnad.capture("--no-browser", site.url("/redirect"))
    assert rec["final_url"] == site.url("/final.html")
    assert [h["status"] for h in rec["context"]["redirect_chain"]] == [302, 301, 200]


def test_a_capture_process_serves_no_remote_control(isnad, site, tmp_path):
    """Scrapy 2.19 starts in every crawl, unless told not to, an HTTP server on 127.0.0.1 that
    runs any Python code sent to it (its RemoteControl extension), announced by a job file with
    its token under the user's state folder. Nothing may change a capture in flight: a capture
    process serves none (and no longer pays for starting it: bench/scaleout_bench.py)."""
    state = tmp_path / "xdg-state"
    rec = isnad.capture("--no-browser", site.url("/"), env={"XDG_STATE_HOME": str(state)})
    assert rec["state"] == CaptureState.COMPLETE, rec
    assert not (state / "scrapy").exists(), sorted(state.rglob("*"))


def test_requisites_of_the_deepest_pages_are_recorded(isnad, site):
    """A page read at the last depth still gets its stylesheet and images: Scrapy's own depth
    limit counted a requisite one deeper than its page and dropped it unseen (the capture said
    COMPLETE without the images of its deepest pages)."""
    rec = isnad.capture("--no-browser", "--depth", "1", "--scope", "host",
                        site.url("/generated/0.html"))
    assert rec["state"] == CaptureState.COMPLETE, rec
    page_urls = {p["url"] for p in pages(rec["package_location"])}
    assert len(page_urls) == 6  # the seed and the 5 pages it links to
    recorded = set(responses(rec["package_location"]))
    for url in page_urls:
        n = url.rsplit("/", 1)[1].removesuffix(".html")
        assert site.url(f"/img/gen-{n}.png") in recorded, (url, sorted(recorded))
    assert site.url("/static/site.css") in recorded
