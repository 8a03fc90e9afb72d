"""Importing archived collections (issue 14): material handed over by a provider, taken in
as evidence.

Every file is checked on arrival by the checker of its kind (:data:`CHECKERS`), in one pass
that hashes it, copies it to a working copy and reads its records. A WARC or ARC becomes a
capture of its own: its package holds the file byte for byte under ``archive/``, an index and
page list made from it (derived), and ``metadata/provenance.json`` (who provided it, when, who
received it, its name, size, hashes computed and declared, the source's own metadata and every
finding). A WACZ is kept whole the same way, its WARCs taken out beside it for replay; the
media files of a folder with a CSV manifest make one package together (under ``media/``, with
a WARC of resource records for replay). The package is signed, timestamped, self-verified and
stored like any capture; its custody log says ``received``, ``validated``, ``packaged``,
``stored``, ``verified``.

Nothing is dropped: a file with bad digests is kept (the import is PARTIAL, with the reasons);
a file that cannot be packaged is named with why; a file already in the vault (same SHA-256)
is linked, not stored again, unless ``force``. An interrupted import resumes (``resume``)
without redoing the files already stored.
"""

from __future__ import annotations

import csv
import io
import json
import mimetypes
import os
import re
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from archiver import custody
from archiver.archive import Archive, iso
from archiver.capture import CaptureRequest, CaptureSession, begin_capture
from archiver.catalog import ImportFileRow, ImportRow
from archiver.errors import IsnadError
from archiver.hashing import sha256_bytes
from archiver.ids import new_capture_id
from archiver.intake import CheckedFile, Finding, Severity
from archiver.intake.digests import hash_stream
from archiver.intake.media import check_media_folder
from archiver.intake.wacz import ZipLimits, check_wacz, unsafe_member_name
from archiver.intake.warc import check_warc, convert_arc, detect_format, sort_index
from archiver.states import CaptureState, CustodyAction, ImportFileState, JobSource
from isnad import __version__
from isnad.app.archive import prepare_archive
from isnad.app.jobs import JobSpec, parse_batch
from isnad.app.search import index_import
from isnad.config import Settings

COMPLETE, PARTIAL, FAILED = CaptureState.COMPLETE, CaptureState.PARTIAL, CaptureState.FAILED
RUNNING = CaptureState.RUNNING

# What became of a received file.
STORED, DUPLICATE = ImportFileState.IMPORTED, ImportFileState.DUPLICATE
REFUSED, PENDING = ImportFileState.REFUSED, ImportFileState.CHECKING

# kind → checker. A checker reads a received file once and reports (it never alters it):
# ``checker(path, name, declared=..., copy_to=..., index_to=..., member=..., on_bytes=...)``.
# Media files are checked folder by folder against their manifest (_import_media_folder); one
# outside a folder with a manifest is refused with one line.
CHECKERS: dict[str, Callable[..., CheckedFile]] = {"warc": check_warc, "arc": check_warc}
NOT_YET = {"media": "media files are imported as a folder given with its CSV manifest "
                    "(--manifest FILE.csv, or manifest.csv in the folder); this one was not"}
MANIFEST_NAME = "manifest.csv"  # a folder's own manifest, used when --manifest is not given
URL_LIST_SUFFIXES = (".txt", ".csv")
_LIMITS = ZipLimits()  # a received WACZ's expansion bounds (the checker's, isnad verify's)
HASH_COLUMNS = ("sha256", "sha1", "md5", "sha512")
# Above either, `isnad import` hands the import to a worker (when one is running) instead of
# running it in the terminal: a job survives the terminal closing, and shows in `isnad jobs`.
QUEUE_ABOVE_BYTES = 20 * 1024**3
QUEUE_ABOVE_FILES = 2000


@dataclass
class ImportOptions:
    """Who provided the material, who received it, and how to file it."""

    provider: str
    operator: str
    received_at: datetime | None = None
    case_id: str | None = None
    tags: tuple[str, ...] = ()
    note: str | None = None
    manifest: Path | None = None  # a CSV of declared hashes (file, sha256/sha1/md5)
    urls: tuple[Path, ...] = ()  # URL lists to queue as captures
    force: bool = False  # store a file already in the vault again

    def to_dict(self) -> dict[str, Any]:
        return {"provider": self.provider, "operator": self.operator,
                "received_at": iso(self.received_at), "case": self.case_id,
                "tags": list(self.tags), "note": self.note,
                "manifest": str(self.manifest) if self.manifest else None,
                "urls": [str(u) for u in self.urls], "force": self.force}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImportOptions:
        received = data.get("received_at")
        return cls(provider=data["provider"], operator=data["operator"],
                   received_at=datetime.fromisoformat(received.replace("Z", "+00:00"))
                   if received else None,
                   case_id=data.get("case"), tags=tuple(data.get("tags") or ()),
                   note=data.get("note"),
                   manifest=Path(data["manifest"]) if data.get("manifest") else None,
                   urls=tuple(Path(u) for u in data.get("urls") or ()),
                   force=bool(data.get("force")))


@dataclass
class Received:
    """A file found among what was handed over."""

    path: Path
    name: str  # relative to what was handed over, as received (for people)
    size: int
    kind: str | None = None
    refused: Finding | None = None  # a symlink out of the folder, something unreadable


@dataclass
class ImportProgress:
    """What an interface shows while an import runs."""

    total_bytes: int
    files: int
    on_file: Callable[[str, int], None] = lambda name, size: None
    on_bytes: Callable[[int], None] = lambda n: None
    on_done: Callable[[str, str], None] = lambda name, state: None


@dataclass
class ImportResult:
    import_id: str
    state: str
    record: dict[str, Any] = field(default_factory=dict)


def start_import(archive: Archive, paths: list[Path], options: ImportOptions) -> str:
    """Register an import (RUNNING) of ``paths``; returns its id. Paths must exist."""
    missing = [str(p) for p in paths if not p.exists() and not p.is_symlink()]
    if missing:
        raise IsnadError("no such file or folder: " + ", ".join(missing))
    if not options.provider.strip():
        raise IsnadError("--provider is required: who handed this material over")
    import_id = new_capture_id()
    archive.catalog.add_import(ImportRow(
        id=import_id, provider=options.provider, received_at=options.received_at,
        received_by=options.operator, started_at=datetime.now(UTC), case_id=options.case_id,
        tags=list(options.tags), note=options.note, state=RUNNING,
        paths=[_text(str(p.absolute())) for p in paths], findings=[],
        context={"options": options.to_dict(), "software": f"Isnad {__version__}"}))
    return import_id


def is_large(paths: list[Path]) -> bool:
    """Whether what is handed over passes :data:`QUEUE_ABOVE_BYTES` or
    :data:`QUEUE_ABOVE_FILES` (counted by walking it, without reading a file)."""
    size = count = 0
    for given in paths:
        walked = [given] if not given.is_dir() else (
            Path(folder, name) for folder, _, names in os.walk(given) for name in names)
        for path in walked:
            try:
                size += path.lstat().st_size
            except OSError:
                continue
            count += 1
            if size > QUEUE_ABOVE_BYTES or count > QUEUE_ABOVE_FILES:
                return True
    return False


