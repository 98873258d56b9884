"""Route of the transfer-to-litigation package: a ZIP of a failed mediation's intake record,
sessions and attachments (with a SHA-256 manifest), handed over when the dispute goes to court."""

from __future__ import annotations

import io
import json
import zipfile

from aiohttp import web
from sqlalchemy import select

from server import audit
from server.court_network.files import stored_path
from server.court_network.models import IntakeStatus
from server.court_network.routes.access import TAG, WRITERS, intake_detail, load_intake
from server.court_network.routes.attachments import ATTACHMENT_KIND
from server.http.errors import conflict
from server.http.framework import Api, Ctx
from server.models import MediationSession

api = Api()


@api.route(
    "GET",
    "/api/network/intakes/{intake_id}/transfer-package",
    summary="Transfer-to-litigation package (ZIP) of a failed mediation",
    tag=TAG,
    roles=WRITERS,
    raw_response="application/zip",
)
async def transfer_package(ctx: Ctx) -> web.Response:
    intake = await load_intake(ctx, ctx.match("intake_id"))
    if intake.status != IntakeStatus.failed:
        raise conflict("只有调解不成的案件可以转诉讼 / only failed mediations are transferred")
    detail = await intake_detail(ctx, intake)
    sessions = await ctx.db.scalars(
        select(MediationSession)
        .where(MediationSession.case_id == intake.case_id)
        .order_by(MediationSession.scheduled_at)
    )
    record = detail.model_dump(mode="json")
    record["sessions"] = [
        {
            "id": s.id,
            "scheduled_at": s.scheduled_at.isoformat(),
            "status": s.status.value,
            "outcome": s.outcome.value if s.outcome else None,
            "outcome_note": s.outcome_note,
            "ended_at": s.ended_at.isoformat() if s.ended_at else None,
        }
        for s in sessions
    ]
    buf = io.BytesIO()
    manifest: dict[str, str] = {}
    import hashlib

    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        data = json.dumps(record, ensure_ascii=False, indent=2).encode()
        zf.writestr("intake.json", data)
        manifest["intake.json"] = hashlib.sha256(data).hexdigest()
        for i, att in enumerate(detail.attachments, 1):
            name = f"attachments/{i:02d}-{att.filename}"
            path = stored_path(ctx.state.settings.data_dir, ATTACHMENT_KIND, att.sha256)
            zf.write(path, name)
            manifest[name] = att.sha256
        zf.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="intake.transfer_package",
        court_id=intake.court_id,
        target=intake.id,
        ip=ctx.ip,
    )
    return web.Response(
        body=buf.getvalue(),
        content_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{intake.number}-transfer.zip"'},
    )
