"""The custody log: a hash chain of events, one chain per capture.

Each event names the time (UTC), the actor, the action, the SHA-256 of the object acted on, and
the hash of the event before it. An event's own hash covers all of that, so editing, removing or
reordering any event breaks the chain from that point on.

The chain alone cannot show that its *last* events were removed, nor that it was rewritten and
re-hashed as a whole. So after every event a *head* is written beside it (in the catalog and on
every storage target): the number of events, the last event's hash and the SHA-256 of the
capture's catalog record, signed with the signing key. A removed last event, an edited record
or a re-hashed chain then no longer matches a head that only the key holder can sign; heads
timestamped by a TSA (``isnad custody anchor``) fix the chain up to that point in time.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from archiver.hashing import sha256_bytes

GENESIS = "0" * 64

HEAD_FORMAT = "isnad-custody-head/1"
# Written into the details of a chain's first event: this chain has heads (older ones do not).
HEAD_MARK = "custody_head"


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


def chain_head(capture_id: str, events: list[CustodyEvent], record_sha256: str | None,
               time: str | None = None) -> dict[str, Any]:
    """The head of a chain (unsigned): how many events, the last one's hash, the record's hash."""
    last = events[-1] if events else None
    return {
        "format": HEAD_FORMAT,
        "capture_id": capture_id,
        "count": len(events),
        "last_hash": last.hash if last else GENESIS,
        "last_action": last.action if last else None,
        "record_sha256": record_sha256,
        "time": time or utc_now(),
    }


def head_signed_bytes(head: dict[str, Any]) -> bytes:
    """The bytes a head's signature covers: everything but the signature (and why it is absent)."""
    return canonical_json({k: v for k, v in head.items() if k not in ("signature", "unsigned")})


def head_sha256(head: dict[str, Any]) -> str:
    """The hash of a whole head, signature included: what a TSA timestamps to anchor it."""
    return sha256_bytes(canonical_json(head))


def head_problems(head: dict[str, Any], events: list[CustodyEvent],
                  record_sha256: str | None, record_fields: dict[str, str] | None = None
                  ) -> list[str]:
    """Where a chain (and its capture record) disagrees with a head, in words; with the
    record's per-field hashes, the edited fields are named."""
    problems = []
    count = head.get("count")
    if head.get("format") != HEAD_FORMAT:
        problems.append(f"unknown head format {head.get('format')!r}")
    if count != len(events):
        problems.append(f"the head records {count} events, the chain has {len(events)}"
                        + (" (events were removed)" if isinstance(count, int)
                           and count > len(events) else ""))
    elif (events[-1].hash if events else GENESIS) != head.get("last_hash"):
        problems.append(f"the last event's hash is not the head's {head.get('last_hash')} "
                        "(the chain was rewritten)")
    for found in head.get("breaks") or []:
        problems.append(f"the chain no longer matched its signed head when event "
                        f"#{found.get('at_event')} was added: "
                        + "; ".join(found.get("problems") or []))
    if record_sha256 is not None and head.get("record_sha256") != record_sha256:
        signed = head.get("record_fields")
        edited = sorted(name for name, value in (record_fields or {}).items()
                        if isinstance(signed, dict) and signed.get(name) != value)
        problems.append("the capture record does not match its signed head (edited: "
                        + (", ".join(edited) if edited else "operator, URL, state, package or "
                           "artifact hashes") + ")")
    return problems


def is_anchored_chain(events: list[CustodyEvent]) -> bool:
    """Whether a chain was begun with heads (chains recorded before heads existed have none)."""
    return bool(events) and HEAD_MARK in (events[0].details or {})
