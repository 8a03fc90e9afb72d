"""The storage interface every backend implements (local folder, S3)."""

from __future__ import annotations

import io
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO


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


class LimitedReader(io.RawIOBase):
    """At most ``length`` bytes of ``stream`` (closed with it): a byte range, read lazily."""

    def __init__(self, stream: BinaryIO, length: int) -> None:
        self._stream = stream
        self._left = length

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        want = self._left if size is None or size < 0 else min(size, self._left)
        data = self._stream.read(want)
        self._left -= len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
        super().close()


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

    def open_range(self, key: str, start: int, length: int) -> BinaryIO:
        """Open ``length`` bytes of an object from byte ``start`` for streaming reads (an HTTP
        byte-range request: only those bytes are read, never the whole object). The caller
        keeps ``start + length`` within the object's size. Raises NotFound."""
        if start < 0 or length < 1:
            raise ValueError(f"invalid byte range: {length} bytes from {start}")
        stream = self.open(key)
        try:
            if stream.seekable():
                stream.seek(start)
            else:  # a stream we cannot seek in: skip to the start, a chunk at a time
                left = start
                while left and (chunk := stream.read(min(left, 1024 * 1024))):
                    left -= len(chunk)
        except BaseException:
            stream.close()
            raise
        return LimitedReader(stream, length)

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
