"""The custody log: a hash chain of events, one chain per capture.

Each event names the time (UTC), the actor, the action, the SHA-256 of the object acted on, and
the hash of the event before it. An event's own hash covers all of that, so editing, removing or
reordering any event breaks the chain from that point on.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from archiver.hashing import sha256_bytes

GENESIS = "0" * 64

# Actions used by Isnad; the log accepts others so later steps (export, audit) can add theirs.
REQUESTED = "requested"
CAPTURED = "captured"
PACKAGED = "packaged"
STORED = "stored"
VERIFIED = "verified"
FAILED = "failed"


def canonical_json(value: Any) -> bytes:
    """The one byte form that is hashed: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class CustodyEvent:
    """One step in the life of a capture."""

    capture_id: str
    seq: int
    time: str
    actor: str
    action: str
    object_sha256: str | None
    details: dict[str, Any] = field(default_factory=dict)
    prev_hash: str = GENESIS
    hash: str = ""

    def body(self) -> dict[str, Any]:
        """Everything the event's hash covers."""
        data = asdict(self)
        data.pop("hash")
        return data

    def computed_hash(self) -> str:
        return sha256_bytes(canonical_json(self.body()))

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CustodyEvent:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def next_event(
    previous: CustodyEvent | None,
    *,
    capture_id: str,
    actor: str,
    action: str,
    object_sha256: str | None,
    details: dict[str, Any] | None = None,
    time: str | None = None,
) -> CustodyEvent:
    """Build the event that follows ``previous`` (or the first one), with its hash."""
    draft = CustodyEvent(
        capture_id=capture_id,
        seq=(previous.seq + 1) if previous else 1,
        time=time or utc_now(),
        actor=actor,
        action=action,
        object_sha256=object_sha256,
        details=details or {},
        prev_hash=previous.hash if previous else GENESIS,
    )
    return CustodyEvent(**{**asdict(draft), "hash": draft.computed_hash()})


def chain_problems(events: list[CustodyEvent]) -> list[str]:
    """Every break in a capture's chain, in words; empty when the chain is intact."""
    problems: list[str] = []
    previous_hash = GENESIS
    for position, event in enumerate(events, start=1):
        label = f"custody event #{event.seq} ({event.action})"
        if event.seq != position:
            problems.append(f"{label}: expected sequence number {position}")
        if event.prev_hash != previous_hash:
            problems.append(f"{label}: does not link to the event before it")
        if event.computed_hash() != event.hash:
            problems.append(f"{label}: its content does not match its hash (edited?)")
        previous_hash = event.hash
    return problems
