"""Storage backends behind one interface; chosen by URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from archiver.errors import IsnadError
from archiver.storage.base import Storage, StorageFinding, StoredObject
from archiver.storage.local import LocalFolderStorage

__all__ = ["LocalFolderStorage", "Storage", "StorageFinding", "StoredObject", "open_storage"]


def open_storage(url: str, *, name: str = "local", **options: Any) -> Storage:
    """Open a storage target from its URL: a folder path, ``file://`` or ``s3://bucket/prefix``.

    ``options`` are the S3 target's settings (endpoint_url, region, object lock, ...).
    """
    parts = urlsplit(url)
    if parts.scheme in ("", "file"):
        return LocalFolderStorage(Path(parts.path if parts.scheme else url), name=name)
    if parts.scheme == "s3":
        from archiver.storage.s3 import ObjectLock, S3Storage

        if not parts.netloc:
            raise IsnadError(f"storage URL {url!r} names no bucket: use s3://bucket/prefix")
        lock = ObjectLock(options.pop("object_lock_mode", None),
                          options.pop("retention_days", 0) or 0,
                          options.pop("legal_hold", False))
        return S3Storage(parts.netloc, parts.path.strip("/"), name=name, lock=lock, **options)
    raise IsnadError(f"unknown storage URL {url!r}: use a folder path, file:// or s3://")
