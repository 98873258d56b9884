"""The documents a court files say what the event log says: identity, presence, admission and
outcome in the agreement PDF, the failed-mediation record and the 调解笔录; and they are fit to
file: seals that verify, page numbers and the document hash on every page, a signature table in
one piece, times in the court's zone, clauses that name the right party.

Expectations are computed from the audit rows here, independently of server/agreements/facts.py,
so a document that invents a fact (a check nobody made, a terminal nobody used) fails.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import docx
import pytest
from pypdf import PdfReader
from sqlalchemy import select

from recording import ServerKey
from server.agreements import documents as docs
from server.agreements.models import AgreementDocument
from server.agreements.pdf import PdfInput, SignatureBlock, render
from server.agreements.seal import seal, short_signature, verify_seal
from server.agreements.templates import CASE_TYPE_LABELS, default_template, fill
from server.config import Settings
from server.models import (
    AuditEvent,
    Case,
    CaseType,
    Court,
    MediationSession,
    Party,
    PartyRole,
    SessionParticipant,
    User,
)
from server.scheduling import schedule_session
from server.state import STATE_KEY
from server.transcripts.record_export import load_record, render_docx
from server.transcripts.record_export import render as render_record
from signaling.client import RoomClient, SignalingFailure
from signaling.features.recording import RECORDING
from tests.agreements.helpers import (
    ADMIT_REASON,
    APPLICANT_ID,
    RESPONDENT_ID,
    join,
    signature_png,
)
from tests.conftest import LOOPBACK, Harness
from tests.signaling.conftest import LiveSession

URUMQI = "Asia/Urumqi"  # UTC+06:00: a court zone that is not the server's China default
ORG_NAME = "某某物业服务有限公司"


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """tests/conftest.py's settings; ``indirect`` parametrisation overrides fields."""
    overrides: dict[str, Any] = getattr(request, "param", {})
    return Settings(
        data_dir=tmp_path / "data",
        public_url="http://court.test",
        ice_addresses=[LOOPBACK],
        webhook_allow_private_targets=True,
        **overrides,
    )


# --- the log, read independently -------------------------------------------------------------
@dataclass
class Log:
    present: set[str] = field(default_factory=set)
    via: dict[str, str] = field(default_factory=dict)
    verified: dict[str, AuditEvent] = field(default_factory=dict)
    override: dict[str, str] = field(default_factory=dict)
    outcome: str = ""


async def read_log(live: LiveSession) -> Log:
    state = live.harness.app[STATE_KEY]
    async with state.db.session() as db:
        rows = list(
            await db.scalars(
                select(AuditEvent)
                .where(AuditEvent.session_id == live.session_id)
                .order_by(AuditEvent.id)
            )
        )
    log = Log()
    for ev in rows:
        d = ev.details or {}
        pid = str(d.get("participant_id") or "")
        if ev.action == "participant.join":
            log.via.setdefault(pid, ev.actor)
            if d.get("presence") == "admitted":
                log.present.add(pid)
        elif ev.action == "lobby.admit":
            log.present.add(pid)
        elif ev.action == "identity.verified":
            log.verified[pid] = ev
        elif ev.action == "identity.override" and str(d.get("reason") or "").strip():
            log.override[pid] = str(d["reason"]).strip()
        elif ev.action == "session.end":
            log.outcome = str(d.get("outcome") or "")
    return log


def flat(text: str) -> str:
    """PDF text without whitespace: line wraps in table cells fall anywhere."""
    return "".join(text.split())


def pdf_pages(pdf: bytes) -> list[str]:
    return [flat(page.extract_text()) for page in PdfReader(io.BytesIO(pdf)).pages]


def at_zone(at: datetime, zone: str) -> str:
    local = at.astimezone(ZoneInfo(zone))
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d%H:%M:%S}（UTC{offset[:3]}:{offset[3:]}）"


def expected_identity(log: Log, pid: str, zone: str) -> str:
    """What the log allows a document to say about this person's identity."""
    ev = log.verified.get(pid)
    if ev is not None:
        label = {"online_visual": "线上核验", "in_person_terminal": "终端现场核验"}[
            ev.details["method"]
        ]
        return flat(f"{label} · {ev.details['verifier']} · ") + at_zone(ev.at, zone)
    if pid in log.override:
        return flat(f"身份未核验（调解员书面准入：{log.override[pid]}）")
    return "身份未核验"


