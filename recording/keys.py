"""The server's Ed25519 sealing key: created on first use, private file readable by owner only."""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .fsutil import fsync_dir

log = logging.getLogger(__name__)

PRIVATE_KEY_NAME = "recording_ed25519.pem"
PUBLIC_KEY_NAME = "recording_ed25519.pub.pem"


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the raw 32-byte public key, hex: short enough to read out over the phone."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """Parse a PEM public key; raises ValueError if it is not Ed25519."""
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def signature_valid(key: Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


class ServerKey:
    """The key that signs every sealed manifest.

    ``ServerKey.load_or_create(keys_dir)`` makes ``recording_ed25519.pem`` (PKCS#8, mode 0600)
    on first use and writes the public half beside it; give ``public_pem()`` to whoever must
    verify recordings independently (e.g. with ``openssl pkeyutl -verify -rawin``).
    """

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        self.public_key = private_key.public_key()

    @classmethod
    def load_or_create(cls, keys_dir: Path) -> ServerKey:
        """The key in ``keys_dir``, generated there on first use."""
        keys_dir.mkdir(parents=True, exist_ok=True)
        path = keys_dir / PRIVATE_KEY_NAME
        if path.exists():
            return cls._load(path)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Written whole under a private name, then linked into place: a second process starting
        # at the same moment either wins the link or loads the complete winner, never half a key.
        tmp = keys_dir / f".{PRIVATE_KEY_NAME}.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return cls._load(path)
        finally:
            tmp.unlink()
        server_key = cls(key)
        (keys_dir / PUBLIC_KEY_NAME).write_bytes(server_key.public_pem())
        fsync_dir(keys_dir)
        log.info("created recording signing key %s", server_key.fingerprint)
        return server_key

    @classmethod
    def _load(cls, path: Path) -> ServerKey:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            # Someone loosened it; a readable private key means anyone could forge seals.
            log.warning("%s had mode %o; restricting to 0600", path, mode)
            os.chmod(path, 0o600)
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
        return cls(key)

    def public_pem(self) -> bytes:
        """The public key, PEM (SubjectPublicKeyInfo)."""
        return public_key_pem(self.public_key)

    def export_public(self, path: Path) -> None:
        path.write_bytes(self.public_pem())

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)

    def sign(self, data: bytes) -> bytes:
        """Raw 64-byte Ed25519 signature."""
        return self._private.sign(data)
