"""Verification: re-hash every file of a package and every WARC record, check the custody chain.

The report lists, item by item, what was checked and what was found, so a person can read why
a package is (or is not) intact.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from archiver.custody import CustodyEvent, chain_problems
from archiver.hashing import sha256_stream
from archiver.warcreader import check_warc_stream

DIGEST_FILES = ("datapackage.json", "datapackage-digest.json")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class VerificationReport:
    subject: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def mismatches(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def add(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks.append(Check(name, ok, detail))

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "ok": self.ok,
            "checks": [c.__dict__ for c in self.checks],
        }


def verify_package(stream: BinaryIO, subject: str, report: VerificationReport | None = None
                   ) -> VerificationReport:
    """Check a WACZ from a seekable stream: its zip, datapackage digests, files, WARC records."""
    report = report or VerificationReport(subject)
    try:
        wacz = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError) as exc:
        report.add("package is a readable WACZ (zip)", False, str(exc))
        return report
    with wacz:
        names = set(wacz.namelist())
        try:
            datapackage_bytes = wacz.read("datapackage.json")
            datapackage = json.loads(datapackage_bytes)
        except (KeyError, ValueError, zipfile.BadZipFile, OSError) as exc:
            report.add("datapackage.json readable", False, str(exc))
            return report
        actual = "sha256:" + hashlib.sha256(datapackage_bytes).hexdigest()
        if "datapackage-digest.json" in names:
            try:
                expected = str(json.loads(wacz.read("datapackage-digest.json")).get("hash", ""))
            except (ValueError, zipfile.BadZipFile, OSError) as exc:
                expected = f"unreadable ({exc})"
            report.add(
                "datapackage.json matches datapackage-digest.json",
                expected == actual,
                f"expected {expected}, found {actual}" if expected != actual else actual,
            )
        else:
            # Optional in WACZ; every package Isnad writes has one.
            report.add("datapackage-digest.json", True,
                       f"absent (optional in WACZ): datapackage.json is {actual}, unsigned")
        listed = set()
        for resource in datapackage.get("resources", []):
            path = resource.get("path", "")
            listed.add(path)
            _check_member(wacz, resource, report)
        unlisted = sorted(names - listed - set(DIGEST_FILES))
        report.add(
            "every file in the package is listed in datapackage.json",
            not unlisted,
            ("unlisted: " + ", ".join(unlisted)) if unlisted else f"{len(listed)} files",
        )
        for name in sorted(n for n in names if n.startswith("archive/")):
            try:
                with wacz.open(name) as member:
                    result = check_warc_stream(member, name)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                report.add(f"{name}: WARC record digests", False, str(exc))
                continue
            report.add(
                f"{name}: WARC record digests",
                result.ok,
                "; ".join(result.problems) if result.problems
                else f"{len(result.records)} records, every digest matches",
            )
    return report


def _check_member(wacz: zipfile.ZipFile, resource: dict[str, Any], report: VerificationReport
                  ) -> None:
    path = resource.get("path", "")
    if "hash" in resource:  # WACZ 1.1: "hash": "sha256:<hex>", "bytes": N
        algorithm, _, want = str(resource["hash"]).partition(":")
        expected_size = resource.get("bytes")
    else:  # WACZ 1.0: "hashing": "sha256", "stats": {"hash": "<hex>", "bytes": N}
        stats = resource.get("stats", {})
        algorithm, want, expected_size = resource.get("hashing", ""), stats.get("hash"), \
            stats.get("bytes")
    name = f"{path}: sha256 and size"
    if algorithm != "sha256":
        report.add(name, False, f"hash algorithm {algorithm!r} is not sha256")
        return
    try:
        with wacz.open(path) as member:
            got, size = sha256_stream(member)
    except KeyError:
        report.add(name, False, "listed in datapackage.json but missing from the package")
        return
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        # zipfile raises BadZipFile on a CRC error: the stored bytes were altered.
        report.add(name, False, f"unreadable: {exc}")
        return
    ok = got == want and size == expected_size
    detail = got if ok else f"expected {want} ({expected_size} bytes), found {got} ({size})"
    report.add(name, ok, detail)


def verify_package_file(path: str | Path) -> VerificationReport:
    """Verify a WACZ on disk (``isnad verify PATH.wacz``)."""
    path = Path(path)
    report = VerificationReport(str(path))
    with open(path, "rb") as fh:
        digest, size = sha256_stream(fh)
        report.add("package read", True, f"sha256 {digest}, {size} bytes")
        fh.seek(0)
        return verify_package(fh, str(path), report)


def verify_custody(
    report: VerificationReport,
    catalog_events: list[CustodyEvent],
    package_sha256: str | None,
) -> None:
    """Check the custody chain in the catalog and the package hash it names."""
    problems = chain_problems(catalog_events)
    report.add(
        "custody chain in the catalog",
        bool(catalog_events) and not problems,
        "; ".join(problems) if problems else f"{len(catalog_events)} events, chain intact",
    )
    if package_sha256:
        packaged = [e for e in catalog_events if e.action == "packaged"]
        ok = bool(packaged) and packaged[-1].object_sha256 == package_sha256
        report.add(
            "package hash matches the custody log",
            ok,
            package_sha256 if ok else "the 'packaged' event names a different hash",
        )
