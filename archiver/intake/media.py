"""Checking a received folder of media files against the provider's CSV manifest.

The manifest has one row per file: ``file`` (path relative to the folder), ``url``,
``captured_at``, the provider's hashes (``sha256`` and/or ``md5``, ``sha1``, …: any column named
after a hash algorithm), ``title``, ``notes``; unknown columns are kept as they are. Every cell
is kept exactly as written: a cell starting with ``=`` is text, never a formula, and
:func:`csv_safe` neutralises such cells in any CSV Isnad writes later.

Each file is read once, hashed for SHA-256 and every algorithm its row declares at the same
time, and compared. Nothing is altered, followed outside the folder, or opened if it is not a
regular file.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import stat
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from archiver.intake import CheckedFile, Finding, Severity
from archiver.intake.digests import algorithm_name, hash_stream, looks_like_digest

FILE_COLUMN = "file"
DATE_COLUMN = "captured_at"
MAX_MANIFEST = 256 * 1024 * 1024  # bytes of CSV read into memory; a manifest is text
# Characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection"); tab and
# carriage return too, since some spreadsheets strip them before looking.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_DRIVE = re.compile(r"^[A-Za-z]:")  # C:\… or C:… (Windows drive), never a relative name


@dataclass
class _Row:
    number: int  # line of the CSV where the row starts (the header is line 1)
    cells: dict[str, str]
    path: str  # the ``file`` cell, as a POSIX relative path, NFC-normalised


def csv_safe(cell: str) -> str:
    """``cell`` made safe to write into a CSV a spreadsheet may open: a cell that a spreadsheet
    would read as a formula gets a leading apostrophe, so it shows as the text it is."""
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def read_manifest(csv_path: Path) -> tuple[list[dict[str, str]], list[Finding]]:
    """Read a media manifest: its rows (every column, cells exactly as written) and what was
    found. Duplicate rows are kept once; rows naming a file outside the folder, or no file,
    are refused (left out, with an error finding)."""
    rows, findings, _ = _read_rows(csv_path)
    return [row.cells for row in rows], findings


def check_media_folder(folder: Path, manifest: Path
                       ) -> tuple[list[CheckedFile], list[Finding]]:
    """Check every file under ``folder`` against ``manifest``.

    Returns the checked files, the manifest first (kind ``manifest``, its own findings on it),
    then one ``media`` file per regular file found (listed or not), and the findings about the
    folder as a whole: files listed but missing, files present but not listed, symlinks out of
    the folder, special files, file names that are not UTF-8. A declared hash that does not
    match is an error on the file's own ``findings``. An unreadable folder raises OSError.
    """
    rows, manifest_findings, manifest_file = _read_rows(manifest)
    files: list[CheckedFile] = [manifest_file]
    findings: list[Finding] = []
    root = folder.resolve(strict=True)
    by_path = {row.path: row for row in rows}
    seen: set[str] = set()
    skip = manifest.resolve()
    for entry, relative in _walk(root, findings):
        if not entry.is_symlink() and entry.resolve() == skip:
            continue  # the manifest itself, when it lies in the folder
        key = unicodedata.normalize("NFC", relative)
        row = by_path.get(key)
        target = _regular_target(root, entry, relative, findings)
        if target is None:
            if row is not None:
                seen.add(key)  # present but refused: reported above, not also "missing"
            continue
        checked = _check_file(target, relative, row)
        files.append(checked)
        if row is None:
            findings.append(Finding(
                Severity.WARNING, "media-not-listed",
                f"{relative} is in the folder but not in the manifest; kept, with nothing "
                "declared about it", relative))
        else:
            seen.add(key)
    for row in rows:
        if row.path not in seen:
            findings.append(Finding(
                Severity.ERROR, "media-missing",
                f"{row.path} is listed in the manifest but not in the folder",
                manifest_file.name, f"row {row.number}"))
    manifest_file.findings.extend(manifest_findings)
    return files, findings


# --- the manifest ------------------------------------------------------------------------------

def _read_rows(csv_path: Path) -> tuple[list[_Row], list[Finding], CheckedFile]:
    name = csv_path.name
    findings: list[Finding] = []
    with open(csv_path, "rb") as stream:
        data = stream.read(MAX_MANIFEST + 1)
    manifest = CheckedFile(path=csv_path, name=name, kind="manifest", size=len(data))
    with io.BytesIO(data) as stream:
        manifest.hashes, _ = hash_stream(stream, ["sha256"])
    if len(data) > MAX_MANIFEST:
        findings.append(Finding(Severity.ERROR, "manifest-too-big",
                                f"manifest is over {MAX_MANIFEST} bytes; not read", name))
        return [], findings, manifest
    text, encoding = _decode(data, name, findings)
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = reader.fieldnames or []
    except csv.Error as exc:
        findings.append(Finding(Severity.ERROR, "manifest-unreadable",
                                f"manifest header is not CSV: {exc}", name, "line 1"))
        return [], findings, manifest
    file_column = _column(header, FILE_COLUMN)
    manifest.metadata = {"columns": list(header), "encoding": encoding}
    if file_column is None:
        findings.append(Finding(
            Severity.ERROR, "manifest-no-file-column",
            f"manifest has no {FILE_COLUMN!r} column (columns: {', '.join(header)})", name,
            "line 1"))
        return [], findings, manifest
    hash_columns = {column: algo for column in header if (algo := algorithm_name(column))}
    rows = _rows(reader, name, file_column, hash_columns, findings)
    manifest.records = len(rows)
    manifest.metadata["rows"] = len(rows)
    return rows, findings, manifest


def _decode(data: bytes, name: str, findings: list[Finding]) -> tuple[str, str]:
    """The manifest's text: UTF-8 (with or without BOM) or UTF-16 with a BOM; anything else is
    reported and read as Windows-1252 (Latin-1 where that fails), so no row is lost.
    Returns (text, codec used)."""
    boms = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
            (codecs.BOM_UTF16_BE, "utf-16"))
    codec = next((name for bom, name in boms if data.startswith(bom)), "utf-8")
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        fallback = "cp1252"
        try:
            text = data.decode(fallback)
        except UnicodeDecodeError:
            fallback = "latin-1"
            text = data.decode(fallback)
        findings.append(Finding(
            Severity.WARNING, "manifest-not-utf8",
            f"manifest is not {codec.upper()} (byte {data[exc.start]:#04x} at offset "
            f"{exc.start}); read as {fallback}, check names and text", name,
            f"offset {exc.start}"))
        codec = fallback
    else:
        if codec == "utf-16":
            findings.append(Finding(Severity.INFO, "manifest-encoding",
                                    "manifest is UTF-16 (byte order mark); read as such", name))
    return text, codec


def _column(header: list[str], wanted: str) -> str | None:
    """The header's name for a column, matched ignoring case, spaces and a BOM left behind."""
    for column in header:
        if column.strip().lstrip("\ufeff").lower() == wanted:
            return column
    return None


