"""Capturing URLs in this process: from a URL and who asked, through the crawler, to a stored,
catalogued package.

This runs inside a capture process (see :mod:`isnad.app.child`): Twisted's reactor starts once
per process, so a long-lived worker never calls it itself. The crawl stays on the reactor; what
follows a crawl (media, timestamps, packaging, storage) runs in a thread beside it, so the next
crawl of the same run (a channel's posts) does not wait for it.
"""

from __future__ import annotations

import http.cookiejar
import ipaddress
import json
import logging
import platform
import shutil
import socket
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from archiver.archive import Archive
from archiver.capture import CaptureRequest, CaptureSession, PackagedCapture, begin_capture
from archiver.errors import CaptureFailed, CaptureRefused, IsnadError
from archiver.hashing import FileDigest
from archiver.redaction import redact_url
from archiver.states import CaptureState
from archiver.storage import LocalFolderStorage
from crawlers.feeds import feed_listing
from crawlers.job import CaptureJob, CaptureLimits, explain_error
from crawlers.media import MediaLimits, MediaOutcome, fetch_media
from crawlers.media_routes import complete_copies, page_media_evidence, plan_routes, settle
from crawlers.netguard import HostGuard, check_target, validate_url
from crawlers.platforms import MODULES as PLATFORM_MODULES
from crawlers.platforms import platform_for
from crawlers.platforms.base import Platform, Target
from crawlers.run import font_packages, run_crawls, tool_versions
from crawlers.settings import default_user_agent
from isnad import __version__
from isnad.app.sitesplit import SiteSplit, part_limits, split_wanted
from isnad.config import PlatformSettings, Settings

log = logging.getLogger("isnad")

COMPLETE, PARTIAL, FAILED = CaptureState.COMPLETE, CaptureState.PARTIAL, CaptureState.FAILED


@dataclass
class CaptureOptions:
    """How to capture, as an investigator asks for it (the options of a job)."""

    operator: str
    case_id: str | None = None
    tags: tuple[str, ...] = ()
    note: str | None = None
    use_browser: bool = True
    depth: int | None = None
    scope: str | None = None
    processes: int | None = None  # processes reading the crawl's pages (None: the setting)
    posts: int | None = None  # a channel URL: capture this many of its recent posts too
    # False: a channel's posts are listed (``posts`` of them) but not captured here; a
    # monitor queues each new one as its own job.
    follow_posts: bool = True
    # A feed monitor's listing ({"scope": ...}): a URL no platform reads is listed as a web
    # page or feed (crawlers.feeds), its items recorded as the listing's post refs.
    feed: dict[str, Any] | None = None


def capture_limits(settings: Settings, options: CaptureOptions) -> CaptureLimits:
    values = settings.capture.model_dump()
    if options.depth is not None:
        values["depth"] = options.depth
        if options.scope is None and options.depth > 0 and values["scope"] == "page":
            values["scope"] = "host"  # following links needs a scope wider than the page
    if options.scope is not None:
        values["scope"] = options.scope
    if options.processes is not None:
        values["processes"] = options.processes
    return CaptureLimits(**values)


