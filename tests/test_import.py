"""Importing archived collections (issue 14): checking WARC/ARC files on arrival, packaging
them as evidence with their provenance, and the `isnad import` command."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from archiver.intake import Severity
from archiver.intake.warc import MAX_FINDINGS_PER_CODE, check_warc

SHARED = Path(__file__).resolve().parents[2] / "shared"
SAMPLES = SHARED / "samples"
IMPORTS = SHARED / "import-samples"
TWITTER = IMPORTS / "replayweb.page--netpreserve-twitter.warc"
HERITRIX = IMPORTS / "webarchive-discovery--BL-20140325122341434-00000-32090~opera~8443.warc.gz"
OLD_ARC = IMPORTS / "webarchive-discovery--IAH-20080430204825-00000-blackbook-truncated.arc.gz"
BAD_ARC = SAMPLES / "pywb--bad.arc"
EXAMPLE = SAMPLES / "warcio--example.warc.gz"

needs_samples = pytest.mark.skipif(not (SAMPLES.is_dir() and IMPORTS.is_dir()),
                                   reason="../shared samples absent")


def codes(checked) -> set[str]:
    return {f.code for f in checked.findings}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_warc(path: Path, pages: dict[str, bytes], *, gzip_members: bool = True) -> Path:
    """A WARC with one HTML response per URL (warcio writes both digests)."""
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=gzip_members)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "test"}))
        for url, body in pages.items():
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                                    protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), http_headers=http))
    return path


# -- the checker on real material ---------------------------------------------------------
@needs_samples
def test_real_warcs_check_clean_and_hash_as_received():
    checked = check_warc(SAMPLES / "pywb--example-wget-1-14.warc.gz", "wget.warc.gz")
    assert checked.ok and checked.kind == "warc" and checked.records == 6
    assert checked.hashes["sha256"] == sha256(SAMPLES / "pywb--example-wget-1-14.warc.gz")
    assert checked.size == (SAMPLES / "pywb--example-wget-1-14.warc.gz").stat().st_size
    assert checked.pages and checked.pages[0]["url"].startswith("http")


@needs_samples
def test_wrong_block_digests_in_a_real_file_are_listed_with_offsets():
    checked = check_warc(TWITTER, TWITTER.name)
    wrong = [f for f in checked.findings if f.code == "block-digest-mismatch"]
    # warcio flags 30 chunked responses of this file (SOURCES.md); each is named, with where.
    assert len(wrong) == 30 and not checked.ok
    assert all(f.severity == Severity.ERROR and f.where.startswith("offset ") for f in wrong)
    assert checked.records == 304  # every record read, the bad ones included


@needs_samples
def test_missing_digests_are_warnings_listed_and_bounded():
    checked = check_warc(HERITRIX, HERITRIX.name)
    missing = [f for f in checked.findings if f.code == "missing-block-digest"]
    assert checked.ok and checked.records == 190
    # 189 records without a block digest: the first ones listed, the rest counted.
    assert len(missing) == MAX_FINDINGS_PER_CODE + 1
    assert "189 records in all" in missing[-1].message
    assert checked.metadata["warcinfo"][0]["fields"]["software"].startswith("Heritrix")


@needs_samples
def test_arc_files_are_read_and_bad_arc_records_reported():
    old = check_warc(OLD_ARC, OLD_ARC.name)
    assert old.kind == "arc" and old.records == 9 and old.ok
    assert "arc-no-digests" in codes(old)
    assert "Heritrix" in old.metadata["warcinfo"][0]["text"]
    bad = check_warc(BAD_ARC, BAD_ARC.name)
    malformed = [f for f in bad.findings if f.code == "malformed-record"]
    assert not bad.ok and [f.where for f in malformed] == ["offset 0", "offset 134",
                                                          "offset 262"]
    assert bad.hashes["sha256"] == sha256(BAD_ARC)


@needs_samples
def test_declared_hashes_are_compared():
    data = EXAMPLE.read_bytes()
    good = {"md5": hashlib.md5(data).hexdigest(), "sha1": hashlib.sha1(data).hexdigest()}
    checked = check_warc(EXAMPLE, "x.warc.gz", declared=good)
    assert checked.ok and checked.hashes["md5"] == good["md5"]
    checked = check_warc(EXAMPLE, "x.warc.gz", declared={"SHA256": "00" * 32, "crc32": "1"})
    assert not checked.ok
    assert {"declared-hash-mismatch", "declared-hash-unsupported"} <= codes(checked)


@needs_samples
def test_the_working_copy_is_what_was_hashed(tmp_path):
    copy = tmp_path / "copy"
    checked = check_warc(BAD_ARC, "bad.arc", copy_to=copy)
    assert copy.read_bytes() == BAD_ARC.read_bytes()
    assert checked.hashes["sha256"] == sha256(copy)


# -- hostile files ------------------------------------------------------------------------
def test_truncated_gzip_is_found_and_the_file_still_hashed_whole(tmp_path):
    whole = write_warc(tmp_path / "whole.warc.gz", {f"http://a.test/{i}": b"<p>x</p>" * 500
                                                    for i in range(4)})
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(whole.read_bytes()[:whole.stat().st_size - 300])
    checked = check_warc(cut, "cut.warc.gz")
    truncated = [f for f in checked.findings if f.code == "truncated-gzip"]
    assert truncated and not checked.ok
    assert 3 <= checked.records < 5 and checked.hashes["sha256"] == sha256(cut)


def test_reading_goes_on_past_a_damaged_gzip_member(tmp_path):
    whole = write_warc(tmp_path / "w.warc.gz", {f"http://a.test/{i}": b"<p>%d</p>" % i * 300
                                                for i in range(6)})
    data = bytearray(whole.read_bytes())
    members = [i for i in range(len(data) - 2) if data[i:i + 3] == b"\x1f\x8b\x08"]
    damaged = members[3]  # the third response
    data[damaged + 40:damaged + 70] = b"\xff" * 30
    broken = tmp_path / "broken.warc.gz"
    broken.write_bytes(bytes(data))
    index = tmp_path / "index"
    checked = check_warc(broken, "broken.warc.gz", index_to=index)
    error = next(f for f in checked.findings if f.severity == Severity.ERROR)
    assert error.where == f"offset {damaged}"
    assert "resynchronised" in codes(checked)
    # Every record but the damaged one is read, checked and indexed.
    assert checked.records == 6 and len(checked.pages) == 5
    assert len(index.read_text().splitlines()) == 5
    assert "http://a.test/5" in index.read_text()


def damaged_member(header_line: bytes) -> bytes:
    """A gzip member whose deflate data is broken from its first byte (BFINAL=1 with the
    reserved block type 11), and whose raw bytes start with ``header_line``: its FNAME field
    (RFC 1952), which holds any text up to a NUL. Read as plain text, as warcio reads a member
    that fails at its first block, its first line is an ARC record header."""
    return (b"\x1f\x8b\x08\x08" + b"\x00" * 4 + b"\x00\xff" + header_line + b"\x00"
            + b"\xff" * 40 + b"\x00" * 8)


def test_a_damaged_gzip_member_never_runs_over_the_members_after_it(tmp_path):
    whole = write_warc(tmp_path / "w.warc.gz", {f"http://a.test/{i}": b"<p>%d</p>" % i * 300
                                                for i in range(6)})
    data = whole.read_bytes()
    members = [i for i in range(len(data) - 2) if data[i:i + 3] == b"\x1f\x8b\x08"]
    at = members[3]
    # Its raw bytes pass for an ARC header declaring 9 MB: read as plain text, that record
    # would swallow every member after it (no error: the file simply ends inside it).
    bad = damaged_member(b" http://swallow.test/ 10.0.0.1 20200101000000 text/html 9000000\n")
    broken = tmp_path / "broken.warc.gz"
    broken.write_bytes(data[:at] + bad + data[at:])
    index = tmp_path / "index"
    checked = check_warc(broken, "broken.warc.gz", index_to=index)
    damaged = [f for f in checked.findings if f.code == "damaged-gzip-member"]
    assert len(damaged) == 1 and damaged[0].where == f"offset {at}"
    assert damaged[0].severity == Severity.ERROR and not checked.ok
    resumed = next(f for f in checked.findings if f.code == "resynchronised")
    assert f"read on from offset {at + len(bad)}" in resumed.message
    # Every good record is read, checked and indexed; nothing of the damaged member is.
    assert checked.records == 7 and len(checked.pages) == 6
    lines = index.read_text().splitlines()
    assert len(lines) == 6 and all("swallow" not in line for line in lines)
    assert all(f'"http://a.test/{i}"' in index.read_text() for i in range(6))
    assert checked.hashes["sha256"] == sha256(broken)


def test_in_a_whole_file_gzip_no_record_runs_past_its_member(tmp_path):
    first = write_warc(tmp_path / "a.warc", {f"http://a.test/{i}": b"<p>a%d</p>" % i
                                             for i in range(3)}, gzip_members=False)
    second = write_warc(tmp_path / "b.warc", {f"http://b.test/{i}": b"<p>b%d</p>" % i
                                              for i in range(3)}, gzip_members=False)
    # The first stream ends on a record header declaring 9 MB: read across the member's end,
    # that record would swallow the whole second stream.
    cut = (b"WARC/1.0\r\nWARC-Type: resource\r\nWARC-Record-ID: <urn:uuid:cut>\r\n"
           b"WARC-Target-URI: http://cut.test/\r\nWARC-Date: 2020-01-01T00:00:00Z\r\n"
           b"Content-Length: 9000000\r\n\r\nshort")
    one = gzip.compress(first.read_bytes() + cut)
    bad = damaged_member(b"x")
    whole = tmp_path / "whole.warc.gz"
    whole.write_bytes(one + bad + gzip.compress(second.read_bytes()))
    index, inflated = tmp_path / "index", tmp_path / "whole.inflated.warc"
    checked = check_warc(whole, "whole.warc.gz", index_to=index, inflate_to=inflated)
    damaged = [f for f in checked.findings if f.code == "damaged-gzip-member"]
    assert len(damaged) == 1 and damaged[0].where == f"offset {len(one)}"
    resumed = [f for f in checked.findings if f.code == "resynchronised"]
    assert any(f"read on from offset {len(one) + len(bad)}" in f.message for f in resumed)
    # Both streams' records are read and indexed, the second one's included.
    urls = {json.loads(line.split(" ", 2)[2])["url"]
            for line in index.read_text().splitlines()}
    assert {f"http://{h}.test/{i}" for h in "ab" for i in range(3)} <= urls
    assert [p["url"] for p in checked.pages] == [f"http://{h}.test/{i}"
                                                  for h in "ab" for i in range(3)]
    assert inflated.read_bytes() == first.read_bytes() + cut + second.read_bytes()
    assert not checked.ok


def test_a_record_without_a_length_does_not_swallow_the_rest(tmp_path):
    plain = write_warc(tmp_path / "w.warc", {f"http://a.test/{i}": b"<p>%d</p>" % i * 300
                                             for i in range(6)}, gzip_members=False)
    data = plain.read_bytes()
    at = data.find(b"Content-Length", data.find(b"http://a.test/2"))
    broken = tmp_path / "broken.warc"
    broken.write_bytes(data[:at] + b"Content-Lxxxxx" + data[at + 14:])
    checked = check_warc(broken, "broken.warc")
    assert {"malformed-record", "resynchronised"} <= codes(checked)
    assert checked.records == 7 and not checked.ok


def test_gzip_bomb_is_bounded(tmp_path):
    bomb = tmp_path / "bomb.warc.gz"
    head = (b"WARC/1.0\r\nWARC-Type: resource\r\nWARC-Record-ID: <urn:uuid:1>\r\n"
            b"Content-Length: 4000000000\r\n\r\n")
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(bomb, "wb") as out:
        out.write(squeeze.compress(head))
        for _ in range(1000):  # 1 GB of zeros in ~1 MB
            out.write(squeeze.compress(bytes(1 << 20)))
        out.write(squeeze.flush())
    checked = check_warc(bomb, "bomb.warc.gz")
    assert "gzip-bomb" in codes(checked) and not checked.ok
    assert checked.size == bomb.stat().st_size


def test_single_gzip_stream_empty_and_foreign_files(tmp_path):
    whole = write_warc(tmp_path / "w.warc", {"http://a.test/": b"<p>a</p>",
                                             "http://a.test/b": b"<p>b</p>"},
                       gzip_members=False)
    single = tmp_path / "single.warc.gz"
    single.write_bytes(gzip.compress(whole.read_bytes()))
    checked = check_warc(single, "single.warc.gz")  # no place for an inflated copy: no index
    assert checked.records == 3 and codes(checked) == {"whole-file-gzip"}
    empty = tmp_path / "empty.warc"
    empty.touch()
    assert codes(check_warc(empty, "empty.warc")) == {"empty-file"}
    foreign = tmp_path / "notes.warc"
    foreign.write_bytes(b"\xff\xfenot a warc\n")
    assert codes(check_warc(foreign, "notes.warc")) == {"not-warc"}


def test_a_whole_file_gzip_warc_has_every_record_checked_and_indexed(tmp_path):
    pages = {f"http://a.test/{n}": b"<html>page %d</html>" % n for n in range(5)}
    plain = write_warc(tmp_path / "plain.warc", pages, gzip_members=False)
    raw = bytearray(plain.read_bytes())
    spot = raw.index(b"page 3")  # one record's body changed: its digests no longer match
    raw[spot:spot + 6] = b"PAGE 3"
    plain.write_bytes(bytes(raw))
    whole = tmp_path / "whole.warc.gz"  # one gzip member for the whole file
    whole.write_bytes(gzip.compress(bytes(raw)))
    index, inflated = tmp_path / "index", tmp_path / "whole.inflated.warc"
    checked = check_warc(whole, "whole.warc.gz", index_to=index, inflate_to=inflated,
                         copy_to=tmp_path / "copy")
    assert checked.records == 6 and checked.metadata["record_types"] == {"warcinfo": 1,
                                                                         "response": 5}
    assert [p["url"] for p in checked.pages] == list(pages)
    assert checked.hashes["sha256"] == sha256(whole) and checked.size == whole.stat().st_size
    assert checked.inflated == inflated and inflated.read_bytes() == bytes(raw)
    assert checked.metadata["inflated"]["sha256"] == sha256(inflated)
    bad = [f for f in checked.findings if f.code.endswith("digest-mismatch")]
    assert {f.code for f in bad} == {"block-digest-mismatch", "payload-digest-mismatch"}
    assert "whole-file-gzip" in codes(checked) and not checked.ok
    lines = index.read_text().splitlines()
    assert len(lines) == 5
    for line in lines:  # every entry points at its record in the inflated copy
        entry = json.loads(line.split(" ", 2)[2])
        assert entry["filename"] == inflated.name
        chunk = raw[int(entry["offset"]):int(entry["offset"]) + int(entry["length"])]
        record = next(iter(ArchiveIterator(io.BytesIO(bytes(chunk)))))
        assert record.rec_headers.get_header("WARC-Target-URI") == entry["url"]
    # Cut short: what was read is checked, and the cut is said.
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(whole.read_bytes()[:-200])
    cut_check = check_warc(cut, "cut.warc.gz", inflate_to=tmp_path / "cut.inflated.warc")
    assert "truncated-gzip" in codes(cut_check) and 1 <= cut_check.records < 6


def test_headers_that_are_not_utf8_are_kept_not_dropped(tmp_path):
    body = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Name: caf\xe9\r\n\r\n<html>x</html>"
    warc = tmp_path / "latin.warc"
    warc.write_bytes(
        b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Record-ID: <urn:uuid:1>\r\n"
        b"WARC-Target-URI: http://a.test/caf\xe9\r\nWARC-Date: 2020-01-01T00:00:00Z\r\n"
        b"Content-Type: application/http; msgtype=response\r\n"
        + b"Content-Length: %d\r\n\r\n" % len(body) + body + b"\r\n\r\n")
    index = tmp_path / "index"
    checked = check_warc(warc, "latin.warc", index_to=index)
    assert checked.records == 1 and checked.pages[0]["url"] == "http://a.test/caf\xe9"
    assert "missing-block-digest" in codes(checked)
    assert index.read_text().startswith("test,a)/caf%c3%a9 20200101000000 ")


def test_huge_header_line_is_reported_not_swallowed(tmp_path):
    huge = tmp_path / "huge.warc"
    huge.write_bytes(b"WARC/1.0\r\nWARC-Type: resource\r\nX-Long: " + b"a" * (10 << 20)
                     + b"\r\n\r\n")
    checked = check_warc(huge, "huge.warc")
    assert not checked.ok and checked.size == huge.stat().st_size


# -- importing: packages, provenance, custody, verify, replay -----------------------------
def _wacz_of(isnad, capture_id: str) -> Path:
    record = isnad("show", capture_id, "--json").json()
    return Path(record["package_location"])


def _provenance(wacz: Path) -> dict:
    with zipfile.ZipFile(wacz) as z:
        return json.loads(z.read("metadata/provenance.json"))


@pytest.fixture
def tsa(tmp_path):
    from tests.tsa import LocalTSA

    with LocalTSA(tmp_path / "tsa") as server:
        yield server


@needs_samples
@pytest.mark.e2e
def test_import_real_samples_as_evidence(isnad, tsa, tmp_path):
    isnad.env["ISNAD_TIMESTAMPS__TSA"] = json.dumps([tsa.config_entry()])
    given = [TWITTER, HERITRIX, OLD_ARC, BAD_ARC]
    run = isnad("import", *map(str, given), "--provider", "Partner NGO", "--operator", "rana",
                "--received-at", "2026-11-30T10:00:00+00:00", "--case", "C-9", "--tag", "x",
                "--note", "handed over on a USB key", "--json")
    assert run.code == 1, run.stderr  # PARTIAL: bad digests and a bad ARC, material kept
    data = run.json()
    assert data["state"] == "PARTIAL" and data["provider"] == "Partner NGO"
    assert data["received_by"] == "rana" and data["received_at"].startswith("2026-11-30T10:00")
    files = {f["name"]: f for f in data["files"]}
    assert {f["state"] for f in files.values()} == {"imported"}
    assert {f["code"] for f in files[TWITTER.name]["findings"]} == {"block-digest-mismatch"}
    assert "malformed-record" in {f["code"] for f in files[BAD_ARC.name]["findings"]}

    for path in given:
        entry = files[path.name]
        assert entry["sha256"] == sha256(path)
        wacz = _wacz_of(isnad, entry["capture_id"])
        provenance = _provenance(wacz)
        original = provenance["files"][0]
        assert original["name"] == path.name and original["role"] == "original"
        assert provenance["import"]["provider"] == "Partner NGO"
        assert provenance["import"]["received_by"] == "rana"
        derived = provenance["files"][1:]
        assert {f["role"] for f in derived} == {"derived"} and all(
            f["derived_from"] for f in derived)
        # The evidentiary copy is the file as received, byte for byte.
        with zipfile.ZipFile(wacz) as z:
            kept = z.read(original["member"])
            info = z.getinfo(original["member"])
        assert hashlib.sha256(kept).hexdigest() == sha256(path) == original["sha256"]
        assert info.compress_type == zipfile.ZIP_STORED
        record = isnad("show", entry["capture_id"], "--json").json()
        assert [e["action"] for e in record["custody"]] == [
            "received", "validated", "packaged", "stored", "verified"]
        assert record["custody"][0]["object_sha256"] == sha256(path)
        proof = record["context"]["proof"]
        assert any(t["state"] == "stamped" for t in proof["timestamps"])
        validated = subprocess.run([str(Path(sys.executable).parent / "wacz"), "validate",
                                    "-f", str(wacz)], capture_output=True, text=True,
                                   timeout=120)
        assert "is valid" in validated.stdout, validated.stdout + validated.stderr

    assert files[HERITRIX.name]["capture_id"]  # a name with "~" is stored under a safe one
    listed = isnad("list", "--source", "import", "--json").json()
    assert len(listed) == 4
    assert isnad("list", "--source", "capture", "--json").json() == []
    assert isnad("imports", "--json").json()[0]["id"] == data["id"]
    assert isnad("imports", "show", data["id"][:13], "--json").json()["files"]

    verified = isnad("verify", "--all")
    assert verified.code == 0, verified.stdout + verified.stderr
    assert verified.stdout.count("INTACT") == 4

    # Tampering with the kept original is caught.
    victim = _wacz_of(isnad, files[HERITRIX.name]["capture_id"])
    victim.chmod(0o644)
    raw = bytearray(victim.read_bytes())
    spot = raw.find(b"data.gov.uk")
    raw[spot] = ord("D")
    victim.write_bytes(bytes(raw))
    tampered = isnad("verify", files[HERITRIX.name]["capture_id"])
    assert tampered.code != 0 and "FAIL" in tampered.stdout


@needs_samples
@pytest.mark.e2e
@pytest.mark.parametrize("given", [SAMPLES / "pywb--example-wget-1-14.warc.gz", OLD_ARC,
                                   SAMPLES / "py-wacz--valid_example_1.wacz"],
                         ids=["warc", "arc", "wacz"])
def test_an_imported_page_replays_through_its_index(isnad, given):
    run = isnad("import", str(given), "--provider", "p", "--json")
    assert run.code == 0, run.stderr
    capture_id = run.json()["files"][0]["capture_id"]
    wacz = _wacz_of(isnad, capture_id)
    with zipfile.ZipFile(wacz) as z:
        index = z.read("indexes/index.cdx").decode().splitlines()
        pages = z.read("pages/pages.jsonl").decode().splitlines()
        page = json.loads(pages[1])
        assert index == sorted(index)
        line = next(x for x in index if json.loads(x.split(" ", 2)[2])["url"] == page["url"])
        entry = json.loads(line.split(" ", 2)[2])
        data = z.read("archive/" + entry["filename"])
        roles = {f["member"]: f for f in json.loads(z.read("metadata/provenance.json"))["files"]}
    if given == OLD_ARC:  # replayed from the WARC made of it, which says what it came from
        conversion = roles["archive/" + entry["filename"]]
        assert conversion["role"] == "derived" and entry["filename"].endswith(".warc.gz")
        assert roles[conversion["derived_from"][0]]["sha256"] == sha256(OLD_ARC)
    if given.suffix == ".wacz":  # replayed from its WARC taken out, byte for byte
        extracted = roles["archive/" + entry["filename"]]
        assert extracted["role"] == "derived" and extracted["extracted_from"]
        assert roles[extracted["derived_from"][0]]["sha256"] == sha256(given)
        with zipfile.ZipFile(given) as received:
            assert received.read(extracted["extracted_from"]) == data
    chunk = data[int(entry["offset"]):int(entry["offset"]) + int(entry["length"])]
    record = next(iter(ArchiveIterator(io.BytesIO(chunk))))
    assert record.rec_headers.get_header("WARC-Target-URI") == page["url"]
    assert record.http_headers.get_statuscode() == entry["status"] == "200"
    assert b"<html" in record.content_stream().read().lower()
    # Audit and export work on an import as on any capture.
    assert isnad("audit").code == 0
    exported = isnad("export", capture_id, "--output", str(isnad.home / "bundle"))
    assert exported.code == 0, exported.stderr
    checked = subprocess.run(["sh", "verify.sh"], cwd=isnad.home / "bundle", timeout=120,
                             capture_output=True, text=True,
                             env={**os.environ, "PATH": f"{Path(sys.executable).parent}:"
                                  f"{os.environ['PATH']}"})
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.e2e
def test_a_whole_file_gzip_warc_is_imported_indexed_and_replays(isnad, tmp_path):
    pages = {f"http://a.test/{n}": b"<html>page %d</html>" % n for n in range(4)}
    plain = write_warc(tmp_path / "plain.warc", pages, gzip_members=False)
    whole = tmp_path / "whole.warc.gz"
    whole.write_bytes(gzip.compress(plain.read_bytes()))
    run = isnad("import", str(whole), "--provider", "p", "--json")
    assert run.code == 0, run.stderr
    data = run.json()
    assert data["state"] == "COMPLETE"  # a whole-file gzip is a warning, not an error
    (record,) = data["files"]
    assert record["state"] == "imported" and "whole-file-gzip" in {
        f["code"] for f in record["findings"]}
    wacz = _wacz_of(isnad, record["capture_id"])
    with zipfile.ZipFile(wacz) as z:
        assert z.read("archive/whole.warc.gz") == whole.read_bytes()  # as received
        inflated = z.read("archive/whole.inflated.warc")
        index = z.read("indexes/index.cdx").decode().splitlines()
        files = {f["member"]: f for f in json.loads(z.read("metadata/provenance.json"))["files"]}
    assert inflated == plain.read_bytes()
    assert files["archive/whole.warc.gz"]["records"] == 5
    derived = files["archive/whole.inflated.warc"]
    assert derived["role"] == "derived" and derived["derived_from"] == ["archive/whole.warc.gz"]
    assert derived["sha256"] == sha256(plain)
    assert files["indexes/index.cdx"]["derived_from"] == ["archive/whole.inflated.warc"]
    assert len(index) == 4
    for line in index:
        entry = json.loads(line.split(" ", 2)[2])
        assert entry["filename"] == "whole.inflated.warc"
        chunk = inflated[int(entry["offset"]):int(entry["offset"]) + int(entry["length"])]
        got = next(iter(ArchiveIterator(io.BytesIO(chunk))))
        assert got.content_stream().read() == pages[entry["url"]]
    assert isnad("verify", record["capture_id"]).code == 0
    validated = subprocess.run([str(Path(sys.executable).parent / "wacz"), "validate", "-f",
                                str(wacz)], capture_output=True, text=True, timeout=120)
    assert "is valid" in validated.stdout, validated.stdout + validated.stderr


@needs_samples
@pytest.mark.e2e
def test_declared_hashes_from_a_manifest_are_compared(isnad, tmp_path):
    wget = SAMPLES / "pywb--example-wget-1-14.warc.gz"
    manifest = tmp_path / "hashes.csv"
    manifest.write_text(
        "file,sha256,md5,notes\n"
        f"{EXAMPLE.name},{'0' * 64},,=cmd|' /C calc'!A0\n"
        f"{wget.name},,{hashlib.md5(wget.read_bytes()).hexdigest()},\n"
        f"{wget.name},,,again\n")
    run = isnad("import", str(EXAMPLE), str(wget), "--provider", "p", "--manifest",
                str(manifest), "--json")
    assert run.code == 1, run.stderr
    data = run.json()
    files = {f["name"]: f for f in data["files"]}
    wrong = files[EXAMPLE.name]
    assert wrong["state"] == "imported" and wrong["declared"] == {"sha256": "0" * 64}
    assert [f["code"] for f in wrong["findings"]] == ["declared-hash-mismatch"]
    right = files[wget.name]
    assert right["hashes"]["md5"] == right["declared"]["md5"] and not right["findings"]
    assert [f["code"] for f in data["findings"]] == ["manifest-duplicate-row"]


@needs_samples
@pytest.mark.e2e
def test_the_same_file_twice_is_linked_not_stored_again(isnad, tmp_path):
    first = isnad("import", str(EXAMPLE), "--provider", "a", "--json").json()
    stored = first["files"][0]["capture_id"]
    again = isnad("import", str(EXAMPLE), "--provider", "b", "--json")
    assert again.code == 0, again.stderr
    entry = again.json()["files"][0]
    assert entry["state"] == "duplicate" and entry["duplicate_of"] == stored
    assert "already in the vault" in entry["findings"][0]["message"]
    assert len(isnad("list", "--json").json()) == 1
    forced = isnad("import", str(EXAMPLE), "--provider", "b", "--force", "--json").json()
    assert forced["files"][0]["state"] == "imported"
    assert forced["files"][0]["capture_id"] != stored
    assert len(isnad("list", "--json").json()) == 2


@pytest.mark.e2e
def test_a_folder_with_hostile_entries_loses_nothing_else(isnad, tmp_path):
    folder = tmp_path / "handed-over"
    (folder / "deep").mkdir(parents=True)
    write_warc(folder / "deep" / "good.warc.gz", {"http://a.test/": b"<html>a</html>"})
    (folder / "empty.warc").touch()
    (folder / "deep" / "escape.warc").symlink_to("/etc/hostname")
    (folder / os.fsdecode(b"caf\xe9.warc.gz")).write_bytes(
        write_warc(tmp_path / "other.warc.gz", {"http://b.test/": b"<html>b</html>"})
        .read_bytes())
    (folder / "bundle.wacz").write_bytes(b"PK\x03\x04not really")
    (folder / "urls.txt").write_text("http://127.0.0.1:9/one\nnot-a-url\n")
    (folder / "notes.txt").write_text("Handed over by the partner on 30 November.\n")
    run = isnad("import", str(folder), "--provider", "p", "--json")
    assert run.code == 1, run.stderr
    data = run.json()
    files = {f["name"]: f for f in data["files"]}
    assert files["handed-over/deep/good.warc.gz"]["state"] == "imported"
    assert files["handed-over/caf\\xe9.warc.gz"]["state"] == "imported"
    assert files["handed-over/empty.warc"]["findings"][0]["code"] == "empty-file"
    assert files["handed-over/deep/escape.warc"]["findings"][0]["code"] == "symlink-outside"
    bundle = files["handed-over/bundle.wacz"]  # not a zip: named, with why, hashed
    assert bundle["state"] == "refused" and bundle["kind"] == "wacz"
    assert bundle["findings"][0]["code"] == "zip-unreadable" and bundle["sha256"]
    # Prose is not a URL list: material like the rest (media files are not imported yet).
    assert files["handed-over/notes.txt"]["state"] == "refused"
    assert data["state"] == "PARTIAL" and len(data["jobs"]) == 1
    assert any(f["where"] == "line 2" for f in data["findings"])
    job = isnad("jobs", "show", data["jobs"][0], "--json").json()
    assert job["source"] == f"import:{data['id']}" and job["priority"] == 10


@pytest.fixture
def settings(tmp_path, monkeypatch):
    """Settings of a fresh home, for the use case called in this process."""
    from isnad.config import load_settings

    for key in list(os.environ):
        if key.startswith("ISNAD_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ISNAD_HOME", str(tmp_path / "home"))
    return load_settings()


def test_a_file_given_twice_counts_once_and_same_names_are_told_apart(settings, tmp_path):
    from isnad.app import imports
    from isnad.app.archive import open_archive

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = write_warc(tmp_path / "a" / "x.warc.gz", {"http://a.test/": b"<html>a</html>"})
    two = write_warc(tmp_path / "b" / "x.warc.gz", {"http://b.test/": b"<html>b</html>"})
    archive = open_archive(settings)
    import_id = imports.start_import(archive, [one, one, two], imports.ImportOptions("p", "op"))
    result = imports.run_import(settings, archive, import_id)
    assert result.state == "COMPLETE"
    assert [(f["name"], f["state"]) for f in result.record["files"]] == [
        ("x.warc.gz", "imported"), (str(two), "imported")]


def test_an_interrupted_import_resumes_without_redoing_stored_files(settings, tmp_path):
    from isnad.app import imports
    from isnad.app.archive import open_archive

    folder = tmp_path / "in"
    folder.mkdir()
    for n in range(3):
        write_warc(folder / f"{n}.warc.gz", {f"http://a.test/{n}": b"<html>%d</html>" % n})
    (tmp_path / "urls.txt").write_text("http://127.0.0.1:9/a\nhttp://127.0.0.1:9/b\n")
    archive = open_archive(settings)
    import_id = imports.start_import(archive, [folder, tmp_path / "urls.txt"],
                                     imports.ImportOptions("p", "op"))

    def stop_after_first(total, files):
        def done(name, state):
            raise KeyboardInterrupt

        return imports.ImportProgress(total, files, on_done=done)

    with pytest.raises(KeyboardInterrupt):
        imports.run_import(settings, archive, import_id, stop_after_first)
    first = imports.show_import(archive, import_id)
    assert first["state"] == "RUNNING" and [f["state"] for f in first["files"]] == ["imported"]
    stored = first["files"][0]["capture_id"]
    seen = []
    result = imports.run_import(settings, archive, import_id, lambda total, files:
                                imports.ImportProgress(total, files,
                                                       on_file=lambda n, s: seen.append(n)))
    assert result.state == "COMPLETE"
    assert seen == ["in/1.warc.gz", "in/2.warc.gz"]  # the stored file is not redone
    assert len(result.record["jobs"]) == 2
    again = imports.run_import(settings, archive, import_id)  # resumed once more: nothing new
    assert again.record["jobs"] == result.record["jobs"]
    from archiver.jobs import JobStore

    assert len(JobStore(archive.catalog).list()) == 2
    assert [f["capture_id"] for f in result.record["files"]][0] == stored
    assert len(archive.catalog.list()) == 3


@needs_samples
@pytest.mark.e2e
def test_reindex_rebuilds_imports_from_storage(isnad):
    data = isnad("import", str(TWITTER), str(OLD_ARC), "--provider", "Partner NGO",
                 "--operator", "rana", "--case", "C-9", "--json").json()
    db = isnad.home / "catalog.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    run = isnad("reindex")
    assert run.code == 0, run.stdout + run.stderr
    rebuilt = isnad("imports", "show", data["id"], "--json").json()
    assert rebuilt["provider"] == "Partner NGO" and rebuilt["received_by"] == "rana"
    assert rebuilt["state"] == "PARTIAL"  # the twitter file's bad digests, kept as found
    assert sorted(f["sha256"] for f in rebuilt["files"]) == sorted(
        f["sha256"] for f in data["files"])
    assert len(isnad("list", "--source", "import", "--json").json()) == 2
    assert isnad("verify", "--all").code == 0


@pytest.mark.e2e
def test_a_queued_import_is_run_by_a_worker_with_its_progress_in_jobs(isnad, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for n in range(3):
        write_warc(folder / f"{n}.warc.gz", {f"http://a.test/{n}": b"<html>%d</html>" % n})
    queued = isnad("import", str(folder), "--provider", "p", "--queue", "--json")
    assert queued.code == 0, queued.stderr
    import_id, job_id = queued.json()["id"], queued.json()["job"]
    assert queued.json()["state"] == "queued"
    (job,) = isnad("jobs", "--json").json()
    assert job["id"] == job_id and job["state"] == "queued"
    assert job["url"] == f"import:{import_id}" and job["source"] == f"import:{import_id}"
    assert isnad("imports", "show", import_id, "--json").json()["state"] == "RUNNING"
    worker = isnad("worker", "--burst", "-c", "1", timeout=300)
    assert worker.code == 0, worker.stdout + worker.stderr
    done = isnad("jobs", "show", job_id, "--json").json()
    assert done["state"] == "done", done
    assert done["progress"]["files_done"] == done["progress"]["files"] == 3
    assert done["progress"]["bytes"] == done["progress"]["total_bytes"] == sum(
        p.stat().st_size for p in folder.iterdir())
    assert done["progress"]["results"] == {f"import:{import_id}": "COMPLETE"}
    record = isnad("imports", "show", import_id, "--json").json()
    assert record["state"] == "COMPLETE" and record["run_by_jobs"] == [job_id]
    assert [f["state"] for f in record["files"]] == ["imported"] * 3
    # --resume still works on it, queued again or not: nothing is redone.
    again = isnad("import", "--resume", import_id, "--queue", "--json")
    assert again.code == 0, again.stderr
    assert isnad("worker", "--burst", "-c", "1", timeout=300).code == 0
    rerun = isnad("jobs", "show", again.json()["job"], "--json").json()
    assert rerun["state"] == "done" and rerun["progress"]["files"] == 0
    resumed = isnad("import", "--resume", import_id, "--json")
    assert resumed.code == 0 and resumed.json()["state"] == "COMPLETE"
    assert len(isnad("list", "--source", "import", "--json").json()) == 3


def test_large_imports_are_told_by_size_or_file_count(tmp_path, monkeypatch):
    from isnad.app import imports

    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    for n in range(3):
        (folder / "sub" / f"{n}.warc").write_bytes(b"x" * 100)
    assert not imports.is_large([folder])
    monkeypatch.setattr(imports, "QUEUE_ABOVE_FILES", 2)
    assert imports.is_large([folder])
    monkeypatch.setattr(imports, "QUEUE_ABOVE_FILES", 10)
    monkeypatch.setattr(imports, "QUEUE_ABOVE_BYTES", 250)
    assert imports.is_large([folder]) and not imports.is_large([folder / "sub" / "0.warc"])


class _Replay:
    """Replay by URL from a stored package, as ReplayWeb.page does from a WACZ: the URL's
    SURT key looked up in the sorted CDXJ (binary search), the record read at its offset in
    the WARC member of the zip, its payload decoded (chunked, Content-Encoding) by warcio.
    Written here from the CDXJ and WARC specifications, apart from Isnad's own code (pywb
    cannot be installed beside Isnad: it pins redis<3 and an older cryptography)."""

    def __init__(self, wacz: Path) -> None:
        self.zip = zipfile.ZipFile(wacz)
        self.lines = self.zip.read("indexes/index.cdx").decode().splitlines()

    def get(self, url: str) -> tuple[str, bytes]:
        import bisect

        from surt import surt

        key = surt(url)
        keys = [line.split(" ", 1)[0] for line in self.lines]
        at = bisect.bisect_left(keys, key)
        assert at < len(keys) and keys[at] == key, f"{url} is not in the index"
        entry = json.loads(self.lines[at].split(" ", 2)[2])
        with self.zip.open("archive/" + entry["filename"]) as member:
            member.seek(int(entry["offset"]))
            chunk = member.read(int(entry["length"]))
        record = next(iter(ArchiveIterator(io.BytesIO(chunk))))
        assert record.rec_headers.get_header("WARC-Target-URI") == url
        return record.http_headers.get_statuscode(), record.content_stream().read()


@pytest.mark.e2e
def test_imported_pages_replay_by_url_from_the_stored_package(isnad, tmp_path):
    pages = {"http://a.test/": b"<html><h1>home</h1></html>",
             "http://a.test/b?x=1": b"<html><p>second page</p></html>"}
    members = write_warc(tmp_path / "members.warc.gz", pages)
    whole_pages = {"http://b.test/": b"<html>whole one</html>",
                   "http://b.test/two": b"<html>whole two</html>"}
    plain = write_warc(tmp_path / "plain.warc", whole_pages, gzip_members=False)
    whole = tmp_path / "whole.warc.gz"
    whole.write_bytes(gzip.compress(plain.read_bytes()))
    encoded = tmp_path / "encoded.warc.gz"  # a page sent gzip-encoded and chunked
    body = b"<html>" + b"encoded page " * 200 + b"</html>"
    squeezed = gzip.compress(body)
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(squeezed), squeezed)
    with open(encoded, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html"),
                                           ("Content-Encoding", "gzip"),
                                           ("Transfer-Encoding", "chunked")],
                                protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(
            "http://c.test/enc", "response", payload=io.BytesIO(chunked), http_headers=http))
    run = isnad("import", str(members), str(whole), str(encoded), "--provider", "p", "--json")
    assert run.code == 0, run.stderr
    expected = [pages, whole_pages, {"http://c.test/enc": body}]
    for entry, want in zip(run.json()["files"], expected, strict=True):
        replay = _Replay(_wacz_of(isnad, entry["capture_id"]))
        for url, original in want.items():
            assert replay.get(url) == ("200", original)


def test_a_package_hashes_its_warcs_and_media_as_written_not_read_back(tmp_path, monkeypatch):
    from archiver.package import build_package

    warc = write_warc(tmp_path / "big.warc.gz", {"http://a.test/": b"<html>a</html>" * 999})
    media = tmp_path / "clip.mp4"
    media.write_bytes(os.urandom(300_000))
    reads: list[str] = []
    opened = zipfile.ZipFile.open

    def spy(self, name, mode="r", *args, **kwargs):
        if mode == "r":
            reads.append(name if isinstance(name, str) else name.filename)
        return opened(self, name, mode, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    package = build_package([warc], tmp_path / "p.wacz", pages=[{"url": "http://a.test/"}],
                            context={"state": "COMPLETE"},
                            extra_paths=[("media/clip.mp4", media)])
    assert not {"archive/big.warc.gz", "media/clip.mp4"} & set(reads)  # one read fewer each
    monkeypatch.undo()
    with zipfile.ZipFile(package.path) as z:  # and the listed hashes are right
        listed = json.loads(z.read("datapackage.json"))["resources"]
        assert [r["path"] for r in listed] == [i.filename for i in z.infolist()][:len(listed)]
        for resource in listed:
            data = z.read(resource["path"])
            assert resource["hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
            assert resource["bytes"] == len(data)
            assert resource["name"] == resource["path"].rsplit("/", 1)[-1].lower()


# -- read once: the arrival pipeline and the package's one re-read -------------------------
class _FullDisk(io.RawIOBase):
    """A working copy on a disk that fills up after ``room`` bytes."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if len(data) > self.room:
            raise OSError(28, "No space left on device")
        self.room -= len(data)
        return len(data)


