"""archiver.intake.media: a folder of media files with the provider's CSV manifest, checked on
arrival: hashes compared, hostile manifests and folders reported, nothing altered."""

from __future__ import annotations

import csv
import hashlib
import io
import os
from pathlib import Path

import pytest

from archiver.intake import Severity
from archiver.intake import digests as digests_module
from archiver.intake.media import check_media_folder, csv_safe, read_manifest, safe_name

HEADER = "file,url,captured_at,sha256,md5,sha1,title,notes,source_id\n"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def codes(findings, severity=None):
    return [f.code for f in findings if severity is None or f.severity == severity]


def write_manifest(path: Path, rows: list[str], header: str = HEADER,
                   encoding: str = "utf-8") -> Path:
    path.write_bytes((header + "".join(r + "\n" for r in rows)).encode(encoding))
    return path


@pytest.fixture
def folder(tmp_path):
    media = tmp_path / "media"
    (media / "clips").mkdir(parents=True)
    (media / "video.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"v" * 5000)
    (media / "clips" / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"p" * 300)
    return media


def good_rows(media: Path) -> list[str]:
    video = (media / "video.mp4").read_bytes()
    photo = (media / "clips" / "photo.jpg").read_bytes()
    return [
        f"video.mp4,https://example.test/v/1,2024-03-01T10:00:00Z,{sha256(video)},"
        f"{hashlib.md5(video).hexdigest()},{hashlib.sha1(video).hexdigest()},A video,"
        "\"notes, with a comma\",X-1",
        f"clips/photo.jpg,https://example.test/p/2,2024-03-01T10:05:00+02:00,,"
        f"{hashlib.md5(photo).hexdigest()},,A photo,,X-2",
    ]


# --- the manifest ------------------------------------------------------------------------------

def test_manifest_rows_keep_every_column_as_written(tmp_path, folder):
    manifest = write_manifest(tmp_path / "m.csv", good_rows(folder))
    rows, findings = read_manifest(manifest)
    assert findings == []
    assert [r["file"] for r in rows] == ["video.mp4", "clips/photo.jpg"]
    assert rows[0]["notes"] == "notes, with a comma"
    assert rows[0]["source_id"] == "X-1"  # an unknown column, kept
    assert set(rows[1]) == set(HEADER.strip().split(","))


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"])
def test_manifest_in_utf8_with_or_without_bom_and_utf16(tmp_path, encoding):
    manifest = write_manifest(tmp_path / "m.csv", ["café.mp4,https://example.test/é,,,,,Café,,"],
                              encoding=encoding)
    rows, findings = read_manifest(manifest)
    assert rows[0]["file"] == "café.mp4" and rows[0]["title"] == "Café"
    assert "file" in rows[0]  # the BOM is not glued to the first column's name
    assert codes(findings) == (["manifest-encoding"] if encoding == "utf-16" else [])


def test_manifest_in_another_encoding_is_reported_and_still_read(tmp_path):
    manifest = write_manifest(tmp_path / "m.csv", ["café.mp4,https://example.test/,,,,,Café €,,"],
                              encoding="cp1252")
    rows, findings = read_manifest(manifest)
    assert codes(findings, Severity.WARNING) == ["manifest-not-utf8"]
    assert "cp1252" in findings[0].message and "0xe9" in findings[0].message
    assert rows[0]["file"] == "café.mp4" and rows[0]["title"] == "Café €"


def test_formula_cells_are_kept_as_text_and_reported(tmp_path):
    evil = "=cmd|' /C calc'!A0"
    manifest = write_manifest(tmp_path / "m.csv", [
        f'a.mp4,https://example.test/,,,,,"{evil}",+SUM(1;2),@x',
        "b.mp4,https://example.test/,,,,,-3.5,-,",
    ])
    rows, findings = read_manifest(manifest)
    assert rows[0]["title"] == evil  # exactly, never evaluated
    assert rows[0]["notes"] == "+SUM(1;2)" and rows[0]["source_id"] == "@x"
    formula = [f for f in findings if f.code == "manifest-formula-cell"]
    assert [f.where for f in formula] == ["row 2", "row 2", "row 2", "row 3"]
    # -3.5 is a number, not a formula; the lone "-" is reported (a spreadsheet may read it so)
    assert "'notes'" in formula[3].message


def test_csv_safe_neutralises_formulas_for_export():
    assert csv_safe("=cmd|' /C calc'!A0") == "'=cmd|' /C calc'!A0"
    assert csv_safe("+1") == "'+1" and csv_safe("-1+1") == "'-1+1" and csv_safe("@SUM") == "'@SUM"
    assert csv_safe("\t=1") == "'\t=1"
    assert csv_safe("A video") == "A video" and csv_safe("") == ""
    out = io.StringIO()
    csv.writer(out).writerow([csv_safe("=HYPERLINK(\"http://evil\")")])
    assert out.getvalue().startswith("\"'=HYPERLINK")


def test_duplicate_and_conflicting_rows(tmp_path):
    row = "a.mp4,https://example.test/,2024-01-01T00:00:00Z,,,,t,,"
    manifest = write_manifest(tmp_path / "m.csv", [row, row, row.replace(",t,", ",other,")])
    rows, findings = read_manifest(manifest)
    assert len(rows) == 1 and rows[0]["title"] == "t"
    assert [(f.code, f.severity, f.where) for f in findings] == [
        ("manifest-duplicate-row", Severity.WARNING, "row 3"),
        ("manifest-conflicting-rows", Severity.ERROR, "row 4")]


def test_bad_dates_and_dates_without_zone(tmp_path):
    manifest = write_manifest(tmp_path / "m.csv", [
        "a.mp4,u,yesterday,,,,,,", "b.mp4,u,2024-13-45,,,,,,", "c.mp4,u,2024-01-02 03:04:05,,,,,,",
        "d.mp4,u,2999-01-01T00:00:00Z,,,,,,", "e.mp4,u,2024-01-02T03:04:05.123Z,,,,,,",
    ])
    rows, findings = read_manifest(manifest)
    assert len(rows) == 5
    assert [(f.code, f.where) for f in findings] == [
        ("manifest-bad-date", "row 2"), ("manifest-bad-date", "row 3"),
        ("manifest-date-no-timezone", "row 4"), ("manifest-date-future", "row 5")]
    assert rows[0]["captured_at"] == "yesterday"  # kept as written


@pytest.mark.parametrize("name", ["../secret.mp4", "/etc/passwd", "a/../../b.mp4",
                                  "C:\\Windows\\x.mp4", "..\\up.mp4"])
def test_rows_naming_files_outside_the_folder_are_refused(tmp_path, name):
    manifest = write_manifest(tmp_path / "m.csv", [f'"{name}",u,,,,,,,', "ok.mp4,u,,,,,,,"])
    rows, findings = read_manifest(manifest)
    assert [r["file"] for r in rows] == ["ok.mp4"]
    assert codes(findings, Severity.ERROR) == ["manifest-path-outside"]
    assert findings[0].where == "row 2"


def test_manifest_without_file_column_or_with_bad_hash(tmp_path):
    rows, findings = read_manifest(write_manifest(tmp_path / "a.csv", ["x,y"], header="name,url\n"))
    assert rows == [] and codes(findings) == ["manifest-no-file-column"]
    rows, findings = read_manifest(write_manifest(tmp_path / "b.csv", ["a.mp4,u,,nothex,,,,,"]))
    assert codes(findings) == ["manifest-bad-hash"] and "sha256" in findings[0].message


# --- the folder --------------------------------------------------------------------------------

def test_folder_matching_its_manifest(tmp_path, folder):
    manifest = write_manifest(tmp_path / "m.csv", good_rows(folder))
    files, findings = check_media_folder(folder, manifest)
    assert findings == []
    assert [(f.kind, f.name) for f in files] == [("manifest", "m.csv"), ("media", "video.mp4"),
                                                 ("media", "clips/photo.jpg")]
    assert files[0].hashes["sha256"] == sha256(manifest.read_bytes()) and files[0].records == 2
    video = files[1]
    data = (folder / "video.mp4").read_bytes()
    assert video.ok and video.size == len(data) and video.records == 1
    assert video.hashes == {"sha256": sha256(data), "md5": hashlib.md5(data).hexdigest(),
                            "sha1": hashlib.sha1(data).hexdigest()}
    assert video.declared == video.hashes
    assert video.metadata["url"] == "https://example.test/v/1"
    assert video.metadata["source_id"] == "X-1"
    photo = files[2]  # only md5 declared: sha256 computed as always, md5 compared
    assert set(photo.hashes) == {"sha256", "md5"} and set(photo.declared) == {"md5"}


def test_one_wrong_hash_is_an_error_naming_file_algorithm_and_both_values(tmp_path, folder):
    rows = good_rows(folder)
    right = hashlib.md5((folder / "clips" / "photo.jpg").read_bytes()).hexdigest()
    rows[1] = rows[1].replace(right, "0" * 32)
    files, findings = check_media_folder(folder, write_manifest(tmp_path / "m.csv", rows))
    assert findings == []
    photo = files[2]
    assert not photo.ok and files[1].ok
    [bad] = photo.findings
    assert bad.code == "declared-hash-mismatch" and bad.where == "row 3"
    assert "clips/photo.jpg" in bad.message and "md5" in bad.message
    assert "0" * 32 in bad.message and right in bad.message


def test_each_file_is_read_once_for_all_algorithms(tmp_path, folder, monkeypatch):
    calls: list[tuple[bytes, list[str], int]] = []
    real = digests_module.hash_stream

    def watching(stream, algorithms, *args, **kwargs):
        algorithms = list(algorithms)
        result = real(stream, algorithms, *args, **kwargs)
        if not isinstance(stream, io.BytesIO):  # the manifest is hashed from memory
            calls.append((stream.read(1), algorithms, result[1]))
        return result

    monkeypatch.setattr("archiver.intake.media.hash_stream", watching)
    check_media_folder(folder, write_manifest(tmp_path / "m.csv", good_rows(folder)))
    # one pass per file, every algorithm at once, to the end of the file (nothing left to read)
    assert [(rest, algos) for rest, algos, _ in calls] == [
        (b"", ["sha256", "md5", "sha1"]), (b"", ["sha256", "md5"])]
    assert [size for *_, size in calls] == [5012, 304]


def test_missing_unlisted_and_empty_files(tmp_path, folder):
    (folder / "extra.mov").write_bytes(b"unlisted")
    (folder / "empty.mp4").write_bytes(b"")
    rows = good_rows(folder) + ["gone.mp4,https://example.test/g,,,,,,,",
                                "empty.mp4,https://example.test/e,,,,,,,"]
    files, findings = check_media_folder(folder, write_manifest(tmp_path / "m.csv", rows))
    assert [(f.code, f.file, f.where) for f in findings] == [
        ("media-not-listed", "extra.mov", None), ("media-missing", "m.csv", "row 4")]
    assert "gone.mp4" in findings[1].message
    empty = next(f for f in files if f.name == "empty.mp4")
    assert codes(empty.findings) == ["media-empty"] and empty.hashes["sha256"] == sha256(b"")
    extra = next(f for f in files if f.name == "extra.mov")  # kept, nothing declared
    assert extra.metadata == {} and extra.hashes == {"sha256": sha256(b"unlisted")}


def test_symlink_out_of_the_folder_is_refused_not_followed(tmp_path, folder):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"not for the archive")
    (folder / "leak.mp4").symlink_to(secret)
    (folder / "alias.mp4").symlink_to(folder / "video.mp4")
    (folder / "up").symlink_to(tmp_path, target_is_directory=True)
    rows = good_rows(folder) + ["leak.mp4,u,,,,,,,"]
    files, findings = check_media_folder(folder, write_manifest(tmp_path / "m.csv", rows))
    assert ("media-symlink-outside", "leak.mp4") in {(f.code, f.file) for f in findings}
    assert ("media-symlink-outside", "up") in {(f.code, f.file) for f in findings}
    assert "media-missing" not in codes(findings)  # refused is said once, not also "missing"
    assert all(sha256(b"not for the archive") not in f.hashes.values() for f in files)
    assert "leak.mp4" not in [f.name for f in files]
    alias = next(f for f in files if f.name == "alias.mp4")  # inside the folder: read, said
    assert alias.hashes["sha256"] == sha256((folder / "video.mp4").read_bytes())
    assert "media-symlink-inside" in codes(findings, Severity.INFO)