class CaptureRun:
    """The captures of one job: its URL, and the posts a channel lists when asked for.

    ``on_capture(capture_id, url)`` is called as each capture is registered, ``on_stage``
    when one moves on (media, packaging), ``on_progress`` as the crawl goes, ``on_result`` as
    each ends. A malformed URL raises CaptureRefused before anything is recorded (a usage
    error); a well-formed one that fails (DNS, refused, private) is a FAILED capture.
    """

    def __init__(self, settings: Settings, options: CaptureOptions, archive: Archive, *,
                 origin: dict[str, Any] | None = None,
                 on_capture: Callable[[str, str], None] | None = None,
                 on_stage: Callable[[str, str], None] | None = None,
                 on_progress: Callable[[CaptureJob], None] | None = None,
                 on_result: Callable[[PackagedCapture], None] | None = None) -> None:
        self.settings = settings
        self.options = options
        self.archive = archive
        self.origin = origin
        self.on_capture = on_capture
        self.on_stage = on_stage or (lambda capture_id, stage: None)
        self.on_progress = on_progress
        self.on_result = on_result
        self.results: dict[str, PackagedCapture] = {}
        # What a platform reader found, by capture id: the listing (``post_refs``,
        # ``listing_notes``) or the ``post`` (a monitor reads them once the capture is done).
        self.observed: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.sessions: dict[int, CaptureSession] = {}
        self.splits: dict[int, SiteSplit] = {}  # crawls read by several processes, by job
        self._lock = threading.Lock()  # results arrive from the finishing threads
        self.limits = capture_limits(settings, options)
        self.snapshot = {**asdict(self.limits), "browser": options.use_browser,
                         "browser_extra_args": settings.browser.extra_args,
                         "allow_private_networks": settings.allow_private_networks,
                         "private_origins": settings.private_origins}
        # The settings say what was configured (None: the default agent); the limits carry the
        # agent every request of the capture sends, known before the first one (for warcinfo).
        self.limits.user_agent = (self.limits.user_agent
                                  or default_user_agent(settings.browser.executable_path))

    def run(self, urls: list[str]) -> list[PackagedCapture]:
        """Capture each URL as its own package; the outcome of each, in order."""
        for url in urls:
            validate_url(url)
        check_free_space(self.settings, self.archive)
        jobs = [job for url in urls if (job := self.new_job(url)) is not None]
        if jobs:
            run_crawls(jobs, self.finish, follow_ups=self.follow_ups,
                       on_start=lambda job: self.sessions[id(job)].mark_started(),
                       executable_path=self.settings.browser.executable_path,
                       headless=self.settings.browser.headless,
                       extra_args=self.settings.browser.extra_args,
                       page_spider=lambda job: split.spider()
                       if (split := self.splits.get(id(job))) else None)
        return [self.results[cid] for cid in self.order if cid in self.results]

    def new_job(self, url: str) -> CaptureJob | None:
        """Register a capture of ``url``; its crawl job, or None when refused at once."""
        settings, options = self.settings, self.options
        session = begin_capture(
            self.archive,
            CaptureRequest(url, options.operator, options.case_id, options.tags, options.note,
                           self.origin),
            self.snapshot,
        )
        self.order.append(session.capture_id)
        if self.on_capture:
            self.on_capture(session.capture_id, url)
        match = match_platform(settings, url)
        proxy = capture_proxy(settings, match)
        try:
            check_target(url, settings.allow_private_networks, proxied=bool(proxy),
                         private_origins=settings.private_origins)
        except (CaptureRefused, CaptureFailed) as exc:
            self._done(session.finish(state=FAILED, reasons=[str(exc)], context=_base_context(
                session, options, self.limits, self.snapshot), pages=[], error=str(exc)))
            return None
        warcinfo = _warcinfo(session, options, self.limits)
        warc = session.new_warc(warcinfo)
        job = CaptureJob(url=url, warc=warc, limits=self.limits, use_browser=options.use_browser,
                         guard=HostGuard(settings.allow_private_networks, proxied=bool(proxy),
                                         private_origins=settings.private_origins),
                         on_progress=self.on_progress, capture_id=session.capture_id,
                         proxy=proxy)
        _configure_platform(job, settings, options, match)
        if match is None and options.feed is not None:
            job.platform = feed_listing(url, options.feed.get("scope"))
            job.list_limit = options.posts or settings.platforms.posts
        if "@" in urlsplit(url).netloc and "authorization" not in {
                name.lower() for name in job.redact_headers}:
            # Credentials in the URL are sent as an Authorization header: kept out of the WARC.
            job.redact_headers = (*job.redact_headers, "Authorization")
        if split_wanted(self.limits, job):
            # Each part records its share of the byte and exchange caps (part 0 too).
            job.limits = part_limits(self.limits)
            split = self.splits[id(job)] = SiteSplit(settings, self.archive.catalog, job,
                                                     session.work_dir, warcinfo)
            split.start()  # its other parts start now: they take a while to be ready
        self.sessions[id(job)] = session
        return job

    def follow_ups(self, job: CaptureJob) -> list[CaptureJob]:
        """The posts a channel listed, each its own capture (on the reactor, before the
        channel's own capture is finished beside it)."""
        if not (job.post_refs and self.options.posts and self.options.follow_posts):
            return []
        platform_module = job.platform[0]
        return [follow for ref in job.post_refs[:self.options.posts]
                if (follow := self.new_job(platform_module.capture_url(ref["url"]))) is not None]

    def finish(self, job: CaptureJob) -> None:
        """Media, proof, package, storage and catalog for a crawled job (off the reactor)."""
        session = self.sessions[id(job)]
        split = self.splits.get(id(job))
        if split is not None:  # the other parts' observations and WARCs join part 0's
            session.part_warcs += split.finish()
            session.part_digests.update(split.digests)
            session.part_indexes.update(split.indexes)
        state, reasons, error = outcome(job)
        context = {**_base_context(session, self.options, self.limits, self.snapshot),
                   **_observed_context(job)}
        if split is not None:
            context["site_split"] = split.context()
        attachments: list[tuple[str, bytes]] = []
        if job.platform is not None:
            state, reasons = _platform_outcome(job, state, reasons, context, attachments)
        media_files: list[tuple[str, Path, str | FileDigest]] = []
        if state != FAILED and self.settings.media.enabled:
            self.on_stage(session.capture_id, "media")
            state, reasons, media_files = self._media(job, session, state, reasons, context)
        else:  # said, not silent: why the capture holds no media
            context["media"] = {"extraction": {"ran": False, "why": (
                "media.enabled is off" if state != FAILED else "the capture failed")}}
        self.on_stage(session.capture_id, "packaging")
        result = session.finish(
            state=state, reasons=reasons, context=context, pages=_pages(job), error=error,
            title=(job.pages[0].get("title") if job.pages else None) or job.url,
            software=f"Isnad {__version__}", media_files=media_files, attachments=attachments,
        )
        if split is not None:
            split.forget()
        if job.post is not None:
            self.archive.catalog.set_post(session.capture_id, job.post)
        if job.platform is not None:
            self.observed[session.capture_id] = {
                "post_refs": job.post_refs, "listing_notes": list(job.listing_notes or []),
                "listing_info": list(job.listing_info or []),
                "listing_error": job.platform_error, "post": job.post}
        self._done(result)

    def _done(self, result: PackagedCapture) -> None:
        with self._lock:
            self.results[result.capture_id] = result
        if self.on_result:
            self.on_result(result)

    def _media(self, job: CaptureJob, session: CaptureSession, state: str, reasons: list[str],
               context: dict[str, Any]
               ) -> tuple[str, list[str], list[tuple[str, Path, str | FileDigest]]]:
        """Fetch the media by every route; the verdict taken again with what came whole."""
        settings = self.settings
        seed = next((p for p in job.pages if p.get("depth") == 0), {})
        # The page route and the post's direct URLs; the rule on which failure counts
        # when media is reachable both ways is in crawlers/media_routes.py.
        # yt-dlp reads the page only when it showed media: on a plain page it would cost its
        # start-up and a second fetch of the page for nothing.
        evidence = page_media_evidence(job.url, loaded=job.media_urls, page_media=job.page_media,
                                       post=job.post, hosts=settings.media.hosts)
        page_ok = int(seed.get("status") or 0) < 400
        routes = plan_routes(
            job.url, page_ok=page_ok and bool(evidence),
            channel=job.platform is not None and job.platform[1].kind == "channel",
            loaded=job.media_urls, post=job.post,
            capture_url=job.platform[0].capture_url if job.platform else str)
        candidates = routes.candidates
        if candidates:
            extraction: dict[str, Any] = {"ran": True, "because": evidence}
            # yt-dlp's exchanges go into the capture's WARC, still open here.
            media = fetch_media(candidates, session.work_dir / "media",
                                _media_limits(settings, job),
                                allow_private_networks=settings.allow_private_networks,
                                private_origins=settings.private_origins,
                                warc=job.warc, redact=job.redact_headers)
        else:
            extraction = {"ran": False, "why": _no_media_why(evidence, page_ok, routes)}
            media = MediaOutcome()
        settled = settle(routes, media)
        covered = complete_copies(job.failed_requests, media)
        if covered:
            # A player's stream the media route got whole is not a missing part: the
            # capture's verdict is taken again without it (the stream stays recorded).
            before = outcome(job)[1]
            job.failed_requests[:] = [f for f in job.failed_requests if f["url"] not in covered]
            after = outcome(job)[1]
            reasons = [r for r in reasons if r not in before or r in after]
            reasons += [r for r in after if r not in reasons]
            settled.excused += covered.values()
            state = PARTIAL if reasons else COMPLETE
        context["media"] = {"extraction": extraction,
                            "items": media.items, "problems": settled.reasons,
                            "excused": settled.excused, "candidates": candidates,
                            "routes": routes.record(), "warnings": media.warnings,
                            "recording": media.recording_context()}
        # yt-dlp's request records count among the agents sent, as the crawl's do.
        for agent, count in media.recording.user_agents.items() if media.recording else ():
            job.user_agents_sent[agent] = job.user_agents_sent.get(agent, 0) + count
        context["browser"]["user_agents_sent"] = job.user_agents_sent
        context["warnings"] = [*job.warnings, *_agent_warnings(job)]
        if settled.reasons:
            state, reasons = PARTIAL, [*reasons, *settled.reasons]
        return state, reasons, [(f.name, f.path, f.taken or f.sha256) for f in media.files]


