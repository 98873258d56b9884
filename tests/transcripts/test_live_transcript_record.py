"""Clerk corrections, permissions, the parties' review and the PDF/DOCX export of the record.

The transcript lines are stored directly (as the live transcriber stores them); the room, the
recording and its seal are real: the session is started and ended through socket.io.
"""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import docx
import pytest
from pypdf import PdfReader
from sqlalchemy import select

from recording import verify_folder
from server.models import (
    AuditEvent,
    RecordConfirmation,
    Recording,
    SegmentKind,
    TranscriptSegment,
)
from server.state import STATE_KEY
from signaling.client import RoomClient
from tests.signaling.conftest import LiveSession

T0 = datetime(2024, 5, 20, 2, 0, 0, tzinfo=UTC)  # 10:00 in China
LINES = [
    ("mediator", "法官", "judge_a", 0, "各位当事人好，今天调解物业费纠纷。"),
    ("applicant", "申请人", "张三", 6, "我要求对方支付拖欠的物业费三千元。"),
    ("respondent", "被申请人", "李四", 12, "小区电梯经常坏，我只同意支付两千元。"),
]
CAUCUS_TEXT = "背靠背：我其实可以接受两千五百元。"


async def seed(live: LiveSession, caucus_group: str = "caucus-1") -> list[str]:
    state = live.harness.app[STATE_KEY]
    ids: list[str] = []
    async with state.db.session() as s:
        for who, role, name, offset, text in LINES:
            row = TranscriptSegment(
                session_id=live.session_id,
                court_id=live.harness.seed.court_a,
                document="main",
                kind=SegmentKind.speech,
                speaker_participant_id=live.pids[who],
                speaker_name=name,
                speaker_role=role,
                start_at=T0 + timedelta(seconds=offset),
                end_at=T0 + timedelta(seconds=offset + 4),
                text=text,
                asr_text=text,
            )
            s.add(row)
            await s.flush()
            ids.append(row.id)
        s.add(
            TranscriptSegment(
                session_id=live.session_id,
                court_id=live.harness.seed.court_a,
                document=f"caucus:{caucus_group}",
                kind=SegmentKind.speech,
                speaker_participant_id=live.pids["respondent"],
                speaker_name="李四",
                speaker_role="被申请人",
                start_at=T0 + timedelta(seconds=30),
                end_at=T0 + timedelta(seconds=33),
                text=CAUCUS_TEXT,
                asr_text=CAUCUS_TEXT,
            )
        )
    return ids


def record_case_number(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("案号："))


async def start(live: LiveSession) -> RoomClient:
    mediator = await live.joined("mediator")
    await mediator.call("start_session")
    return mediator


async def end(mediator: RoomClient) -> None:
    await mediator.call("end_session", {
            "outcome": "settled",
            "note": "被申请人同意支付两千五百元",
            "no_agreement_reason": "当场履行",
        })


async def party_get(live: LiveSession, who: str, path: str = "") -> Any:
    client = await live.harness.anon()
    return await client.get(f"/api/join/{live.tokens[who]}/record{path}")


async def party_review(live: LiveSession, who: str, body: dict[str, Any]) -> Any:
    client = await live.harness.anon()
    return await client.post(f"/api/join/{live.tokens[who]}/record/review", json=body)


