"""The mediation record (调解笔录): its canonical text, and its PDF and DOCX exports.

`record_text` is what parties review and confirm; its SHA-256 is stored with each confirmation,
so an edit made after a party confirmed is visible. The exports carry the same facts plus each
party's confirmation state and a signature block. Rendering is blocking (run it in a thread):
PDF with WeasyPrint and a CJK font from fonts-noto-cjk (or `record_font`), DOCX with
python-docx.
"""

from __future__ import annotations

import hashlib
import html
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.agreements.facts import SessionFacts, session_facts
from server.agreements.models import VerifyMethod
from server.models import (
    CASE_TYPE_NAMES,
    Case,
    Court,
    MediationSession,
    Outcome,
    ParticipantKind,
    RecordConfirmation,
    SegmentKind,
    SessionParticipant,
    Terminal,
    TranscriptSegment,
    User,
)
from server.zones import zone_named

log = logging.getLogger(__name__)

DEFAULT_TIMEZONE = "Asia/Shanghai"
MAIN_DOCUMENT = "main"
ONLINE_PLACE = "线上调解（各方通过自有设备参加）"
REMOTE = "远程（自有设备）"

OUTCOME_LABELS: dict[Outcome, str] = {
    Outcome.settled: "调解成功",
    Outcome.failed: "调解不成",
    Outcome.partial: "部分达成调解协议",
}

# Where Debian's fonts-noto-cjk puts its collections; Serif (宋体-like) first, as courts use.
FONT_CANDIDATES = (
    Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto-cjk/NotoSerifCJK-Regular.ttc"),
    Path("/usr/share/fonts/noto-cjk/NotoSerifCJK-Regular.ttc"),
    Path("/usr/share/fonts/google-noto-cjk/NotoSerifCJK-Regular.ttc"),
)
DOCX_FONT = "Noto Serif CJK SC"


class RecordExportError(RuntimeError):
    """The record cannot be rendered (e.g. no CJK font installed)."""


@dataclass(frozen=True, slots=True)
class RecordLine:
    at: datetime
    speaker: str
    role: str
    text: str
    kind: str  # speech / note
    status: str = "final"


@dataclass(frozen=True, slots=True)
class PartyState:
    participant_id: str
    name: str
    role: str
    # unconfirmed / confirmed / objected / stale (confirmed an earlier text)
    state: str
    label: str
    at: datetime | None = None
    objection: str = ""


@dataclass(slots=True)
class RecordData:
    session_id: str
    court_name: str
    case_number: str
    case_type_label: str
    case_title: str
    started_at: datetime
    ended_at: datetime | None
    place: str
    mediator: str
    clerk: str
    participants: list[tuple[str, str]]
    lines: list[RecordLine]
    outcome_label: str
    outcome_note: str
    parties: list[PartyState] = field(default_factory=list)
    # The court's IANA zone: every time in the record is stated in it.
    time_zone: str = DEFAULT_TIMEZONE
    # (who, the log's statement about their identity) for each party who took part.
    identities: list[tuple[str, str]] = field(default_factory=list)
    # Why a settlement was recorded without an effective written agreement, if it was.
    no_agreement_reason: str = ""

    @property
    def text(self) -> str:
        return record_text(self)

    @property
    def sha256(self) -> str:
        return record_sha256(self.text)


def zone(name: str) -> ZoneInfo:
    """The court's zone (an unknown name falls back: `server.zones`)."""
    return zone_named(name)


def local(at: datetime, time_zone: str = DEFAULT_TIMEZONE) -> datetime:
    # A naive time is UTC (as SQLite hands it back), never the server's local time.
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return aware.astimezone(zone(time_zone))


def _fmt_dt(at: datetime | None, time_zone: str = DEFAULT_TIMEZONE) -> str:
    return local(at, time_zone).strftime("%Y年%m月%d日 %H:%M") if at is not None else ""


def _period(data: RecordData) -> str:
    period = _fmt_dt(data.started_at, data.time_zone)
    if data.ended_at is not None:
        period += " 至 " + local(data.ended_at, data.time_zone).strftime("%H:%M")
    return f"{period}（{zone(data.time_zone).key}）"


