"""CLI benchmarks: commands that must answer at once at any catalog size. Prints figures (the
median of --runs, the load average beside each, peak RSS); asserts nothing.

1. `isnad --help`, `isnad list`, `list --json`, `jobs` and `show ID` on an empty home whose
   catalog the first command already made (target: <= 0.25 s each).
2. On a catalog of --captures rows (default 100,000; written directly into the catalog, not by
   capturing): `isnad list` (first page, target <= 0.3 s), `isnad list --page 1000`,
   `isnad list --json` and `--jsonl` to /dev/null (streamed: peak RSS must not grow with the
   catalog), and `isnad list --json` on a tenth of it to show that it does not.

``--source DIR`` runs the commands from another checkout of Isnad (e.g. the commit before, from
``git archive COMMIT | tar -x -C DIR``) with the same virtualenv: before and after, alike.
Options the older code lacks (``--page``, ``--jsonl``) are skipped there.

``--start-only``: only the empty home and the first page of ``--captures``. ``--phases``: only
where the CPU seconds of `isnad list` on an empty home go (interpreter, Typer and Rich,
settings, SQLAlchemy, the catalog's mappers, the command itself), the minimum of ``--runs``.

The commands run with bytecode caching on (``PYTHONDONTWRITEBYTECODE`` removed, one untimed
run first), as an installed Isnad runs: without it every run compiles Isnad's own modules again.

Usage: ``python bench/cli.py [--captures 100000] [--runs 3] [--source DIR] [--start-only]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_catalog(home: Path, count: int) -> None:
    """``count`` captures (each with a stored copy and three custody-free artifacts' worth of
    context), inserted in bulk into ``home``'s catalog: what years of captures leave behind."""
    from archiver.catalog import CaptureRow, Catalog, CopyRow

    home.mkdir(parents=True, exist_ok=True)
    catalog = Catalog(f"sqlite:///{home / 'catalog.db'}")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    states = ("COMPLETE",) * 8 + ("PARTIAL", "FAILED")
    with catalog.engine.begin() as conn:
        for first in range(0, count, 5000):
            captures, copies = [], []
            for i in range(first, min(first + 5000, count)):
                capture_id = f"{i:08x}-{i % 65536:04x}-7000-8000-{i:012x}"
                state = states[i % len(states)]
                key = None if state == "FAILED" else f"captures/{capture_id}.wacz"
                captures.append({
                    "id": capture_id, "url": f"https://site{i % 97}.example.org/post/{i}",
                    "final_url": None, "state": state, "reasons": [], "error": None,
                    "case_id": f"CASE-{i % 40}", "tags": ["bench", f"t{i % 7}"], "note": None,
                    "operator": "bench", "started_at": start + timedelta(minutes=i),
                    "ended_at": start + timedelta(minutes=i, seconds=20),
                    "package_key": key, "package_sha256": "0" * 64 if key else None,
                    "package_size": 123456 if key else None, "context": {"stats": {}},
                    "spool_path": None})
                copies.append({"capture_id": capture_id, "target": "local", "state": "STORED",
                               "key": key, "location": f"/archive/{key}", "sha256": "0" * 64,
                               "size": 123456, "events_stored": 1, "attempts": 1})
            conn.execute(CaptureRow.__table__.insert(), captures)
            conn.execute(CopyRow.__table__.insert(), copies)
    catalog.engine.dispose()


SOURCE: Path | None = None  # --source: the checkout whose code runs


def run(home: Path, *args: str) -> tuple[float, float, float, int]:
    """Wall and CPU seconds, peak RSS (MiB) and exit status of `isnad ARGS`, stdout to
    /dev/null."""
    env = {**os.environ, "ISNAD_HOME": str(home), "COLUMNS": "120"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # .pyc files, as an installed Isnad has
    if SOURCE is not None:
        env["PYTHONPATH"] = str(SOURCE)
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "isnad.cli", *args], stdout=sink,
                                stderr=subprocess.DEVNULL, env=env, cwd=home)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return time.perf_counter() - started, cpu, usage.ru_maxrss / 1024, proc.returncode


