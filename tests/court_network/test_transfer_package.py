"""The transfer-to-litigation package of a failed mediation: the 调解不成 record, the 调解笔录, the
recordings by reference, the mediator by name, and a manifest of every file's SHA-256 signed
with the deployment's recording key, checked here independently with `cryptography`."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from server.court_network.service import on_session_ended, on_session_started
from server.models import (
    MediationSession,
    Outcome,
    Recording,
    RecordingStatus,
    SegmentKind,
    SessionStatus,
    TranscriptSegment,
    User,
)
from server.state import STATE_KEY
from tests.api.world import ok_json
from tests.court_network.net import intake_body, profile
from tests.court_network.test_flow import PDF, form


async def _failed_intake(h: Any, n: Any) -> tuple[dict[str, Any], list[str]]:
    """An intake with an attachment and two sessions that both end 调解不成; the first has a
    transcript and a sealed recording, the second neither."""
    u = h.seed.users
    await profile(
        n.admin, u["mediator_a"], specialties=["marriage_family"], shared_court_ids=[n.village]
    )
    made = await ok_json(
        await n.terminal.post("/api/network/terminal/intakes", headers=n.tauth, json=intake_body()),
        201,
    )
    await ok_json(
        await n.terminal.post(
            f"/api/network/terminal/intakes/{made['id']}/attachments",
            headers=n.tauth,
            data=form(PDF, "证据.pdf", "application/pdf"),
        ),
        201,
    )
    await ok_json(
        await n.clerk.post(
            f"/api/network/intakes/{made['id']}/assign", json={"mediator_id": u["mediator_a"]}
        )
    )
    state = h.app[STATE_KEY]
    sessions = []
    for days, outcome in ((1, None), (2, "failed")):
        sess = await ok_json(
            await n.clerk.post(
                "/api/sessions",
                json={
                    "case_id": made["case_id"],
                    "scheduled_at": (datetime.now(UTC) + timedelta(days=days)).isoformat(),
                    "mediator_id": u["mediator_a"],
                },
            ),
            201,
        )
        sessions.append(sess["id"])
        await on_session_started(state, sess["id"])
        # what the live room writes on the session row when it closes
        async with state.db.session() as db:
            row = await db.get(MediationSession, sess["id"])
            assert row is not None
            row.status = SessionStatus.ended
            row.started_at = datetime.now(UTC) - timedelta(hours=1)
            row.ended_at = datetime.now(UTC)
            if outcome is not None:
                row.outcome = Outcome(outcome)
                row.outcome_note = "分歧过大，调解不成"
        if outcome is None:
            # a first session that leaves the dispute open: the follow-up is scheduled
            await ok_json(
                await n.clerk.post(
                    f"/api/network/intakes/{made['id']}/transition",
                    json={"status": "scheduled", "note": "再次调解"},
                )
            )
        else:
            await on_session_ended(state, sess["id"], outcome, "分歧过大，调解不成")
    # the first session has a transcript and a sealed recording
    first = sessions[0]
    folder = state.settings.effective_recordings_dir / "rec-transfer-test"
    folder.mkdir(parents=True)
    manifest = b'{"session": "%s"}\n' % first.encode()
    (folder / "manifest.json").write_bytes(manifest)
    (folder / "manifest.json.sig").write_bytes(b"\x01" * 64)
    now = datetime.now(UTC)
    async with state.db.session() as db:
        db.add(
            TranscriptSegment(
                session_id=first,
                court_id=made["court_id"],
                kind=SegmentKind.speech,
                speaker_name="张三",
                speaker_role="申请人",
                start_at=now,
                end_at=now + timedelta(seconds=5),
                text="我要求对方返还彩礼。",
            )
        )
        db.add(
            Recording(
                session_id=first,
                court_id=made["court_id"],
                folder=folder.name,
                status=RecordingStatus.sealed,
                sealed_at=now,
                manifest_sha256=hashlib.sha256(manifest).hexdigest(),
                size_bytes=1234,
            )
        )
    return made, sessions


async def test_transfer_package_is_complete_and_signed(h2: Any) -> None:
    h, n = h2
    made, (first, second) = await _failed_intake(h, n)
    pkg = await n.clerk.get(f"/api/network/intakes/{made['id']}/transfer-package")
    assert pkg.status == 200, await pkg.text()
    zf = zipfile.ZipFile(io.BytesIO(await pkg.read()))
    names = set(zf.namelist())

    # every file but the manifest and its signature is listed with its SHA-256, and matches
    manifest_bytes = zf.read("manifest.json")
    manifest = json.loads(manifest_bytes)
    assert set(manifest) == names - {"manifest.json", "manifest.sig"}
    for name, digest in manifest.items():
        assert hashlib.sha256(zf.read(name)).hexdigest() == digest, name

    # the signature verifies with the key the server publishes, and only over these bytes
    anon = await h.anon()
    pem = await (await anon.get("/api/keys/recording.pem")).read()
    public = load_pem_public_key(pem)
    assert isinstance(public, Ed25519PublicKey)
    signature = zf.read("manifest.sig")
    assert len(signature) == 64
    public.verify(signature, manifest_bytes)
    try:
        public.verify(signature, manifest_bytes.replace(b'"', b"'", 1))
    except InvalidSignature:
        pass
    else:
        raise AssertionError("a changed manifest must not verify")

    # the 调解不成 record: sessions with outcome, note, times and the mediator by name and id
    async with h.app[STATE_KEY].db.session() as db:
        mediator = await db.get(User, h.seed.users["mediator_a"])
        assert mediator is not None
        mediator_name = mediator.display_name
    assert mediator_name
    outcome = json.loads(zf.read("outcome.json"))
    assert outcome["status"] == "failed" and outcome["number"] == made["number"]
    assert outcome["closing_transition"]["to_status"] == "failed"
    assert outcome["mediator"] == {"id": h.seed.users["mediator_a"], "name": mediator_name}
    by_id = {s["id"]: s for s in outcome["sessions"]}
    assert set(by_id) == {first, second}
    last = by_id[second]
    assert last["outcome"] == "failed" and last["outcome_label"] == "调解不成"
    assert last["outcome_note"] == "分歧过大，调解不成"
    assert last["started_at"] and last["ended_at"] and last["scheduled_at"]
    assert last["mediator"]["name"] == mediator_name
    intake = json.loads(zf.read("intake.json"))
    assert intake["mediator"]["name"] == mediator_name
    assert intake["status"] == "failed"

    # the 调解笔录 of the session with a transcript; the other one is said to have none
    package = json.loads(zf.read("package.json"))
    records = {r["session_id"]: r for r in package["records"]}
    assert records[second]["file"] is None and "no transcript" in records[second]["note"]
    record_file = records[first]["file"]
    assert record_file in names and record_file.startswith(f"records/{first}-调解笔录.")
    body = zf.read(record_file)
    assert body.startswith(b"%PDF") or body.startswith(b"PK")  # PDF, or DOCX (a ZIP)
    assert package["signature"]["algorithm"] == "Ed25519"
    assert package["signature"]["public_key"] == "/api/keys/recording.pem"

    # the recording by reference: id, manifest hash and seal, no media
    recordings = json.loads(zf.read("recordings.json"))["recordings"]
    (rec,) = recordings
    assert rec["session_id"] == first and rec["status"] == "sealed"
    assert (
        rec["manifest_sha256"]
        == hashlib.sha256(b'{"session": "%s"}\n' % first.encode()).hexdigest()
    )
    assert rec["seal_ed25519_base64"]
    assert not any(name.startswith("recordings/") for name in names)

    # the attachment, hashed
    (att,) = [name for name in names if name.startswith("attachments/")]
    assert zf.read(att) == PDF


async def test_only_failed_intakes_have_a_package(h2: Any) -> None:
    _h, n = h2
    made = await ok_json(
        await n.clerk.post("/api/network/intakes", json=intake_body(shared_court_id=n.village)), 201
    )
    resp = await n.clerk.get(f"/api/network/intakes/{made['id']}/transfer-package")
    assert resp.status == 409
