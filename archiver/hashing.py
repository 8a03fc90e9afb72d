"""Streaming SHA-256: payloads are hashed as they flow, never read whole into memory."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO

CHUNK = 1024 * 1024


def sha256_stream(stream: BinaryIO, chunk: int = CHUNK) -> tuple[str, int]:
    """Hash a readable binary stream to its end; return (hex digest, byte count)."""
    digest = hashlib.sha256()
    size = 0
    while True:
        block = stream.read(chunk)
        if not block:
            break
        digest.update(block)
        size += len(block)
    return digest.hexdigest(), size


def sha256_file(path: str | Path) -> tuple[str, int]:
    """Hash a file; return (hex digest, byte count)."""
    with open(path, "rb") as fh:
        return sha256_stream(fh)


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of a small in-memory value (JSON documents, events)."""
    return hashlib.sha256(data).hexdigest()
