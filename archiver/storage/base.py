"""The storage interface every backend implements (local folder, S3)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO


@dataclass(frozen=True)
class StoredObject:
    """An object as the backend holds it, verified against the hash we computed."""

    target: str  # the storage target's name, e.g. "local"
    key: str
    location: str  # where a person can find it (path or URL)
    sha256: str
    size: int
    version: str | None = None  # the object version, where the store keeps versions


@dataclass(frozen=True)
class StorageFinding:
    """One line of `isnad storage check`: level is ok, warning or error."""

    level: str
    message: str


class Storage(ABC):
    """A place that keeps packages. Keys use ``/`` and never start with one."""

    name: str

    @abstractmethod
    def put_file(self, key: str, path: Path, sha256: str) -> StoredObject:
        """Store a local file under ``key``; verify the stored copy hashes to ``sha256``."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes) -> StoredObject:
        """Store a small object (manifests, custody events)."""

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """Open an object for streaming reads. Raises NotFound."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys under ``prefix``, sorted."""

    @abstractmethod
    def location(self, key: str) -> str: ...

    def read_bytes(self, key: str) -> bytes:
        with self.open(key) as fh:
            return fh.read()

    def download(self, key: str, path: Path) -> Path:
        """Stream an object to a local file (for readers that need to seek, like zip)."""
        with self.open(key) as src, open(path, "wb") as out:
            while chunk := src.read(1024 * 1024):
                out.write(chunk)
        return path

    def check(self) -> list[StorageFinding]:
        """How well this target protects evidence (versioning, write-once)."""
        return []