def queue_import(settings: Settings, archive: Archive, import_id: str) -> str:
    """Hand import ``import_id`` (registered, or interrupted) to the workers as a job; returns
    the job's id, also recorded with the import. A worker runs it as :func:`run_import` does,
    resuming what was done; its progress (files, bytes) shows in `isnad jobs`."""
    row = archive.catalog.get_import(import_id)
    spec = JobSpec(url=f"import:{import_id}", operator=row.received_by,
                   case_id=row.case_id, tags=tuple(row.tags or ()), note=row.note,
                   source=f"{JobSource.IMPORT.value}:{import_id}", use_browser=False,
                   import_id=import_id)
    from isnad.app.runtime import Runtime  # the queue's modules, only when one is used

    (job,) = Runtime(settings, archive).submit([spec])
    context = archive.catalog.get_import(import_id).context or {}
    archive.catalog.update_import(import_id, context={
        **context, "import_jobs": [*context.get("import_jobs", []), job.id]})
    return job.id


def run_import(settings: Settings, archive: Archive, import_id: str,
               progress: Callable[[int, int], ImportProgress] | None = None) -> ImportResult:
    """Import (or resume importing) every file of import ``import_id``.

    A file already stored by this import is not redone. ``progress(total_bytes, files)``
    gives the callbacks an interface shows progress with."""
    row = archive.catalog.get_import(import_id)
    options = ImportOptions.from_dict(row.context["options"])
    prepare_archive(archive, settings)  # the signing key, opened (or made) before anything
    done = {f.name for f in row.files if f.state in (STORED, DUPLICATE, REFUSED)}
    findings: list[Finding] = []
    received = _unique([r for given in row.paths for r in _walk(Path(given), findings)])
    folders = _media_folders(row.paths, options.manifest)
    manifests = {m.resolve() for _, m in folders}
    if options.manifest:
        manifests.add(options.manifest.resolve())
    received = [r for r in received if r.path.resolve() not in manifests]
    urls = [*options.urls, *(r.path for r in received if r.kind == "urls")]
    received = [r for r in received if r.kind != "urls"]
    declared, manifest_findings = _declared_hashes(options.manifest)
    findings += manifest_findings
    todo = [r for r in received if r.name not in done]
    show = progress(sum(r.size for r in todo), len(todo)) if progress else None
    seen: dict[str, str] = {}  # sha256 → capture id, within this import
    for f in row.files:
        if f.state == STORED and f.sha256 and f.capture_id:
            seen[f.sha256] = f.capture_id
    groups = _media_groups(folders, todo)
    grouped = {id(item) for _, _, items in groups for item in items}
    for folder, folder_manifest, items in groups:
        findings += _import_media_folder(settings, archive, row, options, folder,
                                         folder_manifest, items, seen, show)
    for item in todo:
        if id(item) in grouped:
            continue
        if show:
            show.on_file(item.name, item.size)
        state = _import_file(settings, archive, row, options, item,
                             declared.get(item.name) or declared.get(item.path.name) or {},
                             seen, show.on_bytes if show else None)
        if show:
            show.on_done(item.name, state)
    jobs = _queue_urls(settings, archive, import_id, options, urls, findings)
    return _settle(archive, import_id, findings, jobs)


def check_received_wacz(path: Path, name: str, *, declared: dict[str, str] | None = None,
                        copy_to: Path, index_to: Path, member: str | None = None,
                        inflate_to: Path | None = None,
                        on_bytes: Callable[[int], None] | None = None) -> CheckedFile:
    """The WACZ checker (:func:`archiver.intake.wacz.check_wacz`) as the import calls a
    checker: the file is copied to its working copy (``copy_to``) as it is read, and the copy,
    which is what gets packaged, is what is checked. Its WARCs are indexed later, when they are
    taken out of it (:func:`_extract_wacz`): ``index_to`` is left empty here, and
    ``inflate_to`` (for a WARC that is one gzip stream) is not used."""
    with open(path, "rb") as src, open(copy_to, "wb") as out:
        received, _ = hash_stream(_Tee(src, out, on_bytes), ["sha256"])
        out.flush()
        os.fsync(out.fileno())
    index_to.write_bytes(b"")
    checked = check_wacz(copy_to, name, declared=declared)
    checked.path = path
    if checked.hashes.get("sha256") != received["sha256"]:  # the copy is not what was read
        raise OSError(f"the working copy of {name} differs from the file read "
                      f"({received['sha256']} read, {checked.hashes.get('sha256')} copied)")
    return checked


class _Tee:
    """A binary stream that writes what is read from it to ``out`` (one read, two uses)."""

    def __init__(self, src: Any, out: Any, on_bytes: Callable[[int], None] | None) -> None:
        self.src, self.out, self.on_bytes = src, out, on_bytes

    def read(self, size: int = -1) -> bytes:
        block = self.src.read(size)
        self.out.write(block)
        if self.on_bytes and block:
            self.on_bytes(len(block))
        return block


CHECKERS["wacz"] = check_received_wacz


def _unique(received: list[Received]) -> list[Received]:
    """One entry per file: a path given twice counts once; two files of the same name from
    different places are told apart by their full path."""
    seen: set[Path] = set()
    names: set[str] = set()
    out = []
    for item in received:
        real = item.path.resolve()
        if real in seen and not item.path.is_symlink():
            continue
        seen.add(real)
        if item.name in names:
            item.name = _text(str(item.path.absolute()))
        names.add(item.name)
        out.append(item)
    return out


def _walk(given: Path, findings: list[Finding]) -> list[Received]:
    """The files under ``given`` (itself, if a file), in name order, with their kinds.

    A symlink whose target lies outside the folder handed over is refused (it would import
    something the provider did not hand over)."""
    if not given.is_dir():  # a file named by the person: followed if it is a link
        return [_received(given, _text(given.name), None)]
    root = given.resolve()
    out = []
    for folder, dirs, files in os.walk(given, followlinks=False):
        dirs.sort()
        for link in [d for d in dirs if Path(folder, d).is_symlink()]:
            # Not walked into: a folder symlink may loop or leave the folder.
            out.append(Received(Path(folder, link), _text(str(Path(folder, link)
                                                                 .relative_to(given.parent))),
                                0, None, Finding(Severity.ERROR, "symlink-folder",
                                                 "a symbolic link to a folder: not followed")))
        for name in sorted(files):
            out.append(_received(Path(folder, name), _text(str(Path(folder, name)
                                                               .relative_to(given.parent))),
                                 root))
    return out