def _no_media_why(evidence: list[str], page_ok: bool, routes: Any) -> str:
    """Why yt-dlp was not started, in words (the context's media.extraction.why)."""
    if not evidence:
        return ("the page showed no media: no <video> or <audio> element, no video/audio "
                "response, no player embedded from a known media host, not on one "
                "(media.hosts), no media listed by a platform module")
    if not page_ok:
        return "the page did not load (an HTTP error): " + "; ".join(evidence)
    return "a channel's page is not read by yt-dlp (its posts are captured one by one)"


def resume_uploads(archive: Archive) -> None:
    """Upload what waits in the spool (nothing is lost to an outage): at a worker's start."""
    if archive.catalog.pending_copies():
        archive.sync()


def check_free_space(settings: Settings, archive: Archive) -> None:
    """Refuse to start a capture when the data folder, or a local storage target, has less free
    space than ``storage.min_free_bytes``: a capture that fills the disk dies half-written."""
    floor = settings.storage.min_free_bytes
    if not floor:
        return
    folders = [settings.home] + [Path(t.root) for t in archive.targets
                                 if isinstance(t, LocalFolderStorage)]
    for folder in folders:
        free = shutil.disk_usage(folder).free
        if free < floor:
            raise IsnadError(
                f"only {free:,} bytes free in {folder}, below storage.min_free_bytes "
                f"({floor:,}): free some space, or lower the setting "
                "(ISNAD_STORAGE__MIN_FREE_BYTES)")