# --- driving a session ------------------------------------------------------------------------
async def set_court(live: LiveSession, **values: Any) -> None:
    state = live.harness.app[STATE_KEY]
    async with state.db.session() as db:
        court = await db.get(Court, live.harness.seed.court_a)
        assert court is not None
        for k, v in values.items():
            setattr(court, k, v)


async def make_organisation(live: LiveSession, who: str, name: str) -> None:
    """Before the party connects: their identity (organisation or not) is read on connect."""
    state = live.harness.app[STATE_KEY]
    async with state.db.session() as db:
        part = await db.get(SessionParticipant, live.pids[who])
        assert part is not None and part.party_id is not None
        party = await db.get(Party, part.party_id)
        assert party is not None
        party.is_organisation = True
        party.name = name
        part.display_name = name


async def admit(mediator: RoomClient, pid: str, reason: str | None = None) -> None:
    body: dict[str, Any] = {"participant_id": pid}
    if reason is not None:
        body["override_reason"] = reason
    await mediator.call("admit", body)


async def sign_all(
    live: LiveSession,
    mediator: RoomClient,
    signers: dict[str, RoomClient],
    kind: str = "agreement",
    extra: dict[str, dict[str, Any]] | None = None,
    text_suffix: str = "",
) -> dict[str, Any]:
    opened = (await mediator.call("agreement_open", {"kind": kind}))["agreement"]
    if text_suffix:
        await mediator.call(
            "agreement_edit",
            {"kind": kind, "text": opened["text"] + text_suffix, "base_version": 1},
        )
    await mediator.call("agreement_request_signatures", {"kind": kind})
    for i, (who, c) in enumerate(signers.items()):
        view = (await c.call("agreement_get", {"kind": kind}))["agreement"]
        await c.call(
            "agreement_sign",
            {
                "kind": kind,
                "version": view["version"],
                "text_sha256": view["text_sha256"],
                "confirm": True,
                "signature_png": signature_png(i),
                **((extra or {}).get(who) or {}),
            },
        )
    final: dict[str, Any] = (await mediator.call("agreement_get", {"kind": kind}))["agreement"]
    assert final["status"] == "effective", final
    return final


async def fetch_pdf(live: LiveSession, kind: str = "agreement") -> tuple[bytes, AgreementDocument]:
    judge = await live.harness.login("judge_a")
    resp = await judge.get(f"/api/sessions/{live.session_id}/agreements/{kind}/pdf")
    assert resp.status == 200, await resp.text()
    pdf = await resp.read()
    state = live.harness.app[STATE_KEY]
    async with state.db.session() as db:
        doc = await docs.get_doc(db, live.session_id, kind)
    assert doc is not None
    return pdf, doc


def server_key(live: LiveSession) -> ServerKey:
    state = live.harness.app[STATE_KEY]
    recording = state.find(RECORDING)
    if recording is not None:
        key: ServerKey = recording.key
        return key
    return ServerKey.load_or_create(state.settings.data_dir / "keys")


def check_pages(pages: list[str], doc: AgreementDocument) -> None:
    """Every page names the document hash and its place in the document."""
    assert doc.pdf_pages == len(pages)
    for i, page in enumerate(pages, start=1):
        assert doc.text_sha256 in page, f"page {i} lacks the document hash"
        assert f"第{i}页/共{len(pages)}页" in page, f"page {i} lacks its page number"


def check_seals(live: LiveSession, doc: AgreementDocument, text: str, signers: list[str]) -> None:
    key = server_key(live)
    seals = doc.seal["seals"]
    assert [s["payload"]["signer"] for s in seals] == signers
    for s in seals:
        assert s["payload"]["text_sha256"] == doc.text_sha256
        assert verify_seal(key.public_key, s)
        assert short_signature(s) in text and "Ed25519" in text
        forged = {**s, "payload": {**s["payload"], "text_sha256": "0" * 64}}
        assert not verify_seal(key.public_key, forged)
    assert "电子印章核验" in text and "/api/keys/recording.pem" in text


