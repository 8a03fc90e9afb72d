"""Checking a received WACZ package on arrival, without altering or extracting it.

What is checked, in order (each problem is a :class:`~archiver.intake.Finding`, never an
exception, so the rest of the import goes on):

1. the whole file is hashed as received (SHA-256 plus every algorithm the provider declared);
2. the zip itself: readable (a truncated zip has no central directory), member names safe
   (no ``../``, no absolute or drive paths, no duplicates), expansion bounded (zip bomb);
3. ``datapackage.json`` (kept whole as metadata): every resource's hash (``sha256:…``,
   ``md5:…``, or the WACZ 1.0 ``stats``/``hashing`` form) and byte count against the member's
   bytes, streamed; members the datapackage does not list;
4. ``datapackage-digest.json`` against ``datapackage.json``, and its signature: an anonymous-key
   signature is verified; a domain signature is checked as far as can be done offline (see
   :func:`_check_domain_signature`);
5. ``pages/pages.jsonl`` read into ``CheckedFile.pages``.

Members are only ever read through :meth:`zipfile.ZipFile.open`, never written anywhere, so a
hostile member name cannot reach the file system.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key
from cryptography.x509.oid import NameOID

from archiver.intake import CheckedFile, Finding, Severity
from archiver.intake.digests import algorithm_name, hash_stream, looks_like_digest
from archiver.signing import verify_signed_data
from archiver.verify import MAX_JSON_BYTES, MAX_ZIP_EXPANSION, ZIP_EXPANSION_ALLOWANCE

DATAPACKAGE = "datapackage.json"
DIGEST = "datapackage-digest.json"
PAGES = "pages/pages.jsonl"
# The trust store of the machine, used only to say whether a domain signature's certificate
# chain ends at a root this machine trusts today (Debian's ca-certificates bundle).
SYSTEM_ROOTS = Path("/etc/ssl/certs/ca-certificates.crt")

_DRIVE = re.compile(r"^[A-Za-z]:")
# What reading a damaged or unsupported zip raises (the file itself was readable: hashed first).
_READ_ERRORS = (zipfile.BadZipFile, EOFError, zlib.error, OSError, NotImplementedError,
                ValueError)


@dataclass(frozen=True)
class ZipLimits:
    """Bounds on what a received zip may expand to, so a zip bomb is refused before it is read.

    A member that declares more than ``allowance + max_ratio × compressed size`` bytes is not
    read (the same rule, and by default the same figures, as ``isnad verify``, so a package
    accepted here also verifies there). ``max_total``: the most bytes all members may expand to
    together. ``max_json``: the most bytes of ``datapackage.json`` /
    ``datapackage-digest.json`` read into memory. ``max_page_line``: the longest
    ``pages.jsonl`` line read (longer lines are reported and skipped)."""

    max_ratio: float = MAX_ZIP_EXPANSION
    allowance: int = ZIP_EXPANSION_ALLOWANCE
    max_total: int = 1024 ** 4
    max_json: int = MAX_JSON_BYTES
    max_page_line: int = 1024 * 1024


def check_wacz(path: Path, name: str, *, declared: Mapping[str, str] | None = None,
               limits: ZipLimits = ZipLimits(),
               trust_roots: Path | None = SYSTEM_ROOTS) -> CheckedFile:
    """Check the WACZ at ``path`` (received as ``name``) and return what was found.

    ``declared``: hashes the provider gave for the whole file ({algorithm: hex}); each is
    computed too and compared. ``trust_roots``: a PEM bundle of root certificates used only to
    report whether a domain signature's chain ends at a known root (None: not looked at).
    Never raises for anything in the file; an unreadable path raises OSError.
    """
    checked = CheckedFile(path=path, name=name, kind="wacz")
    _hash_whole_file(checked, declared or {})
    try:
        archive = zipfile.ZipFile(path)
    except (*_READ_ERRORS, zipfile.LargeZipFile) as exc:
        checked.findings.append(Finding(
            Severity.ERROR, "zip-unreadable",
            f"not a readable zip (truncated, damaged or unsupported): {exc}", name))
        return checked
    with archive:
        members = _check_members(checked, archive, limits)
        datapackage_bytes = _read_json_member(checked, archive, members, DATAPACKAGE, limits)
        datapackage = _parse_json(checked, datapackage_bytes, DATAPACKAGE)
        if datapackage is not None:
            checked.metadata["datapackage"] = datapackage
            _check_resources(checked, archive, members, datapackage)
        elif DATAPACKAGE not in archive.NameToInfo:
            checked.findings.append(Finding(
                Severity.ERROR, "datapackage-missing",
                f"no {DATAPACKAGE}: the resources cannot be checked", name))
        _check_digest(checked, archive, members, datapackage_bytes, limits, trust_roots)
        _read_pages(checked, archive, members, limits)
    return checked


# --- the file and the zip ----------------------------------------------------------------------

def _hash_whole_file(checked: CheckedFile, declared: Mapping[str, str]) -> None:
    """SHA-256 and each declared algorithm over the file as received, in one read."""
    wanted = {"sha256"}
    for given, value in declared.items():
        algorithm = algorithm_name(given)
        if algorithm is None:
            checked.findings.append(Finding(
                Severity.WARNING, "declared-hash-unsupported",
                f"declared hash algorithm {given!r} cannot be computed here; not compared",
                checked.name))
            continue
        checked.declared[algorithm] = value.strip().lower()
        wanted.add(algorithm)
    with open(checked.path, "rb") as stream:
        checked.hashes, checked.size = hash_stream(stream, sorted(wanted))
    for algorithm, value in checked.declared.items():
        if checked.hashes[algorithm] != value:
            checked.findings.append(Finding(
                Severity.ERROR, "declared-hash-mismatch",
                f"{algorithm} declared {value}, computed {checked.hashes[algorithm]}",
                checked.name))


def unsafe_member_name(member: str) -> str | None:
    """Why a zip member name could escape a folder if extracted (None when it is safe)."""
    if not member:
        return "is empty"
    if "\x00" in member:
        return "contains a NUL byte"
    if member.startswith(("/", "\\")) or _DRIVE.match(member):
        return "is an absolute path"
    if ".." in re.split(r"[\\/]", member):
        return "climbs out with '..'"
    return None


def _check_members(checked: CheckedFile, archive: zipfile.ZipFile, limits: ZipLimits
                   ) -> dict[str, zipfile.ZipInfo]:
    """Report unsafe, duplicate, encrypted and over-expanding members; return the members that
    may be read, by name (a duplicated or unsafe name is never read)."""
    infos = archive.infolist()
    counts = Counter(info.filename for info in infos)
    readable: dict[str, zipfile.ZipInfo] = {}
    duplicates: set[str] = set()
    total = 0
    for info in infos:
        member = info.filename
        where = f"member {member!r}"
        total += info.file_size
        reason = unsafe_member_name(member)
        if reason:
            checked.findings.append(Finding(
                Severity.ERROR, "zip-unsafe-path", f"member name {member!r} {reason}; not read",
                checked.name, where))
            continue
        if counts[member] > 1:
            if member not in duplicates:
                duplicates.add(member)
                checked.findings.append(Finding(
                    Severity.ERROR, "zip-duplicate-name",
                    f"{counts[member]} members are named {member!r}; which one a tool reads is "
                    "undefined, so none is read", checked.name, where))
            continue
        if info.flag_bits & 0x1:
            checked.findings.append(Finding(
                Severity.ERROR, "zip-encrypted", f"member {member!r} is encrypted; not read",
                checked.name, where))
            continue
        if info.file_size > limits.allowance + limits.max_ratio * info.compress_size:
            checked.findings.append(Finding(
                Severity.ERROR, "zip-bomb",
                f"member {member!r} would expand from {info.compress_size} to "
                f"{info.file_size} bytes (more than {limits.max_ratio:g}×); not read",
                checked.name, where))
            continue
        if not info.is_dir():
            readable[member] = info
    if total > limits.max_total:
        checked.findings.append(Finding(
            Severity.ERROR, "zip-bomb",
            f"members would expand to {total} bytes in all, more than the {limits.max_total} "
            "accepted; none is read", checked.name))
        return {}
    return readable


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """The member's bytes in chunks. zipfile stops at the size the central directory declares
    (already bounded) and raises BadZipFile on a CRC mismatch at the end."""
    with archive.open(info) as stream:
        while block := stream.read(1024 * 1024):
            yield block


def _read_json_member(checked: CheckedFile, archive: zipfile.ZipFile,
                      members: Mapping[str, zipfile.ZipInfo], member: str, limits: ZipLimits
                      ) -> bytes | None:
    """A small JSON member's bytes (None when absent, unreadable or too big: reported)."""
    info = members.get(member)
    if info is None:
        return None
    if info.file_size > limits.max_json:
        checked.findings.append(Finding(
            Severity.ERROR, "json-too-big",
            f"{member} is {info.file_size} bytes, more than the {limits.max_json} read",
            checked.name, f"member {member}"))
        return None
    try:
        return b"".join(_read_member(archive, info))
    except _READ_ERRORS as exc:
        checked.findings.append(Finding(
            Severity.ERROR, "zip-member-unreadable", f"{member} cannot be read: {exc}",
            checked.name, f"member {member}"))
        return None


