"""Monitors of web pages and feeds: RSS 2.0, RSS 1.0, Atom, a sitemap index, the links of a
page within a scope. The reader against the news-site stand-in (its documents change under the
test's control), then the real CLI: `monitor add`, `monitor run --wait` (which runs the jobs
here, as a worker would): each new item captured once; a malformed, XXE or billion-laughs
feed a FAILED run with its reason; an item on a private address refused by the guard."""

from __future__ import annotations

import asyncio
import gzip
import json
import zipfile
from pathlib import Path

import pytest

from archiver.errors import IsnadError
from archiver.states import CaptureState, MonitorPostState
from crawlers.feeds import FEED, WEB, FeedError, FeedReader, Scope
from crawlers.platforms.base import Fetched
from tests.platform_fixtures import urllib_fetch
from tests.platform_fixtures.feeds import ELSEWHERE, FeedFixture
from tests.platform_fixtures.telegram import TelegramFixture
from tests.waczutil import responses

RSS = "application/rss+xml"


@pytest.fixture
def news():
    with FeedFixture() as server:
        yield server


def _read(url: str, scope: str | None = None, limit: int = 20):
    reader = FeedReader(scope)
    return asyncio.run(reader.list_posts(reader.match(url), urllib_fetch, limit))


def _xml_feed(items: str) -> bytes:
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}'
            "</channel></rss>").encode()


# -- the reader -------------------------------------------------------------------------------
def test_the_type_is_read_from_the_document_not_the_url(news):
    news.documents["/feed.xml"] = (200, "text/html; charset=utf-8", news.front().encode())
    news.documents["/page.html"] = (200, "application/octet-stream", news.rss().encode())
    news.documents["/index"] = (200, "application/xml", news.urlset(odd=True).encode())
    kinds = {path: _read(news.url(path)).info[0]
             for path in ("/updates", "/atom", "/rdf", "/sitemap", "/front", "/feed.xml",
                          "/page.html", "/index")}
    assert kinds == {
        "/updates": "an RSS 2.0 feed: 3 entries", "/atom": "an Atom feed: 3 entries",
        "/rdf": "an RSS 1.0 (RDF) feed: 3 entries",
        "/sitemap": "sitemap index: 3 child sitemaps, 2 read",
        "/front": "an HTML page: 4 links in scope (host)",
        "/feed.xml": "an HTML page: 5 links in scope (host)",  # /front is not itself here
        "/page.html": "an RSS 2.0 feed: 3 entries", "/index": "a sitemap: 2 URLs"}
    news.documents["/data"] = (200, "application/json", b'{"items": []}')
    with pytest.raises(FeedError, match=r"/data is not a feed, a sitemap or an HTML page "
                       r"\(content type application/json\)"):
        _read(news.url("/data"))


def test_entries_become_items_with_stable_ids_and_a_fingerprint_of_what_they_say(news):
    rss = _read(news.url("/updates"))
    assert [(r.platform, r.post_id, r.url, r.published) for r in rss.refs] == [
        (FEED, f"urn:isnad-test:news:{n}", news.url(f"/news/{n}"), f"2026-11-0{n}T08:00:00Z")
        for n in (3, 2, 1)]
    atom = _read(news.url("/atom"))  # relative links resolved; the entry's own id kept
    assert [(r.post_id, r.url) for r in atom.refs][0] == (
        "tag:isnad-test,2026:news-3", news.url("/news/3"))
    rdf = _read(news.url("/rdf"))  # rdf:about is the id
    assert rdf.refs[0].post_id == news.url("/news/3")
    before = [r.fingerprint for r in rss.refs]
    assert all(f and len(f) == 64 for f in before) and len(set(before)) == 3
    assert [r.fingerprint for r in _read(news.url("/updates")).refs] == before  # stable
    news.edit(2, "Situation report number 2, corrected: two wounded, not three.")
    after = [r.fingerprint for r in _read(news.url("/updates")).refs]
    assert after[0] == before[0] and after[2] == before[2] and after[1] != before[1]
    # No guid: the link, normalised (query order, fragment), is the id; no link: no item.
    news.documents["/bare"] = (200, RSS, _xml_feed(
        f"<item><title>a</title><link>{news.base}/news/9?b=2&amp;a=1#top</link></item>"
        "<item><title>only text</title><description>no link</description></item>"))
    # Newest first whatever order the feed keeps: the limit keeps the newest.
    news.documents["/oldest-first"] = (200, RSS, _xml_feed("".join(
        f"<item><guid>g{n}</guid><link>{news.base}/news/{n}</link><pubDate>{n:02d} Nov 2026 "
        "08:00:00 GMT</pubDate></item>" for n in (1, 2, 3))))
    assert [r.post_id for r in _read(news.url("/oldest-first"), limit=2).refs] == ["g3", "g2"]
    bare = _read(news.url("/bare"))
    assert [r.post_id for r in bare.refs] == [f"{news.base}/news/9?a=1&b=2"]
    assert bare.info[-1].startswith("1 entries without an http(s) link")


