"""Monitor alerts: raised into the catalog's outbox, delivered to a real HTTP receiver on
127.0.0.1 that checks the HMAC signature, retried on 5xx, recorded (never raised) when they
fail for good; and end to end through the real CLI, a real worker run and a real
`isnad scheduler` that is stopped and started again with alerts still to deliver."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from archiver.alerts import AlertEvent, AlertOutbox, DeliveryState
from archiver.catalog import Catalog
from archiver.monitors import MonitorStore
from archiver.states import CaptureState
from isnad.app import alerts
from isnad.app.archive import open_archive
from isnad.config import Settings
from tests.platform_fixtures.telegram import TelegramFixture

SECRET = "correct horse battery staple"


class Receiver:
    """A webhook receiver on 127.0.0.1: answers each POST with the next status of
    ``statuses`` (the last one repeats) and keeps what it got."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [200])
        self.got: list[dict] = []  # {"status", "headers", "body"}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = (receiver.statuses.pop(0) if len(receiver.statuses) > 1
                          else receiver.statuses[0])
                receiver.got.append({"status": status, "headers": dict(self.headers),
                                     "body": body, "path": self.path})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/isnad"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def delivered(self) -> list[dict]:
        return [g for g in self.got if 200 <= g["status"] < 300]


def verify_signature(secret: str, request: dict, tolerance: float = 300) -> dict:
    """What a receiver does (docs/monitoring.md): HMAC-SHA256 over "timestamp.body",
    compared in constant time, the timestamp recent; the alert it carries."""
    stamp = request["headers"]["X-Isnad-Timestamp"]
    expected = "sha256=" + hmac.new(secret.encode(), stamp.encode() + b"." + request["body"],
                                    hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, request["headers"]["X-Isnad-Signature"])
    assert abs(time.time() - int(stamp)) < tolerance
    return json.loads(request["body"])


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def _settings(tmp_path: Path, webhook: str | None, **alerts_settings) -> Settings:  # noqa: ANN003
    section = {"webhook": webhook, "secret": SECRET, "backoff": 0.05, "backoff_max": 0.2,
               "timeout": 5, **alerts_settings}
    return Settings(home=tmp_path / "home", allow_private_networks=True, alerts=section)


def _monitor(archive, **values):  # noqa: ANN001, ANN003, ANN202
    return MonitorStore(archive.catalog).add(
        url="https://t.me/s/example", kind="channel", platform="telegram", every=3600,
        cron=None, jitter=0, case_id="CASE-1", tags=[], note=None, posts=None, recheck=None,
        operator="tester", use_browser=False, **values)


