"""Reading WARC and ARC files, with every record's digests checked as it streams past."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from archiver.errors import PackageError


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
    length: int
    digest_ok: bool | None  # None: the record carries no digest to check
    problems: list[str] = field(default_factory=list)


@dataclass
class WarcCheck:
    """Result of reading a whole WARC/ARC file."""

    name: str
    records: list[RecordSummary]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def iter_records(stream: BinaryIO, name: str = "<stream>") -> Iterator[RecordSummary]:
    """Yield a summary of each record, reading (and digest-checking) payloads in chunks."""
    try:
        it = ArchiveIterator(stream, check_digests=True, arc2warc=True)
        for record in it:
            content = record.content_stream()
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
            )
    except ArchiveLoadFailed as exc:
        raise PackageError(f"{name}: not a readable WARC/ARC file: {exc}".strip()) from exc


def check_warc(path: str | Path) -> WarcCheck:
    """Read every record of a WARC/ARC file and collect digest problems."""
    path = Path(path)
    with open(path, "rb") as fh:
        return check_warc_stream(fh, path.name)


def check_warc_stream(stream: BinaryIO, name: str) -> WarcCheck:
    """Like :func:`check_warc` for an open stream (for example a member of a WACZ)."""
    records: list[RecordSummary] = []
    problems: list[str] = []
    try:
        for summary in iter_records(stream, name):
            records.append(summary)
            if summary.digest_ok is False or summary.problems:
                what = "digest mismatch" if summary.digest_ok is False else "malformed record"
                problems.append(
                    f"{name}: record {summary.record_id} ({summary.uri}) at offset "
                    f"{summary.offset}: {what} ({'; '.join(summary.problems)})"
                )
    except PackageError as exc:
        problems.append(str(exc))
    except Exception as exc:  # noqa: BLE001 - any decoding failure is a finding, not a crash
        problems.append(f"{name}: unreadable after {len(records)} records: {exc}")
    return WarcCheck(name=name, records=records, problems=problems)
