"""The judicial-confirmation package of a really recorded session verifies on its own.

Real aiortc peers in a real room: the session is recorded, the agreement signed and effective
(one party a company signing through its legal representative), the session ended and sealed,
the record reviewed by both parties. The package is downloaded through the HTTP API, unzipped
into an empty folder and checked with the installed `shared-court verify`, as a judge would.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from sqlalchemy import select

from recording.keys import load_public_key
from server.agreements.models import AgreementDocument
from server.agreements.seal import verify_seal
from server.agreements.verification import mask_name
from server.models import (
    Party,
    Recording,
    RecordingStatus,
    SessionParticipant,
)
from server.state import STATE_KEY
from signaling.features.recording import RECORDING
from tests.agreements.helpers import APPLICANT_ID, RESPONDENT_ID, admitted_room, signature_png
from tests.signaling.conftest import LiveSession

COMPANY = "杭州某某物业有限公司"
REPRESENTATIVE = "王五"


def cli() -> list[str]:
    exe = Path(sys.executable).with_name("shared-court")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "server.cli"]


def verify(folder: Path, key: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli(), "verify", str(folder), "--key", str(key)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_masking() -> None:
    assert mask_name("张三") == "张*"
    assert mask_name("李四") == "李*"
    assert mask_name("欧阳娜娜") == "欧***"
    assert mask_name(COMPANY, organisation=True) == "杭州**物业有限公司"
    assert mask_name("杭州物业有限公司", organisation=True) == "杭州**有限公司"
    assert mask_name("某某合作社", organisation=True) == "某*合作社"
    assert COMPANY not in mask_name(COMPANY, organisation=True)


async def _make_respondent_a_company(live: LiveSession) -> None:
    state = live.harness.app[STATE_KEY]
    async with state.db.session() as db:
        part = await db.get(SessionParticipant, live.pids["respondent"])
        assert part is not None and part.party_id
        party = await db.get(Party, part.party_id)
        assert party is not None
        party.name = part.display_name = COMPANY
        party.is_organisation = True


async def _sign(c: Any, view: dict[str, Any], seed: int, **extra: str) -> dict[str, Any]:
    ack: dict[str, Any] = await c.call(
        "agreement_sign",
        {
            "version": view["version"],
            "text_sha256": view["text_sha256"],
            "confirm": True,
            "signature_png": signature_png(seed),
            **extra,
        },
    )
    return ack


async def _wait_sealed(live: LiveSession) -> None:
    state = live.harness.app[STATE_KEY]
    for _ in range(200):
        async with state.db.session() as db:
            rows = list(
                await db.scalars(select(Recording).where(Recording.session_id == live.session_id))
            )
            doc = await db.scalar(
                select(AgreementDocument).where(AgreementDocument.session_id == live.session_id)
            )
        if (
            rows
            and all(r.status == RecordingStatus.sealed for r in rows)
            and doc is not None
            and doc.sealed_folder
        ):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the recording and the agreement were not sealed")


async def test_judicial_package_verifies_offline(live: LiveSession, tmp_path: Path) -> None:
    await _make_respondent_a_company(live)
    mediator, applicant, respondent = await admitted_room(live)
    app_pid, resp_pid = live.pids["applicant"], live.pids["respondent"]
    await applicant.call("identity_submit", {"name": "申请人甲", "id_number": APPLICANT_ID})
    await respondent.call("identity_submit", {"name": REPRESENTATIVE, "id_number": RESPONDENT_ID})
    await mediator.call("start_session")
    for c in (mediator, applicant, respondent):
        await c.start_media()
    assert mediator.media is not None
    await mediator.media.wait_for_frames(app_pid, "video", 20, timeout_s=30)
    # The applicant is checked on camera; the company's representative stays unverified
    # (admitted with the mediator's written reason).
    await mediator.call("identity_verify", {"participant_id": app_pid, "method": "online_visual"})

    opened = (await mediator.call("agreement_open"))["agreement"]
    text = opened["text"] + "\n一、被申请人于2026年12月31日前完成小区电梯维修。"
    await mediator.call("agreement_edit", {"text": text, "base_version": opened["version"]})
    view = (await mediator.call("agreement_request_signatures"))["agreement"]
    await _sign(applicant, view, 1)
    # The company signs through its legal representative.
    done = await _sign(
        respondent,
        view,
        2,
        signatory_name=REPRESENTATIVE,
        signatory_capacity="legal_representative",
    )
    assert done["effective"]
    state = live.harness.app[STATE_KEY]

    judge = await live.harness.login("judge_a")
    url = f"/api/sessions/{live.session_id}/judicial-package"
    # While recording: refused, saying precisely why (never "not recorded").
    resp = await judge.get(url)
    assert resp.status == 409, await resp.text()
    err = (await resp.json())["error"]
    assert err["code"] == "recording_in_progress"
    assert "录制进行中，结束调解后封存" in err["message"]
    status = await (await judge.get(f"/api/judicial-packages?sessions={live.session_id}")).json()
    assert [(s["available"], s["code"]) for s in status] == [(False, "recording_in_progress")]

    await asyncio.sleep(2.0)
    await mediator.call("end_session", {"outcome": "settled", "note": "达成协议"})
    await _wait_sealed(live)

    # The parties review the record: one confirms, the company objects.
    anon = await live.harness.anon()
    for who, body in (
        ("applicant", {"confirmed": True}),
        ("respondent", {"confirmed": False, "objection": "维修期限记录有误"}),
    ):
        token = live.tokens[who]
        record = await (await anon.get(f"/api/join/{token}/record")).json()
        r = await anon.post(
            f"/api/join/{token}/record/review",
            json={**body, "record_sha256": record["sha256"]},
        )
        assert r.status == 201, await r.text()
    status = await (await judge.get(f"/api/judicial-packages?sessions={live.session_id}")).json()
    assert status[0]["available"], status

    resp = await judge.get(url)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"].startswith("application/zip")
    pkg = tmp_path / "package"
    pkg.mkdir()
    with zipfile.ZipFile(io.BytesIO(await resp.read())) as zf:
        zf.extractall(pkg)
    assert not list(state.settings.data_dir.joinpath("packages").glob("*.zip")), "temp removed"

    key = pkg / "server-public-key.pem"
    assert key.read_bytes() == state.part(RECORDING).key.public_pem()
    folders = sorted(p for p in pkg.iterdir() if p.is_dir() and p.name.startswith("sealed-record"))
    assert [f.name for f in folders] == ["sealed-record"]
    for folder in (pkg, *folders):
        done_ = verify(folder, key)
        assert done_.returncode == 0, done_.stdout + done_.stderr
        assert "校验通过" in done_.stdout

    # The segment is complete: events, every track and its sidecar, the sealed documents.
    seg = folders[0]
    manifest = json.loads((seg / "manifest.json").read_text())
    tracks = [f for f in manifest["files"] if f.get("kind") == "track"]
    assert len(tracks) >= 4 and all((seg / t["name"]).is_file() for t in tracks)
    assert (seg / "events.jsonl").is_file()
    pdf = (pkg / "调解协议书.pdf").read_bytes()
    pdf_sha = hashlib.sha256(pdf).hexdigest()
    assert pdf_sha in {f["sha256"] for f in manifest["files"]}
    async with state.db.session() as db:
        doc = await db.scalar(
            select(AgreementDocument).where(AgreementDocument.session_id == live.session_id)
        )
        assert doc is not None and doc.pdf_sha256 == pdf_sha

    # The 调解笔录 and the reviews (with times and the text hash each review confirmed).
    assert (pkg / "调解笔录.pdf").read_bytes().startswith(b"%PDF-")
    record_text = (pkg / "调解笔录.txt").read_bytes()
    reviews = json.loads((pkg / "record-reviews.json").read_text())
    assert reviews["record_sha256"] == hashlib.sha256(record_text).hexdigest()
    decisions = {r["participant_id"]: r for r in reviews["reviews"]}
    assert decisions[app_pid]["decision"] == "confirmed"
    assert decisions[resp_pid]["decision"] == "objected"
    assert decisions[resp_pid]["objection"] == "维修期限记录有误"
    for r in decisions.values():
        assert r["record_sha256"] == reviews["record_sha256"] and r["matches_record_in_package"]
        assert r["at"].endswith("+08:00")  # the court's zone, not raw UTC

    # Every party's identity, the company with the person who signed for it.
    idents = {
        p["participant_id"]: p for p in json.loads((pkg / "identities.json").read_text())["parties"]
    }
    assert set(idents) == {app_pid, resp_pid}
    assert idents[app_pid]["identity"]["verified"] is True
    assert idents[app_pid]["identity"]["id_masked"] == "3301**********1205"
    company = idents[resp_pid]
    assert company["organisation"] is True and company["name"] == COMPANY
    assert company["signatory"]["name"] == REPRESENTATIVE
    assert company["signatory"]["capacity"] == "legal_representative"
    assert company["signatory"]["capacity_label"] == "法定代表人"
    assert company["identity"]["verified"] is False
    assert company["identity"]["override_reason"]
    assert company["signature"]["text_sha256"] == view["text_sha256"]
    for raw in (pkg / "identities.json", pkg / "identity-verifications.json"):
        assert APPLICANT_ID.encode() not in raw.read_bytes()

    # The agreement's electronic seals, whole, check with the package's public key.
    sealed = json.loads((pkg / "seals.json").read_text())
    public = load_public_key((pkg / "server-public-key.pem").read_bytes())
    assert sealed["text_sha256"] == view["text_sha256"] and sealed["seals"]
    assert all(verify_seal(public, one) for one in sealed["seals"])

    readme = (pkg / "README.txt").read_text()
    assert "shared-court verify sealed-record --key server-public-key.pem" in readme
    assert pdf_sha in readme and "sealed-record/manifest.json" in readme
    assert "背靠背" in readme and "session not recorded" not in readme

    # Tampering with one byte of any file is caught.
    target = pkg / "调解笔录.pdf"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    bad = verify(pkg, key)
    assert bad.returncode == 1 and "调解笔录.pdf" in bad.stdout, bad.stdout
    track = seg / tracks[0]["name"]
    data = bytearray(track.read_bytes())
    data[-10] ^= 0x01
    track.write_bytes(bytes(data))
    bad = verify(seg, key)
    assert bad.returncode == 1 and tracks[0]["name"] in bad.stdout, bad.stdout


async def test_package_refused_before_the_agreement_is_effective(live: LiveSession) -> None:
    judge = await live.harness.login("judge_a")
    resp = await judge.get(f"/api/sessions/{live.session_id}/judicial-package")
    assert resp.status == 409
    assert (await resp.json())["error"]["code"] == "not_effective"
    status = await (
        await judge.get(f"/api/judicial-packages?sessions={live.session_id},{'0' * 32}")
    ).json()
    # Sessions the caller cannot see are left out.
    assert [(s["session_id"], s["code"]) for s in status] == [(live.session_id, "not_effective")]


async def test_caucus_tracks_are_withheld_and_the_copy_still_verifies(tmp_path: Path) -> None:
    """A session that recorded a caucus: the package copy leaves the caucus tracks out (they are
    confidential) under a manifest revision the server signs, the original seal beside it."""
    from recording import ServerKey, SessionRecorder, verify_folder
    from recording.keys import signature_valid
    from recording.synthetic import synthetic_audio, synthetic_video
    from server.agreements.package import SEALED_MANIFEST, Segment, copy_segment, plan_segments
    from tests.recording.recording_helpers import feed

    key = ServerKey.load_or_create(tmp_path / "keys")
    rec = await SessionRecorder.start(
        tmp_path / "recordings", case_id="c1", session_id="s1", key=key, record_caucus=True
    )
    t0 = 1_700_000_000.0
    video, audio = rec.open_track("p1", "video"), rec.open_track("p1", "audio")
    assert video is not None and audio is not None
    feed(video, synthetic_video(1.0, start_wallclock=t0, width=160, height=120, fps=10))
    feed(audio, synthetic_audio(1.0, start_wallclock=t0))
    video.on_end()
    audio.on_end()
    caucus = rec.open_track("p1", "audio", caucus_group="g1")
    assert caucus is not None
    feed(caucus, synthetic_audio(1.0, start_wallclock=t0 + 1.5, frequency=550.0))
    caucus.on_end()
    await rec.seal()

    class _Settings:
        effective_recordings_dir = tmp_path / "recordings"

    class _State:
        settings = _Settings()

    row = Recording(folder=rec.folder.name, status=RecordingStatus.sealed)
    [seg] = plan_segments(_State(), [row])  # type: ignore[arg-type]
    assert isinstance(seg, Segment) and seg.target == "sealed-record"
    withheld = {w["name"] for w in seg.withheld}
    assert withheld and all("caucus-g1" in n for n in withheld)
    target = tmp_path / "copy"
    copy_segment(seg, target, key)

    assert not any((target / n).exists() for n in withheld)
    report = verify_folder(target, key.public_key)
    assert report.ok, report.problems
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["previous_manifest_sha256"] == seg.manifest_sha256
    assert {w["name"] for w in manifest["judicial_package_copy"]["withheld"]} == withheld
    assert not any(f.get("caucus") for f in manifest["files"])
    # The original seal travels along and still checks against the server's key.
    original = (target / SEALED_MANIFEST).read_bytes()
    assert hashlib.sha256(original).hexdigest() == seg.manifest_sha256
    assert signature_valid(
        key.public_key, (target / f"{SEALED_MANIFEST}.sig").read_bytes(), original
    )
    # The sealed folder itself is untouched.
    assert verify_folder(rec.folder, key.public_key).ok
