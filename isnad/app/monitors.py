"""Monitors: a channel or profile (or a web page or feed, see :mod:`isnad.app.feeds`) watched
on a schedule, every new post captured once.

A monitor's *run* is a capture job (source ``monitor:<id>``) of the channel URL: that capture is
the listing's snapshot (its raw responses are in its WARC, its ``metadata/posts.json`` lists the
posts). When the capture is done, still in its capture process (:func:`after_capture`), each
listed post is INSERTed into ``monitor_posts``; each insert that wins queues a capture job of the
post, in the same transaction (see :mod:`archiver.monitors`). The scheduler calls
:func:`start_run` for a monitor that falls due and reads the schedule with
:func:`list_monitors`; people call the same functions through ``isnad monitor``.

Why the capture process and not the worker's runner: the listing is in that process's memory
when the capture ends, and the hook runs inside the job's attempt. A worker that dies before the
hook has run has its job run again (a new listing, the inserts decide again); a worker that dies
after it finds the job's captures finished and settles it done, with the posts already queued.
Two runs at once, or a run retried after a restart, cannot queue a post twice: the unique
constraint decides, not a check made first.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from archiver.archive import Archive
from archiver.errors import IsnadError, NotFound
from archiver.jobs import JobRow, JobStore
from archiver.monitors import MonitorPostRow, MonitorRow, MonitorRunRow, MonitorStore
from archiver.redaction import redact_url
from archiver.states import CaptureState, CustodyAction, JobSource, JobState, MonitorPostState
from crawlers.netguard import validate_url
from crawlers.platforms.base import CONTENT_FIELDS, content
from isnad.app import alerts, feeds
from isnad.app.capture import match_platform
from isnad.app.jobs import JobSpec, add_jobs
from isnad.app.queue import CaptureQueue
from isnad.app.runtime import Runtime
from isnad.config import Settings

log = logging.getLogger("isnad.monitors")

# Failed runs in a row after which a monitor is flagged for a person to look at (the scheduler
# backs off; resuming the monitor clears the flag).
FLAG_AFTER_FAILURES = 5
DEFAULT_EVERY = 3600  # seconds, when neither --every nor --cron is given

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, what: str = "duration") -> int:
    """Seconds from ``15m``, ``2h``, ``7d`` (s, m, h, d, w; a bare number is seconds)."""
    found = re.fullmatch(r"\s*(\d+)\s*([smhdw]?)\s*", text or "")
    seconds = int(found[1]) * _UNITS[found[2] or "s"] if found else 0
    if seconds <= 0:
        raise IsnadError(f"{what} {text!r}: write a whole number and a unit, e.g. 90s, 15m, "
                         "2h, 7d or 1w")
    return seconds


def check_cron(text: str) -> str:
    """A crontab line (minute hour day month weekday), checked for its shape."""
    fields = text.split()
    if len(fields) != 5 or not all(re.fullmatch(r"[0-9A-Za-z*/,\-?]+", f) for f in fields):
        raise IsnadError(f"cron {text!r}: write five fields (minute hour day month weekday), "
                         'e.g. "0 */2 * * *"')
    return " ".join(fields)


def add_monitor(settings: Settings, archive: Archive, url: str, *, operator: str,
                every: str | None = None, cron: str | None = None, jitter: str | None = None,
                case_id: str | None = None, tags: tuple[str, ...] = (),
                note: str | None = None, posts: int | None = None,
                recheck: str | None = None, use_browser: bool = True,
                webhook: str | None = None, webhook_secret_env: str | None = None,
                scope: str | None = None) -> MonitorRow:
    """Watch a platform channel or profile, or any other web page or feed (RSS, Atom, a
    sitemap, a page's links within ``scope``), on a schedule (``every`` or ``cron``); its
    alerts also go to ``webhook``, signed with the secret in the variable
    ``webhook_secret_env``."""
    if every and cron:
        raise IsnadError("give --every or --cron, not both")
    validate_url(url)
    if webhook_secret_env and not webhook:
        raise IsnadError("--webhook-secret-env names the secret of a --webhook: give both")
    if webhook:
        alerts.check_webhook(settings, webhook, webhook_secret_env)
    match = match_platform(settings, url)
    if match is not None and match[1].kind != "channel":
        raise IsnadError(f"{url} is a {match[0].name} {match[1].kind}, not a channel or "
                         "profile: capture it, or monitor its channel")
    if match is not None and scope is not None:
        raise IsnadError("--scope is for web pages and feeds, not a platform's channel")
    return MonitorStore(archive.catalog).add(
        url=url, kind="channel" if match else feeds.KIND,
        platform=match[0].name if match else None,
        scope=None if match else feeds.check_scope(scope),
        every=parse_duration(every, "--every") if every else (None if cron else DEFAULT_EVERY),
        cron=check_cron(cron) if cron else None,
        jitter=parse_duration(jitter, "--jitter") if jitter else 0,
        case_id=case_id, tags=list(tags), note=note, posts=posts,
        recheck=parse_duration(recheck, "--recheck") if recheck else None,
        operator=operator, use_browser=use_browser, webhook=webhook,
        webhook_secret_env=webhook_secret_env)


def list_monitors(settings: Settings, archive: Archive, *, include_paused: bool = True
                  ) -> list[MonitorRow]:
    """Every monitor, oldest first (the scheduler reads ``every``/``cron``/``jitter``/
    ``paused``/``failures``/``flagged`` from these rows). A run whose job ended without
    recording it (cancelled, its capture process crashed) is recorded FAILED first, so it
    counts among the failures."""
    store = MonitorStore(archive.catalog)
    # A run whose job ended unrecorded counts as a failure: one query for all monitors.
    store.settle_unfinished(None, FLAG_AFTER_FAILURES)
    rows = store.list()
    for row in rows:  # flagged (by a run, or a run settled above): alerted once
        if row.flagged:
            alerts.check_health(settings, archive, row.id)
    return rows if include_paused else [r for r in rows if not r.paused]


def get_monitor(settings: Settings, archive: Archive, monitor_id: str) -> MonitorRow:
    return MonitorStore(archive.catalog).get(monitor_id)


def monitor_due(settings: Settings, archive: Archive, monitor_id: str) -> MonitorRow | None:
    """One monitor as the scheduler reads it when its tick comes (its runs that ended
    unrecorded settled first, as :func:`list_monitors` does), or None when it was removed.
    Reads that monitor alone: a tick costs the same with ten monitors or a thousand."""
    store = MonitorStore(archive.catalog)
    store.settle_unfinished(monitor_id, FLAG_AFTER_FAILURES)
    try:
        return store.get(monitor_id)
    except NotFound:
        return None


def set_paused(settings: Settings, archive: Archive, monitor_id: str, paused: bool
               ) -> MonitorRow:
    store = MonitorStore(archive.catalog)
    row = store.get(monitor_id)
    store.set_paused(row.id, paused)
    return store.get(row.id)


def remove_monitor(settings: Settings, archive: Archive, monitor_id: str) -> MonitorRow:
    """Stop watching; the posts seen, the runs and the captures stay on record."""
    store = MonitorStore(archive.catalog)
    row = store.get(monitor_id)
    store.remove(row.id)
    return row


def start_run(settings: Settings, archive: Archive, monitor_id: str) -> str:
    """Queue a run of a monitor now: a capture job of its channel (or page, or feed); the
    run's id (the job's).

    The run is recorded before its job is handed to the queue, so the capture process always
    finds it."""
    store = MonitorStore(archive.catalog)
    monitor = store.get(monitor_id)
    spec = JobSpec(url=monitor.url, operator=monitor.operator, case_id=monitor.case_id,
                   tags=tuple(monitor.tags or ()), note=monitor.note,
                   source=f"{JobSource.MONITOR}:{monitor.id}", use_browser=monitor.use_browser,
                   posts=monitor.posts, monitor={"id": monitor.id, "role": "listing"})
    if monitor.kind == feeds.KIND:
        spec.monitor["feed"] = feeds.listing_options(monitor.scope)
    runtime = Runtime(settings, archive)
    runtime.queue.check()  # Redis unreachable: one clear error, no run recorded
    (row,) = add_jobs(runtime.store, [spec], settings.home / "secrets")
    store.add_run(monitor.id, row.id)
    runtime.queue.offer(row.id, row.priority)
    return row.id


# -- in the capture process -----------------------------------------------------------------
def after_capture(settings: Settings, archive: Archive, spec: JobSpec, job_id: str,
                  results: list[Any], observed: dict[str, dict[str, Any]]) -> None:
    """A monitor's job has captured: a listing queues its new posts and records the run; a
    post's capture marks the post captured."""
    role = (spec.monitor or {}).get("role")
    if role == "listing":
        _listed(settings, archive, spec, job_id, results, observed)
    elif role in ("recheck", "edit-check"):
        _rechecked(settings, archive, spec, results, observed)
    elif role == "post" and results:
        result = results[0]
        post = (observed.get(result.capture_id) or {}).get("post") or {}
        # A feed's item is a web page: any capture that is not FAILED is a good one.
        if result.state != CaptureState.FAILED and (
                post.get("status") == "ok" or spec.monitor["platform"] in feeds.ITEM_PLATFORMS):
            MonitorStore(archive.catalog).post_captured(
                spec.monitor["id"], spec.monitor["platform"], spec.monitor["post_id"],
                result.capture_id)


