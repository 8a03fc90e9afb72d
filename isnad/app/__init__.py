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
``records`` shapes their results as JSON.

An interface imports a use case from its module (``from isnad.app.catalog import
find_captures``), where it is used: a command that does not use a module does not pay for it
(``isnad --help`` and ``isnad list`` must not load Scrapy, Playwright, yt-dlp, boto3 or the
signing code; tests/test_fixed_costs.py). Nothing here is loaded lazily: a lazy module (PEP 562
or importlib's LazyLoader) could be half-loaded by anything walking ``sys.modules`` during an
import (``inspect.stack()`` did: ``isnad serve`` could not start its worker). Only the domain
errors and states are re-exported (small modules of plain classes), so an interface catches
and compares them here.
"""

from __future__ import annotations

from archiver.errors import CaptureRefused, IsnadError, NotFound
from archiver.states import CaptureState, CustodyAction, JobState

__all__ = ["CaptureRefused", "CaptureState", "CustodyAction", "IsnadError", "JobState",
           "NotFound"]
