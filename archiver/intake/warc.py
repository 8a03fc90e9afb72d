"""Checking a received WARC or ARC file on arrival: one streaming pass over its bytes.

The file is read once. Every byte read is hashed (SHA-256, plus each algorithm the provider
declared) and, when asked, copied to a working copy, while warcio parses the records from the
same stream: each record's ``WARC-Block-Digest`` and ``WARC-Payload-Digest`` is checked,
records without digests are listed, ``warcinfo`` records are kept as the source's own
description, and the HTML pages are collected for the package's page list. A structure error
(a broken ARC header, a truncated gzip member, a 10 MB header line, a gzip bomb) stops the
parse and is reported with the offset where it happened; the rest of the file is still read to
its end, so its hash and its copy are always whole.

Memory stays bounded whatever the size: payloads are read in chunks and dropped, findings of
one kind are kept up to :data:`MAX_FINDINGS_PER_CODE` (the rest are counted), pages up to
:data:`MAX_PAGES`.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import queue
import re
import subprocess
import threading
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from surt import surt
from warcio.exceptions import ArchiveLoadFailed
from warcio.timeutils import iso_date_to_timestamp

from archiver.errors import PackageError
from archiver.intake import CheckedFile, Finding, Severity
from archiver.warcreader import (
    DIGESTED_TYPES,
    EXPANSION_ALLOWANCE,
    MAX_EXPANSION,
    BoundedArchiveIterator,
)

CHUNK = 1024 * 1024
MAX_FINDINGS_PER_CODE = 100
MAX_PAGES = 10_000
MAX_WARCINFO = 50  # warcinfo records kept as metadata (a file has one, or one per member)
MAX_WARCINFO_BYTES = 64 * 1024
MAX_RESYNC = 1000  # false record starts tried after a structure error before giving up
# The algorithms a provider may declare (hashlib names); anything else is a finding.
ALGORITHMS = ("md5", "sha1", "sha256", "sha512")
PAGE_TYPES = ("text/html", "application/xhtml+xml")
PIPELINE_BLOCKS = 8  # blocks read but not yet hashed and copied (8 MiB at most)


class HashingReader(io.RawIOBase):
    """A read-only stream over ``raw`` that hashes every byte read (and copies it to ``copy``).

    ``tell()`` is the count of bytes read, which is what warcio needs to compute offsets.

    ``pipelined``: the hashing and the copy run in a thread of their own, fed the blocks as
    they are read (at most :data:`PIPELINE_BLOCKS` waiting: memory stays bounded), while the
    caller parses the same blocks (decompression, record digests) in its own thread. hashlib,
    zlib and file writes release the GIL, so on two cores the two run at once. Every byte read
    is hashed and copied, in order; :meth:`finish` (called by :meth:`drain` and
    :meth:`hexdigests`) waits for the last block and raises what the thread met (a full disk).
    """

    def __init__(self, raw: BinaryIO, algorithms: tuple[str, ...],
                 copy: BinaryIO | None = None,
                 on_bytes: Callable[[int], None] | None = None, *,
                 pipelined: bool = False) -> None:
        super().__init__()
        self.raw = raw
        self.on_bytes = on_bytes
        self.hashers = {name: hashlib.new(name) for name in algorithms}
        self.copy = copy
        self.position = 0
        self._blocks: queue.Queue[bytes | None] | None = (
            queue.Queue(PIPELINE_BLOCKS) if pipelined else None)
        self._worker: threading.Thread | None = None
        self._failure: BaseException | None = None

    def readable(self) -> bool:
        return True

    def _take(self, data: bytes) -> None:
        for hasher in self.hashers.values():
            hasher.update(data)
        if self.copy is not None:
            self.copy.write(data)

    def _run(self) -> None:
        assert self._blocks is not None
        while (data := self._blocks.get()) is not None:
            if self._failure is None:
                try:
                    self._take(data)
                except BaseException as exc:  # noqa: BLE001 - raised in the reading thread
                    self._failure = exc

    def read(self, size: int = -1) -> bytes:
        if self._failure is not None:
            raise self._failure
        data = self.raw.read(size if size and size > 0 else CHUNK)
        if data:
            if self._blocks is None:
                self._take(data)
            else:
                if self._worker is None:
                    self._worker = threading.Thread(target=self._run, daemon=True,
                                                    name="intake-hash")
                    self._worker.start()
                self._blocks.put(data)
            self.position += len(data)
            if self.on_bytes is not None:
                self.on_bytes(len(data))
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def tell(self) -> int:
        return self.position

    def finish(self) -> None:
        """Wait until every byte read so far is hashed and copied (pipelined)."""
        if self._worker is not None and self._blocks is not None:
            self._blocks.put(None)
            self._worker.join()
            self._worker = None
        if self._failure is not None:
            raise self._failure

    def close(self) -> None:
        try:
            self.finish()
        finally:
            super().close()

    def drain(self) -> None:
        """Read (hash, copy) whatever the parser left unread, to the end of the file."""
        while self.read(CHUNK):
            pass
        self.finish()

    def hexdigests(self) -> dict[str, str]:
        self.finish()
        return {name: hasher.hexdigest() for name, hasher in self.hashers.items()}



class _Findings:
    """Findings of one file, bounded: past :data:`MAX_FINDINGS_PER_CODE` of a code, counted."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.kept: list[Finding] = []
        self.counts: Counter[str] = Counter()
        self.severity: dict[str, Severity] = {}

    def add(self, severity: Severity, code: str, message: str, where: str | None = None
            ) -> None:
        self.counts[code] += 1
        self.severity[code] = severity
        if self.counts[code] <= MAX_FINDINGS_PER_CODE:
            self.kept.append(Finding(severity, code, message, self.name, where))

    def done(self) -> list[Finding]:
        out = list(self.kept)
        for code, count in self.counts.items():
            if count > MAX_FINDINGS_PER_CODE:
                out.append(Finding(self.severity[code], code,
                                   f"{count} records in all with {code} (only the first "
                                   f"{MAX_FINDINGS_PER_CODE} are listed)", self.name))
        return out


