"""Short-lived signed links for streaming and downloading recordings.

A link names its holder (user), what it opens (one file of one recording, the archive of a
recording, or a finished composite job) and expires after ``LINK_TTL_S``. It is signed with the
app's TokenSigner under its own kind, so a join link or terminal token can never pass for one.
When used, the holder's access is checked again (deactivated user, moved case, deleted
recording: refused).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from server.security.tokens import TokenError, TokenSigner

LINK_KIND = "recdl"
LINK_TTL_S = 600
DOWNLOAD_PREFIX = "/api/recordings/download/"

Target = Literal["file", "archive", "composite"]


@dataclass(frozen=True)
class Link:
    user_id: str
    target: Target
    recording_id: str
    file: str
    job_id: str
    attachment: bool
    expires_at: float

    @property
    def expires_dt(self) -> datetime:
        return datetime.fromtimestamp(self.expires_at, UTC)


def sign_link(
    signer: TokenSigner,
    *,
    user_id: str,
    target: Target,
    recording_id: str = "",
    file: str = "",
    job_id: str = "",
    attachment: bool = False,
    ttl_s: float = LINK_TTL_S,
) -> tuple[str, Link]:
    expires = int(time.time() + ttl_s)
    payload = {"u": user_id, "t": target, "r": recording_id, "f": file, "j": job_id,
               "a": int(attachment)}
    token = signer.sign(LINK_KIND, payload, expires)
    link = Link(user_id, target, recording_id, file, job_id, attachment, float(expires))
    return token, link


def url_of(token: str) -> str:
    return DOWNLOAD_PREFIX + token


def verify_link(signer: TokenSigner, token: str, now: float | None = None) -> Link:
    """Raises TokenError (malformed, bad_signature, expired)."""
    payload = signer.verify(LINK_KIND, token, now)
    target = payload.get("t")
    if target not in ("file", "archive", "composite") or not isinstance(payload.get("u"), str):
        raise TokenError("malformed", "链接格式无效 / malformed link")
    return Link(
        user_id=str(payload["u"]),
        target=target,
        recording_id=str(payload.get("r", "")),
        file=str(payload.get("f", "")),
        job_id=str(payload.get("j", "")),
        attachment=bool(payload.get("a")),
        expires_at=float(payload["exp"]),
    )
