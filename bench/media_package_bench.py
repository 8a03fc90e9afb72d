"""Media packaging benchmark: what happens to a large video's bytes after the download.

In one process, for a video of random bytes (default 256 MiB): the recording proxy's WARC
record (``CaptureWarc.write_exchange`` from the spool, with the digests taken as the body
arrived), ``build_package`` (the WARC and the media file, the CDXJ index from the writer's
lines), the package's self-verification (``verify_package_file``) and the copy to a local
folder (``LocalFolderStorage.put_file``, whose read-back is the storage check). Prints, per
step, wall and CPU seconds (every thread of the process), the bytes the process read and
wrote (``/proc/self/io``: ``rchar``/``wchar``, in copies of the video), and the load average
before and after (the machine may be shared: CPU seconds compare better than wall seconds).

``--code DIR`` imports another checkout of Isnad (to compare before and after a change).

Usage: ``python bench/media_package_bench.py [--size-mib 256] [--code /work/main]``
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import sys
import tempfile
import time
import zlib
from pathlib import Path

MiB = 1024 * 1024


def _io() -> tuple[int, int]:
    fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    return int(fields["rchar"]), int(fields["wchar"])


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--code", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--keep", type=Path, help="work in this folder and keep what is made")
    args = parser.parse_args()
    sys.path.insert(0, str(args.code.resolve()))
    from archiver.hashing import FileDigest
    from archiver.package import build_package
    from archiver.proof import ProofOptions
    from archiver.storage.local import LocalFolderStorage
    from archiver.verify import verify_package_file
    from archiver.warcwriter import CaptureWarc

    print(f"code: {args.code}; video: {args.size_mib} MiB of random bytes")
    with tempfile.TemporaryDirectory(prefix="isnad-media-pkg-", dir="/tmp") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        video = work / "big.mp4"
        sha, crc = hashlib.sha256(), 0
        with open(video, "wb") as out:  # as yt-dlp wrote it, hashed while downloading
            for _ in range(args.size_mib):
                block = os.urandom(MiB)
                sha.update(block)
                crc = zlib.crc32(block, crc)
                out.write(block)
        size = video.stat().st_size
        media_digest = FileDigest(sha.hexdigest(), size, crc)
        spool = work / "spool"
        shutil.copyfile(video, spool)  # the recording proxy's spool of the same body
        figures: list[tuple[str, float, float, int, int]] = []
        total_cpu = 0.0

        def step(name: str, run):  # noqa: ANN001, ANN202 - bench helper
            nonlocal total_cpu
            load, (r0, w0), cpu, wall = os.getloadavg()[0], _io(), _cpu(), time.perf_counter()
            own = time.thread_time()
            result = run()
            seconds, cpu = time.perf_counter() - wall, _cpu() - cpu
            own = time.thread_time() - own
            r1, w1 = _io()
            total_cpu += cpu
            print(f"{name:<28} {seconds:6.2f} s wall {cpu:6.2f} s CPU ({own:4.2f} s in the "
                  "calling thread)  "
                  f"read {(r1 - r0) / size:4.1f}× written {(w1 - w0) / size:4.1f}× the video; "
                  f"load {load:.1f} → "
                  f"{os.getloadavg()[0]:.1f}")
            figures.append((name, seconds, cpu, r1 - r0, w1 - w0))
            return result

        warc = CaptureWarc(work / "capture.warc.gz", {"software": "bench"})
        headers = [("Content-Type", "video/mp4"), ("Content-Length", str(size))]
        head = warc.response_head(200, "OK", headers, size)
        block = hashlib.sha256(head)
        with open(video, "rb") as fh:  # taken as the body arrived
            while chunk := fh.read(8 * MiB):
                block.update(chunk)

        def record() -> None:
            with open(spool, "rb") as body:
                warc.write_exchange(
                    url="http://127.0.0.1:8000/big.mp4", method="GET",
                    request_headers=[("User-Agent", "bench")], request_body=None, status=200,
                    reason="OK", response_headers=headers, body=body, body_length=size,
                    ip_address="127.0.0.1", protocol="http/1.1",
                    digests=(block.hexdigest(), media_digest.sha256))
            warc.close()

        step("WARC record (from spool)", record)
        spool.unlink()
        package_path = work / "capture.wacz"
        known = {warc.path: warc.digest}
        indexes = {warc.path: warc.index_path} if warc.index_path is not None else None
        print("  the writer's CDXJ lines: "
              + ("used" if indexes else "none (py-wacz reads the WARC)"))

        def package() -> None:
            build_package([warc.path], package_path, pages=[{"url": "http://127.0.0.1/"}],
                          context={"bench": True}, extra_paths=[
                              ("media/001-big.mp4", video, media_digest)],
                          indexes=indexes, hashed=False, known=known)

        step("build_package", package)
        report = step("verify_package_file", lambda: verify_package_file(
            package_path, ProofOptions(allow_unsigned=True), recheck_received=False))
        if not report.ok:
            sys.exit("verification failed: " + "; ".join(c.detail for c in report.mismatches))
        storage = LocalFolderStorage(work / "store")
        step("LocalFolderStorage.put_file",
             lambda: storage.put_file("c/capture.wacz", package_path, report.package_sha256))
        print(f"in all: {total_cpu:.2f} s CPU for {size // MiB} MiB "
              f"(package {report.package_size / size:.2f}× the video)")


if __name__ == "__main__":
    main()