def match_platform(settings: Settings, url: str) -> tuple[Platform, Target] | None:
    """The enabled platform module that reads ``url`` (on its configured base), or None."""
    names = [name for name in PLATFORM_MODULES if settings.platforms.get(name).enabled]
    return platform_for(
        url, {name: settings.platforms.get(name).base_url for name in names},
        set(PLATFORM_MODULES) - set(names),
        {name: session_header_names(settings.platforms.get(name)) for name in names})


def capture_proxy(settings: Settings, match: tuple[Platform, Target] | None) -> str | None:
    """The proxy of a capture: its platform's own, else the global one (or none)."""
    own = settings.platforms.get(match[0].name).proxy if match else None
    return own or settings.platforms.proxy


def _configure_platform(job: CaptureJob, settings: Settings, options: CaptureOptions,
                        match: tuple[Platform, Target] | None) -> None:
    """Apply a platform URL's module and its session (redacted from the WARC)."""
    if match is None:
        return
    platform, target = match
    own = settings.platforms.get(platform.name)
    job.platform = (platform, target)
    job.list_limit = options.posts or settings.platforms.posts
    if own.cookies_file or own.headers:
        job.browser_cookies = load_cookies(own.cookies_file) if own.cookies_file else []
        job.platform_headers = dict(own.headers)
        job.redact_headers = ("Cookie", "Authorization", "Set-Cookie",
                              *(name for name in own.headers))


def session_header_names(own: PlatformSettings) -> set[str]:
    """The headers a platform's configured session will send (names only, lower case)."""
    return {*(name.lower() for name in own.headers), *(["cookie"] if own.cookies_file else [])}


