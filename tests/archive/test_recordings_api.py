"""Clerk retrieval API: permissions, detail on one timeline, signed links with HTTP Range,
archive, verification and audit rows."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from recording import load_public_key, verify_folder
from server.archive.links import sign_link, url_of
from server.models import AuditEvent, User
from server.state import STATE_KEY
from tests.api.world import ok_json
from tests.archive.recorded import Recorded, make_recording
from tests.conftest import Harness, StaffClient


@pytest.fixture
async def rec(harness: Harness) -> Recorded:
    return await make_recording(harness)


async def audit_rows(harness: Harness, action: str) -> list[AuditEvent]:
    async with harness.app[STATE_KEY].db.session() as s:
        return list(await s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def endpoints(rec: Recorded, job_id: str = "0" * 32) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("GET", "/api/recordings", {}),
        ("GET", f"/api/recordings/sessions/{rec.session_id}", {}),
        ("GET", f"/api/recordings/{rec.recording_id}", {}),
        ("POST", f"/api/recordings/{rec.recording_id}/verify", {}),
        ("POST", f"/api/recordings/{rec.recording_id}/links", {"json": {}}),
        ("POST", f"/api/recordings/{rec.recording_id}/archive-link", {"json": {}}),
        ("POST", f"/api/recordings/sessions/{rec.session_id}/composite", {"json": {}}),
        ("GET", f"/api/recordings/sessions/{rec.session_id}/jobs", {}),
        ("GET", f"/api/recordings/jobs/{job_id}", {}),
        ("POST", f"/api/recordings/jobs/{job_id}/link", {}),
    ]


async def test_permissions_of_every_endpoint(harness: Harness, rec: Recorded) -> None:
    clerk = await harness.login("clerk_a")
    job = await ok_json(
        await clerk.post(f"/api/recordings/sessions/{rec.session_id}/composite", json={}), 202
    )
    calls = endpoints(rec, job["id"])
    # Judges and clerks of the court: allowed (the job link may still be "not ready": 409).
    for who in ("clerk_a", "judge_a", "mediator_a"):
        c = clerk if who == "clerk_a" else await harness.login(who)
        for method, path, kw in calls:
            resp = await c.request(method, path, **kw)
            assert resp.status in (200, 202, 409), (who, method, path, await resp.text())
    # Admins of the same court: 403. Other courts and unassigned mediators: 404 (ids hidden).
    listing = "/api/recordings"
    for who, status in (("admin_a", 403), ("judge_b", 404), ("clerk_b", 404), ("admin_b", 403),
                        ("mediator_a2", 404)):
        c = await harness.login(who)
        for method, path, kw in calls:
            resp = await c.request(method, path, **kw)
            expected = 200 if (path == listing and status == 404) else status
            assert resp.status == expected, (who, method, path, await resp.text())
            if path == listing and expected == 200:
                assert await resp.json() == [], who
    # Parties (join tokens), terminals-style bearer tokens and anonymous callers: no access.
    anon = await harness.anon()
    for method, path, kw in calls:
        for headers in ({}, {"Authorization": f"Bearer {rec.tokens['applicant']}"}):
            resp = await anon.request(method, path, headers=headers, **kw)
            assert resp.status in (401, 403), (method, path, resp.status)
    # Mediators never see caucus tracks, and may not ask for them in a composite.
    med = await harness.login("mediator_a")
    resp = await med.post(f"/api/recordings/sessions/{rec.session_id}/composite",
                          json={"include_caucus": True})
    assert resp.status == 403


async def test_search_filters(harness: Harness, rec: Recorded) -> None:
    other = await make_recording(harness, seconds=1.0)
    clerk = await harness.login("clerk_a")
    everything = await ok_json(await clerk.get("/api/recordings"))
    assert {s["session_id"] for s in everything} == {rec.session_id, other.session_id}
    found = await ok_json(await clerk.get("/api/recordings", params={
        "case_number": rec.case_number}))
    assert [s["session_id"] for s in found] == [rec.session_id]
    assert found[0]["outcome"] == "settled"
    assert found[0]["recordings"][0]["status"] == "sealed"
    assert found[0]["recordings"][0]["expires_at"]
    by_party = await ok_json(await clerk.get("/api/recordings", params={"party_name": "申请人"}))
    assert len(by_party) == 2
    none = await ok_json(await clerk.get("/api/recordings", params={"party_name": "无此人"}))
    assert none == []
    assert await ok_json(await clerk.get("/api/recordings", params={"outcome": "failed"})) == []
    today = await ok_json(await clerk.get("/api/recordings", params={
        "date_from": "2000-01-01", "date_to": "2999-12-31"}))
    assert len(today) == 2
    assert await ok_json(await clerk.get("/api/recordings", params={
        "date_to": "2001-01-01"})) == []
    resp = await clerk.get("/api/recordings", params={"date_from": "2026-02-30"})
    assert resp.status == 400
    mediator2 = await harness.login("mediator_a2")
    assert await ok_json(await mediator2.get("/api/recordings")) == []


async def test_detail_puts_tracks_on_one_timeline(harness: Harness, rec: Recorded) -> None:
    clerk = await harness.login("clerk_a")
    detail = await ok_json(await clerk.get(f"/api/recordings/sessions/{rec.session_id}"))
    assert detail["session"]["case_number"] == rec.case_number
    assert detail["duration_s"] > 3.0
    (recording,) = detail["recordings"]
    manifest = recording["manifest"]
    assert recording["available"] and not manifest["interrupted"]
    assert {p["name"] for p in manifest["participants"]} == {"申请人甲", "被申请人乙"}
    tracks = manifest["tracks"]
    main = [t for t in tracks if not t["caucus"]]
    assert len(main) == 4 and manifest["caucus_tracks_hidden"] == 0
    by = {(t["participant_name"], t["media"]): t for t in main}
    app_v, resp_v = by[("申请人甲", "video")], by[("被申请人乙", "video")]
    assert app_v["content_type"] == "video/webm"
    assert by[("申请人甲", "audio")]["content_type"] == "audio/webm"
    assert abs(app_v["offset_s"]) < 0.1
    assert abs(resp_v["offset_s"] - app_v["offset_s"] - 1.0) < 0.1
    assert 2.5 < app_v["duration_s"] < 3.5
    caucus = [t for t in tracks if t["caucus"]]
    assert len(caucus) == 1 and caucus[0]["caucus_group"] == "g1"
    assert manifest["caucus_changes"] == 1
    # A mediator sees the same timeline without the caucus track.
    med = await harness.login("mediator_a")
    mdetail = await ok_json(await med.get(f"/api/recordings/{rec.recording_id}"))
    assert mdetail["manifest"]["caucus_tracks_hidden"] == 1
    assert not any(t["caucus"] for t in mdetail["manifest"]["tracks"])
    views = await audit_rows(harness, "recording.view")
    assert len(views) == 2 and views[0].session_id == rec.session_id


async def _links(c: StaffClient, rec: Recorded, **body: Any) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = await ok_json(
        await c.post(f"/api/recordings/{rec.recording_id}/links", json=body)
    )
    return data


async def test_stream_links_support_range_and_are_audited(
    harness: Harness, rec: Recorded
) -> None:
    clerk = await harness.login("clerk_a")
    links = await _links(clerk, rec)
    names = {link["file"] for link in links}
    assert {"manifest.json", "manifest.json.sig"} <= names
    assert sum(n.endswith(".webm") for n in names) == 5  # 4 main-room tracks + 1 caucus
    video = next(link for link in links if ".video." in link["file"])
    assert video["url"].startswith("/api/recordings/download/")
    data = (rec.folder / video["file"]).read_bytes()
    anon = await harness.anon()  # the signed link itself is the credential (for <video src>)
    resp = await anon.get(video["url"], headers={"Range": "bytes=0-99"})
    assert resp.status == 206
    assert resp.headers["Content-Range"] == f"bytes 0-99/{len(data)}"
    assert resp.headers["Content-Type"] == "video/webm"
    assert await resp.read() == data[:100]
    resp = await anon.get(video["url"], headers={"Range": "bytes=100-"})
    assert resp.status == 206
    assert resp.headers["Content-Range"] == f"bytes 100-{len(data) - 1}/{len(data)}"
    assert await resp.read() == data[100:]
    resp = await anon.get(video["url"])
    assert resp.status == 200 and await resp.read() == data
    manifest = next(link for link in links if link["file"] == "manifest.json")
    resp = await anon.get(manifest["url"])
    assert resp.headers["Content-Type"].startswith("application/json")
    assert json.loads(await resp.read())["session"] == rec.session_id
    streams = [e for e in await audit_rows(harness, "recording.stream")
               if e.details["file"] == video["file"]]
    assert len(streams) == 2  # the requests that start at byte 0; seeking adds no rows
    assert streams[0].actor.startswith("user:") and streams[0].target == rec.recording_id
    assert len(await audit_rows(harness, "recording.link")) == 1

    # Mediators get no caucus files, not even by naming them.
    med = await harness.login("mediator_a")
    mlinks = await _links(med, rec)
    assert not any("caucus" in link["file"] for link in mlinks)
    caucus_name = next(n for n in names if "caucus" in n)
    resp = await med.post(f"/api/recordings/{rec.recording_id}/links",
                          json={"files": [caucus_name]})
    assert resp.status == 403
    resp = await clerk.post(f"/api/recordings/{rec.recording_id}/links",
                            json={"files": ["../../secret.key"]})
    assert resp.status == 400


async def test_forged_expired_and_revoked_links_are_refused(
    harness: Harness, rec: Recorded
) -> None:
    state = harness.app[STATE_KEY]
    clerk = await harness.login("clerk_a")
    (link,) = await _links(clerk, rec, files=["manifest.json"])
    anon = await harness.anon()
    url = link["url"]
    forged_sig = url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB")
    resp = await anon.get(forged_sig)
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "link_invalid"
    # A join link (another kind of token) is no download link.
    resp = await anon.get(url_of(rec.tokens["applicant"]))
    assert resp.status == 403
    clerk_id = harness.seed.users["clerk_a"]
    token, _ = sign_link(state.signer, user_id=clerk_id, target="file",
                         recording_id=rec.recording_id, file="manifest.json", ttl_s=-5)
    resp = await anon.get(url_of(token))
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "link_expired"
    # Bound to the user: another court's judge cannot use a link signed for them here.
    judge_b = harness.seed.users["judge_b"]
    token, _ = sign_link(state.signer, user_id=judge_b, target="file",
                         recording_id=rec.recording_id, file="manifest.json")
    assert (await anon.get(url_of(token))).status == 404
    # A deactivated user's links stop working at once.
    resp = await anon.get(url)
    assert resp.status == 200
    async with state.db.session() as s:
        user = await s.get(User, clerk_id)
        assert user is not None
        user.active = False
    resp = await anon.get(url)
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "link_revoked"


async def test_archive_holds_the_sealed_folder_and_verifies(
    harness: Harness, rec: Recorded, tmp_path: Path
) -> None:
    clerk = await harness.login("clerk_a")
    link = await ok_json(await clerk.post(f"/api/recordings/{rec.recording_id}/archive-link",
                                          json={}))
    assert link["content_type"] == "application/zip"
    anon = await harness.anon()
    resp = await anon.get(link["url"])
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "application/zip"
    assert "attachment" in resp.headers["Content-Disposition"]
    data = await resp.read()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = set(zf.namelist())
        zf.extractall(tmp_path)
    top = rec.folder.name
    expected = {f"{top}/{p.name}" for p in rec.folder.iterdir() if p.is_file()}
    assert expected <= names
    assert {f"{top}/manifest.json", f"{top}/manifest.json.sig", f"{top}/events.jsonl",
            "shared-court-seal.pem", "README.txt"} <= names
    for p in rec.folder.iterdir():
        assert (tmp_path / top / p.name).read_bytes() == p.read_bytes()
    key = load_public_key((tmp_path / "shared-court-seal.pem").read_bytes())
    report = verify_folder(tmp_path / top, key)
    assert report.ok and report.signer_trusted, report.problems
    (row,) = await audit_rows(harness, "recording.download")
    assert row.details["archive"] is True and row.target == rec.recording_id

    # A mediator's archive leaves the caucus files out and says so.
    med = await harness.login("mediator_a")
    link = await ok_json(await med.post(f"/api/recordings/{rec.recording_id}/archive-link",
                                        json={}))
    with zipfile.ZipFile(io.BytesIO(await (await anon.get(link["url"])).read())) as zf:
        assert not any("caucus" in n for n in zf.namelist())
        assert "caucus" in zf.read("README.txt").decode()


async def test_verify_endpoint_reports_tampering(harness: Harness, rec: Recorded) -> None:
    judge = await harness.login("judge_a")
    report = await ok_json(await judge.post(f"/api/recordings/{rec.recording_id}/verify"))
    assert report["ok"] and report["signer_trusted"] and report["files_checked"] >= 5
    victim = next(p for p in rec.folder.iterdir() if p.name.endswith(".video.s01.webm"))
    raw = bytearray(victim.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    victim.write_bytes(bytes(raw))
    report = await ok_json(await judge.post(f"/api/recordings/{rec.recording_id}/verify"))
    assert not report["ok"]
    assert any(p["code"] == "hash_mismatch" and p["file"] == victim.name
               for p in report["problems"])
    rows = await audit_rows(harness, "recording.verify")
    assert [r.details["ok"] for r in rows] == [True, False]
