"""`isnad verify` on forged, damaged and hostile packages: each is a finding, never INTACT,
never a crash that hides the other results.

Packages are built with the archiver's own writer and signer (a real key, a real RFC 3161
TSA on 127.0.0.1), then edited the way an attacker or a failing disk would.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import struct
import uuid
import zipfile
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from archiver import verify as verify_module
from archiver.package import build_package
from archiver.proof import ProofOptions, Prover
from archiver.signing import SigningKey, init_keys, sign_hash
from archiver.states import CaptureState, CustodyAction
from archiver.timestamps import TSA
from archiver.verify import VerificationReport, verify_package, verify_package_file
from archiver.warcreader import check_warc_stream
from archiver.warcwriter import CaptureWarc
from tests.tsa import LocalTSA

# -- building packages ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    return init_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def tsa(tmp_path_factory: pytest.TempPathFactory):
    with LocalTSA(tmp_path_factory.mktemp("tsa")) as server:
        yield server


def _tsa(server: LocalTSA) -> TSA:
    return TSA("local-tsa", server.url, server.root_pem, server.tsa_cert_pem)


def _write_warc(path: Path, body: bytes) -> Path:
    warc = CaptureWarc(path, {"software": "test"})
    rid = warc.write_exchange(
        url="http://127.0.0.1:9/evidence.html", method="GET", request_headers=[],
        request_body=None, status=200, reason="OK",
        response_headers=[("Content-Type", "text/html")], body=body)
    warc.write_resource("urn:screenshot:http://127.0.0.1:9/evidence.html", "image/png",
                        b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, concurrent_to=rid)
    return warc.close()


def build_signed(folder: Path, key: SigningKey | None, tsas: list[TSA] = ()) -> Path:
    """A package as a capture makes it: WARC stamped, context written, then sealed."""
    folder.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    warc = _write_warc(folder / "capture.warc.gz", b"<html><p>the minister said yes</p></html>")
    prover = Prover(key, list(tsas), software="Isnad test", version="0")
    tokens = prover.stamp(f"archive/{warc.name}", hashlib.sha256(warc.read_bytes()).hexdigest())
    ended = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    context = {"capture_id": "test", "started_at": started, "ended_at": ended,
               "state": CaptureState.COMPLETE, "proof": prover.context()}
    media = folder / "video.mp4"
    media.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 16)
    out = folder / "package.wacz"
    build_package([warc], out, pages=[{"url": "http://127.0.0.1:9/evidence.html"}],
                  context=context, extra_files=[*tokens, ("metadata/post.json", b'{"a": 1}')],
                  extra_paths=[("media/video.mp4", media)], seal=prover.seal)
    return out


def _options(key: SigningKey | None, tsas: list[TSA], **more: bool) -> ProofOptions:
    opts = ProofOptions.from_tsas(list(tsas), {key.fingerprint} if key else None)
    for name, value in more.items():
        setattr(opts, name, value)
    return opts


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    """A zip written like a WACZ: WARCs and media stored, everything else deflated."""
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0))
            stored = name.startswith(("archive/", "media/")) or name.endswith(".warc.gz")
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return path


def resource(path: str, data: bytes) -> dict[str, object]:
    return {"name": path.rsplit("/", 1)[-1], "path": path,
            "hash": "sha256:" + hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def foreign(path: Path, files: dict[str, bytes], listed: list[str] | None = None) -> Path:
    """A package as another tool writes it: datapackage.json listing ``listed``, no proof."""
    names = list(files) if listed is None else listed
    datapackage = {"profile": "data-package", "wacz_version": "1.1.1",
                   "resources": [resource(n, files[n]) for n in names]}
    return write_zip(path, {**files, "datapackage.json": json.dumps(datapackage).encode()})


def raw_record(rec_type: str, block: bytes, headers: dict[str, str] | None = None) -> bytes:
    lines = [b"WARC/1.1", f"WARC-Type: {rec_type}".encode(),
             f"WARC-Record-ID: <urn:uuid:{uuid.uuid4()}>".encode(),
             b"WARC-Date: 2026-01-01T00:00:00Z",
             b"WARC-Target-URI: http://127.0.0.1:9/",
             b"Content-Type: application/http; msgtype=response"]
    lines += [f"{k}: {v}".encode() for k, v in (headers or {}).items()]
    lines.append(f"Content-Length: {len(block)}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + block + b"\r\n\r\n"


HTTP = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello"


def block_digest(block: bytes) -> str:
    return "sha256:" + hashlib.sha256(block).hexdigest()


def failed(report: VerificationReport) -> str:
    return " | ".join(f"{c.name}: {c.detail}" for c in report.mismatches)


def verify_bytes(data: bytes, opts: ProofOptions) -> VerificationReport:
    return verify_package(io.BytesIO(data), "fuzzed.wacz", proof=opts)


# -- a forged package verifies -------------------------------------------------------------


def test_a_signed_and_timestamped_package_verifies(tmp_path, key, tsa):
    package = build_signed(tmp_path / "p", key, [_tsa(tsa)])
    report = verify_package_file(package, _options(key, [_tsa(tsa)]))
    assert report.ok, failed(report)
    names = [c.name for c in report.checks]
    assert "signature of datapackage.json" in names
    assert "timestamp of datapackage.json by local-tsa" in names


def _forge(original: Path, out: Path) -> Path:
    """The attack: edit the WARC, fix its hash in datapackage.json, drop the proof."""
    files = members(original)
    name = next(n for n in files if n.startswith("archive/"))
    forged_warc = _write_warc(out.parent / "forged" / name.split("/")[1],
                              b"<html><p>the minister said no</p></html>").read_bytes()
    files[name] = forged_warc
    datapackage = json.loads(files["datapackage.json"])
    for r in datapackage["resources"]:
        if r["path"] == name:
            r.update(resource(name, forged_warc))
    del datapackage["isnad"]["proof"]
    files["datapackage.json"] = json.dumps(datapackage).encode()
    del files["datapackage-digest.json"]
    return write_zip(out, files)


def test_forged_package_with_its_proof_removed_fails(tmp_path, key, tsa):
    forged = _forge(build_signed(tmp_path / "p", key, [_tsa(tsa)]), tmp_path / "forged.wacz")
    report = verify_package_file(forged, _options(key, [_tsa(tsa)]))
    assert not report.ok
    signature = next(c for c in report.checks if c.name == "signature of datapackage.json")
    assert not signature.ok
    assert "unsigned: integrity only, no proof of origin" in signature.detail
    assert "Isnad capture context must be signed" in signature.detail
    # Only the missing proof fails: every hash was made consistent by the forger.
    assert [c.name for c in report.mismatches] == ["signature of datapackage.json"]
    # --allow-unsigned accepts it, and still says what it is.
    lenient = verify_package_file(forged, _options(key, [_tsa(tsa)], allow_unsigned=True))
    assert lenient.ok, failed(lenient)
    assert any("integrity only" in c.detail for c in lenient.checks)


@pytest.mark.e2e
def test_cli_refuses_unsigned_packages_unless_allowed(tmp_path, key, isnad):
    forged = _forge(build_signed(tmp_path / "p", key), tmp_path / "forged.wacz")
    run = isnad("verify", str(forged))
    assert run.code == 1 and "unsigned: integrity only, no proof of origin" in run.stdout
    assert "MISMATCH" in run.stdout
    lenient = isnad("verify", "--allow-unsigned", str(forged))
    assert lenient.code == 0, lenient.stdout
    assert "INTACT" in lenient.stdout and "integrity only" in lenient.stdout


def test_a_signature_proves_origin_only_with_a_trusted_key(tmp_path, key):
    package = build_signed(tmp_path / "p", key)
    # A forger re-signs an edited datapackage.json with a key of their own.
    files = members(package)
    datapackage = json.loads(files["datapackage.json"])
    datapackage["isnad"]["capture_id"] = "someone else's"
    files["datapackage.json"] = json.dumps(datapackage).encode()
    digest = json.loads(files["datapackage-digest.json"])
    digest["hash"] = "sha256:" + hashlib.sha256(files["datapackage.json"]).hexdigest()
    forger = init_keys(tmp_path / "forger")
    digest["signedData"] = sign_hash(forger, digest["hash"], created=datapackage["created"],
                                     software="forger", version="1")
    files["datapackage-digest.json"] = json.dumps(digest).encode()
    resigned = write_zip(tmp_path / "resigned.wacz", files)
    report = verify_package_file(resigned, _options(key, []))
    assert [c.name for c in report.mismatches] == ["signature of datapackage.json"]
    assert "not among the trusted keys" in report.mismatches[0].detail
    # Where no key is trusted, a valid signature is no proof of who made the package.
    unknown = verify_package_file(resigned, ProofOptions())
    assert [c.name for c in unknown.mismatches] == ["signature of datapackage.json"]
    assert "no trusted signing key is configured" in unknown.mismatches[0].detail
    assert not verify_package_file(package, ProofOptions()).ok
    lenient = verify_package_file(resigned, ProofOptions(allow_unsigned=True))
    assert lenient.ok and any("integrity only" in c.detail for c in lenient.checks)


@pytest.mark.e2e
def test_capture_with_signing_off_is_stored_but_verifies_only_as_unsigned(isnad, site):
    off = {"ISNAD_SIGNING__ENABLED": "false"}
    rec = isnad.capture("--no-browser", site.url("/final.html"), env=off)
    assert rec["state"] == CaptureState.COMPLETE, rec["stderr"]
    run = isnad("verify", rec["id"], env=off)
    assert run.code == 1 and "unsigned: integrity only, no proof of origin" in run.stdout
    lenient = isnad("verify", "--allow-unsigned", rec["id"], env=off)
    assert lenient.code == 0, lenient.stdout


def test_foreign_unsigned_package_is_integrity_only(tmp_path):
    warc = raw_record("response", HTTP, {"WARC-Block-Digest": block_digest(HTTP)})
    package = foreign(tmp_path / "f.wacz", {"archive/a.warc": warc})
    report = verify_package_file(package, ProofOptions())
    assert [c.name for c in report.mismatches] == ["signature of datapackage.json"]
    assert "unsigned: integrity only, no proof of origin" in report.mismatches[0].detail
    assert verify_package_file(package, ProofOptions(allow_unsigned=True)).ok


def test_a_removed_timestamp_of_datapackage_json_is_missing_proof(tmp_path, key, tsa):
    """datapackage-digest.json is not signed: its tokens could be dropped, the signature kept.
    The signed context names the TSA, so the missing token is a finding."""
    files = members(build_signed(tmp_path / "p", key, [_tsa(tsa)]))
    digest = json.loads(files["datapackage-digest.json"])
    assert digest.pop("timestamps")
    files["datapackage-digest.json"] = json.dumps(digest).encode()
    report = verify_package_file(write_zip(tmp_path / "x.wacz", files),
                                 _options(key, [_tsa(tsa)]))
    assert [c.name for c in report.mismatches] == ["timestamp of datapackage.json by local-tsa"]
    assert "missing" in report.mismatches[0].detail


def test_record_without_digest_is_a_finding(tmp_path):
    undigested = raw_record("response", HTTP)
    result = check_warc_stream(io.BytesIO(undigested), "a.warc", require_digests=True)
    assert not result.ok and "no WARC-Block-Digest" in result.problems[0]
    package = foreign(tmp_path / "f.wacz", {"archive/a.warc": undigested})
    report = verify_package_file(package, ProofOptions(allow_unsigned=True))
    assert not report.ok
    assert "archive/a.warc: WARC record digests" in [c.name for c in report.mismatches]
    assert "every digest matches" not in failed(report)


def test_package_with_zero_resources_is_a_finding(tmp_path):
    path = write_zip(tmp_path / "empty.wacz", {"datapackage.json": json.dumps(
        {"profile": "data-package", "resources": []}).encode()})
    report = verify_package_file(path, ProofOptions(allow_unsigned=True))
    assert not report.ok
    assert "datapackage.json lists the package's files" in [c.name for c in report.mismatches]
    assert "the package holds a WARC" in [c.name for c in report.mismatches]


@pytest.mark.parametrize("name", ["other/evidence.bin", "elsewhere/x.warc.gz"])
def test_a_warc_outside_archive_is_digest_checked(tmp_path, name):
    block = HTTP.replace(b"hello", b"HELLO")  # edited after its digest was written
    warc = raw_record("response", block, {"WARC-Block-Digest": block_digest(HTTP)})
    good = raw_record("response", HTTP, {"WARC-Block-Digest": block_digest(HTTP)})
    data = gzip.compress(warc) if name.endswith(".gz") else warc
    package = foreign(tmp_path / "f.wacz", {"archive/a.warc": good, name: data})
    report = verify_package_file(package, ProofOptions(allow_unsigned=True))
    assert [c.name for c in report.mismatches] == [f"{name}: WARC record digests"]
    assert "digest mismatch" in report.mismatches[0].detail


@pytest.mark.parametrize("bad", ["../outside.txt", "/etc/cron.d/job", "a/../../b.txt",
                                 "C:/Windows/x.txt"])
def test_unsafe_member_names_are_refused(tmp_path, bad):
    good = raw_record("response", HTTP, {"WARC-Block-Digest": block_digest(HTTP)})
    package = foreign(tmp_path / "f.wacz", {"archive/a.warc": good, bad: b"payload"})
    report = verify_package_file(package, ProofOptions(allow_unsigned=True))
    assert not report.ok
    assert bad in failed(report)


def test_duplicate_member_names_are_a_finding(tmp_path):
    good = raw_record("response", HTTP, {"WARC-Block-Digest": block_digest(HTTP)})
    path = foreign(tmp_path / "f.wacz", {"archive/a.warc": good})
    with zipfile.ZipFile(path, "a") as z, pytest.warns(UserWarning):
        z.writestr("archive/a.warc", b"another content under the same name")
    report = verify_package_file(path, ProofOptions(allow_unsigned=True))
    assert "member names are unique" in [c.name for c in report.mismatches]


# -- one damaged package hides every result ------------------------------------------------


def _data_offset(data: bytes, info: zipfile.ZipInfo) -> int:
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:
                                                   info.header_offset + 30])
    return info.header_offset + 30 + name_len + extra_len


def _break_deflate(path: Path, member: str) -> bytes:
    """A deflated member whose first block type is the invalid 0b11 (zlib: Error -3)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    assert info.compress_type == zipfile.ZIP_DEFLATED
    data[_data_offset(bytes(data), info)] |= 0x06
    return bytes(data)


