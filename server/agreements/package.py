"""The judicial-confirmation (司法确认) package: everything a confirming judge needs, verifiable
offline with nothing but ``shared-court verify`` and the court's public key.

Layout of the zip (its root is itself a sealed folder, signed with the server's key)::

    README.txt                   how to verify; what is left out and why (Chinese first)
    调解协议书.pdf               the effective agreement (byte for byte the sealed PDF)
    调解笔录.pdf / 调解笔录.txt  the mediation record; the .txt is the exact text parties
                                 reviewed (its SHA-256 is what each review names)
    record-reviews.json          every review of the record (confirmations and objections)
    identities.json              every party, organisations with the person who signed
    seals.json                   the agreement's electronic seals (payload + Ed25519 signature)
    identity-verifications.json  the masked verification record, as sealed in the recording
    server-public-key.pem        the key that signs every manifest here
    sealed-record/ …             each recording segment's sealed folder, complete
    manifest.json(.sig), events.jsonl   the package's own signed manifest

The package is issued only once the session has ended and every recording segment is sealed:
before that the record is not final (parties review it after the end, the agreement PDF is
added to the sealed folder at the end) and a judge must never receive a partial record that
looks complete.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from recording import EventLog, EventType, ServerKey
from recording.layout import MANIFEST_NAME, SIGNATURE_NAME, TRACK_LOG_SUFFIX
from recording.manifest import build_manifest
from server.agreements import documents as docs
from server.agreements.facts import METHOD_LABELS, SessionFacts, session_facts
from server.agreements.models import (
    AgreementDocument,
    AgreementSignature,
    DocStatus,
    IdentityVerification,
)
from server.agreements.output import identity_record, pdf_file, verify_url
from server.models import (
    Case,
    Court,
    MediationSession,
    ParticipantKind,
    Party,
    RecordConfirmation,
    Recording,
    RecordingStatus,
    SessionParticipant,
    SessionStatus,
    as_utc,
)
from server.server_key import server_key
from server.state import AppState
from server.transcripts import record_export
from server.zones import court_zone

log = logging.getLogger(__name__)

PACKAGE_FORMAT = "shared-court/judicial-package"
SEGMENT_DIR = "sealed-record"
# The manifest a redacted copy was cut from, kept beside the copy's own manifest.
SEALED_MANIFEST = "sealed-manifest.json"
# A session just ended: the agreement PDF is being added to its sealed folder (end hook).
SEALING_GRACE = timedelta(minutes=2)
# Packages not collected (a dropped download) are removed after this long.
STALE_PACKAGE_S = 3600
AGREEMENT_NAMES = {"agreement": "调解协议书.pdf", "failure_record": "调解不成记录.pdf"}
PARTY_ROLE_NAMES = {
    "applicant": "申请人",
    "respondent": "被申请人",
    "agent": "代理人",
    "lawyer": "律师",
}


class PackageError(docs.AgreementError):
    """The package cannot be issued (yet); ``status`` is the HTTP status the API answers."""

    def __init__(self, code: str, message: str, status: int = 409) -> None:
        super().__init__(code, message)
        self.status = status


# --- time ---------------------------------------------------------------------------------------
def zone_label(zone: ZoneInfo, at: datetime | None = None) -> str:
    offset = (at or datetime.now(UTC)).astimezone(zone).strftime("%z")
    return f"{zone.key}，UTC{offset[:3]}:{offset[3:]}"


def local_text(at: datetime | None, zone: ZoneInfo, *, seconds: bool = False) -> str:
    """``2026年05月01日 14:30（Asia/Shanghai，UTC+08:00）``: a time as a reader states it."""
    if at is None:
        return ""
    when = as_utc(at).astimezone(zone)
    clock = "%H:%M:%S" if seconds else "%H:%M"
    return when.strftime(f"%Y年%m月%d日 {clock}") + f"（{zone_label(zone, when)}）"


def local_iso(at: datetime | None, zone: ZoneInfo) -> str | None:
    return as_utc(at).astimezone(zone).isoformat(timespec="seconds") if at is not None else None


# --- availability ---------------------------------------------------------------------------
@dataclass(slots=True)
class PackageStatus:
    available: bool
    code: str
    message: str


IN_PROGRESS = PackageStatus(
    False,
    "recording_in_progress",
    "录制进行中，结束调解后封存；封存后方可下载司法确认材料 / recording still in progress: it is "
    "sealed when the session ends, and the judicial package is available then",
)


async def _effective_agreement(db: AsyncSession, session_id: str) -> AgreementDocument | None:
    doc = await docs.get_doc(db, session_id, "agreement")
    return doc if doc is not None and doc.status == DocStatus.effective.value else None


async def _recordings(db: AsyncSession, session_id: str) -> list[Recording]:
    rows = await db.scalars(
        select(Recording).where(Recording.session_id == session_id).order_by(Recording.started_at)
    )
    return list(rows)


def package_status_of(
    session: MediationSession,
    doc: AgreementDocument | None,
    recordings: list[Recording],
    now: datetime | None = None,
) -> PackageStatus:
    """Pure: whether the package can be issued now, and if not the precise reason."""
    if doc is None:
        return PackageStatus(
            False, "not_effective", "调解协议尚未生效 / the agreement is not effective"
        )
    if session.status == SessionStatus.live:
        return IN_PROGRESS
    if any(r.status == RecordingStatus.recording for r in recordings):
        # Ended, yet a segment is open: the server died while recording; start-up recovery
        # seals it (as interrupted).
        return PackageStatus(
            False,
            "recording_unsealed",
            "录制分段尚未封存（服务器重启时自动恢复封存），请稍后再试 / a recording segment is not "
            "sealed yet (start-up recovery seals it); try again later",
        )
    sealed = [
        r for r in recordings if r.status in (RecordingStatus.sealed, RecordingStatus.interrupted)
    ]
    ended = as_utc(session.ended_at) if session.ended_at else None
    if (
        sealed
        and not doc.sealed_folder
        and ended is not None
        and (now or datetime.now(UTC)) - ended < SEALING_GRACE
    ):
        return PackageStatus(
            False,
            "sealing_documents",
            "正在将调解协议封存入录像记录，请稍后再试 / the agreement is being added to the sealed "
            "record; try again in a moment",
        )
    return PackageStatus(True, "available", "可下载 / available")


async def package_status(db: AsyncSession, session: MediationSession) -> PackageStatus:
    doc = await _effective_agreement(db, session.id)
    return package_status_of(session, doc, await _recordings(db, session.id))


# --- contents ----------------------------------------------------------------------------------
@dataclass(slots=True)
class Segment:
    """One recording segment of the session and where (whether) it goes in the package."""

    row: Recording
    source: Path | None
    target: str  # folder name in the package ("" when left out)
    manifest: dict[str, Any] = field(default_factory=dict)
    manifest_sha256: str = ""
    withheld: list[dict[str, Any]] = field(default_factory=list)
    missing_reason: str = ""


def _segment_target(n: int) -> str:
    return SEGMENT_DIR if n == 1 else f"{SEGMENT_DIR}.part{n}"


def _withheld_caucus(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Caucus (背靠背) tracks and their sidecars: confidential, never given to the judge."""
    caucus = {str(f["name"]) for f in manifest.get("files", []) if f.get("caucus")}
    out = []
    for f in manifest.get("files", []):
        name = str(f.get("name"))
        if name in caucus or (
            name.endswith(TRACK_LOG_SUFFIX) and name[: -len(TRACK_LOG_SUFFIX)] in caucus
        ):
            out.append(
                {
                    "name": name,
                    "sha256": f.get("sha256"),
                    "size": f.get("size"),
                    "caucus_group": f.get("caucus_group"),
                    "reason": "背靠背调解录像保密，不提供给司法确认 / caucus recording: confidential",
                }
            )
    return out