def _outcome(data: RecordData) -> str:
    out = data.outcome_label + (f"。{data.outcome_note}" if data.outcome_note else "")
    if data.no_agreement_reason:
        out += f"（未签署书面调解协议的原因：{data.no_agreement_reason}）"
    return out


def _identities(data: RecordData) -> str:
    return "；".join(f"{who}：{line}" for who, line in data.identities) or "无"


def line_text(line: RecordLine, time_zone: str = DEFAULT_TIMEZONE) -> str:
    clock = local(line.at, time_zone).strftime("%H:%M:%S")
    if line.kind == SegmentKind.note.value:
        who = f"{line.speaker}注" if line.speaker else "注"
        return f"[{clock}] 【{who}】{line.text}"
    text = line.text or ("（未能识别，见录音）" if line.status != "final" else "")
    return f"[{clock}] {line.speaker}（{line.role}）：{text}"


def record_text(data: RecordData) -> str:
    """The canonical plain text of the record (what parties read, confirm and hash)."""
    out = [
        data.court_name,
        "调解笔录",
        f"案号：{data.case_number}",
        f"案由：{data.case_type_label}",
        f"时间：{_period(data)}",
        f"地点：{data.place}",
        f"调解员：{data.mediator}",
        f"书记员：{data.clerk or '无'}",
        "参加人：" + ("、".join(f"{name}（{role}）" for name, role in data.participants) or "无"),
        f"身份核验：{_identities(data)}",
        "",
        "笔录内容：",
        *(line_text(line, data.time_zone) for line in data.lines),
        "",
        f"调解结果：{_outcome(data)}",
    ]
    return "\n".join(out) + "\n"


def record_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


async def load_record(db: AsyncSession, session: MediationSession) -> RecordData:
    """Gather the main document and everything the record names (parties' states included)."""
    case = await db.get(Case, session.case_id)
    court = await db.get(Court, session.court_id)
    terminal = await db.get(Terminal, session.terminal_id) if session.terminal_id else None
    mediator = await db.get(User, session.mediator_id)
    clerk = await db.get(User, session.clerk_id) if session.clerk_id else None
    assert case is not None and court is not None
    segments = await db.scalars(
        select(TranscriptSegment)
        .where(
            TranscriptSegment.session_id == session.id,
            TranscriptSegment.document == MAIN_DOCUMENT,
        )
        .order_by(TranscriptSegment.start_at, TranscriptSegment.created_at)
    )
    lines = [
        RecordLine(s.start_at, s.speaker_name, s.speaker_role, s.text, s.kind.value, s.status)
        for s in segments
    ]
    facts = await session_facts(db, session.id)
    place, taking_part = presence(list(session.participants), terminal, facts)
    participants = [(p.display_name, p.role_label) for p in taking_part]
    time_zone = court.timezone or DEFAULT_TIMEZONE
    identities = [
        (f"{p.display_name}（{p.role_label}）", identity_statement(facts, p.id, time_zone))
        for p in taking_part
        if p.kind == ParticipantKind.party
    ]
    # The log's outcome (what the mediator declared when closing), the row's as a fallback.
    outcome = (
        Outcome(facts.outcome) if facts.outcome in {o.value for o in Outcome} else session.outcome
    )
    data = RecordData(
        session_id=session.id,
        court_name=court.name,
        case_number=case.case_number,
        case_type_label=CASE_TYPE_NAMES.get(case.case_type, str(case.case_type)),
        case_title=case.title,
        started_at=session.started_at or session.scheduled_at,
        ended_at=session.ended_at,
        place=place,
        mediator=mediator.display_name if mediator else "",
        clerk=clerk.display_name if clerk else "",
        participants=participants,
        lines=lines,
        outcome_label=OUTCOME_LABELS[outcome] if outcome else "（调解尚未结束）",
        outcome_note=facts.outcome_note or session.outcome_note,
        time_zone=time_zone,
        identities=identities,
        no_agreement_reason=facts.no_agreement_reason,
    )
    data.parties = await party_states(db, session, data.sha256, time_zone)
    return data