def copy_capture(home: Path, capture_id: str, count: int) -> None:
    """``count`` more captures holding the very package of ``capture_id`` (hard links under
    their own keys): verifying them is the real work of re-hashing real packages (their custody
    chains are absent, which each report names)."""
    from archiver.catalog import CaptureRow, Catalog, CopyRow

    catalog = Catalog(f"sqlite:///{home / 'catalog.db'}")
    row = catalog.get(capture_id)
    (copy,) = row.copies
    folder = Path(copy.location).parent
    with catalog.engine.begin() as conn:
        for i in range(count):
            new_id = f"{capture_id[:-8]}{i:08x}"
            key = (copy.key or "").replace(capture_id, new_id)
            target = Path(str(copy.location).replace(capture_id, new_id))
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(folder / Path(copy.location).name, target)
            conn.execute(CaptureRow.__table__.insert(), [{
                **{c.name: getattr(row, c.name) for c in CaptureRow.__table__.columns},
                "id": new_id, "package_key": key}])
            conn.execute(CopyRow.__table__.insert(), [{
                **{c.name: getattr(copy, c.name) for c in CopyRow.__table__.columns
                   if c.name != "id"}, "capture_id": new_id, "key": key,
                "location": str(target)}])
    catalog.engine.dispose()


def verify_packages(work: Path, count: int) -> None:
    """`verify --all` over ``count`` real packages, one worker and then two."""
    from tests.fixture_site import FixtureServer

    home = work / "packages"
    home.mkdir()
    env = {**os.environ, "ISNAD_HOME": str(home), "ISNAD_ALLOW_PRIVATE_NETWORKS": "true"}
    with FixtureServer(generated_pages=200) as site:
        # 20 MB of the fixture's random bytes: a package whose verification is hashing.
        proc = subprocess.run([sys.executable, "-m", "isnad.cli", "capture", "--json",
                               "--no-browser", site.url("/blob/big.bin?size=20000000")],
                              env=env, cwd=home, capture_output=True, text=True, check=False)
    record = json.loads(proc.stdout)[0]
    copy_capture(home, record["id"], count - 1)
    print(f"(verify --all: {count} packages of {record['package_size'] / 1e6:.1f} MB)",
          flush=True)
    for workers in ("1", "2"):
        load = os.getloadavg()[0]
        first, whole, code = first_and_last(home, "verify", "--all", "--workers", workers)
        print(f"{'isnad verify --all --workers ' + workers:44} first report after "
              f"{first:.2f} s, all {whole:.2f} s, exit {code}  (load {load:.2f})", flush=True)