class _Iterator(BoundedArchiveIterator):
    """The bounded iterator, with warcio's "record not followed by newline" warning (its
    Content-Length is wrong) turned into a finding instead of a line on stderr."""

    def __init__(self, fileobj: BinaryIO, findings: _Findings, **kwargs: Any) -> None:
        super().__init__(fileobj, **kwargs)
        self.findings = findings

    def close(self) -> None:
        # At the end of the file the last gzip member must have ended: a member cut short
        # inflates to a shorter record and warcio reads on without a word.
        decompressor = self.reader.decompressor if self.reader else None
        if decompressor is not None and not getattr(decompressor, "eof", True):
            self.truncated_at = self.offset
        super().close()

    truncated_at: int | None = None

    def _consume_blanklines(self) -> tuple[bytes | None, int]:
        said = io.StringIO()
        with contextlib.redirect_stderr(said):
            result = super()._consume_blanklines()
        offset = re.search(r"Offset: (\d+)", said.getvalue())
        if offset:
            self.findings.add(Severity.ERROR, "record-length-mismatch",
                              "a record is not followed by the blank lines that end it: its "
                              "Content-Length is probably wrong", f"offset {offset.group(1)}")
        return result


def detect_format(path: Path) -> str | None:
    """``warc``, ``arc`` or None, by the first bytes (never by the name: a ``.warc`` may be
    gzip, a ``.arc.gz`` may be anything)."""
    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head[:2] == b"\x1f\x8b":
        try:
            head = zlib.decompressobj(31).decompress(head, 64)
        except zlib.error:
            return None
    if head.startswith(b"WARC/"):
        return "warc"
    if head.startswith(b"filedesc://"):
        return "arc"
    return None


