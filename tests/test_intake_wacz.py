"""archiver.intake.wacz: received WACZ packages checked on arrival, on real packages written by
other tools (../shared) and on packages built here, signed with real keys, some hostile."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import warnings
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from archiver.intake import Severity
from archiver.intake.wacz import ZipLimits, check_wacz, unsafe_member_name
from archiver.signing import SigningKey, sign_hash

SHARED = Path(__file__).resolve().parents[2] / "shared"
SAMPLES = SHARED / "samples"
IMPORTS = SHARED / "import-samples"
WARC = (b"WARC/1.1\r\nWARC-Type: resource\r\nWARC-Record-ID: <urn:uuid:1>\r\n"
        b"WARC-Target-URI: https://example.test/\r\nContent-Length: 5\r\n\r\nhello\r\n\r\n")


def codes(checked, severity=None):
    return [f.code for f in checked.findings if severity is None or f.severity == severity]


def sample(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.exists():
        pytest.skip(f"{path} is absent (shared samples not beside the checkout)")
    return path


# --- building packages -------------------------------------------------------------------------

def datapackage(members: dict[str, bytes], algorithm: str = "sha256") -> bytes:
    resources = [{"name": Path(p).name, "path": p,
                  "hash": f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}",
                  "bytes": len(data)} for p, data in members.items()]
    return json.dumps({"profile": "data-package", "wacz_version": "1.1.1",
                       "created": "2026-01-02T03:04:05Z", "resources": resources},
                      indent=2).encode()


def digest_of(dp: bytes, signed: dict | None = None) -> bytes:
    body = {"path": "datapackage.json", "hash": "sha256:" + hashlib.sha256(dp).hexdigest()}
    if signed is not None:
        body["signedData"] = signed
    return json.dumps(body).encode()


def members_of_a_capture() -> dict[str, bytes]:
    pages = (b'{"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}\n'
             b'{"id": "p1", "url": "https://example.test/", "ts": "2026-01-02T03:04:05Z", '
             b'"title": "Example"}\n')
    return {"archive/data.warc": WARC, "pages/pages.jsonl": pages,
            "indexes/index.cdx": b"test,example)/ 20260102030405 {}\n"}


def write_zip(path: Path, entries: list[tuple[str, bytes]],
              compression: int = zipfile.ZIP_STORED) -> Path:
    with warnings.catch_warnings():  # zipfile warns about the duplicate names we write on purpose
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(path, "w", compression) as z:
            for name, data in entries:
                z.writestr(zipfile.ZipInfo(name, (2026, 1, 2, 3, 4, 5)), data,
                           compress_type=compression)
    return path


def build_wacz(path: Path, members: dict[str, bytes] | None = None, *, dp: bytes | None = None,
               digest: bytes | None = None, signed: dict | None = None,
               extra: list[tuple[str, bytes]] = ()) -> Path:
    members = members_of_a_capture() if members is None else members
    dp = datapackage(members) if dp is None else dp
    digest = digest_of(dp, signed) if digest is None else digest
    entries = list(members.items()) + [("datapackage.json", dp),
                                       ("datapackage-digest.json", digest)] + list(extra)
    return write_zip(path, entries)


def anonymous_key(tmp_path: Path) -> SigningKey:
    return SigningKey(ec.generate_private_key(ec.SECP384R1()), tmp_path / "key.pem")


def cert(subject: str, key, issuer_name: str, issuer_key, *, ca: bool,
         days: tuple[int, int] = (-30, 60)) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now + timedelta(days=days[0]))
               .not_valid_after(now + timedelta(days=days[1]))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def pem(*certs: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def domain_signed(dp: bytes, domain: str = "archive.example.test", sign_domain: str | None = None):
    """A domain signature as authsign writes it (DER ECDSA by a TLS certificate's key), made
    with a CA created here; returns (signedData, CA certificate)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = cert("Test Root CA", ca_key, "Test Root CA", ca_key, ca=True)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = cert(domain, leaf_key, "Test Root CA", ca_key, ca=False)
    hash_ = "sha256:" + hashlib.sha256(dp).hexdigest()
    signature = leaf_key.sign(hash_.encode(), ec.ECDSA(hashes.SHA256()))
    signed = {"hash": hash_, "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "software": "test", "signature": base64.b64encode(signature).decode(),
              "domain": sign_domain or domain, "domainCert": pem(leaf, ca)}
    return signed, ca


# --- real packages from other tools ------------------------------------------------------------

def test_py_wacz_valid_example_passes_with_its_hash_and_pages():
    path = sample(SAMPLES, "py-wacz--valid_example_1.wacz")
    checked = check_wacz(path, path.name)
    assert checked.ok, checked.findings
    assert checked.kind == "wacz"
    assert checked.hashes["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert checked.size == path.stat().st_size
    assert checked.records == 4
    assert checked.metadata["datapackage"]["metadata"]["title"] == "Example Collection"
    assert [p["url"] for p in checked.pages] == ["http://www.example.com/"]
    # WACZ 1.0.0 had no datapackage-digest.json: said, not an error
    assert codes(checked) == ["datapackage-digest-missing"]


def test_py_wacz_invalid_example_is_refused_with_the_reason():
    path = sample(SAMPLES, "py-wacz--invalid_example_1.wacz")
    checked = check_wacz(path, path.name)
    assert not checked.ok
    missing = [f for f in checked.findings if f.code == "resource-missing"]
    assert missing and missing[0].where == "member data/indexes/index.cdx.gz"
    assert "member-not-in-datapackage" in codes(checked)


def test_anonymous_signature_of_archivewebpage_is_verified():
    path = sample(IMPORTS, "replayweb.page--iframetest.wacz")
    checked = check_wacz(path, path.name)
    assert checked.ok, checked.findings
    assert codes(checked) == ["signature-verified"]
    assert checked.hashes["sha256"] == (
        "12be31d28491037f2accdaeff46e1a83bcd3ba2c7dc7ee447e851fc2bfff3ed3")
    assert checked.metadata["datapackage_digest"]["signedData"]["publicKey"]
    assert checked.records == 3 and checked.pages


def test_scoop_package_with_raw_members_and_extra_keys():
    path = sample(IMPORTS, "scoop--example.com.wacz")
    checked = check_wacz(path, path.name)
    assert checked.ok, checked.findings
    assert codes(checked) == []
    assert checked.records == 5
    assert checked.metadata["datapackage"]["mainPageUrl"].startswith("https://example.com")
    assert [p["url"] for p in checked.pages][0] == "https://example.com/"


@pytest.mark.parametrize("name, trusted", [("py-wacz--valid_signed_example_1.wacz", True),
                                           ("py-wacz--invalid_signed_example_1.wacz", False)])
def test_domain_signed_samples_are_checked_offline(name, trusted):
    path = sample(IMPORTS, name)
    checked = check_wacz(path, path.name)
    assert checked.ok, checked.findings  # the signatures and hashes are sound
    info = [f for f in checked.findings if f.code == "signature-domain-offline"]
    assert len(info) == 1
    assert "btrix-sign-test.webrecorder.net" in info[0].message
    assert "signature verifies with the certificate's key" in info[0].message
    assert "RFC 3161 token over the signature verifies" in info[0].message
    assert "Not verifiable offline: revocation" in info[0].message
    if not trusted:
        # Let's Encrypt STAGING: no machine trusts it; py-wacz's --verify-auth refuses it too
        assert "signature-domain-untrusted" in codes(checked, Severity.WARNING)
    elif "ISRG Root X1" in Path("/etc/ssl/certs/ca-certificates.crt").read_text(errors="ignore"):
        assert "chain ends at ISRG Root X1" in info[0].message
        assert "signature-domain-untrusted" not in codes(checked)


def test_checking_leaves_the_file_and_its_folder_untouched(tmp_path):
    path = sample(IMPORTS, "scoop--example.com.wacz")
    copy = tmp_path / "in.wacz"
    copy.write_bytes(path.read_bytes())
    before = sorted(os.listdir(tmp_path)), copy.stat().st_mtime_ns
    check_wacz(copy, "in.wacz")
    assert (sorted(os.listdir(tmp_path)), copy.stat().st_mtime_ns) == before
    assert copy.read_bytes() == path.read_bytes()


# --- packages built here -----------------------------------------------------------------------

def test_built_package_passes_and_anonymous_signature_verifies(tmp_path):
    key = anonymous_key(tmp_path)
    members = members_of_a_capture()
    dp = datapackage(members)
    signed = sign_hash(key, "sha256:" + hashlib.sha256(dp).hexdigest(),
                       created="2026-01-02T03:04:05Z", software="test", version="0.1")
    checked = check_wacz(build_wacz(tmp_path / "a.wacz", members, dp=dp, signed=signed), "a")
    assert codes(checked) == ["signature-verified"]
    assert key.fingerprint in checked.findings[0].message
    assert checked.pages == [{"url": "https://example.test/", "ts": "2026-01-02T03:04:05Z",
                              "title": "Example"}]


def test_tampered_anonymous_signature_is_an_error(tmp_path):
    key = anonymous_key(tmp_path)
    members = members_of_a_capture()
    dp = datapackage(members)
    signed = sign_hash(key, "sha256:" + hashlib.sha256(dp).hexdigest(),
                       created="2026-01-02T03:04:05Z", software="test", version="0.1")
    raw = bytearray(base64.b64decode(signed["signature"]))
    raw[10] ^= 1
    signed["signature"] = base64.b64encode(bytes(raw)).decode()
    checked = check_wacz(build_wacz(tmp_path / "a.wacz", members, dp=dp, signed=signed), "a")
    assert codes(checked, Severity.ERROR) == ["signature-invalid"]
    assert "does not verify" in checked.findings[0].message


def test_signature_over_another_datapackage_vouches_for_nothing(tmp_path):
    key = anonymous_key(tmp_path)
    members = members_of_a_capture()
    dp = datapackage(members)
    signed = sign_hash(key, "sha256:" + hashlib.sha256(dp).hexdigest(),
                       created="2026-01-02T03:04:05Z", software="test", version="0.1")
    edited = dp.replace(b'"wacz_version"', b'"title": "edited", "wacz_version"')
    checked = check_wacz(build_wacz(tmp_path / "a.wacz", members, dp=edited,
                                    digest=digest_of(dp, signed)), "a")
    assert codes(checked, Severity.ERROR) == ["datapackage-digest-mismatch",
                                              "signature-unchecked"]


def test_resource_hash_and_size_mismatch_name_the_member(tmp_path):
    members = members_of_a_capture()
    dp = datapackage(members)
    members["archive/data.warc"] = WARC.replace(b"hello", b"HELLO")
    members["indexes/index.cdx"] += b"x"
    checked = check_wacz(build_wacz(tmp_path / "a.wacz", members, dp=dp), "a")
    bad = {(f.code, f.where) for f in checked.findings if f.severity == Severity.ERROR}
    assert bad == {("resource-hash-mismatch", "member archive/data.warc"),
                   ("resource-hash-mismatch", "member indexes/index.cdx"),
                   ("resource-size-mismatch", "member indexes/index.cdx")}
    warc = next(f for f in checked.findings if f.where == "member archive/data.warc")
    assert hashlib.sha256(members["archive/data.warc"]).hexdigest() in warc.message


@pytest.mark.parametrize("algorithm", ["md5", "sha1", "sha512"])
def test_other_resource_hash_algorithms_are_checked(tmp_path, algorithm):
    members = members_of_a_capture()
    good = check_wacz(build_wacz(tmp_path / "g.wacz", members,
                                 dp=datapackage(members, algorithm)), "g")
    assert good.ok, good.findings
    dp = datapackage(members, algorithm)
    members["pages/pages.jsonl"] = members["pages/pages.jsonl"].replace(b"Example", b"Exampl3")
    bad = check_wacz(build_wacz(tmp_path / "b.wacz", members, dp=dp), "b")
    assert codes(bad, Severity.ERROR) == ["resource-hash-mismatch"]
    assert f"{algorithm} declared" in bad.findings[0].message


def test_wacz_1_0_stats_form_and_bare_hash_default(tmp_path):
    resources = [{"path": "archive/data.warc", "hashing": "sha256",
                  "stats": {"hash": hashlib.sha256(WARC).hexdigest(), "bytes": len(WARC)}}]
    dp = json.dumps({"profile": "data-package", "resources": resources}).encode()
    checked = check_wacz(write_zip(tmp_path / "a.wacz", [("archive/data.warc", WARC),
                                                         ("datapackage.json", dp)]), "a")
    assert codes(checked, Severity.ERROR) == []
    # A bare hash with no algorithm named is MD5 (Frictionless Data Package's default).
    resources = [{"path": "archive/data.warc", "hash": hashlib.md5(WARC).hexdigest(),
                  "bytes": len(WARC)}]
    dp = json.dumps({"profile": "data-package", "resources": resources}).encode()
    checked = check_wacz(write_zip(tmp_path / "b.wacz", [("archive/data.warc", WARC),
                                                         ("datapackage.json", dp)]), "b")
    assert codes(checked, Severity.ERROR) == []


def test_declared_whole_file_hashes_are_compared(tmp_path):
    path = build_wacz(tmp_path / "a.wacz")
    data = path.read_bytes()
    declared = {"SHA-256": hashlib.sha256(data).hexdigest(), "md5": "0" * 32}
    checked = check_wacz(path, "a.wacz", declared=declared)
    assert checked.hashes == {"sha256": hashlib.sha256(data).hexdigest(),
                              "md5": hashlib.md5(data).hexdigest()}
    assert checked.declared == {"sha256": hashlib.sha256(data).hexdigest(), "md5": "0" * 32}
    mismatch = [f for f in checked.findings if f.code == "declared-hash-mismatch"]
    assert len(mismatch) == 1 and "md5 declared 000" in mismatch[0].message


# --- hostile zips ------------------------------------------------------------------------------

@pytest.mark.parametrize("member", ["../../etc/evil.txt", "/etc/evil.txt", "C:/evil.txt",
                                    "archive/../../evil.txt", "..\\evil.txt"])
def test_member_names_climbing_out_are_refused_and_never_written(tmp_path, member):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    path = build_wacz(work / "a.wacz", extra=[(member, b"pwned")])
    cwd = os.getcwd()
    os.chdir(work)
    try:
        checked = check_wacz(path, "a.wacz")
    finally:
        os.chdir(cwd)
    unsafe = [f for f in checked.findings if f.code == "zip-unsafe-path"]
    assert len(unsafe) == 1 and unsafe[0].severity == Severity.ERROR
    assert repr(member) in unsafe[0].message
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "a" / "evil.txt").exists()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "a.wacz", "b"]


