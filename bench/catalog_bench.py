"""Catalog size benchmark (issue 16): does anything grow with the catalog's size? Prints
figures; asserts nothing (timings vary by machine).

For each database (SQLite, and PostgreSQL from tests/pgserver.py) and each size (default 1,000
and 20,000 captures, a few minutes in all; the issue's 100,000 captures with 1,000,000 custody
events: ``--sizes 1000,100000``, whose filling alone takes minutes), a fresh catalog is made
(``isnad db upgrade``'s schema) and filled in bulk through the catalog's own tables, not by
capturing: per capture --events custody events (default 10), one page, three artifacts, one
stored copy (not for a FAILED one), a signed head, and the job that made it (a job row and its
job_captures link). Then, against it:

- ``isnad list`` (first page; the real CLI in a subprocess, process start included) and
  ``isnad show ID`` (a random capture), --cli-runs each;
- the same two commands run by the Typer app in this process (--calls each: what a command does
  besides starting the interpreter), with the number of SQL statements each runs;
- the same two through the app layer in this process (``isnad.app.catalog.find_captures``,
  ``show_capture``), --calls each, with the number of SQL statements each one runs;
- job submission: --submissions ``Runtime.submit`` calls of one URL each (catalog row + queue
  message; the queue is the default SQLite file of the data folder), p50 / p99.

Each figure is printed with the 1-minute load average when it was taken: the machine may be
shared. Compare a row at both sizes: a figure that grows with the size is what to fix.

Usage: ``python bench/catalog_bench.py [--sizes 1000,20000] [--events 10]
[--db sqlite|postgresql|both] [--cli-runs 5] [--calls 50] [--submissions 200]``
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STATES = ("COMPLETE",) * 8 + ("PARTIAL", "FAILED")
ACTIONS = ("CAPTURE_STARTED", "RESOURCE_FETCHED", "WARC_WRITTEN", "PACKAGE_SEALED",
           "SIGNED", "TIMESTAMPED", "STORED", "VERIFIED", "EXPORTED", "VERIFIED")
START = datetime(2025, 1, 1, tzinfo=UTC)


def capture_id(n: int) -> str:
    """A UUIDv7-shaped id for synthetic capture ``n``: ordered as they were made."""
    return f"{0x01900000 + n // 65536:08x}-{n % 65536:04x}-7000-8000-{n:012x}"


def job_id(n: int) -> str:
    return f"{0x01900000 + n // 65536:08x}-{n % 65536:04x}-7000-9000-{n:012x}"


def _hex(*parts: object) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


def rows_for(n: int, events: int) -> dict[str, list[dict[str, Any]]]:
    """The rows of synthetic capture ``n``, table by table."""
    cid, jid = capture_id(n), job_id(n)
    state = STATES[n % len(STATES)]
    at = START + timedelta(minutes=n)
    url = f"https://site{n % 97}.example.org/post/{n}"
    key = None if state == "FAILED" else f"captures/{cid}.wacz"
    out: dict[str, list[dict[str, Any]]] = {
        "captures": [{
            "id": cid, "url": url, "final_url": None, "state": state,
            "reasons": [] if state == "COMPLETE" else ["a subresource failed"],
            "error": "connection refused" if state == "FAILED" else None,
            "case_id": f"case-{n % 50}", "tags": [f"t{n % 7}", "bench"],
            "note": "شهادة شاهد عيان" if n % 10 == 0 else None, "operator": "bench",
            "started_at": at, "ended_at": at + timedelta(seconds=20),
            "package_key": key, "package_sha256": _hex(cid) if key else None,
            "package_size": 123456 if key else None, "worker_host": "machine-a",
            "worker_pid": 1000 + n % 50, "work_dir": None,
            "context": {"title": f"Post {n}", "stats": {"exchanges": 12}},
            "spool_path": None}],
        "pages": [{"capture_id": cid, "seq": 0, "url": url,
                   "data": {"url": url, "ts": at.isoformat(), "title": f"Post {n}"}}],
        "artifacts": [{"capture_id": cid, "path": path, "kind": kind, "media_type": media,
                       "sha256": _hex(cid, path), "size": 1000 + n % 1000}
                      for path, kind, media in (
                          ("archive/data.warc.gz", "warc", "application/warc"),
                          ("screenshots/page.png", "screenshot", "image/png"),
                          ("metadata/context.json", "metadata", "application/json"))],
        "copies": [] if key is None else [{
            "capture_id": cid, "target": "local", "state": "STORED", "key": key,
            "location": f"/archive/{key}", "sha256": _hex(cid), "size": 123456,
            "events_stored": events, "attempts": 1, "stored_at": at + timedelta(seconds=21)}],
        "custody_heads": [{"capture_id": cid, "head": {"seq": events - 1,
                                                       "hash": _hex(cid, events - 1)},
                           "anchors": []}],
        "jobs": [{"id": jid, "url": url, "state": "done", "priority": 0, "source": "cli",
                  "operator": "bench", "case_id": f"case-{n % 50}",
                  "spec": {"url": url, "operator": "bench"}, "attempts": 1,
                  "created_at": at - timedelta(seconds=5), "started_at": at,
                  "ended_at": at + timedelta(seconds=21), "worker": "worker:machine-a:1:1",
                  "worker_host": "machine-a", "worker_pid": 1, "heartbeat_at": at,
                  "progress": {}, "cancel_requested": False, "error": None,
                  "history": [{"attempt": 1, "worker": "worker:machine-a:1:1",
                               "outcome": "done", "captures": [cid]}]}],
        "job_captures": [{"capture_id": cid, "job_id": jid, "attempt": 1}],
    }
    prev = "0" * 64
    out["custody_events"] = []
    for seq in range(events):
        digest = _hex(cid, seq)
        out["custody_events"].append({
            "capture_id": cid, "seq": seq,
            "time": (at + timedelta(seconds=seq * 2)).isoformat().replace("+00:00", "Z"),
            "actor": "isnad", "action": ACTIONS[seq % len(ACTIONS)],
            "object_sha256": digest if seq % 3 == 0 else None, "details": {"n": seq},
            "prev_hash": prev, "hash": digest})
        prev = digest
    return out


def fill(url: str, count: int, events: int, batch: int = 2000) -> float:
    """``count`` synthetic captures into a fresh catalog at ``url``; seconds taken."""
    import sqlalchemy

    from archiver.catalog import Base
    from archiver.schema import upgrade

    engine = sqlalchemy.create_engine(url)
    upgrade(engine)
    tables = Base.metadata.tables
    order = ("captures", "pages", "artifacts", "copies", "custody_heads", "custody_events",
             "jobs", "job_captures")
    began = time.perf_counter()
    for first in range(0, count, batch):
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name in order}
        for n in range(first, min(count, first + batch)):
            for name, more in rows_for(n, events).items():
                rows[name] += more
        with engine.begin() as conn:
            for name in order:
                if rows[name]:
                    conn.execute(tables[name].insert(), rows[name])
        print(f"  ... {min(count, first + batch):,} captures", end="\r", flush=True)
    if engine.dialect.name == "postgresql":  # what autovacuum does after a bulk load
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return time.perf_counter() - began


def percentiles(timings: list[float]) -> tuple[float, float]:
    """p50 and p99 of ``timings`` (seconds), in milliseconds."""
    ordered = sorted(timings)
    return (statistics.median(ordered) * 1000,
            ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000)


@contextlib.contextmanager
def counting(engine: Any = None) -> Iterator[list[str]]:
    """The SQL statements ``engine`` (default: every engine) runs inside the block."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    engine = engine if engine is not None else Engine

    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        statements.append(sql)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def timed(action: Callable[[int], Any], runs: int) -> tuple[float, float, float]:
    """p50, p99 (ms) of ``runs`` calls of ``action(i)``, and the load average at the start."""
    load = os.getloadavg()[0]
    action(-1)  # warms caches (the first call of a process compiles its queries): not counted
    timings = []
    for i in range(runs):
        began = time.perf_counter()
        action(i)
        timings.append(time.perf_counter() - began)
    return (*percentiles(timings), load)


