"""The PDF of an agreement or a failed-mediation record: text, signatures, seals, verification.

Rendered with WeasyPrint (HTML → PDF), which embeds subsets of OpenType/CFF fonts such as
Debian's Noto CJK (.ttc) — reportlab cannot embed CFF outlines. Every page carries the SHA-256
of the exact signed text (the "document hash") and "第 X 页 / 共 Y 页", so a page taken out of
the document still says which document it belongs to and that pages are missing. The end of the
document names the session, the electronic seals (Ed25519 signatures of that hash) and a QR code
to the public verification page. The PDF file's own SHA-256 is computed after rendering and
recorded (database and sealed manifest); the verification page accepts either hash.

Court name and case number are printed once, in the header: the default templates no longer
carry them in the text. Every time is stated in the court's time zone (Court.timezone), with the
zone named.
"""

from __future__ import annotations

import base64
import html
import io
import logging
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import qrcode

from server.agreements.models import DocKind
from server.agreements.seal import seal_svg
from server.models import as_utc
from server.zones import zone_named

log = logging.getLogger(__name__)

FONT_STACK = (
    '"Noto Serif CJK SC", "Noto Sans CJK SC", "WenQuanYi Zen Hei", "Source Han Serif SC", serif'
)
DEFAULT_TIMEZONE = "Asia/Shanghai"

# What the document is called where the PDF speaks about it (verification sentence, labels).
KIND_LABELS = {
    DocKind.agreement.value: "调解协议",
    DocKind.failure_record.value: "调解不成记录",
}
# When the last required signature came in: an agreement takes effect, a record is confirmed.
COMPLETED_LABELS = {
    DocKind.agreement.value: "生效时间 / effective",
    DocKind.failure_record.value: "各方确认时间 / confirmed",
}


@dataclass(frozen=True)
class SignatureBlock:
    name: str
    role: str
    id_masked: str
    verification: str  # e.g. "线上核验 · 调解员张三 · 2026-12-01 10:02:00（UTC+08:00）"
    signed_at: datetime
    png: bytes
    # An organisation signs through a natural person: who, and as what (法定代表人 / 委托代理人).
    organisation: bool = False
    signatory_name: str = ""
    signatory_capacity: str = ""


@dataclass(frozen=True)
class SealMark:
    """One electronic seal as printed: the image, who sealed, and the short signature."""

    name: str  # the text around the seal: the mediator's or the court's name
    label: str  # the text across the bottom of the seal
    role: str  # 调解员 / 法院
    signature_hex: str  # the first bytes of the Ed25519 signature, hex
    key_fingerprint: str
    at: datetime


@dataclass(frozen=True)
class PdfInput:
    title: str
    text: str
    text_sha256: str
    version: int
    session_id: str
    court_name: str
    case_number: str
    effective_at: datetime | None
    verify_url: str
    signatures: list[SignatureBlock]
    kind: str = DocKind.agreement.value
    timezone: str = DEFAULT_TIMEZONE
    seals: list[SealMark] = field(default_factory=list)
    # Where the public key that checks the seals is published.
    key_url: str = ""


@dataclass(frozen=True)
class RenderedPdf:
    pdf: bytes
    pages: int


def zone(name: str) -> ZoneInfo:
    """The court's zone (an unknown name falls back: `server.zones`)."""
    return zone_named(name)


def utc_offset(at: datetime, tz: ZoneInfo) -> str:
    offset = as_utc(at).astimezone(tz).strftime("%z")  # +0800
    return f"UTC{offset[:3]}:{offset[3:]}"


def fmt_time(at: datetime, tz: ZoneInfo) -> str:
    """A time as the document states it: local wall time and its offset (DST-proof)."""
    local = as_utc(at).astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M:%S}（{utc_offset(at, tz)}）"


def qr_png(url: str) -> bytes:
    img = qrcode.make(url, box_size=4, border=2)
    buf = io.BytesIO()
    img.save(buf)
    return buf.getvalue()


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _css_string(text: str) -> str:
    # Margin-box content is a CSS string: escape what would end it.
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _signer_cell(s: SignatureBlock) -> str:
    e = html.escape
    if not s.organisation:
        return e(s.name)
    who = e(s.signatory_name) if s.signatory_name else "（未记录）"
    capacity = f"（{e(s.signatory_capacity)}）" if s.signatory_capacity else ""
    return f"{e(s.name)}<br><span class=small>签署人：{who}{capacity}</span>"


def _seal_section(doc: PdfInput, tz: ZoneInfo) -> str:
    if not doc.seals:
        return ""
    e = html.escape
    marks = "".join(
        "<div class=seal>"
        f"<div class=sealimg>{seal_svg(m.name, m.label)}</div>"
        "<div class=sealtext>"
        f"<div>{e(m.role)}电子印章：{e(m.name)}</div>"
        f"<div>签章时间：{e(fmt_time(m.at, tz))}</div>"
        f"<div>Ed25519 签名：<span class=hash>{e(m.signature_hex)}…</span></div>"
        f"<div>公钥指纹：<span class=hash>{e(m.key_fingerprint[:16])}…</span></div>"
        "</div></div>"
        for m in doc.seals
    )
    key = f"（{e(doc.key_url)}）" if doc.key_url else ""
    how = (
        "<div class='small sealhow'>电子印章核验：印章为本院服务器密钥以 Ed25519 算法对规范 JSON "
        "载荷（format、signer、role、text_sha256、at，键名排序、无空格、UTF-8）所作的签名；"
        f"用本院公开的公钥{key}验证该签名，并核对载荷中的 text_sha256 与本页所印文书哈希一致。"
        "载荷及完整签名随本文书存档，可向本院调取。印章图案本身不具证明力。</div>"
    )
    return f"<div class=seals><h3>电子印章 / Electronic seals</h3>{marks}</div>{how}"


