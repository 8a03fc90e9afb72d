"""Importing archived collections (issue 14): checking WARC/ARC files on arrival, packaging
them as evidence with their provenance, and the `isnad import` command."""

from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from pathlib import Path

import pytest
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
    assert "not-multi-member-gzip" in codes(check_warc(single, "single.warc.gz"))
    empty = tmp_path / "empty.warc"
    empty.touch()
    assert codes(check_warc(empty, "empty.warc")) == {"empty-file"}
    foreign = tmp_path / "notes.warc"
    foreign.write_bytes(b"\xff\xfenot a warc\n")
    assert codes(check_warc(foreign, "notes.warc")) == {"not-warc"}


def test_huge_header_line_is_reported_not_swallowed(tmp_path):
    huge = tmp_path / "huge.warc"
    huge.write_bytes(b"WARC/1.0\r\nWARC-Type: resource\r\nX-Long: " + b"a" * (10 << 20)
                     + b"\r\n\r\n")
    checked = check_warc(huge, "huge.warc")
    assert not checked.ok and checked.size == huge.stat().st_size
