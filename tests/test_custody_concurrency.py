"""Custody chains appended by many processes at once stay one valid chain per capture, on
SQLite and on a real PostgreSQL (what one process at a time on SQLite used to hide)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from archiver.archive import Archive, capture_index, record_sha256
from archiver.capture import CaptureRequest, begin_capture
from archiver.catalog import Catalog
from archiver.custody import chain_problems, head_problems
from archiver.signing import init_keys
from archiver.storage import LocalFolderStorage

ROOT = Path(__file__).resolve().parents[1]

# One "worker": opens the archive as a worker would, waits for the common start, appends.
_APPEND = """
import os, sys, time
from pathlib import Path
from archiver.archive import Archive
from archiver.catalog import Catalog
from archiver.signing import load_key
from archiver.storage import LocalFolderStorage
url, home, packages, keys, capture_id, count, start = sys.argv[1:]
archive = Archive(Path(home), Catalog(url), [LocalFolderStorage(Path(packages))])
key = load_key(Path(keys))
archive.use_head_key(lambda: key)
while time.time() < float(start):
    time.sleep(0.005)
for i in range(int(count)):
    archive.record_event(capture_id, f"worker-{os.getpid()}", "noted", None, {"i": i})
"""


def test_many_processes_appending_to_one_chain_keep_it_one_valid_chain(catalog_url, tmp_path):
    home, packages, keys = tmp_path / "home", tmp_path / "packages", tmp_path / "keys"
    archive = Archive(home, Catalog(catalog_url, upgrade=True), [LocalFolderStorage(packages)])
    key = init_keys(keys)
    archive.use_head_key(lambda: key)
    cid = begin_capture(archive, CaptureRequest("http://127.0.0.1:9/", "analyst"), {}
                        ).capture_id
    assert archive.preserve(cid, None, "analyst")  # a stored copy: events go out to storage
    workers, each = 6, 5
    start = time.time() + 4  # every process open and waiting before the first append
    procs = [subprocess.Popen([sys.executable, "-c", _APPEND, catalog_url, str(home),
                               str(packages), str(keys), cid, str(each), str(start)],
                              cwd=ROOT, stderr=subprocess.PIPE, text=True)
             for _ in range(workers)]
    errors = [p.communicate(timeout=240)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * workers, "\n".join(errors)

    events = archive.catalog.events(cid)
    noted = [e for e in events if e.action == "noted"]
    assert len(noted) == workers * each  # none lost
    assert [e.seq for e in events] == list(range(1, len(events) + 1))  # no duplicate, no gap
    assert chain_problems(events) == []
    head = archive.catalog.head(cid).head
    # The head of the whole chain, and no break recorded along the way (a head signed over a
    # chain another process had just extended would carry one for ever).
    row = archive.catalog.get(cid)
    assert head_problems(head, events, record_sha256(capture_index(row))) == []
    assert "breaks" not in head and head["count"] == len(events)

    # Storage holds the same chain and its latest head (never an older one written last).
    prefix = archive.prefix_of(cid)
    target = archive.primary
    assert archive.stored_events(target, prefix) == events
    assert archive.stored_head(target, prefix) == head
    assert archive.catalog.copies(cid)[0].events_stored == len(events)


class _Interleaving(LocalFolderStorage):
    """A folder whose first custody-head write waits while ``meanwhile`` runs: another
    process appending an event (and writing its newer head) between this process reading its
    head from the catalog and writing it out."""

    meanwhile = None

    def put_bytes(self, key: str, data: bytes):  # noqa: ANN201 - as the base class
        if key.endswith("/custody-head.json") and self.meanwhile is not None:
            run, self.meanwhile = self.meanwhile, None
            run()
        return super().put_bytes(key, data)


def test_a_head_read_before_another_append_is_never_left_on_storage(catalog_url, tmp_path):
    storage = _Interleaving(tmp_path / "packages")
    mine = Archive(tmp_path / "home", Catalog(catalog_url, upgrade=True), [storage])
    other = Archive(tmp_path / "home", Catalog(catalog_url), [storage])  # another worker
    cid = begin_capture(mine, CaptureRequest("http://127.0.0.1:9/", "analyst"), {}).capture_id
    assert mine.preserve(cid, None, "analyst")
    storage.meanwhile = lambda: other.record_event(cid, "worker-2", "noted", None, {"n": 2})
    mine.record_event(cid, "worker-1", "noted", None, {"n": 1})

    events = mine.catalog.events(cid)
    head = mine.catalog.head(cid).head
    assert [e.details.get("n") for e in events[-2:]] == [1, 2]
    prefix = mine.prefix_of(cid)
    # The head on storage counts both events (the stale one, written last, was replaced).
    assert mine.stored_head(storage, prefix) == head and head["count"] == len(events)
    assert mine.stored_events(storage, prefix) == events
    assert mine.catalog.copies(cid)[0].events_stored == len(events)