def test_a_sitemap_index_is_read_through_its_children_most_recent_first(news):
    news.publish(4, 5)
    listing = _read(news.url("/sitemap"), limit=3)
    assert [r.url for r in listing.refs] == [news.url(f"/news/{n}") for n in (5, 4, 3)]
    assert {r.platform for r in listing.refs} == {WEB}
    # The third child was not needed: 3 URLs were found before it.
    assert (listing.notes, listing.info) == ([], [
        "sitemap index: 3 child sitemaps, 2 read, 1 not read (the first 3 URLs were found "
        "before them, or past the first 20)", "5 URLs, the first 3 only (--posts)"])
    assert _read(news.url("/sitemap")).notes == [
        f"child sitemap {news.url('/sitemap-gone.xml')} could not be read: answered HTTP 404"]
    # A gzipped sitemap is unpacked; a gzip bomb is refused, not unpacked.
    news.documents["/s.xml.gz"] = (200, "application/x-gzip",
                                   gzip.compress(news.urlset(odd=False).encode()))
    assert [r.url for r in _read(news.url("/s.xml.gz")).refs] == [
        news.url("/news/4"), news.url("/news/2")]
    news.documents["/bomb.xml.gz"] = (200, "application/x-gzip",
                                      gzip.compress(b"<" + b" " * (60 * 1024 * 1024), 1))
    with pytest.raises(FeedError, match="unpacks to more than 52,428,800 bytes: refused"):
        _read(news.url("/bomb.xml.gz"))


def test_a_pages_links_within_the_scope_are_its_items(news):
    host = _read(news.url("/front"))
    assert [r.url for r in host.refs] == [news.url(p) for p in
                                          ("/about", "/news/3", "/news/2", "/news/1")]
    assert host.refs[1].title == "Report 3" and host.refs[1].fingerprint is None
    assert host.info == ["an HTML page: 4 links in scope (host)",
                         "2 links out of scope ignored"]  # mailto:, javascript: are no pages
    prefix = _read(news.url("/front"), news.url("/news/"), limit=2)
    assert [r.url for r in prefix.refs] == [news.url("/news/3"), news.url("/news/2")]
    assert prefix.info[1:] == ["3 links out of scope ignored",
                               "3 links in scope, the first 2 only (--posts)"]
    regex = _read(news.url("/front"), r"regex:/news/[13]$")
    assert [r.url for r in regex.refs] == [news.url("/news/3"), news.url("/news/1")]
    news.extra_links = [f"{ELSEWHERE}news/7"]  # a scope given applies to any host
    assert news.url("/news/7") not in [r.url for r in _read(news.url("/front"), "regex:/7$")
                                       .refs]
    assert [r.url for r in _read(news.url("/front"), "regex:/7$").refs] == [
        f"{ELSEWHERE}news/7"]
    assert not [r for r in news.requests if "news" in r["path"]]  # links are not visited


