"""Importing media folders with a CSV manifest (issue 14): each file stored unaltered in one
package per folder with its manifest row, declared vs computed hashes, and the folder's
findings (missing, unlisted, symlinks)."""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

FORMULA = "=cmd|' /C calc'!A0"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _package(isnad, capture_id: str) -> Path:
    found = list(isnad.home.rglob(f"{capture_id}.wacz"))
    assert found, capture_id
    return found[0]


def make_folder(tmp_path: Path, *, manifest_inside: bool) -> tuple[Path, Path, dict[str, Path]]:
    """A folder of media files and its manifest: one declared hash wrong, a formula cell, an
    unknown column, a row for a missing file, a file not listed, a symlink out of the folder."""
    folder = tmp_path / "videos"
    (folder / "day 2").mkdir(parents=True)
    files = {
        "clip-1.mp4": os.urandom(200_000),
        "day 2/photo.jpg": b"\xff\xd8\xff\xe0" + os.urandom(5_000),
        "statement.pdf": b"%PDF-1.4\n" + os.urandom(3_000),
    }
    paths = {}
    for name, data in files.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    (folder / "unlisted.mov").write_bytes(os.urandom(1000))
    secret = tmp_path / "secret.txt"
    secret.write_text("not handed over")
    (folder / "escape.mp4").symlink_to(secret)
    manifest = (folder / "manifest.csv") if manifest_inside else (tmp_path / "sources.csv")
    with open(manifest, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["file", "url", "captured_at", "sha256", "md5", "title", "notes",
                         "uploader"])
        writer.writerow(["clip-1.mp4", "https://video.example.test/watch?v=1",
                         "2026-11-02T10:00:00Z", sha256(paths["clip-1.mp4"]), "",
                         "Clip one", FORMULA, "@someone"])
        writer.writerow(["day 2/photo.jpg", "https://photos.example.test/p/2",
                         "2026-11-03T09:00:00+02:00", "0" * 64, "", "Photo", "", "x"])
        writer.writerow(["statement.pdf", "", "", "",
                         hashlib.md5(files["statement.pdf"]).hexdigest(), "Statement", "",
                         ""])
        writer.writerow(["gone.mp4", "https://video.example.test/watch?v=3", "", "", "", "",
                         "", ""])
    return folder, manifest, paths


