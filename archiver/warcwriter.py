"""Writing WARC 1.1 files for a capture.

A file is written as ``<name>.warc.gz.open`` and renamed to ``<name>.warc.gz`` only when it is
closed and synced, so a file without the suffix is always complete. Digests are SHA-256 in hex
(``sha256:<hex>``), which anyone can cross-check with ``sha256sum``.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import zlib
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import BinaryIO

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from archiver.cdxj import RecordIndex
from archiver.hashing import FileDigest
from archiver.pagetext import PageTexts
from archiver.redaction import without_credentials

OPEN_SUFFIX = ".open"
WARC_VERSION = "WARC/1.1"

# Hop-by-hop and framing headers that no longer describe a body stored decoded; their original
# values are kept under this prefix so nothing the server said is lost. ``x-orig-`` is the
# convention of Browsertrix / ArchiveWeb.page (warcio.js), which replay tools already know.
# Earlier packages used "X-Isnad-Original-": a plain extension header too, which
# verification and replay ignore just the same, so those packages stay valid as they are.
ORIGINAL_PREFIX = "X-Orig-"
LEGACY_ORIGINAL_PREFIX = "X-Isnad-Original-"
_FRAMING_HEADERS = ("content-encoding", "transfer-encoding", "content-length")


class _HexSha256:
    """A warcio-compatible digester that prints ``sha256:<hex>``."""

    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def update(self, data: bytes) -> None:
        self._h.update(data)

    def __str__(self) -> str:
        return "sha256:" + self._h.hexdigest()


# A record whose body is at least this large has a sample of it compressed first: a body that
# does not shrink (video, audio, images, archives: already compressed) is stored in its gzip
# member without deflating it again (deflate's "stored" blocks, level 0). The record is as valid
# a gzip member as any (every reader inflates it); deflating 2 GiB of video at warcio's level 9
# only spent a core for a minute to save nothing.
SAMPLE_FROM = 1024 * 1024
SAMPLE = 256 * 1024
STORE_ABOVE_RATIO = 0.97  # the sample shrinks by less than 3 %: store
DEFAULT_LEVEL = 9  # warcio's own level, kept for everything that compresses
COPY_CHUNK = 1024 * 1024


def gzip_level(stream: BinaryIO, length: int | None) -> int:
    """The deflate level for a record's gzip member: 0 (stored) for a large body that a sample
    shows to be incompressible, warcio's 9 otherwise. Leaves ``stream`` where it was."""
    if length is None or length < SAMPLE_FROM:
        return DEFAULT_LEVEL
    try:
        start = stream.tell()
        sample = stream.read(SAMPLE)
        stream.seek(start)
    except (OSError, ValueError, AttributeError):  # not seekable: no sample, the usual level
        return DEFAULT_LEVEL
    if not sample:
        return DEFAULT_LEVEL
    packed = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS)
    size = len(packed.compress(sample)) + len(packed.flush())
    return 0 if size >= STORE_ABOVE_RATIO * len(sample) else DEFAULT_LEVEL


class _Gzip:
    """One gzip member around whatever is written (warcio's GzippingWrapper, with a level)."""

    def __init__(self, out: BinaryIO, level: int) -> None:
        self.out = out
        self.compressor = zlib.compressobj(level, zlib.DEFLATED, zlib.MAX_WBITS + 16)

    def write(self, data: bytes) -> None:
        self.out.write(self.compressor.compress(data))

    def flush(self) -> None:
        self.out.write(self.compressor.flush())
        self.out.flush()