def _listed(settings: Settings, archive: Archive, spec: JobSpec, run_id: str,
            results: list[Any], observed: dict[str, dict[str, Any]]) -> None:
    store = MonitorStore(archive.catalog)
    monitor = store.get(spec.monitor["id"])
    listing = results[0] if results else None
    seen = observed.get(listing.capture_id, {}) if listing else {}
    refs, notes = seen.get("post_refs"), list(seen.get("listing_notes") or [])
    info = list(seen.get("listing_info") or [])  # recorded; not a shortfall (feeds)
    feed = monitor.kind == feeds.KIND
    queue = CaptureQueue(settings)
    if listing is None or listing.state == CaptureState.FAILED or refs is None:
        why = (listing.error or "; ".join(listing.reasons)) if listing else "nothing captured"
        why = (seen.get("listing_error") or why) if feed else why
        what = "the page or feed could not be read" if feed else "the channel could not be listed"
        run = store.end_run(run_id, CaptureState.FAILED, listed=0,
                            notes=[*info, *notes, f"{what}: {why}"],
                            listing_capture=listing.capture_id if listing else None,
                            flag_after=FLAG_AFTER_FAILURES)
        alerts.run_recorded(settings, archive, monitor, run)
        return
    match = match_platform(settings, monitor.url)
    listed = len(refs)
    if feed:  # a feed is written by someone else: its items' URLs pass the guard first
        refs, refused = feeds.guarded_items(settings, refs)
        notes += refused
    for ref in refs:
        row = store.record_post(
            monitor.id, run_id, platform=ref["platform"], post_id=ref["post_id"],
            url=ref["url"], published=ref.get("published"),
            job=_post_job(monitor, match, ref["url"], run_id, "post", ref["platform"],
                          ref["post_id"]), fingerprint=ref.get("fingerprint"))
        if row is not None:
            # After the commit: a message lost here is restored by the next worker to start
            # (it queues every queued job the queue does not hold).
            queue.offer(row.id, row.priority)
    state = (CaptureState.PARTIAL if notes or listing.state == CaptureState.PARTIAL
             else CaptureState.COMPLETE)
    reasons = [] if listing.state == CaptureState.COMPLETE else [
        r for r in listing.reasons if not r.startswith("the listing: ")]
    run = store.end_run(run_id, state, listed=listed, notes=[*info, *notes, *reasons],
                        listing_capture=listing.capture_id, flag_after=FLAG_AFTER_FAILURES)
    log.info("monitor %s run %s: %d listed, %d new (%s)", monitor.id, run_id, listed,
             run.new_posts, state)
    alerts.run_recorded(settings, archive, monitor, run)
    # After the run is recorded: a recheck may add a note to it. Not for a feed: its entries
    # drop out of it by design, and a page has no "deleted" answer to record.
    if monitor.recheck and not feed:
        _queue_rechecks(store, queue, monitor, match, run_id, refs)
        _queue_edit_checks(store, queue, monitor, match, run_id, refs)