def check_warc(path: str | Path, name: str, *, declared: dict[str, str] | None = None,
               copy_to: Path | None = None, index_to: Path | None = None,
               member: str | None = None, inflate_to: Path | None = None,
               on_bytes: Callable[[int], None] | None = None) -> CheckedFile:
    """Check a received WARC/ARC file in one pass (see the module's docstring).

    ``name`` is the file's name as received (findings name it). ``declared`` are the hashes
    the provider gave (algorithm → hex), compared with the computed ones. With ``copy_to``, the
    bytes read are written there too: the working copy is exactly what was hashed. With
    ``index_to``, a CDXJ line for each response, revisit and resource record read is written
    there (unsorted; see :func:`sort_index`), naming the file ``member`` (default ``name``).
    A record after a structure error is not indexed: its offset cannot be trusted.
    ``on_bytes(n)`` is called as each block is read (for a progress bar).

    A file that is one gzip stream holding many records (not one member per record, as WARC
    writers should) is read a second time, inflated: every record is checked and counted. With
    ``inflate_to``, the decompressed bytes are written there (``checked.inflated``) and the
    index points into that copy, since no offset into the one stream can be seeked to.
    """
    path = Path(path)
    declared = {k.lower(): v.strip().lower() for k, v in (declared or {}).items()}
    findings = _Findings(name)
    algorithms = tuple(dict.fromkeys(["sha256", *(a for a in declared if a in ALGORITHMS)]))
    kind = detect_format(path) if path.stat().st_size else None
    checked = CheckedFile(path=path, name=name, kind=kind or "warc")
    out = open(copy_to, "wb") if copy_to else None  # noqa: SIM115 - closed below
    reader: HashingReader | None = None
    try:
        with open(path, "rb") as raw:
            # Hashing and copying in a thread of their own, parsing in this one: one read.
            reader = HashingReader(raw, algorithms, out, on_bytes, pipelined=True)
            if path.stat().st_size == 0:
                findings.add(Severity.ERROR, "empty-file", "the file is empty (0 bytes)")
            elif kind is None:
                findings.add(Severity.ERROR, "not-warc",
                             "not a WARC or ARC file (neither WARC/ nor filedesc:// at its "
                             "start, plain or gzip)", "offset 0")
            else:
                with open(index_to, "w", encoding="utf-8") if index_to else \
                        contextlib.nullcontext() as index:
                    indexer = _Indexer(index, member or name) if index else None
                    records = _Records(checked, findings, indexer)
                    failed = records.parse(reader, 0)
                    reader.drain()
                    if out is not None:
                        out.flush()
                    if records.whole_gzip:
                        # The working copy, now whole, is what was hashed: read it inflated.
                        findings = _Findings(name)
                        records.restart(findings, index, inflate_to)
                        _inflated_pass(records, copy_to or path, inflate_to, findings)
                    elif failed is not None:
                        # The working copy, now whole, is what was hashed: read on from there.
                        records.resume(copy_to or path, failed)
                    records.done()
            reader.drain()
        if out is not None:
            out.flush()
            os.fsync(out.fileno())
    finally:
        if reader is not None:  # its thread stopped, whatever ended the check
            with contextlib.suppress(Exception):
                reader.finish()
        if out is not None:
            out.close()
    for algorithm in sorted(set(declared) - set(ALGORITHMS)):
        findings.add(Severity.WARNING, "declared-hash-unsupported",
                     f"the declared {algorithm} hash cannot be compared (supported: "
                     f"{', '.join(ALGORITHMS)})")
    checked.size = reader.position
    checked.hashes = reader.hexdigests()
    checked.declared = declared
    for algorithm, want in declared.items():
        got = checked.hashes.get(algorithm)
        if got is not None and got != want:
            findings.add(Severity.ERROR, "declared-hash-mismatch",
                         f"the {algorithm} declared by the provider ({want}) is not the "
                         f"{algorithm} of the file as received ({got})")
    if kind == "arc":
        findings.add(Severity.INFO, "arc-no-digests",
                     "ARC records carry no digests: only the file's own hash, taken on "
                     "arrival, shows that its content is unchanged")
    checked.findings = findings.done()
    return checked