class _HashingFile:
    """The WARC file as written: each byte hashed on its way to disk, so the file's SHA-256
    is known when it closes without reading it again; and each record's bytes (its gzip
    member) apart, for the index's ``recordDigest`` (nothing reads them back)."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.digest = hashlib.sha256()
        self.crc32 = 0
        self.size = 0
        self.record_digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.record_digest.update(data)
        self.crc32 = zlib.crc32(data, self.crc32)
        self.size += len(data)
        return self.fh.write(data)

    def flush(self) -> None:
        self.fh.flush()

    def tell(self) -> int:
        return self.fh.tell()


class _Sha256WarcWriter(WARCWriter):
    @staticmethod
    def _create_digester() -> _HexSha256:  # type: ignore[override]
        return _HexSha256()

    @staticmethod
    def _iter_stream(stream: BinaryIO):  # noqa: ANN205 - warcio's generator of chunks
        # warcio reads 16 KiB at a time: for a 2 GiB body that is 131,072 trips through
        # Python per pass; 1 MiB chunks make it 2,048.
        while chunk := stream.read(COPY_CHUNK):
            yield chunk

    def _write_warc_record(self, out, record) -> None:  # noqa: ANN001 - warcio's types
        level = gzip_level(record.raw_stream, record.length)
        self.gzip = False  # warcio would wrap `out` at level 9: ours wraps it at `level`
        try:
            super()._write_warc_record(_Gzip(out, level), record)
        finally:
            self.gzip = True

    def ensure_digest(self, record, block=True, payload=True) -> None:  # noqa: ANN001
        """Both digests in one read of the payload: warcio asks for the payload's when a
        record is made and for the block's when it is written, a second read of every
        body (the same bytes, the same headers: the same digests)."""
        super().ensure_digest(record, block=True, payload=payload)


def warc_date(moment: datetime | None = None) -> str:
    """WARC-Date with microseconds (allowed by WARC 1.1), always UTC."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def decoded_body_headers(headers: list[tuple[str, str]], body_length: int) -> list[tuple[str, str]]:
    """Make headers truthful for a body stored decoded (as a browser hands it over).

    Content-Encoding and Transfer-Encoding describe the bytes on the wire, not the stored body:
    they are kept as ``X-Orig-*`` (Browsertrix's ``x-orig-`` convention). A Content-Length that
    does not match the stored body is kept the same way and replaced by the stored length.
    """
    out: list[tuple[str, str]] = []
    length_ok = False
    for name, value in headers:
        lower = name.lower()
        if lower == "content-length" and value.strip() == str(body_length):
            length_ok = True
            out.append((name, value))
        elif lower in _FRAMING_HEADERS:
            out.append((ORIGINAL_PREFIX + "-".join(p.capitalize() for p in lower.split("-")),
                        value))
        else:
            out.append((name, value))
    if not length_ok:
        out.append(("Content-Length", str(body_length)))
    return out


def status_line(status: int, reason: str | None) -> str:
    """``200 OK``: HTTP/2 has no reason phrase, so the standard one is supplied."""
    if not reason:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
    return f"{status} {reason}".strip()