def _rows(reader: csv.DictReader[str], name: str, file_column: str,
          hash_columns: dict[str, str], findings: list[Finding]) -> list[_Row]:
    """The manifest's rows, each checked; refused and duplicate rows are left out."""
    kept: list[_Row] = []
    by_path: dict[str, _Row] = {}
    date_column = _column(list(reader.fieldnames or []), DATE_COLUMN)
    while True:
        line = reader.line_num + 1
        try:
            raw = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            findings.append(Finding(Severity.ERROR, "manifest-unreadable",
                                    f"CSV error: {exc}; the rest is not read", name,
                                    f"row {line}"))
            break
        where = f"row {line}"
        if None in raw:  # more cells than columns: kept under a plain name, and said
            raw["_extra"] = ",".join(raw.pop(None) or [])  # type: ignore[call-overload]
            findings.append(Finding(Severity.WARNING, "manifest-extra-cells",
                                    "row has more cells than the header; extra kept as _extra",
                                    name, where))
        cells = {key: ("" if value is None else value) for key, value in raw.items()}
        if not any(cells.values()):
            continue
        _report_formulas(cells, name, where, findings)
        path = _relative_path(cells.get(file_column, ""), name, where, findings)
        if path is None:
            continue
        row = _Row(line, cells, path)
        _check_hash_cells(row, hash_columns, name, findings)
        if date_column:
            _check_date(cells.get(date_column, ""), name, where, findings)
        earlier = by_path.get(path)
        if earlier is not None:
            same = earlier.cells == cells
            findings.append(Finding(
                Severity.WARNING if same else Severity.ERROR,
                "manifest-duplicate-row" if same else "manifest-conflicting-rows",
                f"{path} is listed again (first at row {earlier.number})"
                + ("; the copy is ignored" if same else
                   " with other values; only the first row is used"), name, where))
            continue
        by_path[path] = row
        kept.append(row)
    return kept