def _received(path: Path, name: str, root: Path | None) -> Received:
    if root is not None and path.is_symlink():
        target = path.resolve()
        if not target.is_relative_to(root.resolve()):
            return Received(path, name, 0, None, Finding(
                Severity.ERROR, "symlink-outside",
                f"a symbolic link to {_text(str(target))}, outside what was handed over: "
                "refused", name))
    try:
        size = path.stat().st_size
    except OSError as exc:
        return Received(path, name, 0, None, Finding(Severity.ERROR, "unreadable",
                                                     f"cannot be read: {exc}", name))
    return Received(path, name, size, _kind(path, size))


def _kind(path: Path, size: int) -> str:
    """What a received file is: by its first bytes where they say, else by its name."""
    lower = path.name.lower()
    if size:
        found = detect_format(path)
        if found:
            return found
        with open(path, "rb") as fh:
            if fh.read(4) == b"PK\x03\x04" and lower.endswith(".wacz"):
                return "wacz"
    if lower.endswith(URL_LIST_SUFFIXES) and _lists_urls(path):
        return "urls"
    if lower.endswith((".warc", ".warc.gz", ".arc", ".arc.gz")):
        return "arc" if ".arc" in lower and ".warc" not in lower else "warc"
    if lower.endswith(".wacz"):
        return "wacz"
    return "media"