def test_broken_deflate_data_is_a_finding_naming_the_member(tmp_path, key):
    package = build_signed(tmp_path / "p", key)
    damaged = _break_deflate(package, "pages/pages.jsonl")
    with pytest.raises(zlib.error):  # what used to escape verify and end the run
        with zipfile.ZipFile(io.BytesIO(damaged)) as z:
            z.read("pages/pages.jsonl")
    report = verify_bytes(damaged, _options(key, []))
    assert not report.ok
    check = next(c for c in report.mismatches if c.name.startswith("pages/pages.jsonl"))
    assert "Error -3" in check.detail


@pytest.mark.e2e
def test_verify_all_reports_every_capture_past_a_damaged_one(isnad, site):
    first = isnad.capture("--no-browser", site.url("/final.html"))
    second = isnad.capture("--no-browser", site.url("/arabic.html"))
    assert first["state"] == second["state"] == CaptureState.COMPLETE, \
        first["stderr"] + second["stderr"]
    shown = isnad("show", first["id"], "--json").json()
    location = Path(next(c["location"] for c in shown["copies"]))
    location.chmod(0o644)
    location.write_bytes(_break_deflate(location, "pages/pages.jsonl"))
    run = isnad("verify", "--all")
    assert run.code == 1, run.stdout + run.stderr
    assert "Error -3" in run.stdout and "Traceback" not in run.stderr
    assert f"MISMATCH capture {first['id']}" in run.stdout
    assert f"INTACT capture {second['id']}" in run.stdout
    actions = [e["action"] for e in isnad("show", first["id"], "--json").json()["custody"]]
    assert actions[-1] == CustodyAction.VERIFICATION_FAILED
    actions = [e["action"] for e in isnad("show", second["id"], "--json").json()["custody"]]
    assert actions[-1] == CustodyAction.VERIFIED


