"""Identity verification records: declared ID, verification, still image, retention/hard delete.

The still is one decoded keyframe of the party's camera, taken on the server while the mediator
or clerk looks at the private check view. Stills and ID data are personal data: stored under
``<data_dir>/personal/identity/<session>/`` (mode 0700), served only to the session's staff, and
erased by :func:`purge_session` (hard delete: files removed, ciphertext and name blanked; the row
stays as a tombstone so the sealed record's references remain explainable).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.agreements import idnumber
from server.agreements.models import IdentityVerification
from server.models import MediationSession, SessionStatus
from server.rtc.frame import EncodedFrame
from server.rtc.publication import PublishedTrack
from server.state import AppState, StateKey

CIPHER_KEY: StateKey[idnumber.IdCipher] = StateKey("identity_cipher")


def cipher(state: AppState) -> idnumber.IdCipher:
    """The application's ID-number cipher (derived once from the app secret)."""
    c = state.find(CIPHER_KEY)
    if c is None:
        c = state.attach(CIPHER_KEY, idnumber.IdCipher(state.settings.ensure_secret()))
    return c


def personal_dir(state: AppState, session_id: str) -> Path:
    return state.settings.data_dir / "personal" / "identity" / session_id


async def load(db: AsyncSession, session_id: str, pid: str) -> IdentityVerification | None:
    row: IdentityVerification | None = await db.scalar(
        select(IdentityVerification).where(
            IdentityVerification.session_id == session_id,
            IdentityVerification.participant_id == pid,
        )
    )
    return row


async def load_or_new(
    db: AsyncSession, session_id: str, court_id: str, pid: str
) -> IdentityVerification:
    row = await load(db, session_id, pid)
    if row is None:
        row = IdentityVerification(session_id=session_id, court_id=court_id, participant_id=pid)
        db.add(row)
    return row


async def submit(
    state: AppState,
    db: AsyncSession,
    *,
    session_id: str,
    court_id: str,
    pid: str,
    name: str,
    number: str,
    by: str = "",
) -> IdentityVerification:
    """Store a declared name + ID number (validated). A changed number voids a verification."""
    normalized = idnumber.validate(number)
    c = cipher(state)
    row = await load_or_new(db, session_id, court_id, pid)
    digest = c.lookup_hash(normalized)
    if row.id_hmac and row.id_hmac != digest:
        row.verified_at = None
        row.method = None
        row.verified_by = None
        row.verifier_name = ""
    row.declared_name = name
    row.id_cipher = c.encrypt(normalized, f"{session_id}:{pid}")
    row.id_hmac = digest
    row.id_masked = idnumber.mask(normalized)
    row.submitted_at = datetime.now(UTC)
    row.submitted_by = by
    row.purged_at = None
    return row


async def identities_of(db: AsyncSession, session_id: str) -> dict[str, IdentityVerification]:
    rows = await db.scalars(
        select(IdentityVerification).where(IdentityVerification.session_id == session_id)
    )
    return {r.participant_id: r for r in rows}


def reveal(state: AppState, row: IdentityVerification) -> str:
    """The plain number (for an authorised export only; callers audit it)."""
    return cipher(state).decrypt(row.id_cipher, f"{row.session_id}:{row.participant_id}")


# --- stills ---------------------------------------------------------------------------------
class StillError(Exception):
    pass