def _post_job(monitor: MonitorRow, match: Any, url: str, run_id: str, role: str,
              platform: str, post_id: str, **more: Any) -> dict[str, Any]:
    """The row values of a capture job of one post (``role``: ``post``, ``recheck`` or
    ``edit-check``; ``more`` goes into the job's monitor record)."""
    url = match[0].capture_url(url) if match else url
    spec = JobSpec(url=url, operator=monitor.operator, case_id=monitor.case_id,
                   tags=tuple(monitor.tags or ()), note=monitor.note,
                   source=f"{JobSource.MONITOR}:{monitor.id}", use_browser=monitor.use_browser,
                   monitor={"id": monitor.id, "role": role, "run": run_id,
                            "platform": platform, "post_id": post_id, **more})
    spec.check()
    shown = redact_url(url)
    return {"url": shown, "spec": {**spec.to_dict(), "url": shown},
            "priority": spec.effective_priority(), "source": spec.source,
            "operator": spec.operator, "case_id": spec.case_id}


def _queue_rechecks(store: MonitorStore, queue: CaptureQueue, monitor: MonitorRow, match: Any,
                    run_id: str, refs: list[dict[str, Any]]) -> None:
    """Posts first seen within the recheck window that the listing no longer shows, although
    it reaches back past them, are captured again: the platform's answer tells whether they
    are gone. (A post merely pushed off the end of a short listing is not rechecked.)"""
    listed = {(r["platform"], r["post_id"]) for r in refs}
    stamps = [r["published"] for r in refs if r.get("published")]
    oldest = min(stamps) if stamps and len(stamps) == len(refs) else None
    since = datetime.now(UTC) - timedelta(seconds=monitor.recheck)
    for post in store.posts(monitor.id):
        if ((post.platform, post.post_id) in listed or post.first_seen < since
                or post.state == MonitorPostState.DISAPPEARED):
            continue
        if oldest and post.published and post.published < oldest:
            continue  # older than the whole listing: off its end, not missing from it
        row = store.claim_recheck(post, _post_job(monitor, match, post.url, run_id, "recheck",
                                                  post.platform, post.post_id))
        if row is not None:
            queue.offer(row.id, row.priority)