# -- hostile packages ----------------------------------------------------------------------


def _gzip_stream(*parts: bytes, repeat: tuple[bytes, int] | None = None) -> bytes:
    co = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [co.compress(parts[0])]
    if repeat:
        for _ in range(repeat[1]):
            out.append(co.compress(repeat[0]))
    out += [co.compress(p) for p in parts[1:]]
    out.append(co.flush())
    return b"".join(out)


def test_a_line_of_megabytes_is_refused(tmp_path):
    # 4 MiB in one header line, 4 KiB compressed; warcio alone reads it in quadratic time
    # (a 1.5 GB line hung verify).
    line = _gzip_stream(b"WARC/1.1\r\nWARC-Type: response\r\nX-Filler: ", b"\r\n\r\n",
                        repeat=(b"a" * 65536, 64))
    assert len(line) < 16 * 1024
    package = foreign(tmp_path / "f.wacz", {"archive/a.warc.gz": line})
    report = verify_package_file(package, ProofOptions(allow_unsigned=True))
    check = next(c for c in report.mismatches if c.name == "archive/a.warc.gz: WARC record digests")
    assert "a line longer than" in check.detail


def test_a_record_that_expands_without_end_is_refused(tmp_path):
    size = 64 * 1024 * 1024  # of zeros: 64 KiB compressed
    head = (f"WARC/1.1\r\nWARC-Type: resource\r\nWARC-Record-ID: <urn:uuid:{uuid.uuid4()}>\r\n"
            f"WARC-Date: 2026-01-01T00:00:00Z\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {size}\r\n\r\n").encode()
    bomb = _gzip_stream(head, b"\r\n\r\n", repeat=(bytes(1024 * 1024), 64))
    assert len(bomb) < 256 * 1024
    package = foreign(tmp_path / "f.wacz", {"archive/a.warc.gz": bomb})
    report = verify_package_file(package, ProofOptions(allow_unsigned=True))
    check = next(c for c in report.mismatches if c.name == "archive/a.warc.gz: WARC record digests")
    assert "more than 200:1" in check.detail


