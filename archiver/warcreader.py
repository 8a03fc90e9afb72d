"""Reading WARC and ARC files, with every record's digests checked as it streams past."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.bufferedreaders import DecompressingBufferedReader
from warcio.digestverifyingreader import DigestVerifyingReader
from warcio.exceptions import ArchiveLoadFailed

from archiver.errors import PackageError
from archiver.hashing import ThreadedHash

# Bounds on what a hostile file can make the reader do. No header or status line of a real
# WARC comes near 1 MiB; warcio reads lines without a limit (and in quadratic time), so one
# 1.5 GB line in a small gzip member would hang the reader.
MAX_LINE = 1024 * 1024
# gzip of real web content rarely passes 20:1; a record that expands further than this (after
# a first allowance) is refused instead of being inflated to its end.
MAX_EXPANSION = 200
EXPANSION_ALLOWANCE = 16 * 1024 * 1024
# Records that carry what was captured: each must have a WARC-Block-Digest. warcinfo records
# are often written without one (by warcio too) and are covered by the file's own hash.
DIGESTED_TYPES = frozenset({"response", "request", "resource", "revisit", "metadata",
                            "conversion", "continuation"})


class _BoundedReader(DecompressingBufferedReader):
    """warcio's reader with a line-length limit, an expansion limit, and no silent truncation
    when a gzip member breaks midway (warcio writes the error to stderr and reads on)."""

    def __init__(self, stream: BinaryIO, block_size: int) -> None:
        super().__init__(stream, block_size=block_size)
        self.raw_bytes = 0
        self.inflated_bytes = 0
        # The stream is known to be gzip (a member was read, or the caller knows): a member
        # that cannot be inflated is then damaged, never "plain text" (see _decompress).
        self.gzip_known = False

    def read_next_member(self) -> bool:
        if super().read_next_member():
            self.gzip_known = True
            return True
        return False

    def readline(self, length: int | None = None) -> bytes:
        limit = MAX_LINE + 1 if not length or length < 0 else min(length, MAX_LINE + 1)
        line = super().readline(limit)
        if len(line) > MAX_LINE:
            raise PackageError(f"a line longer than {MAX_LINE} bytes (not a WARC header)")
        return line

    def _process_read(self, data: bytes) -> None:
        self.raw_bytes += len(data)
        super()._process_read(data)
        self.inflated_bytes += self.buff_size if data else 0
        if self.inflated_bytes > EXPANSION_ALLOWANCE + MAX_EXPANSION * self.raw_bytes:
            raise PackageError(f"{self.raw_bytes} compressed bytes expand past "
                               f"{self.inflated_bytes} (more than {MAX_EXPANSION}:1)")

    def _decompress(self, data: bytes) -> bytes:
        if self.decompressor and data and (self.num_block_read or self.gzip_known):
            try:
                return self.decompressor.decompress(data)
            except Exception as exc:  # noqa: BLE001 - zlib/brotli errors have no common base
                if self.num_block_read:
                    raise PackageError(f"compressed data broken: {exc}") from exc
                # warcio would read a member that fails at its first block as plain text, to
                # the end of the file: its raw bytes could then pass for a record (an ARC
                # header line, a length) that runs over the good members after it.
                raise PackageError(f"a damaged gzip member (its compressed data cannot be "
                                   f"inflated: {exc})") from exc
        return super()._decompress(data)


class BoundedArchiveIterator(ArchiveIterator):
    """warcio's iterator over :class:`_BoundedReader`: long lines and gzip bombs raise
    :class:`PackageError`, a gzip member that breaks midway is never read past silently."""

    def __init__(self, fileobj: BinaryIO, **kwargs: object) -> None:
        super().__init__(fileobj, **kwargs)
        self.reader = _BoundedReader(self.fh, block_size=self.reader.block_size)


@dataclass
class RecordSummary:
    """What a reader needs to know about one record, without its payload."""

    offset: int
    record_type: str
    uri: str | None
    record_id: str | None
    date: str | None
    content_type: str | None
    status: str | None
    length: int  # bytes of the record's payload as stored (after any HTTP headers)
    digest_ok: bool | None  # None: the record carries no digest to check
    problems: list[str] = field(default_factory=list)
    block_digest: bool = True  # a WARC-Block-Digest header is present


@dataclass
class WarcCheck:
    """Result of reading a whole WARC/ARC file."""

    name: str
    records: list[RecordSummary]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def iter_records(stream: BinaryIO, name: str = "<stream>", *, threaded: bool = False
                 ) -> Iterator[RecordSummary]:
    """Yield a summary of each record, reading (and digest-checking) payloads in chunks.

    Lines longer than :data:`MAX_LINE` and compressed data expanding more than
    :data:`MAX_EXPANSION` times raise :class:`PackageError` instead of exhausting the machine.
    ``threaded``: a record's block and payload digests are computed in worker threads
    (:class:`~archiver.hashing.ThreadedHash`), beside each other and beside the reading.
    """
    try:
        it = BoundedArchiveIterator(stream, check_digests=True, arc2warc=True)
        for record in it:
            # The raw stream, not content_stream(): digests are over the stored bytes, and
            # undoing a Content-Encoding would inflate (or choke on) what the server sent.
            content = record.raw_stream
            if threaded and isinstance(content, DigestVerifyingReader):
                _thread_digests(content)
            length = 0
            while chunk := content.read(1024 * 1024):
                length += len(chunk)
            checker = record.digest_checker
            http = record.http_headers
            problems = [str(p) for p in checker.problems]
            declared = record.rec_headers.get_header("Content-Length")
            if declared is None or not declared.strip().isdigit():
                problems.append(f"invalid record length {declared!r}")
            yield RecordSummary(
                offset=it.get_record_offset(),
                record_type=record.rec_type,
                uri=record.rec_headers.get_header("WARC-Target-URI"),
                record_id=record.rec_headers.get_header("WARC-Record-ID"),
                date=record.rec_headers.get_header("WARC-Date"),
                content_type=record.content_type,
                status=http.get_statuscode() if http and record.rec_type == "response" else None,
                length=length,
                digest_ok=checker.passed,
                problems=problems,
                block_digest=record.rec_headers.get_header("WARC-Block-Digest") is not None,
            )
    except ArchiveLoadFailed as exc:
        raise PackageError(f"{name}: not a readable WARC/ARC file: {exc}".strip()) from exc


def _thread_digests(reader: DigestVerifyingReader) -> None:
    """Have warcio's digesters of one record hash in worker threads. Its HTTP head is in the
    block digest already; warcio compares each digest (``str(digester)``, which waits for its
    last bytes) when the record's last byte is read, as before."""
    for digester in (reader.block_digester, reader.payload_digester_obj):
        if digester is not None and not isinstance(digester.digester, ThreadedHash):
            digester.digester = ThreadedHash(digester.digester)


