"""Route of the transfer-to-litigation package: a ZIP of a failed mediation, handed over when the
dispute goes to court (docs/network.md, "Transfer-to-litigation package").

Contents: `intake.json` (the intake with transitions, assignments and sessions), `outcome.json`
(the 调解不成 record: each session's outcome, note, times and mediator by name and id),
`records/<session>-调解笔录.pdf|docx` for each session with a transcript, `recordings.json`
(each session's sealed recordings by id and manifest hash and seal, not the media), the
attachments, `package.json` (what is in the package and what is missing, and why), and
`manifest.json` — `{path: SHA-256}` of every other file — signed by `manifest.sig`: the raw
64-byte Ed25519 signature of manifest.json's exact bytes with the deployment's recording key
(the key that seals recordings, published at `GET /api/keys/recording.pem`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select

from recording.layout import SIGNATURE_NAME
from server import audit
from server.court_network.files import stored_path
from server.court_network.models import IntakeStatus
from server.court_network.routes.access import TAG, WRITERS, intake_detail, load_intake
from server.court_network.routes.attachments import ATTACHMENT_KIND
from server.http.errors import conflict
from server.http.framework import Api, Ctx
from server.models import (
    MediationSession,
    Recording,
    RecordingStatus,
    TranscriptSegment,
    User,
)
from server.server_key import server_key
from server.transcripts import record_export

api = Api()

PACKAGE_FORMAT = "shared-court-transfer-package/1"
MANIFEST = "manifest.json"
MANIFEST_SIG = "manifest.sig"


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, indent=2).encode() + b"\n"


async def _names(ctx: Ctx, user_ids: set[str]) -> dict[str, str]:
    if not user_ids:
        return {}
    rows = await ctx.db.execute(select(User.id, User.display_name).where(User.id.in_(user_ids)))
    return {uid: name for uid, name in rows}


def _seal_of(recordings_dir: Path, row: Recording) -> str | None:
    """The recording's seal (manifest.json.sig), base64, when its folder is still there."""
    try:
        return base64.b64encode(
            (recordings_dir / row.folder / SIGNATURE_NAME).read_bytes()
        ).decode()
    except OSError:
        return None


def _render_record(
    data: record_export.RecordData, tmp: Path, fonts: Path, font: Path | None
) -> Path:
    """The 调解笔录 as PDF, or as DOCX where no CJK font is installed for the PDF (blocking)."""
    try:
        return record_export.render(data, "pdf", tmp / "record.pdf", fonts, font)
    except record_export.RecordExportError:
        return record_export.render(data, "docx", tmp / "record.docx", fonts, font)