def test_a_content_encoded_payload_is_checked_as_stored_not_inflated():
    """A gzip-encoded body of 64 MiB of zeros (64 KiB stored) is digest-checked as the 64 KiB
    it is; nothing is inflated, and a mislabelled encoding cannot break the check."""
    body = _gzip_stream(b"", repeat=(bytes(1024 * 1024), 64))
    http = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n" + body
    mislabelled = b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\n\r\nnot brotli at all"
    warc = b"".join(raw_record("response", block, {"WARC-Block-Digest": block_digest(block)})
                    for block in (http, mislabelled))
    result = check_warc_stream(io.BytesIO(warc), "a.warc", require_digests=True)
    assert result.ok, result.problems
    assert [r.length for r in result.records] == [len(body), len(b"not brotli at all")]


def test_a_zip_member_declaring_a_huge_expansion_is_not_inflated(tmp_path):
    # datapackage.json of 48 MiB of whitespace, deflated to ~50 KiB (an 800 MB one was read
    # whole, 1.76 GB peak RSS).
    path = tmp_path / "bomb.wacz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("datapackage.json", "w") as out:
            out.write(b'{"resources": []')
            for _ in range(48):
                out.write(b" " * (1024 * 1024))
            out.write(b"}")
    assert path.stat().st_size < 256 * 1024
    report = verify_package_file(path, ProofOptions(allow_unsigned=True))
    assert not report.ok
    assert "datapackage.json" in failed(report) and "not inflated" in failed(report)