def test_fifo_is_not_opened(tmp_path, folder):
    os.mkfifo(folder / "pipe.mp4")
    files, findings = check_media_folder(  # would block forever if it opened the FIFO
        folder, write_manifest(tmp_path / "m.csv", good_rows(folder)))
    assert ("media-special-file", "pipe.mp4") in {(f.code, f.file) for f in findings}
    assert "pipe.mp4" not in [f.name for f in files]


def test_non_utf8_file_name_is_reported_with_a_safe_repr(tmp_path, folder):
    raw = os.fsencode(folder) + b"/caf\xe9.mp4"
    with open(raw, "wb") as out:
        out.write(b"latin-1 name")
    files, findings = check_media_folder(folder, write_manifest(tmp_path / "m.csv",
                                                                good_rows(folder)))
    named = [f for f in findings if f.code == "media-name-not-utf8"]
    assert len(named) == 1 and named[0].file == "caf\\xe9.mp4"
    checked = next(f for f in files if f.name == "caf\\xe9.mp4")
    assert checked.hashes["sha256"] == sha256(b"latin-1 name")
    assert safe_name("café.mp4") == "café.mp4"


def test_unicode_normalisation_of_names_does_not_lose_a_match(tmp_path, folder):
    decomposed = "cafe\u0301.mp4"  # as macOS writes it
    (folder / decomposed).write_bytes(b"nfd")
    rows = good_rows(folder) + [f"caf\u00e9.mp4,u,,{sha256(b'nfd')},,,,,"]
    files, findings = check_media_folder(folder, write_manifest(tmp_path / "m.csv", rows))
    assert findings == []
    assert next(f for f in files if f.name == decomposed).declared == {"sha256": sha256(b"nfd")}