class _KeyframeGrab:
    """A FrameSink that keeps the first video keyframe it sees."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.future: asyncio.Future[EncodedFrame] = loop.create_future()

    def on_frame(self, frame: EncodedFrame) -> None:
        if frame.keyframe and not self.future.done():
            self.future.set_result(frame)

    def on_end(self) -> None:
        if not self.future.done():
            self.future.set_exception(StillError("track ended"))


async def grab_keyframe(track: PublishedTrack, timeout_s: float = 5.0) -> EncodedFrame:
    grab = _KeyframeGrab(asyncio.get_running_loop())
    track.add_sink(grab)  # asks the publisher for a keyframe
    try:
        return await asyncio.wait_for(grab.future, timeout_s)
    except TimeoutError as exc:
        raise StillError("no keyframe from the party's camera") from exc
    finally:
        track.remove_sink(grab)


def decode_to_jpeg(frame: EncodedFrame) -> bytes:
    """Decode one keyframe (VP8 or H.264) with PyAV and encode it as JPEG. Blocking."""
    import av

    names = {"video/vp8": "vp8", "video/h264": "h264"}
    name = names.get(frame.codec.lower())
    if name is None:
        raise StillError(f"cannot decode {frame.codec}")
    ctx = av.CodecContext.create(name, "r")
    frames = list(ctx.decode(av.Packet(frame.data)))  # type: ignore[attr-defined]
    if not frames:
        frames = list(ctx.decode(None))  # type: ignore[attr-defined]
    if not frames:
        raise StillError("keyframe did not decode")
    image = frames[0].to_image()
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


async def capture_still(track: PublishedTrack) -> bytes:
    """One keyframe of the track, decoded on the server, as JPEG bytes."""
    frame = await grab_keyframe(track)
    return await asyncio.to_thread(decode_to_jpeg, frame)


async def store_still(
    state: AppState, row: IdentityVerification, jpeg: bytes
) -> IdentityVerification:
    now = datetime.now(UTC)
    path = personal_dir(state, row.session_id) / f"{row.participant_id}-{int(now.timestamp())}.jpg"
    await asyncio.to_thread(_write_private, path, jpeg)
    old = row.still_path
    row.still_path = str(path.relative_to(state.settings.data_dir))
    row.still_sha256 = hashlib.sha256(jpeg).hexdigest()
    row.still_taken_at = now
    if old and old != row.still_path:
        (state.settings.data_dir / old).unlink(missing_ok=True)
    return row


def still_file(state: AppState, row: IdentityVerification) -> Path | None:
    if not row.still_path:
        return None
    path = state.settings.data_dir / row.still_path
    return path if path.is_file() else None


# --- retention and hard delete --------------------------------------------------------------
@dataclass
class PurgeResult:
    rows: int
    files: int


async def purge_session(state: AppState, db: AsyncSession, session_id: str) -> PurgeResult:
    """Hard delete of one session's identity data: stills removed, ciphertext and names blanked.

    The masked number and the verification facts (who, when, method, still hash) stay: they are
    part of the sealed record and reveal nothing more than the signed agreement does.
    """
    rows = list(
        await db.scalars(
            select(IdentityVerification).where(IdentityVerification.session_id == session_id)
        )
    )
    files = 0
    for row in rows:
        if still_file(state, row) is not None:
            files += 1
        row.id_cipher = ""
        row.id_hmac = ""
        row.declared_name = ""
        row.still_path = ""
        row.purged_at = datetime.now(UTC)
    folder = personal_dir(state, session_id)
    if folder.exists():
        await asyncio.to_thread(shutil.rmtree, folder, True)
    return PurgeResult(len(rows), files)


async def purge_expired(state: AppState, db: AsyncSession, days: int) -> list[str]:
    """Purge identity data of sessions that ended more than ``days`` ago; returns their ids."""
    cutoff = datetime.now(UTC) - timedelta(days=days)
    ids = list(
        await db.scalars(
            select(MediationSession.id).where(
                MediationSession.status.in_((SessionStatus.ended, SessionStatus.cancelled)),
                MediationSession.ended_at.is_not(None),
                MediationSession.ended_at < cutoff,
            )
        )
    )
    done = []
    for sid in ids:
        pending = await db.scalar(
            select(IdentityVerification.id).where(
                IdentityVerification.session_id == sid, IdentityVerification.purged_at.is_(None)
            )
        )
        if pending is not None:
            await purge_session(state, db, sid)
            done.append(sid)
    return done