# --- the agreement PDF ------------------------------------------------------------------------
async def test_pdf_states_identity_admission_and_times_as_logged(live: LiveSession) -> None:
    """One party checked online by the mediator, the other admitted unverified with a reason;
    the court sits in Asia/Urumqi."""
    await set_court(live, timezone=URUMQI)
    mediator = await join(live, "mediator")
    applicant = await join(live, "applicant")
    respondent = await join(live, "respondent")
    await mediator.wait_until(lambda: len(mediator.lobby()) == 2)
    await applicant.call("identity_submit", {"name": "申请人甲", "id_number": APPLICANT_ID})
    await mediator.call("identity_check_open", {"participant_id": live.pids["applicant"]})
    await mediator.call(
        "identity_verify", {"participant_id": live.pids["applicant"], "method": "online_visual"}
    )
    await admit(mediator, live.pids["applicant"])
    await admit(mediator, live.pids["respondent"], ADMIT_REASON)
    for c in (applicant, respondent):
        await c.wait_until(lambda c=c: c.presence == "admitted")
    await mediator.call("start_session")
    final = await sign_all(live, mediator, {"applicant": applicant, "respondent": respondent})

    pdf, doc = await fetch_pdf(live)
    pages = pdf_pages(pdf)
    text = "".join(pages)
    log = await read_log(live)
    assert set(log.verified) == {live.pids["applicant"]}
    for who in ("applicant", "respondent"):
        assert expected_identity(log, live.pids[who], URUMQI) in text, who
    # The unverified party's statement carries the reason the mediator wrote, once.
    assert text.count("身份未核验") == 1 + flat(ADMIT_REASON).count("身份未核验")
    assert "3301**********1205" in text
    # Every time in the court's zone, the zone named; nothing in China time or bare UTC.
    assert "Asia/Urumqi" in text and "UTC+06:00" in text
    assert "UTC+08:00" not in text and "UTC+8" not in text and "UTC)" not in text
    state = live.harness.app[STATE_KEY]
    async with state.db.session() as db:
        sigs = await docs.active_signatures(db, doc)
        case = await db.scalar(
            select(Case).join(MediationSession).where(MediationSession.id == live.session_id)
        )
    assert case is not None
    for s in sigs:
        assert at_zone(s.signed_at, URUMQI) in text
    assert doc.effective_at is not None and at_zone(doc.effective_at, URUMQI) in text
    # Court and case number once, in the header.
    assert text.count(flat("甲法院 Court A")) == 1
    assert text.count(flat(case.case_number)) == 1
    assert "调解协议书" in pages[0]
    # The mediator's seal (the court does not seal agreements here).
    check_seals(live, doc, text, ["judge_a"])
    assert "调解员电子印章：judge_a" in text and "法院电子印章" not in text
    check_pages(pages, doc)
    assert final["pdf_sha256"] == doc.pdf_sha256