def _own_link(pid: str, via: str) -> bool:
    """Joined with the participant's own join link (signaling/identity: a join link's actor is
    "participant:<pid>"; "party:<pid>" is the older spelling)."""
    return via in (f"participant:{pid}", f"party:{pid}")


def presence(
    people: list[SessionParticipant], terminal: Terminal | None, facts: SessionFacts
) -> tuple[str, list[SessionParticipant]]:
    """地点 and 参加人 from the session's log, never from who was invited.

    A party or terminal took part when the log shows them in the room. A party was at the
    terminal when the terminal took part and either its 庭务主任 attested the party in person
    (identity check ``in_person_terminal``) or the party's connection came through the
    terminal; a party who joined with their own link took part remotely from their own device.
    Staff (mediator, clerk) are named on their own lines, not here.
    """
    kiosk = next((p for p in people if p.kind == ParticipantKind.terminal), None)
    kiosk_there = kiosk is not None and facts.took_part(kiosk.id)

    def at_terminal(p: SessionParticipant) -> bool:
        if not kiosk_there or kiosk is None:
            return False
        ident = facts.identity_of(p.id)
        if ident.verified and ident.method == VerifyMethod.in_person_terminal.value:
            return True
        via = facts.joined_via.get(p.id, "")
        through_kiosk = via.startswith("terminal:") or via == f"participant:{kiosk.id}"
        return facts.took_part(p.id) and through_kiosk

    parties = [p for p in people if p.kind == ParticipantKind.party]
    there = [p for p in parties if at_terminal(p)]
    remote = [p for p in parties if facts.took_part(p.id) and p not in there]
    taking_part = [
        p
        for p in people
        if (p.kind == ParticipantKind.terminal and kiosk_there) or p in there or p in remote
    ]
    if not kiosk_there:
        return ONLINE_PLACE, taking_part
    name = terminal.name if terminal is not None else (kiosk.display_name if kiosk else "")
    site = name + (f"（{terminal.location}）" if terminal is not None and terminal.location else "")
    if there:
        site += "：" + "、".join(p.display_name for p in there)
    return "；".join([site, *(f"{p.display_name}：{REMOTE}" for p in remote)]), taking_part


def identity_statement(facts: SessionFacts, pid: str, time_zone: str) -> str:
    """The log's one sentence about a party's identity, with the check's time when verified."""
    line = facts.identity_line(pid)
    ident = facts.identity_of(pid)
    if ident.verified and ident.verified_at is not None:
        line += " · " + _fmt_dt(ident.verified_at, time_zone)
    return line


async def party_states(
    db: AsyncSession,
    session: MediationSession,
    current_sha: str,
    time_zone: str = DEFAULT_TIMEZONE,
) -> list[PartyState]:
    """Each party's latest review of the record."""
    rows = await db.scalars(
        select(RecordConfirmation)
        .where(RecordConfirmation.session_id == session.id)
        .order_by(RecordConfirmation.at, RecordConfirmation.id)
    )
    latest = {row.participant_id: row for row in rows}
    states = []
    for p in session.participants:
        if p.kind != ParticipantKind.party:
            continue
        row = latest.get(p.id)
        if row is None:
            state, label = "unconfirmed", "未确认"
        elif not row.confirmed:
            state, label = (
                "objected",
                f"提出异议（{_fmt_dt(row.at, time_zone)}）：{row.objection}",
            )
        elif row.record_sha256 != current_sha:
            state, label = (
                "stale",
                f"曾于{_fmt_dt(row.at, time_zone)}确认，笔录其后已修改，待重新确认",
            )
        else:
            state, label = "confirmed", f"确认无误（{_fmt_dt(row.at, time_zone)}）"
        states.append(
            PartyState(
                p.id,
                p.display_name,
                p.role_label,
                state,
                label,
                row.at if row else None,
                row.objection if row else "",
            )
        )
    return states


# --- fonts ------------------------------------------------------------------------------------
_font_lock = threading.Lock()


