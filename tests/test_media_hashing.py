"""A downloaded media file's SHA-256, size and CRC-32 are taken once (while downloading, or
right after for a file yt-dlp wrote otherwise: a merge's output, subtitles, the info JSON), so
packaging copies it by the kernel instead of reading it again."""

from __future__ import annotations

import hashlib
import zipfile
import zlib
from pathlib import Path

import pytest

import archiver.package
from archiver.hashing import FileDigest
from archiver.package import build_package
from archiver.proof import ProofOptions
from archiver.verify import verify_package_file
from crawlers.media import GrowingFileHashes, taken_digest


def _download(hashes: GrowingFileHashes, path: Path, data: bytes) -> None:
    """What yt-dlp's progress hook reports for a download written in two parts."""
    temp = path.with_name(path.name + ".part")
    with open(temp, "wb") as fh:
        fh.write(data[:len(data) // 2])
        fh.flush()
        hashes.hook({"status": "downloading", "filename": str(path),
                     "tmpfilename": str(temp), "downloaded_bytes": len(data) // 2})
        fh.write(data[len(data) // 2:])
    hashes.hook({"status": "downloading", "filename": str(path), "tmpfilename": str(temp),
                 "downloaded_bytes": len(data)})
    temp.rename(path)
    hashes.hook({"status": "finished", "filename": str(path)})


def test_a_file_is_hashed_while_downloading_or_once_after(tmp_path: Path) -> None:
    hashes = GrowingFileHashes()
    clip, merged = tmp_path / "clip.mp4", tmp_path / "clip.mkv"
    data = bytes(range(256)) * 40_000
    _download(hashes, clip, data)
    merged.write_bytes(data[::-1])  # written by ffmpeg: yt-dlp's hook never saw it
    hashes.close()
    want = {clip: data, merged: data[::-1]}
    for path, how in ((clip, "while downloading"), (merged, "after downloading")):
        taken, hashed = taken_digest(path, hashes)
        assert hashed == how
        assert taken == FileDigest(hashlib.sha256(want[path]).hexdigest(), len(want[path]),
                                   zlib.crc32(want[path]))


def test_a_media_file_hashed_after_downloading_is_packaged_without_being_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from archiver.warcwriter import CaptureWarc

    warc = CaptureWarc(tmp_path / "c.warc.gz", {"software": "test"})
    warc.write_resource("http://127.0.0.1:9/p", "text/html", b"<p>page</p>")
    warc.close()
    subtitles = tmp_path / "clip.en.vtt"
    subtitles.write_bytes(b"WEBVTT\n\n00:00.000 --> 00:01.000\nsaid\n" * 1000)
    taken, hashed = taken_digest(subtitles, GrowingFileHashes())
    assert hashed == "after downloading"
    copied: list[str] = []
    real = archiver.package._copy_stored

    def spy(wacz, path, name, known):  # noqa: ANN001, ANN202
        done = real(wacz, path, name, known)
        copied.append(name if done else f"{name} read")
        return done

    monkeypatch.setattr(archiver.package, "_copy_stored", spy)
    out = tmp_path / "c.wacz"
    build_package([warc.path], out, pages=[{"url": "http://127.0.0.1:9/p"}],
                  context={"test": 1}, extra_paths=[("media/001-clip.en.vtt", subtitles, taken)],
                  indexes={warc.path: warc.index_path}, known={warc.path: warc.digest},
                  hashed=False)
    # Given to the kernel to copy (read here only where the system cannot copy between files).
    assert copied and copied[-1].startswith("media/001-clip.en.vtt"), copied
    report = verify_package_file(out, ProofOptions(allow_unsigned=True))
    assert report.ok, [c.__dict__ for c in report.mismatches]
    with zipfile.ZipFile(out) as wacz:
        assert wacz.read("media/001-clip.en.vtt") == subtitles.read_bytes()
