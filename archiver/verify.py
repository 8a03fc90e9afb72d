"""Verification: re-hash every file of a package and every WARC record, check its proof and
the custody chain.

The report lists, item by item, what was checked and what was found, so a person can read why
a package is (or is not) intact. A package is read as hostile input: whatever is wrong with it
(a broken zip, a member that expands without end, a malformed ``datapackage.json``) becomes a
finding in its report, never an exception that hides the report.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from archiver.custody import CustodyEvent, chain_problems
from archiver.errors import PackageError
from archiver.hashing import ThreadedHash
from archiver.states import CustodyAction, ProofState
from archiver.warcreader import check_warc_stream

if TYPE_CHECKING:
    from archiver.proof import ProofOptions

DIGEST_FILES = ("datapackage.json", "datapackage-digest.json")
# Members read whole into memory are bounded; everything else is streamed.
MAX_JSON_BYTES = 32 * 1024 * 1024
MAX_TOKEN_BYTES = 1024 * 1024
# A deflated zip member declaring more than this ratio (after a first allowance) is not
# inflated: WACZ stores WARCs and media as they are, and JSON/CDXJ compress far less.
MAX_ZIP_EXPANSION = 200
ZIP_EXPANSION_ALLOWANCE = 1024 * 1024
WARC_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz")
UNSIGNED = "unsigned: integrity only, no proof of origin"
# Reads of large members: few calls, each hashed in one piece by the worker threads.
READ_SIZE = 4 * 1024 * 1024

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
    # The package file's SHA-256 and size as this verification read it (verify_package_file).
    package_sha256: str | None = None
    package_size: int | None = None

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
                   proof: ProofOptions | None = None, *,
                   recheck_received: bool = True) -> VerificationReport:
    """Check a WACZ from a seekable stream: its zip, datapackage digests, files, WARC records,
    its signature and timestamp tokens (against ``proof``; without it, nothing is trusted).

    ``recheck_received=False`` (the self-verification of a package just made from received
    files): a received WARC whose bytes are, by SHA-256, those checked record by record on
    arrival is not parsed again; ``isnad verify`` and audits leave it True and parse everything.

    Never raises for anything found in the package: each problem is a failed check.
    """
    from archiver.proof import ProofOptions

    report = report or VerificationReport(subject)
    try:
        wacz = zipfile.ZipFile(stream)
    except Exception as exc:  # noqa: BLE001 - whatever a damaged zip raises is a finding
        report.add("package is a readable WACZ (zip)", False, _why(exc))
        return report
    try:
        with wacz:
            _verify_zip(wacz, report, proof or ProofOptions(), recheck_received)
    except Exception as exc:  # noqa: BLE001 - one damaged package must not hide the others
        report.add("package could be read to the end", False, _why(exc))
    return report


def _why(exc: BaseException) -> str:
    # Our own and zipfile's messages speak for themselves; others need their kind (zlib...).
    if isinstance(exc, (PackageError, zipfile.BadZipFile)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _verify_zip(wacz: zipfile.ZipFile, report: VerificationReport, proof: ProofOptions,
                recheck_received: bool = True) -> None:
    readable = _check_members(wacz.infolist(), report)
    datapackage_bytes, datapackage = _read_json(wacz, "datapackage.json", readable, report)
    if datapackage is None:
        return
    if not isinstance(datapackage, dict):
        report.add("datapackage.json is a JSON object", False,
                   f"found a {type(datapackage).__name__}")
        return
    actual = "sha256:" + hashlib.sha256(datapackage_bytes).hexdigest()
    digest: dict[str, Any] = {}
    if "datapackage-digest.json" in wacz.NameToInfo:
        _, found = _read_json(wacz, "datapackage-digest.json", readable, report)
        digest = found if isinstance(found, dict) else {}
        expected = str(digest.get("hash", "")) if digest else "unreadable"
        report.add(
            "datapackage.json matches datapackage-digest.json",
            expected == actual,
            f"expected {expected}, found {actual}" if expected != actual else actual,
        )
    else:
        # Optional in WACZ; every package Isnad writes has one (the signature decides below).
        report.add("datapackage-digest.json", True,
                   f"absent (optional in WACZ): datapackage.json is {actual}")
    resources = _resources(datapackage, report)
    received = _received_files(datapackage)
    warcs = [n for n in sorted(readable) if not n.endswith("/") and _is_warc(wacz, n)]
    if not warcs:
        report.add("the package holds a WARC", False, "no WARC or ARC file in the package")
    # Members are read in the order they lie in the file (a package's own verification then
    # reads it once, see HashedInOrder), a WARC once for its records' digests and its member
    # hash together; the findings are reported in the order of datapackage.json, the WARCs'
    # record checks after the members'.
    warc_report = VerificationReport(report.subject)
    warc_hashes: dict[str, tuple[str, int] | None] = {}
    found: dict[int, VerificationReport] = {}
    listed: set[str] = set()
    offsets = {info.filename: info.header_offset for info in wacz.infolist()}
    numbered = list(enumerate(resources))
    for number, resource in sorted(numbered, key=lambda n: offsets.get(n[1]["path"], -1)):
        path = resource["path"]
        found[number] = one = VerificationReport(report.subject)
        if path in listed:
            one.add(f"{path}: listed once in datapackage.json", False, "listed twice")
            continue
        listed.add(path)
        as_received = not recheck_received and path in received and path not in warc_hashes
        if path in warcs and path not in warc_hashes and not as_received:
            warc_hashes[path] = _check_warc(wacz, path, warc_report, received)
        got = _check_member(wacz, resource, readable, one, warc_hashes.get(path))
        if path in warcs and as_received:
            warc_hashes[path] = _as_received(wacz, path, got, warc_report, received)
    for number, _ in numbered:
        report.checks.extend(found[number].checks)
    unlisted = sorted(set(wacz.NameToInfo) - listed - set(DIGEST_FILES))
    report.add(
        "every file in the package is listed in datapackage.json",
        not unlisted,
        ("unlisted: " + ", ".join(unlisted)) if unlisted else f"{len(listed)} files",
    )
    for name in warcs:
        if name not in warc_hashes:  # a WARC datapackage.json does not list
            warc_hashes[name] = _check_warc(wacz, name, warc_report, received)
    report.checks.extend(check for name in warcs for check in warc_report.checks
                         if check.name.startswith(f"{name}: "))
    _check_proof(wacz, datapackage, digest, actual, readable, report, proof)


def _unsafe_name(name: str) -> str | None:
    """Why a member name may not be accepted, or None: a WACZ holds relative paths only."""
    if not name:
        return "empty name"
    if "\\" in name or "\x00" in name:
        return "backslash or NUL in the name"
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return "absolute path"
    parts = name.removesuffix("/").split("/")
    if ".." in parts:
        return "climbs out of the package with '..'"
    if "" in parts or "." in parts:
        return "empty or '.' path segment"
    return None


def _check_members(infos: list[zipfile.ZipInfo], report: VerificationReport) -> set[str]:
    """Names, flags and sizes of the zip's members; returns the names safe to read."""
    readable: set[str] = set()
    refused: list[str] = []
    seen: set[str] = set()
    duplicates: set[str] = set()
    for info in infos:
        name = info.filename
        if name in seen:
            duplicates.add(name)
        seen.add(name)
        why = _unsafe_name(name)
        if why is None and info.flag_bits & 0x1:
            why = "encrypted"
        if why is None and info.compress_type != zipfile.ZIP_STORED and info.file_size > \
                ZIP_EXPANSION_ALLOWANCE + MAX_ZIP_EXPANSION * info.compress_size:
            why = (f"declares {info.file_size} bytes from {info.compress_size} compressed "
                   f"(more than {MAX_ZIP_EXPANSION}:1), not inflated")
        if why is None:
            readable.add(name)
        else:
            refused.append(f"{name!r}: {why}")
    report.add("member names are safe, sizes plausible", not refused,
               "; ".join(refused) if refused else f"{len(infos)} members")
    if duplicates:
        report.add("member names are unique", False,
                   "more than one member named " + ", ".join(sorted(duplicates)))
    return readable


