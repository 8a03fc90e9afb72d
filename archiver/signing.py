"""Signing keys and package signatures.

A package's ``datapackage-digest.json`` carries an anonymous (key-based) signature in the
fields of the WACZ Signing and Verification spec (``signedData``: ``hash``, ``created``,
``software``, ``version``, ``signature``, ``publicKey``), so other WACZ tools can read it:
ECDSA P-384 over the UTF-8 bytes of the ``hash`` string with SHA-256; the signature is the raw
``r || s`` (IEEE P1363, as WebCrypto produces) in base64; the public key is the base64 DER
SubjectPublicKeyInfo. Who holds the key is told out of band: its fingerprint is the SHA-256 of
that DER, printed by ``isnad keys show`` and written in every export.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from archiver.errors import IsnadError

KEY_FILE = "signing-key.pem"
PUBLIC_KEY_FILE = "signing-key.pub.pem"
CURVE = ec.SECP384R1()
COORDINATE_BYTES = 48  # P-384


class SigningKeyError(IsnadError):
    """A signing key is missing, unreadable, exposed, or the passphrase is wrong."""


@dataclass(frozen=True)
class SigningKey:
    private: ec.EllipticCurvePrivateKey
    path: Path

    @property
    def public(self) -> ec.EllipticCurvePublicKey:
        return self.private.public_key()

    @property
    def public_der(self) -> bytes:
        return public_der(self.public)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_der)

    def public_pem(self) -> str:
        return self.public.public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def public_der(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(der: bytes) -> str:
    return "sha256:" + hashlib.sha256(der).hexdigest()


def init_keys(folder: Path, passphrase: str | None = None, *, force: bool = False
              ) -> SigningKey:
    """Create a key pair in ``folder``: private key mode 0600 (encrypted with a passphrase when
    given), public key beside it. Refuses to replace an existing key unless ``force``."""
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    path = folder / KEY_FILE
    if path.exists() and not force:
        raise SigningKeyError(
            f"a signing key already exists at {path}; it signs every package made so far, so "
            "it is not replaced (move it away first to make a new one)")
    private = ec.generate_private_key(CURVE)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode()) if passphrase
        else serialization.NoEncryption())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                encryption)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    key = SigningKey(private, path)
    (folder / PUBLIC_KEY_FILE).write_text(key.public_pem())
    return key


def public_fingerprint(folder: Path) -> str | None:
    """The fingerprint of the public key kept beside the signing key (no passphrase needed)."""
    path = folder / PUBLIC_KEY_FILE
    if not path.is_file():
        return None
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise SigningKeyError(f"{path} is not an ECDSA public key")
    return fingerprint(public_der(key))


def load_key(folder: Path, passphrase: str | None = None) -> SigningKey:
    path = folder / KEY_FILE
    if not path.is_file():
        raise SigningKeyError(f"no signing key at {path}: run `isnad keys init`")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SigningKeyError(f"signing key {path} is readable by others (mode {mode:o}); "
                        f"run `chmod 600 {path}`")
    try:
        private = serialization.load_pem_private_key(
            path.read_bytes(), passphrase.encode() if passphrase else None)
    except TypeError as exc:
        raise SigningKeyError(f"signing key {path} is protected by a passphrase: set "
                        "ISNAD_SIGNING__PASSPHRASE (or signing.passphrase_file)") from exc
    except ValueError as exc:
        raise SigningKeyError(f"cannot open signing key {path}: wrong passphrase or damaged "
                        "file") from exc
    if not isinstance(private, ec.EllipticCurvePrivateKey):
        raise SigningKeyError(f"signing key {path} is not an ECDSA key")
    return SigningKey(private, path)


def sign_hash(key: SigningKey, hash_: str, *, created: str, software: str, version: str
              ) -> dict[str, Any]:
    """The ``signedData`` of a ``datapackage-digest.json`` whose hash is ``hash_``."""
    der = key.private.sign(hash_.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(COORDINATE_BYTES, "big") + s.to_bytes(COORDINATE_BYTES, "big")
    return {
        "hash": hash_,
        "created": created,
        "software": software,
        "version": version,
        "signature": base64.b64encode(raw).decode("ascii"),
        "publicKey": base64.b64encode(key.public_der).decode("ascii"),
    }


def signature_der(signed: dict[str, Any]) -> bytes:
    """The signature re-encoded as DER, as ``openssl dgst -verify`` reads it."""
    raw = base64.b64decode(signed["signature"])
    half = len(raw) // 2
    return encode_dss_signature(int.from_bytes(raw[:half], "big"),
                                int.from_bytes(raw[half:], "big"))


@dataclass
class SignatureCheck:
    ok: bool
    fingerprint: str | None
    checks: list[str]
    problems: list[str]


def verify_signed_data(signed: dict[str, Any] | None, expected_hash: str,
                       trusted: set[str] | None = None) -> SignatureCheck:
    """Check a ``signedData`` against the hash of ``datapackage.json``; ``trusted`` is the set
    of key fingerprints known (out of band) to be ours."""
    if not signed:
        return SignatureCheck(False, None, [], ["the package is not signed"])
    checks: list[str] = []
    problems: list[str] = []
    try:
        key, raw, print_ = _signature_parts(signed)
    except (KeyError, ValueError, TypeError) as exc:
        return SignatureCheck(False, None, [], [f"signedData unreadable: {exc}"])
    if signed.get("hash") != expected_hash:
        problems.append(f"signed hash {signed.get('hash')} is not datapackage.json's "
                        f"{expected_hash}")
    else:
        checks.append(f"signed hash matches datapackage.json ({expected_hash})")
    if _raw_signature_valid(key, raw, str(signed.get("hash", "")).encode("utf-8")):
        checks.append(f"ECDSA signature valid for public key {print_}")
    else:
        problems.append(f"the signature does not verify with public key {print_}")
    if trusted is not None:
        if print_ in trusted:
            checks.append("the public key is a trusted Isnad signing key")
        else:
            problems.append(f"public key {print_} is not among the trusted keys")
    return SignatureCheck(not problems, print_, checks, problems)


def sign_bytes(key: SigningKey, data: bytes) -> dict[str, str]:
    """A detached signature of ``data`` (ECDSA P-384 over SHA-256, raw ``r || s`` in base64),
    with the public key and its fingerprint, as custody heads carry it."""
    der = key.private.sign(data, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(COORDINATE_BYTES, "big") + s.to_bytes(COORDINATE_BYTES, "big")
    return {"algorithm": "ECDSA P-384 SHA-256",
            "signature": base64.b64encode(raw).decode("ascii"),
            "publicKey": base64.b64encode(key.public_der).decode("ascii"),
            "fingerprint": key.fingerprint}


def verify_bytes(signed: dict[str, Any] | None, data: bytes, trusted: set[str] | None = None
                 ) -> SignatureCheck:
    """Check a :func:`sign_bytes` signature of ``data``; ``trusted`` as for
    :func:`verify_signed_data`."""
    if not signed:
        return SignatureCheck(False, None, [], ["not signed"])
    try:
        key, raw, print_ = _signature_parts(signed)
    except (KeyError, ValueError, TypeError) as exc:
        return SignatureCheck(False, None, [], [f"signature unreadable: {exc}"])
    checks: list[str] = []
    problems: list[str] = []
    if _raw_signature_valid(key, raw, data):
        checks.append(f"signed by {print_}")
    else:
        problems.append(f"the signature does not verify with public key {print_}")
    if trusted is not None and print_ not in trusted:
        problems.append(f"public key {print_} is not among the trusted keys")
    return SignatureCheck(not problems, print_, checks, problems)


def _signature_parts(signed: dict[str, Any]) -> tuple[ec.EllipticCurvePublicKey, bytes, str]:
    """The public key, the raw ``r || s`` signature and the key's fingerprint of a signature
    record (raises KeyError, ValueError or TypeError when it is unreadable)."""
    der = base64.b64decode(signed["publicKey"], validate=True)
    key = serialization.load_der_public_key(der)
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("not an ECDSA public key")
    return key, base64.b64decode(signed["signature"], validate=True), fingerprint(der)


def _raw_signature_valid(key: ec.EllipticCurvePublicKey, raw: bytes, data: bytes) -> bool:
    """Does the raw ``r || s`` ECDSA signature over SHA-256 verify ``data`` with ``key``?"""
    half = len(raw) // 2
    try:
        key.verify(encode_dss_signature(int.from_bytes(raw[:half], "big"),
                                        int.from_bytes(raw[half:], "big")),
                   data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True