@pytest.mark.parametrize("settings", [{"identity_check_required": False}], indirect=True)
async def test_nobody_checked_organisation_signs_and_court_seals(live: LiveSession) -> None:
    """No identity check at all (not required): no document may print a check or a written
    admission. The respondent is a company that signs through its legal representative; the
    court seals its agreements; the text is long enough for several pages."""
    await set_court(live, seal_agreements=True)
    await make_organisation(live, "respondent", ORG_NAME)
    mediator = await join(live, "mediator")
    applicant = await join(live, "applicant")
    respondent = await join(live, "respondent")
    await mediator.wait_until(lambda: len(mediator.lobby()) == 2)
    for who in ("applicant", "respondent"):
        await admit(mediator, live.pids[who])
    for c in (applicant, respondent):
        await c.wait_until(lambda c=c: c.presence == "admitted")
    # The company cannot sign without naming the person who signs for it.
    opened = (await mediator.call("agreement_open"))["agreement"]
    await mediator.call("agreement_request_signatures")
    view = (await respondent.call("agreement_get"))["agreement"]
    with pytest.raises(SignalingFailure) as err:
        await respondent.call(
            "agreement_sign",
            {
                "version": view["version"],
                "text_sha256": view["text_sha256"],
                "confirm": True,
                "signature_png": signature_png(),
            },
        )
    assert err.value.code == "signatory_required"
    await mediator.call("agreement_withdraw")
    clauses = "".join(f"\n{i}、第{i}项约定：各方确认本项内容。" for i in range(1, 70))
    await mediator.call("agreement_edit", {"text": opened["text"] + clauses, "base_version": 1})
    await mediator.call("agreement_request_signatures")
    for i, (c, extra) in enumerate(
        (
            (applicant, {}),
            (respondent, {"signatory_name": "王五", "signatory_capacity": "legal_representative"}),
        )
    ):
        view = (await c.call("agreement_get"))["agreement"]
        await c.call(
            "agreement_sign",
            {
                "version": view["version"],
                "text_sha256": view["text_sha256"],
                "confirm": True,
                "signature_png": signature_png(i),
                **extra,
            },
        )

    pdf, doc = await fetch_pdf(live)
    pages = pdf_pages(pdf)
    text = "".join(pages)
    log = await read_log(live)
    assert not log.verified and not log.override
    for needle in ("线上核验", "终端现场核验", "书面准入", "核验·"):
        assert needle not in text, needle
    assert text.count("身份未核验") == 2
    # The company and the natural person who signed for it, and in what capacity.
    assert f"{ORG_NAME}签署人：王五（法定代表人）" in text
    # Several pages, each numbered and hashed; the signature table on one of them.
    assert len(pages) >= 2
    check_pages(pages, doc)
    table = [p for p in pages if "当事人签名/Signatures" in p]
    assert len(table) == 1
    assert table[0].count("身份未核验") == 2 and "签署人：王五" in table[0]
    # Mediator's and court's seals, both verifiable.
    check_seals(live, doc, text, ["judge_a", "甲法院 Court A"])
    assert "法院电子印章：甲法院CourtA" in text


async def test_failure_record_pdf_is_not_called_an_agreement(live: LiveSession) -> None:
    mediator = await join(live, "mediator")
    applicant = await join(live, "applicant")
    respondent = await join(live, "respondent")
    await mediator.wait_until(lambda: len(mediator.lobby()) == 2)
    for who in ("applicant", "respondent"):
        await admit(mediator, live.pids[who], ADMIT_REASON)
    for c in (applicant, respondent):
        await c.wait_until(lambda c=c: c.presence == "admitted")
    await sign_all(
        live, mediator, {"applicant": applicant, "respondent": respondent}, "failure_record"
    )
    pdf, doc = await fetch_pdf(live, "failure_record")
    pages = pdf_pages(pdf)
    text = "".join(pages)
    assert "调解不成记录" in pages[0]
    assert "已生效的调解不成记录" in text and "已生效的调解协议" not in text
    assert "各方确认时间" in text and "生效时间" not in text
    log = await read_log(live)
    for who in ("applicant", "respondent"):
        assert expected_identity(log, live.pids[who], "Asia/Shanghai") in text
    check_pages(pages, doc)
    check_seals(live, doc, text, ["judge_a"])


def test_signature_table_never_splits_across_pages() -> None:
    """Whatever the text's length, the signature table sits on one page."""
    now = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    png = signature_png(0).partition(",")[2]
    import base64

    rows = [
        SignatureBlock(f"当事人{i}", "申请人", "", f"核验行{i}", now, base64.b64decode(png))
        for i in range(4)
    ]
    for lines in range(18, 27):
        doc = PdfInput(
            title="调解协议书",
            text="\n".join(f"{i}、条款。" for i in range(lines)),
            text_sha256="ab" * 32,
            version=1,
            session_id="s",
            court_name="甲法院",
            case_number="（2026）测1号",
            effective_at=now,
            verify_url="http://court.test/verify/agreement/x",
            signatures=rows,
        )
        out = render(doc)
        pages = pdf_pages(out.pdf)
        assert out.pages == len(pages)
        holding = [i for i, p in enumerate(pages) if any(f"核验行{j}" in p for j in range(4))]
        assert len(holding) == 1, f"{lines} lines: rows on pages {holding}"
        assert all(f"核验行{j}" in pages[holding[0]] for j in range(4))
        assert "当事人签名/Signatures" in pages[holding[0]]


