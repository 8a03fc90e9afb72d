"""A full disk, for real: a small tmpfs as the data folder (skipped where mounting is not
allowed). The capture that fills it is recorded as FAILED with the real cause, verify still
reports (its custody event queued), and no capture starts below ``storage.min_free_bytes``.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import threading
from pathlib import Path

import pytest

from archiver.states import CaptureState, CustodyAction
from tests.conftest import Isnad

pytestmark = pytest.mark.e2e

PAYLOAD = os.urandom(6 * 1024 * 1024)  # incompressible: the WARC is as big as the body


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server name
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(PAYLOAD)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def big_file():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/dataset.bin"
    server.shutdown()
    server.server_close()


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 9 MiB filesystem of its own, unmounted afterwards."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=9m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder: Path, leave: int) -> Path:
    """Fill ``folder``'s filesystem up to ``leave`` free bytes."""
    filler = folder / "filler"
    free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    with open(filler, "wb") as out:
        out.truncate(0)
        block = b"\0" * 65536
        remaining = free - leave
        while remaining > 0:
            try:
                remaining -= out.write(block[:remaining])
                out.flush()
            except OSError:
                break
    return filler


def test_full_disk_is_recorded_refused_and_verify_still_reports(small_disk, big_file):
    isnad = Isnad(small_disk)

    # Below the floor (100 MiB by default), no capture starts, and the message names it.
    refused = isnad("capture", "--no-browser", big_file)
    assert refused.code == 2 and "storage.min_free_bytes" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr

    # Without the floor, the 6 MiB WARC fits but its package does not.
    no_floor = {"ISNAD_STORAGE__MIN_FREE_BYTES": "0"}
    rec = isnad.capture("--no-browser", big_file, env=no_floor)
    assert rec["state"] == CaptureState.FAILED and rec["exit_code"] != 0, rec
    assert "no space left on the device while packaging" in rec["error"], rec["error"]
    assert "Errno 28" in rec["error"] and "interrupted" not in rec["error"]
    kept = small_disk / "quarantine" / rec["id"]
    assert any(p.name.endswith(".warc.gz") for p in kept.iterdir())  # nothing lost
    shown = isnad("show", rec["id"], "--json").json()
    assert shown["state"] == CaptureState.FAILED and "Errno 28" in shown["error"]
    assert shown["custody"][-1]["action"] == CustodyAction.FAILED

    # The disk now full to the last few KB: verify reports, its custody event is queued.
    filler = _fill(small_disk, leave=48 * 1024)
    run = isnad("verify", rec["id"])
    assert "Traceback" not in run.stderr and "OperationalError" not in run.stderr, run.stderr
    assert "FAILED CAPTURE" in run.stdout, run.stdout + run.stderr
    assert "custody event of this verification" in run.stdout and "queued in" in run.stdout
    queued = list((small_disk / "custody-queue").iterdir())
    assert len(queued) == 1

    # Space freed: the next command records the queued event (one left a minute, so that no
    # process still recording it is raced), at the time it happened.
    filler.unlink()
    os.utime(queued[0], (queued[0].stat().st_atime - 120, queued[0].stat().st_mtime - 120))
    events = isnad("show", rec["id"], "--json").json()["custody"]
    assert events[-1]["action"] == CustodyAction.VERIFIED and "queued" in events[-1]["details"]
    assert not queued[0].exists()
    again = isnad("verify", rec["id"])
    assert again.code == 0, again.stdout + again.stderr