def plan_segments(state: AppState, recordings: list[Recording]) -> list[Segment]:
    """Blocking (reads the manifests)."""
    root = state.settings.effective_recordings_dir
    out: list[Segment] = []
    n = 0
    for row in recordings:
        if row.status == RecordingStatus.deleted:
            out.append(Segment(row, None, "", missing_reason="deleted"))
            continue
        folder = root / row.folder
        manifest_path = folder / MANIFEST_NAME
        if not manifest_path.is_file() or not (folder / SIGNATURE_NAME).is_file():
            out.append(Segment(row, None, "", missing_reason="missing"))
            continue
        raw = manifest_path.read_bytes()
        manifest = json.loads(raw)
        n += 1
        out.append(
            Segment(
                row,
                folder,
                _segment_target(n),
                manifest,
                hashlib.sha256(raw).hexdigest(),
                _withheld_caucus(manifest),
            )
        )
    return out


def _link_or_copy(src: Path, dst: Path) -> None:
    # A hard link costs nothing for hour-long tracks; nothing here ever writes to the linked
    # files (every file the package writes is new).
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def copy_segment(seg: Segment, target: Path, key: ServerKey | None) -> None:
    """The segment's sealed folder, complete; a folder with caucus tracks is copied without them
    under a manifest revision the server signs now (the original manifest travels with it)."""
    assert seg.source is not None
    withheld = {w["name"] for w in seg.withheld}
    # Without the key no revision can be signed: the copy keeps the original seal, and verify
    # then names exactly the withheld files as missing (the README lists them).
    redact = bool(withheld) and key is not None
    for path in sorted(seg.source.rglob("*")):
        if not path.is_file():
            continue
        name = path.relative_to(seg.source).as_posix()
        if name in withheld:
            continue
        if redact and name in (MANIFEST_NAME, SIGNATURE_NAME):
            # The original seal, kept (under another name) for comparison.
            _link_or_copy(path, target / name.replace(MANIFEST_NAME, SEALED_MANIFEST))
            continue
        _link_or_copy(path, target / name)
    if not redact:
        return
    assert key is not None
    manifest = build_manifest(
        target,
        key,
        interrupted=bool(seg.manifest.get("interrupted")),
        previous=seg.manifest,
        previous_sha256=seg.manifest_sha256,
    )
    manifest["judicial_package_copy"] = {
        "sealed_manifest": SEALED_MANIFEST,
        "sealed_manifest_sha256": seg.manifest_sha256,
        "withheld": seg.withheld,
    }
    data = json.dumps(manifest, ensure_ascii=False, indent=2).encode() + b"\n"
    (target / MANIFEST_NAME).write_bytes(data)
    (target / SIGNATURE_NAME).write_bytes(key.sign(data))