def test_a_stored_datapackage_over_the_limit_is_not_read(tmp_path, monkeypatch):
    monkeypatch.setattr(verify_module, "MAX_JSON_BYTES", 1000)
    with zipfile.ZipFile(tmp_path / "big.wacz", "w") as z:  # stored: no expansion to see
        z.writestr("datapackage.json", json.dumps({"resources": [], "pad": " " * 2000}))
    report = verify_package_file(tmp_path / "big.wacz", ProofOptions(allow_unsigned=True))
    check = next(c for c in report.mismatches if c.name == "datapackage.json readable")
    assert "more than the 1000 bytes accepted" in check.detail


@pytest.mark.parametrize("datapackage", [
    b"[]",
    b'"just a string"',
    b'{"resources": "archive/a.warc"}',
    b'{"resources": [5, "x", null]}',
    b'{"resources": [{"path": 5}]}',
    b'{"resources": [{"path": "archive/a.warc", "hashing": "sha256", "stats": "x"}]}',
    b'{"resources": [{"path": "archive/a.warc"}], "isnad": ["not", "an", "object"]}',
    b'{"resources": [{"path": "archive/a.warc"}], "isnad": {"proof": {"timestamps": [1],'
    b' "tsas": "x"}}}',
    b"[" * 200_000 + b"]" * 200_000,
    b"\xff\xfe not json",
], ids=["list", "string", "resources-string", "resources-scalars", "path-number",
        "stats-string", "context-list", "proof-garbage", "deep-nesting", "not-json"])