def _read_bounded(wacz: zipfile.ZipFile, name: str, limit: int) -> bytes:
    info = wacz.getinfo(name)
    if info.file_size > limit:
        raise PackageError(f"{info.file_size} bytes, more than the {limit} bytes accepted")
    with wacz.open(info) as member:
        data = member.read(limit + 1)
    if len(data) > limit:
        raise PackageError(f"more than the {limit} bytes accepted")
    return data


def _read_json(wacz: zipfile.ZipFile, name: str, readable: set[str],
               report: VerificationReport) -> tuple[bytes, Any]:
    """A small JSON member, bounded; (b"", None) and a finding when it cannot be read."""
    if name not in readable:
        detail = "refused (see member names)" if name in wacz.NameToInfo else "missing"
        report.add(f"{name} readable", False, detail)
        return b"", None
    try:
        data = _read_bounded(wacz, name, MAX_JSON_BYTES)
    except (PackageError, ValueError, zipfile.BadZipFile, OSError, EOFError,
            zlib.error, NotImplementedError, RuntimeError) as exc:
        report.add(f"{name} readable", False, _why(exc))
        return b"", None
    try:
        return data, json.loads(data)
    except ValueError as exc:
        report.add(f"{name} readable", False, f"not valid JSON: {exc}")
    except RecursionError:
        report.add(f"{name} readable", False, "not readable JSON: nested too deeply")
    return b"", None