def _platform_outcome(job: CaptureJob, state: str, reasons: list[str], context: dict[str, Any],
                      attachments: list[tuple[str, bytes]]) -> tuple[str, list[str]]:
    platform, target = job.platform
    context["platform"] = {
        "name": platform.name, "kind": target.kind, "ids": target.ids,
        "base": platform.base or None, "error": job.platform_error,
        "logged_in": bool(job.redact_headers), "proxy": shown_proxy(job.proxy),
        "redacted_headers": list(job.redact_headers),
    }
    if job.platform_error:
        if state != FAILED:
            state = PARTIAL
        reasons = [*reasons, f"{platform.name} extractor failed: {job.platform_error}; "
                   "captured as a generic page only"]
    if job.post is not None:
        context["post"] = job.post
        attachments.append(("metadata/post.json", json.dumps(job.post, ensure_ascii=False,
                                                    indent=1).encode("utf-8")))
        if job.post["status"] != "ok":
            state = PARTIAL if state != FAILED else state
            reasons = [*reasons, f"the post is {job.post['status']}: "
                       + ("; ".join(job.post.get("notes") or []) or "as the platform shows")]
    if job.post_refs is not None:
        context["post_refs"] = job.post_refs
        # What the listing could not do as usual (a fallback, skipped weeks): in the record
        # and, as reasons, before the user; the listing may be thinner than it looks.
        context["listing_notes"] = job.listing_notes
        if job.listing_info:
            context["listing_info"] = job.listing_info
        if job.listing_notes:
            state = PARTIAL if state != FAILED else state
            reasons = [*reasons, *(f"the listing: {note}" for note in job.listing_notes)]
        attachments.append(("metadata/posts.json", json.dumps(job.post_refs, ensure_ascii=False,
                                                     indent=1).encode("utf-8")))
    return state, reasons


def shown_proxy(proxy: str | None) -> str | None:
    """The proxy as recorded in a capture: its password replaced (it is a secret)."""
    return redact_url(proxy) if proxy else None


def _media_limits(settings: Settings, job: CaptureJob) -> MediaLimits:
    values = settings.media.model_dump(exclude={"hosts"})  # for the decision, not yt-dlp
    if not values.get("proxy") and job.proxy:
        values["proxy"] = job.proxy
    values["user_agent"] = job.limits.user_agent  # yt-dlp sends the capture's agent too
    return MediaLimits(**values)


def load_cookies(path: Path) -> list[dict[str, Any]]:
    """A Netscape cookies.txt as Playwright cookies (each scoped to its own domain)."""
    jar = http.cookiejar.MozillaCookieJar()
    try:
        jar.load(str(path), ignore_discard=True, ignore_expires=True)
    except (OSError, http.cookiejar.LoadError) as exc:
        raise IsnadError(f"cannot read cookies file {path}: {exc}") from exc
    return [{"name": c.name, "value": c.value or "", "domain": c.domain, "path": c.path or "/",
             "secure": bool(c.secure), "httpOnly": False,
             **({"expires": float(c.expires)} if c.expires else {})} for c in jar]


def outcome(job: CaptureJob) -> tuple[str, list[str], str | None]:
    """COMPLETE, PARTIAL (with reasons) or FAILED (with the error), never a silent success."""
    reasons = list(job.reasons)
    seed_pages = [p for p in job.pages if p.get("depth") == 0]
    if not seed_pages:
        error = explain_error(job.errors[0]) if job.errors else "the page did not load"
        return FAILED, [error, *reasons], error
    seed_status = int(seed_pages[0].get("status") or 0)
    if seed_status >= 400:
        reasons.insert(0, f"the page answered HTTP {seed_status}")
    failed = [f for f in job.failed_requests if f["url"] != job.url]
    if failed:
        reasons.append(f"failed subresources: {len(failed)} request(s) did not complete")
    if job.refused_requests:
        reasons.append(
            f"{len(job.refused_requests)} request(s) refused by the SSRF guard (private "
            "addresses, names of this machine, names that do not resolve)"
        )
    return (PARTIAL if reasons else COMPLETE), reasons, None


def _pages(job: CaptureJob) -> list[dict[str, Any]]:
    return [
        {"id": f"{i:04d}", "url": p["url"], "ts": p["ts"], "title": p.get("title") or "",
         "status": p.get("status"), "depth": p.get("depth"),
         "requested_url": p.get("requested_url")}
        for i, p in enumerate(job.pages)
    ]


