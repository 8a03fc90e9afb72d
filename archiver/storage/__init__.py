"""Storage backends behind one interface; chosen by URL."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from archiver.errors import IsnadError
from archiver.storage.base import Storage, StoredObject
from archiver.storage.local import LocalFolderStorage

__all__ = ["LocalFolderStorage", "Storage", "StoredObject", "open_storage"]


def open_storage(url: str, *, name: str = "local") -> Storage:
    """Open a storage target from its URL: a folder path or ``file://`` URL.

    ``s3://bucket/prefix`` is planned (S3 with Object Lock) and refused clearly until then.
    """
    parts = urlsplit(url)
    if parts.scheme in ("", "file"):
        return LocalFolderStorage(Path(parts.path if parts.scheme else url), name=name)
    if parts.scheme == "s3":
        raise IsnadError("S3 storage is not available in this version; use a local folder")
    raise IsnadError(f"unknown storage URL {url!r}: use a folder path or file:// URL")
