"""One capture's pages read by several processes ("parts") at once: a site split.

The capture process that owns the capture (part 0) seeds the frontier in the catalog
(:mod:`archiver.frontier`) and starts parts 1..N-1 as processes of its own: forked from it
before its reactor, its threads and its browser start, and with no catalog connection open,
so a part starts at once, with everything a capture imports already imported (a fresh
interpreter, ``python -m isnad.app.sitesplit PARENT_PID`` with the part's orders on stdin as
JSON, is started instead when the process is not safe to fork, and says why in the log). Every
part reads the pages the frontier hands it with the same spider, guard and recording as a
crawl in one process, into a WARC file of its own in the capture's work folder
(``isnad-CAPTURE-partN-000.warc.gz``, its CDXJ lines beside it, made as it writes), and at the
end writes what it observed to ``partN.json`` beside it (with its WARC's digest, taken as it
was written: part 0 packages the parts' WARCs without reading them again for it). Part 0 ends
its crawl only when no page waits, none is taken and every other part has ended; it then
packages all the parts' WARCs as one capture (one index, one page list, one manifest, one
signature and timestamp).

A part that dies (a crash, ``kill -9``) is seen by part 0 as it watches the frontier: the pages
it took are queued again and read by the parts still running, and what it had recorded (a WARC
that never closed) is not packaged but kept in ``quarantine/CAPTURE-partN/``, the context
saying so. Pages no part could read (the capture's time ran out) are reasons of a PARTIAL
capture, by URL.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from w3lib.url import canonicalize_url

from archiver.catalog import Catalog
from archiver.frontier import Frontier, forget_connections
from archiver.hashing import FileDigest
from archiver.warcwriter import OPEN_SUFFIX, CaptureWarc
from crawlers.job import CaptureJob, CaptureLimits
from crawlers.netguard import HostGuard
from crawlers.spiders.split import SplitPageSpider
from isnad.config import Settings

log = logging.getLogger("isnad")

# What a part observed, sent back to part 0 in its report (CaptureJob's field names).
_SUMS = ("exchanges", "payload_bytes")
_LISTS = ("pages", "failed_requests", "refused_requests", "http_errors", "skipped_for_limits",
          "artifacts", "warnings")
_MAPS = ("servers", "tls", "protocols", "software")
STOP_GRACE = 30.0  # seconds a part is given to end after it is asked to stop
PR_SET_NAME = 15  # prctl: the process's name, as ps and top show it


def now_iso() -> str:
    """The time now as the parts' timelines record it (UTC, milliseconds)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def part_limits(limits: CaptureLimits) -> CaptureLimits:
    """Each part's limits: its share of the capture's byte and exchange caps, so that all the
    parts together record no more than one capture may."""
    n = max(1, limits.processes)
    return replace(limits, max_bytes=max(1, limits.max_bytes // n),
                   max_resources=max(1, limits.max_resources // n))


def split_wanted(limits: CaptureLimits, job: CaptureJob) -> bool:
    """Is this capture's crawl spread over several processes? Only a page crawl that follows
    links (a platform's reader reads one post or listing)."""
    return limits.processes > 1 and limits.depth > 0 and job.platform is None


class PartProcess(Protocol):
    """What part 0 needs of another part's process (``subprocess.Popen`` has it)."""

    pid: int
    returncode: int | None

    def poll(self) -> int | None: ...  # noqa: D102 - as subprocess.Popen
    def wait(self, timeout: float | None = None) -> int: ...  # noqa: D102
    def send_signal(self, sig: int) -> None: ...  # noqa: D102
    def kill(self) -> None: ...  # noqa: D102


class ForkedPart:
    """A part forked from part 0 (its child): the methods of ``subprocess.Popen`` used here.

    Its pid is not reused before part 0 reaps it (``waitpid``), so a signal sent while
    :meth:`poll` says it runs reaches that part and no other process."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """Its exit status (negative: the signal that ended it), or None while it runs."""
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: its status is lost, not assumed good
                self.returncode = 255
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for it to end; ``subprocess.TimeoutExpired`` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"part process {self.pid}", timeout or 0)
            time.sleep(0.02)
        return code

    def send_signal(self, sig: int) -> None:
        """Signal it, if it still runs."""
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL."""
        self.send_signal(signal.SIGKILL)


def fork_unsafe(catalog: Catalog, frontier: Frontier) -> str | None:
    """Why this process may not fork a part now, or None when it may.

    A fork copies the process as it stands: a thread would be copied half-way through what it
    was doing (a lock it held stays held for ever), a reactor would be shared by two
    processes, and a database connection used by both would corrupt its conversation (SQLite
    says never to carry one across a fork). So part 0 forks before its reactor and its threads
    start, after closing its idle connections to the catalog (they are opened again on
    demand), and makes sure none is left open."""
    if not hasattr(os, "fork"):
        return "this system cannot fork a process"
    if "twisted.internet.reactor" in sys.modules:
        return "a reactor is installed"
    if threading.active_count() != 1:
        return "threads run (" + ", ".join(t.name for t in threading.enumerate()) + ")"
    for engine in {id(e): e for e in (catalog.engine, frontier.engine)}.values():
        in_use = getattr(engine.pool, "checkedout", lambda: 0)()
        if in_use:
            return f"{in_use} catalog connection(s) are in use"
        engine.dispose()  # closes the idle ones: the next query opens a new one
    database = catalog.engine.url.database if catalog.engine.dialect.name == "sqlite" else None
    if database and database != ":memory:":
        held = _open_files(str(Path(database).resolve()))
        if held:
            return "the catalog database is still open (" + ", ".join(held) + ")"
    return None


def _preload() -> None:
    """Import, before the parts are forked, what a capture imports as its crawl starts and as
    it packages (the warm process's list, :func:`isnad.app.zygote.preload`): part 0 needs
    them too, so each part is spared them (about a CPU second each) for nothing."""
    from isnad.app.zygote import preload

    try:
        preload()
    except RuntimeError as exc:  # a thread or a reactor: fork_unsafe says so too
        log.debug("preloading before the parts start: %s", exc)


def _open_files(prefix: str) -> list[str]:
    """The files this process holds open whose path begins with ``prefix`` (Linux)."""
    held = []
    fds = Path("/proc/self/fd")
    if not fds.is_dir():
        return held
    for fd in fds.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # the listing's own descriptor, closed meanwhile
            continue
        if target.startswith(prefix):
            held.append(target)
    return held


@dataclass
class _Part:
    index: int
    process: PartProcess
    warc: Path
    report: Path
    start: str  # "fork" (from part 0) or "exec" (a fresh interpreter)
    ended: bool = False
    died: str | None = None  # why its recording is not in the package
    requeued: int = 0
    timeline: dict[str, str] = field(default_factory=dict)
    pages: int = 0


class SiteSplit:
    """Part 0's side of a split crawl: the other parts, the frontier, the merge."""

    def __init__(self, settings: Settings, catalog: Catalog, job: CaptureJob, work_dir: Path,
                 warcinfo: dict[str, str]) -> None:
        self.settings = settings
        self.catalog = catalog
        self.job = job
        self.work_dir = work_dir
        self.warcinfo = warcinfo
        self.frontier = Frontier(catalog, job.capture_id)
        self.parts: list[_Part] = []
        self.processes = job.limits.processes
        self.not_read: list[str] = []  # pages found but not read when the crawl stopped
        self.timeline: dict[str, str] = {}  # part 0's: when it was ready, read its pages
        self.own_pages = 0  # the pages part 0 read itself
        # What the parts' reports say of their WARCs (see archiver.capture.CaptureSession).
        self.digests: dict[Path, FileDigest] = {}
        self.indexes: dict[Path, Path] = {}

    def spider(self) -> tuple[type, dict[str, Any]]:
        """Part 0's spider and its arguments (for crawlers.run.run_crawls)."""
        return SplitPageSpider, {"frontier": self.frontier, "part": 0,
                                 "others_running": self.others_running,
                                 "timeline": self.timeline}

    def start(self) -> None:
        """Seed the frontier with the capture's URL (part 0 reads it) and start the others.

        Called as soon as the capture is registered, before part 0's own crawl starts: the
        parts get ready (their own reactor and crawler) while part 0 starts its own and reads
        the seed page. A part ends only when no page is queued or taken, so the seed, taken
        by part 0 before any part starts, keeps them waiting until links are found."""
        self.timeline["asked_at"] = now_iso()
        logs = self.settings.home / "logs" / "parts"
        logs.mkdir(parents=True, exist_ok=True)
        orders = []
        for index in range(1, self.processes):
            warc = self.work_dir / f"isnad-{self.job.capture_id}-part{index}-000.warc.gz"
            payload = {
                "settings": self.settings.model_dump(mode="json"),
                "capture_id": self.job.capture_id, "part": index, "url": self.job.url,
                "use_browser": self.job.use_browser, "limits": asdict(self.job.limits),
                "proxy": self.job.proxy, "redact_headers": list(self.job.redact_headers),
                "warc": str(warc), "warcinfo": {**self.warcinfo, "isnad-part": str(index)},
            }
            orders.append((index, warc, payload, logs / f"{self.job.capture_id}-part{index}.log"))
        # The seed row is written before any part starts: one that looked before it would
        # find nothing queued nor taken, and end.
        self.frontier.seed(canonicalize_url(self.job.url), self.job.url, 0)
        _preload()
        unsafe = fork_unsafe(self.catalog, self.frontier)
        if unsafe:
            log.warning("capture %s: the other parts start as new processes (slower: each "
                        "imports what a capture needs), not forked: %s",
                        self.job.capture_id, unsafe)
        for index, warc, payload, log_path in orders:
            process: PartProcess = (self._exec(payload, log_path) if unsafe
                                    else fork_part(payload, log_path))
            self.parts.append(_Part(index, process, warc, self.work_dir / f"part{index}.json",
                                    "exec" if unsafe else "fork"))

    def _exec(self, payload: dict[str, Any], log_path: Path) -> subprocess.Popen[bytes]:
        """A part in a fresh interpreter (``python -m isnad.app.sitesplit``)."""
        with open(log_path, "ab") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "isnad.app.sitesplit", str(os.getpid()),
                 str(payload["part"])],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err)
        # The URL as given (a password in it too) goes through the pipe, never argv.
        assert process.stdin is not None
        process.stdin.write(json.dumps(payload).encode("utf-8"))
        process.stdin.close()
        return process

    def others_running(self) -> bool:
        """Does another part still run? A part found dead gives its pages back first."""
        for part in self.parts:
            if not part.ended and part.process.poll() is not None:
                self._ended(part)
        return any(not part.ended for part in self.parts)

    def _ended(self, part: _Part) -> None:
        part.ended = True
        code = part.process.returncode
        if code == 0 and part.report.exists():
            return
        how = (f"signal {signal.Signals(-code).name}" if code is not None and code < 0
               else f"exit status {code}")
        part.requeued = self.frontier.release(part.index)
        kept = self._set_aside(part)
        part.died = (f"part {part.index} (process {part.process.pid}) ended with {how}: the "
                     f"{part.requeued} page(s) it had taken were queued again for the other "
                     "parts; what it recorded is not in the package"
                     + (f" (kept in {kept})" if kept else ""))
        log.warning("capture %s: %s", self.job.capture_id, part.died)

    def _set_aside(self, part: _Part) -> Path | None:
        """A dead part's files, kept in ``quarantine/CAPTURE-partN/`` (never deleted)."""
        index = part.warc.with_name(part.warc.name + ".cdxj")
        files = [f for f in (part.warc, part.warc.with_name(part.warc.name + OPEN_SUFFIX),
                             index, part.report) if f.exists()]
        if not files:
            return None
        kept = self.settings.home / "quarantine" / f"{self.job.capture_id}-part{part.index}"
        kept.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.move(f, kept / f.name)
        return kept

    def finish(self) -> list[Path]:
        """After part 0's crawl: the other parts ended (asked to stop if part 0's time ran
        out), their observations merged into part 0's job; the WARC files to package (their
        digests and CDXJ lines, as the parts made them, in :attr:`digests` and
        :attr:`indexes`)."""
        self.timeline["crawl_ended_at"] = now_iso()
        self.own_pages = len(self.job.pages)  # before the others' are merged in
        for part in self.parts:
            # A part that wrote its report is ending by itself: a signal now could only
            # make a finished recording look like a dead part's.
            if part.process.poll() is None and not part.report.exists():
                part.process.send_signal(signal.SIGTERM)  # Scrapy closes its crawl on it
        deadline = time.monotonic() + STOP_GRACE
        for part in self.parts:
            try:
                part.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                part.process.kill()
                part.process.wait()
        self.others_running()
        warcs = []
        for part in self.parts:
            if part.died:
                self.job.warnings.append(part.died)
                continue
            report = json.loads(part.report.read_text("utf-8"))
            part.report.unlink()
            part.timeline = report.get("timeline") or {}
            part.pages = len(report.get("pages") or [])
            self._merge(part.index, report)
            if report.get("warc"):
                warc = Path(report["warc"])
                warcs.append(warc)
                if report.get("warc_digest"):
                    self.digests[warc] = FileDigest(**report["warc_digest"])
                if report.get("warc_index"):
                    self.indexes[warc] = Path(report["warc_index"])
        left = self.not_read = self.frontier.left()
        if left:  # all of them in the context (site_split.pages_not_read)
            self.job.add_reason(
                f"{len(left)} page(s) in scope were found but not read before the capture "
                "stopped: " + ", ".join(left[:20]) + (" …" if len(left) > 20 else ""))
        return warcs

    def _merge(self, index: int, report: dict[str, Any]) -> None:
        job = self.job
        for name in _SUMS:
            setattr(job, name, getattr(job, name) + int(report.get(name) or 0))
        for name in _LISTS:
            getattr(job, name).extend(report.get(name) or [])
        for name in _MAPS:
            getattr(job, name).update(report.get(name) or {})
        for url in report.get("media_urls") or []:
            if url not in job.media_urls:
                job.media_urls.append(url)
        for agent, count in (report.get("user_agents_sent") or {}).items():
            job.user_agents_sent[agent] = job.user_agents_sent.get(agent, 0) + count
        for reason in [*(report.get("reasons") or []), *(report.get("errors") or [])]:
            job.add_reason(reason)
        if report.get("user_agent") and not job.user_agent:
            job.user_agent = report["user_agent"]
        # The page list in the order the pages were read, whichever part read them.
        job.pages.sort(key=lambda page: (page.get("ts") or "", page.get("depth") or 0))

    def context(self) -> dict[str, Any]:
        """The split as the capture context records it: each part's process, how it was
        started, its exit, the pages it read and when (``timeline``: UTC times at which
        part 0 asked for it, it was ready to crawl, read its first and last page)."""
        return {"processes": self.processes, "frontier": "catalog", "parts": [
            {"part": 0, "pid": os.getpid(),
             "pages": self.own_pages,
             "timeline": self.timeline},
            *({"part": p.index, "pid": p.process.pid, "start": p.start,
               "exit": p.process.returncode,
               **({"died": p.died, "pages_queued_again": p.requeued} if p.died else
                  {"pages": p.pages, "timeline": p.timeline})}
              for p in self.parts)],
            **({"pages_not_read": self.not_read} if self.not_read else {})}

    def forget(self) -> None:
        """Drop the frontier's rows once the capture is sealed (its pages are in the package
        and the page table)."""
        try:
            self.frontier.forget()
        except Exception as exc:  # noqa: BLE001 - a leftover row harms nothing
            log.warning("capture %s: frontier rows not deleted: %s", self.job.capture_id, exc)


def fork_part(payload: dict[str, Any], log_path: Path) -> ForkedPart:
    """Part ``payload["part"]`` forked from this process (see :func:`fork_unsafe` for when
    it may be).

    The part never returns into part 0's code: it runs its crawl and ends with
    ``os._exit``, so nothing of part 0's (its open WARC, its buffered output, its
    catalog objects) is flushed, closed or written by the part. Its stdin and stdout are
    /dev/null, its stderr its own log, as for a fresh part; it is in part 0's process
    group (the runner ends the group), and dies with part 0."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()  # what part 0 wrote so far is not written again by the part
        except (OSError, ValueError):
            pass
    err = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDWR)
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the part
        status = 1
        try:
            os.dup2(null, 0)
            os.dup2(null, 1)
            os.dup2(err, 2)
            os.close(null)
            os.close(err)
            _forked_part(parent, payload)
            status = 0
        except BaseException:  # noqa: BLE001 - said in its log; never raised into part 0's code
            try:
                traceback.print_exc()
            except Exception:  # noqa: BLE001, S110 - the exit status still says it
                pass
        finally:
            try:
                logging.shutdown()
                sys.stderr.flush()
            finally:
                os._exit(status)
    os.close(err)
    os.close(null)
    return ForkedPart(pid)


def _forked_part(parent: int, payload: dict[str, Any]) -> None:
    """In a part just forked from part 0: bound to part 0's life, named, then its crawl."""
    from isnad.app.child import _die_with_parent

    _die_with_parent(parent)
    _name_process(f"isnad-part{payload['part']}")
    # The frontier's engines copied from part 0 hold no connection (closed before the fork);
    # they are dropped unused all the same: this process opens its own.
    forget_connections()
    run_part(payload, start="fork")


def _name_process(name: str) -> None:
    """The name ps, top and psutil show for this process (Linux; 15 bytes at most)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the name stays part 0's
        pass


def run_part(payload: dict[str, Any], start: str = "exec") -> None:
    """Part N of a split crawl (in its own process): read what the frontier hands it, record it
    into its own WARC (its CDXJ lines beside it), and report what it observed, its WARC's
    digest and when it did what (its ``timeline``)."""
    from crawlers.run import run_crawls

    timeline = {"started_at": now_iso()}
    settings = Settings(**payload["settings"])
    from isnad.logs import configure_from_settings

    configure_from_settings(settings.logging, settings.home, service=True)
    part, proxy = int(payload["part"]), payload.get("proxy")
    limits = CaptureLimits(**payload["limits"])  # the part's share already (part_limits)
    warc = CaptureWarc(Path(payload["warc"]), payload["warcinfo"])
    job = CaptureJob(url=payload["url"], warc=warc, limits=limits,
                     use_browser=payload["use_browser"],
                     guard=HostGuard(settings.allow_private_networks, proxied=bool(proxy),
                                     private_origins=settings.private_origins),
                     capture_id=payload["capture_id"], proxy=proxy,
                     redact_headers=tuple(payload.get("redact_headers") or ()))
    frontier = Frontier(settings.catalog_url, job.capture_id)
    report_path = warc.path.with_name(f"part{part}.json")

    def report(job: CaptureJob) -> None:
        path = warc.close() if warc.records > 1 else None
        if path is None:  # only its warcinfo: this part read nothing
            warc.abandon().unlink(missing_ok=True)
        data = {name: getattr(job, name) for name in
                (*_SUMS, *_LISTS, *_MAPS, "media_urls", "user_agents_sent", "reasons",
                 "errors", "user_agent", "close_reason")}
        data["warc"] = str(path) if path else None
        # Taken as the file was written: part 0 packages it without reading it for them
        # (the package's own verification reads it, as every WARC, from the package).
        data["warc_digest"] = asdict(warc.digest) if path else None
        data["warc_index"] = str(warc.index_path) if path and warc.index_path else None
        if data["warc_index"] is None:  # no WARC, or one the package indexes itself
            warc.index.path.unlink(missing_ok=True)
        data["timeline"] = {**timeline, "report_at": now_iso()}
        tmp = report_path.with_name(report_path.name + ".tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False, default=str), "utf-8")
        os.replace(tmp, report_path)

    run_crawls([job], report, executable_path=settings.browser.executable_path,
               headless=settings.browser.headless, extra_args=settings.browser.extra_args,
               page_spider=lambda _job: (SplitPageSpider, {
                   "frontier": frontier, "part": part, "timeline": timeline}))


def main() -> None:
    """A part in a fresh interpreter: ``python -m isnad.app.sitesplit PARENT_PID``, its
    orders on stdin. Ends without tearing the interpreter down (its files are closed and its
    report written once the crawl returns): part 0 waits for it to end."""
    from crawlers.run import import_tls_early
    from isnad.app.child import _die_with_parent

    import_tls_early()
    _die_with_parent(int(sys.argv[1]))
    _name_process(f"isnad-part{sys.argv[2]}" if len(sys.argv) > 2 else "isnad-part")
    run_part(json.load(sys.stdin))
    logging.shutdown()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