def test_unsafe_member_name_says_why():
    assert unsafe_member_name("archive/data.warc") is None
    assert unsafe_member_name("raw/response_2023-02-19T00:49:59.837Z_sha256:8ca0") is None
    assert unsafe_member_name("a/../b") == "climbs out with '..'"
    assert unsafe_member_name("\\\\server\\share") == "is an absolute path"
    assert unsafe_member_name("a\x00b") == "contains a NUL byte"
    assert unsafe_member_name("") == "is empty"


def test_duplicate_member_names_are_not_read(tmp_path):
    members = members_of_a_capture()
    path = build_wacz(tmp_path / "a.wacz", members,
                      extra=[("archive/data.warc", b"another body")])
    checked = check_wacz(path, "a.wacz")
    dup = [f for f in checked.findings if f.code == "zip-duplicate-name"]
    assert len(dup) == 1 and "2 members are named 'archive/data.warc'" in dup[0].message
    assert "resource-unreadable" in codes(checked, Severity.ERROR)


def test_zip_bomb_is_refused_before_expansion(tmp_path):
    members = members_of_a_capture()
    members["archive/zeros.warc"] = b"\0" * (4 * 1024 * 1024)
    path = tmp_path / "bomb.wacz"
    dp = datapackage(members)
    write_zip(path, list(members.items()) + [("datapackage.json", dp),
                                             ("datapackage-digest.json", digest_of(dp))],
              zipfile.ZIP_DEFLATED)
    checked = check_wacz(path, "bomb.wacz")  # default: 200:1 after 1 MiB, as isnad verify
    bomb = [f for f in checked.findings if f.code == "zip-bomb"]
    assert len(bomb) == 1 and bomb[0].where == "member 'archive/zeros.warc'"
    assert codes(checked, Severity.ERROR) == ["zip-bomb", "resource-unreadable"]
    # the other members, which deflate as text does, were read and checked
    assert checked.pages and checked.records == 4
    # With a looser bound the same file is read whole and passes.
    assert check_wacz(path, "bomb.wacz", limits=ZipLimits(max_ratio=10_000)).ok
    # And a total expansion bound refuses everything.
    total = check_wacz(path, "bomb.wacz", limits=ZipLimits(max_ratio=10_000,
                                                           max_total=1024 * 1024))
    assert codes(total) == ["zip-bomb"] and "none is read" in total.findings[0].message