class _Indexer:
    """Writes a CDXJ line (``SURT timestamp {json}``, as pywb and cdxj-indexer write them) for
    each record that replays: responses, revisits and resources."""

    TYPES = ("response", "revisit", "resource")

    def __init__(self, out: Any, filename: str) -> None:
        self.out = out
        self.filename = filename

    def add(self, record: Any, offset: int, length: int) -> None:
        headers = record.rec_headers
        uri = headers.get_header("WARC-Target-URI")
        date = headers.get_header("WARC-Date")
        if record.rec_type not in self.TYPES or not uri or not date:
            return
        try:
            key = surt(uri)
        except Exception:  # noqa: BLE001 - a URI surt cannot read is indexed as it is
            key = uri
        entry: dict[str, Any] = {"url": uri}
        http = record.http_headers
        if record.rec_type == "revisit":
            entry["mime"] = "warc/revisit"
        elif http is not None and record.rec_type == "response":
            entry["mime"] = (http.get_header("Content-Type") or "").split(";")[0].strip()
            entry["status"] = http.get_statuscode()
        else:
            entry["mime"] = (record.content_type or "").split(";")[0].strip()
        digest = headers.get_header("WARC-Payload-Digest")
        if digest:
            entry["digest"] = digest
        entry.update(length=str(length), offset=str(offset), filename=self.filename)
        try:
            stamp = iso_date_to_timestamp(date)
        except (ValueError, TypeError):
            return
        self.out.write(f"{key} {stamp} {json.dumps(entry, ensure_ascii=False)}\n")


def convert_arc(arc: Path, out: Path) -> int:
    """Write the records of an ARC file as a WARC (gzip, one member per record, digests
    computed by warcio), the working copy replay tools read; returns the records written.
    For an ARC that checked clean only: a broken one is kept and indexed as it is."""
    from warcio.warcwriter import WARCWriter

    count = 0
    with open(arc, "rb") as src, open(out, "wb") as dst:
        writer = WARCWriter(dst, gzip=True)
        for record in BoundedArchiveIterator(src, arc2warc=True):
            writer.write_record(record)
            count += 1
        dst.flush()
        os.fsync(dst.fileno())
    return count


def sort_index(unsorted: Path, out: Path) -> None:
    """Sort CDXJ lines by key and time (byte order, as replay tools expect) with the system's
    ``sort``, which spills to disk: memory stays bounded whatever the number of records."""
    subprocess.run(["sort", "-o", str(out), str(unsorted)], check=True,
                   env={**os.environ, "LC_ALL": "C"})


