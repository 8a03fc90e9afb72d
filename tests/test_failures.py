"""Errors a user can act on, the SSRF guard, and crash safety (kill -9)."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import time
import zipfile

import pytest

from archiver.states import CaptureState, CustodyAction

pytestmark = pytest.mark.e2e


def test_private_target_refused_with_one_clear_line(isnad, site):
    run = isnad("capture", site.url("/"), env={"ISNAD_ALLOW_PRIVATE_NETWORKS": "false"})
    assert run.code == 2
    assert "refused: 127.0.0.1 resolves to 127.0.0.1, a loopback address" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr
    listed = isnad("list", "--json").json()
    assert len(listed) == 1 and listed[0]["state"] == CaptureState.FAILED  # still recorded
    assert "refused" in listed[0]["error"]


# A malformed URL ("not-a-url") is a usage error, refused before anything is recorded:
# tests/test_cli.py::test_a_malformed_url_is_a_usage_error_and_nothing_is_recorded.
@pytest.mark.parametrize("url, words", [
    ("http://no-such-host.invalid/", "DNS lookup failed"),
])
def test_bad_input_is_one_line_and_recorded(isnad, url, words):
    run = isnad("capture", url)
    assert run.code == 2
    assert words in run.stdout
    assert "Traceback" not in run.stdout + run.stderr
    shown = isnad("show", isnad("list", "--json").json()[0]["id"], "--json").json()
    assert shown["state"] == CaptureState.FAILED
    assert [e["action"] for e in shown["custody"]] == [CustodyAction.REQUESTED,
                                                        CustodyAction.FAILED]


def test_connection_refused_is_reported(isnad):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = isnad("capture", f"http://127.0.0.1:{port}/")
    assert run.code == 2
    assert "connection refused" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr


def test_unknown_setting_value_is_a_clear_error(isnad, site):
    run = isnad("capture", site.url("/"), env={"ISNAD_CAPTURE__PAGE_TIMEOUT": "soon"})
    assert run.code == 2
    assert "capture.page_timeout" in run.stderr
    assert "Traceback" not in run.stderr


def test_verify_catches_a_flipped_byte_in_the_stored_package(isnad, site):
    rec = isnad.capture("--no-browser", site.url("/arabic.html"))
    wacz = rec["package_location"]
    with zipfile.ZipFile(wacz) as z:
        info = z.getinfo([n for n in z.namelist() if n.startswith("archive/")][0])
    data = bytearray(open(wacz, "rb").read())
    data[info.header_offset + 200] ^= 0x01  # inside the stored WARC
    open(wacz, "wb").write(bytes(data))
    run = isnad("verify", rec["id"])
    assert run.code == 1
    assert "MISMATCH" in run.stdout
    assert "stored package hash matches the catalog" in run.stdout
    assert isnad("verify", wacz).code == 1
    assert isnad("verify", "--all").code == 1


def test_verify_catches_a_flipped_byte_in_zip_structure(isnad, site):
    rec = isnad.capture("--no-browser", site.url("/final.html"))
    wacz = rec["package_location"]
    data = bytearray(open(wacz, "rb").read())
    data[-30] ^= 0x01  # in the zip's central directory / end record
    open(wacz, "wb").write(bytes(data))
    assert isnad("verify", rec["id"]).code == 1


def test_verify_catches_an_edited_custody_event(isnad, site):
    rec = isnad.capture("--no-browser", site.url("/final.html"))
    assert isnad("verify", rec["id"]).code == 0
    db = sqlite3.connect(isnad.home / "catalog.db")
    db.execute("UPDATE custody_events SET actor = 'mallory' WHERE seq = 2")
    db.commit()
    db.close()
    run = isnad("verify", rec["id"])
    assert run.code == 1
    assert "custody event #2 (captured)" in run.stdout


def test_kill_9_leaves_nothing_claimed_complete(isnad, site):
    env = {**isnad.env, "ISNAD_CAPTURE__PAGE_TIMEOUT": "120",
           "ISNAD_CAPTURE__NETWORK_IDLE_TIMEOUT": "120"}
    proc = subprocess.Popen(isnad.command("capture", site.url("/slow.html")), cwd=isnad.home,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    work = isnad.home / "work"
    deadline = time.time() + 60
    while time.time() < deadline:
        opened = list(work.glob("*/*.warc.gz.open")) if work.exists() else []
        if opened and site.hits.get("/slow", 0):
            break
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("the capture never started")
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # Nothing claims to be complete: no package, no closed WARC.
    assert not list((isnad.home / "packages").rglob("*.wacz")) if (
        isnad.home / "packages").exists() else True
    assert not list(work.glob("*/*.warc.gz"))
    # The next start settles it: FAILED, files kept aside.
    listed = isnad("list", "--json").json()
    assert listed[0]["state"] == CaptureState.FAILED
    assert "interrupted" in listed[0]["error"]
    kept = list((isnad.home / "quarantine").glob("*/*.warc.gz.open"))
    assert kept, "partial WARC was not kept"
    shown = isnad("show", listed[0]["id"], "--json").json()
    assert shown["custody"][-1]["action"] == CustodyAction.FAILED
    assert isnad("verify", listed[0]["id"]).code == 0  # custody of a failed capture is intact