CAPACITY_LABELS = dict(docs.CAPACITIES)


def _review_json(
    row: RecordConfirmation, names: dict[str, tuple[str, str]], current: str, zone: ZoneInfo
) -> dict[str, Any]:
    name, role = names.get(row.participant_id, ("", ""))
    return {
        "participant_id": row.participant_id,
        "name": name,
        "role": role,
        "decision": "confirmed" if row.confirmed else "objected",
        "decision_label": "确认无误" if row.confirmed else "提出异议",
        "objection": row.objection,
        "record_sha256": row.record_sha256,
        "matches_record_in_package": row.record_sha256 == current,
        "at": local_iso(row.at, zone),
        "at_text": local_text(row.at, zone, seconds=True),
    }


def _identity_json(facts: SessionFacts, pid: str, zone: ZoneInfo) -> dict[str, Any]:
    ident = facts.identity_of(pid)
    return {
        "verified": ident.verified,
        "method": ident.method or None,
        "method_label": METHOD_LABELS.get(ident.method, ident.method) or None,
        "verifier": ident.verifier or None,
        "verified_at": local_iso(ident.verified_at, zone),
        "id_masked": ident.id_masked or None,
        "override_reason": ident.override_reason or None,
        "override_by": ident.override_by or None,
        "override_at": local_iso(ident.override_at, zone),
        "statement": facts.identity_line(pid),
    }