def test_scopes_are_checked_when_given():
    assert str(Scope.parse("host")) == "host"
    assert str(Scope.parse("https://example.org/news/")) == "https://example.org/news/"
    assert Scope.parse("regex:^https://a/").admits("https://a/b", ())
    for bad, words in (("regex:(", "not a regular expression"),
                       ("news", "write host, a URL prefix")):
        with pytest.raises(IsnadError, match=words):
            Scope.parse(bad)


XXE = (b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY secret SYSTEM "file:///etc/passwd">'
       b'<!ENTITY remote SYSTEM "{base}/secret">]><rss version="2.0"><channel><item>'
       b"<title>&secret;&remote;</title><link>{base}/news/1</link></item></channel></rss>")
LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;")
                                                 * 10) for i in range(1, 10))
          + b']><rss version="2.0"><channel><item><title>&lol9;</title></item></channel></rss>')


def test_entities_are_refused_never_expanded_or_fetched(news):
    news.documents["/xxe"] = (200, RSS, XXE.replace(b"{base}", news.base.encode()))
    news.documents["/laughs"] = (200, RSS, LAUGHS)
    for path in ("/xxe", "/laughs"):
        with pytest.raises(FeedError, match=rf"{path}: refused: the XML declares entities"):
            _read(news.url(path))
    assert not [r for r in news.requests if r["path"] == "/secret"]


def test_a_plain_fetch_answer_is_read_as_given():
    """The reader parses the bytes it is handed, and nothing else (no second fetch)."""
    calls = []

    async def fetch(url: str, headers: dict | None = None, **_: object) -> Fetched:
        calls.append(url)
        return Fetched(url, 200, {"content-type": RSS}, _xml_feed(
            "<item><guid>g1</guid><link>http://127.0.0.1:9/a</link></item>"))

    reader = FeedReader()
    listing = asyncio.run(reader.list_posts(reader.match("http://127.0.0.1:9/f"), fetch, 5))
    assert calls == ["http://127.0.0.1:9/f"]
    assert [(r.post_id, r.url) for r in listing.refs] == [("g1", "http://127.0.0.1:9/a")]


# -- through the CLI ----------------------------------------------------------------------------
def _add(isnad, url: str, *args: str) -> dict:
    added = isnad("monitor", "add", url, "--no-browser", "--case", "CASE-F", "--json", *args)
    assert added.code == 0, added
    return added.json()


def _run(isnad, monitor: dict, code: int = 0, env: dict[str, str] | None = None) -> dict:
    run = isnad("monitor", "run", monitor["id"], "--wait", "--json", env=env, timeout=400)
    assert run.code == code, run
    return run.json()


def _package(isnad, capture_id: str) -> Path:
    shown = isnad("show", capture_id, "--json").json()
    return Path(next(c["location"] for c in shown["copies"]))


def _assert_each_item_captured_once(isnad, monitor: dict) -> dict:
    timeline = isnad("monitor", "timeline", monitor["id"], "--json").json()
    for item in timeline["posts"]:
        assert [c["state"] for c in item["captures"]] == [CaptureState.COMPLETE], item
        assert item["state"] == MonitorPostState.CAPTURED, item
    return timeline


@pytest.mark.e2e
def test_add_takes_any_web_url_and_refuses_what_it_cannot_watch(isnad):
    with TelegramFixture() as telegram:
        env = {"ISNAD_PLATFORMS__TELEGRAM__BASE_URL": telegram.base}
        page = _add(isnad, "http://127.0.0.1:9/news/", "--scope", "regex:/news/\\d+$")
        assert (page["kind"], page["platform"], page["scope"]) == (
            "feed", None, "regex:/news/\\d+$")
        channel = isnad("monitor", "add", f"{telegram.base}/s/syriawitness", "--json", env=env)
        assert (channel.json()["kind"], channel.json()["scope"]) == ("channel", None)
        refusals = {
            "post": isnad("monitor", "add", f"{telegram.base}/s/syriawitness/101", env=env),
            "scope": isnad("monitor", "add", f"{telegram.base}/s/syriawitness", "--scope",
                           "host", env=env),
            "regex": isnad("monitor", "add", "http://127.0.0.1:9/", "--scope", "regex:(["),
            "ftp": isnad("monitor", "add", "ftp://127.0.0.1/feed"),
        }
    for name, words in (("post", "is a telegram post, not a channel or profile"),
                        ("scope", "--scope is for web pages and feeds"),
                        ("regex", "not a regular expression"),
                        ("ftp", "not an http(s) URL")):
        refused = refusals[name]
        assert refused.code == 2 and words in refused.stderr, (name, refused)
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert len(isnad("monitor", "list", "--json").json()) == 2
    assert "--scope" in isnad("monitor", "add", "--help").stdout


