"""The WARC writer: the .open suffix, digests, and truthful headers for decoded bodies."""

import gzip
import hashlib
import io

from warcio.archiveiterator import ArchiveIterator

from archiver.warcreader import check_warc
from archiver.warcwriter import CaptureWarc, decoded_body_headers


def test_file_is_open_until_closed_and_passes_digest_checks(tmp_path):
    warc = CaptureWarc(tmp_path / "t.warc.gz", {"software": "test"})
    assert warc.open_path.exists() and not warc.path.exists()
    response_id = warc.write_exchange(
        url="https://example.org/a?b=1", method="GET", request_headers=[("Accept", "*/*")],
        request_body=None, status=200, reason=None,
        response_headers=[("Content-Type", "text/plain"), (":status", "200")],
        body=b"hello", ip_address="93.184.216.34", protocol="h2")
    warc.write_resource("urn:screenshot:https://example.org/a", "image/png", b"\x89PNG...",
                        concurrent_to=response_id)
    path = warc.close()
    assert path.exists() and not warc.open_path.exists()
    result = check_warc(path)
    assert result.ok, result.problems
    types = [r.record_type for r in result.records]
    assert types == ["warcinfo", "response", "request", "resource"]
    assert all(r.digest_ok for r in result.records[1:])
    with open(path, "rb") as fh:
        records = list(ArchiveIterator(fh))
    response = next(r for r in records if r.rec_type == "response")
    assert response.rec_headers.get_header("WARC-Protocol") == "h2"
    assert response.rec_headers.get_header("WARC-Block-Digest").startswith("sha256:")
    assert response.http_headers.statusline == "200 OK"  # reason supplied for HTTP/2
    assert response.http_headers.get_header(":status") is None
    request = next(r for r in records if r.rec_type == "request")
    assert request.rec_headers.get_header("WARC-Concurrent-To") == response_id
    assert request.http_headers.protocol == "GET"
    assert request.http_headers.get_header("Host") == "example.org"


def test_abandoned_file_keeps_open_suffix(tmp_path):
    warc = CaptureWarc(tmp_path / "t.warc.gz", {})
    assert warc.abandon().name == "t.warc.gz.open"
    assert not (tmp_path / "t.warc.gz").exists()


def test_decoded_body_headers_keep_the_originals():
    plain = b"x" * 100
    wire = gzip.compress(plain)
    headers = decoded_body_headers(
        [("Content-Encoding", "gzip"), ("Content-Length", str(len(wire))),
         ("Transfer-Encoding", "chunked"), ("Content-Type", "text/html")], len(plain))
    names = dict(headers)
    assert "Content-Encoding" not in names and "Transfer-Encoding" not in names
    assert names["X-Orig-Content-Encoding"] == "gzip"
    assert names["X-Orig-Transfer-Encoding"] == "chunked"
    assert names["X-Orig-Content-Length"] == str(len(wire))
    assert names["Content-Length"] == "100"


def test_matching_content_length_is_kept_as_is():
    headers = decoded_body_headers([("Content-Length", "5")], 5)
    assert headers == [("Content-Length", "5")]


def test_decoded_body_is_readable_by_warcio(tmp_path):
    warc = CaptureWarc(tmp_path / "t.warc.gz", {})
    warc.write_exchange(url="http://e.org/", method="GET", request_headers=[],
                        request_body=None, status=200, reason="OK",
                        response_headers=[("Content-Encoding", "gzip")], body=b"plain",
                        body_decoded=True)
    data = warc.close().read_bytes()
    bodies = [r.content_stream().read() for r in ArchiveIterator(io.BytesIO(data))
              if r.rec_type == "response"]
    assert bodies == [b"plain"]


def _member_level(path, offset):
    """How the gzip member at ``offset`` was made: (XFL, BTYPE of its first deflate block).
    zlib writes XFL 2 at level 9, 4 at levels 0 and 1; BTYPE 0 is a stored block."""
    with open(path, "rb") as fh:
        fh.seek(offset)
        head = fh.read(11)
    assert head[:3] == b"\x1f\x8b\x08" and head[3] == 0  # gzip, deflate, no optional fields
    return head[8], (head[10] >> 1) & 0b11


def test_a_large_incompressible_body_is_stored_a_compressible_one_deflated(tmp_path):
    """A video is not deflated again (stored blocks inside its gzip member): every reader still
    reads the record, its digests still match, and the file's hash taken while writing is the
    hash of the file on disk."""
    import hashlib
    import os
    import subprocess
    import sys

    video = os.urandom(3 * 1024 * 1024)
    text = b"<p>the same words again and again</p>\n" * 80_000
    warc = CaptureWarc(tmp_path / "t.warc.gz", {"software": "test"})
    for url, body, kind in (("https://example.org/v.mp4", video, "video/mp4"),
                            ("https://example.org/t.html", text, "text/html")):
        warc.write_exchange(url=url, method="GET", request_headers=[], request_body=None,
                            status=200, reason="OK", body=io.BytesIO(body),
                            response_headers=[("Content-Type", kind),
                                              ("Content-Length", str(len(body)))])
    path = warc.close()
    assert warc.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    result = check_warc(path)
    assert result.ok, result.problems
    offsets = {r.uri: r.offset for r in result.records if r.record_type == "response"}
    assert _member_level(path, offsets["https://example.org/v.mp4"]) == (4, 0)  # stored
    assert _member_level(path, offsets["https://example.org/t.html"])[0] == 2  # level 9
    assert path.stat().st_size < len(video) + len(text) // 10  # the text did shrink
    with open(path, "rb") as fh:
        bodies = {r.rec_headers.get_header("WARC-Target-URI"): r.content_stream().read()
                  for r in ArchiveIterator(fh) if r.rec_type == "response"}
    assert bodies == {"https://example.org/v.mp4": video, "https://example.org/t.html": text}
    assert gzip.open(path).read().count(b"WARC/1.1\r\n") == 5  # one plain gzip stream too
    checked = subprocess.run([sys.executable, "-m", "warcio.cli", "check", str(path)],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


class _CountingStream(io.BytesIO):
    """A body that counts the bytes read from it."""

    read_bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.read_bytes += len(data)
        return data


def test_a_body_is_read_once_to_hash_and_once_to_write(tmp_path):
    """Block and payload digests come from one read of the body (warcio alone reads it once
    for each), and a resource's SHA-256 is its payload digest, not one more read."""
    warc = CaptureWarc(tmp_path / "t.warc.gz", {})
    size = 3 * 1024 * 1024
    page = _CountingStream(b"<p>" * (size // 3))
    warc.write_exchange(url="https://example.org/", method="GET", request_headers=[],
                        request_body=None, status=200, reason=None,
                        response_headers=[("Content-Type", "text/html")], body=page)
    video = _CountingStream(bytes(range(256)) * (size // 256))
    _, sha256, length = warc.write_resource("urn:media:clip", "video/mp4", video)
    path = warc.close()
    # ...and, a body this large, a first sample of it to choose its gzip level (gzip_level).
    from archiver.warcwriter import SAMPLE
    assert page.read_bytes == 2 * size + SAMPLE and video.read_bytes == 2 * size + SAMPLE
    assert sha256 == hashlib.sha256(video.getvalue()).hexdigest() and length == size
    assert check_warc(path).ok
