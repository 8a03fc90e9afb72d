"""The archive as the settings describe it: catalog, storage targets, signing key and TSAs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from archiver.archive import Archive
from archiver.catalog import Catalog
from archiver.jobs import link_to_retries
from archiver.storage import open_storage
from isnad import __version__
from isnad.config import Settings

if TYPE_CHECKING:  # the proof modules load when a capture or a verification needs them
    from archiver.pagetext import PageTexts
    from archiver.proof import ProofOptions, Prover
    from archiver.signing import SigningKey
    from archiver.timestamps import TSA

log = logging.getLogger("isnad")


def open_archive(settings: Settings, *, recover: bool = True, queue_age: float = 60.0
                 ) -> Archive:
    """The catalog and storage targets named by the settings, their folders made first (a
    folder that cannot be made is one clear error naming its setting).

    With ``recover``, interrupted captures are settled first (FAILED, files kept aside) and
    custody events that waited in the queue are written.
    """
    settings.prepare_folders()
    settings.home.mkdir(parents=True, exist_ok=True)
    targets = [open_storage(t.url, name=t.name, **t.options())
               for t in settings.storage_targets()]
    archive = Archive(settings.home, Catalog(settings.catalog_url), targets,
                      retries=settings.storage.retries, backoff=settings.storage.backoff,
                      host=settings.machine())
    archive.prover_factory = lambda: _prover(settings)
    archive.proof_options_factory = lambda: proof_options(settings)
    # Every capture catalogued COMPLETE or PARTIAL is indexed for search, from its package
    # while it is still local (isnad.app.search; a failure is logged, never fails it).
    archive.on_catalogued = _index_for_search(archive)
    # Custody heads are signed with the same key (never created here: a capture creates it).
    archive.use_head_key(lambda: signing_key(settings))
    if recover:
        # A capture settled here whose job another machine already runs again is linked
        # to that retry (archiver.jobs.link_to_retries).
        link_to_retries(archive, archive.recover_interrupted())
        archive.record_queued_events(queue_age)
    return archive


def prepare_archive(archive: Archive, settings: Settings) -> None:
    """Open the signing key before anything is crawled or imported (a locked or exposed key
    stops here).

    Pending uploads are resumed by the process that runs jobs (a worker, or `capture`), once,
    at its start: never by each capture process, which would race each other for them.
    Here, not in ``isnad.app.capture``, so that an import does not load the crawlers."""
    from archiver.proof import Prover

    key = signing_key(settings, create=True)
    archive.use_head_key(lambda: key)
    archive.prover_factory = lambda: Prover(key, configured_tsas(settings),
                                            software=f"Isnad {__version__}",
                                            version=__version__)


def _prover(settings: Settings) -> Prover:
    from archiver.proof import Prover

    return Prover(signing_key(settings, create=True), configured_tsas(settings),
                  software=f"Isnad {__version__}", version=__version__)


def _index_for_search(archive: Archive
                      ) -> Callable[[str, Path, Mapping[str, PageTexts]], None]:
    def index(capture_id: str, package: Path, texts: Mapping[str, PageTexts]) -> None:
        from isnad.app.search import index_catalogued  # only when a capture is made

        index_catalogued(archive, capture_id, package, texts)
    return index


def configured_tsas(settings: Settings) -> list[TSA]:
    """The timestamp authorities of the settings, in their order."""
    from archiver.timestamps import TSA

    return [TSA(t.name, t.url, t.ca_file, t.certs_file, t.timeout)
            for t in settings.timestamps.tsa]


def signing_key(settings: Settings, *, create: bool = False) -> SigningKey | None:
    """The signing key; with ``create`` (and auto_create) made on first use."""
    from archiver.signing import KEY_FILE, init_keys, load_key

    if not settings.signing.enabled:
        return None
    folder = settings.key_dir
    if not (folder / KEY_FILE).exists() and create and settings.signing.auto_create:
        key = init_keys(folder)
        log.warning("created a signing key at %s (fingerprint %s); protect it with "
                    "`isnad keys init --passphrase` if this machine is shared",
                    key.path, key.fingerprint)
        return key
    return load_key(folder, settings.signing_passphrase())


def proof_options(settings: Settings) -> ProofOptions:
    """What a package's signature and timestamps are checked against: the configured TSAs'
    roots, the trusted keys (ours among them) and the longest delay a timestamp may have."""
    from archiver.proof import ProofOptions
    from archiver.signing import public_fingerprint

    trusted = set(settings.signing.trusted_keys)
    ours = public_fingerprint(settings.key_dir) if settings.signing.enabled else None
    if ours:
        trusted.add(ours)
    return ProofOptions.from_tsas(configured_tsas(settings), trusted or None,
                                  settings.timestamps.max_delay_minutes)
