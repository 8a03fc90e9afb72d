"""Importing WACZ packages (issue 14): the received WACZ kept whole, its WARCs taken out for
replay (derived), its datapackage.json and signature status in provenance.json."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

SHARED = Path(__file__).resolve().parents[2] / "shared"
VALID = SHARED / "samples" / "py-wacz--valid_example_1.wacz"
INVALID = SHARED / "samples" / "py-wacz--invalid_example_1.wacz"
IMPORTS = SHARED / "import-samples"
SIGNED_ANON = IMPORTS / "replayweb.page--iframetest.wacz"
DOMAIN_STAGING = IMPORTS / "py-wacz--invalid_signed_example_1.wacz"
SCOOP = IMPORTS / "scoop--example.com.wacz"
DOMAIN_EXPIRED = IMPORTS / "py-wacz--valid_signed_example_1.wacz"

needs_samples = pytest.mark.skipif(not (VALID.is_file() and IMPORTS.is_dir()),
                                   reason="../shared samples absent")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _package(isnad, capture_id: str) -> Path:
    found = list((isnad.home).rglob(f"{capture_id}.wacz"))
    assert found, capture_id
    return found[0]


def _wacz_validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / "wacz"), "validate", "-f",
                           str(path)], capture_output=True, text=True, timeout=120)


@needs_samples
@pytest.mark.e2e
def test_received_waczs_are_kept_whole_with_their_warcs_derived(isnad, tmp_path):
    given = [VALID, INVALID, SIGNED_ANON, DOMAIN_STAGING, DOMAIN_EXPIRED, SCOOP]
    run = isnad("import", *map(str, given), "--provider", "Partner NGO", "--operator", "rana",
                "--json")
    data = run.json()
    assert run.code == 1, run.stderr  # PARTIAL: one WACZ lacks a resource it lists
    assert data["state"] == "PARTIAL"
    files = {f["name"]: f for f in data["files"]}
    assert {f["state"] for f in files.values()} == {"imported"}, files
    codes = {name: {f["code"] for f in f["findings"]} for name, f in files.items()}
    # Never discarded: the invalid one is stored, with what is wrong with it.
    assert "resource-missing" in codes[INVALID.name]
    assert [f["state"] for f in data["files"] if f["name"] != INVALID.name] == ["imported"] * 5
    assert "signature-verified" in codes[SIGNED_ANON.name]
    assert "signature-domain-untrusted" in codes[DOMAIN_STAGING.name]

    for path in given:
        entry = files[path.name]
        assert entry["kind"] == "wacz" and entry["sha256"] == sha256(path)
        package = _package(isnad, entry["capture_id"])
        with zipfile.ZipFile(package) as z:
            provenance = json.loads(z.read("metadata/provenance.json"))
            original = provenance["files"][0]
            assert original["role"] == "original" and original["name"] == path.name
            kept = z.read(original["member"])
            assert z.getinfo(original["member"]).compress_type == zipfile.ZIP_STORED
            # The original's hash == the stored member's hash == the file's.
            assert hashlib.sha256(kept).hexdigest() == sha256(path) == original["sha256"]
            with zipfile.ZipFile(path) as received:
                assert original["metadata"]["datapackage"] == json.loads(
                    received.read("datapackage.json"))
                for d in provenance["files"][1:]:
                    assert d["role"] == "derived" and d["derived_from"]
                    if "extracted_from" in d:  # byte for byte the member of the original
                        assert z.read(d["member"]) == received.read(d["extracted_from"])
                        assert d["derived_from"] == [original["member"]]
            names = z.namelist()
        assert original["signature"]["status"] == {
            VALID.name: "unsigned", INVALID.name: "unsigned", SIGNED_ANON.name: "verified",
            DOMAIN_STAGING.name: "signer-not-established", DOMAIN_EXPIRED.name: "checked-offline",
            SCOOP.name: "unsigned"}[path.name]
        validated = _wacz_validate(package)
        assert "is valid" in validated.stdout, validated.stdout + validated.stderr
        record = isnad("show", entry["capture_id"], "--json").json()
        assert [e["action"] for e in record["custody"]] == [
            "received", "validated", "packaged", "stored", "verified"]
        assert record["custody"][0]["object_sha256"] == sha256(path)
        if path in (VALID, SIGNED_ANON, DOMAIN_STAGING, DOMAIN_EXPIRED, SCOOP):
            extracted = [d for d in provenance["files"] if "extracted_from" in d]
            assert extracted and all(d["member"] in names for d in extracted)
            with zipfile.ZipFile(package) as z:
                index = z.read("indexes/index.cdx").decode()
            assert index.strip() and all(json.loads(line.split(" ", 2)[2])["filename"] in
                                         {d["member"].split("/", 1)[1] for d in extracted}
                                         for line in index.splitlines())

    # Scoop's WARC has payload digests that do not match: taken out all the same (replay),
    # the mismatches said of the WACZ, and the package still verifies.
    assert "payload-digest-mismatch" in codes[SCOOP.name]
    assert "wacz-warc-not-extracted" not in codes[SCOOP.name]
    verified = isnad("verify", "--all")
    assert verified.code == 0, verified.stdout + verified.stderr
    assert verified.stdout.count("INTACT") == len(given)


def _rewrite(source: Path, out: Path, change) -> Path:
    """A copy of the WACZ ``source`` with ``change(name, bytes) -> bytes`` applied to members."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, change(info.filename, src.read(info)))
    return out