def _resources(datapackage: dict[str, Any], report: VerificationReport
               ) -> list[dict[str, Any]]:
    """The well-formed entries of ``resources``; a finding for each malformed one."""
    raw = datapackage.get("resources")
    if not isinstance(raw, list) or not raw:
        report.add("datapackage.json lists the package's files", False,
                   "no resources" if not raw else f"resources is a {type(raw).__name__}")
        return []
    good = []
    for number, resource in enumerate(raw):
        path = resource.get("path") if isinstance(resource, dict) else None
        why = "not an object with a path" if not isinstance(path, str) else _unsafe_name(path)
        if why:
            report.add(f"datapackage.json resource #{number}", False,
                       f"{why}: {json.dumps(path)[:200] if isinstance(path, str) else ''}"
                       .rstrip(": "))
        else:
            good.append(resource)
    return good


def _received_files(datapackage: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    """The WARC/ARC files of an imported package as they were on arrival: member path →
    (SHA-256, None) for a file kept as received, (SHA-256, what it came from) for a working
    copy made of one on arrival (a WACZ's WARC taken out, a gzip stream inflated), which holds
    the same records and so the same digest problems. From the signed capture context."""
    context = datapackage.get("isnad")
    imported = context.get("import") if isinstance(context, dict) else None
    files = imported.get("files") if isinstance(imported, dict) else None
    out: dict[str, tuple[str, str | None]] = {}
    for f in _dicts(files):
        if "member" not in f or "sha256" not in f:
            continue
        role = f.get("role", "original")
        sources = f.get("derived_from")
        if role == "original":
            out[str(f["member"])] = (str(f["sha256"]), None)
        elif role == "derived" and isinstance(sources, list) and sources:
            out[str(f["member"])] = (str(f["sha256"]), ", ".join(map(str, sources)))
    return out


def _check_warc(wacz: zipfile.ZipFile, name: str, report: VerificationReport,
                received: dict[str, tuple[str, str | None]]) -> tuple[str, int] | None:
    """A WARC/ARC member of the package has its record digests checked; returns its SHA-256
    and size from that same read (None: it could not be read to its end).

    A file received as it is (an import) may have had bad or missing digests on arrival, and
    must keep them: it is evidence as handed over. Its records are checked all the same, and
    the problems found are accepted when the file is byte for byte the one received (same
    SHA-256 as on arrival, recorded in the signed context): the same bytes have the same
    problems, listed in provenance.json. Any change to it fails here and in its hash check.
    A working copy made of it on arrival (same records, hash recorded there too) is accepted
    on the same terms."""
    try:
        with wacz.open(name) as member:
            # The member's SHA-256 and its records' block and payload digests are computed
            # in worker threads, at once, from the same buffers (ThreadedHash).
            reader = _HashedMember(member)
            result = check_warc_stream(reader, name, require_digests=True, threaded=True)
            hashed = reader.drain()
    except Exception as exc:  # noqa: BLE001 - a damaged member is a finding
        report.add(f"{name}: WARC record digests", False, _why(exc))
        return None
    if name in received and (result.problems or not result.records):
        want, source = received[name]
        same = hashed[0] == want
        what = (f"the one made on arrival from {source}" if source
                else "the one received")
        report.add(f"{name}: WARC record digests", same,
                   f"{len(result.records)} records; {len(result.problems)} problem(s) "
                   f"found, as on arrival: the file is {what}, byte for byte "
                   "(see metadata/provenance.json)" if same else
                   f"the file is not {what} ({want}): "
                   + "; ".join(result.problems[:20]))
        return hashed
    ok = result.ok and bool(result.records)
    undigested = sum(1 for r in result.records if not r.block_digest)
    detail = (f"{len(result.records)} records, every digest matches"
              + (f" ({undigested} warcinfo without a digest, covered by the file hash)"
                 if undigested else ""))
    report.add(f"{name}: WARC record digests", ok,
               "; ".join(result.problems) if result.problems
               else detail if result.records else "no records")
    return hashed


class _HashedMember(io.RawIOBase):
    """A zip member read by the WARC parser, hashed (SHA-256, in a worker thread) from the
    very bytes the parser reads.

    The member is read :data:`READ_SIZE` bytes at a time (the parser asks for 16 KiB): the
    member's hash, the package's (HashedInOrder) and zipfile's CRC-32 each take one large
    buffer per read instead of hundreds of small ones."""

    def __init__(self, member: BinaryIO) -> None:
        super().__init__()
        self._member = member
        self._digest = ThreadedHash(hashlib.sha256())
        self._buffer = memoryview(b"")
        self.position = 0  # bytes handed to the parser

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if not self._buffer:
            data = self._member.read(READ_SIZE)
            self._digest.update(data)
            self._buffer = memoryview(data)
        size = len(self._buffer) if size is None or size < 0 else size
        out = self._buffer[:size].tobytes()
        self._buffer = self._buffer[len(out):]
        self.position += len(out)
        return out

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def tell(self) -> int:
        return self.position

    def drain(self) -> tuple[str, int]:
        """Read what the parser left to the member's end; its SHA-256 and size."""
        while self.read(READ_SIZE):
            pass
        return self._digest.hexdigest(), self.position


def _as_received(wacz: zipfile.ZipFile, name: str, got: tuple[str, int] | None,
                 report: VerificationReport, received: dict[str, tuple[str, str | None]]
                 ) -> tuple[str, int] | None:
    """A received WARC in a package just made: found byte for byte as it was when its records
    were checked on arrival (``got``: its SHA-256 and size from this read), it is not parsed
    again; otherwise it is checked record by record here."""
    want, source = received[name]
    if got is None or got[0] != want:
        return _check_warc(wacz, name, report, received)
    what = f"the one made on arrival from {source}" if source else "the one received"
    report.add(f"{name}: WARC record digests", True,
               f"checked record by record on arrival; the file is {what}, byte for byte "
               f"(SHA-256 {want}, taken in this read)")
    return got


def _is_warc(wacz: zipfile.ZipFile, name: str) -> bool:
    """A WARC by its place or name, or by its first bytes (a WARC under another name)."""
    if name.startswith("archive/") or name.lower().endswith(WARC_SUFFIXES):
        return True
    try:
        with wacz.open(name) as member:
            head = member.read(4096)
        if head[:2] == b"\x1f\x8b":
            head = zlib.decompressobj(31).decompress(head, 64)
    except Exception:  # noqa: BLE001 - unreadable members are reported by their hash check
        return False
    return head.startswith((b"WARC/", b"filedesc://"))


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The objects of a JSON list (anything else in it, or a non-list, is ignored)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _check_proof(wacz: zipfile.ZipFile, datapackage: dict[str, Any], digest: dict[str, Any],
                 datapackage_hash: str, readable: set[str], report: VerificationReport,
                 proof: ProofOptions) -> None:
    """The signature of ``datapackage.json`` and every timestamp token, item by item.

    A package with an Isnad capture context must be signed, and timestamped by every TSA its
    (signed) context names; a foreign package without a signature is integrity only. Either
    unsigned kind fails unless ``proof.allow_unsigned``.
    """
    ours = "isnad" in datapackage
    context = datapackage.get("isnad") if isinstance(datapackage.get("isnad"), dict) else {}
    if ours and not context:
        report.add("Isnad capture context", False, "present but not a JSON object")
    _check_signature(datapackage, digest.get("signedData"), datapackage_hash, ours, report,
                     proof)
    hashes = {r.get("path"): str(r.get("hash", "")).partition(":")[2]
              for r in _dicts(datapackage.get("resources"))}
    hashes["datapackage.json"] = datapackage_hash.partition(":")[2]
    _check_timestamps(wacz, context, _dicts(digest.get("timestamps")), hashes, readable,
                      report, proof)


def _check_signature(datapackage: dict[str, Any], signed: Any, datapackage_hash: str,
                     ours: bool, report: VerificationReport, proof: ProofOptions) -> None:
    from archiver.proof import verify_signed_data

    name = "signature of datapackage.json"
    if not signed:
        if proof.allow_unsigned:
            report.add(name, True, f"{UNSIGNED} (accepted: --allow-unsigned)")
        elif ours:
            report.add(name, False, f"{UNSIGNED}: a package with an Isnad capture context must "
                       "be signed, and datapackage-digest.json carries no signature (removed, "
                       "or signing was off); --allow-unsigned accepts it")
        else:
            report.add(name, False, f"{UNSIGNED} (a package not made by Isnad); "
                       "--allow-unsigned accepts it")
        return
    signed = signed if isinstance(signed, dict) else {}
    result = verify_signed_data(signed, datapackage_hash, proof.trusted_keys)
    if result.ok and proof.trusted_keys is None:
        # Anyone can sign a forgery with a key of their own: without a trusted key to compare
        # with, a valid signature shows integrity, not who made the package.
        untrusted = (f"no trusted signing key is configured, so this signature by "
                     f"{result.fingerprint} does not show who made the package")
        if proof.allow_unsigned:
            report.add(name, True, f"{UNSIGNED}: {untrusted} (accepted: --allow-unsigned)")
        else:
            report.add(name, False, f"{untrusted}; add it to signing.trusted_keys, or "
                       "--allow-unsigned accepts it")
    else:
        report.add(name, result.ok, "; ".join(result.problems or result.checks))
    if signed.get("created") != datapackage.get("created"):
        report.add("signature date is the package's creation date", False,
                   f"signed {signed.get('created')}, created {datapackage.get('created')}")


def _check_timestamps(wacz: zipfile.ZipFile, context: dict[str, Any],
                      sealed: list[dict[str, Any]], hashes: dict[Any, str], readable: set[str],
                      report: VerificationReport, proof: ProofOptions) -> None:
    """Tokens of the WARCs (listed in the context) and of datapackage.json (``sealed``, from
    datapackage-digest.json), and the tokens the context says there must be."""
    from archiver.proof import capture_window, check_token

    window = capture_window(context)
    proof_context = context.get("proof") if isinstance(context.get("proof"), dict) else {}
    recorded = _dicts(proof_context.get("timestamps"))
    entries = [e for e in recorded
               if e.get("state") == ProofState.STAMPED and e.get("subject") != "datapackage.json"]
    for entry in entries + sealed:
        subject, tsa = entry.get("subject"), entry.get("tsa")
        check = f"timestamp of {subject} by {tsa}"
        try:
            token = _token(wacz, entry, readable)
        except (PackageError, KeyError, ValueError, zipfile.BadZipFile, OSError, EOFError,
                zlib.error, NotImplementedError, RuntimeError) as exc:
            report.add(check, False, f"token unreadable: {_why(exc)}")
            continue
        if subject not in hashes:
            report.add(check, False, f"{subject} is not in the package")
            continue
        ok, detail = check_token(proof, str(tsa), token, hashes[subject], window)
        report.add(check, ok, detail)
    pending = [e for e in recorded if e.get("state") == ProofState.PENDING]
    for entry in pending:
        report.add(f"timestamp of {entry.get('subject')} by {entry.get('tsa')}", True,
                   "pending when packaged (the TSA failed); a late token is kept beside the "
                   "package once `isnad timestamp --pending` obtains it")
    # The TSAs the capture was made with are named in the signed context: a token of theirs
    # for datapackage.json that is missing was removed (datapackage-digest.json is unsigned).
    sealed_by = {e.get("tsa") for e in sealed if e.get("subject") == "datapackage.json"}
    failing = {e.get("tsa") for e in pending}
    for tsa in [t.get("name") for t in _dicts(proof_context.get("tsas"))]:
        if tsa not in sealed_by and tsa not in failing:
            report.add(f"timestamp of datapackage.json by {tsa}", False,
                       "missing: the capture was made with this TSA, but "
                       "datapackage-digest.json carries no token of it")


def _token(wacz: zipfile.ZipFile, entry: dict[str, Any], readable: set[str]) -> bytes:
    """A token inline (base64, in datapackage-digest.json) or from its file in the package."""
    if "token" in entry:
        return base64.b64decode(str(entry["token"]), validate=True)
    path = str(entry.get("path", ""))
    if path not in readable:
        raise PackageError(f"{path!r} is not in the package")
    return _read_bounded(wacz, path, MAX_TOKEN_BYTES)


def _check_member(wacz: zipfile.ZipFile, resource: dict[str, Any], readable: set[str],
                  report: VerificationReport, hashed: tuple[str, int] | None = None
                  ) -> tuple[str, int] | None:
    """A listed member's SHA-256 and size (``hashed``: taken already, by the read that checked
    its WARC records). Returns the SHA-256 and size read, None when it could not be read."""
    path = resource["path"]
    if "hash" in resource:  # WACZ 1.1: "hash": "sha256:<hex>", "bytes": N
        algorithm, _, want = str(resource["hash"]).partition(":")
        expected_size = resource.get("bytes")
    else:  # WACZ 1.0: "hashing": "sha256", "stats": {"hash": "<hex>", "bytes": N}
        stats = resource.get("stats") if isinstance(resource.get("stats"), dict) else {}
        algorithm, want, expected_size = resource.get("hashing", ""), stats.get("hash"), \
            stats.get("bytes")
    name = f"{path}: sha256 and size"
    if algorithm != "sha256":
        report.add(name, False, f"hash algorithm {algorithm!r} is not sha256")
        return None
    if path not in wacz.NameToInfo:
        report.add(name, False, "listed in datapackage.json but missing from the package")
        return None
    if path not in readable:
        report.add(name, False, "refused (see member names)")
        return None
    try:
        if hashed is not None:
            got, size = hashed
        else:
            with wacz.open(path) as member:
                # In a worker thread: the package's hash (HashedInOrder) and zipfile's CRC-32
                # of the same bytes are computed meanwhile.
                digest, size = ThreadedHash(hashlib.sha256()), 0
                while chunk := member.read(READ_SIZE):
                    digest.update(chunk)
                    size += len(chunk)
                got = digest.hexdigest()
    except Exception as exc:  # noqa: BLE001 - CRC error, broken deflate data, bad header...
        report.add(name, False, f"unreadable: {_why(exc)}")
        return None
    ok = got == want and size == expected_size
    detail = got if ok else f"expected {want} ({expected_size} bytes), found {got} ({size})"
    report.add(name, ok, detail)
    return got, size


def verify_package_file(path: str | Path, proof: ProofOptions | None = None, *,
                        recheck_received: bool = True) -> VerificationReport:
    """Verify a WACZ on disk (``isnad verify PATH.wacz``); ``recheck_received`` as for
    :func:`verify_package`."""
    path = Path(path)
    report = VerificationReport(str(path))
    with open(path, "rb") as fh:
        # One read: the package is hashed from the bytes its checks read, in order (the
        # members are checked in the order they were written).
        stream = HashedInOrder(fh)
        verify_package(stream, str(path), report, proof, recheck_received=recheck_received)
        digest, size = stream.finish()
    report.package_sha256, report.package_size = digest, size
    report.checks.insert(0, Check("package read", True, f"sha256 {digest}, {size} bytes"))
    return report


class HashedInOrder(io.RawIOBase):
    """A seekable file read by a zip reader, hashed from the bytes that reader reads.

    Bytes are hashed when a read carries on from the last byte hashed, or from a little past
    it (the gap, a member's local header or a small member not read, is read and hashed
    first); other reads (the central directory at the end, a member read again) are served
    without hashing. :meth:`finish` hashes whatever is left to the end. Whatever the order of
    the reads, the digest is that of every byte of the file, in order; when the checks read
    the members in the order they lie in the file, the file is read once in all."""

    GAP = 1024 * 1024

    def __init__(self, fh: BinaryIO) -> None:
        super().__init__()
        self._fh = fh
        # Hashed in a worker thread, beside the members' own hashes of the same bytes.
        self._digest = ThreadedHash(hashlib.sha256())
        self._hashed = 0  # every byte before this offset is in the digest
        self._pos = fh.tell()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self._pos = self._fh.seek(offset, whence)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        if self._hashed < self._pos <= self._hashed + self.GAP:
            self._hash_to(self._pos)
        self._fh.seek(self._pos)
        data = self._fh.read(-1 if size is None else size)
        start, self._pos = self._pos, self._pos + len(data)
        if start <= self._hashed < self._pos:
            self._digest.update(memoryview(data)[self._hashed - start:])
            self._hashed = self._pos
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def _hash_to(self, end: int | None) -> None:
        self._fh.seek(self._hashed)
        while end is None or self._hashed < end:
            want = READ_SIZE if end is None else min(READ_SIZE, end - self._hashed)
            chunk = self._fh.read(want)
            if not chunk:
                break
            self._digest.update(chunk)
            self._hashed += len(chunk)
        self._fh.seek(self._pos)

    def finish(self) -> tuple[str, int]:
        """The file's SHA-256 and size (what was not read yet is read now)."""
        self._hash_to(None)
        return self._digest.hexdigest(), self._hashed


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
        packaged = [e for e in catalog_events if e.action == CustodyAction.PACKAGED]
        ok = bool(packaged) and packaged[-1].object_sha256 == package_sha256
        report.add(
            "package hash matches the custody log",
            ok,
            package_sha256 if ok else "the 'packaged' event names a different hash",
        )