def test_malformed_datapackage_json_is_a_clear_finding(tmp_path, datapackage):
    good = raw_record("response", HTTP, {"WARC-Block-Digest": block_digest(HTTP)})
    path = write_zip(tmp_path / "m.wacz", {"archive/a.warc": good,
                                           "datapackage.json": datapackage})
    report = verify_package_file(path, ProofOptions(allow_unsigned=True))
    assert not report.ok
    for crash in ("AttributeError", "RecursionError", "TypeError", "KeyError", "IndexError"):
        assert crash not in failed(report)


# -- fuzz: a flipped byte anywhere -----------------------------------------------------------


def _regions(data: bytes) -> list[tuple[str, int, int, str | None]]:
    """(label, start, end, member or None) for each zip region of the package."""
    regions = []
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        infos = z.infolist()
        cd_start = z.start_dir
    for info in infos:
        start = _data_offset(data, info)
        kind = "stored" if info.compress_type == zipfile.ZIP_STORED else "deflated"
        regions.append((f"local header of {info.filename}", info.header_offset, start, None))
        regions.append((f"{kind} data of {info.filename}", start, start + info.compress_size,
                        info.filename))
    eocd = data.rfind(b"PK\x05\x06")
    regions.append(("central directory", cd_start, eocd, None))
    regions.append(("end of central directory", eocd, len(data), None))
    return regions


