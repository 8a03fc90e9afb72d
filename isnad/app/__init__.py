"""The application layer: Isnad's use cases, the one entry point of every interface.

The CLI (and the web API, the scheduler and the importer) call these functions and print or
return what they give back; none reaches past them into ``archiver`` or ``crawlers``. Each use
case is a module: opening the archive the settings describe (``archive``), finding and showing
captures (``catalog``), verification, late timestamps and custody anchors (``proof``), fixity
audits (``audit``), importing archived collections (``imports``), storage sync and checks
(``storage``), rebuilding the catalog
(``reindex``), the signing key (``keys``) and export bundles (``export``); the runtime:
capture jobs (``jobs``), the queue (``queue``), running a job (``runner``, ``child``,
``capture``), workers (``worker``) and what interfaces call of them (``runtime``).
``records`` shapes their results as JSON. The domain errors, states (and the verification
report) are re-exported, so an interface catches and compares them here.
"""

from archiver.archive import Archive
from archiver.errors import CaptureRefused, IsnadError, NotFound
from archiver.states import CaptureState, CustodyAction, JobState
from archiver.verify import VerificationReport
from isnad.app import records
from isnad.app.archive import configured_tsas, open_archive, proof_options, signing_key
from isnad.app.audit import AuditPlan, audit_fixity, plan_audit
from isnad.app.catalog import CaptureList, find_captures, show_capture
from isnad.app.export import Bundle, export_bundle
from isnad.app.keys import NewSigningKey, PublicKey, create_signing_key, public_key
from isnad.app.proof import (
    AnchorReport,
    TimestampRetry,
    anchor_custody,
    retry_timestamps,
    verify,
    verify_capture,
)
from isnad.app.reindex import RebuiltCatalog, rebuild_catalog
from isnad.app.storage import TargetCheck, check_storage, sync_storage

__all__ = [
    "AnchorReport", "Archive", "AuditPlan", "Bundle", "CaptureList", "CaptureRefused",
    "CaptureState", "CustodyAction", "IsnadError", "JobState",
    "NewSigningKey", "NotFound", "PublicKey", "RebuiltCatalog", "TargetCheck", "TimestampRetry",
    "VerificationReport", "anchor_custody", "audit_fixity", "check_storage", "configured_tsas",
    "create_signing_key", "export_bundle", "find_captures", "open_archive", "plan_audit",
    "proof_options", "public_key", "rebuild_catalog", "records", "retry_timestamps",
    "show_capture", "signing_key", "sync_storage", "verify", "verify_capture",
]