def _parse_json(checked: CheckedFile, data: bytes | None, member: str) -> dict[str, Any] | None:
    if data is None:
        return None
    try:
        parsed = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        checked.findings.append(Finding(
            Severity.ERROR, "json-invalid", f"{member} is not valid UTF-8 JSON: {exc}",
            checked.name, f"member {member}"))
        return None
    if not isinstance(parsed, dict):
        checked.findings.append(Finding(
            Severity.ERROR, "json-invalid", f"{member} is not a JSON object",
            checked.name, f"member {member}"))
        return None
    return parsed


# --- datapackage.json --------------------------------------------------------------------------

def resource_hash(resource: Mapping[str, Any]) -> tuple[str | None, str | None, str]:
    """(hashlib algorithm or None, hex value or None, algorithm as written) of a datapackage
    resource: WACZ 1.1 ``"hash": "sha256:…"``, or WACZ 1.0 ``"stats": {"hash"}`` with
    ``"hashing"``. A bare value with no algorithm named is MD5, as Frictionless Data Package
    defines it."""
    stats = resource.get("stats") if isinstance(resource.get("stats"), Mapping) else {}
    value = resource.get("hash", stats.get("hash"))
    if not isinstance(value, str) or not value:
        return None, None, ""
    if ":" in value:
        written, _, hex_value = value.partition(":")
    else:
        written, hex_value = str(resource.get("hashing") or "md5"), value
    return algorithm_name(written), hex_value.strip().lower(), written