def cli(env: dict[str, str], cwd: Path, *args: str) -> Callable[[int], None]:
    """One run of the real CLI (a subprocess), which must succeed."""
    def run(_i: int) -> None:
        done = subprocess.run([sys.executable, "-m", "isnad.cli", *args], env=env, cwd=cwd,
                              capture_output=True, text=True, timeout=600)
        if done.returncode:
            raise SystemExit(f"isnad {' '.join(args)} exited {done.returncode}: "
                             f"{(done.stderr or done.stdout).strip()[-300:]}")
    return run


def in_process(argv: list[str]) -> None:
    """One `isnad` command run by its Typer app in this process (its output discarded), built
    as `isnad` builds it: only the command that ``argv`` names."""
    from typer.testing import CliRunner

    from isnad.cli import _invoked

    result = CliRunner().invoke(_invoked(argv), argv)
    if result.exit_code:
        raise SystemExit(f"isnad {' '.join(argv)} exited {result.exit_code}: "
                         f"{result.output.strip()[-300:]} {result.exception or ''}")


def measure(db: str, url: str, home: Path, count: int, args: argparse.Namespace
            ) -> dict[str, tuple[float, float, float, str]]:
    """The figures of one catalog: {what: (p50 ms, p99 ms, load, statements)}."""
    from isnad.app.archive import open_archive
    from isnad.app.catalog import find_captures, show_capture
    from isnad.app.jobs import JobSpec
    from isnad.app.runtime import Runtime
    from isnad.config import load_settings

    env = {**os.environ, "ISNAD_HOME": str(home), "ISNAD_CATALOG__URL": url}
    os.environ.update({"ISNAD_HOME": str(home), "ISNAD_CATALOG__URL": url})
    settings = load_settings()
    rng = random.Random(16)
    ids = [capture_id(rng.randrange(count)) for _ in range(max(args.cli_runs, args.calls) + 1)]
    figures: dict[str, tuple[float, float, float, str]] = {}

    def report(what: str, figure: tuple[float, float, float], statements: str = "") -> None:
        figures[what] = (*figure, statements)
        p50, p99, load = figure
        print(f"  {what:42} {p50:9.1f} {p99:9.1f}   load {load:5.2f}  {statements}",
              flush=True)

    report(f"isnad list (CLI process, {args.cli_runs} runs)",
           timed(cli(env, home, "list"), args.cli_runs))
    report(f"isnad show ID (CLI process, {args.cli_runs} runs)",
           timed(lambda i: cli(env, home, "show", ids[i])(i), args.cli_runs))
    # The same commands in this process: their own work, without the interpreter's start.
    for what, argv in (("isnad list", lambda i: ["list"]),
                       ("isnad show ID", lambda i: ["show", ids[i]])):
        with counting() as statements:
            in_process(argv(0))
        report(f"{what} (in process, {args.calls} calls)",
               timed(lambda i, argv=argv: in_process(argv(i)), args.calls),
               f"{len(statements)} statements")
    archive = open_archive(settings, recover=False)
    engine = archive.catalog.engine
    with counting(engine) as statements:
        find_captures(archive, limit=50, shorten=True)
    shown = f"{len(statements)} statements"
    report(f"find_captures, first page ({args.calls} calls)",
           timed(lambda i: find_captures(archive, limit=50, shorten=True), args.calls), shown)
    with counting(engine) as statements:
        show_capture(archive, ids[0])
    report(f"show_capture ({args.calls} calls)",
           timed(lambda i: show_capture(archive, ids[i]), args.calls),
           f"{len(statements)} statements")
    runtime = Runtime(settings, archive)
    site = "https://submitted.example.org/item"
    with counting(engine) as statements:
        runtime.submit([JobSpec(url=f"{site}/first", operator="bench")])
    report(f"submit one URL ({args.submissions} calls)",
           timed(lambda i: runtime.submit([JobSpec(url=f"{site}/{i}", operator="bench")]),
                 args.submissions), f"{len(statements)} statements")
    engine.dispose()
    return figures