def test_unreadable_file_is_reported_and_the_rest_checked(tmp_path, folder):
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode")
    (folder / "video.mp4").chmod(0)
    try:
        files, _ = check_media_folder(folder, write_manifest(tmp_path / "m.csv",
                                                             good_rows(folder)))
    finally:
        (folder / "video.mp4").chmod(0o644)
    assert codes(files[1].findings) == ["media-unreadable"]
    assert files[2].ok and files[2].hashes


def test_names_with_a_colon_are_not_taken_for_drives(tmp_path):
    rows, findings = read_manifest(write_manifest(tmp_path / "m.csv", ["clip 12:30.mp4,u,,,,,,,",
                                                                       "1:2.mp4,u,,,,,,,"]))
    assert findings == [] and [r["file"] for r in rows] == ["clip 12:30.mp4", "1:2.mp4"]


def test_manifest_inside_the_folder_is_not_a_media_file(folder):
    manifest = write_manifest(folder / "manifest.csv", good_rows(folder))
    files, findings = check_media_folder(folder, manifest)
    assert findings == []
    assert [f.kind for f in files] == ["manifest", "media", "media"]


def test_checking_alters_nothing(tmp_path, folder):
    manifest = write_manifest(tmp_path / "m.csv", good_rows(folder))
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.rglob("*") if p.is_file()}
    check_media_folder(folder, manifest)
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.rglob("*") if p.is_file()}
    assert after == before