def _deliver_until(settings: Settings, outbox: AlertOutbox, done: Callable[[], bool],
                   timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, [alerts.alert_record(r) for r in outbox.list()]
        alerts.deliver_due(settings, outbox)
        time.sleep(0.05)


def test_an_alert_is_signed_and_delivered_once(tmp_path, receiver, caplog):
    settings = _settings(tmp_path, receiver.url)
    archive = open_archive(settings, recover=False)
    monitor = _monitor(archive)
    details = {"run": "RUN-1", "new_posts": 2, "posts": [{"post_id": "7"}, {"post_id": "8"}]}
    with caplog.at_level(logging.INFO, logger="isnad.alerts"):
        assert alerts.notify(settings, archive, monitor, AlertEvent.NEW_POSTS, details)
        # The same event raised again (a run's hook run twice): written once, logged once.
        assert not alerts.notify(settings, archive, monitor, AlertEvent.NEW_POSTS, details)
    logged = [r for r in caplog.records if r.name == "isnad.alerts"]
    assert len(logged) == 1 and "new-posts" in logged[0].getMessage()
    outbox = AlertOutbox(archive.catalog)
    assert alerts.deliver_due(settings, outbox).delivered
    assert not alerts.deliver_due(settings, outbox).delivered  # nothing left to send
    (request,) = receiver.got
    assert request["path"] == "/hooks/isnad"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["X-Isnad-Event"] == "new-posts"
    body = verify_signature(SECRET, request)
    assert (body["event"], body["monitor"], body["case"], body["run"], body["new_posts"]) == (
        "new-posts", monitor.id, "CASE-1", "RUN-1", 2)
    assert body["at"].endswith("Z") and request["headers"]["X-Isnad-Alert"] == body["alert"]
    # One changed byte of the body, or another secret: the signature no longer matches.
    with pytest.raises(AssertionError):
        verify_signature(SECRET, {**request, "body": request["body"].replace(b"2", b"3", 1)})
    with pytest.raises(AssertionError):
        verify_signature("another secret", request)
    (row,) = outbox.list()
    assert (row.state, row.attempts, row.last_error) == (DeliveryState.DELIVERED, 1, None)


def test_a_503_twice_is_retried_and_delivered_once(tmp_path):
    flaky = Receiver([503, 503, 200])
    try:
        settings = _settings(tmp_path, flaky.url)
        archive = open_archive(settings, recover=False)
        monitor = _monitor(archive)
        alerts.notify(settings, archive, monitor, AlertEvent.POST_DISAPPEARED,
                      {"platform": "telegram", "post_id": "109", "status": "deleted"})
        outbox = AlertOutbox(archive.catalog)
        _deliver_until(settings, outbox, lambda: flaky.delivered())
        time.sleep(0.3)
        alerts.deliver_due(settings, outbox)  # delivered: never sent again
    finally:
        flaky.close()
    assert [g["status"] for g in flaky.got] == [503, 503, 200]
    bodies = {g["body"] for g in flaky.got}
    assert len(bodies) == 1  # the same bytes each attempt (each signed afresh)
    assert verify_signature(SECRET, flaky.got[-1])["post_id"] == "109"
    (row,) = outbox.list()
    assert (row.state, row.attempts) == (DeliveryState.DELIVERED, 3)


def test_a_webhook_that_always_fails_is_recorded_not_raised(tmp_path, caplog):
    broken = Receiver([500])
    refusing = Receiver([400])
    try:
        settings = _settings(tmp_path, broken.url, retries=3)
        archive = open_archive(settings, recover=False)
        monitor = _monitor(archive, webhook=refusing.url, webhook_secret_env=None)
        alerts.notify(settings, archive, monitor, AlertEvent.MONITOR_FAILING, {"failures": 5})
        outbox = AlertOutbox(archive.catalog)
        with caplog.at_level(logging.INFO, logger="isnad.alerts"):
            _deliver_until(settings, outbox, lambda: all(
                r.state == DeliveryState.FAILED for r in outbox.list()))
    finally:
        broken.close()
        refusing.close()
    rows = {r.target: r for r in outbox.list()}
    assert rows[broken.url].attempts == 3 and len(broken.got) == 3
    assert rows[broken.url].last_error == "HTTP 500 (gave up after 3 attempts)"
    # A 400 is not retried: the receiver refuses this alert, asking again changes nothing.
    assert rows[refusing.url].attempts == 1 and len(refusing.got) == 1
    assert rows[refusing.url].last_error == "HTTP 400"
    errors = [r.getMessage() for r in caplog.records
              if r.name == "isnad.alerts" and r.levelno == logging.ERROR]
    assert len(errors) == 2 and all("NOT delivered" in e for e in errors), errors


def test_the_ssrf_guard_stands_before_a_webhook(tmp_path, receiver):
    settings = _settings(tmp_path, receiver.url).model_copy(
        update={"allow_private_networks": False})
    archive = open_archive(settings, recover=False)
    alerts.notify(settings, archive, _monitor(archive), AlertEvent.NEW_POSTS, {"run": "R"})
    outbox = AlertOutbox(archive.catalog)
    assert alerts.deliver_due(settings, outbox).failed
    (row,) = outbox.list()
    assert row.state == DeliveryState.FAILED and "refused" in row.last_error
    assert receiver.got == []  # nothing was sent to this machine
    with pytest.raises(Exception, match="refused"):
        alerts.check_webhook(settings, receiver.url, "HOOK_SECRET")
    # Allowed by name: the receiver's origin on the private network.
    allowed = settings.model_copy(update={"private_origins": [receiver.url.split("/hooks")[0]
                                                              .removeprefix("http://")]})
    alerts.check_webhook(allowed, receiver.url, "HOOK_SECRET")


def test_failing_and_recovered_are_raised_once_each(tmp_path, receiver):
    settings = _settings(tmp_path, receiver.url)
    archive = open_archive(settings, recover=False)
    monitor = _monitor(archive)
    store = MonitorStore(archive.catalog)

    def run(state: CaptureState, n: int) -> None:
        store.add_run(monitor.id, f"RUN-{n:02d}")
        store.end_run(f"RUN-{n:02d}", state, listed=0, notes=["no answer"] if
                      state == CaptureState.FAILED else [], listing_capture=None, flag_after=3)
        alerts.check_health(settings, archive, monitor.id)

    for n in range(5):  # flagged at the 3rd failure; alerted then, and not again
        run(CaptureState.FAILED, n)
    store.set_paused(monitor.id, False)  # a person resumes it: not recovered yet
    alerts.check_health(settings, archive, monitor.id)
    run(CaptureState.COMPLETE, 5)
    run(CaptureState.COMPLETE, 6)
    # Resumed and failing again, with no good run between: a new streak, alerted again.
    for n in range(7, 10):
        run(CaptureState.FAILED, n)
    store.set_paused(monitor.id, False)
    for n in range(10, 14):
        run(CaptureState.FAILED, n)
    events = [(r.event, json.loads(r.body)) for r in reversed(AlertOutbox(archive.catalog)
                                                               .list())]
    assert [(e, b["run"]) for e, b in events] == [
        ("monitor-failing", "RUN-02"), ("monitor-recovered", "RUN-05"),
        ("monitor-failing", "RUN-09"), ("monitor-failing", "RUN-12")]
    assert events[0][1]["failures"] == 3 and events[0][1]["last_run_notes"] == ["no answer"]


def test_monitor_add_keeps_a_webhook_and_the_name_of_its_secret_only(isnad, receiver):
    with TelegramFixture() as telegram:
        env = {"ISNAD_PLATFORMS__TELEGRAM__BASE_URL": telegram.base}
        channel = f"{telegram.base}/s/syriawitness"
        unsigned = isnad("monitor", "add", channel, "--webhook", receiver.url, env=env)
        assert unsigned.code == 2 and "a webhook is signed" in unsigned.stderr, unsigned
        secret = isnad("monitor", "add", channel, "--webhook", receiver.url,
                       "--webhook-secret-env", SECRET, env=env)
        assert secret.code == 2 and "the name of an environment variable" in secret.stderr
        added = isnad("monitor", "add", channel, "--webhook", receiver.url,
                      "--webhook-secret-env", "HOOK_SECRET", "--json", env=env)
        assert added.code == 0, added
        shown = isnad("monitor", "show", added.json()["id"], "--json").json()
        assert (shown["webhook"], shown["webhook_secret_env"]) == (receiver.url, "HOOK_SECRET")


# -- end to end -----------------------------------------------------------------------------
def _wait_for(what: Callable[[], object], timeout: float, why: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := what():
            return value
        time.sleep(0.3)
    pytest.fail(f"timed out waiting: {why}")


QUIET = {"ISNAD_SCHEDULES__AUDIT__ENABLED": "false", "ISNAD_SCHEDULES__SYNC__ENABLED": "false",
         "ISNAD_SCHEDULES__TIMESTAMPS__ENABLED": "false",
         "ISNAD_SCHEDULES__ANCHOR__ENABLED": "false", "ISNAD_ALERTS__POLL": "0.3",
         "ISNAD_ALERTS__BACKOFF": "0.3", "ISNAD_ALERTS__BACKOFF_MAX": "1"}


@pytest.mark.e2e
@pytest.mark.serial  # two monitor runs and two schedulers in 300 s: ran out next to other tests
def test_monitor_alerts_reach_a_webhook_from_the_scheduler_across_a_restart(isnad):
    """A monitor with its own webhook: two runs (new posts, then a deleted post) raise three
    alerts; a scheduler meets a receiver answering 503 and is stopped; the next scheduler
    delivers each alert once, signed with the secret only its environment holds."""
    hook = Receiver([503])
    try:
        with TelegramFixture() as telegram:
            env = {"ISNAD_PLATFORMS__TELEGRAM__BASE_URL": telegram.base}
            added = isnad("monitor", "add", f"{telegram.base}/s/syriawitness", "--posts", "3",
                          "--no-browser", "--recheck", "7d", "--webhook", hook.url,
                          "--webhook-secret-env", "HOOK_SECRET", "--json", env=env)
            assert added.code == 0, added
            monitor = added.json()["id"]
            first = isnad("monitor", "run", monitor, "--wait", "--json", env=env, timeout=400)
            assert first.code == 0, first
            telegram.server.deleted.add(109)
            second = isnad("monitor", "run", monitor, "--wait", "--json", env=env, timeout=400)
            assert second.json()["new_posts"] == 1, second  # 107; 109 is gone
        outbox = AlertOutbox(Catalog(f"sqlite:///{isnad.home / 'catalog.db'}"))
        assert sorted(r.event for r in outbox.list()) == [
            "new-posts", "new-posts", "post-disappeared"]
        assert all(r.state == DeliveryState.PENDING for r in outbox.list())

        def scheduler() -> subprocess.Popen:
            return subprocess.Popen(isnad.command("scheduler"), cwd=isnad.home,
                                    env={**isnad.env, **QUIET, "HOOK_SECRET": SECRET},
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    text=True)

        def stop(proc: subprocess.Popen) -> None:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err

        one = scheduler()
        try:  # every alert tried at least once, and refused with 503
            _wait_for(lambda: len({g["headers"]["X-Isnad-Alert"] for g in hook.got}) == 3,
                      90, "each alert tried by the first scheduler")
        finally:
            stop(one)
        assert not hook.delivered()
        assert all(r.state == DeliveryState.PENDING and r.attempts >= 1 and
                   r.last_error == "HTTP 503" for r in outbox.list())
        hook.statuses = [200]
        two = scheduler()
        try:
            _wait_for(lambda: all(r.state == DeliveryState.DELIVERED for r in outbox.list()),
                      90, "each alert delivered by the restarted scheduler")
            time.sleep(1.5)  # a few more passes: nothing is sent twice
        finally:
            stop(two)
    finally:
        hook.close()
    delivered = [verify_signature(SECRET, g) for g in hook.delivered()]
    assert sorted(b["alert"] for b in delivered) == sorted(r.alert_id for r in outbox.list())
    assert sorted(b["event"] for b in delivered) == ["new-posts", "new-posts",
                                                     "post-disappeared"]
    gone = next(b for b in delivered if b["event"] == "post-disappeared")
    assert (gone["monitor"], gone["post_id"], gone["status"]) == (monitor, "109", "deleted")
    assert gone["evidence_capture"] and gone["evidence_package_sha256"]
    news = sorted((b for b in delivered if b["event"] == "new-posts"), key=lambda b: b["run"])
    assert [sorted(p["post_id"] for p in b["posts"]) for b in news] == [
        ["108", "109", "110"], ["107"]]
    # The secret is nowhere in the catalog: only the name of the variable that holds it.
    assert SECRET.encode() not in (isnad.home / "catalog.db").read_bytes()
    listed = isnad("alerts", "list", "--monitor", monitor, "--json").json()
    assert {a["state"] for a in listed} == {"delivered"}


def test_a_monitor_flagged_by_a_settled_run_is_alerted_when_listed(isnad):
    """`monitor list` (and each scheduler tick, which lists the monitors) raises
    monitor-failing for a flagged monitor, once, however it came to be flagged."""
    settings = Settings(home=isnad.home)
    archive = open_archive(settings, recover=False)
    monitor = _monitor(archive)
    store = MonitorStore(archive.catalog)
    for n in range(5):  # flagged by the store alone: no alert raised on the way
        store.add_run(monitor.id, f"RUN-{n}")
        store.end_run(f"RUN-{n}", CaptureState.FAILED, listed=0, notes=[],
                      listing_capture=None, flag_after=5)
    outbox = AlertOutbox(archive.catalog)
    assert outbox.list() == []
    for _ in range(2):
        listed = isnad("monitor", "list", "--json")
        assert listed.code == 0 and listed.json()[0]["flagged"] is True, listed
    (row,) = outbox.list()
    assert (row.event, row.state, row.target) == ("monitor-failing", "logged", "")
    assert json.loads(row.body)["run"] == "RUN-4"


def test_an_alert_that_cannot_be_raised_is_logged_never_raised(tmp_path, caplog):
    settings = _settings(tmp_path, None)
    archive = open_archive(settings, recover=False)
    monitor = _monitor(archive)
    with archive.catalog.engine.begin() as conn:  # the outbox cannot be written
        conn.exec_driver_sql("DROP TABLE alert_outbox")
        conn.exec_driver_sql("CREATE TABLE alert_outbox (id INTEGER)")
    with caplog.at_level(logging.ERROR, logger="isnad.alerts"):
        assert alerts.notify(settings, archive, monitor, AlertEvent.NEW_POSTS, {}) is False
    (error,) = [r for r in caplog.records if r.name == "isnad.alerts"]
    assert "could not be raised (notify)" in error.getMessage() and error.exc_info