def run(db: str, args: argparse.Namespace) -> dict[int, dict[str, Any]]:
    """Every size on one database; the figures by size."""
    results: dict[int, dict[str, Any]] = {}
    pg = None
    if db == "postgresql":
        from tests.pgserver import PostgresServer, find_bin_dir

        bin_dir = find_bin_dir()
        if bin_dir is None:
            print("\npostgresql: not installed, skipped")
            return results
        pg = PostgresServer(bin_dir).start()
    try:
        for size in args.sizes:
            with tempfile.TemporaryDirectory(prefix=f"isnad-catalog-bench-{db}-") as tmp:
                home = Path(tmp) / "home"
                home.mkdir()
                url = pg.new_database() if pg else f"sqlite:///{home / 'catalog.db'}"
                print(f"\n{db}: {size:,} captures, {size * args.events:,} custody events",
                      flush=True)
                seconds = fill(url, size, args.events)
                print(f"  filled in {seconds:.0f} s   load {os.getloadavg()[0]:.2f}"
                      + (f"; catalog file {(home / 'catalog.db').stat().st_size / 2**20:,.0f}"
                         " MiB" if not pg else ""), flush=True)
                print(f"  {'what':42} {'p50 ms':>9} {'p99 ms':>9}")
                results[size] = measure(db, url, home, size, args)
    finally:
        if pg is not None:
            pg.destroy()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,20000",
                        help="catalog sizes in captures, comma-separated")
    parser.add_argument("--events", type=int, default=10, help="custody events per capture")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--cli-runs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--submissions", type=int, default=200)
    args = parser.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    sys.stdout.reconfigure(line_buffering=True)
    print(f"{os.cpu_count()} cores; load {os.getloadavg()[0]:.2f}; p50 / p99 in ms")
    everything = {db: run(db, args)
                  for db in (("sqlite", "postgresql") if args.db == "both" else (args.db,))}
    small, large = min(args.sizes), max(args.sizes)
    if small == large:
        return
    print(f"\ngrowth from {small:,} to {large:,} captures (p50 at {large:,} / p50 at "
          f"{small:,}):")
    for db, by_size in everything.items():
        if small in by_size and large in by_size:
            for what, (p50, *_rest) in by_size[large].items():
                before = by_size[small][what][0]
                print(f"  {db:10} {what:42} {p50 / before:5.2f}x")


if __name__ == "__main__":
    main()