def _resource_size(resource: Mapping[str, Any]) -> Any:
    stats = resource.get("stats") if isinstance(resource.get("stats"), Mapping) else {}
    return resource.get("bytes", stats.get("bytes"))


def _check_resources(checked: CheckedFile, archive: zipfile.ZipFile,
                     members: Mapping[str, zipfile.ZipInfo], datapackage: Mapping[str, Any]
                     ) -> None:
    resources = datapackage.get("resources")
    if not isinstance(resources, list):
        checked.findings.append(Finding(
            Severity.ERROR, "datapackage-invalid", f"{DATAPACKAGE} has no resources list",
            checked.name, f"member {DATAPACKAGE}"))
        return
    checked.records = len(resources)
    listed: set[str] = set()
    for index, resource in enumerate(resources):
        if not isinstance(resource, Mapping) or not isinstance(resource.get("path"), str):
            checked.findings.append(Finding(
                Severity.ERROR, "datapackage-invalid",
                f"resource #{index} in {DATAPACKAGE} has no path", checked.name,
                f"member {DATAPACKAGE}"))
            continue
        listed.add(resource["path"])
        _check_resource(checked, archive, members, resource)
    for member in members:
        if member not in listed and member not in (DATAPACKAGE, DIGEST):
            checked.findings.append(Finding(
                Severity.WARNING, "member-not-in-datapackage",
                f"member {member!r} is not listed in {DATAPACKAGE}: no hash vouches for it",
                checked.name, f"member {member}"))


