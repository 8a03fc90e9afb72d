"""Vault benchmarks. Prints figures; asserts nothing (timings vary by machine).

On one package file (default 2 GiB of incompressible bytes), each step in its own process so
its peak memory is its own:

1. Upload: Isnad's preservation (``Archive.preserve``: streamed multipart with per-part
   SHA-256, read-back verification, custody events, index record) to an S3 endpoint, vs raw
   boto3 ``upload_file`` of the same bytes to the same endpoint. Target: >= 90 %.
2. Audit: ``isnad audit``'s fixity check (``run_audit``: streams the stored object back and
   re-hashes it) vs single-core SHA-256 of the same bytes from the local disk. Target: >= 80 %.
3. Peak RSS of the upload and the audit processes. Target: < 300 MiB.

The S3 endpoint is moto's server on 127.0.0.1 (the only S3 server installable here); moto is
slow and keeps objects in memory, so both sides of each comparison go through it alike.

Usage: ``python bench/storage_bench.py [--size-mib 2048]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MiB = 1024 * 1024


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _archive(home: Path, endpoint: str, bucket: str, target: str = "s3"):  # noqa: ANN202
    from archiver.archive import Archive
    from archiver.catalog import Catalog
    from archiver.storage import open_storage

    catalog = Catalog(f"sqlite:///{home / 'catalog.db'}")
    s3 = open_storage(f"s3://{bucket}/bench", name="s3", endpoint_url=endpoint,
                      region="us-east-1")
    local = open_storage(str(home / "packages"), name="local")
    return Archive(home, catalog, [s3] if target == "s3" else [local])


def child_isnad_upload(home: Path, endpoint: str, bucket: str, package: Path,
                       target: str) -> dict:
    from archiver.archive import storage_prefix
    from archiver.catalog import CaptureRow
    from archiver.hashing import sha256_file
    from archiver.ids import new_capture_id
    from archiver.states import CaptureState, CustodyAction

    archive = _archive(home, endpoint, bucket, target)
    capture_id = new_capture_id()
    sha256, size = sha256_file(package)  # done by packaging in a real capture, not timed
    now = datetime.now(UTC)
    archive.catalog.add_capture(CaptureRow(
        id=capture_id, url="http://bench.invalid/", state=CaptureState.COMPLETE, operator="bench",
        started_at=now, ended_at=now, package_key=f"{storage_prefix(capture_id, now)}/x.wacz",
        package_sha256=sha256, package_size=size, context={}))
    archive.record_event(capture_id, "bench", CustodyAction.PACKAGED, sha256, {})
    started = time.perf_counter()
    stored = archive.preserve(capture_id, package, "bench")
    seconds = time.perf_counter() - started
    assert stored, archive.catalog.copies(capture_id)[0].last_error
    return {"seconds": seconds, "bytes": size, "peak_mib": _peak_mib(), "id": capture_id}


def child_boto3_upload(endpoint: str, bucket: str, package: Path) -> dict:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    started = time.perf_counter()
    client.upload_file(str(package), bucket, "raw/package.bin")
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "bytes": package.stat().st_size, "peak_mib": _peak_mib()}


def child_isnad_audit(home: Path, endpoint: str, bucket: str, target: str) -> dict:
    from archiver.audit import run_audit

    archive = _archive(home, endpoint, bucket, target)
    rows = [r for r in archive.catalog.list()
            if any(c.target == target for c in archive.catalog.copies(r.id))]
    started = time.perf_counter()
    audit = run_audit(archive, rows, actor="bench", selection="bench", target=target)
    seconds = time.perf_counter() - started
    assert audit.ok, audit.summary()
    return {"seconds": seconds, "bytes": audit.bytes_read, "peak_mib": _peak_mib()}


def child_boto3_read(endpoint: str, bucket: str) -> dict:
    import hashlib

    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    started = time.perf_counter()
    body = client.get_object(Bucket=bucket, Key="raw/package.bin")["Body"]
    digest, size = hashlib.sha256(), 0
    while chunk := body.read(MiB):
        digest.update(chunk)
        size += len(chunk)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "bytes": size, "peak_mib": _peak_mib()}


def child_sha256(package: Path) -> dict:
    from archiver.hashing import sha256_file

    started = time.perf_counter()
    _, size = sha256_file(package)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "bytes": size, "peak_mib": _peak_mib()}


def _child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"bench step {args[0]} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _rate(result: dict) -> float:
    return result["bytes"] / MiB / result["seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        run = {"isnad-upload": lambda: child_isnad_upload(Path(rest[0]), rest[1], rest[2],
                                                          Path(rest[3]), rest[4]),
               "boto3-upload": lambda: child_boto3_upload(rest[0], rest[1], Path(rest[2])),
               "boto3-read": lambda: child_boto3_read(rest[0], rest[1]),
               "isnad-audit": lambda: child_isnad_audit(Path(rest[0]), rest[1], rest[2],
                                                        rest[3]),
               "sha256": lambda: child_sha256(Path(rest[0]))}[kind]
        print(json.dumps(run()))
        return

    from tests.s3server import CREDENTIALS, MotoServer

    os.environ.update(CREDENTIALS)
    with tempfile.TemporaryDirectory(prefix="isnad-storage-bench-") as tmp:
        work = Path(tmp)
        package = work / "package.wacz"
        with open(package, "wb") as out:  # incompressible, written in 1 MiB blocks
            for _ in range(args.size_mib):
                out.write(os.urandom(MiB))
        server = MotoServer()
        try:
            bucket = "isnad-bench"
            server.client().create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
            print(f"package: {args.size_mib} MiB; S3 endpoint: moto server {server.url}")
            home = work / "home"
            home.mkdir()
            raw = _child("boto3-upload", server.url, bucket, str(package))
            handed = work / "handed-over" / "package.wacz"  # preserve releases what it stored
            handed.parent.mkdir()
            os.link(package, handed)
            ours = _child("isnad-upload", str(home), server.url, bucket, str(handed), "s3")
            print(f"upload  boto3 upload_file:    {_rate(raw):7.1f} MiB/s  "
                  f"peak RSS {raw['peak_mib']:.0f} MiB")
            print(f"upload  isnad preserve to S3: {_rate(ours):7.1f} MiB/s  "
                  f"peak RSS {ours['peak_mib']:.0f} MiB  "
                  f"({_rate(ours) / _rate(raw):.0%} of boto3; target >= 90 %)")
            os.link(package, handed)
            local = _child("isnad-upload", str(home), server.url, bucket, str(handed), "local")
            print(f"upload  isnad preserve to a local folder: {_rate(local):7.1f} MiB/s")
            sha = _child("sha256", str(package))
            print(f"audit   sha256 of the local file (one core): {_rate(sha):7.1f} MiB/s")
            read = _child("boto3-read", server.url, bucket)
            print(f"audit   boto3 get_object + sha256 (what the endpoint gives): "
                  f"{_rate(read):7.1f} MiB/s")
            audits = {}
            for target in ("s3", "local"):
                audit = audits[target] = _child("isnad-audit", str(home), server.url, bucket,
                                                target)
                print(f"audit   isnad run_audit, {target:5} copy: {_rate(audit):7.1f} MiB/s  "
                      f"peak RSS {audit['peak_mib']:.0f} MiB  "
                      f"({_rate(audit) / _rate(sha):.0%} of SHA-256; target >= 80 %)")
            worst = max(ours["peak_mib"], local["peak_mib"],
                        *(a["peak_mib"] for a in audits.values()))
            print(f"peak RSS, uploads and audits: {worst:.0f} MiB (target < 300 MiB)")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
