"""Monitor alerts: a log line, and a signed JSON POST to the webhooks configured.

Raising an alert (:func:`notify`) only writes it to the catalog's outbox
(:mod:`archiver.alerts`) and logs it (logger ``isnad.alerts``): it happens inside a capture
process or a scheduler tick and must never wait on a webhook. `isnad scheduler` delivers the
outbox in a thread of its own (:class:`AlertCourier`); ``isnad alerts deliver`` does one pass
by hand. A delivery that meets a network error, a 5xx or a 429 is tried again later (backoff
kept in the row, so it holds across restarts); one refused for good (another 4xx, a redirect,
the SSRF guard, no secret) or out of attempts is recorded ``failed`` and logged as an error.

The signature (see docs/monitoring.md): ``X-Isnad-Timestamp: <unix seconds>`` and
``X-Isnad-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``, the body being
the exact bytes sent.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import http.client
import json
import logging
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from archiver.alerts import AlertEvent, AlertOutbox, AlertRow, DeliveryState
from archiver.catalog import Catalog
from archiver.errors import CaptureRefused, IsnadError
from archiver.ids import new_capture_id
from archiver.monitors import MonitorRow, MonitorRunRow, MonitorStore
from archiver.redaction import redact_url
from archiver.states import CaptureState
from crawlers.netguard import check_target
from isnad import __version__
from isnad.app.outage import CATALOG_DOWN, CatalogOutage
from isnad.config import Settings

log = logging.getLogger("isnad.alerts")

__all__ = ["AlertEvent", "AlertOutbox", "AlertCourier", "deliver_due", "notify", "run_recorded",
           "check_health", "sign", "check_webhook", "alert_record"]

# Alerts about something going wrong are warnings; the others are news.
_WARNINGS = {AlertEvent.POST_DISAPPEARED, AlertEvent.POST_CHANGED, AlertEvent.MONITOR_FAILING}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
GLOBAL_SECRET = "alerts"  # secret_ref of the [alerts] secret


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Isnad-Signature`` value: HMAC-SHA256 over ``timestamp.body``."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body,
                   hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def check_webhook(settings: Settings, url: str, secret_env: str | None) -> None:
    """A monitor's webhook as given to `monitor add`: an http(s) URL the SSRF guard lets
    through, and a way to sign (its own secret variable, or the [alerts] secret)."""
    check_target(url, settings.allow_private_networks,
                 private_origins=settings.private_origins)
    if secret_env is not None and not _ENV_NAME.fullmatch(secret_env):
        raise IsnadError(f"--webhook-secret-env {secret_env!r}: give the name of an "
                         "environment variable (letters, digits, _), not the secret")
    if secret_env is None and settings.alerts.secret_value() is None:
        raise IsnadError("a webhook is signed: give --webhook-secret-env NAME (the variable "
                         "that holds its secret where `isnad scheduler` runs), or set "
                         "ISNAD_ALERTS__SECRET / alerts.secret_file")


# -- raising --------------------------------------------------------------------------------
def _never_fatal(function: Callable[..., Any]) -> Callable[..., Any]:
    """An alert that cannot be raised (the catalog busy past its timeout...) is logged as an
    error; it never undoes or stops what it reports on (a run recorded, a custody event
    written, the rechecks still to queue)."""

    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except Exception:  # noqa: BLE001
            log.exception("an alert could not be raised (%s)", function.__name__)
            return False

    return guarded


@_never_fatal
def notify(settings: Settings, archive: Any, monitor: MonitorRow | str,
           event: AlertEvent | str, details: dict[str, Any], key: str | None = None) -> bool:
    """Raise an alert about ``monitor`` (a row, or the id of one perhaps removed since): a
    log line, and an outbox row for each webhook (the [alerts] one, the monitor's own).

    ``key`` names the event so that raising it twice writes it once; by default the event,
    the monitor and ``details`` (the same details are the same alert). True when raised now,
    False when it had been. Never raises for want of a webhook: the log line is the alert."""
    event = AlertEvent(event)
    row = _monitor_row(archive, monitor)
    monitor_id = row.id if row is not None else str(monitor)
    if key is None:
        digest = hashlib.sha256(json.dumps(details, sort_keys=True, default=str)
                                .encode("utf-8")).hexdigest()[:32]
        key = f"{event}:{monitor_id}:{digest}"
    alert_id = new_capture_id()
    body = {"event": str(event), "monitor": monitor_id,
            "at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "alert": alert_id, "monitor_url": row.url if row is not None else None,
            "case": row.case_id if row is not None else None}
    body.update({k: v for k, v in details.items() if k not in body})
    targets = _targets(settings, row) if event in settings.alerts.events else []
    raised = AlertOutbox(archive.catalog).add(
        alert_id=alert_id, key=key, event=event, monitor_id=monitor_id,
        body=json.dumps(body, ensure_ascii=False, default=str, separators=(",", ":")),
        targets=targets)
    if raised:
        log.log(logging.WARNING if event in _WARNINGS else logging.INFO,
                "alert %s: monitor %s: %s", event, monitor_id, _summary(event, details),
                extra={"alert": alert_id, "alert_event": str(event), "monitor": monitor_id,
                       "webhooks": len(targets)})
    return raised


def _monitor_row(archive: Any, monitor: MonitorRow | str) -> MonitorRow | None:
    if isinstance(monitor, MonitorRow):
        return monitor
    try:
        return MonitorStore(archive.catalog).get(monitor)
    except IsnadError:  # removed since: the alert still goes to the [alerts] webhook
        return None


def _targets(settings: Settings, row: MonitorRow | None) -> list[tuple[str, str | None]]:
    targets: list[tuple[str, str | None]] = []
    if settings.alerts.webhook:
        targets.append((settings.alerts.webhook, GLOBAL_SECRET))
    if row is not None and row.webhook and row.webhook not in [t for t, _ in targets]:
        targets.append((row.webhook, f"env:{row.webhook_secret_env}"
                        if row.webhook_secret_env else GLOBAL_SECRET))
    return targets


def _summary(event: AlertEvent, details: dict[str, Any]) -> str:
    if event == AlertEvent.NEW_POSTS:
        return f"{details.get('new_posts')} new post(s) in run {details.get('run')}"
    if event in (AlertEvent.POST_DISAPPEARED, AlertEvent.POST_CHANGED):
        what = "gone" if event == AlertEvent.POST_DISAPPEARED else "changed"
        return (f"post {details.get('platform')}/{details.get('post_id')} {what}"
                + (f" ({details['status']})" if details.get("status") else ""))
    if event == AlertEvent.MONITOR_FAILING:
        return f"flagged after {details.get('failures')} failed run(s) in a row"
    return f"run {details.get('run')} went well after it was flagged"


@_never_fatal
def run_recorded(settings: Settings, archive: Any, monitor: MonitorRow, run: MonitorRunRow
                 ) -> None:
    """A monitor's run was recorded: its new posts, and whether the monitor is failing now
    or has recovered."""
    if run.new_posts:
        posts = [{"platform": p.platform, "post_id": p.post_id, "url": p.url,
                  "published": p.published, "job": p.job_id}
                 for p in MonitorStore(archive.catalog).posts(monitor.id)
                 if p.first_run == run.id]
        notify(settings, archive, monitor, AlertEvent.NEW_POSTS,
               {"run": run.id, "new_posts": run.new_posts, "listed": run.listed,
                "listing_capture": run.listing_capture, "posts": posts},
               key=f"{AlertEvent.NEW_POSTS}:{run.id}")
    check_health(settings, archive, monitor.id)


@_never_fatal
def check_health(settings: Settings, archive: Any, monitor_id: str) -> None:
    """Raise monitor-failing for a flagged monitor not alerted as failing yet, and
    monitor-recovered for one alerted as failing whose last run went well. Idempotent: it
    compares the monitor with its last such alert, so any process may call it at any time."""
    store = MonitorStore(archive.catalog)
    row = store.get(monitor_id)
    last_alert = AlertOutbox(archive.catalog).last_health_alert(row.id)
    last = last_alert.event if last_alert else None
    streak = store.runs(row.id, max(row.failures, 1))  # the failed runs in a row, newest first
    latest = streak[0] if streak else None
    # Alerted as failing in this streak of failures; a streak after a `resume` is a new one.
    alerted = last == AlertEvent.MONITOR_FAILING and json.loads(last_alert.body).get("run") in {
        r.id for r in streak}
    if row.flagged and not alerted:
        notes = list(latest.notes or []) if latest else []
        notify(settings, archive, row, AlertEvent.MONITOR_FAILING,
               {"failures": row.failures, "run": latest.id if latest else None,
                "last_run_notes": notes},
               key=f"{AlertEvent.MONITOR_FAILING}:{row.id}:{latest.id if latest else ''}")
    elif (last == AlertEvent.MONITOR_FAILING and not row.flagged and latest is not None
          and latest.state in (CaptureState.COMPLETE, CaptureState.PARTIAL)):
        notify(settings, archive, row, AlertEvent.MONITOR_RECOVERED,
               {"run": latest.id, "state": latest.state},
               key=f"{AlertEvent.MONITOR_RECOVERED}:{row.id}:{latest.id}")


# -- delivering -----------------------------------------------------------------------------
@dataclass
class Attempt:
    """How one POST went: delivered, or the error and whether trying again may help."""

    delivered: bool
    error: str | None = None
    retry: bool = False
    retry_after: float | None = None


@dataclass
class DeliveryReport:
    delivered: list[int] = field(default_factory=list)
    retried: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def deliver_due(settings: Settings, outbox: AlertOutbox, stop: threading.Event | None = None
                ) -> DeliveryReport:
    """Send every delivery whose time has come, once each (a lease per row, so schedulers
    running at once do not both send it). Never raises for a webhook's fault."""
    report = DeliveryReport()
    section = settings.alerts
    for row in outbox.due():
        if stop is not None and stop.is_set():
            break
        if not outbox.take(row.id, lease=section.timeout * 3 + 30):
            continue  # another scheduler holds it
        attempt = _attempt(settings, row)
        tries = row.attempts + 1
        shown = redact_url(row.target)
        if attempt.delivered:
            outbox.settle(row.id, state=DeliveryState.DELIVERED, error=None)
            report.delivered.append(row.id)
            log.info("alert %s (%s) delivered to %s (attempt %d)", row.alert_id, row.event,
                     shown, tries, extra={"alert": row.alert_id, "monitor": row.monitor_id})
        elif attempt.retry and tries < section.retries:
            wait = min(section.backoff * 2 ** (tries - 1), section.backoff_max)
            if attempt.retry_after:
                wait = max(wait, min(attempt.retry_after, section.backoff_max))
            outbox.settle(row.id, state=DeliveryState.PENDING, error=attempt.error,
                          retry_in=wait)
            report.retried.append(row.id)
            log.warning("alert %s (%s) to %s: %s; attempt %d of %d, next in %.0f s",
                        row.alert_id, row.event, shown, attempt.error, tries, section.retries,
                        wait, extra={"alert": row.alert_id, "monitor": row.monitor_id})
        else:
            why = attempt.error if not attempt.retry else \
                f"{attempt.error} (gave up after {tries} attempts)"
            outbox.settle(row.id, state=DeliveryState.FAILED, error=why)
            report.failed.append(row.id)
            log.error("alert %s (%s) NOT delivered to %s: %s", row.alert_id, row.event, shown,
                      why, extra={"alert": row.alert_id, "monitor": row.monitor_id})
    return report


def _secret(settings: Settings, ref: str | None) -> str | None:
    if ref and ref.startswith("env:"):
        return os.environ.get(ref[4:]) or None
    return settings.alerts.secret_value()


def _attempt(settings: Settings, row: AlertRow) -> Attempt:
    try:
        secret = _secret(settings, row.secret_ref)
    except IsnadError as exc:
        return Attempt(False, str(exc))
    if secret is None:
        where = (f"the environment variable {row.secret_ref[4:]} is not set"
                 if row.secret_ref and row.secret_ref.startswith("env:")
                 else "neither ISNAD_ALERTS__SECRET nor alerts.secret_file is set")
        return Attempt(False, f"no signing secret: {where} where the alerts are delivered")
    body = row.body.encode("utf-8")
    stamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", "User-Agent": f"Isnad/{__version__}",
               "X-Isnad-Event": row.event, "X-Isnad-Alert": row.alert_id,
               "X-Isnad-Timestamp": stamp, "X-Isnad-Signature": sign(secret, stamp, body)}
    return post(settings, row.target, body, headers)


