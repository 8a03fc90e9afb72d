"""The monitor tables: a post is recorded once per monitor, whoever inserts it at the same
time; the run that wins the insert is the one that queues the post's capture."""

from __future__ import annotations

import multiprocessing

from archiver.catalog import Catalog
from archiver.jobs import JobRow, JobStore
from archiver.monitors import MonitorStore
from archiver.states import CaptureState, JobState, MonitorPostState


def _store(url: str) -> MonitorStore:
    """The store on a catalog at ``url`` (each test runs on SQLite and on PostgreSQL)."""
    return MonitorStore(Catalog(url, upgrade=True))


def _monitor(store: MonitorStore) -> str:
    return store.add(url="https://t.me/s/chan", kind="channel", platform="telegram", every=900,
                     cron=None, jitter=0, case_id="C1", tags=["t"], note=None, posts=5,
                     recheck=None, operator="analyst").id


def _job(url: str) -> dict:
    return {"url": url, "priority": 20, "source": "monitor:x", "operator": "analyst",
            "case_id": None, "spec": {"url": url}}


def test_the_first_insert_wins_and_queues_the_capture(catalog_url):
    store = _store(catalog_url)
    monitor = _monitor(store)
    first = store.record_post(monitor, "run1", platform="telegram", post_id="5",
                              url="https://t.me/chan/5", published=None, job=_job("u5"))
    again = store.record_post(monitor, "run2", platform="telegram", post_id="5",
                              url="https://t.me/chan/5", published=None, job=_job("u5"))
    assert isinstance(first, JobRow) and again is None
    (post,) = store.posts(monitor)
    assert (post.first_run, post.job_id, post.state) == ("run1", first.id, MonitorPostState.SEEN)
    assert post.last_seen > post.first_seen
    job = JobStore(store.catalog).get(first.id)
    assert (job.state, job.url, job.priority) == (JobState.QUEUED, "u5", 20)
    # Another monitor watching the same channel records the post for itself.
    other = _monitor(store)
    assert store.record_post(other, "run3", platform="telegram", post_id="5",
                             url="https://t.me/chan/5", published=None, job=_job("u5"))


def test_a_run_counts_what_it_won_and_failures_flag_the_monitor(catalog_url):
    store = _store(catalog_url)
    monitor = _monitor(store)
    store.add_run(monitor, "run1")
    for n in ("1", "2"):
        store.record_post(monitor, "run1", platform="telegram", post_id=n, url=n,
                          published=None, job=_job(n))
    run = store.end_run("run1", CaptureState.COMPLETE, listed=2, notes=[],
                        listing_capture="cap", flag_after=2)
    assert (run.new_posts, run.listed, run.state) == (2, 2, CaptureState.COMPLETE)
    for number in (2, 3):
        store.add_run(monitor, f"run{number}")
        store.end_run(f"run{number}", CaptureState.FAILED, listed=0, notes=["no answer"],
                      listing_capture=None, flag_after=2)
    row = store.get(monitor)
    assert (row.failures, row.flagged) == (2, True)
    store.set_paused(monitor, False)  # resumed by a person: the flag is cleared
    assert (store.get(monitor).failures, store.get(monitor).flagged) == (0, False)


def _race(url: str, run: str, start, results) -> None:  # noqa: ANN001 - multiprocessing
    store = MonitorStore(Catalog(url))
    monitor = store.list()[0].id
    start.wait()
    won = [n for n in range(30) if store.record_post(
        monitor, run, platform="telegram", post_id=str(n), url=str(n), published=None,
        job=_job(str(n)))]
    results.put((run, won))


def test_runs_at_once_in_many_processes_queue_each_post_once(catalog_url):
    racers = 4
    _monitor(_store(catalog_url))
    context = multiprocessing.get_context("spawn")
    start, results = context.Event(), context.Queue()
    processes = [context.Process(target=_race, args=(catalog_url, f"run{i}", start, results))
                 for i in range(racers)]
    for process in processes:
        process.start()
    start.set()
    won = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    every = sorted(n for _, numbers in won for n in numbers)
    assert every == list(range(30))  # each post won by exactly one run
    store = _store(catalog_url)
    assert len(store.posts(store.list()[0].id)) == 30
    assert len(JobStore(store.catalog).list()) == 30  # one capture job a post


def test_runs_that_ended_unrecorded_are_found_for_every_monitor_in_one_query(catalog_url):
    """The scheduler settles them every 30 s for all monitors: one query, not one a monitor
    (with a thousand monitors, that query per monitor was most of its idle cost)."""
    from sqlalchemy import event

    store = _store(catalog_url)
    jobs = JobStore(store.catalog)
    monitors = [_monitor(store) for _ in range(30)]

    def run_of(monitor: str) -> str:
        job = jobs.add(url="u", spec={"url": "u"}, priority=20, source=f"monitor:{monitor}",
                       operator="analyst", case_id=None)
        store.add_run(monitor, job.id)
        return job.id

    for monitor in monitors[:2]:  # their jobs were cancelled before recording the run
        assert jobs.cancel(run_of(monitor)) == JobState.CANCELLED
    waiting = run_of(monitors[2])  # still queued: not ended, left open
    statements: list[str] = []
    event.listen(store.catalog.engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *rest: statements.append(statement))
    assert store.settle_unfinished(None, flag_after=5) == 2
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1
    assert [store.get(m).failures for m in monitors[:3]] == [1, 1, 0]
    assert all("the run's job cancelled" in store.runs(m)[0].notes[0] for m in monitors[:2])
    assert store.settle_unfinished(None, flag_after=5) == 0  # each is settled once
    assert store.settle_unfinished(monitors[0], flag_after=5) == 0
    assert store.run(waiting).state is None
