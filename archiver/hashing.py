"""Streaming SHA-256: payloads are hashed as they flow, never read whole into memory."""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class FileDigest:
    """What was computed of a file's bytes as they were written: its SHA-256 (hex), size and
    CRC-32 (what a zip member stored as it is needs), so that packaging need not read it
    for them. The package's verification reads the copy and checks all three."""

    sha256: str
    size: int
    crc32: int


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


def read_ahead(stream: BinaryIO, chunk: int = CHUNK, depth: int = 4) -> Iterator[bytes]:
    """Yield ``stream``'s chunks, read by a helper thread up to ``depth`` chunks ahead.

    Reading (network, disk) and hashing then overlap; memory stays ``depth`` chunks. A read
    error is raised here, in the caller's thread.
    """
    ahead: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set() and (data := stream.read(chunk)):
                ahead.put(data)
            ahead.put(None)
        except BaseException as exc:  # handed to the consumer, raised there
            ahead.put(exc)

    thread = threading.Thread(target=reader, name="read-ahead", daemon=True)
    thread.start()
    try:
        while (item := ahead.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a reader waiting on a full queue
            try:
                ahead.get_nowait()
            except queue.Empty:
                thread.join(0.05)