def _queue_edit_checks(store: MonitorStore, queue: CaptureQueue, monitor: MonitorRow,
                       match: Any, run_id: str, refs: list[dict[str, Any]]) -> None:
    """Posts first seen within the recheck window that the listing still shows, but with
    another fingerprint (its text, media or edit marker changed on the listing), are captured
    again (role ``edit-check``): the new capture is then compared with the last good one.
    Counts are not in a fingerprint, so views and likes alone never queue a capture. Posts the
    listing shows nothing of (no fingerprint), and posts not captured yet, are not checked."""
    shown = {(r["platform"], r["post_id"]): r.get("fingerprint") for r in refs}
    since = datetime.now(UTC) - timedelta(seconds=monitor.recheck)
    for post in store.posts(monitor.id):
        now = shown.get((post.platform, post.post_id))
        if (now is None or post.fingerprint is None or now == post.fingerprint
                or post.first_seen < since or not post.last_good_capture
                or post.state == MonitorPostState.DISAPPEARED):
            continue
        # The same claim as a recheck's: one check of a post queued or running at a time.
        row = store.claim_recheck(post, _post_job(monitor, match, post.url, run_id, "edit-check",
                                                  post.platform, post.post_id, fingerprint=now))
        if row is not None:
            queue.put(row.id, row.priority)


# The platform's own answer that a post is gone; a login wall, a rate limit or an error is
# never one (it says nothing of the post).
GONE = ("deleted", "suspended", "unavailable")


def _rechecked(settings: Settings, archive: Archive, spec: JobSpec, results: list[Any],
               observed: dict[str, dict[str, Any]]) -> None:
    store = MonitorStore(archive.catalog)
    info = spec.monitor
    result = results[0] if results else None
    post = (observed.get(result.capture_id) or {}).get("post") if result else None
    status = (post or {}).get("status")
    key = (info["id"], info["platform"], info["post_id"])
    if result is not None and result.state != CaptureState.FAILED and status in GONE:
        before = store.recheck_done(*key, state=MonitorPostState.DISAPPEARED,
                                    capture_id=result.capture_id)
        evidence = archive.catalog.get(result.capture_id)
        details = {"monitor": info["id"], "platform": info["platform"],
                   "post_id": info["post_id"], "url": before.url, "status": status,
                   "platform_notes": list((post or {}).get("notes") or []),
                   "evidence_capture": result.capture_id,
                   "evidence_package_sha256": evidence.package_sha256,
                   "run": info.get("run")}
        # On the last good capture (the post as it was), naming the capture of its absence;
        # with no good capture, on the evidence itself.
        archive.record_event(before.last_good_capture or result.capture_id, "isnad",
                             CustodyAction.POST_DISAPPEARED, evidence.package_sha256, details)
        log.warning("monitor %s: post %s/%s is %s (evidence: capture %s)", info["id"],
                    info["platform"], info["post_id"], status, result.capture_id)
        alerts.notify(settings, archive, info["id"], alerts.AlertEvent.POST_DISAPPEARED,
                      details)
    elif result is not None and result.state != CaptureState.FAILED and status == "ok":
        _compared(settings, archive, store, info, result.capture_id, post or {})
    else:
        store.recheck_done(*key, state=None, capture_id=None)
        why = (f"the post is {status}" if status else
               (result.error or "; ".join(result.reasons)) if result else "nothing captured")
        what = "edit check" if info.get("role") == "edit-check" else "recheck"
        store.note_run(info["run"], f"{what} of {info['platform']} post {info['post_id']} "
                       f"told nothing ({why}): not taken for a deletion or an edit; checked "
                       "again next run")