def identities_json(
    *,
    session: MediationSession,
    case: Case | None,
    parties: dict[str, Party],
    participants: list[SessionParticipant],
    facts: SessionFacts,
    declared: dict[str, IdentityVerification],
    signatures: dict[str, AgreementSignature],
    zone: ZoneInfo,
) -> dict[str, Any]:
    """Every party of the case, each as the event log and the signatures state it; an
    organisation with the natural person who signed for it and in what capacity."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for part in participants:
        if part.kind != ParticipantKind.party:
            continue
        party = parties.get(part.party_id or "")
        if party is not None:
            seen.add(party.id)
        pid = part.id
        sig = signatures.get(pid)
        decl = declared.get(pid)
        organisation = bool(party and party.is_organisation)
        entry: dict[str, Any] = {
            "participant_id": pid,
            "name": part.display_name,
            "role": part.role_label,
            "party_role": party.role.value if party else None,
            "organisation": organisation,
            "represents": (
                parties[party.represents_id].name
                if party and party.represents_id and party.represents_id in parties
                else None
            ),
            "took_part": facts.took_part(pid),
            "joined_via": facts.joined_via.get(pid),
            "admitted_at": local_iso(facts.admitted_at.get(pid), zone),
            "declared_name": decl.declared_name if decl and decl.declared_name else None,
            "identity": _identity_json(facts, pid, zone),
            "signature": None,
        }
        if sig is not None:
            entry["signature"] = {
                "signed_at": local_iso(sig.signed_at, zone),
                "version": sig.version,
                "text_sha256": sig.text_sha256,
                "signer_name": sig.signer_name,
                "signature_image_sha256": sig.image_sha256,
            }
        if organisation:
            capacity = sig.signatory_capacity if sig else ""
            entry["signatory"] = {
                "name": (sig.signatory_name if sig else "") or None,
                "capacity": capacity or None,
                "capacity_label": CAPACITY_LABELS.get(capacity, capacity) or None,
                "note": None
                if sig and sig.signatory_name
                else "签署记录未载明代为签署的自然人 / the signature names no natural person",
            }
        out.append(entry)
    for party in sorted(parties.values(), key=lambda p: p.created_at):
        if party.id in seen:
            continue
        out.append(
            {
                "participant_id": None,
                "name": party.name,
                "role": PARTY_ROLE_NAMES.get(party.role.value, party.role.value),
                "party_role": party.role.value,
                "organisation": party.is_organisation,
                "took_part": False,
                "note": "未被列为本次调解的参加人 / not a participant of this session",
            }
        )
    staff = [
        {
            "participant_id": p.id,
            "name": p.display_name,
            "role": p.role_label,
            "took_part": facts.took_part(p.id),
        }
        for p in participants
        if p.kind != ParticipantKind.party
    ]
    return {
        "format": "shared-court/party-identities",
        "version": 1,
        "session": session.id,
        "case_number": case.case_number if case else None,
        "time_zone": zone.key,
        "source": "会话事件日志（审计记录）与签署记录 / the session's event log and the signatures",
        "parties": out,
        "others": staff,
    }


def _segment_lines(segments: list[Segment], zone: ZoneInfo) -> list[str]:
    if not segments:
        return ["  本次调解没有录像（未开始录制）/ no recording exists for this session."]
    lines = []
    for seg in segments:
        row = seg.row
        started = local_text(row.started_at, zone, seconds=True)
        if seg.missing_reason == "deleted":
            lines.append(
                f"  （未包含）原文件夹 {row.folder}：已按保存期限删除"
                f"（{local_text(row.deleted_at, zone)}）/ deleted by the retention policy."
            )
            continue
        if seg.missing_reason:
            lines.append(
                f"  （未包含）原文件夹 {row.folder}：服务器上缺少封存文件 / the sealed folder is "
                "missing on the server."
            )
            continue
        status = (
            "中断后封存 / sealed after an interruption"
            if row.status == RecordingStatus.interrupted
            else "已封存 / sealed"
        )
        lines.append(f"  {seg.target}/ ← 原文件夹 / server folder {row.folder}")
        lines.append(f"      开始 / started: {started}")
        lines.append(
            f"      封存 / sealed: {local_text(row.sealed_at, zone, seconds=True)} · {status}"
        )
        if row.gap_start and row.gap_end:
            lines.append(
                f"      本段续接服务器中断 / resumes after a server outage: "
                f"{local_text(row.gap_start, zone, seconds=True)} — "
                f"{local_text(row.gap_end, zone, seconds=True)}"
            )
        lines.append(f"      封存清单 SHA-256 / sealed manifest: {seg.manifest_sha256}")
        if seg.withheld:
            lines.append(
                f"      未含背靠背录像 {len(seg.withheld)} 个文件；本文件夹的 manifest.json 为出具本材料时"
                f"服务器签署的修订版，原封存清单为 {SEALED_MANIFEST}(.sig) / {len(seg.withheld)} "
                "caucus file(s) left out; manifest.json here is a revision signed when this package "
                f"was issued, the original seal is {SEALED_MANIFEST}(.sig)"
            )
    return lines


def _pdf_in_manifests(segments: list[Segment], pdf_sha: str) -> list[str]:
    found = []
    for seg in segments:
        for f in seg.manifest.get("files", []):
            if f.get("sha256") == pdf_sha:
                found.append(f"{seg.target}/manifest.json → files[].name = {f.get('name')}")
    return found


def _period(session: MediationSession, zone: ZoneInfo) -> str:
    start = session.started_at or session.scheduled_at
    text = local_text(start, zone)
    if session.ended_at is None:
        return text
    begin, end = as_utc(start).astimezone(zone), as_utc(session.ended_at).astimezone(zone)
    if begin.date() == end.date():
        head, _, tail = text.partition("（")
        return f"{head} 至 {end.strftime('%H:%M')}（{tail}"
    return f"{text} 至 {local_text(session.ended_at, zone)}"


def readme_text(
    *,
    court: Court | None,
    case: Case | None,
    session: MediationSession,
    doc: AgreementDocument,
    record_sha: str,
    segments: list[Segment],
    key_fingerprint: str | None,
    verify_link: str,
    reviews: list[dict[str, Any]],
    record_caucus: bool,
    zone: ZoneInfo,
    generated: datetime,
) -> str:
    included = [s for s in segments if s.target]
    withheld = [w for s in included for w in s.withheld]
    pdf_places = _pdf_in_manifests(included, doc.pdf_sha256)
    commands = ["       shared-court verify . --key server-public-key.pem"] + [
        f"       shared-court verify {s.target} --key server-public-key.pem" for s in included
    ]
    current_reviews = [r for r in reviews if r["matches_record_in_package"]]
    lines = [
        "司法确认材料 / Judicial confirmation package",
        "=" * 44,
        f"法院 / Court: {court.name if court else ''}",
        f"案号 / Case number: {case.case_number if case else ''}",
        f"会话编号 / Session: {session.id}",
        f"调解时间 / Session time: {_period(session, zone)}",
        f"协议生效时间 / Agreement effective: {local_text(doc.effective_at, zone, seconds=True)}",
        f"出具时间 / Issued: {local_text(generated, zone, seconds=True)}",
        f"本材料中的时间均为 {zone.key} 时间 / all times in this package are {zone.key} time.",
        "",
        "一、内容 / Contents",
        f"  调解协议书.pdf — 已生效的调解协议书 / the effective agreement; "
        f"共 {doc.pdf_pages or '（未记录）'} 页 / pages",
        f"      PDF SHA-256: {doc.pdf_sha256}",
        f"      签署文本 SHA-256 / signed text: {doc.text_sha256}",
        "  调解笔录.pdf — 调解笔录，出具本材料时依据笔录文本生成 / the mediation record, rendered "
        "when this package was issued",
        f"  调解笔录.txt — 当事人核对的笔录文本（UTF-8），SHA-256 {record_sha} / the exact text "
        "parties reviewed",
        "  record-reviews.json — 当事人核对笔录的全部记录（确认无误 / 提出异议、时间、所核对文本的 "
        "SHA-256）/ every party review of the record",
        "  identities.json — 全部当事人的身份信息（单位当事人载明代为签署的自然人及其身份）/ every "
        "party's identity; organisations with the person who signed and in what capacity",
        "  identity-verifications.json — 身份核验记录（证件号码已脱敏）/ identity verifications "
        "(masked numbers)",
        "  seals.json — 协议书上的电子印章（签章内容及服务器密钥的 Ed25519 签名，可用 "
        "server-public-key.pem 验证）/ the agreement's electronic seals: payload and Ed25519 "
        "signature, checked with server-public-key.pem",
        "  server-public-key.pem — 服务器签名公钥 / the server's signing key",
        "  manifest.json, manifest.json.sig, events.jsonl — 本材料包的签名清单 / this package's "
        "signed manifest",
        *(
            f"  {s.target}/ — 录像分段的完整封存文件夹 / a sealed recording segment"
            for s in included
        ),
        "",
        "二、如何核验 / How to verify (offline)",
        "  1. 核对公钥：server-public-key.pem 的指纹应与法院公布的一致 / compare the key's "
        "fingerprint with the one the court publishes:",
        f"     SHA-256 {key_fingerprint or '（无 / none）'}",
        "  2. 在本文件夹中逐条运行（每条都应输出“校验通过”，退出码 0）/ run each command in this "
        "folder; each must print “校验通过 / verification passed” and exit 0:",
        *commands,
        "     第一条核验本材料包中每个文件的哈希与签名；其余各条核验每个录像分段自封存以来未被改动"
        "（文件哈希、事件日志哈希链、签名）。/ The first checks every file of this package; the "
        "others check each recording segment as sealed (file hashes, the event-log chain, the "
        "signature).",
        "     shared-court 是本系统的命令行工具（安装本系统即有，无需联网）；不带 --key 时只用清单内的"
        "公钥核对并提示警告。/ shared-court is this system's command-line tool (no network "
        "needed); without --key it checks against the key inside the manifest and warns.",
        "  3. 调解协议书 PDF 的哈希 / the agreement PDF's hash: `sha256sum 调解协议书.pdf` 应为 / "
        f"must be {doc.pdf_sha256}; 该哈希列于 / it is listed in:",
        *(
            [f"     {p}" for p in pdf_places]
            or [
                "     （未列入任何录像分段的封存清单：调解协议未能封存入录像记录，仅由本材料包清单覆盖）/ "
                "(in no segment's sealed manifest: the agreement was not added to the sealed "
                "record; only this package's manifest covers it)"
            ]
        ),
        "  4. 调解笔录 / the record: `sha256sum 调解笔录.txt` 应为 / must be "
        f"{record_sha}; record-reviews.json 中 matches_record_in_package 为 true 的核对记录即是对"
        "该文本的确认或异议 / reviews with matches_record_in_package true concern exactly this text "
        f"({len(current_reviews)} of {len(reviews)}).",
        f"  5. 在线核验 / online check: {verify_link}",
        "",
        "三、录像分段 / Recording segments",
        *_segment_lines(segments, zone),
        "",
        "四、未包含的内容及原因 / Left out, and why",
    ]
    if withheld:
        lines.append(
            f"  - 背靠背（分组）调解录像 {len(withheld)} 个文件：依调解保密原则不提供给司法确认。其文件名、"
            "SHA-256 与大小列于相应文件夹 manifest.json 的 judicial_package_copy.withheld；原封存清单"
            f"（{SEALED_MANIFEST}）仍载有它们 / {len(withheld)} caucus recording file(s): "
            "confidential, not given for judicial confirmation; names, hashes and sizes are in "
            "judicial_package_copy.withheld of that folder's manifest.json."
        )
        for w in withheld:
            lines.append(f"      {w['name']}  {w['sha256']}")
    elif record_caucus:
        lines.append(
            "  - 背靠背（分组）调解：本次设定为录制，但未产生背靠背录像 / caucus recording was "
            "enabled, no caucus track was recorded."
        )
    else:
        lines.append(
            "  - 背靠背（分组）调解：未录制（默认保密，不录制）/ caucus sessions were not recorded "
            "(confidential by default)."
        )
    lines += [
        "  - 背靠背调解中的文字记录与协议草稿：保密，不包含 / caucus transcripts and drafts: "
        "confidential.",
        "  - 身份证件号码全文与核验截图：个人信息，仅含脱敏号码；原始资料由法院依法保存 / full ID "
        "numbers and check stills: personal data; only masked numbers are included.",
        "  - 合成录像（MP4）：由原始轨道派生，不包含；原始轨道在录像分段文件夹中 / composite video: "
        "derived from the original tracks, which are included.",
        *(
            f"  - 录像分段 {s.row.folder}：{'已按保存期限删除' if s.missing_reason == 'deleted' else '服务器上缺少封存文件'}"
            f" / {'deleted by retention' if s.missing_reason == 'deleted' else 'missing on the server'}."
            for s in segments
            if not s.target
        ),
        "",
        "五、出具时机 / When the package is issued",
        "  仅在调解结束、全部录像分段封存之后出具。录制进行中时系统拒绝出具（“录制进行中，结束调解后"
        "封存”），以免交付看似完整而实际不完整的记录。/ Issued only after the session has ended "
        "and every recording segment is sealed; while recording, the server refuses (“recording "
        "still in progress”), so a judge never receives a partial record that looks complete.",
        "",
    ]
    return "\n".join(lines)


@dataclass(slots=True)
class Gathered:
    """Everything read from the database, so the blocking build needs no session."""

    session: MediationSession
    case: Case | None
    court: Court | None
    doc: AgreementDocument
    other_docs: list[AgreementDocument]
    record: record_export.RecordData
    reviews: list[dict[str, Any]]
    identities: dict[str, Any]
    identity_record: dict[str, Any]
    recordings: list[Recording]
    zone: ZoneInfo


async def gather(state: AppState, db: AsyncSession, session: MediationSession) -> Gathered:
    doc = await _effective_agreement(db, session.id)
    recordings = await _recordings(db, session.id)
    status = package_status_of(session, doc, recordings)
    if not status.available:
        raise PackageError(status.code, status.message)
    assert doc is not None
    if pdf_file(state, doc) is None:
        raise PackageError(
            "pdf_missing", "调解协议 PDF 文件缺失 / the agreement PDF is missing on the server", 500
        )
    case = await db.get(Case, session.case_id)
    court = await db.get(Court, session.court_id)
    zone = court_zone(court)
    others = [
        d
        for kind in docs.KINDS
        if kind != "agreement"
        and (d := await docs.get_doc(db, session.id, kind)) is not None
        and d.status == DocStatus.effective.value
        and pdf_file(state, d) is not None
    ]
    record = await record_export.load_record(db, session)
    participants = list(
        await db.scalars(
            select(SessionParticipant)
            .where(SessionParticipant.session_id == session.id)
            .order_by(SessionParticipant.created_at)
        )
    )
    names = {p.id: (p.display_name, p.role_label) for p in participants}
    rows = await db.scalars(
        select(RecordConfirmation)
        .where(RecordConfirmation.session_id == session.id)
        .order_by(RecordConfirmation.at, RecordConfirmation.id)
    )
    reviews = [_review_json(r, names, record.sha256, zone) for r in rows]
    parties = {
        p.id: p for p in await db.scalars(select(Party).where(Party.case_id == session.case_id))
    }
    declared = {
        r.participant_id: r
        for r in await db.scalars(
            select(IdentityVerification).where(IdentityVerification.session_id == session.id)
        )
    }
    signatures = {s.participant_id: s for s in await docs.active_signatures(db, doc)}
    facts = await session_facts(db, session.id)
    identities = identities_json(
        session=session,
        case=case,
        parties=parties,
        participants=participants,
        facts=facts,
        declared=declared,
        signatures=signatures,
        zone=zone,
    )
    return Gathered(
        session=session,
        case=case,
        court=court,
        doc=doc,
        other_docs=others,
        record=record,
        reviews=reviews,
        identities=identities,
        identity_record=await identity_record(db, session.id),
        recordings=recordings,
        zone=zone,
    )


def _dump(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2) + "\n"


STORED_SUFFIXES = (".webm", ".mkv", ".mka", ".ogg", ".opus", ".mp4", ".pdf", ".png", ".jpg")


def write_zip(root: Path, target: Path) -> None:
    """Zip ``root``'s files (relative names); media is stored, not deflated (already compact)."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                method = (
                    zipfile.ZIP_STORED
                    if path.suffix.lower() in STORED_SUFFIXES
                    else zipfile.ZIP_DEFLATED
                )
                zf.write(path, path.relative_to(root).as_posix(), compress_type=method)


