"""Running captures: one Scrapy crawl per capture, one after another, on one reactor; what follows
each crawl runs beside the next one."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import version
from typing import Any, TypeVar

from scrapy.crawler import Crawler, CrawlerProcess
from scrapy.settings import Settings

from crawlers.job import CaptureJob
from crawlers.recording import BrowserRecorder
from crawlers.settings import ASYNCIO_REACTOR, crawl_settings
from crawlers.spiders.page import PageSpider
from crawlers.spiders.platform import PlatformSpider

TOOLS = ("scrapy", "scrapy-playwright", "playwright", "warcio", "wacz", "cdxj-indexer",
         "yt-dlp", "cryptography", "rfc3161-client", "httpx2")


# What dpkg knows of installed packages: rewritten (a new file renamed into place) by every
# install or removal.
DPKG_STATUS = "/var/lib/dpkg/status"
V = TypeVar("V")


def kept_while(state: Callable[[], object]) -> Callable[[Callable[[], dict[str, V]]],
                                                        Callable[[], dict[str, V]]]:
    """Keep what a function read for as long as ``state()`` says the same.

    A capture records what was installed when it ran (tool versions, font packages). Reading
    it costs a capture process a few hundredths of a CPU second each time; a warm process
    (isnad.app.zygote) reads it once and hands it to every process it forks, which reads it
    again only when an install or removal has changed what ``state()`` looks at."""
    def decorate(read: Callable[[], dict[str, V]]) -> Callable[[], dict[str, V]]:
        kept: list[tuple[object, dict[str, V]]] = []

        @functools.wraps(read)
        def current() -> dict[str, V]:
            now = state()
            if not kept or kept[0][0] != now:
                kept[:] = [(now, read())]
            return dict(kept[0][1])  # a copy: the kept one is never changed by a caller
        return current
    return decorate


def _stat(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path or ".")
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _import_path_state() -> tuple[object, ...]:
    # Installing, upgrading or removing a distribution adds or removes its *.dist-info
    # folder, which changes the modification time of the folder on sys.path holding it.
    return tuple((entry, _stat(entry)) for entry in sys.path)


@kept_while(_import_path_state)
def tool_versions() -> dict[str, str]:
    """Versions of the capture tools in use (Chromium's is added by the browser itself)."""
    return {name: version(name) for name in TOOLS}


@kept_while(lambda: _stat(DPKG_STATUS))
def font_packages() -> dict[str, str]:
    """Installed Debian font packages (name -> version): which scripts and emoji a screenshot
    or PDF can show depends on them. Empty where dpkg is not available."""
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f", "${db:Status-Abbrev} ${Package} ${Version}\n", "fonts-*"],
            capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    packages = {}
    for line in out.splitlines():
        status, _, rest = line.partition(" ")
        name, _, package_version = rest.strip().partition(" ")
        if status.startswith("ii") and name:  # installed, not merely known
            packages[name] = package_version
    return packages


def run_crawls(
    jobs: list[CaptureJob],
    on_done: Callable[[CaptureJob], None],
    *,
    follow_ups: Callable[[CaptureJob], list[CaptureJob]] | None = None,
    on_start: Callable[[CaptureJob], None] | None = None,
    executable_path: str,
    headless: bool = True,
    extra_args: list[str] | None = None,
    log_level: str = "ERROR",
    page_spider: Callable[[CaptureJob], tuple[type, dict[str, Any]] | None] | None = None,
) -> None:
    """Crawl each job in turn on this process's reactor.

    ``on_start(job)`` is called before each crawl and ``follow_ups(job)`` after it, on the
    reactor: the jobs it returns (the posts a channel listed) are crawled in the same run, since
    Twisted's reactor runs once per process. ``on_done(job)`` (media, proof, packaging,
    storage) runs in a thread beside the reactor, so the next crawl does not wait for it. A
    platform job is first read by the platform spider (plain HTTP), then captured as a page.
    An exception from a callback stops the crawls not yet started and is raised again here,
    once every ``on_done`` under way has ended. ``page_spider(job)``: the spider that reads a
    job's pages and its extra arguments (None: the page spider), e.g. a part of a site split.
    """
    from twisted.internet import defer, threads

    # Scrapy's records go to the handlers the entry point set up (isnad/logs.py); a root
    # handler of Scrapy's own would print each of them a second time, in another form.
    process = CrawlerProcess(
        Settings({"TWISTED_REACTOR": ASYNCIO_REACTOR, "LOG_ENABLED": log_level == "DEBUG",
                  "LOG_LEVEL": log_level, "LOG_INSTALL_ROOT_HANDLER": False}),
    )
    errors: list[BaseException] = []
    first = [True]  # the first crawler installs the reactor

    def crawler_for(spider: type, settings: dict) -> Crawler:
        crawler = Crawler(spider, Settings(settings), init_reactor=first[0])
        first[0] = False
        return crawler

    @defer.inlineCallbacks
    def crawl(job: CaptureJob):  # noqa: ANN202 - Twisted generator
        if job.platform is not None:
            crawler = crawler_for(PlatformSpider, crawl_settings(
                job, executable_path=executable_path, headless=headless,
                log_level=log_level, browser=False))
            try:
                yield process.crawl(crawler, job=job)
            except Exception as exc:  # noqa: BLE001 - the page capture still follows
                job.platform_error = f"platform crawl error: {exc}"
        spider, more = (page_spider(job) if page_spider else None) or (PageSpider, {})
        crawler = crawler_for(spider, crawl_settings(
            job, executable_path=executable_path, headless=headless, log_level=log_level,
            extra_args=extra_args or []))
        try:
            yield process.crawl(crawler, job=job, recorder=BrowserRecorder(job), **more)
        except Exception as exc:  # noqa: BLE001 - a crawl that breaks is a failed capture
            job.errors.append(f"crawler error: {exc}")

    @defer.inlineCallbacks
    def crawl_all():  # noqa: ANN202 - Twisted generator
        queue = list(jobs)
        finishing = []
        try:
            while queue and not errors:
                job = queue.pop(0)
                if on_start:
                    on_start(job)
                yield crawl(job)
                try:
                    queue.extend(follow_ups(job) if follow_ups else [])
                except BaseException as exc:  # noqa: BLE001 - re-raised after the reactor stops
                    errors.append(exc)
                done = threads.deferToThread(on_done, job)
                done.addErrback(lambda failure: errors.append(failure.value))
                finishing.append(done)
        except BaseException as exc:  # noqa: BLE001 - re-raised after the reactor stops
            # A callback that raises (on_start writing to a catalog that went away) would
            # otherwise end this generator with the reactor still running: a capture process
            # that never exits, its job RUNNING for ever.
            errors.append(exc)
        yield defer.DeferredList(finishing)
        from twisted.internet import reactor

        reactor.callLater(0, reactor.stop)

    crawl_all()
    process.start(stop_after_crawl=False)
    if errors:
        raise errors[0]


def import_tls_early() -> None:
    """Import Scrapy's TLS module at the top of a capture process's stack, before the reactor.

    It defines deprecated aliases, and each alias reads the source of every frame on the stack
    (inspect.stack()): imported by Scrapy's downloader deep inside the reactor, that cost 0.3-1 s
    of CPU per capture. Called by the capture processes' entry points only, never at module
    level: inspect.stack() also looks into every module loaded, and in a process whose lazy
    modules (isnad.app's) are being loaded, that loads them half-way (``isnad serve`` failed to
    start so)."""
    import scrapy.core.downloader.contextfactory  # noqa: F401