def test_seal_verifies_only_unchanged(tmp_path: Path) -> None:
    key = ServerKey.load_or_create(tmp_path / "keys")
    other = ServerKey.load_or_create(tmp_path / "other")
    at = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    s = seal(key, signer="调解员甲", role="mediator", text_sha256="ab" * 32, at=at)
    assert verify_seal(key.public_key, s)
    assert s == seal(key, signer="调解员甲", role="mediator", text_sha256="ab" * 32, at=at)
    assert not verify_seal(other.public_key, s)
    assert not verify_seal(key.public_key, {**s, "payload": {**s["payload"], "signer": "乙"}})
    assert not verify_seal(key.public_key, {**s, "signature": "not base64!"})
    assert not verify_seal(key.public_key, {"payload": "x"})


# --- the 调解笔录 -----------------------------------------------------------------------------
async def record_outputs(live: LiveSession, tmp_path: Path) -> tuple[str, str, str]:
    """The record's text, its PDF text and its DOCX text."""
    state = live.harness.app[STATE_KEY]
    async with state.db.session() as db:
        session = await db.get(MediationSession, live.session_id)
        assert session is not None
        data = await load_record(db, session)
        again = await load_record(db, session)
    assert data.text == again.text and data.sha256 == again.sha256  # deterministic
    pdf = render_record(data, "pdf", tmp_path / "r.pdf", tmp_path / "fonts", None)
    docx_path = render_docx(data, tmp_path / "r.docx")
    document = docx.Document(str(docx_path))
    docx_text = "\n".join(
        [p.text for p in document.paragraphs]
        + [c.text for t in document.tables for row in t.rows for c in row.cells]
    )
    return data.text, "".join(pdf_pages(pdf.read_bytes())), docx_text


def fact_line(text: str, key: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"{key}："))


async def test_record_when_the_terminal_never_joined(
    live_terminal: LiveSession, tmp_path: Path
) -> None:
    """A terminal was scheduled but nobody used it: both parties joined from home."""
    live = live_terminal
    mediator = await join(live, "mediator")
    applicant = await join(live, "applicant")
    respondent = await join(live, "respondent")
    await mediator.wait_until(lambda: len(mediator.lobby()) == 2)
    for who in ("applicant", "respondent"):
        await admit(mediator, live.pids[who], ADMIT_REASON)
    for c in (applicant, respondent):
        await c.wait_until(lambda c=c: c.presence == "admitted")
    await mediator.call("start_session")
    await mediator.call("end_session", {"outcome": "failed", "note": "双方分歧较大"})

    log = await read_log(live)
    assert live.pids["terminal"] not in log.present
    text, pdf_text, docx_text = await record_outputs(live, tmp_path)
    assert fact_line(text, "地点") == "地点：线上调解（各方通过自有设备参加）"
    assert fact_line(text, "参加人") == "参加人：申请人甲（申请人）、被申请人乙（被申请人）"
    assert "测试村" not in text and "测试村" not in pdf_text and "测试村" not in docx_text
    assert flat("线上调解（各方通过自有设备参加）") in pdf_text
    assert "线上调解（各方通过自有设备参加）" in docx_text
    identities = fact_line(text, "身份核验")
    for who in ("applicant", "respondent"):
        assert log.override[live.pids[who]] == ADMIT_REASON
    assert identities.count(f"身份未核验（调解员书面准入：{ADMIT_REASON}）") == 2
    assert "核验 ·" not in text
    assert (
        log.outcome == "failed"
        and fact_line(text, "调解结果") == "调解结果：调解不成。双方分歧较大"
    )