async def test_clerk_corrections_keep_history_and_asr_text(court_session: LiveSession) -> None:
    live = court_session
    ids = await seed(live)
    # The clerk is in the live room: corrections are pushed to them.
    mediator = await start(live)
    clerk_room = await live.joined("clerk")
    pushed: list[dict[str, Any]] = []
    mediator_pushed: list[dict[str, Any]] = []

    async def on_update(data: dict[str, Any]) -> None:
        pushed.append(data)

    async def on_mediator_update(data: dict[str, Any]) -> None:
        mediator_pushed.append(data)

    clerk_room.sio.on("transcript_update", on_update)
    mediator.sio.on("transcript_update", on_mediator_update)
    clerk = await live.harness.login("clerk_a")
    judge = await live.harness.login("judge_a")
    base = f"/api/sessions/{live.session_id}/transcript"

    resp = await clerk.get(base)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["documents"] == ["main", "caucus:caucus-1"]
    assert [s["text"] for s in body["segments"]] == [line[4] for line in LINES]

    resp = await clerk.patch(
        f"{base}/segments/{ids[1]}", json={"text": "我要求对方支付拖欠的物业费三千元整。"}
    )
    assert resp.status == 200, await resp.text()
    edited = await resp.json()
    assert edited["text"].endswith("三千元整。")
    assert edited["asr_text"] == LINES[1][4]  # what the recogniser heard is kept
    assert edited["updated_by"] == f"user:{live.harness.seed.users['clerk_a']}"
    # Reassign a line to the other speaker (the recogniser's speaker is the track owner, but a
    # terminal shared by two people may need this).
    resp = await judge.patch(
        f"{base}/segments/{ids[2]}", json={"speaker_participant_id": live.pids["applicant"]}
    )
    assert resp.status == 200
    assert (await resp.json())["speaker_name"] == "张三"
    assert (await resp.json())["speaker_role"] == "申请人"
    resp = await clerk.post(
        f"{base}/notes",
        json={"text": "双方出示物业服务合同。", "at": (T0 + timedelta(seconds=9)).isoformat()},
    )
    assert resp.status == 201, await resp.text()
    note = await resp.json()
    assert note["kind"] == "note" and note["speaker_role"] == "书记员"

    resp = await clerk.get(f"{base}/segments/{ids[1]}/edits")
    history = await resp.json()
    assert len(history) == 1
    assert history[0]["before"] == {"text": LINES[1][4]}
    assert history[0]["after"] == {"text": "我要求对方支付拖欠的物业费三千元整。"}
    assert history[0]["editor"] == f"user:{live.harness.seed.users['clerk_a']}"
    resp = await clerk.get(f"{base}/segments/{ids[2]}/edits")
    (change,) = await resp.json()
    assert change["before"]["speaker_participant_id"] == live.pids["respondent"]
    assert change["after"]["speaker_name"] == "张三"
    assert change["editor"] == f"user:{live.harness.seed.users['judge_a']}"
    # The note sits on the timeline between the lines it was inserted between.
    texts = [s["text"] for s in (await (await clerk.get(base)).json())["segments"]]
    assert texts.index("双方出示物业服务合同。") == 2

    await clerk_room.wait_until(lambda: len(pushed) >= 3, what="pushed corrections")
    assert [p["segment"]["id"] for p in pushed] == [ids[1], ids[2], note["id"]]
    assert pushed[0]["document"] == "main"
    assert pushed[0]["segment"]["text"].endswith("三千元整。")
    assert mediator_pushed == []

    # The caucus document is readable by clerks and judges only.
    resp = await judge.get(base, params={"document": "caucus:caucus-1"})
    assert [s["text"] for s in (await resp.json())["segments"]] == [CAUCUS_TEXT]
    resp = await clerk.get(base, params={"document": "../etc"})
    assert resp.status == 400

    async with live.harness.app[STATE_KEY].db.session() as s:
        actions = list(
            await s.scalars(
                select(AuditEvent.action).where(AuditEvent.session_id == live.session_id)
            )
        )
    assert actions.count("transcript.edit") == 2 and "transcript.note" in actions


async def test_who_may_read_and_edit(court_session: LiveSession) -> None:
    live = court_session
    ids = await seed(live)
    base = f"/api/sessions/{live.session_id}/transcript"
    patch = {"text": "改"}
    mediator_user = await live.harness.login("mediator_a")
    for username, expected in (("judge_b", 404), ("clerk_b", 404)):
        other = await live.harness.login(username)
        assert (await other.get(base)).status == expected
        assert (await other.patch(f"{base}/segments/{ids[0]}", json=patch)).status == expected
        assert (await other.get(f"/api/sessions/{live.session_id}/record")).status == expected
    assert (await mediator_user.get(base)).status == 403
    export = f"/api/sessions/{live.session_id}/record/export"
    assert (await mediator_user.post(export, json={"format": "pdf"})).status == 403
    assert (await (await live.harness.login("judge_b")).post(export, json={})).status == 404
    assert (await mediator_user.post(f"{base}/notes", json={"text": "注"})).status == 403
    assert (await mediator_user.patch(f"{base}/segments/{ids[0]}", json=patch)).status == 403
    anon = await live.harness.anon()
    assert (await anon.get(base)).status == 401
    # A party's join link is no staff login: cannot read or edit the transcript.
    headers = {"Authorization": f"Bearer {live.tokens['applicant']}"}
    assert (await anon.get(base, headers=headers)).status == 401
    assert (
        await anon.patch(f"{base}/segments/{ids[0]}", json=patch, headers=headers)
    ).status == 401
    # A segment of another session is not reachable through this one.
    clerk = await live.harness.login("clerk_a")
    resp = await clerk.patch(f"/api/sessions/{'0' * 32}/transcript/segments/{ids[0]}", json=patch)
    assert resp.status == 404
    resp = await clerk.patch(f"{base}/segments/{ids[0]}", json={"speaker_participant_id": "f" * 32})
    assert resp.status == 400
    assert (await clerk.patch(f"{base}/segments/{ids[0]}", json={})).status == 400
    async with live.harness.app[STATE_KEY].db.session() as s:
        row = await s.get(TranscriptSegment, ids[0])
        assert row is not None and row.text == LINES[0][4]