def post(settings: Settings, url: str, body: bytes, headers: dict[str, str]) -> Attempt:
    """One POST, sent directly (not through a capture proxy) to an address the SSRF guard
    approved (the one connected to: no second lookup a rebinding name could change).
    Redirects are not followed."""
    try:
        addresses = check_target(url, settings.allow_private_networks,
                                 private_origins=settings.private_origins)
    except CaptureRefused as exc:
        return Attempt(False, str(exc))
    except IsnadError as exc:  # the name does not resolve (now): may come back
        return Attempt(False, str(exc), retry=True)
    parts = urlsplit(url)
    timeout = settings.alerts.timeout
    port = parts.port or (443 if parts.scheme == "https" else 80)
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.hostname, port, timeout=timeout,
                                           context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(parts.hostname, port, timeout=timeout)

    def connect(_address: Any, timeout: float = timeout, source: Any = None) -> socket.socket:
        last: OSError | None = None
        for address in addresses:
            try:
                return socket.create_connection((address, port), timeout, source)
            except OSError as exc:
                last = exc
        raise last or OSError(f"no address for {parts.hostname}")

    # http.client's own hook for making the socket (TLS still checks the host name).
    conn._create_connection = connect  # type: ignore[attr-defined]
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("POST", target, body=body, headers=headers)
        reply = conn.getresponse()
        reply.read(65536)
        status = reply.status
        retry_after = _seconds(reply.getheader("Retry-After"))
    except (OSError, http.client.HTTPException) as exc:
        return Attempt(False, f"{type(exc).__name__}: {exc}", retry=True)
    finally:
        conn.close()
    if 200 <= status < 300:
        return Attempt(True)
    if status == 429 or status >= 500:
        return Attempt(False, f"HTTP {status}", retry=True, retry_after=retry_after)
    return Attempt(False, f"HTTP {status}" + (" (redirects are not followed)"
                                              if 300 <= status < 400 else ""))


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None  # an HTTP date: the backoff decides


