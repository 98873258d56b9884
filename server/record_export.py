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
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.models import (
    Case,
    CaseType,
    Court,
    MediationSession,
    Outcome,
    ParticipantKind,
    RecordConfirmation,
    SegmentKind,
    Terminal,
    TranscriptSegment,
    User,
)

log = logging.getLogger(__name__)

CHINA_TZ = timezone(timedelta(hours=8), "CST")
MAIN_DOCUMENT = "main"

CASE_TYPE_LABELS: dict[CaseType, str] = {
    CaseType.marriage_family: "婚姻家庭纠纷",
    CaseType.property_management: "物业服务合同纠纷",
    CaseType.finance_insurance: "金融保险纠纷",
    CaseType.neighbour: "邻里纠纷",
    CaseType.labour: "劳动争议",
    CaseType.other: "其他纠纷",
}
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

    @property
    def text(self) -> str:
        return record_text(self)

    @property
    def sha256(self) -> str:
        return record_sha256(self.text)


def local(at: datetime) -> datetime:
    return at.astimezone(CHINA_TZ)


def _fmt_dt(at: datetime | None) -> str:
    return local(at).strftime("%Y年%m月%d日 %H:%M") if at is not None else ""


def line_text(line: RecordLine) -> str:
    clock = local(line.at).strftime("%H:%M:%S")
    if line.kind == SegmentKind.note.value:
        who = f"{line.speaker}注" if line.speaker else "注"
        return f"[{clock}] 【{who}】{line.text}"
    text = line.text or ("（未能识别，见录音）" if line.status != "final" else "")
    return f"[{clock}] {line.speaker}（{line.role}）：{text}"


def record_text(data: RecordData) -> str:
    """The canonical plain text of the record (what parties read, confirm and hash)."""
    period = _fmt_dt(data.started_at)
    if data.ended_at is not None:
        period += " 至 " + local(data.ended_at).strftime("%H:%M")
    out = [
        data.court_name,
        "调解笔录",
        f"案号：{data.case_number}",
        f"案由：{data.case_type_label}",
        f"时间：{period}",
        f"地点：{data.place}",
        f"调解员：{data.mediator}",
        f"书记员：{data.clerk or '无'}",
        "参加人：" + "、".join(f"{name}（{role}）" for name, role in data.participants),
        "",
        "笔录内容：",
        *(line_text(line) for line in data.lines),
        "",
        f"调解结果：{data.outcome_label}" + (f"。{data.outcome_note}" if data.outcome_note else ""),
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
    if terminal is not None:
        place = terminal.name + (f"（{terminal.location}）" if terminal.location else "")
    else:
        place = "线上调解（共享法庭）"
    participants = [
        (p.display_name, p.role_label)
        for p in session.participants
        if p.kind in (ParticipantKind.party, ParticipantKind.terminal)
    ]
    data = RecordData(
        session_id=session.id,
        court_name=court.name,
        case_number=case.case_number,
        case_type_label=CASE_TYPE_LABELS.get(case.case_type, str(case.case_type)),
        case_title=case.title,
        started_at=session.started_at or session.scheduled_at,
        ended_at=session.ended_at,
        place=place,
        mediator=mediator.display_name if mediator else "",
        clerk=clerk.display_name if clerk else "",
        participants=participants,
        lines=lines,
        outcome_label=OUTCOME_LABELS[session.outcome] if session.outcome else "（调解尚未结束）",
        outcome_note=session.outcome_note,
    )
    data.parties = await party_states(db, session, data.sha256)
    return data


async def party_states(
    db: AsyncSession, session: MediationSession, current_sha: str
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
            state, label = "objected", f"提出异议（{_fmt_dt(row.at)}）：{row.objection}"
        elif row.record_sha256 != current_sha:
            state, label = "stale", f"曾于{_fmt_dt(row.at)}确认，笔录其后已修改，待重新确认"
        else:
            state, label = "confirmed", f"确认无误（{_fmt_dt(row.at)}）"
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
    period = _fmt_dt(data.started_at)
    if data.ended_at is not None:
        period += " 至 " + local(data.ended_at).strftime("%H:%M")
    return [
        ("案号", data.case_number),
        ("案由", data.case_type_label),
        ("时间", period),
        ("地点", data.place),
        ("调解员", data.mediator),
        ("书记员", data.clerk or "无"),
        ("参加人", "、".join(f"{n}（{r}）" for n, r in data.participants)),
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
        text = line_text(line)
        clock, _, rest = text.partition("] ")
        lines.append(f"<p class='{cls}'><span class=t>{e(clock)}]</span> {e(rest)}</p>")
    if not lines:
        lines.append("<p class=line>（无文字记录）</p>")
    outcome = data.outcome_label + (f"。{data.outcome_note}" if data.outcome_note else "")
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
        doc.add_paragraph(line_text(line))
    if not data.lines:
        doc.add_paragraph("（无文字记录）")
    heading("调解结果")
    doc.add_paragraph(data.outcome_label + (f"。{data.outcome_note}" if data.outcome_note else ""))
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