def _check_resource(checked: CheckedFile, archive: zipfile.ZipFile,
                    members: Mapping[str, zipfile.ZipInfo], resource: Mapping[str, Any]) -> None:
    """One resource's declared hash and size against its member's bytes, streamed."""
    member = resource["path"]
    where = f"member {member}"
    info = members.get(member)
    if info is None:
        present = member in archive.NameToInfo
        checked.findings.append(Finding(
            Severity.ERROR, "resource-missing" if not present else "resource-unreadable",
            f"resource {member!r} listed in {DATAPACKAGE} "
            + ("is not in the zip" if not present else "was refused (see above)"),
            checked.name, where))
        return
    algorithm, declared, written = resource_hash(resource)
    if declared is None:
        checked.findings.append(Finding(
            Severity.ERROR, "resource-hash-missing", f"resource {member!r} declares no hash",
            checked.name, where))
    elif algorithm is None:
        checked.findings.append(Finding(
            Severity.WARNING, "resource-hash-unsupported",
            f"resource {member!r} is hashed with {written!r}, which cannot be computed here",
            checked.name, where))
    elif not looks_like_digest(algorithm, declared):
        checked.findings.append(Finding(
            Severity.ERROR, "resource-hash-malformed",
            f"resource {member!r} declares {written}:{declared}, not a {algorithm} digest",
            checked.name, where))
        algorithm = None
    wanted = ["sha256"] + ([algorithm] if algorithm and algorithm != "sha256" else [])
    try:
        computed, size = _hash_member(archive, info, wanted)
    except _READ_ERRORS as exc:
        checked.findings.append(Finding(
            Severity.ERROR, "zip-member-unreadable", f"{member} cannot be read: {exc}",
            checked.name, where))
        return
    if algorithm and declared and computed[algorithm] != declared:
        checked.findings.append(Finding(
            Severity.ERROR, "resource-hash-mismatch",
            f"resource {member!r}: {algorithm} declared {declared}, computed "
            f"{computed[algorithm]}", checked.name, where))
    declared_size = _resource_size(resource)
    if declared_size is None:
        checked.findings.append(Finding(
            Severity.WARNING, "resource-size-missing",
            f"resource {member!r} declares no byte count", checked.name, where))
    elif declared_size != size:
        checked.findings.append(Finding(
            Severity.ERROR, "resource-size-mismatch",
            f"resource {member!r}: {declared_size!r} bytes declared, {size} found",
            checked.name, where))


def _hash_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, algorithms: list[str]
                 ) -> tuple[dict[str, str], int]:
    with archive.open(info) as stream:
        return hash_stream(stream, algorithms)  # type: ignore[arg-type]


# --- datapackage-digest.json and its signature -------------------------------------------------

def _check_digest(checked: CheckedFile, archive: zipfile.ZipFile,
                  members: Mapping[str, zipfile.ZipInfo], datapackage: bytes | None,
                  limits: ZipLimits, trust_roots: Path | None) -> None:
    raw = _read_json_member(checked, archive, members, DIGEST, limits)
    if raw is None:
        if DIGEST not in archive.NameToInfo:
            checked.findings.append(Finding(
                Severity.WARNING, "datapackage-digest-missing",
                f"no {DIGEST}: nothing vouches for {DATAPACKAGE} (allowed before WACZ 1.1)",
                checked.name))
        return
    digest = _parse_json(checked, raw, DIGEST)
    if digest is None:
        return
    checked.metadata["datapackage_digest"] = digest
    where = f"member {DIGEST}"
    matched = _digest_matches(checked, str(digest.get("hash") or ""), datapackage, where)
    signed = digest.get("signedData")
    if signed is None:
        return
    if not isinstance(signed, dict):
        checked.findings.append(Finding(
            Severity.ERROR, "signature-invalid", "signedData is not an object",
            checked.name, where))
    elif matched is None:
        checked.findings.append(Finding(
            Severity.ERROR, "signature-unchecked",
            f"signed, but the signature covers a {DATAPACKAGE} that does not match; "
            "the signature vouches for nothing here", checked.name, where))
    elif signed.get("publicKey"):
        _check_anonymous_signature(checked, signed, matched, where)
    elif signed.get("domainCert") or signed.get("domain"):
        _check_domain_signature(checked, signed, matched, where, trust_roots)
    else:
        checked.findings.append(Finding(
            Severity.ERROR, "signature-invalid",
            "signedData has neither a publicKey nor a domainCert", checked.name, where))


