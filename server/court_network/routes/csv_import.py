"""Routes of the CSV import of intakes and of mediators (accounts and profiles). Every row is
checked first; the import writes all rows or none."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from server import audit
from server.court_network import importer, service
from server.court_network.models import Intake, IntakeChannel, MediatorProfile, MediatorSharedCourt
from server.court_network.routes.access import TAG, court_of
from server.court_network.schemas import ImportResultOut
from server.http.framework import Api, Ctx
from server.models import CaseType, User, UserRole
from server.security.passwords import hash_password

api = Api()


IMPORT_ROLES = (UserRole.admin, UserRole.clerk)


@api.route(
    "POST",
    "/api/network/import/cases",
    summary="Import intakes from CSV (body: text/csv); all rows or none",
    tag=TAG,
    roles=IMPORT_ROLES,
    response=ImportResultOut,
    status=201,
    scope="import:write",
)
async def import_cases(ctx: Ctx) -> ImportResultOut:
    court_id = court_of(ctx)
    parsed = importer.parse_csv(await ctx.request.read(), importer.CASE_COLUMNS)
    courts = await importer.shared_courts_by_name(ctx.db, court_id)
    errors: list[dict[str, Any]] = []
    valid: list[tuple[int, importer.CaseRow]] = []
    seen: dict[str, int] = {}
    for line, raw in parsed:
        try:
            row = importer.CaseRow.model_validate(raw)
        except ValidationError as exc:
            errors += importer.row_errors(line, exc)
            continue
        if row.shared_court and row.shared_court not in courts:
            errors.append(
                {
                    "field": f"row {line}.shared_court",
                    "type": "unknown",
                    "message": f"未知的共享法庭 / unknown shared court {row.shared_court}",
                }
            )
        if row.number:
            if row.number in seen:
                errors.append(
                    {
                        "field": f"row {line}.number",
                        "type": "duplicate",
                        "message": f"与第 {seen[row.number]} 行重复 / duplicate of row "
                        f"{seen[row.number]}",
                    }
                )
            elif await ctx.db.scalar(select(Intake.id).where(Intake.number == row.number)):
                errors.append(
                    {
                        "field": f"row {line}.number",
                        "type": "exists",
                        "message": "编号已存在 / number already exists",
                    }
                )
            seen.setdefault(row.number, line)
        valid.append((line, row))
    if errors:
        raise importer.fail(errors)
    ids = []
    for _, row in valid:
        shared = courts.get(row.shared_court) if row.shared_court else None
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
            shared_court=shared,
            number=row.number or None,
            received_at=row.received_at,
            ip=ctx.ip,
            notify=False,
        )
        ids.append(intake.id)
    audit.record(
        ctx.db,
        actor=ctx.actor,
        action="network.import.cases",
        court_id=court_id,
        ip=ctx.ip,
        count=len(ids),
    )
    service.runtime(ctx.state).dispatcher.wake()
    return ImportResultOut(imported=len(ids), ids=ids)


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
