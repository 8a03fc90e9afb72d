"""A capture's content, read back from its stored package for someone to look at: the
screenshot (a resource record of its WARC), a media file (a member of the WACZ), served in
byte ranges so a player can seek.

Only what the catalog lists is ever read: a caller names a capture and an artifact the
catalog holds for it, never a path; the package is the one the catalog records (its stored
copy, or for a package held elsewhere than a local folder, a copy downloaded once and checked
against the catalog's SHA-256 before it is used).
"""

from __future__ import annotations

import mimetypes
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from warcio.archiveiterator import ArchiveIterator

from archiver.archive import Archive
from archiver.catalog import CaptureRow
from archiver.errors import IsnadError, NotFound
from archiver.hashing import sha256_file
from archiver.states import CopyState
from archiver.storage.local import LocalFolderStorage
from isnad.config import Settings

# The kinds of artifact shown as pictures, and the media kinds played.
PICTURES = ("screenshot", "view", "thumbnail")
CHUNK = 256 * 1024


@dataclass
class Member:
    """A media file of a package: where the package is, the member's name, size and type."""

    package: Path
    name: str
    size: int
    media_type: str


def package_file(settings: Settings, archive: Archive, row: CaptureRow) -> Path:
    """A local, seekable file of the capture's package: the stored copy itself on a local
    folder; otherwise a copy downloaded into ``HOME/cache/packages`` once, its SHA-256 checked
    against the catalog (a copy that does not match is refused, never shown)."""
    stored = [c for c in row.copies if c.state == CopyState.STORED and c.key]
    for copy in stored:
        target = archive.target(copy.target)
        if isinstance(target, LocalFolderStorage):
            return Path(target.location(copy.key))
    if not stored or not row.package_sha256:
        raise NotFound(f"capture {row.id} has no stored package to read")
    cache = settings.home / "cache" / "packages"
    path = cache / f"{row.package_sha256}.wacz"
    if path.is_file():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    part = cache / f".{row.package_sha256}.part"
    archive.target(stored[0].target).download(stored[0].key, part)
    got = sha256_file(part)[0]
    if got != row.package_sha256:
        part.unlink(missing_ok=True)
        raise IsnadError(f"the stored package of {row.id} hashes to {got}, the catalog says "
                         f"{row.package_sha256}: not shown (run `isnad verify {row.id}`)")
    shutil.move(part, path)
    return path


def picture(settings: Settings, archive: Archive, capture_id: str, kind: str = "screenshot"
            ) -> tuple[bytes, str]:
    """The first picture of ``kind`` the capture holds (its bytes and media type), read from
    the WARC resource record the catalog names. NotFound when it has none."""
    row = archive.catalog.get(capture_id)
    artifact = next((a for a in row.artifacts if a.kind == kind and "#" in a.path), None)
    if artifact is None:
        raise NotFound(f"capture {row.id} has no {kind}")
    member, _, uri = artifact.path.partition("#")
    with zipfile.ZipFile(package_file(settings, archive, row)) as wacz, \
            wacz.open(member) as warc:
        for record in ArchiveIterator(warc):
            if (record.rec_type == "resource"
                    and record.rec_headers.get_header("WARC-Target-URI") == uri):
                return record.content_stream().read(), artifact.media_type or "image/png"
    raise NotFound(f"capture {row.id}: the {kind} record {uri} is not in {member}")


def media_files(row: CaptureRow) -> list[dict[str, str | int | None]]:
    """The playable media of a capture (audio, video, images), as the catalog lists them."""
    found = []
    for a in row.artifacts:
        if a.kind != "media" or "#" in a.path:
            continue
        media_type = a.media_type or mimetypes.guess_type(a.path)[0] or ""
        if media_type.split("/")[0] in ("video", "audio", "image"):
            found.append({"path": a.path, "media_type": media_type, "size": a.size,
                          "sha256": a.sha256, "kind": media_type.split("/")[0]})
    return found


def media_member(settings: Settings, archive: Archive, capture_id: str, path: str) -> Member:
    """The media file ``path`` of a capture, when the catalog lists it as one (anything
    else, a path of the request's own making included, is NotFound)."""
    row = archive.catalog.get(capture_id)
    listed = next((m for m in media_files(row) if m["path"] == path), None)
    if listed is None:
        raise NotFound(f"capture {row.id} lists no media file {path!r}")
    package = package_file(settings, archive, row)
    with zipfile.ZipFile(package) as wacz:
        try:
            size = wacz.getinfo(path).file_size
        except KeyError as exc:
            raise NotFound(f"capture {row.id}: {path} is not in its package") from exc
    return Member(package, path, size, str(listed["media_type"]))


def read_range(member: Member, start: int, end: int) -> Iterator[bytes]:
    """Bytes ``start``..``end`` (inclusive) of a media member, streamed in chunks (a
    member stored uncompressed, as WACZ stores them, is seeked, not read through)."""
    with zipfile.ZipFile(member.package) as wacz, wacz.open(member.name) as src:
        yield from read_chunks(src, start, end)  # type: ignore[arg-type]


def read_chunks(stream: BinaryIO, start: int, end: int) -> Iterator[bytes]:
    """Bytes ``start``..``end`` (inclusive) of a seekable stream, a chunk at a time."""
    stream.seek(start)
    left = end - start + 1
    while left > 0:
        chunk = stream.read(min(CHUNK, left))
        if not chunk:
            return
        left -= len(chunk)
        yield chunk