def _digest_matches(checked: CheckedFile, stated: str, datapackage: bytes | None, where: str
                    ) -> str | None:
    """The digest file's ``hash`` when ``datapackage.json`` hashes to it (None otherwise,
    reported unless there is no ``datapackage.json`` to compare, which is reported already)."""
    if datapackage is None:
        return None
    algorithm, _, value = stated.partition(":")
    name = algorithm_name(algorithm) if value else None
    if name is None:
        checked.findings.append(Finding(
            Severity.ERROR, "datapackage-digest-invalid",
            f"{DIGEST} hash {stated!r} is not '<algorithm>:<hex>'", checked.name, where))
        return None
    actual = f"{algorithm}:{hashlib.new(name, datapackage).hexdigest()}"
    if actual.lower() != stated.lower():
        checked.findings.append(Finding(
            Severity.ERROR, "datapackage-digest-mismatch",
            f"{DIGEST} says {stated}, {DATAPACKAGE} hashes to {actual}", checked.name, where))
        return None
    return stated


def _check_anonymous_signature(checked: CheckedFile, signed: dict[str, Any], expected: str,
                               where: str) -> None:
    """An anonymous-key signature (ECDSA over SHA-256 of the ``hash`` string; the key is in the
    package, so it proves integrity since signing, not who signed)."""
    # The signature over the hash it names (raw r || s, as WebCrypto and Isnad write it, or
    # DER as some signers do); then that this hash is the datapackage's.
    result = verify_signed_data(signed, str(signed.get("hash", "")))
    problems = [] if result.ok or (result.fingerprint and _der_signature_valid(signed)) \
        else list(result.problems)
    if signed.get("hash") != expected:
        problems.append(f"signed hash {signed.get('hash')} is not {DATAPACKAGE}'s {expected}")
    if not problems:
        checked.findings.append(Finding(
            Severity.INFO, "signature-verified",
            f"anonymous-key signature verified with public key {result.fingerprint} (proves the "
            "package is unchanged since signed; the key alone does not say who signed)",
            checked.name, where))
    else:
        checked.findings.append(Finding(
            Severity.ERROR, "signature-invalid",
            "anonymous-key signature does not verify: " + "; ".join(problems),
            checked.name, where))


def _der_signature_valid(signed: Mapping[str, Any]) -> bool:
    """Does a DER-encoded ECDSA/SHA-256 signature verify the ``hash`` string it names?"""
    try:
        key = load_der_public_key(base64.b64decode(signed["publicKey"]))
        if not isinstance(key, ec.EllipticCurvePublicKey):
            return False
        key.verify(base64.b64decode(signed["signature"]), str(signed.get("hash", "")).encode(),
                   ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, TypeError, KeyError):
        return False
    return True


