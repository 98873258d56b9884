"""Seal and verify: every tampering is caught and named; the CLI says so in Chinese and English."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from recording import ServerKey, SessionRecorder, add_documents, verify_folder, verify_main
from recording.keys import PRIVATE_KEY_NAME, PUBLIC_KEY_NAME
from server.rtc.frame import EncodedFrame
from tests.recording.recording_helpers import feed, manifest_of


@pytest.fixture
async def sealed(
    tmp_path: Path, key: ServerKey, video_4s: list[EncodedFrame], audio_4s: list[EncodedFrame]
) -> Path:
    rec = await SessionRecorder.start(tmp_path, case_id="c-7", session_id="s-7", key=key)
    await rec.add_participant("m1", name="李调解员", role="mediator")
    await rec.add_participant("p1", name="王五", role="party")
    await rec.log_admission("p1", admitted=True, by="m1", identity_checked=True)
    await rec.log_consent("p1", accepted=True, text_version="2024-01")
    video, audio = rec.open_track("p1", "video"), rec.open_track("p1", "audio")
    assert video is not None and audio is not None
    feed(video, video_4s[:45])
    feed(audio, audio_4s[:75])
    doc = tmp_path / "调解协议.pdf"
    doc.write_bytes(b"%PDF-1.4 agreement")
    await rec.add_document(doc, title="调解协议", actor="m1")
    await rec.seal(actor="m1")
    return rec.folder


def test_sealed_folder_verifies_and_lists_everything(sealed: Path, key: ServerKey) -> None:
    report = verify_folder(sealed, key.public_key)
    assert report.ok, report.problems
    assert report.signer_trusted and not report.problems
    manifest = manifest_of(sealed)
    kinds = sorted(f["kind"] for f in manifest["files"])
    assert kinds == ["document", "event_log", "track", "track", "track_log", "track_log"]
    assert manifest["consents"][0]["payload"]["accepted"] is True
    assert manifest["admissions"][0]["payload"]["participant"] == "p1"
    assert {p["role"] for p in manifest["participants"]} == {"mediator", "party"}
    doc = next(f for f in manifest["files"] if f["kind"] == "document")
    assert doc["name"] == "documents/调解协议.pdf" and doc["title"] == "调解协议"
    assert manifest["event_log"]["entries"] == report.event_log_entries
    assert not (sealed / "recording.open").exists()


def test_one_byte_changed_in_a_recording_names_the_file(sealed: Path, key: ServerKey) -> None:
    target = sealed / "p1.video.s01.webm"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    report = verify_folder(sealed, key.public_key)
    assert not report.ok
    assert [(p.code, p.file) for p in report.problems] == [("hash_mismatch", target.name)]


def test_altered_event_log_line_is_named(sealed: Path, key: ServerKey) -> None:
    log = sealed / "events.jsonl"
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    number = next(i for i, line in enumerate(lines, 1) if "consent.recorded" in line)
    lines[number - 1] = lines[number - 1].replace('"accepted":true', '"accepted":false')
    log.write_text("".join(lines), encoding="utf-8")
    report = verify_folder(sealed, key.public_key)
    codes = {(p.code, p.file, p.line) for p in report.problems}
    assert ("event_log_broken", "events.jsonl", number) in codes
    assert ("hash_mismatch", "events.jsonl", None) in codes


def test_appended_event_after_seal_is_caught(sealed: Path, key: ServerKey) -> None:
    from recording import EventLog

    log = EventLog(sealed / "events.jsonl")
    log.append("note", "intruder", {"text": "added later"})
    log.close()
    codes = {p.code for p in verify_folder(sealed, key.public_key).problems}
    assert codes == {"size_mismatch", "hash_mismatch", "event_log_head_mismatch"}


def test_wrong_signature_fails(sealed: Path, key: ServerKey, tmp_path: Path) -> None:
    other = ServerKey.load_or_create(tmp_path / "other-keys")
    sig = sealed / "manifest.json.sig"
    sig.write_bytes(other.sign((sealed / "manifest.json").read_bytes()))
    report = verify_folder(sealed)  # manifest names `key`; the signature is `other`'s
    assert [p.code for p in report.problems if p.severity == "error"] == ["signature_invalid"]


def test_manifest_resigned_by_another_key_fails_against_the_trusted_key(
    sealed: Path, key: ServerKey, tmp_path: Path
) -> None:
    other = ServerKey.load_or_create(tmp_path / "forger")
    manifest = manifest_of(sealed)
    manifest["interrupted"] = True
    manifest["signer"]["public_key_pem"] = other.public_pem().decode()
    data = json.dumps(manifest).encode()
    (sealed / "manifest.json").write_bytes(data)
    (sealed / "manifest.json.sig").write_bytes(other.sign(data))
    assert verify_folder(sealed).ok  # internally consistent …
    report = verify_folder(sealed, key.public_key)  # … but not sealed by our server
    assert [p.code for p in report.problems] == ["signature_invalid"]


def test_unlisted_and_missing_files_are_named(sealed: Path, key: ServerKey) -> None:
    (sealed / "extra.webm").write_bytes(b"x")
    (sealed / "p1.audio.s01.webm").unlink()
    problems = {(p.code, p.file) for p in verify_folder(sealed, key.public_key).problems}
    assert problems == {("file_unlisted", "extra.webm"), ("file_missing", "p1.audio.s01.webm")}


def test_documents_added_after_seal_make_a_new_revision(
    sealed: Path, key: ServerKey, tmp_path: Path
) -> None:
    first = manifest_of(sealed)
    pdf = tmp_path / "笔录.pdf"
    pdf.write_bytes(b"%PDF transcript")
    manifest = add_documents(sealed, key, [(pdf, "笔录")], actor="clerk")
    assert manifest["revision"] == first["revision"] + 1
    assert manifest["previous_manifest_sha256"]
    assert any(f["name"] == "documents/笔录.pdf" for f in manifest["files"])
    assert verify_folder(sealed, key.public_key).ok


def test_cli_exit_codes_and_messages(
    sealed: Path, key_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert verify_main([str(sealed), "--keys-dir", str(key_dir)]) == 0
    out = capsys.readouterr().out
    assert "校验通过 / verification passed" in out

    log = sealed / "events.jsonl"
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    assert "王五" in lines[2]
    lines[2] = lines[2].replace("王五", "赵六")
    log.write_text("".join(lines), encoding="utf-8")
    assert verify_main([str(sealed), "--key", str(key_dir / PUBLIC_KEY_NAME)]) == 1
    out = capsys.readouterr().out
    assert "校验失败 / verification failed" in out
    assert "event log line 3 broken" in out

    assert verify_main([str(sealed), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert {"code": "event_log_broken", "line": 3}.items() <= next(
        p for p in report["problems"] if p["code"] == "event_log_broken").items()
    assert verify_main([]) == 2
    assert verify_main([str(sealed / "nope")]) == 1


def test_private_key_is_owner_only_and_reloads(key: ServerKey, key_dir: Path) -> None:
    mode = stat.S_IMODE((key_dir / PRIVATE_KEY_NAME).stat().st_mode)
    assert mode == 0o600
    again = ServerKey.load_or_create(key_dir)
    assert again.fingerprint == key.fingerprint
    assert (key_dir / PUBLIC_KEY_NAME).read_bytes() == key.public_pem()
    assert key.public_pem().startswith(b"-----BEGIN PUBLIC KEY-----")