@pytest.mark.e2e
def test_an_rss_feed_run_captures_each_new_entry_once(isnad, news):
    monitor = _add(isnad, news.url("/updates"))
    first = _run(isnad, monitor)
    assert (first["state"], first["listed"], first["new_posts"]) == ("COMPLETE", 3, 3), first
    assert first["notes"] == ["an RSS 2.0 feed: 3 entries"]
    assert sorted(j["url"] for j in first["jobs"]) == [news.url(f"/news/{n}") for n in (1, 2, 3)]
    assert all(j["case"] == "CASE-F" and j["state"] == "done" for j in first["jobs"])
    # The items are what the recorded answer says: the feed's raw bytes are in the listing's
    # WARC, and its posts.json lists the entries read from them, with their fingerprints.
    package = _package(isnad, first["listing_capture"])
    recorded = responses(package)[news.url("/updates")].payload
    assert recorded == news.rss().encode()
    listed = json.loads(zipfile.ZipFile(package).read("metadata/posts.json"))
    assert [(r["platform"], r["post_id"]) for r in listed] == [
        (FEED, f"urn:isnad-test:news:{n}") for n in (3, 2, 1)]
    assert [r["fingerprint"] for r in listed] == [
        r.fingerprint for r in asyncio.run(FeedReader().list_posts(
            FeedReader().match(news.url("/updates")), _saved(recorded), 20)).refs]

    news.publish(4, 5)
    second = _run(isnad, monitor)
    assert (second["listed"], second["new_posts"]) == (5, 2), second
    assert sorted(j["url"] for j in second["jobs"]) == [news.url("/news/4"),
                                                        news.url("/news/5")]
    timeline = _assert_each_item_captured_once(isnad, monitor)
    assert sorted(p["post_id"] for p in timeline["posts"]) == [
        f"urn:isnad-test:news:{n}" for n in (1, 2, 3, 4, 5)]
    third = _run(isnad, monitor)
    assert (third["listed"], third["new_posts"], third["jobs"]) == (5, 0, [])


def _saved(body: bytes):
    async def fetch(url: str, headers: dict | None = None, **_: object) -> Fetched:
        return Fetched(url, 200, {"content-type": RSS}, body)
    return fetch


@pytest.mark.e2e
@pytest.mark.parametrize("path, kind", [("/atom", "an Atom feed"),
                                        ("/rdf", "an RSS 1.0 (RDF) feed")])
def test_atom_and_rss1_feeds_queue_only_new_entries(isnad, news, path, kind):
    news.published = [1, 2]
    monitor = _add(isnad, news.url(path))
    first = _run(isnad, monitor)
    assert (first["state"], first["new_posts"], first["notes"]) == (
        "COMPLETE", 2, [f"{kind}: 2 entries"]), first
    news.publish(3)
    second = _run(isnad, monitor)
    assert [j["url"] for j in second["jobs"]] == [news.url("/news/3")], second
    assert len(_assert_each_item_captured_once(isnad, monitor)["posts"]) == 3


