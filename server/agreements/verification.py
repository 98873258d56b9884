"""The public verification of an agreement: what a hash proves, and the page the QR code opens.

A hash on paper proves nothing about the paper: a copy with altered text and the original QR
code still leads to "genuine". So the page (1) checks the PDF file itself, hashed in the
reader's browser (the file never leaves it), and (2) shows anchors a reader compares with the
paper without revealing its content: case number, date of effect, number of pages, the parties'
masked names, the kind of document. Times are the court's local time, never raw UTC.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from server.agreements import documents as docs
from server.agreements.models import AgreementDocument, DocStatus
from server.agreements.package import local_text
from server.models import Case, Court, MediationSession, Party, SessionParticipant
from server.zones import court_zone

HASH = re.compile(r"^[0-9a-f]{64}$")
KIND_LABELS = {"agreement": "调解协议书", "failure_record": "调解不成记录"}
# The longest first: "有限责任公司" before "有限公司" before "公司".
ORG_SUFFIXES = tuple(
    sorted(
        (
            "股份有限公司",
            "有限责任公司",
            "有限公司",
            "分公司",
            "公司",
            "集团",
            "合作社",
            "委员会",
            "事务所",
            "研究院",
            "中心",
            "银行",
            "支行",
            "分行",
            "医院",
            "学校",
            "协会",
            "厂",
            "店",
        ),
        key=len,
        reverse=True,
    )
)


def mask_name(name: str, organisation: bool = False) -> str:
    """A name as the public page may print it: enough to compare with the paper, too little to
    identify anyone. 张三 → 张*; 杭州某某物业有限公司 → 杭州**物业有限公司."""
    name = name.strip()
    if not name:
        return ""
    if not organisation:
        return name[0] + "*" * max(len(name) - 1, 1) if len(name) > 1 else "*"
    suffix = next((s for s in ORG_SUFFIXES if name.endswith(s) and len(name) > len(s)), "")
    head, body = name[:2], name[2 : len(name) - len(suffix)]
    if len(name) <= 4 or not body:
        # Too short to keep a region and a trade: keep the first character and the form.
        core = name[: len(name) - len(suffix)]
        return core[:1] + "*" * max(len(core) - 1, 1) + suffix
    # The trade word (物业, 科技 …) just before the legal form stays if a middle is left to mask.
    trade = body[-2:] if len(body) > 2 else ""
    middle = body[: len(body) - len(trade)]
    return head + "*" * len(middle) + trade + suffix


@dataclass(slots=True)
class Verification:
    sha256: str
    genuine: bool = False
    matched: str | None = None  # "text" / "pdf"
    kind: str | None = None
    kind_label: str | None = None
    title: str | None = None
    court: str | None = None
    case_number: str | None = None
    session_date: str | None = None
    effective_at: datetime | None = None
    effective_at_text: str | None = None
    effective_date: str | None = None
    time_zone: str | None = None
    pages: int | None = None
    parties: list[str] = field(default_factory=list)
    version: int | None = None
    text_sha256: str | None = None

    def out(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "genuine": self.genuine,
            "effective": self.genuine,
            "matched": self.matched,
            "kind": self.kind,
            "kind_label": self.kind_label,
            "title": self.title,
            "court": self.court,
            "case_number": self.case_number,
            "session_date": self.session_date,
            "effective_at": self.effective_at,
            "effective_at_text": self.effective_at_text,
            "effective_date": self.effective_date,
            "time_zone": self.time_zone,
            "pages": self.pages,
            "parties": self.parties,
            "version": self.version,
            "text_sha256": self.text_sha256,
        }


async def _masked_parties(db: AsyncSession, doc: AgreementDocument) -> list[str]:
    ids = list(doc.signers or []) or await docs.required_signers(db, doc.session_id)
    out = []
    for pid in ids:
        part = await db.get(SessionParticipant, pid)
        if part is None:
            continue
        party = await db.get(Party, part.party_id) if part.party_id else None
        name = party.name if party is not None else part.display_name
        out.append(mask_name(name, bool(party and party.is_organisation)))
    return out


async def verify(db: AsyncSession, digest: str) -> Verification:
    digest = digest.strip().lower()
    if not HASH.match(digest):
        return Verification(sha256=digest[:64])
    doc = await docs.find_by_hash(db, digest)
    # Only effective documents are ever vouched for: a draft's hash is not a document.
    if doc is None or doc.status != DocStatus.effective.value:
        return Verification(sha256=digest)
    session = await db.get(MediationSession, doc.session_id)
    court = await db.get(Court, doc.court_id)
    case = await db.get(Case, session.case_id) if session else None
    zone = court_zone(court)
    when = (session.started_at or session.scheduled_at) if session else None
    effective = doc.effective_at.astimezone(zone) if doc.effective_at else None
    return Verification(
        sha256=digest,
        genuine=True,
        matched="text" if doc.text_sha256 == digest else "pdf",
        kind=doc.kind,
        kind_label=KIND_LABELS.get(doc.kind, doc.title),
        title=doc.title,
        court=court.name if court else None,
        case_number=case.case_number if case else None,
        session_date=when.astimezone(zone).date().isoformat() if when else None,
        effective_at=effective,
        effective_at_text=local_text(effective, zone) if effective else None,
        effective_date=f"{effective.year}年{effective.month}月{effective.day}日"
        if effective
        else None,
        time_zone=zone.key,
        pages=doc.pdf_pages or None,
        parties=await _masked_parties(db, doc),
        version=doc.version,
        text_sha256=doc.text_sha256,
    )


# --- the page --------------------------------------------------------------------------------
SCRIPT_PATH = "/verify/assets/verify.js"
STYLE_PATH = "/verify/assets/verify.css"
# The page's own policy: only this server's script and style, only this server's API.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

STYLE = """
body{font-family:'Noto Sans CJK SC','PingFang SC','Microsoft YaHei',sans-serif;margin:1.5em auto;
max-width:44em;padding:0 1em;line-height:1.55;color:#222}
h1{font-size:1.35em;margin:.2em 0}.ok{color:#176e2d}.bad{color:#a31515}
section{border:1px solid #ddd;border-radius:6px;padding:.8em 1em;margin:1em 0}
th{text-align:left;padding:2px 1em 2px 0;vertical-align:top;white-space:nowrap;font-weight:600}
td{padding:2px 0}.note{color:#555;font-size:.9em}code{word-break:break-all;font-size:.9em}
label{font-weight:600}input[type=file]{margin:.6em 0;display:block;font-size:1em}
"""

# The file is hashed here, in the browser, and only the hash is looked up: the document never
# reaches the server. crypto.subtle exists only in secure contexts (HTTPS, localhost); a court
# page opened over plain HTTP on a LAN falls back to the small SHA-256 below.
SCRIPT = r"""
(function () {
  'use strict';
  var K = [0x428a2f98,0x71374491,0xb5c0fbcf,0xe9b5dba5,0x3956c25b,0x59f111f1,0x923f82a4,0xab1c5ed5,
    0xd807aa98,0x12835b01,0x243185be,0x550c7dc3,0x72be5d74,0x80deb1fe,0x9bdc06a7,0xc19bf174,
    0xe49b69c1,0xefbe4786,0x0fc19dc6,0x240ca1cc,0x2de92c6f,0x4a7484aa,0x5cb0a9dc,0x76f988da,
    0x983e5152,0xa831c66d,0xb00327c8,0xbf597fc7,0xc6e00bf3,0xd5a79147,0x06ca6351,0x14292967,
    0x27b70a85,0x2e1b2138,0x4d2c6dfc,0x53380d13,0x650a7354,0x766a0abb,0x81c2c92e,0x92722c85,
    0xa2bfe8a1,0xa81a664b,0xc24b8b70,0xc76c51a3,0xd192e819,0xd6990624,0xf40e3585,0x106aa070,
    0x19a4c116,0x1e376c08,0x2748774c,0x34b0bcb5,0x391c0cb3,0x4ed8aa4a,0x5b9cca4f,0x682e6ff3,
    0x748f82ee,0x78a5636f,0x84c87814,0x8cc70208,0x90befffa,0xa4506ceb,0xbef9a3f7,0xc67178f2];
  function sha256(bytes) {
    var n = bytes.length, total = ((n + 9 + 63) >> 6) << 6, m = new Uint8Array(total);
    m.set(bytes); m[n] = 0x80;
    var bits = n * 8, dv = new DataView(m.buffer);
    dv.setUint32(total - 8, Math.floor(bits / 4294967296)); dv.setUint32(total - 4, bits >>> 0);
    var h = [0x6a09e667,0xbb67ae85,0x3c6ef372,0xa54ff53a,0x510e527f,0x9b05688c,0x1f83d9ab,0x5be0cd19];
    var w = new Uint32Array(64);
    for (var off = 0; off < total; off += 64) {
      for (var i = 0; i < 16; i++) w[i] = dv.getUint32(off + i * 4);
      for (i = 16; i < 64; i++) {
        var x = w[i - 15], y = w[i - 2];
        var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
      }
      var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
      for (i = 0; i < 64; i++) {
        var S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        var t1 = (k + S1 + ((e & f) ^ (~e & g)) + K[i] + w[i]) >>> 0;
        var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        var t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
        k = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
      }
      h[0] = (h[0] + a) >>> 0; h[1] = (h[1] + b) >>> 0; h[2] = (h[2] + c) >>> 0; h[3] = (h[3] + d) >>> 0;
      h[4] = (h[4] + e) >>> 0; h[5] = (h[5] + f) >>> 0; h[6] = (h[6] + g) >>> 0; h[7] = (h[7] + k) >>> 0;
    }
    return h.map(function (v) { return ('00000000' + v.toString(16)).slice(-8); }).join('');
  }
  function hex(buf) {
    return Array.prototype.map.call(new Uint8Array(buf), function (b) {
      return ('0' + b.toString(16)).slice(-2);
    }).join('');
  }
  function digest(buf) {
    if (window.crypto && window.crypto.subtle) {
      return window.crypto.subtle.digest('SHA-256', buf).then(hex);
    }
    return Promise.resolve(sha256(new Uint8Array(buf)));
  }
  function read(file) {
    if (file.arrayBuffer) return file.arrayBuffer();
    return new Promise(function (resolve, reject) {
      var r = new FileReader();
      r.onload = function () { resolve(r.result); };
      r.onerror = function () { reject(r.error); };
      r.readAsArrayBuffer(file);
    });
  }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  var result = document.getElementById('verify-result');
  var anchors = document.getElementById('verify-anchors');
  var input = document.getElementById('verify-file');
  var busy = document.getElementById('verify-busy');
  var qrText = document.body.getAttribute('data-text-sha256') || '';

  function showAnchors(j) {
    var rows = [
      ['文书类型 / Document', j.kind_label],
      ['法院 / Court', j.court],
      ['案号 / Case number', j.case_number],
      ['生效日期 / Date of effect', j.effective_date],
      ['生效时间 / Effective', j.effective_at_text],
      ['页数 / Pages', j.pages ? ('共 ' + j.pages + ' 页 / ' + j.pages + ' page(s)') : '—'],
      ['当事人 / Parties', (j.parties || []).join('、')],
      ['版本 / Version', j.version]
    ];
    var table = anchors.querySelector('table');
    table.textContent = '';
    rows.forEach(function (r) {
      var tr = el('tr');
      tr.appendChild(el('th', r[0]));
      var td = el('td', r[1] === undefined || r[1] === null || r[1] === '' ? '—' : r[1]);
      td.setAttribute('data-anchor', r[0].split(' / ')[1].toLowerCase().replace(/ /g, '-'));
      tr.appendChild(td);
      table.appendChild(tr);
    });
    anchors.hidden = false;
  }

  function show(j, fileName) {
    result.textContent = '';
    result.setAttribute('data-genuine', j.genuine ? 'true' : 'false');
    result.setAttribute('data-source', 'file');
    result.appendChild(el('p', '核验对象 / Checked: 上传的文件 / the file “' + fileName + '”', 'note'));
    if (j.genuine) {
      result.appendChild(el('h1', '✔ 文件真实有效 / Genuine: this file is the effective document', 'ok'));
      result.appendChild(el('p', '该文件与本系统出具的已生效' + (j.kind_label || '文书') +
        '逐字节一致。/ This file is byte for byte the effective document this server issued.'));
      if (qrText && j.text_sha256 && j.text_sha256 !== qrText) {
        result.appendChild(el('p', '注意：该文件与二维码所指的文书不是同一份。/ Note: this file is a ' +
          'different document from the one the QR code points to.', 'bad'));
      }
      showAnchors(j);
    } else {
      result.appendChild(el('h1', '✘ 文件未通过核验 / Not genuine: this file is not an effective document', 'bad'));
      result.appendChild(el('p', '本系统中没有与该文件对应的已生效文书：文件可能被改动（哪怕一个字节）、' +
        '不是原始 PDF，或并非本系统出具。/ No effective document matches this file: it may have ' +
        'been altered (even by one byte), is not the original PDF, or was not issued here.'));
      anchors.hidden = true;
    }
    var p = el('p', null, 'note');
    p.appendChild(el('span', '文件 SHA-256 / file SHA-256: '));
    p.appendChild(el('code', j.sha256));
    result.appendChild(p);
  }

  input.addEventListener('change', function () {
    var file = input.files && input.files[0];
    if (!file) return;
    busy.hidden = false;
    busy.textContent = '正在本机计算哈希值… / hashing on this device…';
    read(file).then(digest).then(function (h) {
      return fetch('/api/verify/agreement/' + h, {
        headers: { Accept: 'application/json' }, credentials: 'omit', cache: 'no-store'
      }).then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.json();
      });
    }).then(function (j) {
      busy.hidden = true;
      show(j, file.name);
    }).catch(function (err) {
      busy.hidden = false;
      busy.textContent = '核验失败，请重试 / the check failed, try again (' + err + ')';
    });
  });
})();
"""


def _anchor_rows(v: Verification) -> str:
    e = html.escape
    pages = f"共 {v.pages} 页 / {v.pages} page(s)" if v.pages else "—"
    rows = [
        ("文书类型 / Document", "document", v.kind_label),
        ("法院 / Court", "court", v.court),
        ("案号 / Case number", "case-number", v.case_number),
        ("生效日期 / Date of effect", "date-of-effect", v.effective_date),
        ("生效时间 / Effective", "effective", v.effective_at_text),
        ("页数 / Pages", "pages", pages),
        ("当事人 / Parties", "parties", "、".join(v.parties)),
        ("版本 / Version", "version", str(v.version) if v.version else ""),
    ]
    return "".join(
        f"<tr><th>{e(label)}</th><td data-anchor={key}>{e(value or '—')}</td></tr>"
        for label, key, value in rows
    )


def render_page(v: Verification | None) -> str:
    """The page; ``v`` is the result for the hash in the address (None: upload only)."""
    e = html.escape
    if v is None:
        result = (
            "<p>请选择您持有的调解协议 PDF 文件进行核验。/ Choose the agreement PDF you hold to "
            "check it.</p>"
        )
        genuine, source = "false", "none"
    elif v.genuine:
        result = (
            "<p class=note>核验对象 / Checked: 二维码（地址）中的哈希值 / the hash in the QR code</p>"
            "<h1 class=ok>✔ 真实有效 / Genuine and effective</h1>"
            f"<p>该哈希值对应本系统出具的一份已生效的{e(v.kind_label or '')}"
            f"（核验依据：{'签署文本' if v.matched == 'text' else 'PDF 文件'} SHA-256）。"
            "/ This hash belongs to an effective document issued by this server.</p>"
            "<p class=note>二维码只证明存在这样一份文书，不能证明手中的纸质件未被改动：请逐项核对下列信息，"
            "并上传电子文件核验。/ A QR code proves such a document exists, not that your copy is "
            "unaltered: compare the details below with the paper, and check the PDF file.</p>"
        )
        genuine, source = "true", "hash"
    else:
        result = (
            "<p class=note>核验对象 / Checked: 二维码（地址）中的哈希值 / the hash in the QR code</p>"
            "<h1 class=bad>✘ 未找到有效文书 / Not a genuine effective agreement</h1>"
            "<p>本系统中没有与该哈希值对应的已生效调解协议。文书可能被改动、尚未生效或并非本系统出具。"
            "</p><p class=note>No effective agreement with this hash exists on this server: the "
            "document may have been altered, is not yet effective, or was not issued here.</p>"
        )
        genuine, source = "false", "hash"
    sha = f"<p class=note>SHA-256: <code>{e(v.sha256)}</code></p>" if v is not None else ""
    anchors_hidden = "" if v is not None and v.genuine else " hidden"
    anchor_rows = _anchor_rows(v) if v is not None and v.genuine else ""
    text_sha = e(v.text_sha256 or "") if v is not None else ""
    return (
        "<!doctype html><html lang=zh-CN><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        "<meta name=referrer content=no-referrer>"
        "<title>调解协议核验 / Agreement verification</title>"
        f"<link rel=stylesheet href={STYLE_PATH}></head>"
        f"<body data-text-sha256='{text_sha}'>"
        "<header class=note>共享法庭 · 文书核验 / Shared Court · document verification</header>"
        f"<section id=verify-result data-testid=verify-result data-genuine={genuine} "
        f"data-source={source}>{result}{sha}</section>"
        f"<section id=verify-anchors data-testid=verify-anchors{anchors_hidden}>"
        "<h2>核对信息 / Compare with your copy</h2>"
        f"<table>{anchor_rows}</table>"
        "<p class=note>为保护当事人隐私，本页不显示协议内容，姓名已部分隐去。/ The content is not shown "
        "and names are partly masked, to protect the parties.</p></section>"
        "<section><h2>核验电子文件 / Check the PDF file</h2>"
        "<p>选择文件后，本机浏览器计算其 SHA-256 哈希值，仅以哈希值向服务器查询；文件本身不会上传、也不会"
        "被保存。改动任何一个字节都会使核验失败。/ Your browser computes the file's SHA-256 on this "
        "device and looks up only the hash: the file is never uploaded or stored. Changing a "
        "single byte makes the check fail.</p>"
        "<label for=verify-file>选择您持有的 PDF 文件 / Choose the PDF file you hold:</label>"
        "<input id=verify-file data-testid=verify-file type=file "
        "accept='application/pdf,.pdf'>"
        "<p id=verify-busy class=note hidden></p></section>"
        f"<script src={SCRIPT_PATH}></script></body></html>"
    )