def _report_formulas(cells: dict[str, str], name: str, where: str,
                     findings: list[Finding]) -> None:
    for column, value in cells.items():
        if value.startswith(FORMULA_START) and not _is_number(value):
            findings.append(Finding(
                Severity.WARNING, "manifest-formula-cell",
                f"column {column!r} starts like a spreadsheet formula ({value[:40]!r}); kept as "
                "text, never evaluated, neutralised in CSV exports", name, where))


def _is_number(value: str) -> bool:
    """A plain signed number (``-3.5``) is data, not a formula, in any spreadsheet."""
    try:
        float(value)
    except ValueError:
        return False
    return True


def _relative_path(value: str, name: str, where: str, findings: list[Finding]) -> str | None:
    """The ``file`` cell as a relative POSIX path inside the folder, or None (reported)."""
    cell = value.strip()
    if not cell:
        findings.append(Finding(Severity.ERROR, "manifest-row-no-file",
                                "row names no file; refused", name, where))
        return None
    posix = cell.replace("\\", "/")
    parts = PurePosixPath(posix).parts
    if posix.startswith("/") or _DRIVE.match(posix) or "\x00" in posix or ".." in parts:
        findings.append(Finding(
            Severity.ERROR, "manifest-path-outside",
            f"row names {cell!r}, outside the folder; refused", name, where))
        return None
    return unicodedata.normalize("NFC", str(PurePosixPath(*[p for p in parts if p != "."])))


def _check_hash_cells(row: _Row, hash_columns: dict[str, str], name: str,
                      findings: list[Finding]) -> None:
    for column, algorithm in hash_columns.items():
        value = row.cells.get(column, "").strip().lower()
        if value and not looks_like_digest(algorithm, value):
            findings.append(Finding(
                Severity.ERROR, "manifest-bad-hash",
                f"{row.path}: {column} {value[:80]!r} is not a {algorithm} digest; not compared",
                name, f"row {row.number}"))


def _check_date(value: str, name: str, where: str, findings: list[Finding]) -> None:
    text = value.strip()
    if not text:
        return
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        findings.append(Finding(
            Severity.WARNING, "manifest-bad-date",
            f"{DATE_COLUMN} {text[:60]!r} is not an ISO 8601 date; kept as written", name,
            where))
        return
    if moment.tzinfo is None:
        findings.append(Finding(
            Severity.INFO, "manifest-date-no-timezone",
            f"{DATE_COLUMN} {text!r} has no time zone; kept as written, UTC not assumed", name,
            where))
    elif moment > datetime.now(UTC):
        findings.append(Finding(
            Severity.WARNING, "manifest-date-future",
            f"{DATE_COLUMN} {text!r} is in the future", name, where))


# --- the folder --------------------------------------------------------------------------------