async def test_record_when_one_party_sat_at_the_terminal(
    live_terminal: LiveSession, tmp_path: Path
) -> None:
    """The terminal joined and its 庭务主任 checked the applicant in person; the respondent
    joined from their own device."""
    live = live_terminal
    await set_court(live, timezone=URUMQI)
    mediator = await join(live, "mediator")
    terminal = await join(live, "terminal")
    applicant = await join(live, "applicant")
    respondent = await join(live, "respondent")
    await mediator.wait_until(lambda: len(mediator.lobby()) == 3)
    await admit(mediator, live.pids["terminal"])
    await terminal.call(
        "identity_submit",
        {"name": "申请人甲", "id_number": APPLICANT_ID, "participant_id": live.pids["applicant"]},
    )
    await terminal.call(
        "identity_verify",
        {"participant_id": live.pids["applicant"], "method": "in_person_terminal"},
    )
    await admit(mediator, live.pids["applicant"])
    await respondent.call("identity_submit", {"name": "被申请人乙", "id_number": RESPONDENT_ID})
    await admit(mediator, live.pids["respondent"], ADMIT_REASON)
    for c in (applicant, respondent):
        await c.wait_until(lambda c=c: c.presence == "admitted")
    await mediator.call("start_session")
    await mediator.call("end_session", {"outcome": "failed"})

    log = await read_log(live)
    assert {live.pids[w] for w in ("terminal", "applicant", "respondent")} <= log.present
    assert log.via[live.pids["respondent"]] == f"participant:{live.pids['respondent']}"
    text, pdf_text, docx_text = await record_outputs(live, tmp_path)
    place = "测试村共享法庭（测试村村民服务中心）：申请人甲；被申请人乙：远程（自有设备）"
    assert fact_line(text, "地点") == f"地点：{place}"
    assert flat(place) in pdf_text and place in docx_text
    participants = fact_line(text, "参加人")
    for who in ("terminal", "applicant", "respondent"):
        async with live.harness.app[STATE_KEY].db.session() as db:
            part = await db.get(SessionParticipant, live.pids[who])
        assert part is not None and f"{part.display_name}（{part.role_label}）" in participants
    ev = log.verified[live.pids["applicant"]]
    local = ev.at.astimezone(ZoneInfo(URUMQI))
    identities = fact_line(text, "身份核验")
    assert (
        f"申请人甲（申请人）：终端现场核验 · {ev.details['verifier']} · {local:%Y年%m月%d日 %H:%M}"
    ) in identities
    assert f"被申请人乙（被申请人）：身份未核验（调解员书面准入：{ADMIT_REASON}）" in identities
    assert "（Asia/Urumqi）" in fact_line(text, "时间")
    assert flat(identities) in pdf_text


# --- templates ----------------------------------------------------------------------------------
PERSON = "张三"


def role_label(role: PartyRole) -> str:
    return {PartyRole.applicant: "申请人", PartyRole.respondent: "被申请人"}[role]


def mentions(text: str, name: str) -> Iterator[str]:
    """The text before each mention of ``name``."""
    start = 0
    while (i := text.find(name, start)) >= 0:
        yield text[:i]
        start = i + len(name)


def named_with_role(text: str, name: str, role: PartyRole) -> bool:
    """Every mention of ``name`` is preceded by its own role ("申请人" is a suffix of
    "被申请人", so an applicant's mention must not be preceded by "被申请人")."""
    label = role_label(role)
    for before in mentions(text, name):
        before = before.removesuffix("：")
        if not before.endswith(label):
            return False
        if role == PartyRole.applicant and before.endswith("被申请人"):
            return False
    return True


async def templated_session(
    harness: Harness, case_type: CaseType, company_role: PartyRole, organisation: bool
) -> str:
    person_role = (
        PartyRole.respondent if company_role == PartyRole.applicant else PartyRole.applicant
    )
    state = harness.app[STATE_KEY]
    async with state.db.session() as s:
        judge = await s.scalar(select(User).where(User.username == "judge_a"))
        assert judge is not None
        case = Case(
            court_id=harness.seed.court_a,
            case_number=f"模板{case_type.value}{company_role.value}{organisation}",
            case_type=case_type,
            title="物业费及维修纠纷",
            description="申请人请求对方履行合同义务",
        )
        s.add(case)
        await s.flush()
        parties = sorted(
            [
                Party(
                    case_id=case.id, name=ORG_NAME, role=company_role, is_organisation=organisation
                ),
                Party(case_id=case.id, name=PERSON, role=person_role),
            ],
            key=lambda p: p.role != PartyRole.applicant,
        )
        s.add_all(parties)
        await s.flush()
        session = await schedule_session(
            s, case=case, scheduled_at=datetime.now(UTC), mediator=judge, parties=parties
        )
        return session.id


def clause(text: str, needle: str) -> str:
    return next(line for line in text.splitlines() if needle in line)


