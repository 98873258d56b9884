"""Routes of the import of intakes (CSV or XLSX, also past years' closed intakes, with a
preview) and of mediators (CSV: accounts and profiles). Every row is checked first; the import
writes all rows or none."""

from __future__ import annotations

from typing import Any

from aiohttp import BodyPartReader
from pydantic import ValidationError
from sqlalchemy import select

from server import audit
from server.court_network import importer, service
from server.court_network.files import MULTIPART_SLACK, too_large
from server.court_network.import_formats import Table, read_table
from server.court_network.models import (
    IntakeChannel,
    IntakeTransition,
    MediatorProfile,
    MediatorSharedCourt,
)
from server.court_network.routes.access import TAG, court_of
from server.court_network.schemas import (
    ImportColumnOut,
    ImportFieldOut,
    ImportPreviewOut,
    ImportQuery,
    ImportResultOut,
    ImportRowErrorOut,
    ImportRowOut,
)
from server.http.errors import ApiError, bad_request
from server.http.framework import Api, Ctx
from server.models import CaseType, User, UserRole
from server.security.passwords import hash_password

api = Api()


IMPORT_ROLES = (UserRole.admin, UserRole.clerk)
# A multipart upload (XLSX, or a large CSV); a raw body stays within the app's 1 MiB limit.
IMPORT_MAX_BYTES = 10 * 1024 * 1024
_SMALL_FIELD = 64 * 1024


async def _read_import(ctx: Ctx, query: ImportQuery) -> tuple[Table, dict[str, str | None]]:
    """The file and its options: a multipart form (`file`, optional `mapping`, `sheet`) or a
    raw CSV/XLSX body with `mapping`/`sheet` in the query."""
    mapping_text, sheet = query.mapping, query.sheet
    request = ctx.request
    # The body may be slow: no pooled connection waits on the client meanwhile.
    await ctx.db.commit()
    if request.content_type.startswith("multipart/"):
        if (
            request.content_length is not None
            and request.content_length > IMPORT_MAX_BYTES + MULTIPART_SLACK
        ):
            raise too_large(IMPORT_MAX_BYTES)
        raw: bytes | None = None
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            limit = IMPORT_MAX_BYTES if part.name == "file" else _SMALL_FIELD
            data = bytearray()
            while chunk := await part.read_chunk(64 * 1024):
                data += chunk
                if len(data) > limit:
                    raise too_large(limit)
            if part.name == "file":
                raw = bytes(data)
            elif part.name in ("mapping", "sheet"):
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise bad_request(f"{part.name} must be UTF-8") from exc
                if part.name == "mapping":
                    mapping_text = text
                else:
                    sheet = text.strip()
        if raw is None:
            raise bad_request("缺少文件 / multipart field 'file' missing", code="file_missing")
    else:
        raw = await request.read()
    mapping = importer.parse_mapping(mapping_text)
    return read_table(raw, sheet or None), mapping


def _samples(table: Table, index: int, n: int = 3) -> list[str]:
    out: list[str] = []
    for _, cells in table.rows:
        if index < len(cells) and (text := importer.cell_text(cells[index])):
            out.append(text[:100])
            if len(out) >= n:
                break
    return out