def test_the_arrival_pipeline_hashes_and_copies_every_byte_in_order(tmp_path):
    """Hashing and copying run in a thread of their own while records are parsed: every block,
    in order, whatever the sizes asked; a copy that fails (a full disk) is raised in the
    reading thread, never lost."""
    from archiver.intake.warc import HashingReader

    data = os.urandom(5 * 1024 * 1024 + 12345)
    copy = io.BytesIO()
    reader = HashingReader(io.BytesIO(data), ("sha256", "md5"), copy, pipelined=True)
    sizes = [7, 4096, 1024 * 1024, 3, 2 * 1024 * 1024 + 1]
    got = b"".join(reader.read(sizes[n % len(sizes)]) for n in range(12))
    reader.drain()
    assert got == data[:len(got)] and reader.tell() == len(data)
    assert copy.getvalue() == data
    assert reader.hexdigests() == {"sha256": hashlib.sha256(data).hexdigest(),
                                   "md5": hashlib.md5(data).hexdigest()}
    full = HashingReader(io.BytesIO(data), ("sha256",), _FullDisk(3 * 1024 * 1024),
                         pipelined=True)
    with pytest.raises(OSError, match="No space left"):
        full.drain()

    warc = write_warc(tmp_path / "many.warc.gz",
                      {f"http://a.test/{n}": os.urandom(300_000) for n in range(12)})
    checked = check_warc(warc, warc.name, copy_to=tmp_path / "copy")
    assert checked.ok and checked.records == 13
    assert (tmp_path / "copy").read_bytes() == warc.read_bytes()
    assert checked.hashes["sha256"] == sha256(warc)