class _Records:
    """The parse of one file's records, which may go on past a structure error."""

    def __init__(self, checked: CheckedFile, findings: _Findings, indexer: _Indexer | None
                 ) -> None:
        self.checked = checked
        self.findings = findings
        self.indexer = indexer
        self.types: Counter[str] = Counter()
        self.warcinfo: list[dict[str, Any]] = []
        self.whole_gzip = False  # the file is one gzip stream holding many records
        self.inflated: dict[str, Any] | None = None  # its decompressed bytes: name, hash, size

    def restart(self, findings: _Findings, index: Any, inflate_to: Path | None) -> None:
        """Forget what the first pass read (the first record of a whole-file gzip stream)
        before the file is read again, inflated; the index then names the inflated copy."""
        self.findings = findings
        self.types.clear()
        self.warcinfo.clear()
        self.checked.records = 0
        self.checked.pages = []
        if index is not None:
            index.seek(0)
            index.truncate()
        if self.indexer is not None:
            self.indexer.filename = inflate_to.name if inflate_to else ""
            if inflate_to is None:  # offsets into a stream nothing can seek to: no index
                self.indexer = None

    def parse(self, stream: BinaryIO, start: int, findings: _Findings | None = None, *,
              gzip: bool = False) -> int | None:
        """Parse records from ``stream`` (at file offset ``start``); a structure error ends
        the parse as a finding, and its offset is returned (None: read to the end).

        ``gzip``: the stream is known to be gzip members (a resynchronisation in a gzip
        file), so a member that cannot be inflated is damaged, never read as plain bytes."""
        findings = findings or self.findings
        checked = self.checked
        # 1 MiB blocks: warcio's 16 KiB default spends more time in Python than in hashing.
        it = _Iterator(stream, findings, check_digests=True, arc2warc=True, block_size=CHUNK)
        it.reader.gzip_known = gzip
        last_start = last_end = start
        unbounded: int | None = None  # the last record read had no usable length
        try:
            for record in it:
                last_start = _check_record(record, it, checked, findings, self.types,
                                           self.warcinfo)
                if self.indexer is not None:
                    self.indexer.add(record, last_start, it.get_record_length())
                last_end = it.offset
                length = record.rec_headers.get_header("Content-Length")
                unbounded = None if length and length.strip().isdigit() else last_start
        except (PackageError, ArchiveLoadFailed, zlib.error, EOFError, OSError, ValueError,
                KeyError, IndexError, UnicodeError) as exc:
            what = " ".join(str(exc).split()) or type(exc).__name__
            code = ("gzip-bomb" if "expand past" in what
                    else "damaged-gzip-member" if "damaged gzip member" in what
                    else "long-line" if "longer than" in what
                    else "not-multi-member-gzip" if "non-chunked gzip" in what
                    else "truncated-gzip" if "compressed data" in what
                    else "structure-error")
            if code == "not-multi-member-gzip" and start == 0 and findings is self.findings \
                    and not self.whole_gzip:
                # A gzip member holding many records (the whole file as one gzip stream,
                # most often): the file is read again, inflated (see check_warc).
                self.whole_gzip = True
                return None
            if code == "not-multi-member-gzip":
                what = ("a gzip member holding many records, not one gzip member per record "
                        "(replay tools cannot seek into it)")
                findings.add(Severity.ERROR, code, what, f"offset {start}")
                return None
            where = max(it.offset, last_end, start)
            findings.add(Severity.ERROR, code,
                         f"unreadable after {checked.records} records: {what}; the file is "
                         "kept whole, and read on from the next record found", f"offset {where}")
            return where
        if it.truncated_at is not None:
            findings.add(Severity.ERROR, "truncated-gzip",
                         "the file ends inside a gzip member (cut short): the record at this "
                         f"offset is incomplete (the file ends at {it.truncated_at})",
                         f"offset {last_start}")
        # A last record without a usable length was read to the end of the file: records
        # after it may be inside it. Read on from the next record start found.
        return unbounded

    def resume(self, source: Path, failed: int) -> None:
        """Read on after a structure error, from the next record start found (a gzip member,
        or a ``WARC/1.`` line): nothing after a damaged record is lost. A false start (bytes
        that only look like one) is skipped; at most :data:`MAX_RESYNC` are tried."""
        with open(source, "rb") as fh:
            gz = fh.read(2) == b"\x1f\x8b"
        magic = b"\x1f\x8b\x08" if gz else b"\nWARC/1."
        position = failed + 1
        for _ in range(MAX_RESYNC):
            found = _find(source, magic, position)
            if found is None:
                return
            start = found if gz else found + 1
            trial = _Findings(self.findings.name)
            before = self.checked.records
            with open(source, "rb") as fh:
                fh.seek(start)
                again = self.parse(fh, start, trial, gzip=gz)
            if self.checked.records == before:  # a false start: nothing read from there
                position = found + 1
                continue
            self.findings.add(Severity.WARNING, "resynchronised",
                              f"read on from offset {start}, the next record found "
                              f"({start - failed} bytes skipped)", f"offset {failed}")
            for finding in trial.kept:
                self.findings.add(finding.severity, finding.code, finding.message,
                                  finding.where)
            if again is None:
                return
            failed, position = again, again + 1

    def done(self) -> None:
        if not self.checked.records:
            self.findings.add(Severity.ERROR, "no-records", "no record could be read",
                              "offset 0")
        self.checked.metadata = {"format": self.checked.kind,
                                 "record_types": dict(self.types), "warcinfo": self.warcinfo,
                                 **({"inflated": self.inflated} if self.inflated else {})}


