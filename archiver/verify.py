"""Verification: re-hash every file of a package and every WARC record, check the custody chain.

The report lists, item by item, what was checked and what was found, so a person can read why
a package is (or is not) intact.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from archiver.custody import CustodyEvent, chain_problems
from archiver.hashing import sha256_stream
from archiver.warcreader import check_warc_stream

if TYPE_CHECKING:
    from archiver.proof import ProofOptions

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
    # What to call the outcome when INTACT/MISMATCH would mislead (a FAILED capture).
    verdict: str | None = None

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
            "verdict": self.verdict,
            "checks": [c.__dict__ for c in self.checks],
        }


def verify_package(stream: BinaryIO, subject: str, report: VerificationReport | None = None,
                   proof: ProofOptions | None = None) -> VerificationReport:
    """Check a WACZ from a seekable stream: its zip, datapackage digests, files, WARC records,
    and (with ``proof``) its signature and timestamp tokens."""
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
        digest: dict[str, Any] = {}
        if "datapackage-digest.json" in names:
            try:
                digest = json.loads(wacz.read("datapackage-digest.json"))
                expected = str(digest.get("hash", ""))
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
        if proof is not None:
            _check_proof(wacz, datapackage, digest, actual, report, proof)
    return report


def _check_proof(wacz: zipfile.ZipFile, datapackage: dict[str, Any], digest: dict[str, Any],
                 datapackage_hash: str, report: VerificationReport, proof: ProofOptions
                 ) -> None:
    """The signature of ``datapackage.json`` and every timestamp token, item by item."""
    from archiver.proof import capture_window, check_token, verify_signed_data

    context = datapackage.get("isnad") or {}
    signed = digest.get("signedData")
    if signed or (context.get("proof") or {}).get("signing"):
        result = verify_signed_data(signed, datapackage_hash, proof.trusted_keys)
        report.add("signature of datapackage.json", result.ok,
                   "; ".join(result.problems or result.checks))
        if signed and signed.get("created") != datapackage.get("created"):
            report.add("signature date is the package's creation date", False,
                       f"signed {signed.get('created')}, created {datapackage.get('created')}")
    else:
        report.add("signature of datapackage.json", True, "the package is not signed")
    window = capture_window(context)
    hashes = {r.get("path"): str(r.get("hash", "")).partition(":")[2]
              for r in datapackage.get("resources", [])}
    hashes["datapackage.json"] = datapackage_hash.partition(":")[2]
    entries = [e for e in (context.get("proof") or {}).get("timestamps", [])
               if e.get("state") == "stamped" and e.get("subject") != "datapackage.json"]
    entries += digest.get("timestamps", [])
    for entry in entries:
        subject, tsa = entry.get("subject"), entry.get("tsa")
        name = f"timestamp of {subject} by {tsa}"
        try:
            token = (base64.b64decode(entry["token"], validate=True) if "token" in entry
                     else wacz.read(entry.get("path", "")))
        except (KeyError, ValueError, zipfile.BadZipFile, OSError) as exc:
            report.add(name, False, f"token unreadable: {exc}")
            continue
        if subject not in hashes:
            report.add(name, False, f"{subject} is not in the package")
            continue
        ok, detail = check_token(proof, tsa, token, hashes[subject], window)
        report.add(name, ok, detail)
    pending = [e for e in (context.get("proof") or {}).get("timestamps", [])
               if e.get("state") == "pending"]
    for entry in pending:
        report.add(f"timestamp of {entry.get('subject')} by {entry.get('tsa')}", True,
                   "pending when packaged (the TSA failed); a late token is kept beside the "
                   "package once `isnad timestamp --pending` obtains it")


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


def verify_package_file(path: str | Path, proof: ProofOptions | None = None
                        ) -> VerificationReport:
    """Verify a WACZ on disk (``isnad verify PATH.wacz``)."""
    path = Path(path)
    report = VerificationReport(str(path))
    with open(path, "rb") as fh:
        digest, size = sha256_stream(fh)
        report.add("package read", True, f"sha256 {digest}, {size} bytes")
        fh.seek(0)
        return verify_package(fh, str(path), report, proof)


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