def safe_name(name: str) -> str:
    """A file name fit to print and store: itself when it is valid UTF-8, else with each byte
    that is not shown as ``\\xNN`` (the name on disk is untouched)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "backslashreplace")
    return name


def _walk(root: Path, findings: list[Finding]) -> Iterator[tuple[Path, str]]:
    """Every entry under ``root`` that is not a directory, with its relative POSIX path, in a
    stable order. Directory symlinks are not descended into (reported)."""
    for current, dirs, names in os.walk(root, followlinks=False):
        base = Path(current)
        dirs.sort()
        for directory in list(dirs):
            if (base / directory).is_symlink():
                dirs.remove(directory)
                names.append(directory)  # reported with the other symlinks
        for entry_name in sorted(names):
            entry = base / entry_name
            relative = entry.relative_to(root).as_posix()
            shown = safe_name(relative)
            if shown != relative:
                findings.append(Finding(
                    Severity.WARNING, "media-name-not-utf8",
                    f"file name is not UTF-8: {shown} (bytes shown as \\xNN)", shown))
            yield entry, relative


def _regular_target(root: Path, entry: Path, relative: str, findings: list[Finding]
                    ) -> Path | None:
    """The regular file to read for ``entry``, or None when it is refused (reported): a
    symlink leading out of the folder, a broken one, a directory link, a special file."""
    shown = safe_name(relative)
    if entry.is_symlink():
        target = Path(os.path.realpath(entry))
        if not target.is_relative_to(root):
            findings.append(Finding(
                Severity.ERROR, "media-symlink-outside",
                f"{shown} is a symlink to {safe_name(os.readlink(entry))}, outside the folder; "
                "refused, not followed", shown))
            return None
        if not target.exists():
            findings.append(Finding(Severity.ERROR, "media-symlink-broken",
                                    f"{shown} is a symlink to nothing; refused", shown))
            return None
        if not target.is_file():
            findings.append(Finding(Severity.WARNING, "media-symlink-directory",
                                    f"{shown} links to a folder; not followed", shown))
            return None
        findings.append(Finding(
            Severity.INFO, "media-symlink-inside",
            f"{shown} is a symlink to {target.relative_to(root).as_posix()}, inside the "
            "folder; read through it", shown))
        return target
    mode = entry.lstat().st_mode
    if not stat.S_ISREG(mode):
        findings.append(Finding(
            Severity.WARNING, "media-special-file",
            f"{shown} is not a regular file (a FIFO, socket or device); not opened", shown))
        return None
    return entry


def _check_file(path: Path, relative: str, row: _Row | None) -> CheckedFile:
    """Hash one file once for SHA-256 and its row's declared algorithms; compare."""
    shown = safe_name(relative)
    checked = CheckedFile(path=path, name=shown, kind="media", records=1)
    wanted = ["sha256"]
    if row is not None:
        checked.metadata = dict(row.cells)
        for column, value in row.cells.items():
            algorithm = algorithm_name(column)
            digest = value.strip().lower()
            if algorithm and digest and looks_like_digest(algorithm, digest):
                checked.declared[algorithm] = digest
                if algorithm not in wanted:
                    wanted.append(algorithm)
    # O_NOFOLLOW: the path was checked not to be a symlink (or is the resolved target); a
    # link swapped in since then is refused rather than followed.
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as stream:
            checked.hashes, checked.size = hash_stream(stream, wanted)
    except OSError as exc:
        checked.findings.append(Finding(
            Severity.ERROR, "media-unreadable",
            f"{shown} cannot be read: {exc.strerror or exc}", shown))
        return checked
    if checked.size == 0:
        checked.findings.append(Finding(Severity.WARNING, "media-empty",
                                        f"{shown} is empty (0 bytes)", shown))
    for algorithm, declared in checked.declared.items():
        if checked.hashes[algorithm] != declared:
            checked.findings.append(Finding(
                Severity.ERROR, "declared-hash-mismatch",
                f"{shown}: {algorithm} declared {declared}, computed "
                f"{checked.hashes[algorithm]}", shown,
                f"row {row.number}" if row is not None else None))
    return checked