def find_cjk_font(configured: Path | None = None) -> Path:
    """The CJK font file for PDFs; a clear error when none is installed."""
    if configured is not None:
        if not Path(configured).is_file():
            raise RecordExportError(
                f"配置的中文字体不存在 / configured record_font {configured} does not exist"
            )
        return Path(configured)
    for candidate in FONT_CANDIDATES:
        if candidate.is_file():
            return candidate
    for root in (Path("/usr/share/fonts"), Path("/usr/local/share/fonts")):
        if root.is_dir():
            for pattern in ("*CJK*SC*.otf", "*CJK*.ttc", "*CJK*.otf"):
                found = sorted(root.rglob(pattern))
                if found:
                    return found[0]
    raise RecordExportError(
        "未找到中文字体，无法生成 PDF / no CJK font found: install fonts-noto-cjk "
        "(apt-get install fonts-noto-cjk) or set record_font"
    )


def simplified_face(font: Path, cache_dir: Path) -> Path:
    """For a font collection (.ttc), the Simplified Chinese face as its own file (cached):
    WeasyPrint takes the first face of a collection, which is the Japanese one in Noto CJK."""
    if font.suffix.lower() != ".ttc":
        return font
    target = cache_dir / f"{font.stem}-SC.otf"
    with _font_lock:
        if target.is_file():
            return target
        from fontTools.ttLib import TTCollection

        collection = TTCollection(str(font), lazy=True)
        index = 0
        for i, face in enumerate(collection.fonts):
            name = str(face["name"].getDebugName(1) or "")
            if name.endswith(" SC") or "Simplified" in name:
                index = i
                break
        cache_dir.mkdir(parents=True, exist_ok=True)
        staging = target.with_suffix(".tmp")
        collection.fonts[index].save(str(staging))
        staging.replace(target)
    return target


# --- rendering --------------------------------------------------------------------------------
_CSS = """
@page { size: A4; margin: 22mm 20mm; @bottom-center { content: counter(page) " / " counter(pages);
  font-family: RecordCJK; font-size: 9pt; } }
body { font-family: RecordCJK; font-size: 11.5pt; line-height: 1.6; }
h1 { text-align: center; font-size: 15pt; margin: 0; }
h2 { text-align: center; font-size: 20pt; letter-spacing: 0.4em; margin: 4pt 0 14pt; }
table.facts td { padding: 1pt 6pt 1pt 0; vertical-align: top; }
table.facts td.k { white-space: nowrap; }
p.line { margin: 2pt 0; }
p.note { color: #333; font-style: italic; }
span.t { color: #666; font-size: 9.5pt; }
h3 { font-size: 12.5pt; margin: 14pt 0 4pt; border-bottom: 0.6pt solid #444; }
table.sign { width: 100%; border-collapse: collapse; margin-top: 10pt; }
table.sign td { border: 0.6pt solid #444; padding: 10pt 6pt; }
"""


def _facts(data: RecordData) -> list[tuple[str, str]]:
    return [
        ("案号", data.case_number),
        ("案由", data.case_type_label),
        ("时间", _period(data)),
        ("地点", data.place),
        ("调解员", data.mediator),
        ("书记员", data.clerk or "无"),
        ("参加人", "、".join(f"{n}（{r}）" for n, r in data.participants) or "无"),
        ("身份核验", _identities(data)),
    ]


def _signatories(data: RecordData) -> list[tuple[str, str]]:
    people = [(f"{p.name}（{p.role}）", "") for p in data.parties]
    people.append((f"调解员：{data.mediator}", ""))
    people.append((f"书记员：{data.clerk or ''}", ""))
    return people