def _received_package(tmp_path: Path, known_sha256: str | None = None):
    from archiver.package import build_package

    warc = write_warc(tmp_path / "given.warc.gz",
                      {f"http://a.test/{n}": os.urandom(200_000) for n in range(3)})
    media = tmp_path / "clip.mp4"
    media.write_bytes(os.urandom(100_000))
    arrival = sha256(warc)
    context = {"state": "COMPLETE", "import": {"files": [
        {"member": "archive/given.warc.gz", "role": "original",
         "sha256": known_sha256 or arrival}]}}
    return build_package([warc], tmp_path / "p.wacz", pages=[{"url": "http://a.test/0"}],
                         context=context, extra_paths=[("media/clip.mp4", media)],
                         known={warc: known_sha256 or arrival})


@pytest.mark.parametrize("recheck", [False, True], ids=["self-verification", "isnad-verify"])
def test_a_package_is_verified_in_one_read(tmp_path, monkeypatch, recheck):
    """The package's SHA-256 and its members' are taken from one read of the file; a received
    WARC found byte for byte as on arrival is parsed again only by `isnad verify`."""
    import archiver.verify as verify
    from archiver.proof import ProofOptions

    package = _received_package(tmp_path)
    opened: list[str] = []
    real_open, real_check = zipfile.ZipFile.open, verify.check_warc_stream
    parsed: list[str] = []

    def spy_open(self, name, mode="r", *args, **kwargs):
        if mode == "r":
            opened.append(name if isinstance(name, str) else name.filename)
        return real_open(self, name, mode, *args, **kwargs)

    def spy_check(stream, name, **kwargs):
        parsed.append(name)
        return real_check(stream, name, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy_open)
    monkeypatch.setattr(verify, "check_warc_stream", spy_check)
    report = verify.verify_package_file(package.path, ProofOptions(allow_unsigned=True),
                                        recheck_received=recheck)
    monkeypatch.undo()
    assert report.ok, report.mismatches
    assert report.package_sha256 == sha256(package.path)
    # Each opened once to be read (and the media once more for its first bytes: a WARC?).
    assert opened.count("media/clip.mp4") == 2
    assert parsed == (["archive/given.warc.gz"] if recheck else [])
    assert opened.count("archive/given.warc.gz") == 1
    details = {c.name: c.detail for c in report.checks}
    assert "on arrival" in details["archive/given.warc.gz: WARC record digests"] or recheck


