"""The capture package: a WACZ 1.1 file holding the WARCs, their CDXJ index, the page list,
and ``datapackage.json`` (every file with SHA-256 and size, plus the capture context under
``isnad``) with its ``datapackage-digest.json``.

Indexing and the datapackage come from py-wacz's ``WACZIndexer`` (which drives
``cdxj-indexer``); only the orchestration lives here, because py-wacz's own ``create`` cannot
add our capture context to ``datapackage.json`` nor take a page list with titles from memory.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from archiver.errors import PackageError
from archiver.hashing import FileDigest, sha256_file

if TYPE_CHECKING:
    from wacz.waczindexer import WACZIndexer

PAGES_HEADER = {"format": "json-pages-1.0", "id": "pages", "title": "Pages"}

# The package layout: every file sits exactly one folder deep (``archive/``, ``indexes/``,
# ``pages/``, ``timestamps/``, ``media/``, ``metadata/``). py-wacz 0.6's ``wacz validate``
# finds a file's entry in datapackage.json by the last two parts of its path only, so a file at
# the top level or two folders deep is reported as "not listed" and the package as invalid.
# Packages written with the older layout (``media/001/clip.mp4``, ``post.json``) still verify
# with ``isnad verify``, which reads the paths datapackage.json lists, whatever their depth.
PACKAGE_FOLDERS = ("archive", "indexes", "pages", "timestamps", "media", "metadata")


def layout_problem(path: str) -> str | None:
    """Why ``path`` does not fit the package layout (None when it does)."""
    parts = path.split("/")
    if len(parts) != 2 or not all(parts):
        return f"{path!r} is not exactly one folder deep (folder/name)"
    if parts[0] not in PACKAGE_FOLDERS:
        return f"{path!r} is not in one of the package folders {', '.join(PACKAGE_FOLDERS)}"
    if not re.fullmatch(r"[A-Za-z0-9._-]+", parts[1]):
        # WACZ validators check datapackage.json against a schema whose resource names (the
        # file name, lower-cased) are only [-a-z0-9._/].
        return f"{path!r}: characters other than A-Z a-z 0-9 . _ - in the file name"
    return None


@dataclass(frozen=True)
class PackageFile:
    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Seal:
    """What seals a package's ``datapackage.json``: a signature and timestamp tokens."""

    signed_data: dict[str, Any] | None = None
    tokens: list[tuple[str, bytes, dict[str, Any]]] = field(default_factory=list)


@dataclass(frozen=True)
class BuiltPackage:
    path: Path
    sha256: str
    size: int
    files: list[PackageFile]
    datapackage: dict[str, Any]