class AlertCourier(threading.Thread):
    """The scheduler's delivery thread: a pass over the outbox every ``alerts.poll`` seconds
    until ``stop`` is set (a pass under way ends after its current POST)."""

    def __init__(self, settings: Settings, stop: threading.Event,
                 outage: CatalogOutage | None = None) -> None:
        super().__init__(name="isnad-alerts", daemon=True)
        self.settings = settings
        self.stop = stop
        self.outbox = AlertOutbox(Catalog(settings.catalog_url))
        # The scheduler's own (one outage said once), or one of its own.
        self.outage = outage or CatalogOutage(
            "alert courier", meanwhile="no alert is delivered until it answers", logger=log)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                deliver_due(self.settings, self.outbox, self.stop)
            except CATALOG_DOWN as exc:  # said once per outage, not a traceback per pass
                self.outage.failed(exc)
            except Exception:  # noqa: BLE001 - anything else must not end deliveries
                log.exception("alert delivery pass")
            else:
                self.outage.ended()
            self.stop.wait(self.settings.alerts.poll)


def alert_record(row: AlertRow) -> dict[str, Any]:
    """An outbox row as JSON (the body is the alert as sent)."""
    from isnad.app.records import utc_iso

    return {"id": row.id, "alert": row.alert_id, "event": row.event,
            "monitor": row.monitor_id, "created_at": utc_iso(row.created_at),
            "target": redact_url(row.target) if row.target else None, "state": row.state,
            "attempts": row.attempts, "next_try_at": utc_iso(row.next_try_at),
            "delivered_at": utc_iso(row.delivered_at), "last_error": row.last_error,
            "body": json.loads(row.body)}