def test_one_read_verification_still_catches_a_changed_member(tmp_path):
    """Hashes taken in the one read are compared as before: a stored member changed after
    packaging fails (its hash and its CRC); a working copy that changed between its arrival
    (the hash taken as it was written, listed as it is) and packaging fails too."""
    from archiver.proof import ProofOptions
    from archiver.verify import verify_package_file

    options = ProofOptions(allow_unsigned=True)
    package = _received_package(tmp_path)
    data = bytearray(package.path.read_bytes())
    with zipfile.ZipFile(package.path) as z:
        info = z.getinfo("media/clip.mp4")
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + 500] ^= 0xFF
    package.path.chmod(0o644)
    package.path.write_bytes(bytes(data))
    report = verify_package_file(package.path, options, recheck_received=False)
    assert [c.name for c in report.mismatches] == ["media/clip.mp4: sha256 and size"]

    (tmp_path / "w").mkdir()
    wrong = _received_package(tmp_path / "w", known_sha256="0" * 64)
    report = verify_package_file(wrong.path, options, recheck_received=False)
    assert {c.name for c in report.mismatches} == {"archive/given.warc.gz: sha256 and size"}


def test_an_import_loads_neither_the_crawlers_nor_the_queue():
    # Loading Scrapy and the crawlers (an import crawls nothing), or huey and redis (unless a
    # URL list is queued), cost every `isnad import` about a second of CPU and 40 MiB for nothing.
    probe = ("import sys, isnad.cli, isnad.app.imports; print(sorted(m for m in ('huey', "
             "'redis', 'isnad.app.runtime', 'isnad.app.capture', 'scrapy', 'crawlers.run') "
             "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "[]"
