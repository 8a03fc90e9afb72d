"""A monitor's own ``--jitter`` is its schedule's spread in the scheduler (the scheduler's
``schedules.jitter`` only for monitors that set none), on a real catalog and APScheduler."""

from __future__ import annotations

from pathlib import Path

from archiver.monitors import MonitorStore
from isnad.app.archive import open_archive
from isnad.app.schedules import MONITOR, monitor_plan
from isnad.config import Settings
from scheduler.service import Schedules, When


def _monitor(store: MonitorStore, **timing) -> str:  # noqa: ANN003
    row = store.add(url="https://t.me/s/example", kind="channel", platform="telegram",
                    case_id=None, tags=[], note=None, posts=None, recheck=None,
                    operator="tester", use_browser=False, **timing)
    return f"{MONITOR}:{row.id}"


def test_a_monitors_jitter_is_its_schedules_trigger_jitter(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    archive = open_archive(settings, recover=False)
    store = MonitorStore(archive.catalog)
    own = _monitor(store, every=900, cron=None, jitter=120)  # --every 15m --jitter 2m
    cron = _monitor(store, every=None, cron="0 */2 * * *", jitter=45)
    plain = _monitor(store, every=900, cron=None, jitter=0)  # no --jitter: the scheduler's

    plan = monitor_plan(settings, archive)
    assert plan[own] == When(every=900.0, jitter=120.0)
    assert plan[cron] == When(cron="0 */2 * * *", jitter=45.0)
    assert plan[plain] == When(every=900.0)

    schedules = Schedules(archive.catalog.engine, "test", jitter=30.0, misfire_grace=60)
    schedules.start()
    try:
        for schedule_id, when in plan.items():
            schedules.register(schedule_id, when)
        job = schedules.scheduler.get_job
        # The monitor's 2 minutes as given (not cut to a tenth of the interval as the
        # scheduler's default spread is), on an interval and on a cron line alike.
        assert job(own).trigger.jitter == 120
        assert job(cron).trigger.jitter == 45
        assert job(plain).trigger.jitter == 30  # min(30, 900 / 10)
        # A changed jitter is a changed timing: the stored trigger is replaced.
        assert schedules.register(own, When(every=900.0, jitter=120.0)) is False
        assert schedules.register(own, When(every=900.0, jitter=10.0)) is True
        assert job(own).trigger.jitter == 10
    finally:
        schedules.shutdown()