def first_and_last(home: Path, *args: str) -> tuple[float, float, int]:
    """Seconds to the first line of `isnad ARGS` on stdout, to its end, and its exit status."""
    env = {**os.environ, "ISNAD_HOME": str(home), "COLUMNS": "120"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # .pyc files, as an installed Isnad has
    if SOURCE is not None:
        env["PYTHONPATH"] = str(SOURCE)
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "isnad.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env, cwd=home)
    assert proc.stdout is not None
    proc.stdout.readline()
    first = time.perf_counter() - started
    for _ in proc.stdout:
        pass
    code = proc.wait()
    return first, time.perf_counter() - started, code


# Run in a fresh interpreter: the CPU seconds of `isnad ARGS`, phase by phase, in the order the
# command loads things (each phase also pays for what it shares with the later ones).
_PHASES = """
import json, os, resource, sys, time
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
marks = [("interpreter start (with site)", cpu())]
import isnad.cli
marks.append(("Typer, Rich and isnad.cli", cpu()))
import isnad.config
marks.append(("pydantic-settings, pydantic and isnad.config", cpu()))
import sqlalchemy.orm, sqlalchemy.dialects.sqlite
marks.append(("SQLAlchemy (Core, ORM, the SQLite dialect)", cpu()))
import isnad.app.archive, isnad.app.catalog
marks.append(("the catalog's tables (mappers) and the app modules", cpu()))
import sqlalchemy.orm
sqlalchemy.orm.configure_mappers()
marks.append(("configuring the mappers (each command's first query)", cpu()))
sys.argv = ["isnad", *json.loads(sys.argv[1])]
out = sys.stdout
sys.stdout = open(os.devnull, "w")
try:
    isnad.cli.main()
except SystemExit:
    pass
marks.append(("the command: arguments, settings, logging, catalog, output", cpu()))
print(json.dumps(marks), file=out)
"""


def phases(home: Path, args: tuple[str, ...], runs: int) -> None:
    """Where the CPU seconds of `isnad ARGS` go, phase by phase (minimum of ``runs``)."""
    env = {**os.environ, "ISNAD_HOME": str(home), "COLUMNS": "120"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if SOURCE is not None:
        env["PYTHONPATH"] = str(SOURCE)
    load = os.getloadavg()[0]
    best: dict[str, float] = {}
    totals: list[float] = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", _PHASES, json.dumps(args)], env=env,
                              cwd=home, capture_output=True, text=True, check=True)
        marks = json.loads(done.stdout.splitlines()[-1])
        before = 0.0
        for name, at in marks:
            best[name] = min(best.get(name, at - before), at - before)
            before = at
        totals.append(before)
    print(f"isnad {' '.join(args)}: {min(totals):.3f} s CPU in all (min of {runs}, "
          f"load {load:.2f})", flush=True)
    for name, seconds in best.items():
        print(f"  {name:58} {seconds:6.3f} s", flush=True)


def measure(label: str, home: Path, args: tuple[str, ...], runs: int) -> None:
    if SOURCE is not None and {"--page", "--jsonl"} & set(args):
        print(f"{label:44} (not in this code)", flush=True)
        return
    load = os.getloadavg()[0]
    results = [run(home, *args) for _ in range(runs)]
    wall = statistics.median(r[0] for r in results)
    cpu = statistics.median(r[1] for r in results)
    least = min(r[1] for r in results)
    rss = max(r[2] for r in results)
    codes = sorted({r[3] for r in results})
    print(f"{label:44} {wall:6.2f} s  cpu {cpu:6.2f} s (min {least:.2f})  peak {rss:5.0f} MiB"
          f"  exit {codes}  (load {load:.2f})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--captures", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--verify", type=int, default=1000,
                        help="rows for the verify --all run")
    parser.add_argument("--packages", type=int, default=0,
                        help="also verify --all this many real packages, 1 and 2 workers")
    parser.add_argument("--only-packages", action="store_true", help="only that")
    parser.add_argument("--source", type=Path, help="run the commands from this checkout")
    parser.add_argument("--start-only", action="store_true",
                        help="only the empty home and the first page of --captures")
    parser.add_argument("--phases", action="store_true",
                        help="only where the CPU time of `isnad list` on an empty home goes")
    options = parser.parse_args()
    global SOURCE  # noqa: PLW0603 - one setting for the whole run
    SOURCE = options.source.resolve() if options.source else None
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores; median of "
          f"{options.runs} runs each; code from {SOURCE or ROOT}", flush=True)
    with tempfile.TemporaryDirectory(prefix="isnad-bench-cli-") as tmp:
        if options.packages:
            verify_packages(Path(tmp), options.packages)
        if options.only_packages:
            return
        empty = Path(tmp) / "empty"
        empty.mkdir()
        run(empty, "list")  # the first command makes the catalog (Alembic): not timed
        if options.phases:
            phases(empty, ("list",), options.runs)
            return
        measure("isnad --help", empty, ("--help",), options.runs)
        measure("isnad list (empty home)", empty, ("list",), options.runs)
        measure("isnad list --json (empty home)", empty, ("list", "--json"), options.runs)
        measure("isnad jobs (empty home)", empty, ("jobs",), options.runs)
        measure("isnad show ID (empty home: not found)", empty,
                ("show", "00000000-0000-7000-8000-000000000000"), options.runs)
        big, tenth = Path(tmp) / "big", Path(tmp) / "tenth"
        started = time.perf_counter()
        make_catalog(big, options.captures)
        print(f"(a catalog of {options.captures:,} captures written in "
              f"{time.perf_counter() - started:.0f} s)", flush=True)
        n = f"{options.captures:,}"
        run(big, "list")  # as above: caches warm, statistics made, as on a catalog in use
        measure(f"isnad list, {n} captures (first page)", big, ("list",), options.runs)
        if options.start_only:
            return
        make_catalog(tenth, options.captures // 10)
        measure(f"isnad list --page 1000, {n}", big, ("list", "--page", "1000"), options.runs)
        measure(f"isnad list --case CASE-7, {n}", big, ("list", "--case", "CASE-7"),
                options.runs)
        measure(f"isnad list --json, {n}", big, ("list", "--json"), options.runs)
        measure(f"isnad list --jsonl, {n}", big, ("list", "--jsonl"), options.runs)
        measure(f"isnad list --json, {options.captures // 10:,}", tenth, ("list", "--json"),
                options.runs)
        # Rows without packages: what is timed is the command's own cost per capture (each
        # report is a finding: the package is not there), and when the first one shows.
        few = Path(tmp) / "few"
        make_catalog(few, options.verify)
        load = os.getloadavg()[0]
        first, whole, code = first_and_last(few, "verify", "--all")
        print(f"{'isnad verify --all, ' + f'{options.verify:,} rows':44} first report after "
              f"{first:.2f} s, all {whole:.2f} s, exit {code}  (load {load:.2f})", flush=True)


if __name__ == "__main__":
    main()