@pytest.mark.e2e
def test_a_sitemap_index_monitor_captures_new_urls_once_and_says_what_it_could_not_read(
        isnad, news):
    monitor = _add(isnad, news.url("/sitemap"))
    first = _run(isnad, monitor, code=1)  # a child sitemap is gone: PARTIAL, said
    gone = f"child sitemap {news.url('/sitemap-gone.xml')} could not be read: answered HTTP 404"
    assert (first["state"], first["new_posts"]) == ("PARTIAL", 3), first
    assert first["notes"] == ["sitemap index: 3 child sitemaps, 2 read", gone]
    news.publish(4, 5)
    second = _run(isnad, monitor, code=1)
    assert sorted(j["url"] for j in second["jobs"]) == [news.url("/news/4"),
                                                        news.url("/news/5")]
    timeline = _assert_each_item_captured_once(isnad, monitor)
    assert {p["platform"] for p in timeline["posts"]} == {WEB}
    assert len(timeline["posts"]) == 5


@pytest.mark.e2e
def test_a_page_monitor_captures_new_links_in_scope_once(isnad, news):
    monitor = _add(isnad, news.url("/front"), "--scope", news.url("/news/"))
    first = _run(isnad, monitor)
    assert (first["state"], first["new_posts"]) == ("COMPLETE", 3), first
    assert first["notes"] == [f"an HTML page: 3 links in scope ({news.url('/news/')})",
                              "3 links out of scope ignored"]
    news.publish(4)
    news.extra_links = [f"{ELSEWHERE}news/8"]  # another host: out of scope, never visited
    second = _run(isnad, monitor)
    assert [j["url"] for j in second["jobs"]] == [news.url("/news/4")], second
    assert second["notes"][1] == "4 links out of scope ignored"
    assert len(_assert_each_item_captured_once(isnad, monitor)["posts"]) == 4
    assert not [r for r in news.requests if r["path"] == "/about"]  # out of scope: not captured


@pytest.mark.e2e
@pytest.mark.parametrize("document, reason", [
    (b'<?xml version="1.0"?><rss version="2.0"><channel><item><title>x</channel></rss>',
     "cannot be parsed as XML: mismatched tag: line 1, column"),
    (XXE, "refused: the XML declares entities or external references (EntitiesForbidden"),
    (LAUGHS, "refused: the XML declares entities or external references (EntitiesForbidden"),
], ids=["malformed", "xxe", "billion-laughs"])
def test_a_feed_that_cannot_be_read_fails_the_run_with_the_reason(isnad, news, document,
                                                                    reason):
    news.documents["/feed"] = (200, RSS, document.replace(b"{base}", news.base.encode()))
    monitor = _add(isnad, news.url("/feed"))
    run = _run(isnad, monitor, code=2)
    assert (run["state"], run["listed"], run["new_posts"], run["jobs"]) == (
        "FAILED", 0, 0, []), run
    (note,) = run["notes"]
    assert note.startswith(f"the page or feed could not be read: {news.url('/feed')}")
    assert reason in note, note
    assert isnad("monitor", "show", monitor["id"], "--json").json()["failures"] == 1
    assert not [r for r in news.requests if r["path"] in ("/secret", "/news/1")]
    # The document itself is kept: the listing capture recorded what was served.
    assert responses(_package(isnad, run["listing_capture"]))[news.url("/feed")].payload == \
        document.replace(b"{base}", news.base.encode())


@pytest.mark.e2e
def test_an_item_on_a_private_address_is_refused_by_the_guard_and_said(isnad, news):
    """The guard on (only the stand-in's origin allowed): entries pointing at a private
    address, another port of this machine or a name of this machine are refused before they
    are queued, without resolving anything, and said in the run's notes."""
    port = news.base.rsplit(":", 1)[1]
    refused = ["http://10.0.0.1/intranet", "http://127.0.0.1:1/admin",
               f"http://localhost:{port}/news/2"]
    news.documents["/mixed"] = (200, RSS, _xml_feed("".join(
        f"<item><link>{url}</link></item>" for url in [news.url("/news/1"), *refused])))
    env = {"ISNAD_ALLOW_PRIVATE_NETWORKS": "false",
           "ISNAD_PRIVATE_ORIGINS": json.dumps([f"127.0.0.1:{port}"])}
    monitor = _add(isnad, news.url("/mixed"))
    run = _run(isnad, monitor, code=1, env=env)
    assert (run["state"], run["listed"], run["new_posts"]) == ("PARTIAL", 4, 1), run
    assert [j["url"] for j in run["jobs"]] == [news.url("/news/1")]
    notes = run["notes"][1:]
    assert [n.split(" refused by the SSRF guard: ")[0] for n in notes] == [
        f"item {url}" for url in refused]
    assert "10.0.0.1" in notes[0] and "localhost is a name of this machine" in notes[2]
    assert isnad("monitor", "timeline", monitor["id"], "--json").json()["posts"][0]["url"] == \
        news.url("/news/1")