def _lists_urls(path: Path) -> bool:
    """A text or CSV file is a URL list when its first line (not blank, not a comment) is a
    URL or a CSV header with a ``url`` column; any other is material like the rest."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                line = line.strip()
                if line and not line.startswith("#"):
                    columns = [c.strip().lower() for c in line.split(",")]
                    return line.lower().startswith(("http://", "https://")) or "url" in columns
                if fh.tell() > 64 * 1024:
                    break
    except OSError:
        return False
    return False


def _import_file(settings: Settings, archive: Archive, row: ImportRow,
                 options: ImportOptions, item: Received, declared: dict[str, str],
                 seen: dict[str, str], on_bytes: Callable[[int], None] | None) -> str:
    """Check, package and store one file; returns what became of it."""
    catalog = archive.catalog
    base = {"source_path": _text(str(item.path)), "size": item.size,
            "kind": item.kind or "unknown"}
    if item.refused is not None:
        catalog.save_import_file(row.id, item.name, state=REFUSED,
                                 findings=[item.refused.to_dict()], **base)
        return REFUSED
    checker = CHECKERS.get(item.kind or "")
    if checker is None:
        why = NOT_YET.get(item.kind or "", f"files of kind {item.kind!r} cannot be imported")
        catalog.save_import_file(row.id, item.name, state=REFUSED, findings=[Finding(
            Severity.ERROR, "not-supported", why, item.name).to_dict()], **base)
        return REFUSED
    catalog.save_import_file(row.id, item.name, state=PENDING, **base)
    staging = archive.work_root / f"import-{row.id}"
    staging.mkdir(parents=True, exist_ok=True)
    member = _member_name(item)
    copy, unsorted = staging / member, staging / (member + ".cdxj.unsorted")
    inflated = staging / _inflated_name(member)
    try:
        checked = checker(item.path, item.name, declared=declared, copy_to=copy,
                          index_to=unsorted, member=member, inflate_to=inflated,
                          on_bytes=on_bytes)
    except OSError as exc:  # unreadable: a finding, the rest of the import goes on
        copy.unlink(missing_ok=True)
        unsorted.unlink(missing_ok=True)
        inflated.unlink(missing_ok=True)
        catalog.save_import_file(row.id, item.name, state=REFUSED, findings=[Finding(
            Severity.ERROR, "unreadable", f"cannot be read: {exc}", item.name).to_dict()],
            **base)
        return REFUSED
    facts = {"size": checked.size, "sha256": checked.hashes.get("sha256"),
             "hashes": checked.hashes, "declared": checked.declared, "kind": checked.kind,
             "findings": [f.to_dict() for f in checked.findings]}
    structural = {"empty-file", "not-warc", "no-records"}
    if not checked.records or structural & {f.code for f in checked.findings}:
        # Nothing in it to package or replay: named, with why; the rest goes on.
        copy.unlink(missing_ok=True)
        unsorted.unlink(missing_ok=True)
        inflated.unlink(missing_ok=True)
        catalog.save_import_file(row.id, item.name, state=REFUSED, source_path=base[
            "source_path"], **facts)
        return REFUSED
    sha = checked.hashes["sha256"]
    earlier = seen.get(sha) or (None if options.force else _in_vault(archive, sha))
    if earlier and not options.force:
        copy.unlink(missing_ok=True)
        unsorted.unlink(missing_ok=True)
        inflated.unlink(missing_ok=True)
        facts["findings"].append(Finding(
            Severity.INFO, "duplicate", f"the same file (SHA-256 {sha}) is already in the "
            f"vault as capture {earlier}: linked, not stored again (--force stores it again)",
            item.name).to_dict())
        catalog.save_import_file(row.id, item.name, state=DUPLICATE, duplicate_of=earlier,
                                 source_path=base["source_path"], **facts)
        return DUPLICATE
    try:
        capture_id = _package(settings, archive, row, options, item, checked, member, copy,
                              unsorted)
    except Exception as exc:  # noqa: BLE001 - one file that fails must not stop the import
        facts["findings"].append(Finding(Severity.ERROR, "not-packaged",
                                         f"checked, but not packaged: {exc}",
                                         item.name).to_dict())
        catalog.save_import_file(row.id, item.name, state=ImportFileState.NOT_PACKAGED,
                                 source_path=base["source_path"], **facts)
        return ImportFileState.NOT_PACKAGED
    seen[sha] = capture_id
    # Packaging may add findings (a WACZ's WARC not taken out for replay).
    facts["findings"] = [f.to_dict() for f in checked.findings]
    catalog.save_import_file(row.id, item.name, state=STORED, capture_id=capture_id,
                             source_path=base["source_path"], **facts)
    return STORED


def _inflated_name(member: str) -> str:
    """The name of the decompressed copy of ``member`` when it is one gzip stream."""
    stem = re.sub(r"\.(w?arc)(\.gz)?$", "", member, flags=re.IGNORECASE)
    kind = "arc" if re.search(r"(?<!w)\.arc(\.gz)?$", member, re.IGNORECASE) else "warc"
    return f"{stem}.inflated.{kind}"


def _keep_inflated(session: CaptureSession, checked: CheckedFile, member: str
                   ) -> dict[str, Any] | None:
    """For a WARC/ARC that is one gzip stream: its decompressed copy, written as it was
    checked, goes beside it in the package (derived), and the index points into it."""
    if checked.inflated is None or not checked.inflated.exists():
        return None
    about = checked.metadata.get("inflated") or {}
    name = checked.inflated.name
    shutil.move(checked.inflated, session.work_dir / name)
    session.received.append(session.work_dir / name)
    session.received_sha256[name] = about["sha256"]
    return {"member": f"archive/{name}", "role": "derived",
            "derived_from": [f"archive/{member}"], "sha256": about["sha256"],
            "size": about.get("size"), "records": checked.records,
            "how": f"the one gzip stream of the original, decompressed by Isnad {__version__} "
                   "as it was checked (the bytes are those of the records, unchanged), for "
                   "replay tools, which cannot seek into one gzip stream"}


def _indexed(derived: list[dict[str, Any]], conversion: dict[str, Any] | None
             ) -> list[str] | None:
    """The derived members the index points into (None: the original itself): an ARC's
    conversion, else every derived WARC but those inflated into another."""
    if conversion:
        return [conversion["member"]]
    inflated_from = {source for d in derived if ".inflated." in d["member"]
                     for source in d["derived_from"]}
    return [d["member"] for d in derived if d["member"] not in inflated_from] or None


def _in_vault(archive: Archive, sha256: str) -> str | None:
    found = archive.catalog.stored_import_file(sha256)
    return found.capture_id if found else None


def _package(settings: Settings, archive: Archive, row: ImportRow, options: ImportOptions,
             item: Received, checked: CheckedFile, member: str, copy: Path, unsorted: Path
             ) -> str:
    """The capture of one checked WARC/ARC: received, validated, packaged, stored, verified."""
    sha = checked.hashes["sha256"]
    origin = {"source": f"{JobSource.IMPORT.value}:{row.id}", "import": row.id,
              "file": item.name, "provider": options.provider}
    url = next((p["url"] for p in checked.pages), None) or f"import:{item.name}"
    arrival = {"file": item.name, "bytes": checked.size, "hashes": checked.hashes,
               "declared": checked.declared, "provider": options.provider,
               "received_at": iso(options.received_at), "received_by": options.operator}
    session = begin_capture(
        archive, CaptureRequest(url, options.operator, options.case_id, options.tags,
                                options.note, origin), {"import": row.id},
        received=(sha, arrival))
    try:
        return _seal(archive, row, options, item, checked, member, copy, unsorted, session)
    except Exception as exc:
        _settle_failed(archive, session, options, str(exc))
        raise


# --- media folders with a CSV manifest ------------------------------------------------------

def _media_folders(paths: list[str], manifest: Path | None) -> list[tuple[Path, Path]]:
    """The folders handed over whose media files are checked against a manifest: each folder
    given, with ``--manifest`` when given, else its own ``manifest.csv`` at its top (none: its
    media files are refused, with why)."""
    out = []
    for given in paths:
        folder = Path(given)
        if not folder.is_dir():
            continue
        if manifest is not None:
            out.append((folder, manifest))
            continue
        found = next((folder / n for n in sorted(os.listdir(folder))
                      if n.lower() == MANIFEST_NAME and (folder / n).is_file()
                      and not (folder / n).is_symlink()), None)
        if found is not None:
            out.append((folder, found))
    return out


def _media_groups(folders: list[tuple[Path, Path]], todo: list[Received]
                  ) -> list[tuple[Path, Path, list[Received]]]:
    """The media files to import, by the folder (and manifest) they came in."""
    groups = []
    taken: set[int] = set()
    for folder, manifest in folders:
        root = folder.absolute()
        items = [r for r in todo if r.kind == "media" and r.refused is None
                 and id(r) not in taken and r.path.absolute().is_relative_to(root)]
        taken |= {id(r) for r in items}
        groups.append((folder, manifest, items))
    return groups


def _import_media_folder(settings: Settings, archive: Archive, row: ImportRow,
                         options: ImportOptions, folder: Path, manifest: Path,
                         items: list[Received], seen: dict[str, str],
                         show: ImportProgress | None) -> list[Finding]:
    """Check a folder's media files against its manifest and store them, unaltered, in one
    package; returns the findings about the folder as a whole (files listed but missing,
    present but not listed, symlinks, the manifest's own)."""
    catalog = archive.catalog
    key = _text(str(folder.absolute()))
    if not items:  # resumed, everything stored already: its folder findings as recorded
        earlier = (catalog.get_import(row.id).context or {}).get("media_folders", {})
        return [Finding(Severity(f["severity"]), f["code"], f["message"], f.get("file"),
                        f.get("where")) for f in earlier.get(key, [])]
    for item in items:
        catalog.save_import_file(row.id, item.name, state=PENDING, kind="media",
                                 size=item.size, source_path=_text(str(item.path)))
    try:
        checked_files, folder_findings = check_media_folder(folder, manifest)
    except OSError as exc:
        problem = Finding(Severity.ERROR, "unreadable",
                          f"the folder or its manifest cannot be read: {exc}", key)
        for item in items:
            catalog.save_import_file(row.id, item.name, state=REFUSED,
                                     findings=[problem.to_dict()])
        return [problem]
    manifest_file, media = checked_files[0], checked_files[1:]
    relative = {item.path.absolute().relative_to(folder.absolute()).as_posix()
                for item in items}
    # Not listed: said of media files only (a WARC beside them is imported on its own).
    folder_findings = [*manifest_file.findings, *(
        f for f in folder_findings if f.code != "media-not-listed" or f.file in relative)]
    by_path = {c.path.resolve(): c for c in media}
    pairs: list[tuple[Received, CheckedFile]] = []
    for item in items:
        checked = by_path.get(item.path.resolve())
        facts = _facts(checked) if checked else {}
        if checked is None or not checked.hashes:
            why = Finding(Severity.ERROR, "not-read",
                          "not read (see the findings about its folder)", item.name)
            catalog.save_import_file(row.id, item.name, state=REFUSED, **(facts | {
                "findings": [*(facts.get("findings") or []), why.to_dict()]}))
            continue
        sha = checked.hashes["sha256"]
        earlier = seen.get(sha) or (None if options.force else _in_vault(archive, sha))
        if earlier and not options.force:
            facts["findings"].append(Finding(
                Severity.INFO, "duplicate", f"the same file (SHA-256 {sha}) is already in "
                f"the vault as capture {earlier}: linked, not stored again (--force stores it "
                "again)", item.name).to_dict())
            catalog.save_import_file(row.id, item.name, state=DUPLICATE, duplicate_of=earlier,
                                     **facts)
            continue
        pairs.append((item, checked))
    if pairs:
        _package_media(settings, archive, row, options, folder, manifest, manifest_file,
                       pairs, folder_findings, seen, show)
    context = catalog.get_import(row.id).context or {}
    catalog.update_import(row.id, context={**context, "media_folders": {
        **context.get("media_folders", {}), key: [f.to_dict() for f in folder_findings]}})
    return folder_findings


def _facts(checked: CheckedFile) -> dict[str, Any]:
    return {"size": checked.size, "sha256": checked.hashes.get("sha256"),
            "hashes": checked.hashes, "declared": checked.declared, "kind": checked.kind,
            "findings": [f.to_dict() for f in checked.findings]}


def _package_media(settings: Settings, archive: Archive, row: ImportRow, options: ImportOptions,
                   folder: Path, manifest: Path, manifest_file: CheckedFile,
                   pairs: list[tuple[Received, CheckedFile]], folder_findings: list[Finding],
                   seen: dict[str, str], show: ImportProgress | None) -> None:
    """The capture of a folder's media files: received, validated, captured (the replay WARC
    Isnad writes from them), packaged, stored, verified."""
    catalog = archive.catalog
    hashes = {item.name: checked.hashes["sha256"] for item, checked in pairs}
    urls = [u for _, c in pairs if (u := _cell(c.metadata, "url"))
            .lower().startswith(("http://", "https://"))]
    arrival = {"folder": _text(str(folder)), "manifest": manifest_file.name,
               "manifest_sha256": manifest_file.hashes.get("sha256"),
               "files": {item.name: {"bytes": c.size, "hashes": c.hashes, "declared": c.declared}
                         for item, c in pairs},
               "provider": options.provider, "received_at": iso(options.received_at),
               "received_by": options.operator}
    origin = {"source": f"{JobSource.IMPORT.value}:{row.id}", "import": row.id,
              "file": _text(folder.name), "provider": options.provider}
    session = begin_capture(
        archive, CaptureRequest(urls[0] if urls else f"import:{_text(folder.name)}",
                                options.operator, options.case_id, options.tags, options.note,
                                origin), {"import": row.id},
        received=(sha256_bytes(custody.canonical_json(hashes)), arrival))
    try:
        capture_id = _seal_media(archive, row, options, folder, manifest, manifest_file, pairs,
                                 folder_findings, session, show)
    except Exception as exc:  # noqa: BLE001 - the rest of the import goes on
        _settle_failed(archive, session, options, str(exc))
        for item, checked in pairs:
            facts = _facts(checked)
            facts["findings"].append(Finding(Severity.ERROR, "not-packaged",
                                             f"checked, but not packaged: {exc}",
                                             item.name).to_dict())
            catalog.save_import_file(row.id, item.name, state=ImportFileState.NOT_PACKAGED,
                                     **facts)
        return
    for item, checked in pairs:
        seen[checked.hashes["sha256"]] = capture_id
        catalog.save_import_file(row.id, item.name, state=STORED, capture_id=capture_id,
                                 **_facts(checked))


def _cell(cells: dict[str, Any], column: str) -> str:
    """A manifest cell by column name (matched as the checker matches them), as written."""
    return next((str(v) for k, v in cells.items()
                 if str(k).strip().lstrip("\ufeff").lower() == column), "").strip()


def _copy_checked(source: Path, out: Path, sha256: str | None, name: str,
                  on_bytes: Callable[[int], None] | None) -> None:
    """Copy a received file to the package's working folder, checking that the copy is the
    bytes that were checked (a file changed since is not packaged)."""
    with open(source, "rb") as src, open(out, "wb") as dst:
        got, _ = hash_stream(_Tee(src, dst, on_bytes), ["sha256"])
    if sha256 is not None and got["sha256"] != sha256:
        raise IsnadError(f"{name} changed while it was imported: SHA-256 {sha256} when "
                         f"checked, {got['sha256']} when copied")


def _seal_media(archive: Archive, row: ImportRow, options: ImportOptions, folder: Path,
                manifest: Path, manifest_file: CheckedFile,
                pairs: list[tuple[Received, CheckedFile]], folder_findings: list[Finding],
                session: CaptureSession, show: ImportProgress | None) -> str:
    work = session.work_dir / ".received"  # a member name never starts with a dot
    work.mkdir(parents=True, exist_ok=True)
    warc = session.new_warc({
        "software": f"Isnad {__version__}", "format": "WARC File Format 1.1",
        "isnad-capture-id": session.capture_id, "operator": options.operator,
        "isPartOf": options.case_id or "",
        "description": f"media files received from {options.provider} (import {row.id}), "
                       "written as resource records for replay; the files as received are "
                       "under media/"})
    used: set[str] = set()
    media_files: list[tuple[str, Path]] = []
    originals: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    findings: list[Finding] = list(folder_findings)
    for item, checked in pairs:
        member = "media/" + _unique_member(checked.name, used)
        copy = work / member.split("/", 1)[1]
        if show:
            show.on_file(item.name, checked.size)
        _copy_checked(checked.path, copy, checked.hashes["sha256"], item.name,
                      show.on_bytes if show else None)
        media_files.append((member, copy))
        url = _cell(checked.metadata, "url")
        uri = url if url.lower().startswith(("http://", "https://")) \
            else "file:///" + quote(checked.name)
        kind = mimetypes.guess_type(checked.name)[0] or "application/octet-stream"
        with open(copy, "rb") as data:
            record_id, _, _ = warc.write_resource(uri, kind, data)
        warc.write_metadata(uri, json.dumps(
            {"file": item.name, "member": member, "manifest_row": checked.metadata,
             "sha256": checked.hashes["sha256"], "declared": checked.declared,
             "findings": [f.to_dict() for f in checked.findings]}, ensure_ascii=False),
            concurrent_to=record_id)
        if uri.startswith("http"):
            pages.append({"url": uri, "title": _cell(checked.metadata, "title")
                          or checked.name})
        findings += checked.findings
        originals.append({
            "member": member, "role": "original", "name": item.name,
            "source_path": _text(str(item.path)), "kind": "media", "size": checked.size,
            "sha256": checked.hashes["sha256"], "hashes": checked.hashes,
            "declared": checked.declared, "records": 1,
            "metadata": {"manifest_row": checked.metadata, "manifest": manifest_file.name},
            "findings": [f.to_dict() for f in checked.findings]})
        if show:
            show.on_done(item.name, STORED)
    manifest_member = "metadata/" + _unique_member("manifest-" + manifest_file.name, used)
    manifest_copy = work / manifest_member.split("/", 1)[1]
    _copy_checked(manifest, manifest_copy, manifest_file.hashes.get("sha256"),
                  manifest_file.name, None)
    media_files.append((manifest_member, manifest_copy))
    warc_member = f"archive/{warc.path.name}"
    errors = [f for f in findings if f.severity == Severity.ERROR]
    archive.record_event(session.capture_id, options.operator, CustodyAction.VALIDATED,
                         sha256_bytes(custody.canonical_json([f.to_dict() for f in findings])),
                         {"folder": _text(str(folder)), "files": len(pairs),
                          "errors": len(errors), "findings": _count(findings),
                          "checker": "media"})
    about = _about(row, options)
    provenance = {
        "format": "isnad-import-provenance/1", "import": about,
        "folder": {"path": _text(str(folder.absolute())),
                   "findings": [f.to_dict() for f in folder_findings]},
        "files": [*originals, {
            "member": manifest_member, "role": "original", "kind": "manifest",
            "name": manifest_file.name, "source_path": _text(str(manifest)),
            "size": manifest_file.size, "sha256": manifest_file.hashes.get("sha256"),
            "hashes": manifest_file.hashes, "metadata": manifest_file.metadata,
            "findings": [f.to_dict() for f in manifest_file.findings],
        }, {
            "member": warc_member, "role": "derived",
            "derived_from": [o["member"] for o in originals],
            "how": f"each media file written by Isnad {__version__} as a WARC resource record "
                   "(WARC-Target-URI: its manifest url, else file:///its name), with a "
                   "metadata record holding its manifest row; for replay",
        }, {
            "member": "indexes/index.cdx.gz", "role": "derived", "derived_from": [warc_member],
            "how": "CDXJ of the replay WARC (compressed, with indexes/index.idx), written by "
                   "py-wacz when packaging",
        }, {
            "member": "pages/pages.jsonl", "role": "derived", "derived_from": [warc_member],
            "how": "the media files with an http(s) url in the manifest",
        }],
    }
    state = PARTIAL if errors else COMPLETE
    reasons = [f"{f.message} ({f.where})" if f.where else f.message for f in errors[:20]]
    if len(errors) > 20:
        reasons.append(f"and {len(errors) - 20} more problems (see provenance.json)")
    context = {"source": "import", "import": about | {"files": provenance["files"]},
               "requested_by": options.operator, "case": options.case_id,
               "tags": list(options.tags), "note": options.note,
               "software": {"isnad": __version__}}
    result = session.finish(
        state=state, reasons=reasons, context=context,
        pages=[{"id": f"{i:04d}", **p} for i, p in enumerate(pages)],
        title=_text(folder.name), software=f"Isnad {__version__}", media_files=media_files,
        attachments=[("metadata/provenance.json",
                      json.dumps(provenance, ensure_ascii=False, indent=1).encode("utf-8"))])
    if result.package is None:
        raise IsnadError(f"{_text(folder.name)}: not packaged: {result.error}")
    shutil.rmtree(work, ignore_errors=True)
    return session.capture_id


def _unique_member(name: str, used: set[str]) -> str:
    """A package member's file name for ``name``: characters WACZ validators accept, unique."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")[-150:] or "file"
    out, number = base, 1
    while out.lower() in used:
        number += 1
        out = f"{number}-{base}"
    used.add(out.lower())
    return out


def _settle_failed(archive: Archive, session: CaptureSession, options: ImportOptions, error: str
                   ) -> None:
    """A capture of a received file that could not be packaged: FAILED, its files kept aside
    (the provider's original among them), never deleted."""
    if archive.catalog.get(session.capture_id).state != RUNNING:
        return  # the session settled it itself (a full disk)
    kept = archive.set_aside(session.capture_id, session.work_dir)
    archive.catalog.update_capture(session.capture_id, state=FAILED, reasons=[error],
                                   error=error, ended_at=datetime.now(UTC),
                                   work_dir=str(kept) if kept else None)
    archive.record_event(session.capture_id, options.operator, CustodyAction.FAILED, None,
                         {"error": error, "files_kept_in": str(kept) if kept else None})
    archive.preserve(session.capture_id, None, options.operator)


def _seal(archive: Archive, row: ImportRow, options: ImportOptions, item: Received,
          checked: CheckedFile, member: str, copy: Path, unsorted: Path,
          session: CaptureSession) -> str:
    shutil.move(copy, session.work_dir / member)
    session.received.append(session.work_dir / member)
    session.received_sha256[member] = checked.hashes["sha256"]
    index = session.work_dir / ".index.cdxj"  # a member name never starts with a dot
    inflated = _keep_inflated(session, checked, member)
    conversion = _convert_arc(session, checked, member, unsorted)
    derived = [d for d in (inflated, conversion) if d]
    derived += _extract_wacz(session, checked, member, unsorted)
    sort_index(unsorted, index)
    unsorted.unlink(missing_ok=True)
    errors = [f for f in checked.findings if f.severity == Severity.ERROR]
    findings = [f.to_dict() for f in checked.findings]
    archive.record_event(session.capture_id, options.operator, CustodyAction.VALIDATED,
                         sha256_bytes(custody.canonical_json(findings)),
                         {"file": item.name, "records": checked.records,
                          "errors": len(errors),
                          "findings": _count(checked.findings), "checker": checked.kind})
    provenance = _provenance(row, options, item, checked, member, derived,
                             _indexed(derived, conversion))
    state = PARTIAL if errors else COMPLETE
    reasons = [f"{f.message} ({f.where})" if f.where else f.message for f in errors[:20]]
    if len(errors) > 20:
        reasons.append(f"and {len(errors) - 20} more problems (see provenance.json)")
    context = {"source": "import", "import": provenance["import"] | {
        "files": provenance["files"]}, "requested_by": options.operator,
        "case": options.case_id, "tags": list(options.tags), "note": options.note,
        "software": {"isnad": __version__}}
    pages = [{"id": f"{i:04d}", **p} for i, p in enumerate(checked.pages)]
    result = session.finish(
        state=state, reasons=reasons, context=context, pages=pages, title=item.name,
        software=f"Isnad {__version__}",
        attachments=[("metadata/provenance.json",
                      json.dumps(provenance, ensure_ascii=False, indent=1).encode("utf-8"))],
        index=index)
    if result.package is None:
        raise IsnadError(f"{item.name}: not packaged: {result.error}")
    return session.capture_id


def _convert_arc(session: CaptureSession, checked: CheckedFile, member: str, unsorted: Path
                 ) -> dict[str, Any] | None:
    """For an ARC that checked clean: a WARC conversion beside it (derived, for replay tools
    that read WARC only), which the index and pages then point at. None when not made."""
    if checked.kind != "arc" or not checked.ok:
        return None
    # An ARC that is one gzip stream is converted from its decompressed copy.
    original = session.work_dir / (checked.inflated.name if checked.inflated else member)
    name = re.sub(r"\.arc(\.gz)?$", "", member, flags=re.IGNORECASE) + ".converted.warc.gz"
    out = session.work_dir / name
    index = unsorted.with_name(unsorted.name + ".converted")
    try:
        written = convert_arc(original, out)
        converted = check_warc(out, name, index_to=index, member=name)
    except Exception:  # noqa: BLE001 - the original stays indexed as it is
        out.unlink(missing_ok=True)
        index.unlink(missing_ok=True)
        return None
    if not converted.ok or written != checked.records:
        out.unlink(missing_ok=True)
        index.unlink(missing_ok=True)
        return None
    index.replace(unsorted)
    checked.pages = converted.pages
    session.received.append(out)
    session.received_sha256[name] = converted.hashes["sha256"]
    return {"member": f"archive/{name}", "role": "derived",
            "derived_from": [f"archive/{member}"], "sha256": converted.hashes["sha256"],
            "size": converted.size, "records": written,
            "how": f"ARC records written as WARC records by warcio {_warcio_version()} "
                   "(arc2warc), digests computed; for replay tools that read WARC only"}


def _extract_wacz(session: CaptureSession, checked: CheckedFile, member: str, unsorted: Path,
                  limits: ZipLimits = _LIMITS) -> list[dict[str, Any]]:
    """For a WACZ: its WARCs taken out beside it (derived, byte for byte the members), for
    replay and listing; the index is written from them. The original stays whole.

    A member the checker found a problem with (unsafe name, duplicate, bomb, bad hash) is not
    taken out: it stays inside the original, and a finding says so. A WARC whose own records
    have bad or missing digests is taken out all the same, so the material replays: what its
    records showed is added to the WACZ's findings (an error makes the import PARTIAL), and
    the package's verification accepts those problems in the copy because its SHA-256, taken
    here, is recorded with what it was taken from. A WARC that is one gzip stream is inflated
    beside it (derived too) for the index. Returns what was taken out, for provenance.json."""
    if checked.kind != "wacz":
        return []
    original = session.work_dir / member
    flagged = {f.where for f in checked.findings if f.severity == Severity.ERROR and f.where}
    derived: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    try:
        archive = zipfile.ZipFile(original)
    except (zipfile.BadZipFile, OSError):
        return []  # reported by the checker (zip-unreadable)
    with archive:
        names = [i.filename for i in archive.infolist()]
        for info in archive.infolist():
            inner = info.filename
            if info.is_dir() or not inner.startswith("archive/") \
                    or not inner.lower().endswith((".warc", ".warc.gz")):
                continue
            if unsafe_member_name(inner) or names.count(inner) > 1 or info.flag_bits & 0x1 \
                    or {f"member {inner!r}", f"member {inner}"} & flagged \
                    or info.file_size > limits.allowance + limits.max_ratio * info.compress_size:
                continue  # the checker named the problem; not read
            base = re.sub(r"[^A-Za-z0-9._-]+", "_", inner.rsplit("/", 1)[1]).strip("._-")
            name = f"{member.removesuffix('.wacz')}.{base}"[-160:]
            out = session.work_dir / name
            index = unsorted.with_name(f"{unsorted.name}.{len(derived)}")
            inflated = session.work_dir / _inflated_name(name)
            try:
                with archive.open(info) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1024 * 1024)  # bounded: checked above
                extracted = check_warc(out, name, index_to=index, member=name,
                                       inflate_to=inflated)
            except Exception as exc:  # noqa: BLE001 - the original keeps it whole
                for path in (out, index, inflated):
                    path.unlink(missing_ok=True)
                checked.findings.append(Finding(
                    Severity.WARNING, "wacz-warc-not-extracted",
                    f"{inner} could not be taken out for replay ({exc}); it stays inside the "
                    "original", checked.name, f"member {inner}"))
                continue
            # What its records showed is said of the WACZ received, naming the member.
            checked.findings += [Finding(
                f.severity, f.code, f"{inner}: {f.message}", checked.name,
                f"member {inner}" + (f", {f.where}" if f.where else ""))
                for f in extracted.findings]
            if not extracted.records:
                for path in (out, index, inflated):
                    path.unlink(missing_ok=True)
                checked.findings.append(Finding(
                    Severity.WARNING, "wacz-warc-not-extracted",
                    f"{inner} is not taken out for replay: no record could be read in it; it "
                    "stays inside the original, as received", checked.name, f"member {inner}"))
                continue
            with open(unsorted, "ab") as whole, open(index, "rb") as part:
                shutil.copyfileobj(part, whole)
            index.unlink()
            pages += extracted.pages
            session.received.append(out)
            session.received_sha256[name] = extracted.hashes["sha256"]
            derived.append({
                "member": f"archive/{name}", "role": "derived",
                "derived_from": [f"archive/{member}"], "extracted_from": inner,
                "sha256": extracted.hashes["sha256"], "size": extracted.size,
                "records": extracted.records,
                "findings": [f.to_dict() for f in extracted.findings],
                "how": f"the member {inner} of the original, copied byte for byte by Isnad "
                       f"{__version__}, for replay tools and the index"})
            if kept := _keep_inflated(session, extracted, name):
                derived.append(kept)
    if not checked.pages:
        checked.pages = pages
    return derived


def _signature(checked: CheckedFile) -> dict[str, Any] | None:
    """A received WACZ's signature, as checked on arrival (None for other kinds)."""
    if checked.kind != "wacz":
        return None
    digest = checked.metadata.get("datapackage_digest")
    signed = digest.get("signedData") if isinstance(digest, dict) else None
    found = [f for f in checked.findings if f.code.startswith("signature-")]
    if not isinstance(signed, dict) and not found:
        status = "unsigned"
    elif any(f.severity == Severity.ERROR for f in found):
        status = "invalid"
    elif any(f.code == "signature-verified" for f in found):
        status = "verified"
    elif any(f.code == "signature-domain-untrusted" for f in found):
        status = "signer-not-established"
    elif any(f.code == "signature-domain-offline" for f in found):
        status = "checked-offline"
    else:
        status = "unchecked"
    kind = "anonymous" if isinstance(signed, dict) and signed.get("publicKey") else \
        "domain" if isinstance(signed, dict) and (signed.get("domain") or
                                                  signed.get("domainCert")) else None
    return {"status": status, "kind": kind,
            "domain": signed.get("domain") if isinstance(signed, dict) else None,
            "findings": [f.to_dict() for f in found]}


def _warcio_version() -> str:
    from importlib.metadata import version

    return version("warcio")


def _provenance(row: ImportRow, options: ImportOptions, item: Received,
                checked: CheckedFile, member: str, derived: list[dict[str, Any]] = (),
                indexed: list[str] | None = None) -> dict[str, Any]:
    """Where the material came from and what was found in it (``metadata/provenance.json``).

    ``derived``: files made from the original (an ARC's WARC conversion, a WACZ's WARCs),
    which the index and pages are then made from (``indexed``: the members the index points
    into, when not all of them)."""
    indexed = indexed or [d["member"] for d in derived] or [f"archive/{member}"]
    signature = _signature(checked)
    return {
        "format": "isnad-import-provenance/1",
        "import": _about(row, options),
        "files": [{
            "member": f"archive/{member}", "role": "original", "name": item.name,
            "source_path": _text(str(item.path)), "kind": checked.kind, "size": checked.size,
            "sha256": checked.hashes["sha256"], "hashes": checked.hashes,
            "declared": checked.declared, "records": checked.records,
            "metadata": checked.metadata, "findings": [f.to_dict() for f in checked.findings],
            **({"signature": signature} if signature else {}),
        }, *derived, {
            "member": "indexes/index.cdx", "role": "derived", "derived_from": indexed,
            "how": f"CDXJ written by Isnad {__version__} while checking the file",
        }, {
            "member": "pages/pages.jsonl", "role": "derived",
            "derived_from": [f"archive/{member}"] if checked.kind == "wacz" else indexed,
            "how": "the pages listed in the WACZ's pages/pages.jsonl" if checked.kind == "wacz"
            else "the successful HTML responses of the file, in record order",
        }],
    }


def _about(row: ImportRow, options: ImportOptions) -> dict[str, Any]:
    """The import a package's material came in with, for provenance.json."""
    return {"id": row.id, "provider": options.provider,
            "received_at": iso(options.received_at), "received_by": options.operator,
            "imported_at": iso(row.started_at), "case": options.case_id,
            "tags": list(options.tags), "note": options.note}


def _count(findings: list[Finding]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.code] = counts.get(finding.code, 0) + 1
    return counts


def _member_name(item: Received) -> str:
    """The file's name in its package (``archive/NAME``, one received file a package): the
    characters WACZ validators accept only. The name as received is kept in provenance.json
    and the catalog."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", item.path.name).strip("._-") or "file.warc"
    return base[-160:]


def _declared_hashes(manifest: Path | None) -> tuple[dict[str, dict[str, str]], list[Finding]]:
    """Hashes a provider declared, from a CSV with a ``file`` column and hash columns."""
    if manifest is None:
        return {}, []
    findings: list[Finding] = []
    try:
        text = manifest.read_text(encoding="utf-8-sig", errors="backslashreplace")
    except OSError as exc:
        return {}, [Finding(Severity.ERROR, "manifest-unreadable",
                            f"the manifest cannot be read: {exc}", str(manifest))]
    declared: dict[str, dict[str, str]] = {}
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    if "file" not in columns:
        return {}, [Finding(Severity.ERROR, "manifest-no-file-column",
                            "the manifest has no 'file' column", str(manifest))]
    for number, line in enumerate(reader, 2):
        values = {(k or "").strip().lower(): (v or "").strip() for k, v in line.items()
                  if isinstance(v, str)}
        name = values.get("file", "")
        hashes = {a: values[a].lower() for a in HASH_COLUMNS if values.get(a)}
        if name in declared:
            findings.append(Finding(Severity.WARNING, "manifest-duplicate-row",
                                    f"{name!r} is listed more than once; the first row counts",
                                    str(manifest), f"row {number}"))
            continue
        if name:
            declared[name] = hashes
    return declared, findings


def _queue_urls(settings: Settings, archive: Archive, import_id: str, options: ImportOptions,
                lists: list[Path], findings: list[Finding]) -> list[str]:
    """URL lists become capture jobs (source ``import:ID``), queued for the workers, once: the
    jobs are recorded with the import as soon as they are queued (a resumed import keeps
    them and queues nothing again)."""
    specs: list[JobSpec] = []
    template = JobSpec(url="", operator=options.operator, case_id=options.case_id,
                       tags=options.tags, note=options.note,
                       source=f"{JobSource.IMPORT.value}:{import_id}")
    for path in lists:
        try:
            text = path.read_text(encoding="utf-8", errors="backslashreplace")
        except OSError as exc:
            findings.append(Finding(Severity.ERROR, "url-list-unreadable",
                                    f"cannot be read: {exc}", _text(str(path))))
            continue
        good, bad = parse_batch(text, template)
        specs += good
        findings += [Finding(Severity.WARNING, "url-list-line", problem.problem,
                             _text(str(path)), f"line {problem.line}") for problem in bad]
    row = archive.catalog.get_import(import_id)
    if "jobs" in (row.context or {}):  # queued before an interruption: not again
        return list(row.context["jobs"])
    if not specs:
        return []
    from isnad.app.runtime import Runtime  # the queue's modules, only when one is used

    jobs = [r.id for r in Runtime(settings, archive).submit(specs)]
    archive.catalog.update_import(import_id, context={**row.context, "jobs": jobs})
    return jobs


def _settle(archive: Archive, import_id: str, findings: list[Finding], jobs: list[str]
            ) -> ImportResult:
    """The import's outcome from its files: COMPLETE when every file is stored (or linked)
    without an error, PARTIAL when something was refused or found wrong, FAILED when
    nothing could be taken in."""
    row = archive.catalog.get_import(import_id)
    files = row.files
    errors = any(found.get("severity") == Severity.ERROR for f in files
                 for found in f.findings) or any(f.severity == Severity.ERROR for f in findings)
    kept = [f for f in files if f.state in (STORED, DUPLICATE)]
    if not kept and not jobs:
        state = FAILED
    elif errors or any(f.state != STORED and f.state != DUPLICATE for f in files):
        state = PARTIAL
    else:
        state = COMPLETE
    context = {**row.context, "jobs": jobs}
    archive.catalog.update_import(import_id, state=state, ended_at=datetime.now(UTC),
                                  findings=[f.to_dict() for f in findings], context=context)
    index_import(archive, import_id)  # its captures were indexed as they were catalogued
    return ImportResult(import_id, state, import_record(archive.catalog.get_import(import_id)))


def import_record(row: ImportRow) -> dict[str, Any]:
    """An import as `isnad imports show --json` shows it."""
    return {
        "id": row.id, "state": row.state, "provider": row.provider,
        "received_at": iso(row.received_at), "received_by": row.received_by,
        "started_at": iso(row.started_at), "ended_at": iso(row.ended_at),
        "case": row.case_id, "tags": row.tags, "note": row.note, "paths": row.paths,
        "findings": row.findings, "jobs": (row.context or {}).get("jobs", []),
        "run_by_jobs": (row.context or {}).get("import_jobs", []),
        "files": [_file_record(f) for f in row.files],
    }


def _file_record(f: ImportFileRow) -> dict[str, Any]:
    return {"name": f.name, "kind": f.kind, "state": f.state, "size": f.size,
            "sha256": f.sha256, "hashes": f.hashes, "declared": f.declared,
            "capture_id": f.capture_id, "duplicate_of": f.duplicate_of,
            "findings": f.findings}


def import_summary(row: ImportRow) -> dict[str, Any]:
    """An import as `isnad imports --json` lists it."""
    states: dict[str, int] = {}
    for f in row.files:
        states[f.state] = states.get(f.state, 0) + 1
    return {"id": row.id, "state": row.state, "provider": row.provider,
            "received_by": row.received_by, "started_at": iso(row.started_at),
            "case": row.case_id, "files": len(row.files), "file_states": states,
            "bytes": sum(f.size or 0 for f in row.files)}


def list_imports(archive: Archive) -> list[dict[str, Any]]:
    """Every import, newest first."""
    return [import_summary(r) for r in archive.catalog.list_imports()]


def resolve_import(archive: Archive, import_id: str) -> str:
    """The full id of import ``import_id`` (or a unique prefix); NotFound otherwise."""
    return archive.catalog.get_import(import_id).id


def show_import(archive: Archive, import_id: str) -> dict[str, Any]:
    """One import in full: ``import_id`` or a unique prefix."""
    return import_record(archive.catalog.get_import(import_id))


def _text(name: str) -> str:
    """A name as text the catalog can hold: bytes that are not UTF-8 (a file name from
    another system) are written as escapes, never dropped."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
