"""One scheduler at a time: the ``schedules`` lease in the catalog, and two real `isnad
scheduler` processes (two machines) on one catalog, the leader killed with -9."""

from __future__ import annotations

import signal
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from archiver.catalog import Catalog
from scheduler.state import Lease
from tests.test_schedules import SchedulerProcess, _runs


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")


def test_a_lease_has_one_holder_until_it_expires_or_is_released(catalog):
    first = Lease(catalog.engine, "schedules", duration=0.6)
    second = Lease(catalog.engine, "schedules", duration=0.6)
    assert first.hold("one") and not second.hold("two")
    assert first.hold("one")  # renewed
    assert second.current().holder == "one"
    time.sleep(0.8)  # "one" stops renewing (dead): the lease expires, "two" takes it over
    assert second.hold("two") and not first.hold("one")
    assert second.current().holder == "two"
    assert second.release("two") and not first.release("two-was-here")
    assert first.hold("one")  # released: taken at once, no expiry to wait for
    assert first.current().expires_at - first.current().acquired_at == timedelta(seconds=0.6)


def test_contenders_at_once_get_one_lease(catalog):
    holders: list[str] = []
    start = threading.Barrier(8)

    def contend(name: str) -> None:
        lease = Lease(Catalog(catalog.url).engine, "schedules", duration=30)
        start.wait()
        if lease.hold(name):
            holders.append(name)

    threads = [threading.Thread(target=contend, args=(f"s{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(holders) == 1, holders


@pytest.mark.e2e
def test_one_of_two_schedulers_fires_and_the_other_takes_over_when_it_dies(isnad):
    lease = {"ISNAD_SCHEDULES__LEASE": "4"}
    one = SchedulerProcess(isnad, lease, "one")
    one.wait_for(lambda: any("leads" in r.get("message", "") for r in one.lines()))
    two = SchedulerProcess(isnad, lease, "two")
    try:
        two.wait_for(lambda: any("standing by" in r.get("message", "") for r in two.lines()))
        one.wait_for(lambda: len(one.ran()) >= 4)
        time.sleep(3)
        assert two.ran() == [], "the scheduler standing by fired a schedule"
        one.proc.send_signal(signal.SIGKILL)  # the leader's machine dies
        one.proc.wait()
        killed_at = time.monotonic()
        two.wait_for(lambda: any("leads" in r.get("message", "") for r in two.lines()), 60)
        took_over_after = time.monotonic() - killed_at
        two.wait_for(lambda: len(two.ran()) >= 3)
        shown = {w["pid"]: w for w in isnad("workers", "--json").json()}
        assert shown[two.proc.pid]["leads"] and shown[two.proc.pid]["state"] == "alive"
        assert shown[one.proc.pid]["state"] == "gone" and not shown[one.proc.pid]["leads"]
    finally:
        codes = [two.stop()]
        if one.proc.poll() is None:
            one.proc.kill()
    assert codes == [0]
    # Within about the lease time (4 s; the standby looks every heartbeat, 1 s).
    assert took_over_after < 4 + 1 + 5, took_over_after
    ran = one.ran() + two.ran()
    assert len(set(ran)) == len(ran), "a tick ran twice"
    assert len(_runs(isnad.home)) == len(ran)
    # A clean stop releases the lease: a third scheduler leads at once.
    three = SchedulerProcess(isnad, lease, "three")
    try:
        three.wait_for(lambda: any("leads" in r.get("message", "") for r in three.lines()),
                       20)
    finally:
        assert three.stop() == 0