async def test_parties_review_and_export_with_seal(court_session: LiveSession) -> None:
    live = court_session
    ids = await seed(live)
    mediator = await start(live)
    resp = await party_get(live, "applicant")
    assert resp.status == 409  # not before the session ends
    await end(mediator)

    resp = await party_get(live, "applicant")
    assert resp.status == 200, await resp.text()
    record = await resp.json()
    text = record["text"]
    assert record["sha256"] == hashlib.sha256(text.encode()).hexdigest()
    assert record["your_review"] is None
    assert "张三（申请人）：我要求对方支付拖欠的物业费三千元。" in text
    assert "[10:00:00]" in text  # China time
    assert "物业服务合同纠纷" in text and "调解成功" in text
    # The terminal was scheduled but never joined: the record does not place anyone there.
    assert "桃源村共享法庭" not in text and "地点：线上调解（各方通过自有设备参加）" in text
    assert CAUCUS_TEXT not in text  # caucus stays out of the record

    # Confirm what was read; object with a note; a wrong hash or an empty objection is refused.
    ok = await party_review(
        live, "applicant", {"confirmed": True, "record_sha256": record["sha256"]}
    )
    assert ok.status == 201, await ok.text()
    assert (await ok.json())["current"] is True
    stale = await party_review(live, "respondent", {"confirmed": True, "record_sha256": "0" * 64})
    assert stale.status == 409
    assert (await stale.json())["error"]["code"] == "record_changed"
    empty = await party_review(
        live, "respondent", {"confirmed": False, "record_sha256": record["sha256"]}
    )
    assert empty.status == 400
    objection = await party_review(
        live,
        "respondent",
        {
            "confirmed": False,
            "objection": "我说的是两千元，不是三千元。",
            "record_sha256": record["sha256"],
        },
    )
    assert objection.status == 201
    assert (
        await party_review(live, "mediator", {"confirmed": True, "record_sha256": record["sha256"]})
    ).status == 403
    async with live.harness.app[STATE_KEY].db.session() as s:
        rows = list(
            await s.scalars(
                select(RecordConfirmation).where(RecordConfirmation.session_id == live.session_id)
            )
        )
        audit = list(
            await s.scalars(
                select(AuditEvent).where(AuditEvent.action.in_(["record.confirm", "record.object"]))
            )
        )
    assert {(r.participant_id, r.confirmed, r.record_sha256) for r in rows} == {
        (live.pids["applicant"], True, record["sha256"]),
        (live.pids["respondent"], False, record["sha256"]),
    }
    assert all(r.at is not None and r.ip for r in rows)
    assert {a.actor for a in audit} == {
        f"participant:{live.pids['applicant']}",
        f"participant:{live.pids['respondent']}",
    }

    # A later correction makes the applicant's confirmation stale until they confirm again.
    clerk = await live.harness.login("clerk_a")
    resp = await clerk.patch(
        f"/api/sessions/{live.session_id}/transcript/segments/{ids[2]}",
        json={"text": "小区电梯经常坏，我只同意支付两千元，请物业先修电梯。"},
    )
    assert resp.status == 200
    resp = await party_get(live, "applicant")
    assert (await resp.json())["your_review"]["current"] is False
    states = {
        p["name"]: p["state"]
        for p in (await (await clerk.get(f"/api/sessions/{live.session_id}/record")).json())[
            "parties"
        ]
    }
    assert states == {"张三": "stale", "李四": "objected"}
    fresh = await (await party_get(live, "applicant")).json()
    assert (
        await party_review(live, "applicant", {"confirmed": True, "record_sha256": fresh["sha256"]})
    ).status == 201

    # Export: PDF and DOCX, each sealed into the session's manifest.
    state = live.harness.app[STATE_KEY]
    async with state.db.session() as s:
        rec = await s.scalar(select(Recording).where(Recording.session_id == live.session_id))
    assert rec is not None
    folder = Path(state.settings.effective_recordings_dir) / rec.folder
    pdf = await clerk.post(f"/api/sessions/{live.session_id}/record/export", json={"format": "pdf"})
    assert pdf.status == 200, await pdf.text()
    assert pdf.content_type == "application/pdf"
    pdf_bytes = await pdf.read()
    assert pdf.headers["X-Content-SHA256"] == hashlib.sha256(pdf_bytes).hexdigest()
    assert pdf.headers["X-Sealed"] == "true"
    pdf_text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf_bytes)).pages)
    compact = "".join(pdf_text.split())
    for expected in (
        "甲法院CourtA",
        "".join(record_case_number(text).split()),
        "调解笔录",
        "物业服务合同纠纷",
        "线上调解（各方通过自有设备参加）",
        "judge_a",
        "clerk_a",
        "张三（申请人）",
        "我要求对方支付拖欠的物业费三千元。",
        "请物业先修电梯",
        "被申请人同意支付两千五百元",  # the outcome note
        "调解成功",
        "确认无误",
        "提出异议",
        "我说的是两千元，不是三千元。",
        "签名",
    ):
        assert expected in compact, expected
    assert CAUCUS_TEXT not in compact

    docx_resp = await clerk.post(
        f"/api/sessions/{live.session_id}/record/export", json={"format": "docx"}
    )
    assert docx_resp.status == 200
    docx_bytes = await docx_resp.read()
    document = docx.Document(io.BytesIO(docx_bytes))
    paragraphs = "\n".join(p.text for p in document.paragraphs)
    cells = "\n".join(c.text for t in document.tables for row in t.rows for c in row.cells)
    assert "我要求对方支付拖欠的物业费三千元。" in paragraphs
    assert "调解成功" in paragraphs
    assert "确认无误" in cells and "提出异议" in cells and "签名：" in cells
    assert "物业服务合同纠纷" in cells

    manifest = json.loads((folder / "manifest.json").read_text())
    documents = {f["sha256"]: f for f in manifest["files"] if f.get("kind") == "document"}
    assert pdf.headers["X-Content-SHA256"] in documents
    assert docx_resp.headers["X-Content-SHA256"] in documents
    assert documents[pdf.headers["X-Content-SHA256"]]["title"] == "调解笔录（PDF）"
    report = verify_folder(folder)
    assert report.ok, report.problems
    async with state.db.session() as s:
        rec2 = await s.get(Recording, rec.id)
        assert rec2 is not None
        assert (
            rec2.manifest_sha256
            == hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()
        )


async def test_export_without_font_fails_clearly(
    court_session: LiveSession, tmp_path: Path
) -> None:
    live = court_session
    await seed(live)
    live.harness.app[STATE_KEY].settings.record_font = tmp_path / "missing.ttc"
    clerk = await live.harness.login("clerk_a")
    resp = await clerk.post(
        f"/api/sessions/{live.session_id}/record/export", json={"format": "pdf"}
    )
    assert resp.status == 503
    error = (await resp.json())["error"]
    assert error["code"] == "font_missing"
    assert "missing.ttc" in error["message"] and "字体" in error["message"]
    # DOCX names its font instead of embedding it, so it still works.
    resp = await clerk.post(
        f"/api/sessions/{live.session_id}/record/export", json={"format": "docx"}
    )
    assert resp.status == 200
    assert resp.headers["X-Sealed"] == "false"  # no session was recorded: nothing to seal into


@pytest.mark.parametrize("fmt", ["xlsx"])
async def test_export_format_is_validated(court_session: LiveSession, fmt: str) -> None:
    clerk = await court_session.harness.login("clerk_a")
    resp = await clerk.post(
        f"/api/sessions/{court_session.session_id}/record/export", json={"format": fmt}
    )
    assert resp.status == 400
