"""RFC 3161 timestamps against a real TSA (openssl ts) on 127.0.0.1, checked by us and by
the public tool, ``openssl ts -verify``."""

from __future__ import annotations

import socket
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from archiver.hashing import sha256_file
from archiver.states import CaptureState, CustodyAction
from archiver.timestamps import TSA, TimestampError, request_token, token_info, verify_token
from tests.tsa import OPENSSL, POLICY, LocalTSA


@pytest.fixture
def local_tsa(tmp_path: Path):
    with LocalTSA(tmp_path / "tsa") as tsa:
        yield tsa


@pytest.fixture
def tsa(local_tsa: LocalTSA) -> TSA:
    return TSA("local-tsa", local_tsa.url, local_tsa.root_pem, local_tsa.tsa_cert_pem)


@pytest.fixture
def evidence(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "video.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 64)
    return path, sha256_file(path)[0]


def test_token_for_a_file_digest_verifies(tsa: TSA, local_tsa: LocalTSA, evidence):
    _, digest = evidence
    tsr = request_token(tsa, digest)

    check = verify_token(tsr, digest, tsa.roots(), tsa.intermediates())
    assert check.ok, check.problems
    assert f"message imprint matches sha256 {digest}" in check.checks
    assert "token signature valid, chain to root CN=Isnad Test Root CA" in check.checks
    assert any(line.startswith("time ") and line.endswith("Z") for line in check.checks)
    assert check.tsa_subject == "CN=Isnad Test TSA"
    assert check.policy == POLICY
    assert local_tsa.requests == 1

    info = token_info(tsr)
    gen_time = datetime.fromisoformat(info["gen_time"].replace("Z", "+00:00"))
    assert abs(datetime.now(UTC) - gen_time) < timedelta(minutes=1)
    assert info["imprint"] == digest
    assert info["hash_algorithm"] == "sha256"
    assert info["serial"] == check.serial
    assert info["tsa_subject"] == "CN=Isnad Test TSA"


def test_openssl_verifies_the_token(tsa: TSA, local_tsa: LocalTSA, evidence, tmp_path: Path):
    path, digest = evidence
    tsr_file = tmp_path / "x.tsr"
    tsr_file.write_bytes(request_token(tsa, digest))

    def openssl_verify(data: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [OPENSSL, "ts", "-verify", "-in", str(tsr_file), "-data", str(data),
             "-CAfile", str(local_tsa.root_pem), "-untrusted", str(local_tsa.tsa_cert_pem)],
            capture_output=True, text=True,
        )

    good = openssl_verify(path)
    assert good.returncode == 0, good.stderr
    assert "Verification: OK" in good.stdout

    altered = tmp_path / "altered.mp4"
    data = bytearray(path.read_bytes())
    data[100] ^= 0x01
    altered.write_bytes(data)
    assert openssl_verify(altered).returncode != 0


def test_token_for_another_digest_fails(tsa: TSA, evidence):
    _, digest = evidence
    tsr = request_token(tsa, digest)
    check = verify_token(tsr, "ab" * 32, tsa.roots(), tsa.intermediates())
    assert not check.ok
    assert any("imprint" in problem for problem in check.problems)


def test_token_under_another_root_fails(tsa: TSA, evidence, tmp_path: Path):
    _, digest = evidence
    tsr = request_token(tsa, digest)
    with LocalTSA(tmp_path / "stranger") as stranger:
        stranger_roots = TSA("stranger", stranger.url, stranger.root_pem).roots()
    check = verify_token(tsr, digest, stranger_roots, tsa.intermediates())
    assert not check.ok
    assert any("does not verify" in problem for problem in check.problems)


def test_token_time_outside_the_window_fails(tsa: TSA, evidence):
    _, digest = evidence
    tsr = request_token(tsa, digest)
    now = datetime.now(UTC)

    inside = verify_token(tsr, digest, tsa.roots(), tsa.intermediates(),
                          not_before=now - timedelta(minutes=5), not_after=now)
    assert inside.ok, inside.problems
    assert any("within the expected window" in line for line in inside.checks)

    later = verify_token(tsr, digest, tsa.roots(), tsa.intermediates(),
                         not_before=now + timedelta(hours=1), not_after=now + timedelta(hours=2))
    assert not later.ok
    assert any(problem.startswith("time ") and "outside" in problem
               for problem in later.problems)


def test_unreadable_token_raises():
    with pytest.raises(TimestampError, match="not an RFC 3161"):
        verify_token(b"not a token", "00" * 32, [])


def test_tsa_down_raises_naming_it(tsa: TSA, local_tsa: LocalTSA, evidence):
    local_tsa.down = True
    with pytest.raises(TimestampError, match="HTTP 503") as raised:
        request_token(tsa, evidence[1])
    assert tsa.url in str(raised.value)
    assert local_tsa.requests == 1


def test_connection_refused_raises(local_tsa: LocalTSA, evidence):
    with socket.socket() as unused:  # bound, never listening: connecting is refused
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}/tsr"
        nobody = TSA("nobody", url, local_tsa.root_pem, timeout=5)
        with pytest.raises(TimestampError, match="could not be reached") as raised:
            request_token(nobody, evidence[1])
    assert url in str(raised.value)


@pytest.mark.e2e
def test_late_tokens_are_verified_and_the_state_settled(isnad, site, local_tsa: LocalTSA):
    import json

    env = {"ISNAD_TIMESTAMPS__TSA": json.dumps([local_tsa.config_entry()])}
    local_tsa.down = True
    rec = isnad.capture("--no-browser", site.url("/final.html"), env=env)
    assert rec["state"] == CaptureState.PARTIAL, rec["stderr"]
    assert all(r.startswith("timestamp pending for ") for r in rec["reasons"]), rec["reasons"]
    local_tsa.down = False
    done = isnad("timestamp", "--pending", env=env)
    assert done.code == 0, done.stdout + done.stderr

    listed = next(r for r in isnad("list", "--json", env=env).json() if r["id"] == rec["id"])
    assert listed["state"] == CaptureState.COMPLETE
    shown = isnad("show", rec["id"], "--json", env=env).json()
    assert shown["state"] == CaptureState.COMPLETE and shown["reasons"] == []
    changed = [e for e in shown["custody"] if e["action"] == CustodyAction.STATE_CHANGED]
    assert len(changed) == 1 and changed[0]["details"]["from"] == CaptureState.PARTIAL
    assert changed[0]["details"]["to"] == CaptureState.COMPLETE

    report = isnad("verify", rec["id"], "--json", env=env).json()[0]
    assert report["ok"], [c for c in report["checks"] if not c["ok"]]
    late = [c for c in report["checks"] if "late timestamp of" in c["name"]]
    assert len(late) == 2 and all("obtained late" in c["detail"] for c in late), late
    assert all("message imprint matches" in c["detail"] for c in late)

    # A late token replaced by another (here: one for other bytes) is caught.
    token = next(Path(isnad.home / "packages").rglob("timestamps/*.tsr"))
    other = request_token(TSA("local-tsa", local_tsa.url, local_tsa.root_pem,
                              local_tsa.tsa_cert_pem), "ab" * 32)
    token.write_bytes(other)
    run = isnad("verify", rec["id"], "--json", env=env)
    assert run.code == 1
    bad = [c for c in run.json()[0]["checks"] if not c["ok"]]
    assert bad and all("late timestamp of" in c["name"] for c in bad), bad