def render_html(doc: PdfInput) -> str:
    e = html.escape
    tz = zone(doc.timezone)
    kind_label = KIND_LABELS.get(doc.kind, "文书")
    sig_rows = "".join(
        "<tr>"
        f"<td>{e(s.role)}</td><td>{_signer_cell(s)}</td><td>{e(s.id_masked or '—')}</td>"
        f"<td><img class=sig src='{_data_uri(s.png)}'></td>"
        f"<td>{e(fmt_time(s.signed_at, tz))}<br><span class=small>{e(s.verification)}</span></td>"
        "</tr>"
        for s in doc.signatures
    )
    completed_label = COMPLETED_LABELS.get(doc.kind, "完成时间 / completed")
    completed = fmt_time(doc.effective_at, tz) if doc.effective_at else "未完成签署 / not signed"
    hash_box = _css_string(f"文书哈希 SHA-256：{doc.text_sha256}")
    zone_line = f"{tz.key}（本文书所载时间均为该时区时间）"
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<style>
@page {{ size: A4; margin: 22mm 20mm 24mm 20mm;
  @bottom-left {{ content: {hash_box}; width: 78%;
    font-family: {FONT_STACK}; font-size: 6.5pt; color: #555; }}
  @bottom-right {{ content: "第 " counter(page) " 页 / 共 " counter(pages) " 页"; width: 22%;
    font-family: {FONT_STACK}; font-size: 8pt; color: #555; text-align: right; }} }}
body {{ font-family: {FONT_STACK}; font-size: 12pt; line-height: 1.7; }}
.court {{ text-align: center; font-size: 15pt; letter-spacing: 2pt; }}
h1 {{ text-align: center; font-size: 20pt; letter-spacing: 4pt; margin: 2mm 0 2mm; }}
.caseno {{ text-align: right; font-size: 11pt; }}
.body {{ white-space: pre-wrap; margin-top: 6mm; }}
.signs {{ break-inside: avoid; page-break-inside: avoid; }}
table {{ width: 100%; border-collapse: collapse; margin-top: 3mm; font-size: 10pt;
  break-inside: avoid; page-break-inside: avoid; }}
tr {{ break-inside: avoid; page-break-inside: avoid; }}
td, th {{ border: 0.5pt solid #888; padding: 2mm; vertical-align: middle; }}
img.sig {{ height: 14mm; max-width: 50mm; }}
.small {{ font-size: 8pt; color: #444; }}
.seals {{ break-inside: avoid; page-break-inside: avoid; margin-top: 6mm; }}
.seal {{ display: inline-block; width: 49%; vertical-align: top; font-size: 8pt; }}
.seal .hash {{ font-size: 7pt; }}
.sealimg {{ display: inline-block; width: 30mm; height: 30mm; vertical-align: middle; }}
.sealimg svg {{ width: 30mm; height: 30mm; }}
.sealtext {{ display: inline-block; width: 50mm; vertical-align: middle; margin-left: 2mm; }}
.sealhow {{ margin-top: 2mm; }}
.footer {{ margin-top: 8mm; border-top: 0.5pt solid #444; padding-top: 3mm; font-size: 8pt;
  display: flex; break-inside: avoid; page-break-inside: avoid; }}
.footer img {{ width: 28mm; height: 28mm; margin-right: 4mm; }}
.hash {{ font-family: monospace; word-break: break-all; }}
</style></head><body>
<div class=court>{e(doc.court_name)}</div>
<h1>{e(doc.title)}</h1>
<div class=caseno>案号：{e(doc.case_number)}</div>
<div class=body>{e(doc.text)}</div>
<div class=signs>
<h3>当事人签名 / Signatures</h3>
<table><col style="width:13%"><col style="width:21%"><col style="width:19%">
<col style="width:22%"><col style="width:25%">
<tr><th>身份</th><th>当事人</th><th>公民身份号码</th><th>签名</th><th>签署时间 · 身份核验</th></tr>
{sig_rows}</table>
</div>
{_seal_section(doc, tz)}
<div class=footer>
<img src="{_data_uri(qr_png(doc.verify_url))}">
<div>
<div>文书哈希（SHA-256，签署文本第{doc.version}版）/ document hash:</div>
<div class=hash>{e(doc.text_sha256)}</div>
<div>调解场次 / session: {e(doc.session_id)}</div>
<div>{e(completed_label)}: {e(completed)}</div>
<div>时区 / time zone: {e(zone_line)}</div>
<div>核验 / verify: <span class=hash>{e(doc.verify_url)}</span></div>
<div class=small>扫描二维码或访问上述地址，可核验本文书是否为真实、已生效的{e(kind_label)}。</div>
</div></div>
</body></html>"""


def render(doc: PdfInput) -> RenderedPdf:
    """Blocking (≈ 1 s): run in a thread. Laid out once, so the page count is the PDF's."""
    import weasyprint

    document = weasyprint.HTML(string=render_html(doc)).render()
    pdf: bytes = document.write_pdf()
    return RenderedPdf(pdf, len(document.pages))


def render_pdf(doc: PdfInput) -> bytes:
    """Blocking: the PDF alone."""
    return render(doc).pdf