@pytest.mark.e2e
@pytest.mark.parametrize("inside", [False, True], ids=["--manifest", "manifest.csv"])
def test_a_media_folder_is_imported_with_its_manifest(isnad, tmp_path, inside):
    folder, manifest, paths = make_folder(tmp_path, manifest_inside=inside)
    args = ["import", str(folder), "--provider", "Partner NGO", "--operator", "rana", "--json"]
    if not inside:
        args += ["--manifest", str(manifest)]
    run = isnad(*args)
    assert run.code == 1, run.stderr  # PARTIAL: a wrong hash, a missing file, a symlink out
    data = run.json()
    assert data["state"] == "PARTIAL"
    files = {f["name"]: f for f in data["files"]}
    assert "videos/manifest.csv" not in files  # the manifest is not material of its own
    stored = {n: f for n, f in files.items() if f["state"] == "imported"}
    assert set(stored) == {"videos/clip-1.mp4", "videos/day 2/photo.jpg",
                           "videos/statement.pdf", "videos/unlisted.mov"}
    assert files["videos/escape.mp4"]["state"] == "refused"
    assert len({f["capture_id"] for f in stored.values()}) == 1  # one package per folder

    # The wrong hash: a finding naming the file and both hashes; the file is kept.
    photo = stored["videos/day 2/photo.jpg"]
    wrong = [f for f in photo["findings"] if f["code"] == "declared-hash-mismatch"]
    assert len(wrong) == 1 and wrong[0]["file"] == "day 2/photo.jpg"
    assert "0" * 64 in wrong[0]["message"] and sha256(paths["day 2/photo.jpg"]) in \
        wrong[0]["message"]
    assert photo["declared"] == {"sha256": "0" * 64}
    assert stored["videos/statement.pdf"]["hashes"]["md5"] == \
        stored["videos/statement.pdf"]["declared"]["md5"]
    folder_codes = {f["code"] for f in data["findings"]}
    assert {"media-missing", "media-not-listed", "media-symlink-outside",
            "manifest-formula-cell"} <= folder_codes
    assert any("gone.mp4" in f["message"] for f in data["findings"]
               if f["code"] == "media-missing")

    capture_id = photo["capture_id"]
    package = _package(isnad, capture_id)
    with zipfile.ZipFile(package) as z:
        provenance = json.loads(z.read("metadata/provenance.json"))
        originals = {f["name"]: f for f in provenance["files"]
                     if f["role"] == "original" and f["kind"] == "media"}
        for name, path in paths.items():
            entry = originals[f"videos/{name}"]
            kept = z.read(entry["member"])
            assert z.getinfo(entry["member"]).compress_type == zipfile.ZIP_STORED
            assert hashlib.sha256(kept).hexdigest() == sha256(path) == entry["sha256"]
        row = originals["videos/clip-1.mp4"]["metadata"]["manifest_row"]
        # Every column, every cell as written: the formula is text, never evaluated.
        assert row["notes"] == FORMULA and row["uploader"] == "@someone"
        assert row["url"] == "https://video.example.test/watch?v=1"
        kept_manifest = [f for f in provenance["files"] if f.get("kind") == "manifest"][0]
        assert z.read(kept_manifest["member"]) == manifest.read_bytes()
        derived = [f for f in provenance["files"] if f["role"] == "derived"]
        assert derived and all(f["derived_from"] for f in derived)
        assert {f["code"] for f in provenance["folder"]["findings"]} >= {"media-missing"}
        index = gzip.decompress(z.read("indexes/index.cdx.gz")).decode()
        assert "video.example.test" in index and "photos.example.test" in index
    record = isnad("show", capture_id, "--json").json()
    assert record["state"] == "PARTIAL"
    assert any("0" * 64 in r for r in record["reasons"])
    actions = [e["action"] for e in record["custody"]]
    assert actions[0] == "received" and actions[1] == "validated"
    assert actions[-3:] == ["packaged", "stored", "verified"]
    validated = subprocess.run([str(Path(sys.executable).parent / "wacz"), "validate", "-f",
                                str(package)], capture_output=True, text=True, timeout=120)
    assert "is valid" in validated.stdout, validated.stdout + validated.stderr
    verified = isnad("verify", capture_id)
    assert verified.code == 0, verified.stdout + verified.stderr


def test_media_without_a_manifest_is_refused_with_why(isnad, tmp_path):
    folder = tmp_path / "loose"
    folder.mkdir()
    (folder / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    run = isnad("import", str(folder), "--provider", "p", "--json")
    data = run.json()
    assert run.code == 1 and data["state"] == "FAILED"
    (entry,) = data["files"]
    assert entry["state"] == "refused" and "manifest" in entry["findings"][0]["message"]


@pytest.mark.e2e
def test_a_resumed_import_does_not_package_a_media_folder_again(isnad, tmp_path):
    folder, manifest, _ = make_folder(tmp_path, manifest_inside=True)
    first = isnad("import", str(folder), "--provider", "p", "--json").json()
    again = isnad("import", "--resume", first["id"], "--json")
    data = again.json()
    assert data["state"] == "PARTIAL"
    assert {f["capture_id"] for f in data["files"] if f["state"] == "imported"} == {
        f["capture_id"] for f in first["files"] if f["state"] == "imported"}
    # The folder's findings are still the import's, though nothing was read again.
    assert {f["code"] for f in data["findings"]} == {f["code"] for f in first["findings"]}
    assert len(isnad("list", "--source", "import", "--json").json()) == 1
