"""One capture's pages read by several processes ("parts") at once: a site split.

The capture process that owns the capture (part 0) seeds the frontier in the catalog
(:mod:`archiver.frontier`) and starts parts 1..N-1 as processes of its own
(``python -m isnad.app.sitesplit PARENT_PID``, the part's orders on stdin as JSON). Every part
reads the pages the frontier hands it with the same spider, guard and recording as a crawl
in one process, into a WARC file of its own in the capture's work folder
(``isnad-CAPTURE-partN-000.warc.gz``), and at the end writes what it observed to
``partN.json`` beside it. Part 0 ends its crawl only when no page waits, none is taken and
every other part has ended; it then packages all the parts' WARCs as one capture (one index,
one page list, one manifest, one signature and timestamp).

A part that dies (a crash, ``kill -9``) is seen by part 0 as it watches the frontier: the pages
it took are queued again and read by the parts still running, and what it had recorded (a WARC
that never closed) is not packaged but kept in ``quarantine/CAPTURE-partN/``, the context
saying so. Pages no part could read (the capture's time ran out) are reasons of a PARTIAL
capture, by URL.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from w3lib.url import canonicalize_url

from archiver.catalog import Catalog
from archiver.frontier import Frontier
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


@dataclass
class _Part:
    index: int
    process: subprocess.Popen[bytes]
    warc: Path
    report: Path
    ended: bool = False
    died: str | None = None  # why its recording is not in the package
    requeued: int = 0


class SiteSplit:
    """Part 0's side of a split crawl: the other parts, the frontier, the merge."""

    def __init__(self, settings: Settings, catalog: Catalog, job: CaptureJob, work_dir: Path,
                 warcinfo: dict[str, str]) -> None:
        self.settings = settings
        self.job = job
        self.work_dir = work_dir
        self.warcinfo = warcinfo
        self.frontier = Frontier(catalog, job.capture_id)
        self.parts: list[_Part] = []
        self.processes = job.limits.processes
        self.not_read: list[str] = []  # pages found but not read when the crawl stopped

    def spider(self) -> tuple[type, dict[str, Any]]:
        """Part 0's spider and its arguments (for crawlers.run.run_crawls)."""
        return SplitPageSpider, {"frontier": self.frontier, "part": 0,
                                 "others_running": self.others_running}

    def start(self) -> None:
        """Seed the frontier with the capture's URL (part 0 reads it) and start the others.

        Called as soon as the capture is registered, before part 0's own crawl starts: a part
        takes seconds to start (Python, Scrapy), and the seed, taken by part 0, keeps it
        waiting (a part ends only when no page is queued or taken) until links are found."""
        self.frontier.seed(canonicalize_url(self.job.url), self.job.url, 0)
        logs = self.settings.home / "logs" / "parts"
        logs.mkdir(parents=True, exist_ok=True)
        for index in range(1, self.processes):
            warc = self.work_dir / f"isnad-{self.job.capture_id}-part{index}-000.warc.gz"
            payload = {
                "settings": self.settings.model_dump(mode="json"),
                "capture_id": self.job.capture_id, "part": index, "url": self.job.url,
                "use_browser": self.job.use_browser, "limits": asdict(self.job.limits),
                "proxy": self.job.proxy, "redact_headers": list(self.job.redact_headers),
                "warc": str(warc), "warcinfo": {**self.warcinfo, "isnad-part": str(index)},
            }
            with open(logs / f"{self.job.capture_id}-part{index}.log", "ab") as err:
                process = subprocess.Popen(
                    [sys.executable, "-m", "isnad.app.sitesplit", str(os.getpid())],
                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err)
            # The URL as given (a password in it too) goes through the pipe, never argv.
            assert process.stdin is not None
            process.stdin.write(json.dumps(payload).encode("utf-8"))
            process.stdin.close()
            self.parts.append(_Part(index, process, warc,
                                    self.work_dir / f"part{index}.json"))

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
        files = [f for f in (part.warc, part.warc.with_name(part.warc.name + OPEN_SUFFIX),
                             part.report) if f.exists()]
        if not files:
            return None
        kept = self.settings.home / "quarantine" / f"{self.job.capture_id}-part{part.index}"
        kept.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.move(f, kept / f.name)
        return kept

    def finish(self) -> list[Path]:
        """After part 0's crawl: the other parts ended (asked to stop if part 0's time ran
        out), their observations merged into part 0's job; the WARC files to package."""
        for part in self.parts:
            if part.process.poll() is None:
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
            self._merge(part.index, report)
            if report.get("warc"):
                warcs.append(Path(report["warc"]))
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
        """The split as the capture context records it."""
        return {"processes": self.processes, "frontier": "catalog", "parts": [
            {"part": 0, "pid": os.getpid()},
            *({"part": p.index, "pid": p.process.pid, "exit": p.process.returncode,
               **({"died": p.died, "pages_queued_again": p.requeued} if p.died else {})}
              for p in self.parts)],
            **({"pages_not_read": self.not_read} if self.not_read else {})}

    def forget(self) -> None:
        """Drop the frontier's rows once the capture is sealed (its pages are in the package
        and the page table)."""
        try:
            self.frontier.forget()
        except Exception as exc:  # noqa: BLE001 - a leftover row harms nothing
            log.warning("capture %s: frontier rows not deleted: %s", self.job.capture_id, exc)


def run_part(payload: dict[str, Any]) -> None:
    """Part N of a split crawl (in its own process): read what the frontier hands it, record it
    into its own WARC, and report what it observed."""
    from crawlers.run import run_crawls

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
        tmp = report_path.with_name(report_path.name + ".tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False, default=str), "utf-8")
        os.replace(tmp, report_path)

    run_crawls([job], report, executable_path=settings.browser.executable_path,
               headless=settings.browser.headless, extra_args=settings.browser.extra_args,
               page_spider=lambda _job: (SplitPageSpider, {"frontier": frontier, "part": part}))


def main() -> None:
    from crawlers.run import import_tls_early
    from isnad.app.child import _die_with_parent

    import_tls_early()
    _die_with_parent(int(sys.argv[1]))
    run_part(json.load(sys.stdin))


if __name__ == "__main__":
    main()
