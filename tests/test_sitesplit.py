"""One capture's pages read by several processes (issue 17): the shared frontier, and end to
end crawls of the /split/ fixture site (43 pages at depth 2) by real processes."""

from __future__ import annotations

import collections
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import psutil
import pytest
from warcio.archiveiterator import ArchiveIterator

from archiver.catalog import Catalog
from archiver.frontier import Frontier
from archiver.states import CaptureState
from tests.fixture_site.server import SPLIT_SECTIONS
from tests.waczutil import datapackage, pages, records

TOOLS = sys.executable.rsplit("/", 1)[0]


def split_urls(site, prefix: str = "/split/") -> set[str]:
    """Every page of the /split/ site reached from its index at depth 2."""
    n = SPLIT_SECTIONS
    names = ["index.html", *(f"s{i}.html" for i in range(n)),
             *(f"s{i}-p{j}.html" for i in range(n) for j in range(n))]
    return {site.url(prefix + name) for name in names}


def response_counts(wacz: str | Path) -> collections.Counter:
    return collections.Counter(r.uri for r in records(wacz) if r.type == "response")


def warc_names(wacz: str | Path) -> list[str]:
    with zipfile.ZipFile(wacz) as z:
        return [n for n in z.namelist() if n.startswith("archive/")]


def check_with_independent_tools(wacz: str, folder: Path) -> None:
    run = subprocess.run([f"{TOOLS}/wacz", "validate", "-f", wacz], capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    folder.mkdir()
    with zipfile.ZipFile(wacz) as z:
        for name in warc_names(wacz):
            (folder / name.split("/")[-1]).write_bytes(z.read(name))
    check = subprocess.run([f"{TOOLS}/warcio", "check", "-v", *map(str, folder.iterdir())],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    assert "digest pass" in check.stdout


# -- the frontier (SQLite and PostgreSQL) ------------------------------------------------------

def test_each_url_is_handed_to_exactly_one_part_and_links_are_added_once(catalog_url):
    catalog = Catalog(catalog_url, upgrade=True)
    frontier = Frontier(catalog, "cap-1")
    frontier.seed("http://a/", "http://a/", 0)
    links = [(f"http://a/{i}", f"http://a/{i}") for i in range(120)]
    assert not frontier.add_pages(links, 1, max_pages=1000)
    # Found again by another part: added once.
    assert not frontier.add_pages(links[:50], 1, max_pages=1000)
    assert frontier.counts().pages == 121

    taken: dict[int, list[str]] = {}

    def part(index: int) -> None:
        own = Frontier(Catalog(catalog_url), "cap-1")  # a connection of its own, as a process
        got = taken.setdefault(index, [])
        while batch := own.claim(index, 7):
            got += [url for url, _ in batch]

    threads = [threading.Thread(target=part, args=(i,)) for i in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [url for urls in taken.values() for url in urls]
    assert sorted(everything) == sorted(url for _, url in links)  # each once, none lost
    assert frontier.counts().queued == 0

    # A requisite goes to the first part that asks for it.
    assert frontier.take("http://a/s.css", "http://a/s.css", 1, 1)
    assert not frontier.take("http://a/s.css", "http://a/s.css", 1, 2)

    # A part that dies gives back what it took: queued again, for the others.
    for url in taken[1][:3]:
        frontier.done(url, 1)
    assert frontier.release(1) == len(taken[1])
    assert frontier.counts().queued == len(taken[1])
    again = frontier.claim(2, 1000)
    assert sorted(url for url, _ in again) == sorted(taken[1])
    assert frontier.take("http://a/s.css", "http://a/s.css", 1, 2)  # its requisite too
    frontier.forget()
    assert frontier.counts().pages == 0


def test_the_page_cap_holds_across_parts(tmp_path):
    frontier = Frontier(Catalog(f"sqlite:///{tmp_path}/c.db"), "cap-2")
    frontier.seed("http://a/", "http://a/", 0)
    assert not frontier.add_pages([("http://a/1", "http://a/1")], 1, max_pages=4)
    assert frontier.add_pages([(f"http://a/{i}", f"http://a/{i}") for i in range(1, 9)], 1,
                              max_pages=4)
    assert frontier.counts().pages == 4


def test_a_page_is_done_only_once_its_links_are_queued(tmp_path):
    """Between a page marked done and its links added, another part would find nothing
    queued nor taken, and end: the page stays taken until its links are in."""
    from scrapy.http import HtmlResponse, Request

    from crawlers.job import CaptureJob, CaptureLimits
    from crawlers.netguard import HostGuard
    from crawlers.spiders.split import SplitPageSpider
    from isnad.config import CaptureSettings
    from tests.fixture_site.server import split_site_page

    seed = "http://127.0.0.1:9/split/index.html"
    limits = CaptureLimits(**{**CaptureSettings().model_dump(), "depth": 2, "scope": "host"})
    job = CaptureJob(url=seed, warc=None, limits=limits, use_browser=False,  # type: ignore[arg-type]
                     guard=HostGuard(True), capture_id="cap-3")
    frontier = Frontier(Catalog(f"sqlite:///{tmp_path}/c.db"), "cap-3")
    frontier.seed(seed, seed, 0)
    spider = SplitPageSpider(job, None, frontier, 0)  # type: ignore[arg-type]
    spider._in_flight = 1
    request = Request(seed, meta={"isnad_depth": 0, "isnad_key": seed})
    response = HtmlResponse(seed, body=split_site_page("index.html"), request=request)
    out = spider.parse(response)
    next(out)  # the page item: Scrapy may run another part of the crawl here
    assert frontier.counts().claimed == 1  # still taken: no part may conclude the crawl ended
    list(out)
    counts = frontier.counts()
    assert (counts.claimed, counts.queued, counts.done) == (0, SPLIT_SECTIONS, 1)
    assert spider._in_flight == 0


# -- end to end -------------------------------------------------------------------------------

@pytest.mark.e2e
def test_two_processes_crawl_a_site_into_one_package_each_page_once(isnad, site, tmp_path):
    # 2.5 s a page: part 1 starts (a few seconds on a loaded machine) while part 0 still has
    # most of the site to read.
    seed = site.url("/split/d2500/index.html")
    rec = isnad.capture("--no-browser", "--depth", "2", "--processes", "2", seed)
    assert rec["state"] == CaptureState.COMPLETE, rec
    wacz = rec["package_location"]
    names = warc_names(wacz)
    assert len(names) == 2 and any("-part1-" in n for n in names), names

    expected = split_urls(site, "/split/d2500/")
    counts = response_counts(wacz)
    assert {url: counts[url] for url in expected} == dict.fromkeys(expected, 1)
    # A stylesheet every page needs is fetched by one part only.
    assert counts[site.url("/static/site.css")] == 1
    listed = pages(wacz)
    assert sorted(p["url"] for p in listed) == sorted(expected)
    assert rec["page_count"] == len(expected) == 43

    ctx = datapackage(wacz)["isnad"]
    split = ctx["site_split"]
    assert split["processes"] == 2 and split["parts"][1]["exit"] == 0
    # Both parts read pages (each WARC holds page responses).
    by_warc = collections.Counter()
    with zipfile.ZipFile(wacz) as z:
        for name in names:
            part = "part1" if "-part1-" in name else "part0"
            for r in ArchiveIterator(io.BytesIO(z.read(name))):
                if r.rec_type == "response" and r.rec_headers.get_header(
                        "WARC-Target-URI") in expected:
                    by_warc[part] += 1
    assert by_warc["part0"] > 0 and by_warc["part1"] > 0, by_warc
    assert ctx["stats"]["exchanges"] == sum(counts.values())

    verify = isnad("verify", rec["id"])
    assert verify.code == 0, verify.stdout + verify.stderr
    check_with_independent_tools(wacz, tmp_path / "warcs")
    # The frontier is emptied once the capture is sealed.
    frontier = Frontier(Catalog(f"sqlite:///{isnad.home}/catalog.db"), rec["id"])
    assert frontier.counts().pages == 0


def _slow_split_capture(isnad, site) -> subprocess.Popen:  # noqa: ANN001 - fixtures
    """`isnad capture` of the slow split site (2.5 s a page) by 2 processes, under way."""
    return subprocess.Popen(
        isnad.command("capture", "--json", "--no-browser", "--depth", "2", "--processes", "2",
                      site.url("/split/d2500/index.html")), cwd=isnad.home, env=isnad.env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.e2e
@pytest.mark.serial  # timed against the parts' progress
def test_a_part_killed_mid_crawl_its_pages_are_read_by_the_other(isnad, site, tmp_path):
    proc = _slow_split_capture(isnad, site)
    try:
        killed = _kill_part_once_it_recorded_pages(proc.pid, isnad.home)
        out, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    rec = json.loads(out)[0]
    assert rec["state"] == CaptureState.COMPLETE, (rec, err)
    wacz = rec["package_location"]
    expected = split_urls(site, "/split/d2500/")
    counts = response_counts(wacz)
    # Every page once in the package: those the dead part had read were read again.
    assert {url: counts[url] for url in expected} == dict.fromkeys(expected, 1)
    assert sorted(p["url"] for p in pages(wacz)) == sorted(expected)
    assert not any("-part1-" in n for n in warc_names(wacz))  # its unfinished WARC is not
    ctx = datapackage(wacz)["isnad"]
    part = ctx["site_split"]["parts"][1]
    assert part["pid"] == killed and "SIGKILL" in part["died"]
    assert part["pages_queued_again"] >= 1
    assert any("SIGKILL" in w for w in ctx["warnings"])
    # What it recorded is kept, not packaged and not deleted.
    kept = isnad.home / "quarantine" / f"{rec['id']}-part1"
    assert any(kept.glob("*-part1-000.warc.gz.open")), list(kept.iterdir())
    assert isnad("verify", rec["id"]).code == 0
    check_with_independent_tools(wacz, tmp_path / "warcs")


def _kill_part_once_it_recorded_pages(capture_pid: int, home: Path) -> int:
    """Wait for part 1 to have recorded a few pages, then kill it (-9); its pid."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        parts = part_processes(capture_pid)
        opened = list((home / "work").rglob("*-part1-000.warc.gz.open")) if (
            home / "work").exists() else []
        if parts and opened and opened[0].stat().st_size > 4000:
            os.kill(parts[0].pid, signal.SIGKILL)
            return parts[0].pid
        time.sleep(0.1)
    raise AssertionError("part 1 never recorded anything")


def part_processes(capture_pid: int, index: int = 1) -> list[psutil.Process]:
    """Part ``index``'s process under the `isnad capture` process ``capture_pid``: the part
    names itself ``isnad-partN`` (a fork shows part 0's command line)."""
    found = []
    for process in psutil.Process(capture_pid).children(recursive=True):
        try:
            if process.name() == f"isnad-part{index}":
                found.append(process)
        except psutil.Error:  # ended meanwhile
            continue
    return found


@pytest.mark.e2e
def test_a_browser_crawl_split_over_two_processes_is_one_valid_package(isnad, site, tmp_path):
    seed = site.url("/split/d3000/index.html")
    rec = isnad.capture("--depth", "1", "--processes", "2", seed)
    assert rec["state"] == CaptureState.COMPLETE, rec
    wacz = rec["package_location"]
    expected = {seed, *(site.url(f"/split/d3000/s{i}.html") for i in range(SPLIT_SECTIONS))}
    counts = response_counts(wacz)
    assert {url: counts[url] for url in expected} == dict.fromkeys(expected, 1)
    assert sorted(p["url"] for p in pages(wacz)) == sorted(expected)
    # Each page's screenshot, once, in whichever part's WARC read it.
    shots = collections.Counter(r.uri.removeprefix("urn:fullPage:") for r in records(wacz)
                                if r.type == "resource" and r.uri.startswith("urn:fullPage:"))
    assert shots == dict.fromkeys(expected, 1)
    ctx = datapackage(wacz)["isnad"]
    assert ctx["site_split"]["parts"][1]["exit"] == 0
    assert isnad("verify", rec["id"]).code == 0
    check_with_independent_tools(wacz, tmp_path / "warcs")


def test_a_job_asking_for_too_many_processes_is_refused():
    from archiver.errors import CaptureRefused
    from isnad.app.jobs import JobSpec

    JobSpec(url="https://example.org/", operator="a", depth=2, processes=4).check()
    with pytest.raises(CaptureRefused, match="processes 500 is outside 1..32"):
        JobSpec(url="https://example.org/", operator="a", depth=2, processes=500).check()


@pytest.mark.e2e
@pytest.mark.serial  # timed against the parts' progress
def test_pages_not_read_when_time_runs_out_are_named(isnad, site):
    seed = site.url("/split/d2500/index.html")
    rec = isnad.capture("--no-browser", "--depth", "2", "--processes", "2", seed,
                        env={"ISNAD_CAPTURE__TOTAL_TIMEOUT": "6"})
    assert rec["state"] == CaptureState.PARTIAL, rec
    wacz = rec["package_location"]
    ctx = datapackage(wacz)["isnad"]
    not_read = ctx["site_split"]["pages_not_read"]
    assert not_read and any(r.startswith(f"{len(not_read)} page(s) in scope were found but "
                                         "not read") for r in rec["reasons"])
    read = {p["url"] for p in pages(wacz)}
    failed = {f["url"] for f in ctx["stats"]["failed_requests"]}
    # Every page found is read, failed (stopped while loading) or named: none is lost.
    accounted = read | failed | set(not_read)
    assert accounted <= split_urls(site, "/split/d2500/")
    assert not read & set(not_read)
    sections = [site.url(f"/split/d2500/s{i}.html") for i in range(SPLIT_SECTIONS)]
    assert {seed, *sections} <= accounted
    for i, section in enumerate(sections):
        if section in read:  # the links of a page read were all found
            assert {site.url(f"/split/d2500/s{i}-p{j}.html")
                    for j in range(SPLIT_SECTIONS)} <= accounted
    counts = response_counts(wacz)
    assert all(counts[url] == 1 for url in read)


# -- how the parts start, and how their WARCs are packaged -------------------------------------

FORK_PROBE = r'''
import json, os, sys, threading, time
from pathlib import Path
from archiver.catalog import Catalog
from archiver.frontier import Frontier
from isnad.app.sitesplit import fork_part, fork_unsafe

folder = Path(sys.argv[1])
catalog = Catalog(f"sqlite:///{folder}/catalog.db", upgrade=True)
frontier = Frontier(catalog, "cap-fork")
frontier.seed("http://a/", "http://a/", 0)


def held():
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if "catalog.db" in target:
            found.append(target)
    return found


out = {"open_before": held(), "safe": fork_unsafe(catalog, frontier),
       "catalog_open_after": held()}
with catalog.engine.connect() as held:  # a connection in use at fork time
    out["in_use"] = fork_unsafe(catalog, frontier)
stop = threading.Event()
thread = threading.Thread(target=stop.wait, name="busy-thread")
thread.start()
out["thread"] = fork_unsafe(catalog, frontier)
stop.set()
thread.join()
# A part whose orders cannot be read: it fails in its own process, its log says why, and it
# never comes back into this (part 0's) code.
part = fork_part({"part": 1}, folder / "part1.log")
print("part 0 goes on", os.getpid(), flush=True)
out["exit"] = part.wait(60)
out["pid"] = part.pid
print(json.dumps(out), flush=True)
'''


def test_a_part_is_forked_only_when_safe_and_a_failing_part_stays_in_its_own_process(tmp_path):
    run = subprocess.run([sys.executable, "-c", FORK_PROBE, str(tmp_path)],
                         capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[1])
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    # Printed by part 0 only: the forked part ended in its own process, whatever it raised.
    assert [line.split()[:4] for line in lines[:-1]] == [["part", "0", "goes", "on"]], lines
    out = json.loads(lines[-1])
    # Nothing running; the connections part 0 had open are closed before a fork.
    assert out["open_before"] and out["safe"] is None
    assert out["catalog_open_after"] == []
    assert out["in_use"] == "1 catalog connection(s) are in use"
    assert out["thread"].startswith("threads run (") and "busy-thread" in out["thread"]
    assert out["exit"] == 1
    log = (tmp_path / "part1.log").read_text()
    assert "Traceback" in log and "KeyError: 'settings'" in log


@pytest.mark.e2e
@pytest.mark.serial  # timed against the parts' progress
def test_a_part_is_forked_from_part_0_named_logged_and_dies_with_it(isnad, site):
    proc = _slow_split_capture(isnad, site)
    try:
        deadline = time.monotonic() + 120
        while not (found := part_processes(proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert found, "part 1 never started"
        part = found[0]
        part0 = part.parent()
        # A fork of part 0 (the capture process): no second interpreter, nothing imported again.
        assert part0.cmdline() == part.cmdline()
        assert "isnad.app.child" in " ".join(part0.cmdline())
        assert part0.name() != "isnad-part1"
        logs = list((isnad.home / "logs" / "parts").glob("*-part1.log"))
        assert len(logs) == 1
        # Part 0 killed with -9: the part goes with it (nothing left reading pages unseen).
        part0.kill()
        gone, alive = psutil.wait_procs([part], timeout=10)
        assert gone and not alive
    finally:
        proc.kill()
        proc.communicate(timeout=60)


EXEC_PROBE = r'''
import json, sys, threading
from pathlib import Path
from isnad.app.archive import open_archive, prepare_archive
from isnad.app.capture import CaptureOptions, CaptureRun
from isnad.config import Settings

settings = Settings(home=Path(sys.argv[1]), allow_private_networks=True)
archive = open_archive(settings)
prepare_archive(archive, settings)
stop = threading.Event()
threading.Thread(target=stop.wait, name="busy-thread", daemon=True).start()
run = CaptureRun(settings, CaptureOptions(operator="test", use_browser=False, depth=2,
                                          processes=2), archive)
result = run.run([sys.argv[2]])[0]
print(json.dumps({"id": result.capture_id, "state": result.state,
                  "package": str(result.location)}))
'''


@pytest.mark.e2e
def test_parts_start_as_fresh_processes_when_part_0_cannot_fork_safely(tmp_path, site):
    seed = site.url("/split/d300/index.html")
    run = subprocess.run([sys.executable, "-c", EXEC_PROBE, str(tmp_path / "home"), seed],
                         capture_output=True, text=True, timeout=240,
                         cwd=Path(__file__).resolve().parents[1])
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.splitlines()[-1])
    assert out["state"] == CaptureState.COMPLETE, out
    # Said in the log, with the reason.
    assert "not forked: threads run (" in run.stderr and "busy-thread" in run.stderr
    ctx = datapackage(out["package"])["isnad"]
    part = ctx["site_split"]["parts"][1]
    assert part["start"] == "exec" and part["exit"] == 0
    expected = split_urls(site, "/split/d300/")
    counts = response_counts(out["package"])
    assert {url: counts[url] for url in expected} == dict.fromkeys(expected, 1)


def test_the_parts_warcs_are_packaged_with_the_digests_and_index_lines_they_made(
        tmp_path, monkeypatch):
    """Part 0 neither hashes a part's WARC again nor indexes any WARC again: the part's
    writer did both as it wrote; the package's own verification still reads everything."""
    import archiver.capture as capture_module
    import archiver.package as package_module
    from archiver.archive import Archive
    from archiver.capture import CaptureRequest, begin_capture
    from archiver.proof import ProofOptions
    from archiver.storage import LocalFolderStorage
    from archiver.verify import verify_package_file
    from archiver.warcwriter import CaptureWarc

    archive = Archive(tmp_path / "home", Catalog(f"sqlite:///{tmp_path}/c.db", upgrade=True),
                      [LocalFolderStorage(tmp_path / "vault")], host="machine-a")
    url, other = "http://127.0.0.1:9/split/index.html", "http://127.0.0.1:9/split/s0.html"
    session = begin_capture(archive, CaptureRequest(url, "alice"), {})
    exchange = {"method": "GET", "request_headers": [], "request_body": None, "status": 200,
                "reason": "OK", "response_headers": [("Content-Type", "text/html")]}
    session.new_warc({"software": "test"}).write_exchange(
        url=url, body=b"<html><title>0</title></html>", **exchange)
    part = CaptureWarc(session.work_dir / f"isnad-{session.capture_id}-part1-000.warc.gz",
                       {"software": "test", "isnad-part": "1"})
    part.write_exchange(url=other, body=b"<html><title>1</title></html>", **exchange)
    path = part.close()
    lines = part.index_path
    assert lines is not None and lines.exists()
    session.part_warcs.append(path)
    session.part_digests[path] = part.digest
    session.part_indexes[path] = lines

    def no_rehash(p):  # noqa: ANN001, ANN202
        raise AssertionError(f"{p} read again for its hash")

    real_indexer = package_module._indexer

    def no_reindex(out, warcs, data):  # noqa: ANN001, ANN202
        assert warcs == [], f"WARCs indexed again: {warcs}"
        return real_indexer(out, warcs, data)

    monkeypatch.setattr(capture_module, "sha256_file", no_rehash)
    monkeypatch.setattr(package_module, "_indexer", no_reindex)
    result = session.finish(state=CaptureState.COMPLETE, reasons=[], context={"final_url": url},
                            pages=[{"url": url, "title": "0"}, {"url": other, "title": "1"}],
                            title="0")
    assert result.state == CaptureState.COMPLETE, result
    assert not lines.exists()  # packaged, then deleted with the WARC
    package = Path(result.location)
    check = verify_package_file(package, ProofOptions(allow_unsigned=True))  # no key here
    assert check.ok, check.mismatches
    with zipfile.ZipFile(package) as wacz:
        import gzip

        index = gzip.decompress(wacz.read("indexes/index.cdx.gz")).decode()
    assert f'"filename": "{path.name}"' in index and other.split("//")[1] in index


@pytest.mark.parametrize("parts", [4])
def test_the_page_cap_holds_when_parts_add_links_at_once(catalog_url, parts):
    frontier = Frontier(Catalog(catalog_url, upgrade=True), "cap-4")
    frontier.seed("http://a/", "http://a/", 0)
    capped: list[bool] = []

    def add(index: int) -> None:
        own = Frontier(Catalog(catalog_url), "cap-4")
        for round_ in range(5):  # overlapping links: each part finds some the others found
            links = [(f"http://a/{round_}/{i}", f"http://a/{round_}/{i}")
                     for i in range(index, index + 30)]
            capped.append(own.add_pages(links, 1, max_pages=100))

    threads = [threading.Thread(target=add, args=(i,)) for i in range(parts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert frontier.counts().pages == 100  # exact, on PostgreSQL too
    assert any(capped)