class _Inflating(io.RawIOBase):
    """The decompressed bytes of one gzip member of a file, read from ``raw`` a block at a time
    and copied to ``copy`` as they come (:meth:`next_member` goes on to the member after it).
    Reading stops at the end of each member, so that no record read from it can run into the
    next one. Expansion is bounded as for per-record members (a gzip bomb stops it); a broken
    or cut-short member ends it, with ``problem`` saying how. ``tell()`` is the offset in the
    decompressed bytes of the whole file; ``raw_bytes`` the offset in the file read so far,
    ``member_start`` where the member being read starts in it."""

    def __init__(self, raw: BinaryIO, copy: BinaryIO | None, sha256: Any = None, *,
                 raw_start: int = 0, position: int = 0) -> None:
        super().__init__()
        self.raw, self.copy = raw, copy
        # of the decompressed bytes, for the derived copy (one across the members)
        self.sha256 = sha256 if sha256 is not None else hashlib.sha256()
        self.inflater = zlib.decompressobj(31)
        self.position = position
        self.raw_bytes = self.member_start = raw_start
        self.feed = b""  # raw bytes read but not yet given to the inflater
        self.problem: tuple[str, str] | None = None  # (finding code, what happened)

    def readable(self) -> bool:
        return True

    def _input(self) -> bytes:
        data = self.raw.read(CHUNK)
        self.raw_bytes += len(data)
        return data

    def read(self, size: int = -1) -> bytes:
        size = size if size and size > 0 else CHUNK
        while self.problem is None and not self.inflater.eof:
            data = self.inflater.unconsumed_tail or self.feed or self._input()
            self.feed = b""
            if not data:
                self.problem = ("truncated-gzip", "the file ends inside its gzip stream "
                                f"(cut short) after {self.position} decompressed bytes")
                break
            try:
                block = self.inflater.decompress(data, size)
            except zlib.error as exc:
                self.problem = ("damaged-gzip-member", f"a damaged gzip member: compressed "
                                f"data broken after {self.position} decompressed bytes: {exc}")
                break
            if not block:
                continue
            self.position += len(block)
            if self.position > EXPANSION_ALLOWANCE + MAX_EXPANSION * self.raw_bytes:
                self.problem = ("gzip-bomb", f"{self.raw_bytes} compressed bytes expand past "
                                f"{self.position} (more than {MAX_EXPANSION}:1): not inflated "
                                "further")
                break
            self.sha256.update(block)
            if self.copy is not None:
                self.copy.write(block)
            return block
        return b""

    def next_member(self) -> bool:
        """Go on to the gzip member after the one read to its end (False: none follows, or
        the last one did not end well)."""
        if self.problem is not None or not self.inflater.eof:
            return False
        data = self.inflater.unused_data or self._input()
        if not data:
            return False
        self.member_start = self.raw_bytes - len(data)
        self.inflater, self.feed = zlib.decompressobj(31), data
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def tell(self) -> int:
        return self.position


