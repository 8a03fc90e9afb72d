"""S3-compatible object storage (AWS S3, MinIO, Ceph RGW, Backblaze B2, Wasabi) through boto3.

Uploads stream from disk: a single PUT below the multipart threshold, parts above it, each
with its SHA-256 sent as ``ChecksumSHA256``. The upload is then verified by reading back the
object's size and checksum and comparing them with the hashes computed here: a server that
accepts a wrong checksum silently (some do) cannot make a bad copy pass. With
``verify = "readback"`` the whole object is also streamed back and re-hashed.
Objects are written with their Object Lock retention and legal hold when configured.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from archiver.errors import NotFound, StorageError
from archiver.hashing import CHUNK, ThreadedHash, sha256_stream
from archiver.storage.base import LimitedReader, Storage, StorageFinding, StoredObject

MiB = 1024 * 1024
MAX_PARTS = 10_000  # S3's limit on the parts of one multipart upload


@dataclass(frozen=True)
class ObjectLock:
    """Write-once settings applied to every object."""

    mode: str | None = None  # "GOVERNANCE" or "COMPLIANCE"
    retention_days: int = 0
    legal_hold: bool = False

    def put_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {}
        if self.mode and self.retention_days > 0:
            args["ObjectLockMode"] = self.mode
            args["ObjectLockRetainUntilDate"] = datetime.now(UTC) + timedelta(
                days=self.retention_days)
        if self.legal_hold:
            args["ObjectLockLegalHoldStatus"] = "ON"
        return args


class _FileSlice:
    """A read-only window on a file: one multipart part, streamed, never held in memory."""

    def __init__(self, path: Path, offset: int, length: int) -> None:
        self._fh = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._offset, self._length = offset, length
        self._fh.seek(offset)

    def read(self, size: int = -1) -> bytes:
        left = self._offset + self._length - self._fh.tell()
        if left <= 0:
            return b""
        return self._fh.read(left if size < 0 else min(size, left))

    def seek(self, pos: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            target = self._offset + pos
        elif whence == os.SEEK_CUR:
            target = self._fh.tell() + pos
        else:
            target = self._offset + self._length + pos
        self._fh.seek(target)
        return target - self._offset

    def tell(self) -> int:
        return self._fh.tell() - self._offset

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> _FileSlice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self._length


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


class S3Storage(Storage):
    """A bucket (and key prefix) of an S3-compatible store."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        name: str = "s3",
        endpoint_url: str | None = None,
        region: str | None = None,
        lock: ObjectLock | None = None,
        multipart_threshold: int = 16 * MiB,
        part_size: int = 8 * MiB,
        upload_threads: int = 8,
        verify: str = "checksum",
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        max_attempts: int = 3,
    ) -> None:
        self.name = name
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.lock = lock or ObjectLock()
        self.multipart_threshold = multipart_threshold
        self.part_size = max(part_size, 5 * MiB)  # S3's minimum part size
        self.upload_threads = max(1, upload_threads)
        if verify not in ("checksum", "readback"):
            raise StorageError(f"{name}: verify must be 'checksum' or 'readback', not {verify!r}")
        self.verify = verify
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                retries={"max_attempts": max_attempts, "mode": "standard"},
                # Checksums are computed and sent by us, per part; none added behind our back.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    # -- keys -----------------------------------------------------------------------------
    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    # -- writing --------------------------------------------------------------------------
    def put_file(self, key: str, path: Path, sha256: str) -> StoredObject:
        size = path.stat().st_size
        try:
            if size <= self.multipart_threshold:
                expected = self._put_single(key, path, sha256)
            else:
                expected = self._put_multipart(key, path, size, sha256)
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"{self.name}: upload of {key} failed: {_why(exc)}") from exc
        return self._verified(key, sha256, size, expected)

    def put_bytes(self, key: str, data: bytes) -> StoredObject:
        digest = hashlib.sha256(data)
        checksum = _b64(digest.digest())
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data,
                ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum, **self.lock.put_args())
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"{self.name}: upload of {key} failed: {_why(exc)}") from exc
        return self._verified(key, digest.hexdigest(), len(data), checksum)

    def _put_single(self, key: str, path: Path, sha256: str) -> str:
        # Hash the bytes about to be sent: a local copy that no longer matches the catalog's
        # hash is refused here, whether or not the store would check the checksum we send.
        with open(path, "rb") as body:
            sent, _ = sha256_stream(body)
        self._same_as_recorded(key, path, sent, sha256)
        checksum = _b64(bytes.fromhex(sha256))
        with open(path, "rb") as body:
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=body,
                ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum, **self.lock.put_args())
        return checksum

    def _put_multipart(self, key: str, path: Path, size: int, sha256: str) -> str:
        """Upload ``path`` in parts, ``upload_threads`` at a time; return the composite checksum.

        This thread reads the file once, in order, hashing each part (its checksum is sent
        with it) and the whole (compared with ``sha256`` before the upload is completed);
        worker threads stream the parts from disk. Nothing is held in memory but buffers.
        """
        full_key = self._key(key)
        upload = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=full_key, ChecksumAlgorithm="SHA256",
            Metadata={"sha256": sha256}, **self.lock.put_args())
        upload_id = upload["UploadId"]
        # S3 allows 10,000 parts: a very large file gets larger parts than configured.
        part_size = max(self.part_size, -(-size // MAX_PARTS))
        # Of the bytes read for sending, part after part; in a worker thread, beside each
        # part's own digest of the same bytes (two cores, one read).
        whole = ThreadedHash(hashlib.sha256())
        part_digests: list[bytes] = []
        pending: dict[Future[dict[str, Any]], int] = {}
        parts: list[dict[str, Any]] = []

        def send(number: int, offset: int, length: int, checksum: str) -> dict[str, Any]:
            with _FileSlice(path, offset, length) as part:
                answer = self.client.upload_part(
                    Bucket=self.bucket, Key=full_key, UploadId=upload_id, PartNumber=number,
                    Body=part, ContentLength=length, ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=checksum)
            return {"PartNumber": number, "ETag": answer["ETag"], "ChecksumSHA256": checksum}

        pool = ThreadPoolExecutor(self.upload_threads, thread_name_prefix=f"s3-{self.name}")
        try:
            with open(path, "rb") as source:
                for number, offset in enumerate(range(0, size, part_size), start=1):
                    length = min(part_size, size - offset)
                    digest = hashlib.sha256()
                    left = length
                    while left and (chunk := source.read(min(CHUNK, left))):
                        digest.update(chunk)
                        whole.update(chunk)
                        left -= len(chunk)
                    part_digests.append(digest.digest())
                    # Bounded: at most twice as many parts queued as there are senders.
                    while len(pending) >= 2 * self.upload_threads:
                        parts.append(self._first_done(pending))
                    pending[pool.submit(send, number, offset, length,
                                        _b64(digest.digest()))] = number
            while pending:
                parts.append(self._first_done(pending))
            self._same_as_recorded(key, path, whole.hexdigest(), sha256)
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=full_key, UploadId=upload_id,
                MultipartUpload={"Parts": sorted(parts, key=lambda p: p["PartNumber"])})
        except BaseException:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=True)
            try:
                self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=full_key, UploadId=upload_id)
            except (BotoCoreError, ClientError):
                pass  # the server is unreachable; its lifecycle rules clean incomplete uploads
            raise
        finally:
            pool.shutdown(wait=True)
        # S3 reports a multipart object's SHA-256 as the checksum of its parts' checksums.
        composite = _b64(hashlib.sha256(b"".join(part_digests)).digest())
        return f"{composite}-{len(part_digests)}"

    @staticmethod
    def _first_done(pending: dict[Future[dict[str, Any]], int]) -> dict[str, Any]:
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        future = next(iter(done))
        del pending[future]
        return future.result()  # a failed part raises here and aborts the upload

    def _same_as_recorded(self, key: str, path: Path, sent: str, recorded: str) -> None:
        if sent != recorded:
            raise StorageError(
                f"{self.name}: upload of {key} refused: {path} hashes to {sent}, but "
                f"{recorded} was recorded for it; the local copy does not match the catalog")

    def _verified(self, key: str, sha256: str, size: int, expected_checksum: str
                  ) -> StoredObject:
        """Read back size and checksum; compare with ours. Optionally re-hash the bytes."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key),
                                           ChecksumMode="ENABLED")
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"{self.name}: cannot read back {key}: {_why(exc)}") from exc
        problems = []
        if head.get("ContentLength") != size:
            problems.append(f"size {head.get('ContentLength')}, expected {size}")
        reported = head.get("ChecksumSHA256")
        if reported is None:
            problems.append("the store reports no SHA-256 checksum")
        elif reported.split("-")[0] != expected_checksum.split("-")[0]:
            problems.append(f"checksum {reported}, expected {expected_checksum}")
        if not problems and self.verify == "readback":
            with self.open(key) as body:
                got, got_size = sha256_stream(body)
            if got != sha256 or got_size != size:
                problems.append(f"read back {got} ({got_size} bytes), expected {sha256}")
        if problems:
            raise StorageError(f"{self.name}: stored copy of {key} does not match: "
                               + "; ".join(problems))
        return StoredObject(self.name, key, self.location(key), sha256, size,
                            version=head.get("VersionId"))

    # -- reading --------------------------------------------------------------------------
    def open(self, key: str) -> BinaryIO:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404", "NotFound"):
                raise NotFound(f"{self.name}: no object {key}") from exc
            raise StorageError(f"{self.name}: cannot read {key}: {_why(exc)}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"{self.name}: cannot read {key}: {_why(exc)}") from exc
        return answer["Body"]  # a stream; read in chunks, close when done

    def open_range(self, key: str, start: int, length: int) -> BinaryIO:
        """Only the asked bytes travel: a ranged GET (``Range: bytes=start-end``)."""
        if start < 0 or length < 1:
            raise ValueError(f"invalid byte range: {length} bytes from {start}")
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(key),
                                            Range=f"bytes={start}-{start + length - 1}")
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404", "NotFound"):
                raise NotFound(f"{self.name}: no object {key}") from exc
            raise StorageError(f"{self.name}: cannot read {key}: {_why(exc)}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"{self.name}: cannot read {key}: {_why(exc)}") from exc
        end = start + length - 1
        if not str(answer.get("ContentRange", "")).startswith(f"bytes {start}-{end}/"):
            # A store that ignored the range sends other bytes than those asked: never pass
            # them on as if they were.
            answer["Body"].close()
            raise StorageError(f"{self.name}: {key}: asked bytes {start}-{end}, the store "
                               f"answered {answer.get('ContentRange') or 'the whole object'}")
        return LimitedReader(answer["Body"], length)  # type: ignore[return-value]

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError as exc:
            if _code(exc) in ("NoSuchKey", "404", "NotFound"):
                return False
            raise StorageError(f"{self.name}: cannot reach {key}: {_why(exc)}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"{self.name}: cannot reach {key}: {_why(exc)}") from exc

    def list(self, prefix: str = "") -> Iterator[str]:
        base = self._key("")
        full_prefix = self._key(prefix) if prefix else base
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full_prefix)
            keys = [obj["Key"][len(base):] for page in pages for obj in page.get("Contents", [])]
        except (BotoCoreError, ClientError) as exc:
            raise StorageError(f"{self.name}: cannot list {prefix!r}: {_why(exc)}") from exc
        yield from sorted(keys)

    # -- the bucket's own protection --------------------------------------------------------
    def check(self) -> list[StorageFinding]:
        findings: list[StorageFinding] = []
        try:
            versioning = self.client.get_bucket_versioning(Bucket=self.bucket).get("Status")
        except (BotoCoreError, ClientError) as exc:
            return [StorageFinding("error", f"cannot read bucket {self.bucket}: {_why(exc)}")]
        findings.append(StorageFinding(
            "ok" if versioning == "Enabled" else "warning",
            f"versioning: {versioning or 'never enabled'}"
            + ("" if versioning == "Enabled" else
               " — an overwrite or delete would lose the evidence")))
        try:
            lock = self.client.get_object_lock_configuration(Bucket=self.bucket)[
                "ObjectLockConfiguration"]
        except ClientError as exc:
            lock = {}
            if _code(exc) not in ("ObjectLockConfigurationNotFoundError",):
                findings.append(StorageFinding("error", f"object lock: {_why(exc)}"))
        enabled = lock.get("ObjectLockEnabled") == "Enabled"
        default = lock.get("Rule", {}).get("DefaultRetention")
        findings.append(StorageFinding(
            "ok" if enabled else "warning",
            "object lock: " + ("enabled" if enabled else "not enabled on this bucket")
            + (f", default retention {default}" if default else ", no default retention")))
        configured = self.lock
        if configured.mode and configured.retention_days > 0:
            findings.append(StorageFinding(
                "ok" if enabled else "error",
                f"Isnad writes every object with {configured.mode} retention for "
                f"{configured.retention_days} days"
                + ("" if enabled else ", but the bucket has no object lock: writes will fail")))
        elif configured.legal_hold:
            findings.append(StorageFinding("ok" if enabled else "error",
                                           "Isnad puts a legal hold on every object"))
        elif not default:
            findings.append(StorageFinding(
                "warning", "no retention configured in Isnad nor as the bucket's default: "
                "evidence in this bucket can be deleted"))
        if configured.mode == "GOVERNANCE":
            findings.append(StorageFinding(
                "warning", "GOVERNANCE mode: users with s3:BypassGovernanceRetention can "
                "still delete; use COMPLIANCE for evidence nobody may remove"))
        return findings


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _why(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', '?')}: {error.get('Message', '')}".strip()
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
