"""The CDXJ index made as records are written (archiver/cdxj.py) is, byte for byte, the index
cdxj-indexer makes by reading the WARC back (as py-wacz drives it): a package built from the
writer's lines holds the same ``indexes/`` members as one built by indexing its WARC."""

from __future__ import annotations

import gzip
import io
import zipfile
from pathlib import Path

import pytest

from archiver.package import build_package
from archiver.warcwriter import CaptureWarc


def _exchange(warc: CaptureWarc, url: str, *, method: str = "GET", status: int = 200,
              headers: list[tuple[str, str]] | None = None, body: bytes = b"<html></html>",
              request_headers: list[tuple[str, str]] | None = None,
              request_body: bytes | None = None, **more) -> str:
    return warc.write_exchange(
        url=url, method=method, request_headers=request_headers or [("Accept", "*/*")],
        request_body=request_body, status=status, reason=None,
        response_headers=headers if headers is not None else [
            ("Content-Type", "text/html; charset=utf-8")],
        body=body, ip_address="127.0.0.1", **more)


def _varied_warc(path: Path) -> CaptureWarc:
    """One record of each kind a capture writes."""
    warc = CaptureWarc(path, {"software": "test"})
    page = _exchange(warc, "http://127.0.0.1:8000/a.html?x=1&y=%20z")
    _exchange(warc, "http://127.0.0.1:8000/style.css", headers=[("Content-Type", "text/css")],
              body=b"body{}", request_headers=[("Referer", "http://127.0.0.1:8000/a.html")])
    _exchange(warc, "http://127.0.0.1:8000/no-type", headers=[], body=b"\x00\x01")
    _exchange(warc, "http://127.0.0.1:8000/old", status=302, body=b"",
              headers=[("Location", "/a.html"), ("Content-Length", "0")])
    _exchange(warc, "http://127.0.0.1:8000/form", method="POST",
              request_headers=[("Content-Type", "application/x-www-form-urlencoded"),
                               ("Content-Length", "13")], request_body=b"q=isnad&n=1%2")
    _exchange(warc, "http://127.0.0.1:8000/api?page=2", method="POST",
              request_headers=[("Content-Type", "application/json")],
              request_body=b'{"cursor": "abc", "n": [1, 2]}')
    _exchange(warc, "http://127.0.0.1:8000/put", method="PUT", request_body=b"\xff\xfe binary")
    _exchange(warc, "http://127.0.0.1:8000/decoded.html", body=io.BytesIO(b"<p>" * 5000),
              headers=[("Content-Encoding", "gzip"), ("Content-Type", "text/html")],
              body_decoded=True)
    _exchange(warc, "http://127.0.0.1:8000/a.html?x=1&y=%20z", body=b"again, later")
    warc.write_resource("urn:screenshot:http://127.0.0.1:8000/a.html", "image/png",
                        b"\x89PNG\r\n", concurrent_to=page)
    warc.write_metadata("urn:isnad:page:http://127.0.0.1:8000/a.html", '{"title": "A"}',
                        concurrent_to=page)
    return warc