def _preview(checked: importer.Checked) -> ImportPreviewOut:
    table, plan = checked.table, checked.plan
    rows = []
    for p in checked.rows[: importer.PREVIEW_ROWS]:
        r = p.row
        rows.append(
            ImportRowOut(
                row=p.line,
                ok=p.ok,
                number=r.number or None,
                case_type=r.case_type,
                applicant_name=r.applicant_name,
                applicant_phone=r.applicant_phone,
                respondent_name=r.respondent_name,
                respondent_phone=r.respondent_phone,
                claim=r.claim,
                facts=r.facts,
                shared_court_id=p.shared_court.id if p.shared_court else None,
                shared_court=p.shared_court.name if p.shared_court else None,
                area_id=p.area.id if p.area else None,
                area=p.area.name if p.area else None,
                received_at=p.received_at,
                closed_at=p.closed_at,
                status=r.outcome or "received",
            )
        )
    return ImportPreviewOut(
        format="xlsx" if table.format == "xlsx" else "csv",
        encoding=table.encoding,
        sheet=table.sheet,
        sheets=table.sheets,
        total_rows=len(table.rows),
        valid=checked.valid,
        columns=[
            ImportColumnOut(
                index=c.index + 1,
                header=c.header,
                field=c.field,
                source=c.source,  # type: ignore[arg-type]
                samples=_samples(table, c.index),
            )
            for c in plan.columns
        ],
        mapping=plan.mapping,
        ignored_columns=plan.ignored,
        missing_fields=plan.missing,
        fields=[
            ImportFieldOut(key=f.key, label=f.label, required=f.required)
            for f in importer.CASE_FIELDS
        ],
        rows=rows,
        errors=[ImportRowErrorOut.model_validate(e) for e in checked.errors],
    )


@api.route(
    "POST",
    "/api/network/import/cases/preview",
    summary="Preview an intake import (dry run): detected columns, mapping, first rows, all "
    "row errors; writes nothing. Body as for the import",
    tag=TAG,
    roles=IMPORT_ROLES,
    query=ImportQuery,
    response=ImportPreviewOut,
    scope="import:write",
)
async def preview_import_cases(ctx: Ctx, query: ImportQuery) -> ImportPreviewOut:
    court_id = court_of(ctx)
    table, mapping = await _read_import(ctx, query)
    checked = await importer.check_cases(ctx.db, court_id, table, mapping)
    out = _preview(checked)
    await ctx.db.rollback()  # read only (after the rows are read: rollback expires them)
    return out


@api.route(
    "POST",
    "/api/network/import/cases",
    summary="Import intakes, also closed past ones (CSV — UTF-8 or GBK — or XLSX; raw body or "
    "multipart 'file' ≤ 10 MiB, optional 'mapping' and 'sheet'); all rows or none",
    tag=TAG,
    roles=IMPORT_ROLES,
    query=ImportQuery,
    response=ImportResultOut,
    status=201,
    scope="import:write",
)
async def import_cases(ctx: Ctx, query: ImportQuery) -> ImportResultOut:
    court_id = court_of(ctx)
    table, mapping = await _read_import(ctx, query)
    checked = await importer.check_cases(ctx.db, court_id, table, mapping)
    if checked.plan.missing or checked.plan.errors:
        missing = ", ".join(checked.plan.missing)
        raise ApiError(
            400,
            "invalid_csv" if table.format == "csv" else "invalid_xlsx",
            ("缺少列 / missing columns: " + missing) if missing else "列有误 / column errors",
            checked.errors,
        )
    if not table.rows:
        raise ApiError(400, "invalid_csv", "没有数据行 / no data rows")
    if checked.errors:
        raise importer.fail(checked.errors, importer.failure_message(checked))
    ids = []
    for p in checked.rows:
        row = p.row
        intake = await service.create_intake(
            ctx.db,
            ctx.state,
            court_id=court_id,
            data=service.IntakeData(
                case_type=row.case_type,
                applicant_name=row.applicant_name,
                applicant_phone=row.applicant_phone,
                respondent_name=row.respondent_name,
                respondent_phone=row.respondent_phone,
                claim=row.claim,
                facts=row.facts,
            ),
            channel=IntakeChannel.imported,
            actor=ctx.actor,
            shared_court=p.shared_court,
            area_id=p.area.id if p.area else None,
            number=row.number or None,
            received_at=p.received_at,
            ip=ctx.ip,
            notify=False,
            historical=True,  # never matched, assigned or announced
        )
        if row.outcome is not None and p.closed_at is not None:
            # A closed past intake: received → its outcome at the closing date, the record
            # statistics are computed from. Written directly: the live flow's rules (assigned
            # first) describe how intakes move now, not what an archive holds.
            ctx.db.add(
                IntakeTransition(
                    intake_id=intake.id,
                    from_status=intake.status.value,
                    to_status=row.outcome.value,
                    at=p.closed_at,
                    actor=ctx.actor,
                    note="imported",
                )
            )
            audit.record(
                ctx.db,
                actor=ctx.actor,
                action="intake.transition",
                court_id=court_id,
                target=intake.id,
                ip=ctx.ip,
                before=intake.status.value,
                after=row.outcome.value,
                note="imported",
            )
            intake.status = row.outcome
            intake.closed_at = p.closed_at
        ids.append(intake.id)
    await ctx.db.flush()
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="network.import.cases",
        court_id=court_id,
        ip=ctx.ip,
        count=len(ids),
        format=table.format,
    )
    service.runtime(ctx.state).dispatcher.wake()
    return ImportResultOut(
        imported=len(ids),
        ids=ids,
        ignored_columns=checked.plan.ignored,
        mapping=checked.plan.mapping,
    )


