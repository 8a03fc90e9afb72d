"""Signed, RFC 3161-timestamped packages; export bundles checked with public tools only.

A local TSA (``openssl ts -reply`` behind HTTP on 127.0.0.1) stamps real tokens; the export's
``verify.sh`` runs ``sha256sum``, ``openssl`` and ``wacz`` exactly as a court's expert would.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from archiver.states import CaptureState, CustodyAction, ProofState
from tests.tsa import LocalTSA

pytestmark = pytest.mark.e2e


@pytest.fixture
def tsa(tmp_path):
    with LocalTSA(tmp_path / "tsa") as server:
        yield server


def _env(tsa: LocalTSA, **more: str) -> dict[str, str]:
    return {"ISNAD_TIMESTAMPS__TSA": json.dumps([tsa.config_entry()]), **more}


def _public_tools_env() -> dict[str, str]:
    # `wacz` is the py-wacz command, installed beside this Python.
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


def _run_verify_script(bundle: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "verify.sh"], cwd=bundle, env=_public_tools_env(),
                          capture_output=True, text=True, timeout=120)


def test_keys_init_and_show(isnad):
    made = isnad("keys", "init")
    assert made.code == 0, made.stderr
    key = isnad.home / "keys" / "signing-key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    shown = isnad("keys", "show", "--json").json()
    assert shown["fingerprint"] in made.stdout and shown["fingerprint"].startswith("sha256:")
    assert "BEGIN PUBLIC KEY" in shown["public_key_pem"]
    again = isnad("keys", "init")
    assert again.code == 2 and "already exists" in again.stderr
    # A key readable by others is refused, naming the fix.
    key.chmod(0o644)
    run = isnad("capture", "--no-browser", "http://127.0.0.1:9/")
    assert run.code == 2 and "chmod 600" in run.stderr


def test_passphrase_protected_key(isnad, site):
    secret = {"ISNAD_SIGNING__PASSPHRASE": "correct horse battery staple"}
    assert isnad("keys", "init", "--passphrase", env=secret).code == 0
    pem = (isnad.home / "keys" / "signing-key.pem").read_text()
    assert "ENCRYPTED PRIVATE KEY" in pem
    locked = isnad("capture", "--no-browser", site.url("/final.html"))
    assert locked.code == 2 and "passphrase" in locked.stderr
    rec = isnad.capture("--no-browser", site.url("/final.html"), env=secret)
    assert rec["state"] == CaptureState.COMPLETE, rec["stderr"]
    wrong = isnad("capture", "--no-browser", site.url("/final.html"),
                  env={"ISNAD_SIGNING__PASSPHRASE": "wrong"})
    assert wrong.code == 2 and "wrong passphrase" in wrong.stderr


def test_capture_is_signed_and_timestamped_and_verify_says_what_it_checked(isnad, site, tsa):
    rec = isnad.capture("--no-browser", site.url("/arabic.html"), env=_env(tsa))
    assert rec["state"] == CaptureState.COMPLETE, rec["stderr"]
    assert tsa.requests == 2  # the WARC when closed, then datapackage.json
    shown = isnad("show", rec["id"], "--json", env=_env(tsa)).json()
    stamps = shown["context"]["proof"]["timestamps"]
    assert {s["subject"].split("/")[0] for s in stamps} == {"archive", "datapackage.json"}
    assert all(s["state"] == ProofState.STAMPED and s["gen_time"].endswith("Z") for s in stamps)
    package = Path(next(c["location"] for c in shown["copies"]))
    with zipfile.ZipFile(package) as wacz:
        digest = json.loads(wacz.read("datapackage-digest.json"))
        datapackage = json.loads(wacz.read("datapackage.json"))
    signed = digest["signedData"]
    assert set(signed) >= {"hash", "created", "software", "signature", "publicKey"}
    assert signed["created"] == datapackage["created"]
    assert any(r["path"].startswith("timestamps/") for r in datapackage["resources"])
    report = isnad("verify", rec["id"], "--json", env=_env(tsa)).json()[0]
    assert report["ok"], [c for c in report["checks"] if not c["ok"]]
    names = [c["name"] for c in report["checks"]]
    assert "local: signature of datapackage.json" in names
    assert sum("timestamp of" in n for n in names) == 2
    details = " ".join(c["detail"] for c in report["checks"])
    assert "message imprint matches" in details and "chain to root" in details
    assert "within the expected window" in details
    validated = subprocess.run(["wacz", "validate", "-f", str(package)], env=_public_tools_env(),
                               capture_output=True, text=True)
    assert validated.returncode == 0, validated.stdout + validated.stderr


def test_verify_refuses_a_token_from_an_untrusted_tsa_and_a_foreign_key(isnad, site, tsa,
                                                                        tmp_path):
    rec = isnad.capture("--no-browser", site.url("/final.html"), env=_env(tsa))
    location = next(c["location"] for c in isnad("show", rec["id"], "--json").json()["copies"])
    # The same TSA name, but another root: the token's chain no longer leads to it.
    with LocalTSA(tmp_path / "other") as other:
        impostor = {"ISNAD_TIMESTAMPS__TSA": json.dumps([{**other.config_entry(),
                                                          "name": "local-tsa"}])}
        run = isnad("verify", location, env=impostor)
    assert run.code == 1 and "timestamp of" in run.stdout and "MISMATCH" in run.stdout.upper()
    # A package signed by a key this installation does not trust.
    trusted_elsewhere = {"ISNAD_SIGNING__KEY_DIR": str(tmp_path / "other-keys")}
    assert isnad("keys", "init", env=trusted_elsewhere).code == 0
    run = isnad("verify", location, env={**_env(tsa), **trusted_elsewhere})
    assert run.code == 1 and "not among the trusted keys" in run.stdout


def test_tsa_outage_makes_partial_then_pending_timestamps_are_obtained(isnad, site, tsa):
    tsa.down = True
    rec = isnad.capture("--no-browser", site.url("/final.html"), env=_env(tsa))
    assert rec["state"] == CaptureState.PARTIAL and rec["exit_code"] == 1
    assert any("timestamp pending" in r for r in rec["reasons"]), rec["reasons"]
    assert isnad("verify", rec["id"], env=_env(tsa)).code == 0  # stored and intact, unstamped
    still = isnad("timestamp", "--pending", env=_env(tsa))
    assert still.code == 1 and "pending" in still.stdout
    tsa.down = False
    done = isnad("timestamp", "--pending", env=_env(tsa))
    assert done.code == 0, done.stdout + done.stderr
    assert done.stdout.count("stamped") == 2
    shown = isnad("show", rec["id"], "--json", env=_env(tsa)).json()
    assert {s["state"] for s in shown["context"]["proof"]["timestamps"]} == {ProofState.LATE}
    assert [e["action"] for e in shown["custody"]].count(CustodyAction.TIMESTAMPED) == 2
    assert isnad("timestamp", "--pending", env=_env(tsa)).stdout.strip() == "nothing pending"
    bundle = isnad.home / "late-bundle"
    assert isnad("export", rec["id"], "-o", str(bundle), env=_env(tsa)).code == 0
    result = _run_verify_script(bundle)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("Verification: OK") == 2


def test_export_bundle_passes_public_tools_and_fails_on_one_flipped_byte(isnad, site, tsa):
    env = _env(tsa, ISNAD_CAPTURE__PDF="true")
    rec = isnad.capture(site.url("/arabic.html"), env=env)  # in Chromium: screenshot, PDF, DOM
    assert rec["state"] == CaptureState.COMPLETE, rec["stderr"]
    bundle = isnad.home / "bundle"
    run = isnad("export", rec["id"][:13], "-o", str(bundle), "--operator", "clerk-3", env=env)
    assert run.code == 0, run.stderr
    folder = bundle / rec["id"]
    for name in ("files/screenshot-001.png", "files/page-001.pdf", "files/dom-001.html",
                 "custody.json", "signature/signature.der", f"{rec['id']}.wacz"):
        assert (folder / name).is_file(), name
    assert (folder / "files/screenshot-001.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "العربية" in (folder / "files/dom-001.html").read_text(encoding="utf-8") or \
        "dir=\"rtl\"" in (folder / "files/dom-001.html").read_text(encoding="utf-8")
    assert (bundle / "report.pdf").read_bytes()[:5] == b"%PDF-"
    report = (bundle / "report.html").read_text(encoding="utf-8")
    assert rec["id"] in report and "openssl ts -verify" in report and "sha256sum -c" in report
    sums = (bundle / "SHA256SUMS").read_text().splitlines()
    assert any(line.endswith("  report.pdf") for line in sums)
    custody = isnad("show", rec["id"], "--json", env=env).json()["custody"]
    assert custody[-1]["action"] == CustodyAction.EXPORTED
    assert custody[-1]["actor"] == "clerk-3" and custody[-1]["details"]["to"] == str(bundle)

    ok = _run_verify_script(bundle)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "All checks passed." in ok.stdout and "Verified OK" in ok.stdout
    assert "Validation succeeded" in ok.stdout  # wacz validate on a signed, stamped package
    _check_report(bundle, rec["id"], report)
    # Without wacz installed, the script says so before checking anything.
    bare = subprocess.run(["sh", "verify.sh"], cwd=bundle, capture_output=True, text=True,
                          env={**os.environ, "PATH": "/usr/bin:/bin"}, timeout=60)
    assert bare.returncode == 2 and "verify.sh needs wacz" in bare.stderr
    assert "pip install wacz" in bare.stderr and "==" not in bare.stdout

    # One flipped byte in a WARC: sha256sum and the timestamp token both catch it.
    warc = next((folder / "package" / "archive").glob("*.warc.gz"))
    data = bytearray(warc.read_bytes())
    data[len(data) // 2] ^= 0x01
    warc.write_bytes(bytes(data))
    assert _run_verify_script(bundle).returncode != 0
    tsr = next(f for f in (folder / "package" / "timestamps").iterdir() if "warc" in f.name)
    direct = subprocess.run(
        ["openssl", "ts", "-verify", "-in", str(tsr), "-data", str(warc),
         "-CAfile", str(bundle / "tsa/local-tsa/root.pem"),
         "-untrusted", str(bundle / "tsa/local-tsa/tsa.pem")], capture_output=True, text=True)
    assert direct.returncode != 0 and "Verification: OK" not in direct.stdout
    data[len(data) // 2] ^= 0x01
    warc.write_bytes(bytes(data))
    assert _run_verify_script(bundle).returncode == 0
    # The signed hash: a datapackage.json changed by one byte no longer matches it.
    manifest = folder / "package" / "datapackage.json"
    original = manifest.read_bytes()
    manifest.write_bytes(original.replace(b'"created"', b'"Created"', 1))
    lines = [ln for ln in sums if not ln.endswith("datapackage.json")]
    (bundle / "SHA256SUMS").write_text("\n".join(lines) + "\n")  # even with sums "fixed"
    assert _run_verify_script(bundle).returncode != 0


def _check_report(bundle: Path, capture_id: str, report: str) -> None:
    """The report: title, thumbnail, links to the files, servers as a table, commands as
    the script runs them (no shell quoting artefacts), A4 like the capture's page PDF."""
    assert "<h2>أرشيف الأدلة</h2>" in report  # the page title heads its section
    assert f"<img src='{capture_id}/files/thumbnail-001.jpg'" in report
    assert f"<a href='{capture_id}/files/screenshot-001.png'>" in report
    assert f"<a href='{capture_id}/files/page-001.pdf'>" in report
    assert "<th>127.0.0.1</th><td><code>127.0.0.1</code></td>" in report
    assert '{"127.0.0.1"' not in report  # not raw JSON
    assert "&#x27;&quot;&#x27;&quot;&#x27;" not in report and "sh -c" not in report
    script = (bundle / "verify.sh").read_text()
    assert 'echo "' in script and "| sha256sum -c" in script
    for line in script.splitlines():  # every command of the script is shown as it runs
        if line.startswith(("openssl ", "wacz ", "sha256sum ", 'echo "')):
            assert html.escape(line) in report, line
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    text = subprocess.run(["pdftotext", "-layout", str(bundle / "report.pdf"), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert "'\"'\"'" not in text and "| sha256sum -c" in text
    assert "IP address it answered from" in text
    for pdf in (bundle / "report.pdf", bundle / capture_id / "files/page-001.pdf"):
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True,
                              check=True).stdout
        assert "(A4)" in info, (pdf, info)


def test_export_refuses_a_non_empty_folder_and_unknown_ids(isnad, site, tsa):
    rec = isnad.capture("--no-browser", site.url("/final.html"), env=_env(tsa))
    busy = isnad.home / "busy"
    busy.mkdir()
    (busy / "x").write_text("x")
    run = isnad("export", rec["id"], "-o", str(busy), env=_env(tsa))
    assert run.code == 2 and "not empty" in run.stderr
    run = isnad("export", "ffffffff", "-o", str(isnad.home / "new"), env=_env(tsa))
    assert run.code == 2 and "ffffffff" in run.stderr