def packages_dir(state: AppState) -> Path:
    return state.settings.data_dir / "packages"


def _sweep(folder: Path) -> None:
    """Remove packages (and staging folders) a dropped download left behind."""
    cutoff = time.time() - STALE_PACKAGE_S
    for path in folder.iterdir():
        try:
            if path.stat().st_mtime >= cutoff:
                continue
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:
            pass


def build_files(
    state: AppState, g: Gathered, key: ServerKey | None, actor: str, staging: Path
) -> dict[str, Any]:
    """Blocking: write the package into ``staging`` and seal it. Returns a summary."""
    settings = state.settings
    generated = datetime.now(UTC)
    segments = plan_segments(state, g.recordings)
    for seg in segments:
        if seg.target:
            copy_segment(seg, staging / seg.target, key)
    pdf = pdf_file(state, g.doc)
    assert pdf is not None
    shutil.copyfile(pdf, staging / AGREEMENT_NAMES["agreement"])
    for other in g.other_docs:
        path = pdf_file(state, other)
        if path is not None:
            shutil.copyfile(path, staging / AGREEMENT_NAMES.get(other.kind, f"{other.kind}.pdf"))
    (staging / "调解笔录.txt").write_text(g.record.text, encoding="utf-8")
    record_export.render(
        g.record, "pdf", staging / "调解笔录.pdf", settings.data_dir / "fonts", settings.record_font
    )
    current = {p.participant_id: p.state for p in g.record.parties}
    (staging / "record-reviews.json").write_text(
        _dump(
            {
                "format": "shared-court/record-reviews",
                "version": 1,
                "session": g.session.id,
                "record_sha256": g.record.sha256,
                "record_file": "调解笔录.txt",
                "time_zone": g.zone.key,
                # Each party's standing now: confirmed / objected / stale (confirmed an earlier
                # text) / unconfirmed.
                "current_state": [
                    {
                        "participant_id": p.participant_id,
                        "name": p.name,
                        "role": p.role,
                        "state": current[p.participant_id],
                        "label": p.label,
                    }
                    for p in g.record.parties
                ],
                "reviews": g.reviews,
            }
        ),
        encoding="utf-8",
    )
    (staging / "identities.json").write_text(_dump(g.identities), encoding="utf-8")
    if g.doc.seal:
        # The seals printed on the PDF, whole: a judge checks them with the public key below
        # (the PDF shows only the start of each signature).
        (staging / "seals.json").write_text(_dump(g.doc.seal), encoding="utf-8")
    (staging / "identity-verifications.json").write_text(_dump(g.identity_record), encoding="utf-8")
    if key is not None:
        (staging / "server-public-key.pem").write_bytes(key.public_pem())
    readme = readme_text(
        court=g.court,
        case=g.case,
        session=g.session,
        doc=g.doc,
        record_sha=g.record.sha256,
        segments=segments,
        key_fingerprint=key.fingerprint if key else None,
        verify_link=verify_url(state, g.doc.text_sha256),
        reviews=g.reviews,
        record_caucus=bool(g.session.record_caucus or any(r.record_caucus for r in g.recordings)),
        zone=g.zone,
        generated=generated,
    )
    (staging / "README.txt").write_text(readme, encoding="utf-8")
    summary: dict[str, Any] = {
        "segments": [s.target for s in segments if s.target],
        "left_out_segments": [s.row.folder for s in segments if not s.target],
        "withheld": [w["name"] for s in segments for w in s.withheld],
    }
    if key is not None:
        events = EventLog(staging / "events.jsonl")
        try:
            events.append(
                EventType.SESSION_OPENED,
                actor,
                {
                    "case": g.case.case_number if g.case else None,
                    "session": g.session.id,
                    "record_caucus": False,
                    "package": PACKAGE_FORMAT,
                },
                time=generated,
            )
            events.append(
                "package.issued",
                actor,
                {
                    "agreement_pdf_sha256": g.doc.pdf_sha256,
                    "agreement_text_sha256": g.doc.text_sha256,
                    "record_sha256": g.record.sha256,
                    **summary,
                },
                time=generated,
            )
        finally:
            events.close()
        manifest = build_manifest(staging, key, interrupted=False)
        manifest["judicial_package"] = {"format": PACKAGE_FORMAT, "version": 1, **summary}
        data = json.dumps(manifest, ensure_ascii=False, indent=2).encode() + b"\n"
        (staging / MANIFEST_NAME).write_bytes(data)
        (staging / SIGNATURE_NAME).write_bytes(key.sign(data))
        summary["manifest_sha256"] = hashlib.sha256(data).hexdigest()
    return summary


