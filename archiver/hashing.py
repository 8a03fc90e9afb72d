"""Streaming SHA-256: payloads are hashed as they flow, never read whole into memory."""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import zlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

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


def file_digest(path: str | Path, chunk: int = 4 * CHUNK) -> FileDigest:
    """SHA-256, size and CRC-32 of a file, in one read: what packaging needs to copy it into
    a package by the kernel instead of reading it again (see archiver.package)."""
    digest, crc, size = hashlib.sha256(), 0, 0
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
            crc = zlib.crc32(block, crc)
            size += len(block)
    return FileDigest(digest.hexdigest(), size, crc)


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


# A ThreadedHash hands its bytes to a worker in batches of about this size: large enough that
# a hand-over costs little next to the hashing, small enough to keep memory bounded.
HASH_BATCH = 2 * 1024 * 1024
_HASH_WORKERS = max(1, min(4, os.cpu_count() or 1))
_hash_pool: ThreadPoolExecutor | None = None
_hash_pool_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _hash_pool  # noqa: PLW0603 - one pool for the process, made on first use
    with _hash_pool_lock:
        if _hash_pool is None:
            _hash_pool = ThreadPoolExecutor(_HASH_WORKERS, thread_name_prefix="hash")
        return _hash_pool


def _forget_pool() -> None:
    # A forked child has none of the parent's threads: a pool inherited from it would take
    # work and never run it. The child makes its own on first use.
    global _hash_pool, _hash_pool_lock  # noqa: PLW0603
    _hash_pool, _hash_pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool)


def _hash_batch(hasher: Any, batch: list[bytes | memoryview]) -> None:
    for data in batch:
        hasher.update(data)


class ThreadedHash:
    """A hashlib object whose updates run in a worker thread, so that several hashes of the
    same bytes (a package's, a member's, a WARC record's block and payload digests) are
    computed at once on several cores while the caller reads on.

    Updates keep their order: they are batched (about :data:`HASH_BATCH` bytes) and at most
    one batch per hash is being hashed while the next fills, so memory stays bounded (two
    batches per hash). Bytes are kept by reference, not copied, when they cannot change
    (``bytes``, or a memoryview of ``bytes``); anything else is copied first. :meth:`digest`
    and :meth:`hexdigest` wait for every byte given so far."""

    def __init__(self, hasher: Any) -> None:
        self._hasher = hasher
        self._batch: list[bytes | memoryview] = []
        self._batched = 0
        self._running: Future[None] | None = None
        self.name = hasher.name

    def update(self, data: bytes | memoryview) -> None:
        """Hash ``data`` after every byte given before it."""
        if not data:
            return
        if not isinstance(data, bytes) and not (
                isinstance(data, memoryview) and isinstance(data.obj, bytes)):
            data = bytes(data)  # a buffer its owner may overwrite
        self._batch.append(data)
        self._batched += len(data)
        if self._batched >= HASH_BATCH:
            self._submit()

    def _submit(self) -> None:
        if self._running is not None:
            self._running.result()  # one batch at a time per hash: their order is kept
        batch, self._batch, self._batched = self._batch, [], 0
        self._running = _pool().submit(_hash_batch, self._hasher, batch)

    def _wait(self) -> None:
        if self._batch and self._running is None:
            # Never handed over (a small record): hashed here, no thread hand-over to wait for.
            _hash_batch(self._hasher, self._batch)
            self._batch, self._batched = [], 0
        if self._batch:
            self._submit()
        if self._running is not None:
            self._running.result()
            self._running = None

    def digest(self) -> bytes:
        """The digest of every byte given so far."""
        self._wait()
        return self._hasher.digest()

    def hexdigest(self) -> str:
        """The hex digest of every byte given so far."""
        self._wait()
        return self._hasher.hexdigest()
