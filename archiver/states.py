"""Every state and custody action, named once.

They are ``StrEnum``s: each member is its text, so what the catalog and the custody log already
hold compares equal to them, and JSON shows the plain text. Two sets never share a name
(a capture that FAILED and the custody action ``failed`` are different things)."""

from __future__ import annotations

from enum import StrEnum


class CaptureState(StrEnum):
    """Where a capture stands. RUNNING while a crawler works; the others are outcomes."""

    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"


class CopyState(StrEnum):
    """A package's copy on one storage target: verified there, or waiting in the spool."""

    STORED = "STORED"
    PENDING = "PENDING"


class ProofState(StrEnum):
    """A timestamp entry of a capture's proof: a token got at capture time, a TSA that failed
    (asked again by ``isnad timestamp --pending``), or a token got later."""

    STAMPED = "stamped"
    PENDING = "pending"
    LATE = "stamped-late"


class JobState(StrEnum):
    """Where a capture job stands in the queue (lower case: a job is not a capture)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"  # ran to the end; its captures say how well (COMPLETE, PARTIAL, FAILED)
    FAILED = "failed"  # could not run to the end (its process crashed, or gave up)
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


class JobSource(StrEnum):
    """Who submitted a job; a monitor or an import adds its own id (``monitor:<id>``)."""

    CLI = "cli"
    API = "api"
    MONITOR = "monitor"
    IMPORT = "import"


class ImportFileState(StrEnum):
    """What became of a file handed over in an import: imported (stored as a capture of its
    own), a duplicate of one already in the vault (linked), refused (named with why),
    not packaged (checked, then packaging failed), or being checked (an interrupted import
    redoes it). Names and texts apart from the capture's and the custody log's."""

    CHECKING = "checking"
    IMPORTED = "imported"
    DUPLICATE = "duplicate"
    REFUSED = "refused"
    NOT_PACKAGED = "not-packaged"


class MonitorPostState(StrEnum):
    """Where a monitored post stands: listed, captured, or found gone or changed since."""

    SEEN = "seen"
    CAPTURED = "captured"
    DISAPPEARED = "disappeared"
    CHANGED = "changed"


class CustodyAction(StrEnum):
    """What a custody event records."""

    REQUESTED = "requested"
    # An import (issue 14): a file handed over by a provider, hashed on arrival, then checked.
    RECEIVED = "received"
    VALIDATED = "validated"
    CAPTURED = "captured"
    PACKAGED = "packaged"
    STORED = "stored"
    STORAGE_FAILED = "storage-failed"
    VERIFIED = "verified"
    VERIFICATION_FAILED = "verification-failed"
    FAILED = "failed"
    TIMESTAMPED = "timestamped"
    STATE_CHANGED = "state-changed"
    AUDITED = "audited"
    AUDIT_FAILED = "audit-failed"
    EXPORTED = "exported"
    RETRIED = "retried"  # an interrupted attempt, linked to the job attempt that replaces it
    # A capture sealed by an attempt that was no longer its job's (its worker was partitioned or
    # late, and the job was queued again or settled meanwhile): kept aside, not the job's result.
    SUPERSEDED = "superseded"
    # On a monitored post's last good capture: a recheck found it gone (the evidence of its
    # absence is a capture of its own, named in the event).
    POST_DISAPPEARED = "post-disappeared"
    # A look at the evidence through the web app or the API (issue 15): who, from which
    # address, and what (details: action view | download | replay | export, the file...).
    ACCESSED = "accessed"
    # On a monitored post's superseded version (its last good capture): a new capture found its
    # content changed; the event names both captures and holds the field-by-field diff.
    POST_CHANGED = "post-changed"