def test_truncated_zip_is_an_error_with_the_file_still_hashed(tmp_path):
    whole = build_wacz(tmp_path / "a.wacz").read_bytes()
    path = tmp_path / "cut.wacz"
    path.write_bytes(whole[: len(whole) // 2])
    checked = check_wacz(path, "cut.wacz")
    assert codes(checked) == ["zip-unreadable"]
    assert checked.hashes["sha256"] == hashlib.sha256(whole[: len(whole) // 2]).hexdigest()


def test_zip_of_an_unsupported_version_is_an_error_not_a_crash(tmp_path):
    path = build_wacz(tmp_path / "a.wacz")
    data = bytearray(path.read_bytes())
    central = data.rfind(b"PK\x01\x02")  # last central directory entry: "version needed"
    data[central + 6] = 223
    path.write_bytes(bytes(data))
    checked = check_wacz(path, "a.wacz")
    assert codes(checked) == ["zip-unreadable"] and "version" in checked.findings[0].message


def test_corrupted_member_bytes_are_reported_not_raised(tmp_path):
    path = build_wacz(tmp_path / "a.wacz")
    data = bytearray(path.read_bytes())
    at = data.find(b"hello")
    data[at:at + 5] = b"jello"  # stored member: the CRC no longer matches
    path.write_bytes(bytes(data))
    checked = check_wacz(path, "a.wacz")
    unreadable = [f for f in checked.findings if f.code == "zip-member-unreadable"]
    assert unreadable and unreadable[0].where == "member archive/data.warc"
    assert "CRC" in unreadable[0].message


def test_missing_and_invalid_datapackage(tmp_path):
    nodp = write_zip(tmp_path / "a.wacz", [("archive/data.warc", WARC)])
    assert "datapackage-missing" in codes(check_wacz(nodp, "a"), Severity.ERROR)
    bad = write_zip(tmp_path / "b.wacz", [("datapackage.json", b"{not json")])
    assert "json-invalid" in codes(check_wacz(bad, "b"), Severity.ERROR)


def test_pages_with_bad_and_overlong_lines(tmp_path):
    members = members_of_a_capture()
    members["pages/pages.jsonl"] += (b"not json\n" + b'{"url": "' + b"a" * 3000 + b'"}\n'
                                     + b'{"url": "https://example.test/2", "ts": "t"}')
    path = build_wacz(tmp_path / "a.wacz", members)
    checked = check_wacz(path, "a", limits=ZipLimits(max_page_line=1024))
    assert [p["url"] for p in checked.pages] == ["https://example.test/",
                                                 "https://example.test/2"]
    assert {(f.code, f.where) for f in checked.findings} == {
        ("pages-invalid-line", "member pages/pages.jsonl line 3"),
        ("pages-line-too-long", "member pages/pages.jsonl line 4")}


# --- domain signatures, with a CA made here ----------------------------------------------------

def test_domain_signature_chaining_to_a_trusted_root(tmp_path):
    members = members_of_a_capture()
    dp = datapackage(members)
    signed, ca = domain_signed(dp)
    roots = tmp_path / "roots.pem"
    roots.write_text(pem(ca))
    path = build_wacz(tmp_path / "a.wacz", members, dp=dp, signed=signed)
    checked = check_wacz(path, "a", trust_roots=roots)
    assert checked.ok, checked.findings
    assert codes(checked) == ["signature-domain-offline"]
    message = checked.findings[0].message
    assert "chain ends at Test Root CA, in this machine's trust store" in message
    assert "no RFC 3161 timestamp" in message
    # The same package, on a machine that does not know that root: said, as a warning.
    untrusted = check_wacz(path, "a", trust_roots=None)
    assert codes(untrusted) == ["signature-domain-untrusted", "signature-domain-offline"]
    assert "no trust store given or found" in untrusted.findings[0].message
    roots.write_text(pem(domain_signed(dp)[1]))  # a store holding another root only
    elsewhere = check_wacz(path, "a", trust_roots=roots)
    assert "ends at no root in this machine's trust store" in elsewhere.findings[0].message


def test_domain_signature_forged_or_misnamed_is_an_error(tmp_path):
    members = members_of_a_capture()
    dp = datapackage(members)
    signed, ca = domain_signed(dp, sign_domain="other.example.test")
    roots = tmp_path / "roots.pem"
    roots.write_text(pem(ca))
    checked = check_wacz(build_wacz(tmp_path / "a.wacz", members, dp=dp, signed=signed), "a",
                         trust_roots=roots)
    assert codes(checked, Severity.ERROR) == ["signature-domain-mismatch"]

    signed, ca = domain_signed(dp)
    other_key = ec.generate_private_key(ec.SECP256R1())
    signed["signature"] = base64.b64encode(other_key.sign(
        signed["hash"].encode(), ec.ECDSA(hashes.SHA256()))).decode()
    roots.write_text(pem(ca))
    forged = check_wacz(build_wacz(tmp_path / "b.wacz", members, dp=dp, signed=signed), "b",
                        trust_roots=roots)
    assert codes(forged, Severity.ERROR) == ["signature-invalid"]


def test_domain_signature_with_a_broken_chain(tmp_path):
    members = members_of_a_capture()
    dp = datapackage(members)
    signed, _ = domain_signed(dp)
    _, stranger = domain_signed(dp)  # another CA of the same name, another key
    leaf_pem = signed["domainCert"].split("-----END CERTIFICATE-----")[0]
    signed["domainCert"] = leaf_pem + "-----END CERTIFICATE-----\n" + pem(stranger)
    checked = check_wacz(build_wacz(tmp_path / "a.wacz", members, dp=dp, signed=signed), "a",
                         trust_roots=None)
    assert "signature-chain-broken" in codes(checked, Severity.ERROR)


def test_independent_validator_agrees_on_built_packages(tmp_path):
    """py-wacz's ``wacz validate`` (an independent reader) passes the package built here and
    fails the tampered one, as check_wacz does: the fixtures are real WACZ files."""
    def validates(path: Path) -> bool:
        run = subprocess.run([sys.executable, "-m", "wacz", "validate", "-f", str(path)],
                             capture_output=True, text=True, timeout=120)
        return run.returncode == 0 and "Validation succeeded" in run.stdout

    good = build_wacz(tmp_path / "good.wacz")
    members = members_of_a_capture()
    dp = datapackage(members)
    members["archive/data.warc"] = WARC.replace(b"hello", b"HELLO")
    bad = build_wacz(tmp_path / "bad.wacz", members, dp=dp)
    assert check_wacz(good, "good").ok and validates(good)
    assert not check_wacz(bad, "bad").ok and not validates(bad)


@pytest.mark.parametrize("curve, encoding", [(ec.SECP256R1(), "raw"), (ec.SECP256R1(), "der"),
                                             (ec.SECP384R1(), "der")])
def test_anonymous_signatures_on_p256_and_der_encoded(tmp_path, curve, encoding):
    """WACZ signers differ: P-256 or P-384 keys, the signature raw r || s (WebCrypto) or DER."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    private = ec.generate_private_key(curve)
    members = members_of_a_capture()
    dp = datapackage(members)
    hash_ = "sha256:" + hashlib.sha256(dp).hexdigest()
    der = private.sign(hash_.encode(), ec.ECDSA(hashes.SHA256()))
    if encoding == "raw":
        size = (curve.key_size + 7) // 8
        r, s = decode_dss_signature(der)
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    else:
        signature = der
    public = private.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    signed = {"hash": hash_, "created": "2026-01-02T03:04:05Z", "software": "test",
              "signature": base64.b64encode(signature).decode(),
              "publicKey": base64.b64encode(public).decode()}
    checked = check_wacz(build_wacz(tmp_path / "a.wacz", members, dp=dp, signed=signed), "a")
    assert codes(checked) == ["signature-verified"]
    signed["hash"] = "sha256:" + "0" * 64  # the same signature claimed for another hash
    other = check_wacz(build_wacz(tmp_path / "b.wacz", members, dp=dp, signed=signed), "b")
    assert codes(other, Severity.ERROR) == ["signature-invalid"]
