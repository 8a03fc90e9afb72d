"""Wiring: from a URL and who asked, through the crawler, to a stored, catalogued package."""

from __future__ import annotations

import http.cookiejar
import ipaddress
import json
import logging
import platform
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from archiver.archive import Archive
from archiver.audit import ANCHORS_FOLDER, custody_checks
from archiver.capture import CaptureRequest, CaptureSession, PackagedCapture, begin_capture
from archiver.catalog import COMPLETE, FAILED, PARTIAL, STORED, CaptureRow, Catalog
from archiver.custody import canonical_json, head_sha256
from archiver.errors import CaptureFailed, CaptureRefused, IsnadError, NotFound, StorageError
from archiver.hashing import sha256_bytes, sha256_stream
from archiver.proof import (
    LATE,
    PENDING,
    ProofOptions,
    Prover,
    check_late_token,
    pending_reasons_settled,
)
from archiver.redaction import redact_url
from archiver.signing import KEY_FILE, SigningKey, init_keys, load_key, public_fingerprint
from archiver.storage import LocalFolderStorage, Storage, open_storage
from archiver.timestamps import TSA, TimestampError, request_token, token_info
from archiver.verify import VerificationReport, verify_custody, verify_package
from crawlers.job import CaptureJob, CaptureLimits, explain_error
from crawlers.media import MediaLimits, fetch_media
from crawlers.media_routes import complete_copies, plan_routes, settle
from crawlers.netguard import HostGuard, check_target, validate_url
from crawlers.platforms import MODULES as PLATFORM_MODULES
from crawlers.platforms import platform_for
from crawlers.platforms.base import Platform, Target
from crawlers.run import font_packages, run_crawls, tool_versions
from crawlers.settings import default_user_agent
from isnad import __version__
from isnad.config import PlatformSettings, Settings

log = logging.getLogger("isnad")


def open_archive(settings: Settings, *, recover: bool = True, queue_age: float = 60.0
                 ) -> Archive:
    """The catalog and storage targets named by the settings.

    Interrupted captures are settled first (FAILED, files kept aside).
    """
    settings.home.mkdir(parents=True, exist_ok=True)
    targets = [open_storage(t.url, name=t.name, **t.options())
               for t in settings.storage_targets()]
    archive = Archive(settings.home, Catalog(settings.catalog_url), targets,
                      retries=settings.storage.retries, backoff=settings.storage.backoff)
    archive.prover_factory = lambda: Prover(signing_key(settings, create=True),
                                            configured_tsas(settings),
                                            software=f"Isnad {__version__}",
                                            version=__version__)
    archive.proof_options = proof_options(settings)
    # Custody heads are signed with the same key (never created here: a capture creates it).
    archive.use_head_key(lambda: signing_key(settings))
    if recover:
        archive.recover_interrupted()
        archive.record_queued_events(queue_age)
    return archive


def configured_tsas(settings: Settings) -> list[TSA]:
    return [TSA(t.name, t.url, t.ca_file, t.certs_file, t.timeout)
            for t in settings.timestamps.tsa]


def signing_key(settings: Settings, *, create: bool = False) -> SigningKey | None:
    """The signing key; with ``create`` (and auto_create) made on first use."""
    if not settings.signing.enabled:
        return None
    folder = settings.key_dir
    if not (folder / KEY_FILE).exists() and create and settings.signing.auto_create:
        key = init_keys(folder)
        log.warning("created a signing key at %s (fingerprint %s); protect it with "
                    "`isnad keys init --passphrase` if this machine is shared",
                    key.path, key.fingerprint)
        return key
    return load_key(folder, settings.signing_passphrase())


def proof_options(settings: Settings) -> ProofOptions:
    trusted = set(settings.signing.trusted_keys)
    ours = public_fingerprint(settings.key_dir) if settings.signing.enabled else None
    if ours:
        trusted.add(ours)
    return ProofOptions.from_tsas(configured_tsas(settings), trusted or None,
                                  settings.timestamps.max_delay_minutes)


@dataclass
class CaptureOptions:
    operator: str
    case_id: str | None = None
    tags: tuple[str, ...] = ()
    note: str | None = None
    use_browser: bool = True
    depth: int | None = None
    scope: str | None = None
    posts: int | None = None  # a channel URL: capture this many of its recent posts too