def _check_domain_signature(checked: CheckedFile, signed: dict[str, Any], expected: str,
                            where: str, trust_roots: Path | None) -> None:
    """A domain signature (authsign): ECDSA by the key of a TLS certificate for ``domain``,
    with an RFC 3161 token over the signature. Checked offline as far as honesty allows:
    the signature with the certificate's key, the chain's links, the name, the certificate's
    validity at signing time, whether the chain ends at a root in this machine's trust store,
    and the timestamp token against the TSA chain the package carries. Not checkable offline:
    revocation (OCSP/CRL), and whether those roots were trusted at signing time."""
    problems: list[tuple[str, str]] = []
    checks: list[str] = []
    try:
        chain = x509.load_pem_x509_certificates(str(signed.get("domainCert", "")).encode())
    except ValueError as exc:
        checked.findings.append(Finding(
            Severity.ERROR, "signature-invalid",
            f"domain signature: domainCert is not a PEM certificate chain ({exc})",
            checked.name, where))
        return
    leaf = chain[0]
    if signed.get("hash") != expected:
        problems.append(("signature-invalid",
                         f"signed hash {signed.get('hash')} is not {DATAPACKAGE}'s {expected}"))
    if _domain_signature_valid(leaf, signed):
        checks.append("signature verifies with the certificate's key")
    else:
        problems.append(("signature-invalid",
                         "the signature does not verify with the certificate's public key"))
    domain = str(signed.get("domain", ""))
    names = _certificate_names(leaf)
    if domain and domain in names:
        checks.append(f"certificate names {domain}")
    else:
        problems.append(("signature-domain-mismatch",
                         f"certificate names {sorted(names)}, signature claims {domain!r}"))
    broken = _broken_link(chain)
    if broken:
        problems.append(("signature-chain-broken", broken))
    else:
        checks.append(f"chain of {len(chain)} certificates links up")
    created = _parse_time(signed.get("created"))
    if created is None:
        problems.append(("signature-invalid", f"created {signed.get('created')!r} is not a date"))
    elif not leaf.not_valid_before_utc <= created <= leaf.not_valid_after_utc:
        problems.append(("signature-cert-not-valid",
                         f"signed {signed.get('created')}, outside the certificate's validity "
                         f"{leaf.not_valid_before_utc:%Y-%m-%d}…{leaf.not_valid_after_utc:%Y-%m-%d}"))
    else:
        checks.append(f"certificate valid when signed ({signed.get('created')})")
    for code, message in problems:
        checked.findings.append(Finding(Severity.ERROR, code, "domain signature: " + message,
                                        checked.name, where))
    anchor = _anchor(chain, trust_roots)
    if anchor:
        checks.append(f"chain ends at {anchor}, in this machine's trust store")
    else:
        store = ("in this machine's trust store" if trust_roots and trust_roots.is_file()
                 else "Isnad could check (no trust store given or found)")
        checked.findings.append(Finding(
            Severity.WARNING, "signature-domain-untrusted",
            f"domain signature: the chain ({_subject(chain[-1])}) ends at no root {store}; "
            "who signed is not established", checked.name, where))
    checks.extend(_timestamp_checks(checked, signed, where))
    checked.findings.append(Finding(
        Severity.INFO, "signature-domain-offline",
        f"domain signature for {domain or '?'}: checked offline: " + "; ".join(checks)
        + ". Not verifiable offline: revocation (OCSP/CRL), and the roots' status at signing "
        "time", checked.name, where))