def build_package(
    warcs: list[Path],
    out_path: Path,
    *,
    pages: list[dict[str, Any]],
    context: dict[str, Any],
    title: str | None = None,
    main_url: str | None = None,
    software: str | None = None,
    extra_files: list[tuple[str, bytes]] = (),
    extra_paths: list[tuple[str, Path] | tuple[str, Path, str | FileDigest]] = (),
    seal: Callable[[str, str], Seal] | None = None,
    index: Path | None = None,
    indexes: dict[Path, Path] | None = None,
    hashed: bool = True,
    known: dict[Path, FileDigest | str] | None = None,
) -> BuiltPackage:
    """Write a WACZ atomically at ``out_path`` (temp file, fsync, rename).

    ``hashed``: read the written package to hash it. A caller that verifies the package next
    (verify_package_file, which hashes it as it reads it) passes False and takes the hash from
    that read: the package is read once, not twice (``sha256`` is then "").

    ``extra_files`` (e.g. the WARCs' timestamp tokens) and ``extra_paths`` (media files,
    streamed from disk; a third item is the SHA-256 the file had when it was taken, which
    the copy must have too) are listed in ``datapackage.json``.
    ``seal(hash, created)`` is called with the hash of ``datapackage.json``: its signature goes
    into ``datapackage-digest.json`` as ``signedData``, and its timestamp tokens (which cannot
    be listed in the file they timestamp) go there too, base64 under ``timestamps``.
    ``index``: a sorted CDXJ file made already (an import indexes as it checks), written as
    ``indexes/index.cdx`` instead of indexing the WARCs again.
    ``known``: digests of WARC and media files taken as they were written (by path). Such a
    file is copied into the package by the kernel (copy_file_range), not read here, and listed
    with that digest; the package's verification reads the copy and checks it. A media item's
    third element may be its FileDigest instead of its SHA-256. A SHA-256 alone (a received
    file, hashed as its working copy was written on arrival) is listed as it is, the file
    copied without being hashed again.
    ``indexes``: the CDXJ lines of the WARCs' records (WARC path -> an unsorted file of its
    lines), made as they were written (archiver/cdxj.py): sorted and compressed into the
    package as py-wacz would write its own index, without reading the WARCs back. Used only
    when every WARC has its lines; otherwise the WARCs are indexed.
    """
    known = dict(known or {})
    for _name, path, *taken in extra_paths:
        if taken and isinstance(taken[0], FileDigest):
            known[path] = taken[0]
    if not warcs:
        raise PackageError("nothing to package: the capture wrote no WARC file")
    tmp = out_path.with_name(out_path.name + ".tmp")
    try:
        with zipfile.ZipFile(tmp, "w", allowZip64=True) as wacz:
            indexer = _write_indexes(wacz, [] if index else warcs, indexes)
            # Each file copied in is hashed as it is written (read once): datapackage.json
            # lists these hashes instead of reading the members back out of the zip.
            written: dict[str, tuple[str, int]] = {}
            if index is not None:
                written["indexes/index.cdx"] = _copy_in(wacz, index, "indexes/index.cdx",
                                                        zipfile.ZIP_DEFLATED)
            for warc in warcs:  # WACZ: WARCs stored, so they stay seekable
                written["archive/" + warc.name] = _copy_in(wacz, warc, "archive/" + warc.name,
                                                           zipfile.ZIP_STORED, known.get(warc))
            _write_pages(wacz, pages)
            for name, data in extra_files:
                _writestr(wacz, name, data)
            for name, path, *expected in extra_paths:  # media: streamed, stored as they are
                written[name] = _copy_in(wacz, path, name, zipfile.ZIP_STORED, known.get(path))
                if expected and isinstance(expected[0], str) and \
                        expected[0] != written[name][0]:
                    # The hash the capture recorded (taken while downloading) is not the
                    # hash of the file now: it changed in between. Nothing false is packaged.
                    raise PackageError(f"{name}: the file hashes to {written[name][0]} as "
                                       f"packaged, but to {expected[0]} when it was taken")
            res = SimpleNamespace(title=title, desc=None, date=None)
            indexer.main_url = main_url or ""
            # py-wacz's own datapackage (metadata, created, software) for an empty member
            # list; the resources are ours, in the zip's order, as py-wacz would list them.
            datapackage = json.loads(indexer.generate_datapackage(res, _NoMembers()))
            datapackage["resources"] = [_resource(wacz, entry, written.get(entry.filename))
                                        for entry in wacz.infolist()]
            if software:
                datapackage["software"] = f"{software}; {datapackage.get('software')}"
            datapackage["isnad"] = context
            datapackage_bytes = json.dumps(datapackage, indent=2, ensure_ascii=False).encode()
            _writestr(wacz, "datapackage.json", datapackage_bytes)
            digest = json.loads(indexer.generate_datapackage_digest(datapackage_bytes))
            if seal is not None:
                sealed = seal(digest["hash"], datapackage["created"])
                if sealed.signed_data:
                    digest["signedData"] = sealed.signed_data
                for name, data, info in sealed.tokens:
                    # Inline, not a file: WACZ validators refuse files datapackage.json omits.
                    digest.setdefault("timestamps", []).append(
                        {"name": name, "hash": "sha256:" + hashlib.sha256(data).hexdigest(),
                         "bytes": len(data), **info,
                         "token": base64.b64encode(data).decode("ascii")})
            _writestr(wacz, "datapackage-digest.json",
                      json.dumps(digest, indent=2, ensure_ascii=False).encode())
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    digest, size = sha256_file(out_path) if hashed else ("", out_path.stat().st_size)
    files = [
        PackageFile(r["path"], r["hash"].split(":", 1)[1], r["bytes"])
        for r in datapackage["resources"]
    ]
    return BuiltPackage(out_path, digest, size, files, datapackage)


# py-wacz's compressed index: blocks of this many lines, gzipped one by one (ZipNum).
INDEX_BLOCK_LINES = 1024
INDEX_DATA_NAME = "index.cdx.gz"