def capture_limits(settings: Settings, options: CaptureOptions) -> CaptureLimits:
    values = settings.capture.model_dump()
    if options.depth is not None:
        values["depth"] = options.depth
        if options.scope is None and options.depth > 0 and values["scope"] == "page":
            values["scope"] = "host"  # following links needs a scope wider than the page
    if options.scope is not None:
        values["scope"] = options.scope
    return CaptureLimits(**values)


def capture(
    settings: Settings,
    urls: list[str],
    options: CaptureOptions,
    *,
    on_progress: Callable[[CaptureJob], None] | None = None,
    on_result: Callable[[PackagedCapture], None] | None = None,
    archive: Archive | None = None,
) -> list[PackagedCapture]:
    """Capture each URL as its own package; return the outcome of each, in order.

    A malformed URL raises CaptureRefused before anything is recorded (a usage error); a
    well-formed one that fails (DNS, refused, private) is recorded as a FAILED capture.
    """
    for url in urls:
        validate_url(url)
    archive = archive or open_archive(settings)
    check_free_space(settings, archive)
    # The key is opened before anything is crawled: a locked or exposed key stops here.
    key = signing_key(settings, create=True)
    archive.use_head_key(lambda: key)
    archive.prover_factory = lambda: Prover(key, configured_tsas(settings),
                                            software=f"Isnad {__version__}",
                                            version=__version__)
    if archive.catalog.pending_copies():
        # Every worker resumes pending uploads at start (nothing is lost to an outage).
        archive.sync()
    limits = capture_limits(settings, options)
    settings_snapshot = {**asdict(limits), "browser": options.use_browser,
                         "browser_extra_args": settings.browser.extra_args,
                         "allow_private_networks": settings.allow_private_networks,
                         "private_origins": settings.private_origins}
    # The settings say what was configured (None: the default agent); the limits carry the
    # agent every request of the capture sends, known before the first one (for warcinfo).
    limits.user_agent = limits.user_agent or default_user_agent(settings.browser.executable_path)
    results: dict[str, PackagedCapture] = {}
    jobs: list[CaptureJob] = []
    sessions: dict[int, CaptureSession] = {}
    order: list[str] = []

    def new_job(url: str) -> CaptureJob | None:
        """Register a capture of ``url``; its crawl job, or None when refused at once."""
        session = begin_capture(
            archive,
            CaptureRequest(url, options.operator, options.case_id, options.tags, options.note),
            settings_snapshot,
        )
        order.append(session.capture_id)
        match = match_platform(settings, url)
        proxy = capture_proxy(settings, match)
        try:
            check_target(url, settings.allow_private_networks, proxied=bool(proxy),
                         private_origins=settings.private_origins)
        except (CaptureRefused, CaptureFailed) as exc:
            result = session.finish(state=FAILED, reasons=[str(exc)], context=_base_context(
                session, options, limits, settings_snapshot), pages=[], error=str(exc))
            results[session.capture_id] = result
            if on_result:
                on_result(result)
            return None
        warc = session.new_warc(_warcinfo(session, options, limits))
        job = CaptureJob(url=url, warc=warc, limits=limits, use_browser=options.use_browser,
                         guard=HostGuard(settings.allow_private_networks, proxied=bool(proxy),
                                         private_origins=settings.private_origins),
                         on_progress=on_progress, capture_id=session.capture_id, proxy=proxy)
        _configure_platform(job, settings, options, match)
        if "@" in urlsplit(url).netloc and "authorization" not in {
                name.lower() for name in job.redact_headers}:
            # Credentials in the URL are sent as an Authorization header: kept out of the WARC.
            job.redact_headers = (*job.redact_headers, "Authorization")
        sessions[id(job)] = session
        return job

    for url in urls:
        job = new_job(url)
        if job is not None:
            jobs.append(job)

    def finished(job: CaptureJob) -> list[CaptureJob]:
        session = sessions[id(job)]
        state, reasons, error = outcome(job)
        context = {**_base_context(session, options, limits, settings_snapshot),
                   **_observed_context(job)}
        attachments: list[tuple[str, bytes]] = []
        if job.platform is not None:
            state, reasons = _platform_outcome(job, state, reasons, context, attachments)
        media_files: list[tuple[str, Path]] = []
        if state != FAILED and settings.media.enabled:
            seed = next((p for p in job.pages if p.get("depth") == 0), {})
            # The page route and the post's direct URLs; the rule on which failure counts
            # when media is reachable both ways is in crawlers/media_routes.py.
            routes = plan_routes(
                job.url, page_ok=int(seed.get("status") or 0) < 400,
                channel=job.platform is not None and job.platform[1].kind == "channel",
                loaded=job.media_urls, post=job.post,
                capture_url=job.platform[0].capture_url if job.platform else str)
            candidates = routes.candidates
            # yt-dlp's exchanges go into the capture's WARC, still open here.
            media = fetch_media(candidates, session.work_dir / "media",
                                _media_limits(settings, job),
                                allow_private_networks=settings.allow_private_networks,
                                private_origins=settings.private_origins,
                                warc=job.warc, redact=job.redact_headers)
            media_files = [(f.name, f.path) for f in media.files]
            settled = settle(routes, media)
            covered = complete_copies(job.failed_requests, media)
            if covered:
                # A player's stream the media route got whole is not a missing part: the
                # capture's verdict is taken again without it (the stream stays recorded).
                before = outcome(job)[1]
                job.failed_requests[:] = [f for f in job.failed_requests
                                          if f["url"] not in covered]
                after = outcome(job)[1]
                reasons = [r for r in reasons if r not in before or r in after]
                reasons += [r for r in after if r not in reasons]
                settled.excused += covered.values()
                state = PARTIAL if reasons else COMPLETE
            context["media"] = {"items": media.items, "problems": settled.reasons,
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
        result = session.finish(
            state=state, reasons=reasons, context=context, pages=_pages(job), error=error,
            title=(job.pages[0].get("title") if job.pages else None) or job.url,
            software=f"Isnad {__version__}", media_files=media_files, attachments=attachments,
        )
        if job.post is not None:
            archive.catalog.set_post(session.capture_id, job.post)
        results[session.capture_id] = result
        if on_result:
            on_result(result)
        more: list[CaptureJob] = []
        if job.post_refs and options.posts:
            platform = job.platform[0]
            for ref in job.post_refs[:options.posts]:  # each listed post: its own capture
                follow = new_job(platform.capture_url(ref["url"]))
                if follow is not None:
                    more.append(follow)
        return more

    def starting(job: CaptureJob) -> None:
        sessions[id(job)].mark_started()

    if jobs:
        run_crawls(jobs, finished, on_start=starting,
                   executable_path=settings.browser.executable_path,
                   headless=settings.browser.headless,
                   extra_args=settings.browser.extra_args)
    return [results[cid] for cid in order if cid in results]


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
    values = settings.media.model_dump()
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
        "pages": _pages(job),
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


def verify_capture(archive: Archive, capture_id: str, actor: str) -> VerificationReport:
    """Re-hash a stored capture's package, its WARC records, and check its custody: the chain,
    its signed head, and every target's copy of both, compared in full with the catalog.

    Every target holding a copy is checked. The verification is itself a custody event.
    """
    row = archive.catalog.get(capture_id)
    report = VerificationReport(f"capture {row.id}")
    copies = [c for c in row.copies if c.state == STORED]
    if not row.package_key:
        # A FAILED capture has no package to be intact: what can be checked is its custody.
        if row.state == FAILED:
            report.subject = f"capture {row.id} (FAILED capture: no package; custody chain checked)"
            report.verdict = "FAILED CAPTURE"
        report.add("a package was stored", row.state == FAILED,
                   f"no package: the capture is {row.state} ({row.error or 'no error recorded'})")
    elif not any(c.key for c in copies):
        report.add("a verified copy is stored", False,
                   "no target holds the package yet"
                   + (f"; it waits in {row.spool_path} (run `isnad storage sync`)"
                      if row.spool_path else ""))
    catalog_events = archive.catalog.events(row.id)
    verify_custody(report, catalog_events, row.package_sha256)
    for copy in copies:
        if copy.key:
            _verify_copy(archive.target(copy.target), row, report, archive.proof_options)
    for copy in copies:
        _verify_late_tokens(archive, archive.target(copy.target), row, report)
    for check in custody_checks(archive, row):
        report.add(check.name, check.ok, check.detail)
    # On a full disk the report still stands; its custody event waits in a queue.
    queued = archive.record_or_queue(
        row.id, actor, "verified" if report.ok else "verification-failed", row.package_sha256,
        {"checks": len(report.checks), "mismatches": [c.name for c in report.mismatches]},
        checked_only=True,
    )
    if queued:
        report.add("custody event of this verification", not queued.startswith("NOT"), queued)
    return report


def _verify_late_tokens(archive: Archive, target: Storage, row: CaptureRow,
                        report: VerificationReport) -> None:
    """Check every timestamp token obtained after packaging (kept beside the package)."""
    late = [e for e in ((row.context or {}).get("proof") or {}).get("timestamps", [])
            if e.get("state") == LATE]
    for entry in late:
        name = f"{target.name}: late timestamp of {entry.get('subject')} by {entry.get('tsa')}"
        if archive.proof_options is None:
            report.add(name, False, "no TSA configured to check it against")
            continue
        try:
            token = target.read_bytes(str(entry.get("key")))
        except (IsnadError, OSError) as exc:
            report.add(name, False, f"token unreadable: {exc}")
            continue
        started = row.started_at.replace(tzinfo=row.started_at.tzinfo or UTC)
        ok, detail = check_late_token(archive.proof_options, entry, token, started)
        report.add(name, ok, detail)


def _verify_copy(target: Storage, row: CaptureRow, report: VerificationReport,
                 proof: ProofOptions | None) -> None:
    name = target.name
    key = row.package_key or ""
    try:
        with tempfile.TemporaryDirectory(prefix="isnad-verify-") as tmp:
            local = Path(target.location(key))
            if not isinstance(target, LocalFolderStorage):
                local = target.download(key, Path(tmp) / "package.wacz")
            with open(local, "rb") as fh:
                digest, size = sha256_stream(fh)
                ok = digest == row.package_sha256 and size == row.package_size
                report.add(f"{name}: stored package hash matches the catalog", ok,
                           digest if ok else f"expected {row.package_sha256} "
                           f"({row.package_size} bytes), found {digest} ({size} bytes)")
                fh.seek(0)
                sub = verify_package(fh, key, proof=proof)
        for check in sub.checks:
            report.add(f"{name}: {check.name}", check.ok, check.detail)
    except NotFound as exc:
        report.add(f"{name}: stored package is present", False, str(exc))
    except (IsnadError, OSError) as exc:
        report.add(f"{name}: stored package is readable", False, str(exc))


@dataclass
class TimestampRetry:
    obtained: list[str]
    still_pending: list[str]


def retry_timestamps(archive: Archive, settings: Settings, actor: str) -> TimestampRetry:
    """Ask again for every pending timestamp; store late tokens beside their package.

    A capture that was PARTIAL only because a timestamp was pending becomes COMPLETE once every
    one is obtained: the change is a custody event, and the earlier state stays in the chain.
    """
    result = TimestampRetry([], [])
    tsas = {t.name: t for t in configured_tsas(settings)}
    for row in archive.catalog.list():
        proof = dict((row.context or {}).get("proof") or {})
        entries = [dict(e) for e in proof.get("timestamps", [])]
        if not any(e.get("state") == PENDING for e in entries):
            continue
        holders = [archive.target(c.target) for c in row.copies if c.state == STORED]
        obtained = False
        for entry in entries:
            if entry.get("state") != PENDING:
                continue
            what = f"{row.id} {entry['subject']} by {entry['tsa']}"
            tsa = tsas.get(entry["tsa"])
            if tsa is None:
                result.still_pending.append(f"{what}: TSA {entry['tsa']!r} is not configured")
                continue
            if not holders:
                result.still_pending.append(f"{what}: the package is not stored yet "
                                            "(run `isnad storage sync` first)")
                continue
            try:
                token = request_token(tsa, entry["sha256"])
                key = f"{archive.prefix_of(row.id)}/{entry['path']}"
                for target in holders:
                    target.put_bytes(key, token)
            except (TimestampError, StorageError) as exc:
                entry["error"] = str(exc)
                result.still_pending.append(f"{what}: {exc}")
                continue
            entry.update(state=LATE, key=key, error=None, **token_info(token))
            obtained = True
            archive.record_event(row.id, actor, "timestamped", sha256_bytes(token), {
                "subject": entry["subject"], "subject_sha256": entry["sha256"],
                "tsa": tsa.name, "gen_time": entry.get("gen_time"), "key": key, "late": True})
            result.obtained.append(f"{what}: {entry.get('gen_time')}")
        proof["timestamps"] = entries
        archive.catalog.update_capture(row.id, context={**row.context, "proof": proof})
        if obtained:
            _settle_state(archive, row, entries, actor)
        archive.refresh_index(row.id)
    return result


def _settle_state(archive: Archive, row: CaptureRow, entries: list[dict[str, Any]],
                  actor: str) -> None:
    """Drop the "timestamp pending" reasons late tokens answered; PARTIAL for nothing else
    becomes COMPLETE. A custody event records the change (the chain keeps the earlier state)."""
    reasons = pending_reasons_settled(list(row.reasons or []), entries)
    state = COMPLETE if row.state == PARTIAL and not reasons else row.state
    if reasons == list(row.reasons or []) and state == row.state:
        return
    context = {**archive.catalog.get(row.id).context, "state": state, "reasons": reasons}
    archive.catalog.update_capture(row.id, state=state, reasons=reasons, context=context)
    archive.record_event(row.id, actor, "state-changed", row.package_sha256, {
        "from": row.state, "to": state, "reasons_before": row.reasons, "reasons_after": reasons,
        "because": "the pending timestamps were obtained late"})


@dataclass
class AnchorReport:
    anchored: list[str]
    problems: list[str]


def anchor_custody(archive: Archive, settings: Settings) -> AnchorReport:
    """Timestamp every custody head not yet anchored, with every configured TSA.

    The token (on the SHA-256 of the signed head) and the head as anchored are stored beside
    the capture on every target, and listed in the catalog: from then on the chain up to that
    event cannot be rewritten, even with the key, without the change showing. Meant for the
    housekeeping schedule (``isnad custody anchor``); it adds no custody event, so a run with
    nothing new to anchor changes nothing."""
    tsas = configured_tsas(settings)
    if not tsas:
        raise IsnadError("no TSA configured (timestamps.tsa): custody heads cannot be anchored")
    report = AnchorReport([], [])
    for row in archive.catalog.list():
        head_row = archive.catalog.head(row.id)
        if head_row is None:
            continue
        head, anchors = head_row.head, list(head_row.anchors or [])
        digest = head_sha256(head)
        done = {a["tsa"] for a in anchors if a.get("head_sha256") == digest}
        holders = [archive.target(c.target) for c in row.copies if c.state == STORED]
        folder = f"{archive.prefix_of(row.id)}/{ANCHORS_FOLDER}"
        for tsa in tsas:
            if tsa.name in done:
                continue
            what = f"{row.id} head of {head.get('count')} events by {tsa.name}"
            try:
                token = request_token(tsa, digest)
                head_key = f"{folder}/{head.get('count'):06d}-{digest[:16]}-head.json"
                token_key = f"{folder}/{head.get('count'):06d}-{digest[:16]}-{tsa.name}.tsr"
                for target in holders:
                    target.put_bytes(head_key, canonical_json(head))
                    target.put_bytes(token_key, token)
            except (TimestampError, StorageError) as exc:
                report.problems.append(f"{what}: {exc}")
                continue
            info = token_info(token)
            anchors.append({"count": head.get("count"), "last_hash": head.get("last_hash"),
                            "head_sha256": digest, "tsa": tsa.name,
                            "gen_time": info.get("gen_time"), "head_key": head_key,
                            "token_key": token_key})
            report.anchored.append(f"{what}: {info.get('gen_time')}")
        archive.catalog.save_head(row.id, anchors=anchors)
    return report