def _compared(settings: Settings, archive: Archive, store: MonitorStore, info: dict[str, Any],
              capture_id: str, post: dict[str, Any]) -> None:
    """A readable new capture of a monitored post, compared with its last good capture: a
    changed text, media (…: ``CONTENT_FIELDS``) is a ``post-changed`` custody event on the
    last good capture (the version superseded), naming both captures, with the diff; the new
    capture becomes the last good one either way. Counts alone are no change: they are in the
    diff when the content changed too."""
    key = (info["id"], info["platform"], info["post_id"])
    row = store.post(*key)
    previous = row.last_good_capture
    before = ((archive.catalog.get(previous).context or {}).get("post")
              if previous and previous != capture_id else None)
    diff = post_diff(before, post) if before else {}
    changed = [name for name in CONTENT_FIELDS if name in diff]
    same = (MonitorPostState.CHANGED if row.state == MonitorPostState.CHANGED
            else MonitorPostState.CAPTURED)
    store.recheck_done(*key, state=MonitorPostState.CHANGED if changed else same,
                       capture_id=capture_id, fingerprint=info.get("fingerprint"))
    if not changed:
        if info.get("role") == "edit-check":
            others = f" (only {', '.join(diff)} changed)" if diff else ""
            store.note_run(info["run"], f"edit check of {info['platform']} post "
                           f"{info['post_id']}: its content is as in capture {previous}"
                           f"{others}: no change recorded", partial=False)
        return
    new = archive.catalog.get(capture_id)
    old = archive.catalog.get(previous)
    details = {"monitor": info["id"], "platform": info["platform"],
               "post_id": info["post_id"], "url": row.url, "changed": changed, "diff": diff,
               "previous_capture": previous, "previous_package_sha256": old.package_sha256,
               "new_capture": capture_id, "new_package_sha256": new.package_sha256,
               "check": info.get("role"), "run": info.get("run")}
    # On the version superseded (as a disappearance is), naming the new version: each
    # version's log says what replaced it, and the new capture is an ordinary package.
    archive.record_event(previous, "isnad", CustodyAction.POST_CHANGED, new.package_sha256,
                         details)
    log.warning("monitor %s: post %s/%s changed (%s): capture %s, was %s", info["id"],
                info["platform"], info["post_id"], ", ".join(changed), capture_id, previous)
    alerts.notify(settings, archive, info["id"], alerts.AlertEvent.POST_CHANGED, details,
                  key=f"post-changed:{info['id']}:{previous}:{capture_id}")


def post_diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Field by field, what differs between two records of a post (``Post.to_dict()``):
    ``{field: {"before": …, "after": …}}`` for its content (media compared by type and URL
    path), the platform's edit marker and its counts."""
    was, now = content(before), content(after)
    diff = {name: {"before": before.get(name), "after": after.get(name)}
            for name in CONTENT_FIELDS if was[name] != now[name]}
    for name in ("edited", "counts"):
        if (before.get(name) or None) != (after.get(name) or None):
            diff[name] = {"before": before.get(name), "after": after.get(name)}
    return diff


# -- reading --------------------------------------------------------------------------------
@dataclass
class MonitorRun:
    """A run as `monitor run --wait` saw it: the run, and the post jobs it queued."""

    run: MonitorRunRow
    jobs: list[JobRow] = field(default_factory=list)