def render_html(data: RecordData) -> str:
    e = html.escape
    facts = "".join(f"<tr><td class=k>{e(k)}：</td><td>{e(v)}</td></tr>" for k, v in _facts(data))
    lines = []
    for line in data.lines:
        cls = "line note" if line.kind == SegmentKind.note.value else "line"
        text = line_text(line, data.time_zone)
        clock, _, rest = text.partition("] ")
        lines.append(f"<p class='{cls}'><span class=t>{e(clock)}]</span> {e(rest)}</p>")
    if not lines:
        lines.append("<p class=line>（无文字记录）</p>")
    outcome = _outcome(data)
    states = "".join(
        f"<tr><td>{e(p.name)}（{e(p.role)}）</td><td>{e(p.label)}</td></tr>" for p in data.parties
    )
    signs = "".join(
        f"<tr><td style='width:45%'>{e(who)}</td><td>签名：</td><td style='width:25%'>日期：</td></tr>"
        for who, _ in _signatories(data)
    )
    return (
        "<!doctype html><html lang=zh-CN><head><meta charset=utf-8>"
        f"<title>调解笔录 {e(data.case_number)}</title></head><body>"
        f"<h1>{e(data.court_name)}</h1><h2>调解笔录</h2>"
        f"<table class=facts>{facts}</table>"
        f"<h3>笔录内容</h3>{''.join(lines)}"
        f"<h3>调解结果</h3><p>{e(outcome)}</p>"
        f"<h3>当事人确认情况</h3><table class=facts>{states}</table>"
        f"<h3>签名</h3><table class=sign>{signs}</table>"
        f"<p class=t style='margin-top:12pt;font-size:8.5pt;color:#666'>"
        f"会话编号 {e(data.session_id)} · 笔录文本 SHA-256 {e(data.sha256)}</p>"
        "</body></html>"
    )


def render_pdf(data: RecordData, target: Path, font: Path) -> Path:
    """Write the record as PDF with the given CJK font file (blocking)."""
    if not font.is_file():
        raise RecordExportError(f"中文字体不存在 / CJK font {font} does not exist")
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    font_config = FontConfiguration()
    face = CSS(
        string=f"@font-face {{ font-family: RecordCJK; src: url({font.resolve().as_uri()}); }}"
        + _CSS,
        font_config=font_config,
    )
    HTML(string=render_html(data)).write_pdf(
        str(target), stylesheets=[face], font_config=font_config
    )
    return target


def render_docx(data: RecordData, target: Path) -> Path:
    """Write the record as DOCX (blocking). The East Asian font is named, not embedded."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Pt

    doc = Document()
    normal = doc.styles["Normal"]
    normal.font.name = DOCX_FONT  # type: ignore[attr-defined]
    normal.font.size = Pt(11)  # type: ignore[attr-defined]
    rpr = normal.element.get_or_add_rPr()
    rpr.get_or_add_rFonts().set(qn("w:eastAsia"), DOCX_FONT)

    def centered(text: str, size: int, bold: bool = True) -> None:
        para = doc.add_paragraph()
        para.alignment = WD_ALIGN_PARAGRAPH.CENTER
        run = para.add_run(text)
        run.bold = bold
        run.font.size = Pt(size)

    def heading(text: str) -> None:
        run = doc.add_paragraph().add_run(text)
        run.bold = True
        run.font.size = Pt(12)

    centered(data.court_name, 14)
    centered("调 解 笔 录", 20)
    facts = doc.add_table(rows=0, cols=2)
    for key, value in _facts(data):
        cells = facts.add_row().cells
        cells[0].text = f"{key}："
        cells[1].text = value
    heading("笔录内容")
    for line in data.lines or []:
        doc.add_paragraph(line_text(line, data.time_zone))
    if not data.lines:
        doc.add_paragraph("（无文字记录）")
    heading("调解结果")
    doc.add_paragraph(_outcome(data))
    heading("当事人确认情况")
    states = doc.add_table(rows=0, cols=2)
    for p in data.parties:
        cells = states.add_row().cells
        cells[0].text = f"{p.name}（{p.role}）"
        cells[1].text = p.label
    heading("签名")
    signs = doc.add_table(rows=0, cols=3)
    signs.style = "Table Grid"
    for who, _ in _signatories(data):
        cells = signs.add_row().cells
        cells[0].text = who
        cells[1].text = "签名："
        cells[2].text = "日期："
    doc.add_paragraph(f"会话编号 {data.session_id} · 笔录文本 SHA-256 {data.sha256}")
    doc.save(str(target))
    return target


def render(data: RecordData, fmt: str, target: Path, font_cache: Path, font: Path | None) -> Path:
    """Render ``fmt`` ("pdf" or "docx") to ``target`` (blocking)."""
    if fmt == "pdf":
        return render_pdf(data, target, simplified_face(find_cjk_font(font), font_cache))
    if fmt == "docx":
        return render_docx(data, target)
    raise ValueError(f"unknown format {fmt!r}")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
