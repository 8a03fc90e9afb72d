"""The application layer: Isnad's use cases, the one entry point of every interface.

The CLI (and the web API, the scheduler and the importer) call these functions and print or
return what they give back; none reaches past them into ``archiver`` or ``crawlers``. Each use
case is a module: opening the archive the settings describe (``archive``), finding and showing
captures (``catalog``), verification, late timestamps and custody anchors (``proof``), fixity
audits (``audit``), importing archived collections (``imports``), storage sync and checks
(``storage``), rebuilding the catalog
(``reindex``), full-text search (``search``), the signing key (``keys``) and export
bundles (``export``); the runtime:
capture jobs (``jobs``), the queue (``queue``), running a job (``runner``, ``child``,
``capture``), workers (``worker``) and what interfaces call of them (``runtime``).
``records`` shapes their results as JSON. The domain errors, states (and the verification
report) are re-exported, so an interface catches and compares them here.

Nothing is imported until it is used (PEP 562): ``isnad --help`` or ``isnad list`` must not pay
for Scrapy, Playwright, yt-dlp or boto3, which the capture use cases bring in. A use case
module taken from here (``from isnad.app import monitors``) is loaded at its first attribute
access, so an interface can name it at the top and still start fast.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the names below are, for type checkers and readers
    from archiver.archive import Archive
    from archiver.errors import CaptureRefused, IsnadError, NotFound
    from archiver.states import CaptureState, CustodyAction, JobState
    from archiver.verify import VerificationReport
    from isnad.app import records
    from isnad.app.archive import configured_tsas, open_archive, proof_options, signing_key
    from isnad.app.audit import AuditPlan, audit_fixity, plan_audit
    from isnad.app.catalog import CaptureList, find_captures, iter_captures, show_capture
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

# Each exported name → the module that defines it.
_EXPORTS: dict[str, str] = {
    "Archive": "archiver.archive",
    "CaptureRefused": "archiver.errors", "IsnadError": "archiver.errors",
    "NotFound": "archiver.errors",
    "CaptureState": "archiver.states", "CustodyAction": "archiver.states",
    "JobState": "archiver.states",
    "VerificationReport": "archiver.verify",
    **dict.fromkeys(("configured_tsas", "open_archive", "proof_options", "signing_key"),
                    "isnad.app.archive"),
    **dict.fromkeys(("AuditPlan", "audit_fixity", "plan_audit"), "isnad.app.audit"),
    **dict.fromkeys(("CaptureList", "find_captures", "iter_captures", "show_capture"),
                    "isnad.app.catalog"),
    **dict.fromkeys(("Bundle", "export_bundle"), "isnad.app.export"),
    **dict.fromkeys(("NewSigningKey", "PublicKey", "create_signing_key", "public_key"),
                    "isnad.app.keys"),
    **dict.fromkeys(("AnchorReport", "TimestampRetry", "anchor_custody", "retry_timestamps",
                     "verify", "verify_capture"), "isnad.app.proof"),
    **dict.fromkeys(("RebuiltCatalog", "rebuild_catalog"), "isnad.app.reindex"),
    **dict.fromkeys(("TargetCheck", "check_storage", "sync_storage"), "isnad.app.storage"),
}

_SUBMODULES = ("access", "accounts", "archive", "audit", "capture", "catalog", "child",
               "export", "files", "jobs", "keys", "monitors", "proof", "queue", "records",
               "reindex", "runner", "runtime", "schedules", "search", "storage", "worker")

__all__ = [
    "AnchorReport", "Archive", "AuditPlan", "Bundle", "CaptureList", "CaptureRefused",
    "CaptureState", "CustodyAction", "IsnadError", "JobState",
    "NewSigningKey", "NotFound", "PublicKey", "RebuiltCatalog", "TargetCheck", "TimestampRetry",
    "VerificationReport", "anchor_custody", "audit_fixity", "check_storage", "configured_tsas",
    "create_signing_key", "export_bundle", "find_captures", "iter_captures", "open_archive",
    "plan_audit", "proof_options", "public_key", "rebuild_catalog", "records", "retry_timestamps",
    "show_capture", "signing_key", "sync_storage", "verify", "verify_capture",
]


def __getattr__(name: str) -> Any:
    """An exported name, imported from its module on first use (PEP 562); a use case module,
    loaded at its first attribute access."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # the next access is an ordinary lookup
        return value
    if name in _SUBMODULES:
        module = _lazy_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, *_SUBMODULES})


def _lazy_module(fullname: str) -> ModuleType:
    """``fullname``, loaded when one of its attributes is first read (importlib's LazyLoader).
    A module already imported is returned as it is."""
    if fullname in sys.modules:
        return sys.modules[fullname]
    spec = importlib.util.find_spec(fullname)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"no module named {fullname!r}", name=fullname)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[fullname] = module
    spec.loader.exec_module(module)
    return module