def _positions(start: int, end: int, count: int) -> list[int]:
    span = end - start
    if span <= count:
        return list(range(start, end))
    return sorted({start + (span - 1) * i // (count - 1) for i in range(count)})


def test_fuzz_every_flip_is_found_or_changes_nothing(tmp_path, key, tsa):
    tsas = [_tsa(tsa)]
    package = build_signed(tmp_path / "p", key, tsas).read_bytes()
    opts = _options(key, tsas)
    assert verify_bytes(package, opts).ok
    original = members_of(package)
    flips = 0
    for label, start, end, member in _regions(package):
        per_region = 40 if label == "central directory" else 6
        for position in _positions(start, end, per_region):
            for mask in (0x01, 0x80):
                flipped = bytearray(package)
                flipped[position] ^= mask
                report = verify_bytes(bytes(flipped), opts)  # must not raise
                flips += 1
                where = f"{label} at byte {position} ^ {mask:#x}"
                if report.ok:
                    # INTACT is only acceptable if what a reader unpacks is the same.
                    assert members_of(bytes(flipped)) == original, where
                    continue
                assert report.mismatches, where
                if member is not None:
                    text = " ".join(f"{c.name} {c.detail}" for c in report.mismatches)
                    assert member in text, f"{where}: {failed(report)}"
    assert 200 <= flips <= 600


def members_of(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {i.filename: z.read(i) for i in z.infolist()}



def test_a_package_lists_the_hashes_of_its_files_as_written_without_reading_them_back(
        tmp_path, monkeypatch):
    """Read once: the WARCs and media copied into a package are hashed as they are written;
    building it reads none of them back out of the zip, and what it lists is what an
    independent read of each member gives."""
    read_back: list[str] = []
    real_open = zipfile.ZipFile.open

    def spying_open(self, name, mode="r", *args, **kwargs):
        if mode == "r":
            read_back.append(name if isinstance(name, str) else name.filename)
        return real_open(self, name, mode, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spying_open)
    package = build_signed(tmp_path / "p", None)
    monkeypatch.undo()
    assert not [n for n in read_back if n.startswith(("archive/", "media/"))], read_back
    with zipfile.ZipFile(package) as wacz:
        listed = json.loads(wacz.read("datapackage.json"))["resources"]
        assert [r["path"] for r in listed] == [
            i.filename for i in wacz.infolist()
            if i.filename not in ("datapackage.json", "datapackage-digest.json")]
        for resource in listed:
            data = wacz.read(resource["path"])
            assert resource["hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
            assert resource["bytes"] == len(data)
            assert resource["name"] == resource["path"].rsplit("/", 1)[-1].lower()
    assert {"archive/capture.warc.gz", "media/video.mp4"} <= {r["path"] for r in listed}
    report = verify_package_file(package, ProofOptions(allow_unsigned=True))
    assert report.ok, [c for c in report.checks if not c.ok]


def test_a_package_is_read_once_to_verify_it_and_hash_it(tmp_path, key, monkeypatch):
    """Its own verification reads a package once: the whole-file hash comes from the bytes the
    member and WARC record checks read (in the order they lie in the file), and a WARC is
    read once for its records' digests and its member hash. Counted on the real file."""
    import os

    folder = tmp_path / "p"
    folder.mkdir()
    video = os.urandom(6 * 1024 * 1024)  # large members, so the count is about them
    warc = CaptureWarc(folder / "capture.warc.gz", {"software": "test"})
    warc.write_exchange(url="http://127.0.0.1:9/v.mp4", method="GET", request_headers=[],
                        request_body=None, status=200, reason="OK", body=video,
                        response_headers=[("Content-Type", "video/mp4")])
    media = folder / "v.mp4"
    media.write_bytes(video)
    prover = Prover(key, [], software="Isnad test", version="0")
    out = folder / "package.wacz"
    build_package([warc.close()], out, pages=[{"url": "http://127.0.0.1:9/v.mp4"}],
                  context={"capture_id": "test", "state": CaptureState.COMPLETE,
                           "proof": prover.context()},
                  extra_paths=[("media/v.mp4", media)], seal=prover.seal)
    read = []

    class Counting(io.FileIO):
        def read(self, size=-1):
            data = super().read(size)
            read.append(len(data))
            return data

    monkeypatch.setattr(verify_module, "open", lambda path, mode: Counting(path, "r"),
                        raising=False)
    report = verify_package_file(out, _options(key, []))
    assert report.ok, report.mismatches
    size = out.stat().st_size
    assert report.package_sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    assert report.package_size == size
    assert sum(read) < 1.1 * size, f"{sum(read)} bytes read for a {size}-byte package"


# -- verification's hashes in worker threads (archiver.hashing.ThreadedHash) ----------------

def test_a_threaded_hash_is_the_hash_of_its_bytes_in_order() -> None:
    """Pieces of every size, across many hand-overs to the worker, hash as one hashlib object
    would; a buffer its owner overwrites after the update is hashed as it was given."""
    import random

    from archiver.hashing import HASH_BATCH, ThreadedHash

    rng = random.Random(17)
    plain, threaded = hashlib.sha256(), ThreadedHash(hashlib.sha256())
    reused = bytearray(64 * 1024)
    given = 0
    while given < 5 * HASH_BATCH:
        size = rng.choice([1, 100, 5000, 64 * 1024, HASH_BATCH + 3])
        data = rng.randbytes(size)
        piece: bytes | bytearray | memoryview = (
            memoryview(data)[1:] if size % 2 else data)
        if size == 64 * 1024:  # a buffer overwritten as soon as update() returns
            reused[:] = data
            piece = reused
        plain.update(piece)
        threaded.update(piece)
        reused[:] = bytes(len(reused))
        given += len(piece)
    assert threaded.hexdigest() == plain.hexdigest()
    threaded.update(b"more")
    plain.update(b"more")
    assert threaded.digest() == plain.digest()


def _large_package(tmp_path: Path, tamper: str | None) -> Path:
    """A package with a 9 MiB response record (uncompressed WARC, SHA-1 digests as warcio
    writes them) and a 9 MiB media file: several of the worker threads' batches each. With
    ``tamper`` one byte near the end of that file is changed after its digests were taken,
    and the zip's CRC-32 made to fit the changed bytes: only the SHA checks can see it."""
    import random

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    from archiver.hashing import FileDigest

    body = random.Random(9).randbytes(9 * 1024 * 1024)
    warc, media = tmp_path / "big.warc", tmp_path / "big.mp4"
    with open(warc, "wb") as fh:
        writer = WARCWriter(fh, gzip=False)
        writer.write_record(writer.create_warc_record(
            "http://127.0.0.1/big.mp4", "response", payload=io.BytesIO(body),
            length=len(body), http_headers=StatusAndHeaders(
                "200 OK", [("Content-Type", "video/mp4"), ("Content-Length", str(len(body)))],
                protocol="HTTP/1.1")))
    media.write_bytes(body)
    digests = {}
    for path in (warc, media):
        data = bytearray(path.read_bytes())
        sha = hashlib.sha256(data).hexdigest()
        if tamper == path.suffix:
            data[-5000] ^= 0x01
            path.write_bytes(data)
        digests[path] = FileDigest(sha, len(data), zlib.crc32(data))
    out = tmp_path / "big.wacz"
    build_package([warc], out, pages=[{"url": "http://127.0.0.1/"}], context={"test": 1},
                  extra_paths=[("media/001-big.mp4", media, digests[media])],
                  known={warc: digests[warc]}, hashed=False)
    return out


@pytest.mark.parametrize("tamper", [None, ".warc", ".mp4"])
def test_large_members_changed_by_one_byte_are_found(tmp_path: Path, tamper: str | None
                                                      ) -> None:
    out = _large_package(tmp_path, tamper)
    report = verify_package_file(out, ProofOptions(allow_unsigned=True))
    failed = {c.name: c.detail for c in report.mismatches}
    assert report.package_sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    assert report.package_size == out.stat().st_size
    if tamper is None:
        assert report.ok, failed
    elif tamper == ".warc":
        assert set(failed) == {"archive/big.warc: sha256 and size",
                               "archive/big.warc: WARC record digests"}, failed
        assert "digest mismatch" in failed["archive/big.warc: WARC record digests"]
    else:
        assert set(failed) == {"media/001-big.mp4: sha256 and size"}, failed
