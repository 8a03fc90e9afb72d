"""RFC 3161 trusted timestamps: a third party's signed word that a digest existed at a time.

Only the SHA-256 digest goes to the time-stamping authority (TSA): files can be many GB and
are hashed while streaming, never held here. A token is kept as the whole DER TimeStampResp,
the form ``openssl ts -verify -in FILE.tsr`` reads, so anyone can check it without Isnad.
"""

from __future__ import annotations

import http.client
import re
import secrets
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from asn1crypto import tsp
from cryptography import x509
from rfc3161_client import (
    PKIStatus,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

from archiver.errors import IsnadError

HASH_NAMES = {
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
SHA256_OID = "2.16.840.1.101.3.4.2.1"
MAX_REPLY = 1024 * 1024  # a reply is a few KB; anything this big is not from a TSA
CLOCK_SLACK = timedelta(minutes=1)  # the TSA's clock and ours may differ slightly


class TimestampError(IsnadError):
    """A TSA gave no usable token, or a token or TSA certificate could not be read."""


@dataclass(frozen=True)
class TSA:
    """A time-stamping authority and the certificates its tokens are checked against."""

    name: str
    url: str
    ca_file: Path  # PEM: the root(s) to trust
    # PEM: the TSA's signing certificate and intermediates, when the reply does not embed them
    certs_file: Path | None = None
    timeout: float = 15.0

    def roots(self) -> list[x509.Certificate]:
        return _load_pem(self.ca_file, f"TSA {self.name} root")

    def intermediates(self) -> list[x509.Certificate]:
        if self.certs_file is None:
            return []
        return _load_pem(self.certs_file, f"TSA {self.name} signing")


@dataclass
class TokenCheck:
    """What verifying a token found: ``checks`` passed, ``problems`` failed."""

    ok: bool
    gen_time: datetime | None
    tsa_subject: str | None
    serial: int | None
    policy: str | None
    checks: list[str]
    problems: list[str]


def request_token(tsa: TSA, sha256_hex: str) -> bytes:
    """Have ``tsa`` timestamp a SHA-256 digest; return the DER TimeStampResp once it checks
    out (granted, our nonce, our digest, signature chaining to the TSA's configured root)."""
    digest = _digest(sha256_hex)
    roots, intermediates = tsa.roots(), tsa.intermediates()  # a bad config fails before sending
    nonce = secrets.randbits(64)
    query = tsp.TimeStampReq({
        "version": 1,
        "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": digest},
        "nonce": nonce,
        "cert_req": True,
    }).dump()
    where = f"TSA {tsa.name} ({tsa.url})"
    reply = _post(tsa, query, where)
    try:
        response = decode_timestamp_response(reply)
    except ValueError as exc:
        raise TimestampError(f"{where} sent a reply that is not a TimeStampResp: {exc}") from None
    if response.status != PKIStatus.GRANTED:
        raise TimestampError(f"{where} refused to timestamp: {_status(response)}")
    if response.tst_info.nonce != nonce:
        raise TimestampError(f"{where} replied with another request's nonce (a replayed or "
                             "misrouted reply)")
    if _imprint(response) != ("sha256", digest):
        raise TimestampError(f"{where} timestamped another digest than the one sent")
    check = verify_token(reply, sha256_hex, roots, intermediates)
    if not check.ok:
        raise TimestampError(f"{where} sent a token that does not verify: "
                             + "; ".join(check.problems))
    return reply


def verify_token(tsr: bytes, sha256_hex: str, roots: Sequence[x509.Certificate],
                 intermediates: Sequence[x509.Certificate] = (),
                 not_before: datetime | None = None, not_after: datetime | None = None
                 ) -> TokenCheck:
    """Check a token against a digest and the roots we trust and, when given, the window
    [not_before, not_after] its time must fall in (give or take a minute of clock skew).

    A bad token is a finding, not an error: it comes back with ``ok`` False and its problems.
    Raises TimestampError only when ``tsr`` is not a TimeStampResp at all.
    """
    digest = _digest(sha256_hex)
    response = _decode(tsr)
    checks: list[str] = []
    problems: list[str] = []
    if response.status != PKIStatus.GRANTED:
        problems.append(f"not a granted token: {_status(response)}")
        return TokenCheck(False, None, None, None, None, checks, problems)
    info = response.tst_info

    algorithm, imprint = _imprint(response)
    if (algorithm, imprint) == ("sha256", digest):
        checks.append(f"message imprint matches sha256 {sha256_hex.lower()}")
    else:
        problems.append(f"message imprint is {algorithm} {imprint.hex()}, "
                        f"not sha256 {sha256_hex.lower()}")

    embedded = _embedded_certificates(response)
    signer = _signer(response, embedded or intermediates)
    if not roots:
        problems.append("no trusted root given to check the token's signature against")
    else:
        # Without embedded certificates the library needs the signer named explicitly.
        verifier = VerifierBuilder(
            roots=list(roots), intermediates=list(intermediates),
            tsa_certificate=signer if not embedded else None,
        ).build()
        try:
            verifier.verify(response, digest)
            root = _issuing_root(signer, intermediates, roots)
            checks.append("token signature valid, chain to root "
                          + (root.subject.rfc4514_string() if root else "(unnamed)"))
        except VerificationError as exc:
            problems.append(f"token does not verify: {_reason(exc)}")

    gen_time = info.gen_time.astimezone(UTC)
    stamp = _iso(gen_time)
    checks.append(f"time {stamp}")
    if not_before is not None or not_after is not None:
        window = (f"[{_iso(not_before) if not_before else '…'}, "
                  f"{_iso(not_after) if not_after else '…'}]")
        too_early = not_before is not None and gen_time < not_before - CLOCK_SLACK
        too_late = not_after is not None and gen_time > not_after + CLOCK_SLACK
        if too_early or too_late:
            problems.append(f"time {stamp} is outside the expected window {window}")
        else:
            checks.append(f"time lies within the expected window {window}")

    return TokenCheck(
        ok=not problems, gen_time=gen_time,
        tsa_subject=signer.subject.rfc4514_string() if signer else None,
        serial=info.serial_number, policy=info.policy.dotted_string,
        checks=checks, problems=problems,
    )


def token_info(tsr: bytes) -> dict[str, Any]:
    """What a manifest records of a token: its time, serial, policy, signer and imprint."""
    response = _decode(tsr)
    if response.status != PKIStatus.GRANTED:
        raise TimestampError(f"not a granted timestamp token: {_status(response)}")
    info = response.tst_info
    signer = _signer(response, _embedded_certificates(response))
    algorithm, imprint = _imprint(response)
    return {
        "gen_time": _iso(info.gen_time),
        "serial": info.serial_number,
        "policy": info.policy.dotted_string,
        "tsa_subject": signer.subject.rfc4514_string() if signer else None,
        "hash_algorithm": algorithm,
        "imprint": imprint.hex(),
    }


def _post(tsa: TSA, query: bytes, where: str) -> bytes:
    request = urllib.request.Request(
        tsa.url, data=query, method="POST",
        headers={"Content-Type": "application/timestamp-query"},
    )
    try:
        with urllib.request.urlopen(request, timeout=tsa.timeout) as reply:
            body = reply.read(MAX_REPLY + 1)
    except urllib.error.HTTPError as exc:
        raise TimestampError(f"{where} answered HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        reason = getattr(exc.reason, "strerror", None) or exc.reason
        raise TimestampError(f"{where} could not be reached: {reason}") from None
    except TimeoutError:
        raise TimestampError(f"{where} did not answer within {tsa.timeout:g} s") from None
    except (OSError, http.client.HTTPException) as exc:
        raise TimestampError(f"{where} broke off the exchange: {exc!r}") from None
    if len(body) > MAX_REPLY:
        raise TimestampError(f"{where} sent more than {MAX_REPLY} bytes; not a timestamp reply")
    return body


def _load_pem(path: Path | str, what: str) -> list[x509.Certificate]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TimestampError(f"cannot read the {what} certificates {path}: "
                             f"{exc.strerror or exc}") from None
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise TimestampError(f"no PEM certificate in {path} (the {what} certificates)") from None


def _digest(sha256_hex: str) -> bytes:
    try:
        digest = bytes.fromhex(sha256_hex)
    except ValueError:
        digest = b""
    if len(digest) != 32:
        raise TimestampError(f"not a SHA-256 hex digest: {sha256_hex!r}")
    return digest


def _decode(tsr: bytes) -> TimeStampResponse:
    try:
        return decode_timestamp_response(tsr)
    except ValueError as exc:
        raise TimestampError(f"not an RFC 3161 TimeStampResp: {exc}") from None


def _status(response: TimeStampResponse) -> str:
    try:
        status = PKIStatus(response.status).name
    except ValueError:
        status = str(response.status)
    text = "; ".join(response.status_string)
    return f"status {status}" + (f" ({text})" if text else "")


def _imprint(response: TimeStampResponse) -> tuple[str, bytes]:
    imprint = response.tst_info.message_imprint
    oid = imprint.hash_algorithm.dotted_string
    return HASH_NAMES.get(oid, oid), imprint.message


def _embedded_certificates(response: TimeStampResponse) -> list[x509.Certificate]:
    return [x509.load_der_x509_certificate(der) for der in response.signed_data.certificates]


def _signer(response: TimeStampResponse, candidates: Sequence[x509.Certificate]
            ) -> x509.Certificate | None:
    """The certificate the SignerInfo names (by issuer and serial), if among ``candidates``."""
    for info in response.signed_data.signer_infos:
        for cert in candidates:
            if cert.issuer == info.issuer and cert.serial_number == info.serial_number:
                return cert
    return None


def _issuing_root(leaf: x509.Certificate | None, intermediates: Sequence[x509.Certificate],
                  roots: Sequence[x509.Certificate]) -> x509.Certificate | None:
    """The root the leaf chains to, by names; only for reporting, after the library verified."""
    cert = leaf
    for _ in range(len(intermediates) + 1):
        if cert is None:
            return None
        for root in roots:
            if root.subject == cert.issuer:
                return root
        cert = next((c for c in intermediates
                     if c.subject == cert.issuer and c != cert), None)
    return None


def _reason(exc: VerificationError) -> str:
    """The library's message, without the OpenSSL error-stack dump when there is one."""
    detail = re.search(r'data: "([^"]+)"', str(exc))
    return detail.group(1) if detail else str(exc)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
