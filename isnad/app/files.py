"""The files of a capture, as the catalog knows them: its package (``package.wacz``) and each
file the package holds (its artifacts). A name the catalog does not list for that capture is
not found, whatever it looks like: no name given by a caller ever becomes a path.

A file is read from a stored copy of the package: from a local folder in place; from S3, once
into ``HOME/web-cache/`` and checked against the catalog's SHA-256 before anything is read
from it. A file is returned as a seekable stream (byte ranges are served from it).
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from archiver.archive import Archive
from archiver.catalog import CaptureRow
from archiver.errors import IsnadError, NotFound
from archiver.hashing import sha256_file
from archiver.states import CopyState
from archiver.storage.local import LocalFolderStorage

PACKAGE = "package.wacz"


@dataclass(frozen=True)
class CaptureFile:
    """A file of a capture: its name (a path inside the package, or ``package.wacz``), its
    size and SHA-256 as the catalog records them."""

    capture_id: str
    name: str
    kind: str
    media_type: str
    size: int
    sha256: str


def capture_files(archive: Archive, capture_id: str) -> list[CaptureFile]:
    """The files of a capture (id or unique prefix) the catalog lists: the package first."""
    row = archive.catalog.get(capture_id)
    files = []
    if row.package_key and row.package_sha256:
        files.append(CaptureFile(row.id, PACKAGE, "package", "application/wacz",
                                 row.package_size or 0, row.package_sha256))
    for a in row.artifacts:
        media = a.media_type or mimetypes.guess_type(a.path)[0] or "application/octet-stream"
        files.append(CaptureFile(row.id, a.path, a.kind, media, a.size, a.sha256))
    return files


def capture_file(archive: Archive, capture_id: str, name: str) -> CaptureFile:
    """The file ``name`` of a capture; :class:`NotFound` unless the catalog lists it."""
    for found in capture_files(archive, capture_id):
        if found.name == name:
            return found
    raise NotFound(f"capture {capture_id} has no file named {name!r}")


@contextmanager
def open_capture_file(archive: Archive, home: Path, found: CaptureFile) -> Iterator[BinaryIO]:
    """A seekable stream of a capture's file, read from a stored copy of its package."""
    row = archive.catalog.get(found.capture_id)
    package = _package_file(archive, home, row)
    if found.name == PACKAGE:
        with open(package, "rb") as stream:
            yield stream
        return
    member, _, uri = found.name.partition("#")
    with zipfile.ZipFile(package) as zf:
        try:
            info = zf.getinfo(member)
        except KeyError:
            raise NotFound(f"{member} is not in the package of capture {row.id}") from None
        with zf.open(info) as stream:
            if not uri:
                yield stream  # type: ignore[misc]
                return
            with _warc_payload(stream, uri, found) as payload:
                yield payload


@contextmanager
def _warc_payload(warc: BinaryIO, uri: str, found: CaptureFile) -> Iterator[BinaryIO]:
    """The payload of the record of ``uri`` in a WARC (a screenshot, the DOM, the PDF...), as a
    seekable copy checked against the catalog's SHA-256 before it is served."""
    from archiver.warcreader import BoundedArchiveIterator

    for record in BoundedArchiveIterator(warc):
        if record.rec_headers.get_header("WARC-Target-URI") != uri:
            continue
        copy = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115
        digest = hashlib.sha256()
        while chunk := record.raw_stream.read(1024 * 1024):
            digest.update(chunk)
            copy.write(chunk)
        if digest.hexdigest() != found.sha256:
            copy.close()
            raise IsnadError(f"{found.name} of capture {found.capture_id} hashes to "
                             f"{digest.hexdigest()}, the catalog says {found.sha256}: not "
                             f"served (run `isnad verify {found.capture_id}`)")
        copy.seek(0)
        try:
            yield copy  # type: ignore[misc]
        finally:
            copy.close()
        return
    raise NotFound(f"{found.name}: no record of {uri} in the package of {found.capture_id}")


def _package_file(archive: Archive, home: Path, row: CaptureRow) -> Path:
    """A local path of the capture's package: a local target's file, or a checked copy."""
    stored = [c for c in row.copies if c.state == CopyState.STORED and c.key]
    for copy in stored:
        target = archive.target(copy.target)
        if isinstance(target, LocalFolderStorage):
            path = Path(target.location(copy.key or ""))
            if path.is_file():
                return path
    if not stored:
        raise IsnadError(f"no stored copy of the package of {row.id} can be read yet")
    cache = home / "web-cache"
    cached = cache / f"{row.id}.wacz"
    if cached.is_file() and cached.stat().st_size == row.package_size:
        return cached
    cache.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=cache, suffix=".part")
    os.close(fd)
    try:
        archive.target(stored[0].target).download(stored[0].key or "", Path(partial))
        got = sha256_file(Path(partial))[0]
        if got != row.package_sha256:
            raise IsnadError(f"the stored package of {row.id} hashes to {got}, the catalog "
                             f"says {row.package_sha256}: not served (run `isnad verify "
                             f"{row.id}`)")
        shutil.move(partial, cached)
    finally:
        Path(partial).unlink(missing_ok=True)
    return cached
