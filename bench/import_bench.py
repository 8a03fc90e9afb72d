"""Import benchmark (issue 14). Prints figures; asserts nothing (timings vary by machine).

On one generated WARC (default 512 MiB; the issue's figure is 5 GiB: ``--size 5GiB``, generated
under /tmp and deleted after), each step in its own process so its peak memory is its own:

1. Single-core SHA-256 of the file (the floor: any import reads every byte at least once).
2. The arrival check alone (``archiver.intake.warc.check_warc``): one read of the file, its
   SHA-256 and the working copy in one thread, the records parsed and their block and payload
   digests checked (SHA-1) in another, the CDXJ index. Target: >= 80 % of (1).
3. The whole ``isnad import``: the arrival check, the package (the working copy copied in,
   its hash the one taken on arrival), the package's self-verification (ONE re-read: the
   package's SHA-256 and its members' from the same bytes), storage with its read-back,
   custody. Compared with (1) too.
4. Peak RSS of (2) and (3). Target: < 300 MiB.

Each figure is printed with the load average when it was taken and the CPU time the step
used (user + system, all its threads): on a shared machine the wall-clock figures say more
about the other work than about this one; CPU seconds per GiB say what the step costs.

Usage: ``python bench/import_bench.py [--size 512MiB | 5GiB | 2048]`` (a bare number: MiB)
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MiB = 1024 * 1024


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _user_seconds(who: int = resource.RUSAGE_SELF) -> float:
    """User CPU alone: what the code does. System time is mostly the kernel writing the
    copies out, and on a shared machine it moves with the other work's I/O (2x between runs)."""
    return resource.getrusage(who).ru_utime


def _load() -> float:
    return os.getloadavg()[0]


def parse_size(text: str) -> int:
    """MiB in ``512MiB``, ``5GiB``, ``5G``, ``2048`` (a bare number: MiB)."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(([KMGT])i?B?)?\s*", text, re.IGNORECASE)
    if not found:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 512MiB, 5GiB)")
    unit = (found.group(3) or "M").upper()
    mib = float(found.group(1)) * {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 ** 2}[unit]
    if mib < 1:
        raise argparse.ArgumentTypeError("at least 1 MiB")
    return int(mib)


def make_warc(path: Path, size_mib: int) -> None:
    """A WARC of 1 MiB HTML-typed responses of incompressible bytes (gzip would only add a
    decompression cost that real collections have or have not)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    block = os.urandom(MiB)
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=False)
        for i in range(size_mib):
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")],
                                    protocol="HTTP/1.1")
            body = block[i % 251:] + block[:i % 251]  # each record its own digest
            writer.write_record(writer.create_warc_record(
                f"http://bench.test/{i}", "response", payload=io.BytesIO(body),
                http_headers=http))


def step_sha256(path: Path) -> dict:
    started, cpu, load, user = time.perf_counter(), _cpu_seconds(), _load(), _user_seconds()
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(MiB):
            digest.update(block)
    return {"seconds": time.perf_counter() - started, "cpu": _cpu_seconds() - cpu,
            "user": _user_seconds() - user, "peak_mib": _peak_mib(),
            "load": max(load, _load())}


def step_check(path: Path) -> dict:
    from archiver.intake.warc import check_warc

    with tempfile.TemporaryDirectory(dir=path.parent) as work:
        started, cpu, load = time.perf_counter(), _cpu_seconds(), _load()
        user = _user_seconds()
        checked = check_warc(path, path.name, copy_to=Path(work) / "copy",
                             index_to=Path(work) / "index")
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "cpu": _cpu_seconds() - cpu, "user": _user_seconds() - user,
            "peak_mib": _peak_mib(),
            "load": max(load, _load()), "records": checked.records,
            "findings": len(checked.findings)}


def step_import(path: Path) -> dict:
    with tempfile.TemporaryDirectory(dir=path.parent) as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ISNAD_")}
        env["ISNAD_HOME"] = home
        started, load = time.perf_counter(), _load()
        cpu = _cpu_seconds(resource.RUSAGE_CHILDREN)
        user = _user_seconds(resource.RUSAGE_CHILDREN)
        run = subprocess.run(
            [sys.executable, "-c", "import resource, runpy, sys; sys.argv = sys.argv[1:]; "
             "exec('try:\\n runpy.run_module(\"isnad.cli\", run_name=\"__main__\")\\n"
             "finally:\\n print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
             "file=sys.stderr)')", "isnad", "import", str(path), "--provider", "bench",
             "--json"],
            cwd=home, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        cpu = _cpu_seconds(resource.RUSAGE_CHILDREN) - cpu
        user = _user_seconds(resource.RUSAGE_CHILDREN) - user
    peak = int(run.stderr.strip().splitlines()[-1]) / 1024
    state = json.loads(run.stdout)["state"] if run.stdout.strip() else run.stderr[-300:]
    return {"seconds": seconds, "cpu": cpu, "user": user, "peak_mib": peak,
            "load": max(load, _load()), "state": state}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=512,
                        help="size of the generated WARC: 512MiB (default), 5GiB, ...")
    parser.add_argument("--size-mib", type=int, dest="size", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", default="/tmp",
                        help="where the WARC and the import's home are made (default /tmp)")
    parser.add_argument("--step", choices=("sha256", "check", "import"))
    parser.add_argument("--file")
    args = parser.parse_args()
    if args.step:  # one step, in its own process (see below)
        result = {"sha256": step_sha256, "check": step_check,
                  "import": step_import}[args.step](Path(args.file))
        print(json.dumps(result))
        return
    # Stopped (kill, timeout): the step running is killed and the WARC deleted all the same.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped: generated files deleted"))
    free = shutil.disk_usage(args.tmp).free / MiB
    if free < 3.2 * args.size:  # the WARC, the working copy, the package, its stored copy
        sys.exit(f"{args.tmp} has {free:.0f} MiB free; a {args.size} MiB run needs about "
                 f"{3.2 * args.size:.0f} MiB")
    with tempfile.TemporaryDirectory(prefix="isnad-import-bench-", dir=args.tmp) as folder:
        path = Path(folder) / "bench.warc"
        make_warc(path, args.size)
        size = path.stat().st_size
        results = {}
        for step in ("sha256", "check", "import"):
            run = subprocess.run([sys.executable, __file__, "--step", step, "--file", str(path)],
                                 capture_output=True, text=True, check=True)
            results[step] = json.loads(run.stdout.strip().splitlines()[-1])
    floor = size / MiB / results["sha256"]["seconds"]
    floor_cpu = results["sha256"]["cpu"]
    print(f"WARC of {size / MiB:.0f} MiB ({args.size} records of 1 MiB), {os.cpu_count()} CPUs")
    for step in ("sha256", "check", "import"):
        r = results[step]
        rate = size / MiB / r["seconds"]
        print(f"  {step:7} {r['seconds']:7.1f} s  {rate:7.1f} MiB/s  {100 * rate / floor:5.0f} % "
              f"of SHA-256   CPU {r['cpu']:6.1f} s ({r['cpu'] / max(floor_cpu, 1e-9):4.1f}x "
              f"SHA-256's; user {r['user']:5.1f} s)   peak RSS {r['peak_mib']:4.0f} MiB"
              f"   load {r['load']:.1f}"
              + (f"   {r['state']}" if "state" in r else ""))


if __name__ == "__main__":
    main()