def _domain_signature_valid(leaf: x509.Certificate, signed: Mapping[str, Any]) -> bool:
    key = leaf.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return False
    try:
        signature = base64.b64decode(str(signed.get("signature", "")), validate=True)
        key.verify(signature, str(signed.get("hash", "")).encode("utf-8"),
                   ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def _certificate_names(cert: x509.Certificate) -> set[str]:
    names = {str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)}
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names.update(san.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        pass
    return names


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _broken_link(chain: list[x509.Certificate]) -> str | None:
    for cert, issuer in zip(chain, chain[1:], strict=False):
        if not _issued_by(cert, issuer):
            return f"{_subject(cert)} is not signed by the next certificate, {_subject(issuer)}"
    return None


def _anchor(chain: list[x509.Certificate], trust_roots: Path | None) -> str | None:
    """The trusted root the chain reaches (by signature, or by being that root), or None."""
    if trust_roots is None:
        return None
    try:
        with warnings.catch_warnings():  # some distributions' roots have non-RFC-5280 serials
            warnings.simplefilter("ignore")
            roots = x509.load_pem_x509_certificates(trust_roots.read_bytes())
    except (OSError, ValueError):
        return None
    for cert in chain:
        for root in roots:
            same = root.subject == cert.subject and root.public_key() == cert.public_key()
            if same or (root.subject == cert.issuer and _issued_by(cert, root)):
                return _subject(root)
    return None


def _timestamp_checks(checked: CheckedFile, signed: Mapping[str, Any], where: str) -> list[str]:
    """The RFC 3161 token over the signature, against the TSA chain the package carries (so it
    shows consistency and the time, not that the TSA is one we trust)."""
    from archiver.timestamps import TimestampError, verify_token  # noqa: PLC0415 - lazy: rfc3161

    if not signed.get("timeSignature"):
        return ["no RFC 3161 timestamp"]
    try:
        tsa_chain = x509.load_pem_x509_certificates(str(signed.get("timestampCert")).encode())
        token = base64.b64decode(str(signed["timeSignature"]), validate=True)
        digest = hashlib.sha256(str(signed.get("signature", "")).encode("utf-8")).hexdigest()
        result = verify_token(token, digest, tsa_chain[-1:], tsa_chain[:-1])
    except (ValueError, TimestampError) as exc:
        result = None
        problem = str(exc)
    if result is not None and result.ok:
        return [f"RFC 3161 token over the signature verifies, time "
                f"{result.gen_time:%Y-%m-%dT%H:%M:%SZ}, against the TSA root the package "
                f"carries ({_subject(tsa_chain[-1])}), not one Isnad trusts"]
    if result is not None:
        problem = "; ".join(result.problems)
    checked.findings.append(Finding(
        Severity.ERROR, "signature-timestamp-invalid",
        f"domain signature: the RFC 3161 token does not verify: {problem}", checked.name, where))
    return []


def _subject(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


def _parse_time(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- pages -------------------------------------------------------------------------------------

def _read_pages(checked: CheckedFile, archive: zipfile.ZipFile,
                members: Mapping[str, zipfile.ZipInfo], limits: ZipLimits) -> None:
    """``pages/pages.jsonl``: a header line, then one JSON page per line (url, ts, title)."""
    info = members.get(PAGES)
    if info is None:
        if PAGES not in archive.NameToInfo:
            checked.findings.append(Finding(
                Severity.WARNING, "pages-missing", f"no {PAGES}: no page is listed",
                checked.name))
        return
    where = f"member {PAGES}"
    try:
        for number, line in enumerate(_lines(archive, info, limits.max_page_line), start=1):
            if line is None:
                checked.findings.append(Finding(
                    Severity.WARNING, "pages-line-too-long",
                    f"line {number} is longer than {limits.max_page_line} bytes; skipped",
                    checked.name, f"{where} line {number}"))
                continue
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                checked.findings.append(Finding(
                    Severity.WARNING, "pages-invalid-line", f"line {number} is not JSON: {exc}",
                    checked.name, f"{where} line {number}"))
                continue
            if isinstance(entry, dict) and "url" in entry:
                checked.pages.append({"url": entry.get("url"), "ts": entry.get("ts"),
                                      "title": entry.get("title")})
            elif not (isinstance(entry, dict) and "format" in entry):  # the header line
                checked.findings.append(Finding(
                    Severity.WARNING, "pages-invalid-line", f"line {number} names no url",
                    checked.name, f"{where} line {number}"))
    except _READ_ERRORS as exc:
        checked.findings.append(Finding(
            Severity.ERROR, "zip-member-unreadable", f"{PAGES} cannot be read: {exc}",
            checked.name, where))


def _lines(archive: zipfile.ZipFile, info: zipfile.ZipInfo, max_line: int
           ) -> Iterator[bytes | None]:
    """The member's lines, streamed; a line longer than ``max_line`` comes out as None (its
    bytes are dropped as they arrive, so memory stays bounded)."""
    pending = b""
    too_long = False
    for block in _read_member(archive, info):
        pending += block
        while True:
            cut = pending.find(b"\n")
            if cut < 0:
                break
            line, pending = pending[:cut], pending[cut + 1:]
            yield None if too_long or len(line) > max_line else line
            too_long = False
        if len(pending) > max_line:
            pending, too_long = b"", True
    if pending or too_long:
        yield None if too_long or len(pending) > max_line else pending