@needs_samples
@pytest.mark.e2e
def test_bad_hashes_and_a_bad_signature_make_the_file_partial_never_discarded(isnad, tmp_path):
    def wrong_hash(name: str, data: bytes) -> bytes:
        if name != "datapackage.json":
            return data
        package = json.loads(data)
        for resource in package["resources"]:
            if resource["path"].startswith("archive/"):
                resource["hash"] = "sha256:" + "0" * 64
        return json.dumps(package).encode()

    def wrong_signature(name: str, data: bytes) -> bytes:
        if name != "datapackage-digest.json":
            return data
        digest = json.loads(data)
        signature = bytearray(base64.b64decode(digest["signedData"]["signature"]))
        signature[-1] ^= 1
        digest["signedData"]["signature"] = base64.b64encode(bytes(signature)).decode()
        return json.dumps(digest).encode()

    bad_hash = _rewrite(VALID, tmp_path / "bad-hash.wacz", wrong_hash)
    bad_signature = _rewrite(SIGNED_ANON, tmp_path / "bad-signature.wacz", wrong_signature)
    run = isnad("import", str(bad_hash), str(bad_signature), "--provider", "p", "--json")
    assert run.code == 1, run.stderr
    data = run.json()
    assert data["state"] == "PARTIAL"
    files = {f["name"]: f for f in data["files"]}
    assert {f["state"] for f in files.values()} == {"imported"}  # kept, with the reasons
    mismatch = [f for f in files[bad_hash.name]["findings"]
                if f["code"] == "resource-hash-mismatch"]
    assert mismatch and "0" * 64 in mismatch[0]["message"]
    assert "signature-invalid" in {f["code"] for f in files[bad_signature.name]["findings"]}
    for path in (bad_hash, bad_signature):
        record = isnad("show", files[path.name]["capture_id"], "--json").json()
        assert record["state"] == "PARTIAL" and record["reasons"]
        package = _package(isnad, files[path.name]["capture_id"])
        with zipfile.ZipFile(package) as z:
            provenance = json.loads(z.read("metadata/provenance.json"))
            original = provenance["files"][0]
            assert hashlib.sha256(z.read(original["member"])).hexdigest() == sha256(path)
        assert "is valid" in _wacz_validate(package).stdout
    signature = _signature_of(isnad, files[bad_signature.name]["capture_id"])
    assert signature["status"] == "invalid" and signature["kind"] == "anonymous"
    # The WARC whose declared hash is wrong is not taken out: only the original holds it.
    with zipfile.ZipFile(_package(isnad, files[bad_hash.name]["capture_id"])) as z:
        assert not any("extracted_from" in f for f in json.loads(
            z.read("metadata/provenance.json"))["files"])
    verified = isnad("verify", "--all")
    assert verified.code == 0, verified.stdout + verified.stderr


def _signature_of(isnad, capture_id: str) -> dict:
    with zipfile.ZipFile(_package(isnad, capture_id)) as z:
        return json.loads(z.read("metadata/provenance.json"))["files"][0]["signature"]


@needs_samples
@pytest.mark.e2e
def test_a_wacz_whose_warc_has_bad_digests_replays_and_stays_partial(isnad):
    run = isnad("import", str(SCOOP), "--provider", "p", "--json")
    data = run.json()
    assert run.code == 1 and data["state"] == "PARTIAL", run.stderr
    (entry,) = data["files"]
    assert entry["state"] == "imported"
    bad = [f for f in entry["findings"] if f["code"] == "payload-digest-mismatch"]
    assert bad and all(f["severity"] == "error" and f["file"] == SCOOP.name
                       and f["where"].startswith("member archive/") for f in bad)
    record = isnad("show", entry["capture_id"], "--json").json()
    assert record["state"] == "PARTIAL" and any("payload" in r for r in record["reasons"])
    package = _package(isnad, entry["capture_id"])
    with zipfile.ZipFile(package) as z, zipfile.ZipFile(SCOOP) as received:
        files = json.loads(z.read("metadata/provenance.json"))["files"]
        (extracted,) = [d for d in files if "extracted_from" in d]
        assert extracted["role"] == "derived"
        assert extracted["derived_from"] == [files[0]["member"]]
        assert {f["code"] for f in extracted["findings"]} >= {"payload-digest-mismatch"}
        data_ = z.read(extracted["member"])
        assert data_ == received.read(extracted["extracted_from"])  # byte for byte
        assert hashlib.sha256(data_).hexdigest() == extracted["sha256"]
        index = z.read("indexes/index.cdx").decode().splitlines()
        page = json.loads(z.read("pages/pages.jsonl").decode().splitlines()[1])
    # The page replays from the WARC taken out, through the index.
    line = next(x for x in index if json.loads(x.split(" ", 2)[2])["url"] == page["url"])
    at = json.loads(line.split(" ", 2)[2])
    assert at["filename"] == extracted["member"].split("/", 1)[1]
    chunk = data_[int(at["offset"]):int(at["offset"]) + int(at["length"])]
    got = next(iter(ArchiveIterator(io.BytesIO(chunk))))
    assert got.rec_headers.get_header("WARC-Target-URI") == page["url"]
    assert b"<html" in got.content_stream().read().lower()
    verified = isnad("verify", entry["capture_id"])
    assert verified.code == 0, verified.stdout + verified.stderr
    assert "made on arrival from" in isnad("verify", entry["capture_id"], "--json").stdout