def run_jobs(archive: Archive, run_id: str) -> list[JobRow]:
    """The capture jobs a run queued: the posts it found, and the rechecks it asked for."""
    store = MonitorStore(archive.catalog)
    posts = store.posts(store.run(run_id).monitor_id)
    ids = [p.job_id for p in posts if p.first_run == run_id and p.job_id]
    ids += [p.recheck_job for p in posts if p.recheck_job]
    return JobStore(archive.catalog).many(ids)


def run_and_wait(settings: Settings, archive: Archive, monitor_id: str, *,
                 concurrency: int | None = None, poll: float = 0.5) -> MonitorRun:
    """Run a monitor now and wait for the run and the captures of its new posts: here, N at a
    time, when no worker is up (as `capture` does), else by the workers."""
    runtime = Runtime(settings, archive)
    run_id = start_run(settings, archive, monitor_id)
    _wait(runtime, [runtime.job(run_id)], concurrency, poll)
    jobs = run_jobs(archive, run_id)
    if jobs:
        _wait(runtime, jobs, concurrency, poll)
    return MonitorRun(MonitorStore(archive.catalog).run(run_id),
                      runtime.store.many([j.id for j in jobs]))


def _wait(runtime: Runtime, rows: list[JobRow], concurrency: int | None, poll: float) -> None:
    local = None if runtime.workers() else runtime.run_here(rows, concurrency)
    try:
        for seen in runtime.watch([r.id for r in rows]):
            if seen.pending:
                time.sleep(poll)
    finally:
        if local is not None:
            local.close()


def timeline(settings: Settings, archive: Archive, monitor_id: str) -> dict[str, Any]:
    """A monitor's history, post by post: first and last seen, each capture (first capture
    and rechecks) with its state, a disappearance with its evidence; and the runs that
    listed the channel (oldest first)."""
    store = MonitorStore(archive.catalog)
    jobs = JobStore(archive.catalog)
    monitor = store.get(monitor_id)
    store.settle_unfinished(monitor.id, FLAG_AFTER_FAILURES)
    by_post: dict[tuple[str, str], list[JobRow]] = {}
    for job in reversed(jobs.by_source(f"{JobSource.MONITOR}:{monitor.id}")):
        info = job.spec.get("monitor") or {}
        if info.get("role") in ("post", "recheck", "edit-check"):
            by_post.setdefault((info["platform"], info["post_id"]), []).append(job)
    posts = []
    for post in store.posts(monitor.id):
        captures = [c for job in by_post.get((post.platform, post.post_id), [])
                    for c in _captures(archive, jobs, job)]
        changes = _changes(archive, post, captures)
        posts.append({**_post_record(post), "captures": captures,
                      "versions": _versions(post, captures, changes), "changes": changes,
                      "disappeared": _disappeared(archive, post, captures)})
    runs = [monitor_run_record(r) for r in reversed(store.runs(monitor.id))]
    return {"monitor": monitor_record(monitor, len(posts)), "runs": runs, "posts": posts}


def _captures(archive: Archive, jobs: JobStore, job: JobRow) -> list[dict[str, Any]]:
    role = (job.spec.get("monitor") or {}).get("role")
    found = []
    for capture_id in jobs.captures(job.id):
        row = archive.catalog.get(capture_id)
        post = (row.context or {}).get("post") or {}
        found.append({"id": row.id, "role": role, "state": row.state,
                      "post_status": post.get("status"), "started_at": _iso(row.started_at),
                      "ended_at": _iso(row.ended_at), "reasons": list(row.reasons or []),
                      "job": job.id})
    if not found and job.state != JobState.DONE:
        found.append({"id": None, "role": role, "state": f"job {job.state}",
                      "post_status": None, "job": job.id, "started_at": None,
                      "ended_at": None, "reasons": []})
    return found