async def build_package(
    state: AppState, db: AsyncSession, session: MediationSession, actor: str
) -> tuple[Path, dict[str, Any]]:
    """Write the package zip under ``<data_dir>/packages`` (the caller removes it once sent)."""
    g = await gather(state, db, session)
    key: ServerKey | None = server_key(state)
    folder = packages_dir(state)

    def run() -> tuple[Path, dict[str, Any]]:
        folder.mkdir(parents=True, exist_ok=True)
        _sweep(folder)
        staging = Path(tempfile.mkdtemp(prefix=f"{session.id}-", dir=folder))
        try:
            summary = build_files(state, g, key, actor, staging)
            fd, name = tempfile.mkstemp(prefix=f"{session.id}-", suffix=".zip", dir=folder)
            os.close(fd)
            target = Path(name)
            try:
                write_zip(staging, target)
            except BaseException:
                target.unlink(missing_ok=True)
                raise
            return target, summary
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    try:
        return await asyncio.to_thread(run)
    except record_export.RecordExportError as exc:
        raise PackageError("font_missing", str(exc), 503) from exc


class TemporaryFileResponse(web.FileResponse):
    """Sends a file made for this one response, then removes it."""

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        try:
            return await super().prepare(request)
        finally:
            self._path.unlink(missing_ok=True)