def test_items_are_guarded_without_resolving_any_name(tmp_path, monkeypatch):
    """An item's host name is not looked up when the run queues it (its own capture checks it
    again, resolving it then): only IP addresses and names of this machine are judged here."""
    import socket

    from isnad.app.feeds import guarded_items
    from isnad.config import Settings

    def no_lookup(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a name was resolved: {args}")

    monkeypatch.setattr(socket, "getaddrinfo", no_lookup)
    settings = Settings(home=tmp_path, allow_private_networks=False,
                        private_origins=["127.0.0.1:8080"])
    refs = [{"url": url} for url in (
        "https://news.example.org/a", "http://127.0.0.1:8080/b", "http://192.168.1.1/c",
        "http://[::1]:8080/d", "http://printer.localhost/e")]
    kept, notes = guarded_items(settings, refs)
    assert [r["url"] for r in kept] == ["https://news.example.org/a", "http://127.0.0.1:8080/b"]
    assert [n.split(" refused")[0] for n in notes] == [
        "item http://192.168.1.1/c", "item http://[::1]:8080/d", "item http://printer.localhost/e"]


ARC = (Path(__file__).resolve().parents[2] / "shared" / "import-samples"
       / "webarchive-discovery--IAH-20080430204825-00000-blackbook-truncated.arc.gz")


def test_a_real_rss_feed_and_page_of_2008_are_read():
    """archive.org's collection RSS and front page as a 2008 crawl recorded them (see
    ../shared/import-samples/SOURCES.md): every entry an item, Arabic titles untouched."""
    if not ARC.is_file():
        pytest.skip("import sample not present (../shared/import-samples)")
    from warcio.archiveiterator import ArchiveIterator

    with ARC.open("rb") as stream:
        answers = {r.rec_headers.get_header("WARC-Target-URI"): (
            r.http_headers.get_header("Content-Type"), r.content_stream().read())
            for r in ArchiveIterator(stream, arc2warc=True) if r.http_headers}

    def read(url: str, limit: int = 100):
        content_type, body = answers[url]

        async def fetch(asked: str, headers: dict | None = None, **_: object) -> Fetched:
            return Fetched(asked, 200, {"content-type": content_type}, body)

        reader = FeedReader()
        return asyncio.run(reader.list_posts(reader.match(url), fetch, limit))

    rss = read("http://www.archive.org/services/collection-rss.php")
    assert rss.info == ["an RSS 2.0 feed: 50 entries"] and rss.notes == []
    assert len({r.post_id for r in rss.refs}) == 50
    assert all(r.url.startswith("http://www.archive.org/details/") and r.published
               and r.fingerprint for r in rss.refs)
    assert (rss.refs[0].post_id, rss.refs[0].published) == (
        "http://www.archive.org/details/Arttechtonic5", "2008-04-30T20:44:20Z")
    assert rss.refs[1].title.startswith("۩۞۩ جبريل يسأل والنبى يجيب")
    page = read("http://www.archive.org/index.php", limit=10)
    assert page.info == ["an HTML page: 64 links in scope (host)",
                         "2 links out of scope ignored",
                         "64 links in scope, the first 10 only (--posts)"]
    assert all(r.url.startswith("http://www.archive.org/") for r in page.refs)
