"""The S3 backend on its own, against moto's server over HTTP: streamed multipart uploads,
our own comparison of what the store holds, readback verification, Object Lock arguments.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest

from archiver.errors import StorageError
from archiver.hashing import sha256_file
from archiver.storage import open_storage
from tests.s3server import CREDENTIALS

MiB = 1024 * 1024


@pytest.fixture(autouse=True)
def _aws_credentials(monkeypatch):
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)


def _storage(moto, bucket: str, **options):
    return open_storage(f"s3://{bucket}/vault", name="s3", endpoint_url=moto.url,
                        region="us-east-1", **options)


def _file(tmp_path: Path, size: int) -> tuple[Path, str]:
    path = tmp_path / "package.wacz"
    with open(path, "wb") as out:
        block = os.urandom(MiB)
        for i in range(0, size, MiB):
            out.write(block[: min(MiB, size - i)])
    return path, sha256_file(path)[0]


def test_multipart_upload_is_verified_and_round_trips(tmp_path, moto, bucket):
    storage = _storage(moto, bucket, multipart_threshold=5 * MiB, part_size=5 * MiB)
    path, sha256 = _file(tmp_path, 12 * MiB + 123)  # three parts, the last one short
    stored = storage.put_file("captures/a.wacz", path, sha256)
    assert (stored.sha256, stored.size) == (sha256, 12 * MiB + 123)
    assert stored.location == f"s3://{bucket}/vault/captures/a.wacz" and stored.version
    head = moto.client().head_object(Bucket=bucket, Key="vault/captures/a.wacz",
                                     ChecksumMode="ENABLED")
    # A multipart object's checksum is the SHA-256 of its parts' SHA-256s (with "-3" on AWS).
    data = path.read_bytes()
    parts = b"".join(hashlib.sha256(data[i:i + 5 * MiB]).digest()
                     for i in range(0, len(data), 5 * MiB))
    composite = base64.b64encode(hashlib.sha256(parts).digest()).decode()
    assert head["ChecksumSHA256"].split("-")[0] == composite
    assert head["Metadata"]["sha256"] == sha256
    back = storage.download("captures/a.wacz", tmp_path / "back.wacz")
    assert sha256_file(back)[0] == sha256
    assert list(storage.list("captures/")) == ["captures/a.wacz"]


def test_single_upload_carries_the_object_lock(tmp_path, moto, bucket):
    storage = _storage(moto, bucket, object_lock_mode="GOVERNANCE", retention_days=7,
                       legal_hold=True)
    path, sha256 = _file(tmp_path, 3 * MiB)
    storage.put_file("b.wacz", path, sha256)
    head = moto.client().head_object(Bucket=bucket, Key="vault/b.wacz")
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert head["ObjectLockLegalHoldStatus"] == "ON"
    assert head["ObjectLockRetainUntilDate"]


def test_a_hash_that_does_not_match_the_stored_object_is_an_error(tmp_path, moto, bucket):
    storage = _storage(moto, bucket)
    path, _ = _file(tmp_path, 2 * MiB)
    wrong = hashlib.sha256(b"something else").hexdigest()
    # We send the checksum of what we believe we hold; the store must end up with exactly that.
    with pytest.raises(StorageError, match="upload of c.wacz refused.*does not match"):
        storage.put_file("c.wacz", path, wrong)
    assert not storage.exists("c.wacz")
    # The same for a multipart upload: it is aborted, nothing is left claiming to be c.wacz.
    big = _storage(moto, bucket, multipart_threshold=5 * MiB, part_size=5 * MiB)
    path, _ = _file(tmp_path, 11 * MiB)
    with pytest.raises(StorageError, match="does not match the catalog"):
        big.put_file("c.wacz", path, wrong)
    assert not big.exists("c.wacz")
    uploads = moto.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert uploads == []


def test_readback_catches_a_store_that_reports_a_checksum_it_does_not_hold(
        tmp_path, moto, bucket):
    """moto (like a faulty or dishonest store) accepts a client checksum without checking it.
    Checksum mode trusts the store's report; readback re-hashes the bytes and is not fooled."""
    data = b"the evidence as captured" * 1000
    good = hashlib.sha256(data).digest()
    moto.client().put_object(
        Bucket=bucket, Key="vault/d.bin", Body=b"not the evidence at all" * 1000,
        ChecksumAlgorithm="SHA256", ChecksumSHA256=base64.b64encode(good).decode())
    expected = base64.b64encode(good).decode()
    head = moto.client().head_object(Bucket=bucket, Key="vault/d.bin", ChecksumMode="ENABLED")
    if head.get("ChecksumSHA256") != expected:
        pytest.skip("this moto version checks client checksums: nothing to fool")
    lying_size = head["ContentLength"]
    trusting = _storage(moto, bucket, verify="checksum")
    trusting._verified("d.bin", good.hex(), lying_size, expected)  # fooled, as documented
    reading = _storage(moto, bucket, verify="readback")
    with pytest.raises(StorageError, match="read back"):
        reading._verified("d.bin", good.hex(), lying_size, expected)


def test_unreachable_store_is_a_storage_error_naming_the_target(tmp_path):
    storage = open_storage("s3://nowhere/x", name="offsite", endpoint_url="http://127.0.0.1:9",
                           region="us-east-1", max_attempts=1, connect_timeout=1)
    path, sha256 = _file(tmp_path, MiB)
    with pytest.raises(StorageError, match="offsite: upload of e.wacz failed"):
        storage.put_file("e.wacz", path, sha256)


def test_bad_storage_urls_are_named():
    from archiver.errors import IsnadError

    with pytest.raises(IsnadError, match="names no bucket"):
        open_storage("s3:///prefix")
    with pytest.raises(IsnadError, match="unknown storage URL"):
        open_storage("ftp://host/x")
