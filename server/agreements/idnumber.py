"""Resident identity card numbers (居民身份证号码, GB 11643-1999): checksum, masking and storage.

The plain number is never stored: the database keeps an AES-GCM ciphertext (key derived from the
application secret) for the rare case someone authorised must read it, an HMAC-SHA256 for equality
lookups, and the masked form that every screen shows.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_SHAPE = re.compile(r"^[1-9]\d{16}[0-9X]$")


class InvalidIdNumber(ValueError):
    """Not an 18-digit resident ID number with a correct check character."""


def normalize(raw: str) -> str:
    """Strip spaces and upper-case a trailing x; no validation."""
    return "".join(raw.split()).upper()


def check_character(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def validate(raw: str) -> str:
    """The normalized number, or InvalidIdNumber. A lower-case ``x`` is accepted."""
    number = normalize(raw)
    if not _SHAPE.match(number):
        raise InvalidIdNumber("身份证号码应为18位 / an ID number has 18 characters")
    month, day = int(number[10:12]), int(number[12:14])
    if not (1 <= month <= 12 and 1 <= day <= 31):
        raise InvalidIdNumber("身份证号码中的出生日期无效 / invalid date of birth in the ID number")
    if check_character(number[:17]) != number[17]:
        raise InvalidIdNumber("身份证号码校验位错误 / ID number check character is wrong")
    return number


def is_valid(raw: str) -> bool:
    try:
        validate(raw)
    except InvalidIdNumber:
        return False
    return True


def mask(number: str) -> str:
    """``330106199001011234`` → ``3301**********1234`` (4 shown, 10 hidden, 4 shown)."""
    n = normalize(number)
    return n[:4] + "*" * (len(n) - 8) + n[-4:]


class IdCipher:
    """AES-256-GCM encryption and HMAC lookup keys, both derived (HKDF) from the app secret."""

    def __init__(self, secret: bytes) -> None:
        self._aes = AESGCM(self._derive(secret, b"shared-court/id-number/aes-gcm/v1"))
        self._mac_key = self._derive(secret, b"shared-court/id-number/hmac/v1")

    @staticmethod
    def _derive(secret: bytes, info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)

    def encrypt(self, number: str, context: str) -> str:
        """``v1:`` + base64(nonce ‖ ciphertext); ``context`` (e.g. the participant id) is bound
        as associated data, so a ciphertext copied to another row does not decrypt."""
        nonce = os.urandom(12)
        ct = self._aes.encrypt(nonce, number.encode(), context.encode())
        return "v1:" + base64.b64encode(nonce + ct).decode()

    def decrypt(self, token: str, context: str) -> str:
        if not token.startswith("v1:"):
            raise ValueError("unknown ciphertext version")
        raw = base64.b64decode(token[3:])
        return self._aes.decrypt(raw[:12], raw[12:], context.encode()).decode()

    def lookup_hash(self, number: str) -> str:
        """HMAC-SHA256 of the normalized number: equal numbers, equal hashes; not reversible
        without the secret (a plain SHA-256 of 18 digits with a known structure would be)."""
        return hmac.new(self._mac_key, normalize(number).encode(), hashlib.sha256).hexdigest()
