"""Local folder storage: atomic writes (temp file, fsync, rename), verified by re-reading."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from archiver.errors import NotFound, StorageError
from archiver.hashing import sha256_bytes, sha256_file
from archiver.storage.base import Storage, StorageFinding, StoredObject


class LocalFolderStorage(Storage):
    """Packages kept in a folder on this machine."""

    def __init__(self, root: str | Path, name: str = "local") -> None:
        self.root = Path(root).resolve()
        self.name = name
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise StorageError(f"invalid storage key {key!r}")
        return self.root / key

    def put_file(self, key: str, path: Path, sha256: str) -> StoredObject:
        """Copy ``path`` in (by the kernel, without passing the bytes through Python), then
        read the stored copy back once and hash it: that read is the verification."""
        dest = self._path(key)
        with open(path, "rb") as src:
            self._atomic_write(dest, lambda out: _copy(src, out))
        return self._verified(key, dest, sha256)

    def put_bytes(self, key: str, data: bytes) -> StoredObject:
        dest = self._path(key)
        self._atomic_write(dest, lambda out: out.write(data))
        return self._verified(key, dest, sha256_bytes(data))

    def open(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return open(path, "rb")  # noqa: SIM115 - caller closes
        except FileNotFoundError as exc:
            raise NotFound(f"{self.name}: no object {key}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> Iterator[str]:
        base = self.root
        found = []
        for dirpath, _dirs, files in os.walk(base):
            for filename in files:
                if filename.startswith(".tmp-"):
                    continue
                key = Path(dirpath, filename).relative_to(base).as_posix()
                if key.startswith(prefix):
                    found.append(key)
        yield from sorted(found)

    def location(self, key: str) -> str:
        return str(self._path(key))

    def check(self) -> list[StorageFinding]:
        writable = os.access(self.root, os.W_OK)
        return [
            StorageFinding("ok" if writable else "error",
                           f"folder {self.root} {'is' if writable else 'is not'} writable"),
            StorageFinding("warning", "a local folder is not write-once: anyone with access "
                           "to this machine can alter or delete evidence; add an S3 target "
                           "with Object Lock for preservation"),
        ]

    def _atomic_write(self, dest: Path, write) -> None:  # noqa: ANN001 - callable(fileobj)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                write(out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, dest)
            dir_fd = os.open(dest.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _verified(self, key: str, dest: Path, sha256: str) -> StoredObject:
        stored_hash, size = sha256_file(dest)
        if stored_hash != sha256:
            raise StorageError(
                f"{self.name}: stored copy of {key} hashes to {stored_hash}, expected {sha256}"
            )
        return StoredObject(self.name, key, str(dest), stored_hash, size)


def _copy(src: BinaryIO, out: BinaryIO) -> None:
    """Copy ``src`` to ``out`` with copy_file_range (in the kernel; no read into this
    process), or through a buffer where the system cannot (another kind of file system)."""
    out.flush()
    try:
        while os.copy_file_range(src.fileno(), out.fileno(), 64 * 1024 * 1024):
            pass
    except OSError:  # EXDEV, ENOSYS, EINVAL...: the plain way, from where it stopped
        src.seek(os.lseek(src.fileno(), 0, os.SEEK_CUR))
        out.seek(os.lseek(out.fileno(), 0, os.SEEK_CUR))
        shutil.copyfileobj(src, out, 1024 * 1024)

