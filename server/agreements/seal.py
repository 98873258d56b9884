"""Electronic seals (电子印章) on the documents a court files: an image and an Ed25519 signature.

The image alone proves nothing (anyone can draw a red circle); what makes a seal is the signature
by the server's key (the same key that seals the recordings, public at /api/keys/recording.pem)
over a canonical JSON payload naming the signer, their role, the SHA-256 of the exact document
text and the time. ``verify_seal`` checks it with nothing but the public key and the stored dict,
so a judge (or ``openssl pkeyutl -verify -rawin``) can check a seal without this server.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import math
from datetime import UTC, datetime
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SEAL_FORMAT = "shared-court-seal/1"
ALGORITHM = "Ed25519"
ROLE_MEDIATOR = "mediator"
ROLE_COURT = "court"
ROLE_LABELS = {ROLE_MEDIATOR: "调解员", ROLE_COURT: "法院"}


class SigningKey(Protocol):
    """What a seal needs of recording.ServerKey (kept structural so tests can pass any key)."""

    @property
    def fingerprint(self) -> str: ...

    def sign(self, data: bytes) -> bytes: ...


def canonical(payload: dict[str, Any]) -> bytes:
    """The exact bytes that are signed: sorted keys, no spaces, UTF-8 (not ASCII-escaped)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def seal(
    key: SigningKey, *, signer: str, role: str, text_sha256: str, at: datetime
) -> dict[str, Any]:
    """A seal of ``signer`` (in ``role``) over the document whose text hashes to
    ``text_sha256``. Ed25519 is deterministic: the same inputs give the same seal, so a
    re-rendered PDF carries the seal it had."""
    payload = {
        "format": SEAL_FORMAT,
        "signer": signer,
        "role": role,
        "text_sha256": text_sha256,
        "at": at.astimezone(UTC).isoformat(),
    }
    signature = key.sign(canonical(payload))
    return {
        "payload": payload,
        "algorithm": ALGORITHM,
        "signature": base64.b64encode(signature).decode("ascii"),
        "key_fingerprint": key.fingerprint,
    }


def verify_seal(public_key: Ed25519PublicKey, seal_dict: dict[str, Any]) -> bool:
    """True only for an intact seal made with this key; any malformed input is simply False."""
    try:
        payload = seal_dict["payload"]
        if not isinstance(payload, dict) or seal_dict.get("algorithm") != ALGORITHM:
            return False
        signature = base64.b64decode(str(seal_dict["signature"]), validate=True)
        public_key.verify(signature, canonical(payload))
    except (KeyError, TypeError, ValueError, binascii.Error, InvalidSignature):
        return False
    return True


def short_signature(seal_dict: dict[str, Any]) -> str:
    """What the page prints of the signature: enough to compare with the stored seal."""
    try:
        raw = base64.b64decode(str(seal_dict.get("signature", "")))
    except (ValueError, binascii.Error):
        raw = b""
    return raw.hex()[:16]


# --- the image ---------------------------------------------------------------------------------
SEAL_RED = "#c8161d"


def _star(cx: float, cy: float, outer: float) -> str:
    inner = outer * 0.382
    points = []
    for i in range(10):
        r = outer if i % 2 == 0 else inner
        angle = math.radians(-90 + i * 36)
        points.append(f"{cx + r * math.cos(angle):.2f},{cy + r * math.sin(angle):.2f}")
    return " ".join(points)


def seal_svg(name: str, label: str) -> str:
    """A round red seal: ``name`` along the upper arc, a star, ``label`` across the bottom.

    Each character is placed and rotated on its own rather than with <textPath>, which not
    every renderer (WeasyPrint included) lays out reliably."""
    e = html.escape
    chars = list(name.strip()) or [" "]
    # Spread over at most 240° of the upper arc; fewer characters keep their natural spacing.
    span = min(240.0, 26.0 * len(chars))
    step = span / len(chars)
    # Glyphs as wide as the arc between two of them (baseline radius ≈ 34), so none overlap.
    size = max(6.0, min(15.0, 0.9 * math.radians(step) * 38))
    glyphs = []
    for i, ch in enumerate(chars):
        angle = -span / 2 + step * (i + 0.5)
        glyphs.append(
            f'<text x="60" y="26" transform="rotate({angle:.2f} 60 60)" '
            f'font-size="{size:.1f}" text-anchor="middle">{e(ch)}</text>'
        )
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 120 120" width="120" height="120">'
        f'<g fill="{SEAL_RED}" font-family="Noto Serif CJK SC, Noto Sans CJK SC, serif" '
        'font-weight="bold">'
        f'<circle cx="60" cy="60" r="55" fill="none" stroke="{SEAL_RED}" stroke-width="4"/>'
        f'<polygon points="{_star(60, 60, 17)}"/>'
        f"{''.join(glyphs)}"
        f'<text x="60" y="95" font-size="11" text-anchor="middle">{e(label)}</text>'
        "</g></svg>"
    )
