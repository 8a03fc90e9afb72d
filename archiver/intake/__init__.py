"""Material received from elsewhere (issue 14, batch import): what each file is, what was found
when it was checked on arrival, and the hashes computed and declared.

The checkers (:mod:`archiver.intake.warc`, :mod:`archiver.intake.wacz`,
:mod:`archiver.intake.media`) only read and report: they never alter a file, and a problem is a
:class:`Finding`, never an exception that loses the rest of the import. The import use case
(``isnad.app.imports``) packages, stores and records what they return.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any


class Severity(StrEnum):
    """How much a finding weighs: an ``error`` makes the import PARTIAL (the material is kept);
    a ``warning`` is recorded for a person to read; ``info`` is a plain fact (e.g. a domain
    signature that cannot be verified offline)."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Finding:
    """One thing found when checking received material, in words a person can act on.

    ``code`` is a short stable name (``payload-digest-mismatch``, ``declared-hash-mismatch``,
    ``truncated-gzip``…) for programs; ``message`` is one line for people; ``file`` is the name as
    received (relative to what was handed over); ``where`` says where in it (``offset 1234``,
    ``member pages/pages.jsonl``, ``row 5``)."""

    severity: Severity
    code: str
    message: str
    file: str | None = None
    where: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"severity": str(self.severity), "code": self.code, "message": self.message,
                "file": self.file, "where": self.where}


@dataclass
class CheckedFile:
    """A received file as checked on arrival.

    ``kind``: ``warc``, ``arc``, ``wacz``, ``media``, ``manifest`` or ``urls``. ``hashes``: the
    digests computed from the bytes as received (always ``sha256``, plus every algorithm the
    provider declared, hex lower case); ``declared``: what the provider said (same keys).
    ``metadata``: the source's own description (warcinfo records, ``datapackage.json``, the CSV
    row), kept as found. ``records``: WARC/ARC records, WACZ resources, or 1 for a media file.
    ``pages``: pages found (``{"url", "ts", "title"}``), for listing and replay.
    ``inflated``: for a WARC/ARC that is one gzip stream holding many records (not one gzip
    member per record), the decompressed copy written beside it (a derived file: what its
    index points at, since no offset into the one stream can be seeked to); None otherwise.
    """

    path: Path
    name: str
    kind: str
    size: int = 0
    hashes: dict[str, str] = field(default_factory=dict)
    declared: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    records: int = 0
    pages: list[dict[str, Any]] = field(default_factory=list)
    inflated: Path | None = None

    @property
    def ok(self) -> bool:
        """No error was found (warnings and facts do not count)."""
        return not any(f.severity == Severity.ERROR for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "size": self.size,
                "hashes": dict(self.hashes), "declared": dict(self.declared),
                "metadata": self.metadata, "records": self.records, "pages": len(self.pages),
                "findings": [f.to_dict() for f in self.findings]}