def _write_indexes(wacz: zipfile.ZipFile, warcs: list[Path],
                   lines: dict[Path, Path] | None = None) -> WACZIndexer:
    """Index ``warcs`` into the package (none: only the indexer, for the datapackage), or,
    given the ``lines`` made as they were written, sort and compress those."""
    from wacz.util import now  # see _indexer: py-wacz is imported only to write a package

    if not warcs:
        return _indexer(io.StringIO(), [], None)
    idx_buffer = io.BytesIO()
    idx_text = io.TextIOWrapper(idx_buffer, "utf-8", write_through=True)
    data_info = zipfile.ZipInfo("indexes/" + INDEX_DATA_NAME, now())
    with wacz.open(data_info, "w") as data:
        if lines is not None and all(warc in lines for warc in warcs):
            _write_sorted_lines(idx_text, data, [lines[warc] for warc in warcs])
            indexer = _indexer(io.StringIO(), [], None)
        else:
            indexer = _indexer(idx_text, warcs, data)
            indexer.process_all()
    idx_text.flush()
    _writestr(wacz, "indexes/index.idx", idx_buffer.getvalue())
    return indexer


def _write_sorted_lines(idx_text: io.TextIOBase, data: Any, lines: list[Path]) -> None:
    """CDXJ lines sorted (on disk past 32 MiB) and compressed by cdxj-indexer's own writers,
    as its indexer does with py-wacz's options: the same bytes as indexing the WARCs."""
    from cdxj_indexer.main import CompressedWriter, SortingWriter

    out = SortingWriter(CompressedWriter(idx_text, data_out=data, num_lines=INDEX_BLOCK_LINES,
                                         data_out_name=INDEX_DATA_NAME, digest_records=True))
    for path in lines:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                out.write(line)
    out.flush()


def _indexer(out: io.TextIOBase, warcs: list[Path], data: Any) -> WACZIndexer:
    # Imported here: py-wacz brings cdxj-indexer, surt, tldextract and requests (~0.1 s),
    # which only writing a package needs (not `isnad list`, nor verifying).
    from wacz.waczindexer import WACZIndexer

    return WACZIndexer(
        out,
        [str(w) for w in warcs],
        sort=True,
        post_append=True,
        compress=data,
        lines=INDEX_BLOCK_LINES,
        digest_records=True,
        # Deliberately not py-wacz's default "req.http:cookie": cookies stay out of indexes.
        fields="referrer",
        data_out_name=INDEX_DATA_NAME,
        hash_type="sha256",
        main_url="",
        main_ts=None,
        detect_pages=False,
        passed_pages_dict={},
        extract_text=False,
        signing_url=None,
        signing_token=None,
        split_seeds=False,
    )


def _write_pages(wacz: zipfile.ZipFile, pages: list[dict[str, Any]]) -> None:
    lines = [json.dumps(PAGES_HEADER)]
    lines += [json.dumps(page, ensure_ascii=False) for page in with_page_ids(pages)]
    _writestr(wacz, "pages/pages.jsonl", ("\n".join(lines) + "\n").encode("utf-8"))