@api.route(
    "GET",
    "/api/network/intakes/{intake_id}/transfer-package",
    summary="Transfer-to-litigation package (ZIP, signed manifest) of a failed mediation",
    tag=TAG,
    roles=WRITERS,
    raw_response="application/zip",
)
async def transfer_package(ctx: Ctx) -> web.Response:
    intake = await load_intake(ctx, ctx.match("intake_id"))
    if intake.status != IntakeStatus.failed:
        raise conflict("只有调解不成的案件可以转诉讼 / only failed mediations are transferred")
    detail = await intake_detail(ctx, intake)
    settings = ctx.state.settings
    sessions = list(
        await ctx.db.scalars(
            select(MediationSession)
            .where(MediationSession.case_id == intake.case_id)
            .order_by(MediationSession.scheduled_at)
        )
    )
    names = await _names(
        ctx,
        {s.mediator_id for s in sessions} | ({detail.mediator_id} if detail.mediator_id else set()),
    )

    def mediator(user_id: str | None) -> dict[str, str] | None:
        return {"id": user_id, "name": names.get(user_id, "")} if user_id else None

    session_rows = [
        {
            "id": s.id,
            "scheduled_at": _iso(s.scheduled_at),
            "started_at": _iso(s.started_at),
            "ended_at": _iso(s.ended_at),
            "status": s.status.value,
            "outcome": s.outcome.value if s.outcome else None,
            "outcome_label": record_export.OUTCOME_LABELS[s.outcome] if s.outcome else None,
            "outcome_note": s.outcome_note,
            "mediator": mediator(s.mediator_id),
        }
        for s in sessions
    ]
    record = detail.model_dump(mode="json")
    record["mediator"] = mediator(detail.mediator_id)
    record["sessions"] = session_rows
    closing = next(
        (t for t in reversed(detail.transitions) if t.to_status == IntakeStatus.failed), None
    )
    outcome = {
        "title": "调解不成记录",
        "intake_id": intake.id,
        "number": intake.number,
        "case_id": intake.case_id,
        "status": intake.status.value,
        "status_label": detail.status_label,
        "received_at": _iso(detail.received_at),
        "closed_at": _iso(detail.closed_at),
        "closing_transition": closing.model_dump(mode="json") if closing else None,
        "mediator": mediator(detail.mediator_id),
        "sessions": session_rows,
    }

    files: list[tuple[str, bytes | Path]] = [
        ("intake.json", _dump(record)),
        ("outcome.json", _dump(outcome)),
    ]
    records_info: list[dict[str, Any]] = []
    recordings_info: list[dict[str, Any]] = []
    recordings_dir = settings.effective_recordings_dir
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for s in sessions:
            has_transcript = await ctx.db.scalar(
                select(TranscriptSegment.id)
                .where(
                    TranscriptSegment.session_id == s.id,
                    TranscriptSegment.document == record_export.MAIN_DOCUMENT,
                )
                .limit(1)
            )
            if has_transcript is None:
                records_info.append(
                    {"session_id": s.id, "file": None, "note": "无笔录 / no transcript exists"}
                )
            else:
                data = await record_export.load_record(ctx.db, s)
                out_dir = tmp / s.id
                out_dir.mkdir()
                path = await asyncio.to_thread(
                    _render_record, data, out_dir, settings.data_dir / "fonts", settings.record_font
                )
                name = f"records/{s.id}-调解笔录{path.suffix}"
                files.append((name, path.read_bytes()))
                records_info.append(
                    {
                        "session_id": s.id,
                        "file": name,
                        "format": path.suffix.lstrip("."),
                        "record_text_sha256": data.sha256,
                    }
                )
            rows = await ctx.db.scalars(
                select(Recording).where(Recording.session_id == s.id).order_by(Recording.started_at)
            )
            for r in rows:
                sealed = r.status in (RecordingStatus.sealed, RecordingStatus.interrupted)
                recordings_info.append(
                    {
                        "session_id": s.id,
                        "recording_id": r.id,
                        "status": r.status.value,
                        "started_at": _iso(r.started_at),
                        "sealed_at": _iso(r.sealed_at),
                        "manifest_sha256": r.manifest_sha256 or None,
                        "seal_ed25519_base64": _seal_of(recordings_dir, r) if sealed else None,
                        "size_bytes": r.size_bytes,
                    }
                )
        files.append(
            (
                "recordings.json",
                _dump(
                    {
                        "note": "录像不随包附带，凭录像编号与封存清单哈希向法院调取并核验 / "
                        "media not included: request it by recording id and verify its "
                        "sealed manifest hash",
                        "recordings": recordings_info,
                    }
                ),
            )
        )
        for i, att in enumerate(detail.attachments, 1):
            path = stored_path(settings.data_dir, ATTACHMENT_KIND, att.sha256)
            files.append((f"attachments/{i:02d}-{att.filename}", path))

        key = server_key(ctx.state)
        package = {
            "format": PACKAGE_FORMAT,
            "intake_id": intake.id,
            "number": intake.number,
            "generated_at": datetime.now(UTC).isoformat(),
            "generated_by": ctx.actor,
            "mediator": mediator(detail.mediator_id),
            "records": records_info,
            "recordings": len(recordings_info),
            "attachments": len(detail.attachments),
            "signature": {
                "algorithm": "Ed25519",
                "file": MANIFEST_SIG,
                "signs": f"the exact bytes of {MANIFEST}",
                "public_key": "/api/keys/recording.pem",
                "public_key_fingerprint": key.fingerprint,
            },
        }
        files.append(("package.json", _dump(package)))

        manifest: dict[str, str] = {}
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, content in files:
                data_bytes = content if isinstance(content, bytes) else content.read_bytes()
                zf.writestr(name, data_bytes)
                manifest[name] = hashlib.sha256(data_bytes).hexdigest()
            manifest_bytes = _dump(dict(sorted(manifest.items())))
            zf.writestr(MANIFEST, manifest_bytes)
            zf.writestr(MANIFEST_SIG, key.sign(manifest_bytes))
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="intake.transfer_package",
        court_id=intake.court_id,
        target=intake.id,
        ip=ctx.ip,
        manifest_sha256=hashlib.sha256(manifest_bytes).hexdigest(),
        files=len(manifest),
    )
    return web.Response(
        body=buf.getvalue(),
        content_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{intake.number}-transfer.zip"'},
    )
