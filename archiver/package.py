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
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from archiver.errors import PackageError
from archiver.hashing import sha256_file

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
    extra_paths: list[tuple[str, Path]] = (),
    seal: Callable[[str, str], Seal] | None = None,
    index: Path | None = None,
) -> BuiltPackage:
    """Write a WACZ atomically at ``out_path`` (temp file, fsync, rename).

    ``extra_files`` (e.g. the WARCs' timestamp tokens) and ``extra_paths`` (media files,
    streamed from disk) are listed in ``datapackage.json``.
    ``seal(hash, created)`` is called with the hash of ``datapackage.json``: its signature goes
    into ``datapackage-digest.json`` as ``signedData``, and its timestamp tokens (which cannot
    be listed in the file they timestamp) go there too, base64 under ``timestamps``.
    ``index``: a sorted CDXJ file made already (an import indexes as it checks), written as
    ``indexes/index.cdx`` instead of indexing the WARCs again.
    """
    if not warcs:
        raise PackageError("nothing to package: the capture wrote no WARC file")
    tmp = out_path.with_name(out_path.name + ".tmp")
    try:
        with zipfile.ZipFile(tmp, "w", allowZip64=True) as wacz:
            indexer = _write_indexes(wacz, [] if index else warcs)
            if index is not None:
                info = zipfile.ZipInfo.from_file(index, "indexes/index.cdx")
                info.compress_type = zipfile.ZIP_DEFLATED
                with wacz.open(info, "w") as out, open(index, "rb") as src:
                    shutil.copyfileobj(src, out, 1024 * 1024)
            # The big members are hashed as they are written, not read back for
            # datapackage.json (one read of each byte fewer).
            written: dict[str, tuple[str, int]] = {}
            for warc in warcs:
                info = zipfile.ZipInfo.from_file(warc, "archive/" + warc.name)
                info.compress_type = zipfile.ZIP_STORED  # WACZ: WARCs stay seekable
                with wacz.open(info, "w") as out, open(warc, "rb") as src:
                    written[info.filename] = _copy_hashed(src, out)
            _write_pages(wacz, pages)
            for name, data in extra_files:
                _writestr(wacz, name, data)
            for name, path in extra_paths:  # media: streamed, stored as they are
                info = zipfile.ZipInfo.from_file(path, name)
                info.compress_type = zipfile.ZIP_STORED
                with wacz.open(info, "w") as out, open(path, "rb") as src:
                    written[info.filename] = _copy_hashed(src, out)
            res = SimpleNamespace(title=title, desc=None, date=None)
            indexer.main_url = main_url or ""
            datapackage = json.loads(indexer.generate_datapackage(res, _Unwritten(wacz,
                                                                                  written)))
            made = {r["path"]: r for r in datapackage["resources"]}
            datapackage["resources"] = [  # in the zip's order, as py-wacz lists them
                made.get(i.filename) or {
                    "name": os.path.basename(i.filename).lower(), "path": i.filename,
                    "hash": "sha256:" + written[i.filename][0],
                    "bytes": written[i.filename][1]}
                for i in wacz.infolist()]
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
    digest, size = sha256_file(out_path)
    files = [
        PackageFile(r["path"], r["hash"].split(":", 1)[1], r["bytes"])
        for r in datapackage["resources"]
    ]
    return BuiltPackage(out_path, digest, size, files, datapackage)


def _write_indexes(wacz: zipfile.ZipFile, warcs: list[Path]) -> WACZIndexer:
    """Index ``warcs`` into the package (none: only the indexer, for the datapackage)."""
    from wacz.util import now  # see _indexer: py-wacz is imported only to write a package

    if not warcs:
        return _indexer(io.StringIO(), [], None)
    idx_buffer = io.BytesIO()
    idx_text = io.TextIOWrapper(idx_buffer, "utf-8", write_through=True)
    data_info = zipfile.ZipInfo("indexes/index.cdx.gz", now())
    with wacz.open(data_info, "w") as data:
        indexer = _indexer(idx_text, warcs, data)
        indexer.process_all()
    idx_text.flush()
    _writestr(wacz, "indexes/index.idx", idx_buffer.getvalue())
    return indexer


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
        lines=1024,
        digest_records=True,
        # Deliberately not py-wacz's default "req.http:cookie": cookies stay out of indexes.
        fields="referrer",
        data_out_name="index.cdx.gz",
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
    lines += [json.dumps(page, ensure_ascii=False) for page in pages]
    _writestr(wacz, "pages/pages.jsonl", ("\n".join(lines) + "\n").encode("utf-8"))


def _copy_hashed(src: Any, out: Any) -> tuple[str, int]:
    """Copy ``src`` to ``out``, returning the SHA-256 (hex) and size of what was written."""
    hasher, size = hashlib.sha256(), 0
    while block := src.read(1024 * 1024):
        hasher.update(block)
        out.write(block)
        size += len(block)
    return hasher.hexdigest(), size


class _Unwritten:
    """The package being written, as py-wacz's datapackage writer sees it: without the members
    hashed as they were written (their entries are added from those hashes)."""

    def __init__(self, wacz: zipfile.ZipFile, written: dict[str, tuple[str, int]]) -> None:
        self.wacz, self.written = wacz, written

    def infolist(self) -> list[zipfile.ZipInfo]:
        return [i for i in self.wacz.infolist() if i.filename not in self.written]

    def open(self, *args: Any, **kwargs: Any) -> Any:
        return self.wacz.open(*args, **kwargs)


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
