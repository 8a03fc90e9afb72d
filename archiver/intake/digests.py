"""Several digests of one stream in one read: a received file is hashed once, on arrival, for
SHA-256 and for every algorithm its provider declared, so that the two can be compared.

Shared by the intake checkers; nothing here knows about WACZ, WARC or CSV.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import BinaryIO

from archiver.hashing import CHUNK

# Names a provider may write for an algorithm, mapped to hashlib's. Only algorithms that every
# Python build has (hashlib.algorithms_guaranteed), so a check never depends on the OpenSSL build.
_ALIASES = {"sha-1": "sha1", "sha-224": "sha224", "sha-256": "sha256", "sha-384": "sha384",
            "sha-512": "sha512", "sha3-256": "sha3_256", "sha3-384": "sha3_384",
            "sha3-512": "sha3_512", "sha3-224": "sha3_224"}
_HEX = re.compile(r"[0-9a-f]+")


def algorithm_name(name: str) -> str | None:
    """hashlib's name for an algorithm as a provider wrote it (``SHA-256`` → ``sha256``), or None
    when it is not one every Python can compute."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key).replace("-", "_")
    return key if key in hashlib.algorithms_guaranteed and not key.startswith("shake") else None


def digest_size_hex(algorithm: str) -> int:
    """Length in hex characters of a digest made by ``algorithm`` (a hashlib name)."""
    return hashlib.new(algorithm).digest_size * 2


def looks_like_digest(algorithm: str, value: str) -> bool:
    """True when ``value`` (lower-case hex) has the shape of an ``algorithm`` digest."""
    return len(value) == digest_size_hex(algorithm) and bool(_HEX.fullmatch(value))


def hash_stream(stream: BinaryIO, algorithms: Iterable[str], chunk: int = CHUNK,
                limit: int | None = None) -> tuple[dict[str, str], int]:
    """Read ``stream`` to its end once, updating one hashlib object per algorithm with each chunk.

    Returns ({algorithm: hex digest}, bytes read). ``limit`` stops reading after that many bytes
    (a guard for streams whose size cannot be trusted); the caller compares the count returned.
    """
    hashers = {name: hashlib.new(name) for name in dict.fromkeys(algorithms)}
    size = 0
    while True:
        want = chunk if limit is None else min(chunk, limit - size)
        if want <= 0:
            break
        block = stream.read(want)
        if not block:
            break
        for hasher in hashers.values():
            hasher.update(block)
        size += len(block)
    return {name: h.hexdigest() for name, h in hashers.items()}, size
