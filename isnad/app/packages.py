"""A capture's package (its WACZ) as stored, read by byte ranges: what replay in the browser and
package downloads read. The package is found through the catalog alone (capture id → the
copies it records); nothing a caller names reaches the filesystem or a storage key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from archiver.archive import Archive
from archiver.catalog import CaptureRow
from archiver.errors import IsnadError, NotFound
from archiver.states import CopyState
from archiver.storage import LocalFolderStorage, Storage


@dataclass(frozen=True)
class StoredPackage:
    """Where one capture's package can be read, with the size and SHA-256 the catalog
    recorded when it was made (the ETag of its downloads)."""

    capture_id: str
    sha256: str
    size: int
    target: Storage  # the storage target holding it (a local folder for the spool)
    key: str
    page_url: str  # the page the capture recorded (after redirects): where replay opens
    captured_at: datetime

    @property
    def filename(self) -> str:
        return f"{self.capture_id}.wacz"

    def open_range(self, start: int, length: int) -> BinaryIO:
        """The package's bytes ``start`` .. ``start + length - 1``, read from storage as the
        caller reads them (never the whole package into memory)."""
        if start < 0 or length < 1 or start + length > self.size:
            raise ValueError(f"bytes {start}-{start + length - 1} lie outside the package "
                             f"of {self.capture_id} ({self.size} bytes)")
        return self.target.open_range(self.key, start, length)


def find_package(archive: Archive, capture_id: str) -> StoredPackage:
    """The package of the capture ``capture_id`` (an exact id from the catalog), on the first
    storage target holding a stored copy, in the order of the settings, else in the local spool
    where it waits for `isnad storage sync`. NotFound when the catalog knows no such capture,
    or it has no package (a failed capture), or no copy of it can be reached."""
    row = _exact(archive, capture_id)
    if not row.package_key or not row.package_sha256 or row.package_size is None:
        raise NotFound(f"capture {row.id} has no package ({row.state})")
    order = {t.name: i for i, t in enumerate(archive.targets)}
    copies = sorted((c for c in row.copies if c.state == CopyState.STORED and c.key),
                    key=lambda c: order.get(c.target, len(order)))
    for copy in copies:
        try:
            target = archive.target(copy.target)
        except IsnadError:  # a target no longer in the settings
            continue
        return StoredPackage(row.id, row.package_sha256, row.package_size, target, copy.key,
                             row.final_url or row.url, row.started_at)
    if row.spool_path and Path(row.spool_path).is_file():
        spool = Path(row.spool_path)
        return StoredPackage(row.id, row.package_sha256, row.package_size,
                             LocalFolderStorage(spool.parent, name="spool"), spool.name,
                             row.final_url or row.url, row.started_at)
    raise NotFound(f"no copy of the package of capture {row.id} can be reached")


def _exact(archive: Archive, capture_id: str) -> CaptureRow:
    """The capture whose id is exactly ``capture_id``: a URL names one capture, never a
    prefix that the catalog would complete."""
    row = archive.catalog.get(capture_id)
    if row.id != capture_id:
        raise NotFound(f"no capture {capture_id!r} in the catalog")
    return row