def _next_member(source: Path, position: int) -> int | None:
    """The offset of the next gzip member at or after ``position`` that starts to inflate
    (bytes that only look like a gzip header are skipped; at most :data:`MAX_RESYNC` tried)."""
    for _ in range(MAX_RESYNC):
        found = _find(source, b"\x1f\x8b\x08", position)
        if found is None:
            return None
        with open(source, "rb") as fh:
            fh.seek(found)
            head = fh.read(64 * 1024)
        try:
            zlib.decompressobj(31).decompress(head, 1)
        except zlib.error:
            position = found + 1
            continue
        return found
    return None


def _inflated_pass(records: _Records, source: Path, inflate_to: Path | None,
                   findings: _Findings) -> None:
    """Read a whole-file gzip WARC/ARC again, inflated, so that every record is checked,
    counted and (with ``inflate_to``) indexed in the decompressed copy written there.

    Each gzip member is parsed on its own: a record never runs past the end of its member.
    A damaged member is an error at its offset, and the reading goes on at the next member."""
    copy = open(inflate_to, "wb") if inflate_to else None  # noqa: SIM115 - closed below
    try:
        with open(source, "rb") as raw:
            stream = _Inflating(raw, copy)
            while True:
                failed = records.parse(stream, stream.position)
                while stream.read(CHUNK):  # the rest of the member, so the copy is whole
                    pass
                if failed is not None and inflate_to is not None and copy is not None:
                    copy.flush()
                    records.resume(inflate_to, failed)
                if stream.problem is None:
                    if stream.next_member():
                        continue
                    break
                code, what = stream.problem
                damaged = code == "damaged-gzip-member"
                findings.add(Severity.ERROR, code, what,
                             f"offset {stream.member_start if damaged else stream.raw_bytes}")
                found = _next_member(source, stream.member_start + 1) if damaged else None
                if found is None:
                    break
                findings.add(Severity.WARNING, "resynchronised",
                             f"read on from offset {found}, the next gzip member found "
                             f"({found - stream.member_start} bytes skipped)",
                             f"offset {stream.member_start}")
                raw.seek(found)
                stream = _Inflating(raw, copy, stream.sha256, raw_start=found,
                                    position=stream.position)
        if copy is not None:
            copy.flush()
            os.fsync(copy.fileno())
    finally:
        if copy is not None:
            copy.close()
    how = (f"the inflated copy {inflate_to.name} (derived) is what the index points at"
           if inflate_to else "it cannot be indexed for replay as it is")
    findings.add(Severity.WARNING, "whole-file-gzip",
                 f"the file is one gzip stream holding {records.checked.records} records, not one "
                 f"gzip member per record (replay tools cannot seek into it): every record was "
                 f"read from the decompressed stream; {how}", "offset 0")
    records.checked.inflated = inflate_to
    records.inflated = {"file": inflate_to.name if inflate_to else None,
                        "sha256": stream.sha256.hexdigest(), "size": stream.position}


def _find(source: Path, magic: bytes, position: int) -> int | None:
    """The offset of the next ``magic`` at or after ``position`` (None: none left)."""
    with open(source, "rb") as fh:
        fh.seek(position)
        carry = b""
        base = position
        while block := fh.read(CHUNK):
            data = carry + block
            at = data.find(magic)
            if at >= 0:
                return base - len(carry) + at
            carry = data[-(len(magic) - 1):]
            base += len(block)
    return None


def _buffered(reader: Any) -> int:
    """How much to ask of warcio's reader so that one read is served from one block: the rest
    of the block it holds (a new block is read first when none is left). Asking for more makes
    it join pieces of two blocks, a copy of every byte of the record for nothing."""
    if reader.empty():
        reader._fillbuff()  # noqa: SLF001 - warcio has no public way to read the next block
    left = reader.buff_size - reader.buff.tell() if reader.buff is not None else 0
    return left if left > 0 else CHUNK