def with_page_ids(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pages, each with an ``id`` (a WACZ page's identifier): a page given without one (or
    with an empty one) gets its position, ``0000``, ``0001``…, unless another page has it.

    Not cosmetic: ``wacz validate`` reads ``pages.jsonl`` as a table whose columns are the
    header line's keys (``format``, ``id``, ``title``), and a page with neither an id nor a
    title is a "Blank Row" that fails the whole package."""
    taken = {str(p["id"]) for p in pages if p.get("id") not in (None, "")}
    out = []
    for number, page in enumerate(pages):
        if page.get("id") in (None, ""):
            given, suffix = f"{number:04d}", 1
            while given in taken:
                suffix += 1
                given = f"{number:04d}-{suffix}"
            taken.add(given)
            page = {"id": given, **{k: v for k, v in page.items() if k != "id"}}
        out.append(page)
    return out


class _NoMembers:
    """A zip with no members, for py-wacz's datapackage (whose resources we list ourselves)."""

    def infolist(self) -> list[zipfile.ZipInfo]:
        return []


def _copy_in(wacz: zipfile.ZipFile, path: Path, name: str, compress_type: int,
             known: FileDigest | str | None = None) -> tuple[str, int]:
    """Copy the file at ``path`` into the package as ``name``; its SHA-256 and size, hashed
    from the bytes as they were written. ``known``: the digest taken when the file itself was
    written (a FileDigest: copied by the kernel where it can be; a SHA-256 alone: copied here,
    not hashed again). The package's verification re-reads the copy and checks it."""
    size_now = path.stat().st_size
    if isinstance(known, FileDigest):
        if known.size != size_now:  # not the file that was hashed: hash what is copied
            known = None
        elif compress_type == zipfile.ZIP_STORED and _copy_stored(wacz, path, name, known):
            return known.sha256, known.size
        else:
            known = known.sha256
    info = zipfile.ZipInfo.from_file(path, name)
    info.compress_type = compress_type
    digest, size = (None if known else hashlib.sha256()), 0
    with wacz.open(info, "w") as out, open(path, "rb") as src:
        while chunk := src.read(1024 * 1024):
            if digest is not None:
                digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    return (known or digest.hexdigest()), size  # type: ignore[union-attr]


def _copy_stored(wacz: zipfile.ZipFile, path: Path, name: str, known: FileDigest) -> bool:
    """Add ``path`` as a stored member whose CRC-32 and size are known, its bytes copied by the
    kernel (copy_file_range) without passing through this process; False (nothing written)
    where the kernel cannot copy between these files.

    zipfile has no public way to add a member whose CRC is known without reading its bytes:
    this writes what ``ZipFile.open(info, "w")`` would (the local header, the data) and
    registers the member as its writer's close() does. A mistake here cannot go unseen: the
    package's verification reads every member back, zipfile checks its CRC-32, and
    datapackage.json's SHA-256 and size are checked against it."""
    info = zipfile.ZipInfo.from_file(path, name)
    info.compress_type = zipfile.ZIP_STORED
    info.file_size = info.compress_size = known.size
    info.CRC = known.crc32
    # As zipfile decides for a stored member written through open(info, "w").
    zip64 = known.size * 1.05 > zipfile.ZIP64_LIMIT
    fp = wacz.fp
    with wacz._lock:  # noqa: SLF001 - see the docstring
        fp.seek(wacz.start_dir)
        info.header_offset = fp.tell()
        wacz._writecheck(info)  # noqa: SLF001
        header = info.FileHeader(zip64)
        data_start = info.header_offset + len(header)
        with open(path, "rb") as src:
            left = known.size
            try:
                fp.seek(data_start)
                fp.flush()
                out = fp.fileno()
                while left > 0:
                    done = known.size - left  # explicit offsets: neither file's own moves
                    copied = os.copy_file_range(src.fileno(), out, min(left, 1 << 30), done,
                                                data_start + done)
                    if not copied:
                        raise OSError("copy_file_range copied nothing")
                    left -= copied
            except OSError:
                fp.seek(info.header_offset)
                fp.truncate()
                return False
        fp.seek(info.header_offset)
        fp.write(header)
        fp.seek(data_start + known.size)
        wacz._didModify = True  # noqa: SLF001
        wacz.filelist.append(info)
        wacz.NameToInfo[name] = info
        wacz.start_dir = fp.tell()
    return True


def _resource(wacz: zipfile.ZipFile, entry: zipfile.ZipInfo, known: tuple[str, int] | None
              ) -> dict[str, Any]:
    """A member as datapackage.json lists it (py-wacz's fields). A member not hashed while
    written (the index py-wacz wrote, small files) is read back and hashed here."""
    if known is None:
        digest, size = hashlib.sha256(), 0
        with wacz.open(entry, "r") as stream:
            while chunk := stream.read(1024 * 1024):
                digest.update(chunk)
                size += len(chunk)
        known = (digest.hexdigest(), size)
    return {"name": os.path.basename(entry.filename).lower(), "path": entry.filename,
            "hash": f"sha256:{known[0]}", "bytes": known[1]}


def _writestr(wacz: zipfile.ZipFile, name: str, data: bytes) -> None:
    from wacz.util import now

    info = zipfile.ZipInfo(name, now())
    info.compress_type = zipfile.ZIP_DEFLATED
    wacz.writestr(info, data)


def read_datapackage(path: Path) -> dict[str, Any]:
    """The ``datapackage.json`` of a WACZ file."""
    try:
        with zipfile.ZipFile(path) as wacz:
            return json.loads(wacz.read("datapackage.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise PackageError(f"{path}: not a readable WACZ package: {exc}") from exc