def _disappeared(archive: Archive, post: MonitorPostRow, captures: list[dict[str, Any]]
                 ) -> dict[str, Any] | None:
    """The post-disappeared custody event of a post that is gone (on its last good capture,
    or on the evidence when it never had one)."""
    if post.state != MonitorPostState.DISAPPEARED:
        return None
    rechecks = [c["id"] for c in reversed(captures)
                if c["role"] in ("recheck", "edit-check") and c["id"]]
    for capture_id in filter(None, (post.last_good_capture, *rechecks)):
        for event in reversed(archive.catalog.events(capture_id)):
            if (event.action == CustodyAction.POST_DISAPPEARED
                    and event.details.get("post_id") == post.post_id):
                return {"at": event.time, "on_capture": capture_id,
                        "status": event.details.get("status"),
                        "evidence_capture": event.details.get("evidence_capture")}
    return {"at": None, "on_capture": None, "status": None, "evidence_capture": None}


def _changes(archive: Archive, post: MonitorPostRow, captures: list[dict[str, Any]]
             ) -> list[dict[str, Any]]:
    """The post-changed custody events of a post, oldest first: when, the fields changed,
    the diff, and the captures before and after."""
    found = []
    for capture_id in dict.fromkeys(c["id"] for c in captures if c["id"]):
        for event in archive.catalog.events(capture_id):
            if (event.action == CustodyAction.POST_CHANGED
                    and event.details.get("post_id") == post.post_id):
                found.append({"at": event.time, "on_capture": capture_id,
                              "previous_capture": event.details.get("previous_capture"),
                              "new_capture": event.details.get("new_capture"),
                              "fields": list(event.details.get("changed") or []),
                              "diff": event.details.get("diff") or {}})
    return sorted(found, key=lambda change: change["at"] or "")


def _versions(post: MonitorPostRow, captures: list[dict[str, Any]],
              changes: list[dict[str, Any]]) -> list[str]:
    """The captures holding each version of the post, oldest first: the first good capture,
    then the capture after each change."""
    if changes:
        return [changes[0]["previous_capture"], *(c["new_capture"] for c in changes)]
    first = next((c["id"] for c in captures if c["id"] and c["role"] == "post"
                  and c["post_status"] == "ok"
                  and c["state"] != CaptureState.FAILED), None)
    return [first or post.last_good_capture] if (first or post.last_good_capture) else []


# -- JSON shapes (the records of :mod:`isnad.app.records`, kept beside their use case) ------
def _iso(moment: Any) -> str | None:
    from isnad.app.records import utc_iso

    return utc_iso(moment)


def monitor_record(row: MonitorRow, posts: int | None = None) -> dict[str, Any]:
    """A monitor as JSON: what it watches, on which schedule, how it fares."""
    return {"id": row.id, "url": row.url, "kind": row.kind, "platform": row.platform,
            "every": row.every, "cron": row.cron, "jitter": row.jitter, "case": row.case_id,
            "scope": row.scope,
            "tags": list(row.tags or []), "note": row.note, "posts": row.posts,
            "recheck": row.recheck, "browser": row.use_browser, "operator": row.operator,
            "paused": row.paused, "created_at": _iso(row.created_at),
            "last_run_at": _iso(row.last_run_at), "failures": row.failures,
            "flagged": row.flagged, "posts_seen": posts,
            "webhook": redact_url(row.webhook) if row.webhook else None,
            "webhook_secret_env": row.webhook_secret_env}


def monitor_run_record(row: MonitorRunRow) -> dict[str, Any]:
    return {"id": row.id, "monitor": row.monitor_id, "job": row.job_id,
            "started_at": _iso(row.started_at), "ended_at": _iso(row.ended_at),
            "state": row.state, "listed": row.listed, "new_posts": row.new_posts,
            "listing_capture": row.listing_capture, "notes": list(row.notes or [])}


def _post_record(row: MonitorPostRow) -> dict[str, Any]:
    return {"platform": row.platform, "post_id": row.post_id, "url": row.url,
            "published": row.published, "first_seen": _iso(row.first_seen),
            "last_seen": _iso(row.last_seen), "state": row.state, "first_run": row.first_run,
            "job": row.job_id, "last_good_capture": row.last_good_capture}


def show_monitor(settings: Settings, archive: Archive, monitor_id: str,
                 runs: int = 10) -> dict[str, Any]:
    """A monitor, its recent runs (newest first) and how many posts it has seen."""
    store = MonitorStore(archive.catalog)
    store.settle_unfinished(store.get(monitor_id).id, FLAG_AFTER_FAILURES)
    row = store.get(monitor_id)
    return {**monitor_record(row, store.count_posts(row.id)),
            "runs": [monitor_run_record(r) for r in store.runs(row.id, runs)]}