def _base_context(session: CaptureSession, options: CaptureOptions, limits: CaptureLimits,
                  settings_snapshot: dict[str, Any]) -> dict[str, Any]:
    return {
        "capture_id": session.capture_id,
        "requested_url": session.request.url,
        "requested_by": options.operator,
        "case": options.case_id,
        "tags": list(options.tags),
        "note": options.note,
        "software": {"isnad": __version__, "python": platform.python_version(),
                     **tool_versions()},
        # Screenshots and PDFs draw text with these (which scripts and emoji show).
        "font_packages": font_packages(),
        "settings": settings_snapshot,
        "browser": {
            "mode": "browser" if options.use_browser else "http",
            "viewport": {"width": limits.viewport_width, "height": limits.viewport_height},
        },
    }


def _observed_context(job: CaptureJob) -> dict[str, Any]:
    chain: list[dict[str, Any]] = []
    for hop in job.redirect_chain:
        chain.append(hop)
        if not 300 <= int(hop.get("status", 0)) < 400:
            break
    seed = next((p for p in job.pages if p.get("depth") == 0), None)
    return {
        "final_url": seed["url"] if seed else None,
        "redirect_chain": chain,
        # The list itself is pages/pages.jsonl in the package and the catalog's page table.
        "page_count": len(job.pages),
        "software": {"isnad": __version__, "python": platform.python_version(),
                     **tool_versions(), **job.software},
        "browser": {
            "mode": "browser" if job.use_browser else "http",
            # Sent on every request (each WARC request record shows it); the settings say
            # whether it was configured (user_agent) or Isnad's default (null).
            "user_agent": job.limits.user_agent,
            "user_agents_sent": job.user_agents_sent,
            **({"navigator_user_agent": job.user_agent} if job.use_browser else {}),
            "viewport": {"width": job.limits.viewport_width,
                         "height": job.limits.viewport_height},
        },
        "recording": {
            "method": "Playwright response capture (Chromium DevTools)" if job.use_browser
            else "Scrapy downloader middleware (raw bytes)",
            "bodies": "decoded by the browser; original framing headers kept as "
            "X-Orig-*" if job.use_browser else "as received on the wire",
        },
        # Behind a proxy, servers and WARC-IP-Address name the proxy's address.
        "network": {"proxy": shown_proxy(job.proxy)},
        "servers": job.servers,
        "tls": job.tls,
        "stats": {
            "exchanges": job.exchanges,
            "payload_bytes": job.payload_bytes,
            "failed_requests": job.failed_requests,
            "refused_requests": job.refused_requests,
            "http_errors": job.http_errors,
            "skipped_for_limits": job.skipped_for_limits,
            "close_reason": job.close_reason,
        },
        "warnings": [*job.warnings, *_agent_warnings(job)],
        "artifacts": job.artifacts,
    }


def _agent_warnings(job: CaptureJob) -> list[str]:
    """A request recorded with another agent than the capture's is said, never hidden."""
    agent = job.limits.user_agent
    warnings = [f"{count} request(s) were sent with another user agent than {agent!r}: "
                f"{other or '(none)'!r}"
                for other, count in job.user_agents_sent.items() if other != agent]
    if job.use_browser and job.user_agent and job.user_agent != agent:
        warnings.append(f"the page's scripts saw another user agent than {agent!r}: "
                        f"{job.user_agent!r}")
    return warnings


def _warcinfo(session: CaptureSession, options: CaptureOptions, limits: CaptureLimits
              ) -> dict[str, str]:
    info = {
        "software": f"Isnad {__version__}",
        "format": "WARC File Format 1.1",
        "conformsTo": "https://iipc.github.io/warc-specifications/specifications/"
        "warc-format/warc-1.1/",
        "isnad-capture-id": session.capture_id,
        "operator": options.operator,
        "robots": "ignore",
        "isPartOf": options.case_id or "",
        "description": f"capture of {session.request.url}",
    }
    # Heritrix's fields: the agent every request sends, and the machine that crawled.
    info["http-header-user-agent"] = limits.user_agent or ""
    info["hostname"] = socket.gethostname()
    ip = _local_ip()
    if ip:
        info["ip"] = ip
    return info


def _local_ip() -> str | None:
    """The address this machine sends from (its default route), or None when it has none.

    Connecting a UDP socket sends nothing; it only asks the OS which source address a packet
    to a documentation address (RFC 5737 / RFC 3849) would leave from. Behind a proxy, servers
    see the proxy's address instead (the context's ``network`` entry says which)."""
    for family, target in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.connect((target, 9))
                address = probe.getsockname()[0]
        except OSError:
            continue
        if not ipaddress.ip_address(address).is_unspecified:
            return address
    return None


