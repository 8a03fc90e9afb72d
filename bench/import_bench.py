"""Import benchmark (issue 14). Prints figures; asserts nothing (timings vary by machine).

On one generated WARC (default 1 GiB; the issue's figure is 5 GiB, a long run on a shared
machine: pass ``--size-mib 5120``), each step in its own process so its peak memory is its own:

1. Single-core SHA-256 of the file (the floor: any import reads every byte at least once).
2. The arrival check alone (``archiver.intake.warc.check_warc``: hash, copy, every record's
   digests, the CDXJ index), in one pass. Target: >= 80 % of (1).
3. The whole ``isnad import``: check, package (the file is copied into the WACZ and hashed
   again for datapackage.json), self-verification (every record's digests again), storage
   with read-back, custody. Compared with (1) too; it reads the bytes several times.
4. Peak RSS of (2) and (3). Target: < 300 MiB.

Usage: ``python bench/import_bench.py [--size-mib 1024]``
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import resource
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
    started = time.perf_counter()
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(MiB):
            digest.update(block)
    return {"seconds": time.perf_counter() - started, "peak_mib": _peak_mib()}


def step_check(path: Path) -> dict:
    from archiver.intake.warc import check_warc

    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        checked = check_warc(path, path.name, copy_to=Path(work) / "copy",
                             index_to=Path(work) / "index")
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "peak_mib": _peak_mib(), "records": checked.records,
            "findings": len(checked.findings)}


def step_import(path: Path) -> dict:
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ISNAD_")}
        env["ISNAD_HOME"] = home
        started = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-c", "import resource, runpy, sys; sys.argv = sys.argv[1:]; "
             "exec('try:\\n runpy.run_module(\"isnad.cli\", run_name=\"__main__\")\\n"
             "finally:\\n print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
             "file=sys.stderr)')", "isnad", "import", str(path), "--provider", "bench",
             "--json"],
            cwd=home, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
    peak = int(run.stderr.strip().splitlines()[-1]) / 1024
    state = json.loads(run.stdout)["state"] if run.stdout.strip() else run.stderr[-300:]
    return {"seconds": seconds, "peak_mib": peak, "state": state}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--step", choices=("sha256", "check", "import"))
    parser.add_argument("--file")
    args = parser.parse_args()
    if args.step:  # one step, in its own process (see below)
        result = {"sha256": step_sha256, "check": step_check,
                  "import": step_import}[args.step](Path(args.file))
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.warc"
        make_warc(path, args.size_mib)
        size = path.stat().st_size
        results = {}
        for step in ("sha256", "check", "import"):
            run = subprocess.run([sys.executable, __file__, "--step", step, "--file", str(path)],
                                 capture_output=True, text=True, check=True)
            results[step] = json.loads(run.stdout.strip().splitlines()[-1])
    floor = size / MiB / results["sha256"]["seconds"]
    print(f"WARC of {size / MiB:.0f} MiB ({args.size_mib} records of 1 MiB)")
    for step in ("sha256", "check", "import"):
        r = results[step]
        rate = size / MiB / r["seconds"]
        print(f"  {step:7} {r['seconds']:7.1f} s  {rate:7.1f} MiB/s  {100 * rate / floor:5.0f} % "
              f"of SHA-256   peak RSS {r['peak_mib']:.0f} MiB"
              + (f"   {r['state']}" if "state" in r else ""))


if __name__ == "__main__":
    main()
