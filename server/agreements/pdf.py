"""The agreement PDF: text, handwritten signatures and a verification footer with a QR code.

Rendered with WeasyPrint (HTML → PDF), which embeds subsets of OpenType/CFF fonts such as
Debian's Noto CJK (.ttc) — reportlab cannot embed CFF outlines. The footer names the SHA-256 of
the exact signed text (the "document hash"), the session and a QR code to the public verification
page. The PDF file's own SHA-256 is computed after rendering and recorded (database and sealed
manifest); the verification page accepts either hash.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import qrcode

FONT_STACK = (
    '"Noto Serif CJK SC", "Noto Sans CJK SC", "WenQuanYi Zen Hei", "Source Han Serif SC", serif'
)


@dataclass(frozen=True)
class SignatureBlock:
    name: str
    role: str
    id_masked: str
    verification: str  # e.g. "线上核验 · 调解员张三 · 2026-12-01 10:02"
    signed_at: datetime
    png: bytes


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


def _local(at: datetime) -> str:
    return (at.astimezone(UTC) + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S") + " (UTC+8)"


def qr_png(url: str) -> bytes:
    img = qrcode.make(url, box_size=4, border=2)
    buf = io.BytesIO()
    img.save(buf)
    return buf.getvalue()


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def render_html(doc: PdfInput) -> str:
    e = html.escape
    sig_rows = "".join(
        "<tr>"
        f"<td>{e(s.role)}</td><td>{e(s.name)}</td><td>{e(s.id_masked or '—')}</td>"
        f"<td><img class=sig src='{_data_uri(s.png)}'></td>"
        f"<td>{e(_local(s.signed_at))}<br><span class=small>{e(s.verification)}</span></td>"
        "</tr>"
        for s in doc.signatures
    )
    effective = _local(doc.effective_at) if doc.effective_at else "未生效 / not effective"
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<style>
@page {{ size: A4; margin: 22mm 20mm 40mm 20mm;
  @bottom-center {{ content: "第 " counter(page) " 页 / 共 " counter(pages) " 页";
    font-family: {FONT_STACK}; font-size: 8pt; color: #555; }} }}
body {{ font-family: {FONT_STACK}; font-size: 12pt; line-height: 1.7; }}
h1 {{ text-align: center; font-size: 20pt; letter-spacing: 4pt; margin-bottom: 4mm; }}
.meta {{ text-align: center; font-size: 10pt; color: #333; }}
.body {{ white-space: pre-wrap; margin-top: 6mm; }}
table {{ width: 100%; border-collapse: collapse; margin-top: 6mm; font-size: 10pt; }}
td, th {{ border: 0.5pt solid #888; padding: 2mm; vertical-align: middle; }}
img.sig {{ height: 14mm; max-width: 50mm; }}
.small {{ font-size: 8pt; color: #444; }}
.footer {{ margin-top: 8mm; border-top: 0.5pt solid #444; padding-top: 3mm; font-size: 8pt;
  display: flex; }}
.footer img {{ width: 28mm; height: 28mm; margin-right: 4mm; }}
.hash {{ font-family: monospace; word-break: break-all; }}
</style></head><body>
<h1>{e(doc.title)}</h1>
<div class=meta>{e(doc.court_name)} · 案号 {e(doc.case_number)}</div>
<div class=body>{e(doc.text)}</div>
<h3>当事人签名 / Signatures</h3>
<table><tr><th>身份</th><th>姓名</th><th>公民身份号码</th><th>签名</th><th>签署时间 · 身份核验</th></tr>
{sig_rows}</table>
<div class=footer>
<img src="{_data_uri(qr_png(doc.verify_url))}">
<div>
<div>文书哈希（SHA-256，签署文本第{doc.version}版）/ document hash:</div>
<div class=hash>{e(doc.text_sha256)}</div>
<div>调解场次 / session: {e(doc.session_id)}</div>
<div>生效时间 / effective: {e(effective)}</div>
<div>核验 / verify: <span class=hash>{e(doc.verify_url)}</span></div>
<div class=small>扫描二维码或访问上述地址，可核验本文书是否为真实、已生效的调解协议。</div>
</div></div>
</body></html>"""


def render_pdf(doc: PdfInput) -> bytes:
    """Blocking (≈ 1 s): run in a thread."""
    import weasyprint

    pdf: bytes = weasyprint.HTML(string=render_html(doc)).write_pdf()
    return pdf