@api.route(
    "POST",
    "/api/network/import/mediators",
    summary="Import mediators from CSV (creates accounts or updates profiles); all or none",
    tag=TAG,
    roles=IMPORT_ROLES,
    response=ImportResultOut,
    status=201,
    scope="import:write",
)
async def import_mediators(ctx: Ctx) -> ImportResultOut:
    court_id = court_of(ctx)
    parsed = importer.parse_csv(await ctx.request.read(), importer.MEDIATOR_COLUMNS)
    courts = await importer.shared_courts_by_name(ctx.db, court_id)
    errors: list[dict[str, Any]] = []
    valid: list[tuple[importer.MediatorRow, User | None]] = []
    seen: dict[str, int] = {}
    for line, raw in parsed:
        try:
            row = importer.MediatorRow.model_validate(raw)
        except ValidationError as exc:
            errors += importer.row_errors(line, exc)
            continue
        unknown = [n for n in row.shared_courts if n not in courts]
        if unknown:
            errors.append(
                {
                    "field": f"row {line}.shared_courts",
                    "type": "unknown",
                    "message": "未知的共享法庭 / unknown shared courts: " + ", ".join(unknown),
                }
            )
        if row.username in seen:
            errors.append(
                {
                    "field": f"row {line}.username",
                    "type": "duplicate",
                    "message": f"与第 {seen[row.username]} 行重复 / duplicate of row "
                    f"{seen[row.username]}",
                }
            )
        seen.setdefault(row.username, line)
        user = await ctx.db.scalar(select(User).where(User.username == row.username))
        if user is not None and (user.court_id != court_id or user.role != row.role):
            errors.append(
                {
                    "field": f"row {line}.username",
                    "type": "conflict",
                    "message": "用户名已被其他账号使用 / username belongs to another "
                    "account or role",
                }
            )
        valid.append((row, user))
    if errors:
        raise importer.fail(errors)
    ids = []
    for row, user in valid:
        if user is None:
            # New accounts cannot log in until an administrator sets a password.
            user = User(
                court_id=court_id,
                username=row.username,
                display_name=row.display_name,
                role=row.role,
                password_hash=hash_password(importer.random_password()),
            )
            ctx.db.add(user)
            await ctx.db.flush()
        profile = await ctx.db.get(MediatorProfile, user.id)
        if profile is None:
            profile = MediatorProfile(user_id=user.id, court_id=court_id, kind=row.kind)
            ctx.db.add(profile)
        profile.kind = row.kind
        profile.specialties = sorted({CaseType(s).value for s in row.specialties})
        profile.available = row.available
        profile.max_open = row.max_open
        for link in await ctx.db.scalars(
            select(MediatorSharedCourt).where(MediatorSharedCourt.user_id == user.id)
        ):
            await ctx.db.delete(link)
        await ctx.db.flush()
        for name in dict.fromkeys(row.shared_courts):
            ctx.db.add(MediatorSharedCourt(user_id=user.id, shared_court_id=courts[name].id))
        ids.append(user.id)
    await ctx.db.flush()
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="network.import.mediators",
        court_id=court_id,
        ip=ctx.ip,
        count=len(ids),
    )
    return ImportResultOut(imported=len(ids), ids=ids)