@pytest.mark.parametrize("company_role", [PartyRole.applicant, PartyRole.respondent])
async def test_templates_name_the_right_party(harness: Harness, company_role: PartyRole) -> None:
    person_role = (
        PartyRole.respondent if company_role == PartyRole.applicant else PartyRole.applicant
    )
    org = role_label(company_role) + ORG_NAME
    person = role_label(person_role) + PERSON
    state = harness.app[STATE_KEY]
    for case_type in CaseType:
        for organisation in (True, False):
            sid = await templated_session(harness, case_type, company_role, organisation)
            async with state.db.session() as db:
                values = await docs.case_fields(db, sid)
            for kind in docs.KINDS:
                text = fill(default_template(case_type.value, kind).body, values)
                where = f"{case_type.value}/{kind}/{company_role.value}/org={organisation}"
                assert "{{" not in text and "}}" not in text, where
                assert named_with_role(text, ORG_NAME, company_role), where
                assert named_with_role(text, PERSON, person_role), where
                assert CASE_TYPE_LABELS[case_type.value] in text, where
                assert "申请人请求对方履行合同义务" in text, where  # the claim, from the case
                # The court and case number are the PDF header's, not the text's.
                assert "甲法院" not in text and "案号" not in text, where
                if kind != "agreement":
                    continue
                # Who pays whom, whichever role the company has.
                if case_type == CaseType.property_management:
                    fee = clause(text, "支付物业服务费")
                    repair = clause(text, "维修/整改")
                    if organisation:
                        assert f"、{person}于" in fee and f"向{org}支付" in fee, where
                        assert f"、{org}于" in repair, where
                    else:  # unknown who the company is: blanks, never a guess
                        assert ORG_NAME not in fee and PERSON not in fee, where
                        assert "业主____" in fee and "物业服务企业____" in fee, where
                elif case_type == CaseType.labour and organisation:
                    pay = clause(text, "支付工资")
                    assert f"{org}（用人单位）" in pay and f"向{person}（劳动者）" in pay, where
                elif case_type == CaseType.finance_insurance and organisation:
                    if company_role == PartyRole.applicant:
                        assert f"{person}确认尚欠{org}" in text, where
                    else:
                        assert f"{org}于____年__月__日前向{person}支付" in text, where


# --- the API --------------------------------------------------------------------------------------
async def test_court_settings_and_organisation_parties_api(harness: Harness) -> None:
    admin = await harness.login("admin_a")
    court = f"/api/courts/{harness.seed.court_a}"
    bad = await admin.patch(court, json={"timezone": "Mars/Olympus"})
    assert bad.status == 400, await bad.text()
    ok = await admin.patch(
        court,
        json={
            "timezone": "Asia/Urumqi",
            "seal_agreements": True,
            "settlement_requires_agreement": True,
        },
    )
    assert ok.status == 200, await ok.text()
    out = await ok.json()
    assert (out["timezone"], out["seal_agreements"], out["settlement_requires_agreement"]) == (
        "Asia/Urumqi",
        True,
        True,
    )
    listed = (await (await admin.get("/api/courts")).json())[0]
    assert listed["timezone"] == "Asia/Urumqi"

    clerk = await harness.login("clerk_a")
    resp = await clerk.post(
        "/api/cases",
        json={
            "case_number": "（2026）组织1号",
            "case_type": "property_management",
            "parties": [
                {"name": "业主张三", "role": "applicant"},
                {"name": ORG_NAME, "role": "respondent", "is_organisation": True},
            ],
        },
    )
    assert resp.status == 201, await resp.text()
    case = await resp.json()
    flags = {p["name"]: p["is_organisation"] for p in case["parties"]}
    assert flags == {"业主张三": False, ORG_NAME: True}
    owner = next(p for p in case["parties"] if p["name"] == "业主张三")
    patched = await clerk.patch(f"/api/parties/{owner['id']}", json={"is_organisation": True})
    assert patched.status == 200 and (await patched.json())["is_organisation"] is True
    added = await clerk.post(
        f"/api/cases/{case['id']}/parties",
        json={"name": "另一公司", "role": "respondent", "is_organisation": True},
    )
    assert added.status == 201 and (await added.json())["is_organisation"] is True
