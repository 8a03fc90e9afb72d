"""Proof of who and when: signing and RFC 3161 timestamping of a capture, and their checks.

Every WARC is timestamped as soon as it is closed (token in the package under ``timestamps/``,
listed in ``datapackage.json`` and in the capture context); ``datapackage.json`` is signed and
timestamped once packaged (signature and token listed in ``datapackage-digest.json``, since a
file cannot list its own seal). A TSA that fails leaves a *pending* entry: the capture is
PARTIAL for it and ``isnad timestamp --pending`` asks again later, storing the late token
beside the package.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509

from archiver.package import Seal
from archiver.signing import SigningKey, sign_hash, verify_signed_data
from archiver.states import ProofState
from archiver.timestamps import TSA, TimestampError, request_token, token_info, verify_token

# Old names, now aliases of archiver.states members: isnad/service.py imports them.
STAMPED = ProofState.STAMPED
PENDING = ProofState.PENDING
LATE = ProofState.LATE


def token_path(subject: str, tsa: str) -> str:
    """Where a token for ``subject`` (a package path) by ``tsa`` lives in a package."""
    return f"timestamps/{subject.replace('/', '_')}.{re.sub(r'[^A-Za-z0-9_.-]', '_', tsa)}.tsr"


@dataclass
class Prover:
    """Signs and timestamps for one capture; collects the entries for its context."""

    key: SigningKey | None
    tsas: list[TSA]
    software: str
    version: str
    entries: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def stamp(self, subject: str, sha256: str) -> list[tuple[str, bytes]]:
        """Ask every TSA for a token on ``sha256``; return (package path, token) pairs."""
        tokens = []
        for tsa in self.tsas:
            path = token_path(subject, tsa.name)
            entry: dict[str, Any] = {"subject": subject, "sha256": sha256, "tsa": tsa.name,
                                     "tsa_url": tsa.url, "path": path}
            try:
                token = request_token(tsa, sha256)
            except TimestampError as exc:
                entry.update(state=ProofState.PENDING, error=str(exc))
                self.failures.append(f"timestamp pending for {subject}: {exc}")
            else:
                entry.update(state=ProofState.STAMPED, **token_info(token))
                tokens.append((path, token))
            self.entries.append(entry)
        return tokens

    def seal(self, hash_: str, created: str) -> Seal:
        """Sign and timestamp ``datapackage.json`` (its ``hash_`` is ``sha256:<hex>``)."""
        signed = (sign_hash(self.key, hash_, created=created, software=self.software,
                            version=self.version) if self.key else None)
        sha256 = hash_.split(":", 1)[1]
        tokens = []
        for path, token in self.stamp("datapackage.json", sha256):
            entry = next(e for e in self.entries if e["path"] == path)
            tokens.append((path, token, {"subject": "datapackage.json", "tsa": entry["tsa"],
                                         **token_info(token)}))
        return Seal(signed, tokens)

    def context(self) -> dict[str, Any]:
        return {
            "signing": ({"algorithm": "ECDSA P-384 SHA-256", "fingerprint":
                         self.key.fingerprint} if self.key else None),
            "timestamps": self.entries,
            "tsas": [{"name": t.name, "url": t.url} for t in self.tsas],
        }


@dataclass
class ProofOptions:
    """What verification trusts: signing key fingerprints and, per TSA name, its roots."""

    trusted_keys: set[str] | None = None
    tsa_roots: dict[str, tuple[list[x509.Certificate], list[x509.Certificate]]] = field(
        default_factory=dict)
    max_delay: timedelta = timedelta(hours=1)
    # Accept a package without a signature (integrity only, no proof of origin).
    allow_unsigned: bool = False

    @classmethod
    def from_tsas(cls, tsas: list[TSA], trusted_keys: set[str] | None = None,
                  max_delay_minutes: float = 60) -> ProofOptions:
        roots = {}
        for tsa in tsas:
            try:
                roots[tsa.name] = (tsa.roots(), tsa.intermediates())
            except TimestampError:
                continue  # reported when a token of that TSA is checked
        return cls(trusted_keys, roots, timedelta(minutes=max_delay_minutes))


def check_token(options: ProofOptions, tsa: str, token: bytes, sha256: str,
                window: tuple[datetime, datetime] | None) -> tuple[bool, str]:
    """One line on one token: imprint, signature, chain to the configured roots, time."""
    if tsa not in options.tsa_roots:
        return False, f"no root certificate configured for TSA {tsa!r}: chain not checked"
    roots, intermediates = options.tsa_roots[tsa]
    not_before = not_after = None
    if window:
        not_before, not_after = window[0], window[1] + options.max_delay
    result = verify_token(token, sha256, roots, intermediates, not_before, not_after)
    return result.ok, "; ".join(result.problems if not result.ok else result.checks)


def check_late_token(options: ProofOptions, entry: dict[str, Any], token: bytes,
                     started: datetime | None) -> tuple[bool, str]:
    """One line on a token obtained late (``isnad timestamp --pending``): imprint, signature and
    chain as for any token; its time can only be after the capture began, never before."""
    tsa = str(entry.get("tsa"))
    ok, detail = check_token(options, tsa, token, str(entry.get("sha256")), None)
    if not ok:
        return ok, detail
    gen_time = token_info(token).get("gen_time")
    try:
        when = _parse(gen_time) if gen_time else None
    except ValueError:
        when = None
    if when is None:
        return False, f"{detail}; the token's time is unreadable"
    if started is not None and when < started:
        return False, f"{detail}; stamped {gen_time}, before the capture began ({started})"
    return True, f"{detail}; obtained late, at {gen_time}"


def pending_reasons_settled(reasons: list[str], entries: list[dict[str, Any]]) -> list[str]:
    """The reasons that remain once late tokens replaced pending ones: a "timestamp pending for
    SUBJECT" reason goes when no entry for that subject is still pending."""
    open_subjects = {e.get("subject") for e in entries if e.get("state") == ProofState.PENDING}
    prefix = "timestamp pending for "
    return [r for r in reasons if not r.startswith(prefix)
            or r[len(prefix):].split(": ", 1)[0] in open_subjects]


def capture_window(context: dict[str, Any]) -> tuple[datetime, datetime] | None:
    try:
        return (_parse(context["started_at"]), _parse(context["ended_at"]))
    except (KeyError, TypeError, ValueError):
        return None


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)


__all__ = ["LATE", "PENDING", "STAMPED", "ProofOptions", "Prover", "capture_window",
           "check_late_token", "check_token", "pending_reasons_settled", "token_path",
           "verify_signed_data"]