def _check_record(record: Any, it: _Iterator, checked: CheckedFile, findings: _Findings,
                  types: Counter[str], warcinfo: list[dict[str, Any]]) -> int:
    """Read one record to its end (digests are checked as it streams) and note what it is;
    returns its offset."""
    headers = record.rec_headers
    rec_type = record.rec_type or "?"
    keep = rec_type == "warcinfo" and len(warcinfo) < MAX_WARCINFO
    kept = bytearray()
    stream = record.raw_stream
    while chunk := stream.read(_buffered(it.reader)):
        if keep and len(kept) < MAX_WARCINFO_BYTES:
            kept += chunk[:MAX_WARCINFO_BYTES - len(kept)]
    offset = it.get_record_offset()
    where = f"offset {offset}"
    checked.records += 1
    types[rec_type] += 1
    uri = headers.get_header("WARC-Target-URI")
    label = f"{rec_type} record" + (f" of {uri}" if uri else "")
    for problem in record.digest_checker.problems:
        text = str(problem)
        code = ("payload-digest-mismatch" if text.startswith("payload")
                else "block-digest-mismatch" if text.startswith("block")
                else "digest-unreadable")
        findings.add(Severity.ERROR, code, f"{label}: {text}", where)
    length = headers.get_header("Content-Length")
    if length is None or not length.strip().isdigit():
        findings.add(Severity.ERROR, "malformed-record",
                     f"{label}: invalid record length {length!r}", where)
    if checked.kind == "warc":
        if rec_type in DIGESTED_TYPES and not headers.get_header("WARC-Block-Digest"):
            findings.add(Severity.WARNING, "missing-block-digest",
                         f"{label} has no WARC-Block-Digest: its content cannot be checked "
                         "record by record (the file's hash still covers it)", where)
        if rec_type == "response" and record.http_headers is not None \
                and not headers.get_header("WARC-Payload-Digest"):
            findings.add(Severity.WARNING, "missing-payload-digest",
                         f"{label} has no WARC-Payload-Digest", where)
    if keep:
        warcinfo.append({"offset": offset, "record_id": headers.get_header("WARC-Record-ID"),
                         "date": headers.get_header("WARC-Date"),
                         "filename": headers.get_header("WARC-Filename"),
                         **({"fields": _warc_fields(bytes(kept))} if checked.kind == "warc"
                            else {"text": bytes(kept).decode("utf-8", "backslashreplace")})})
    page = _page(record, uri, headers.get_header("WARC-Date"))
    if page is not None:
        if len(checked.pages) < MAX_PAGES:
            checked.pages.append(page)
        elif not findings.counts["pages-capped"]:
            findings.add(Severity.INFO, "pages-capped",
                         f"more than {MAX_PAGES} pages: the page list holds the first "
                         f"{MAX_PAGES} (the index still holds every record)")
    return offset


def _page(record: Any, uri: str | None, date: str | None) -> dict[str, Any] | None:
    """A page of the page list: a successful HTML response to an http(s) URL."""
    if record.rec_type != "response" or not uri or not uri.startswith(("http://", "https://")):
        return None
    http = record.http_headers
    if http is None:
        return None
    status = http.get_statuscode() or ""
    content_type = (http.get_header("Content-Type") or "").split(";")[0].strip().lower()
    if not status.startswith("2") or content_type not in PAGE_TYPES:
        return None
    return {"url": uri, "ts": date, "title": ""}


def _warc_fields(block: bytes) -> dict[str, Any]:
    """``application/warc-fields`` (``name: value`` lines) as a dict; a name seen twice keeps
    every value in a list. Bytes that are not UTF-8 are kept escaped, never dropped."""
    fields: dict[str, Any] = {}
    for line in block.decode("utf-8", "backslashreplace").splitlines():
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            continue
        name, value = name.strip(), value.strip()
        if name in fields:
            before = fields[name]
            fields[name] = [*before, value] if isinstance(before, list) else [before, value]
        else:
            fields[name] = value
    return fields
