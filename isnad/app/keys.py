"""The key that signs every package: making it, and showing its public half."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from archiver.errors import IsnadError
from archiver.signing import PUBLIC_KEY_FILE, init_keys, public_fingerprint
from isnad.config import Settings


@dataclass
class NewSigningKey:
    """A key pair just made: where its halves are, its fingerprint, whether it is encrypted."""

    private_key: Path
    public_key: Path
    fingerprint: str
    encrypted: bool


@dataclass
class PublicKey:
    """The public key whoever checks packages needs, and its fingerprint."""

    path: Path
    fingerprint: str
    pem: str


def create_signing_key(settings: Settings, passphrase: str | None = None) -> NewSigningKey:
    """Create the signing key pair in the data folder (private key mode 0600), encrypted with
    ``passphrase`` when one is given; an existing key is never overwritten."""
    key = init_keys(settings.key_dir, passphrase)
    return NewSigningKey(key.path, key.path.with_name(PUBLIC_KEY_FILE), key.fingerprint,
                         bool(passphrase))


def public_key(settings: Settings) -> PublicKey:
    """The public signing key, or an error saying how to make one."""
    fingerprint = public_fingerprint(settings.key_dir)
    if fingerprint is None:
        raise IsnadError(f"no signing key at {settings.key_dir}: run `isnad keys init`")
    path = settings.key_dir / PUBLIC_KEY_FILE
    return PublicKey(path, fingerprint, path.read_text())
