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
    # Long enough that a loaded machine does not let it expire between two calls.
    first = Lease(catalog.engine, "schedules", duration=4)
    second = Lease(catalog.engine, "schedules", duration=4)
    assert first.hold("one") and not second.hold("two")
    assert first.hold("one")  # renewed
    assert second.current().holder == "one"
    time.sleep(4.2)  # "one" stops renewing (dead): the lease expires, "two" takes it over
    assert second.hold("two") and not first.hold("one")
    assert second.current().holder == "two"
    assert second.release("two") and not first.release("two-was-here")
    assert first.hold("one")  # released: taken at once, no expiry to wait for
    assert first.current().expires_at - first.current().acquired_at == timedelta(seconds=4)


def test_contenders_at_once_get_one_lease(catalog):
    holders: list[str] = []
    start = threading.Barrier(8, timeout=60)
    Lease(catalog.engine, "schedules", duration=30)  # the tables, made once

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


def _said(process: SchedulerProcess, text: str) -> bool:
    return any(text in r.get("message", "") for r in process.lines())


@pytest.mark.serial  # asserts how many seconds a take-over took
@pytest.mark.e2e
@pytest.mark.timeout(900)
def test_one_of_two_schedulers_fires_and_the_other_takes_over_when_it_dies(isnad):
    def on(machine: str) -> dict[str, str]:
        return {"ISNAD_SCHEDULES__LEASE": "4", "ISNAD_WORKER__HOST": machine}

    one = SchedulerProcess(isnad, on("machine-a"), "one")
    one.wait_for(lambda: _said(one, "leads"))
    two = SchedulerProcess(isnad, on("machine-b"), "two")
    three = four = None
    try:
        two.wait_for(lambda: _said(two, "standing by"))
        one.wait_for(lambda: len(one.ran()) >= 4)
        time.sleep(3)
        assert two.ran() == [], "the scheduler standing by fired a schedule"
        one.proc.send_signal(signal.SIGKILL)  # machine A dies
        one.proc.wait()
        killed_at = time.monotonic()
        two.wait_for(lambda: _said(two, "leads"), 60)
        took_over_after = time.monotonic() - killed_at
        two.wait_for(lambda: len(two.ran()) >= 3)
        # A's scheduler is gone once silent for stale_after (seen from another machine).
        shown = {w["pid"]: w for w in isnad("workers", "--json", env={
            "ISNAD_WORKER__STALE_AFTER": "5"}).json()}
        assert shown[two.proc.pid]["leads"] and shown[two.proc.pid]["state"] == "alive"
        assert shown[one.proc.pid]["state"] == "gone" and not shown[one.proc.pid]["leads"]
        # Machine B cannot see A's process: it waited for the lease (4 s) to run out, and
        # no longer than that and a heartbeat (1 s) or two.
        assert 2 <= took_over_after < 4 + 1 + 5, took_over_after

        # A clean stop gives the lease up: the next scheduler leads at once.
        assert two.stop() == 0
        long_lease = {**on("machine-c"), "ISNAD_SCHEDULES__LEASE": "600"}
        three = SchedulerProcess(isnad, long_lease, "three")
        three.wait_for(lambda: _said(three, "leads"), 60)
        assert not _said(three, "standing by")
        # Restarted on its own machine after a crash: it sees its predecessor dead and
        # takes over at once, without waiting for the lease (600 s) to run out.
        three.proc.send_signal(signal.SIGKILL)
        three.proc.wait()
        four = SchedulerProcess(isnad, long_lease, "four")
        four.wait_for(lambda: _said(four, "leads"), 60)
        assert _said(four, "is dead on this machine; taken over")
        assert four.stop() == 0
    finally:
        for process in (one, two, three, four):
            if process is not None and process.proc.poll() is None:
                process.proc.kill()
    ran = one.ran() + two.ran() + three.ran() + four.ran()
    assert len(set(ran)) == len(ran), "a tick ran twice"
    ledger = [(schedule, due.replace(" ", "T")) for schedule, due, _ in _runs(isnad.home)]
    assert len(set(ledger)) == len(ledger), "a tick is in the run ledger twice"
    logged = {(schedule, due.split("+")[0]) for schedule, due in ran}
    assert logged <= set(ledger)
    # A scheduler killed (SIGKILL: one and three) may have recorded its last run in the
    # ledger and died before logging it: one such run each at the most.
    assert len(set(ledger) - logged) <= 2, set(ledger) - logged