class CaptureWarc:
    """One WARC file being written for a capture."""

    def __init__(self, path: str | Path, warcinfo: dict[str, str]) -> None:
        self.path = Path(path)
        self.open_path = self.path.with_name(self.path.name + OPEN_SUFFIX)
        self.open_path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: BinaryIO = open(self.open_path, "xb")  # noqa: SIM115 - closed in close()
        self._out = _HashingFile(self._fh)
        self._writer = _Sha256WarcWriter(self._out, gzip=True, warc_version=WARC_VERSION)
        # The package's CDXJ lines, made as records are written (archiver/cdxj.py).
        self.index = RecordIndex(self.path.with_name(self.path.name + ".cdxj"), self.path.name)
        # The text of its HTML records, kept as they are written: the full-text index of the
        # capture takes it from here instead of reading the WARC back (archiver/pagetext.py).
        self.texts = PageTexts()
        # A response and its request are written one after the other (the index pairs them),
        # whichever thread records (the crawl's reactor, the media proxy's).
        self._lock = threading.Lock()
        self.records = 0
        self.payload_bytes = 0
        self.closed = False
        record = self._writer.create_warcinfo_record(self.path.name, warcinfo)
        self._write(record)

    # -- records -------------------------------------------------------------------------
    def write_exchange(
        self,
        *,
        url: str,
        method: str,
        request_headers: list[tuple[str, str]],
        request_body: bytes | None,
        status: int,
        reason: str | None,
        response_headers: list[tuple[str, str]],
        body: bytes | BinaryIO,
        body_length: int | None = None,
        date: datetime | None = None,
        ip_address: str | None = None,
        protocol: str | None = None,
        body_decoded: bool = False,
        truncated: str | None = None,
        digests: tuple[str, str] | None = None,
    ) -> str:
        """Write a response record and its request record; return the response record id.

        ``truncated``: the body is not the whole response, and why (``WARC-Truncated``:
        ``length``, ``time``, ``disconnect``, ``unspecified``).
        ``digests``: the SHA-256 (hex) of the record's block (:meth:`response_head` then the
        body) and of the body, taken as the body arrived; without them the body is read once
        more to compute them. Verification recomputes both from the record either way."""
        url = without_credentials(url)  # as the request line and Host header name it
        stream: BinaryIO = io.BytesIO(body) if isinstance(body, bytes) else body
        if body_length is None:
            body_length = len(body) if isinstance(body, bytes) else _remaining(stream)
        http_headers = self._http_head(status, reason, response_headers, body_length,
                                       body_decoded)
        extra: dict[str, str] = {"WARC-Date": warc_date(date)}
        if digests is not None:
            extra["WARC-Block-Digest"] = "sha256:" + digests[0]
            extra["WARC-Payload-Digest"] = "sha256:" + digests[1]
        if ip_address:
            extra["WARC-IP-Address"] = ip_address
        if protocol:
            extra["WARC-Protocol"] = protocol
        if truncated:
            extra["WARC-Truncated"] = truncated
        response = self._writer.create_warc_record(
            url,
            "response",
            payload=stream,
            length=body_length,
            http_headers=http_headers,
            warc_headers_dict=extra,
        )
        response_id = response.rec_headers.get_header("WARC-Record-ID")

        path = _request_target(url)
        req_headers = [(n, v) for n, v in request_headers if not n.startswith(":")]
        if not any(n.lower() == "host" for n, _ in req_headers):
            req_headers.insert(0, ("Host", _host_header(url)))
        req_body = request_body or b""
        request = self._writer.create_warc_record(
            url,
            "request",
            payload=io.BytesIO(req_body),
            length=len(req_body),
            http_headers=StatusAndHeaders(
                f"{method.upper()} {path} HTTP/1.1", req_headers, is_http_request=True
            ),
            warc_headers_dict={
                "WARC-Date": extra["WARC-Date"],
                "WARC-Concurrent-To": response_id,
                **({"WARC-Protocol": protocol} if protocol else {}),
            },
        )
        # Parsed before the lock (the other recording thread need not wait for it), kept
        # under it: in the order of the records in the file.
        text = self.texts.read(response, body if isinstance(body, bytes) else None)
        with self._lock:
            written = self._write(response)
            self._write(request)
            self.index.add(response, *written, request=request, request_body=req_body)
            self.texts.add(text)
            self.payload_bytes += body_length
        return response_id

    def response_head(self, status: int, reason: str | None,
                      response_headers: list[tuple[str, str]], body_length: int,
                      body_decoded: bool = False) -> bytes:
        """The HTTP head a response record written with these arguments begins its block
        with: a recorder that hashes the body as it arrives starts the block digest with it."""
        head = self._http_head(status, reason, response_headers, body_length, body_decoded)
        head.compute_headers_buffer(self._writer.header_filter)
        return head.headers_buff

    @staticmethod
    def _http_head(status: int, reason: str | None, response_headers: list[tuple[str, str]],
                   body_length: int, body_decoded: bool) -> StatusAndHeaders:
        headers = [(n, v) for n, v in response_headers if not n.startswith(":")]
        if body_decoded:
            headers = decoded_body_headers(headers, body_length)
        return StatusAndHeaders(status_line(status, reason), headers, protocol="HTTP/1.1")

    def write_resource(
        self,
        uri: str,
        content_type: str,
        data: bytes | BinaryIO,
        *,
        concurrent_to: str | None = None,
        date: datetime | None = None,
    ) -> tuple[str, str, int]:
        """Write a resource record (screenshot, PDF, DOM...); return (record id, sha256, size)."""
        return self._write_block("resource", uri, content_type, data, concurrent_to, date)

    def write_metadata(self, uri: str, text: str, *, concurrent_to: str | None = None) -> str:
        """Write a metadata record (``application/json`` text); return its record id."""
        return self._write_block("metadata", uri, "application/json", text.encode("utf-8"),
                                 concurrent_to, None)[0]

    def _write_block(
        self,
        record_type: str,
        uri: str,
        content_type: str,
        data: bytes | BinaryIO,
        concurrent_to: str | None,
        date: datetime | None,
    ) -> tuple[str, str, int]:
        stream: BinaryIO = io.BytesIO(data) if isinstance(data, bytes) else data
        length = len(data) if isinstance(data, bytes) else _remaining(stream)
        headers = {"WARC-Date": warc_date(date)}
        if concurrent_to:
            headers["WARC-Concurrent-To"] = concurrent_to
        record = self._writer.create_warc_record(
            uri,
            record_type,
            payload=stream,
            length=length,
            warc_content_type=content_type,
            warc_headers_dict=headers,
        )
        record_id = record.rec_headers.get_header("WARC-Record-ID")
        text = self.texts.read(record, data if isinstance(data, bytes) else None)
        with self._lock:
            self.index.add(record, *self._write(record))
            self.texts.add(text)
            self.payload_bytes += length
        # The block is the payload here (no HTTP headers): warcio hashed it with SHA-256 for
        # WARC-Payload-Digest as it wrote it; it is not read once more for the same hash.
        digest = record.rec_headers.get_header("WARC-Payload-Digest") or ""
        if not digest.startswith("sha256:"):
            raise ValueError(f"{uri}: the WARC writer gave no SHA-256 payload digest")
        return record_id, digest.removeprefix("sha256:"), length

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> Path:
        """Flush, fsync and drop the ``.open`` suffix; return the final path."""
        if self.closed:
            return self.path
        self.index.close()
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        os.replace(self.open_path, self.path)
        _fsync_dir(self.path.parent)
        self.closed = True
        return self.path

    def abandon(self) -> Path:
        """Close without claiming completeness: the file keeps its ``.open`` suffix."""
        self.index.close()
        if not self._fh.closed:
            self._fh.flush()
            self._fh.close()
        self.closed = True
        return self.open_path

    @property
    def sha256(self) -> str:
        """The SHA-256 of the file's bytes as they were written (complete once closed)."""
        return self._out.digest.hexdigest()

    @property
    def digest(self) -> FileDigest:
        """SHA-256, size and CRC-32 of the file's bytes as they were written."""
        return FileDigest(self.sha256, self._out.size, self._out.crc32)

    @property
    def file_bytes(self) -> int:
        return self._fh.tell() if not self._fh.closed else self.path.stat().st_size

    @property
    def index_path(self) -> Path | None:
        """The CDXJ lines of this WARC's records (unsorted), or None when the package must
        index the WARC itself (see archiver/cdxj.py)."""
        return self.index.path if self.index.exact else None

    def _write(self, record) -> tuple[int, int, str]:  # noqa: ANN001 - warcio record
        """Write a record; (its offset in the file, its length, the SHA-256 of its bytes)."""
        offset = self._out.tell()
        self._out.record_digest = hashlib.sha256()
        self._writer.write_record(record)
        self.records += 1
        return offset, self._out.tell() - offset, "sha256:" + self._out.record_digest.hexdigest()


def _remaining(stream: BinaryIO) -> int:
    here = stream.tell()
    end = stream.seek(0, os.SEEK_END)
    stream.seek(here)
    return end - here


def _request_target(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return target


def _host_header(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