def _index_members(package: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(package) as wacz:
        return {name: wacz.read(name) for name in wacz.namelist()
                if name.startswith("indexes/")}


def _packages(tmp_path: Path, warc: CaptureWarc) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The index members of a package built from the writer's lines, and of one built by
    indexing the WARC (py-wacz / cdxj-indexer)."""
    path = warc.close()
    common = {"pages": [], "context": {}, "main_url": "http://127.0.0.1:8000/a.html"}
    lines = warc.index_path
    assert lines is not None, "the writer could not index its own records"
    from_lines = build_package([path], tmp_path / "lines.wacz", indexes={path: lines}, **common)
    from_warc = build_package([path], tmp_path / "warc.wacz", **common)
    return _index_members(from_lines.path), _index_members(from_warc.path)


def test_the_index_made_while_writing_is_the_index_read_back_from_the_warc(tmp_path):
    made, read_back = _packages(tmp_path, _varied_warc(tmp_path / "t.warc.gz"))
    assert made.keys() == read_back.keys() == {"indexes/index.cdx.gz", "indexes/index.idx"}
    made_lines = gzip.decompress(made["indexes/index.cdx.gz"]).decode().splitlines()
    read_lines = gzip.decompress(read_back["indexes/index.cdx.gz"]).decode().splitlines()
    assert made_lines == read_lines
    assert len(made_lines) == 11  # 9 responses, the screenshot, the metadata
    assert any('"method": "POST"' in line and "/form?__wb_method=post&n=1%252&q=isnad" in line
               for line in made_lines)
    assert any('"referrer": "http://127.0.0.1:8000/a.html"' in line for line in made_lines)
    assert made == read_back  # the same compressed blocks, and the same secondary index


def test_a_large_index_spans_blocks_the_same_way(tmp_path):
    warc = CaptureWarc(tmp_path / "big.warc.gz", {})
    for n in range(2100):  # over two of py-wacz's blocks of 1,024 lines
        _exchange(warc, f"http://127.0.0.1:8000/generated/{n}.html", body=b"<p>%d</p>" % n)
    made, read_back = _packages(tmp_path, warc)
    assert made == read_back
    assert made["indexes/index.idx"].decode().count("\n") == 4  # !meta + 3 blocks


def test_a_header_that_would_read_back_otherwise_leaves_the_indexing_to_the_package(tmp_path):
    """A value the reader would not get back as written (here a Referer ending in a space,
    which a reader strips) is not indexed by guesswork: the package indexes the WARC."""
    warc = CaptureWarc(tmp_path / "t.warc.gz", {})
    _exchange(warc, "http://127.0.0.1:8000/a.html",
              request_headers=[("Referer", "http://127.0.0.1:8000/b.html ")])
    path = warc.close()
    assert warc.index_path is None
    package = build_package([path], tmp_path / "p.wacz", pages=[], context={},
                            indexes=None)
    lines = gzip.decompress(_index_members(package.path)["indexes/index.cdx.gz"])
    assert lines.count(b"\n") == 1 and b'"referrer": "http://127.0.0.1:8000/b.html"' in lines


def test_a_warc_without_lines_has_the_package_index_every_warc(tmp_path):
    """Lines for some WARCs only (another is a file received as it is): the index is made from
    the WARCs, all of them, never from a part of them."""
    first = CaptureWarc(tmp_path / "a.warc.gz", {})
    _exchange(first, "http://127.0.0.1:8000/a.html")
    second = CaptureWarc(tmp_path / "b.warc.gz", {})
    _exchange(second, "http://127.0.0.1:8000/b.html")
    paths = [first.close(), second.close()]
    package = build_package(paths, tmp_path / "p.wacz", pages=[], context={},
                            indexes={paths[0]: first.index_path})
    lines = gzip.decompress(_index_members(package.path)["indexes/index.cdx.gz"])
    assert b"/a.html" in lines and b"/b.html" in lines


@pytest.mark.parametrize("date", [
    "2026-12-02T01:22:58.541573Z", "2026-12-02T01:22:58Z", "2026-12-02T01:22:58.5Z",
    "2024-02-29T23:59:59.000001Z", "1999-01-01T00:00:00.0000001Z", "2026-12-02",
    "2026-12-02T01:22Z", "2026-13-02T01:22:58Z", "2023-02-29T01:22:58Z"])
def test_index_timestamps_are_cdxj_indexers(date):
    """The CDXJ line's timestamp of a record's WARC-Date, taken from its digits for the dates
    this writer writes, is what warcio (cdxj-indexer's parser) makes of every date."""
    from warcio.timeutils import iso_date_to_timestamp

    from archiver.cdxj import _timestamp

    try:
        expected = iso_date_to_timestamp(date)
    except ValueError:
        with pytest.raises(ValueError):
            _timestamp(date)
        return
    assert _timestamp(date) == expected