def check_warc(path: str | Path) -> WarcCheck:
    """Read every record of a WARC/ARC file and collect digest problems."""
    path = Path(path)
    with open(path, "rb") as fh:
        return check_warc_stream(fh, path.name)


def check_warc_stream(stream: BinaryIO, name: str, *, require_digests: bool = False,
                      threaded: bool = False) -> WarcCheck:
    """Like :func:`check_warc` for an open stream (for example a member of a WACZ).

    With ``require_digests`` a record of a type in :data:`DIGESTED_TYPES` without a
    ``WARC-Block-Digest`` is a problem: nothing would show that its content was changed.
    ``threaded``: as for :func:`iter_records`.
    """
    records: list[RecordSummary] = []
    problems: list[str] = []
    try:
        for summary in iter_records(stream, name, threaded=threaded):
            records.append(summary)
            if require_digests and not summary.block_digest \
                    and summary.record_type in DIGESTED_TYPES:
                problems.append(
                    f"{name}: record {summary.record_id} ({summary.uri}) at offset "
                    f"{summary.offset}: no WARC-Block-Digest, its content cannot be checked")
            if summary.digest_ok is False or summary.problems:
                what = "digest mismatch" if summary.digest_ok is False else "malformed record"
                problems.append(
                    f"{name}: record {summary.record_id} ({summary.uri}) at offset "
                    f"{summary.offset}: {what} ({'; '.join(summary.problems)})"
                )
    except PackageError as exc:
        message = str(exc)
        problems.append(message if message.startswith(name)
                        else f"{name}: unreadable after {len(records)} records: {message}")
    except Exception as exc:  # noqa: BLE001 - any decoding failure is a finding, not a crash
        problems.append(f"{name}: unreadable after {len(records)} records: {exc}")
    return WarcCheck(name=name, records=records, problems=problems)
