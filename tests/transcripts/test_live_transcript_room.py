"""Real speech through real aiortc peers in a real room: per-speaker transcription, captions
that stay inside their group, caucus documents, and times on the recording's timeline."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from server.models import AuditEvent, MediationSession, Recording, TranscriptSegment
from server.state import STATE_KEY
from signaling.client import RoomClient, SignalingFailure
from tests.signaling.conftest import LiveSession
from tests.support.speech import (
    Turn,
    character_error_rate,
    conversation_tracks,
    silence,
    synthesize,
)
from tests.transcripts.conftest import make_session, write_wav

pytestmark = pytest.mark.speech

MAIN_SCRIPT = [
    Turn("mediator", "各位当事人好，今天调解物业费纠纷。", pitch=50),
    Turn("applicant", "我要求对方支付拖欠的物业费三千元。", pitch=25),
    Turn("mediator", "被申请人，你对这笔物业费有什么意见？", pitch=50),
    Turn("applicant", "小区的电梯经常坏，我不同意交这么多钱。", pitch=25),
]
CAUCUS_LINE = "我愿意分期付款。"
# Measured through the room (aiortc Opus at the client's default bitrate → SFU → VAD → Whisper
# base int8, greedy): see the report printed by the test; the offline core measured 0.50 on
# the same script. The bound leaves margin and still fails on a wrong language, a loop, or a
# lost or swapped segment.
MAX_CER = 0.7
# Segment start vs. the turn's place in the speaker's file, measured from the recorder's track
# start in the sealed manifest (the same wall clock): VAD pre-roll, espeak-ng's own silence and
# jitter-buffer delay.
MAX_TIMELINE_ERROR_S = 0.6
# Caption latency (end of speech → caption at the other client). Measured 1.5–2.3 s on a quiet
# 2-core machine (0.5 s of silence ends an utterance, then recognition at RTF ≈ 0.13-0.3); up to
# 9.5 s while other jobs saturated both cores. The bound catches a stalled queue, not slowness.
MAX_CAPTION_LATENCY_S = 20.0
# Default configuration (identity check required): unverified parties are admitted with the
# mediator's written reason, as the court rules demand.
ADMIT_REASON = "测试：身份未核验，调解员书面准许 / test: admitted unverified with a reason"


class CaptionLog:
    def __init__(self, client: RoomClient) -> None:
        self.items: list[tuple[float, dict[str, Any]]] = []
        client.sio.on("caption", self._on)

    async def _on(self, data: dict[str, Any]) -> None:
        self.items.append((time.time(), data))

    @property
    def captions(self) -> list[dict[str, Any]]:
        return [c for _, c in self.items]


async def wait_for(predicate: Any, timeout: float, what: Any) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what()}")
        await asyncio.sleep(0.1)


async def open_room(live: LiveSession, files: dict[str, Path]) -> dict[str, RoomClient]:
    clients: dict[str, RoomClient] = {}
    for who in ("mediator", "applicant", "respondent"):
        kw: dict[str, object] = {"video": None, "audio": who in files}
        if who in files:
            kw["media_file"] = str(files[who])
        c = live.client(who, **kw)
        await c.connect()
        await c.join(consent=True)
        clients[who] = c
    mediator = clients["mediator"]
    await mediator.wait_until(lambda: len(mediator.lobby()) == 2)
    for who in ("applicant", "respondent"):
        await mediator.call(
            "admit", {"participant_id": live.pids[who], "override_reason": ADMIT_REASON}
        )
        await clients[who].wait_until(lambda c=clients[who]: c.presence == "admitted")
    await mediator.call("start_session")
    return clients


async def segments_of(live: LiveSession) -> list[TranscriptSegment]:
    async with live.harness.app[STATE_KEY].db.session() as s:
        rows = await s.scalars(
            select(TranscriptSegment)
            .where(TranscriptSegment.session_id == live.session_id)
            .order_by(TranscriptSegment.start_at)
        )
        return list(rows)


async def live_session(live: LiveSession, record_caucus: bool) -> LiveSession:
    session_id, tokens, pids, _ = await make_session(live.harness, record_caucus=record_caucus)
    return LiveSession(live.harness, live.base_url, session_id, tokens, pids, live.clients)


async def test_two_speakers_transcribed_captioned_and_caucus_kept_apart(
    court_session: LiveSession, tmp_path: Path
) -> None:
    live = await live_session(court_session, record_caucus=True)
    tracks, script = conversation_tracks(MAIN_SCRIPT)
    tail = silence(1.5)
    files = {
        who: write_wav(tmp_path / f"{who}.wav", np.concatenate([pcm, tail]))
        for who, pcm in tracks.items()
    }
    # The respondent, alone in a caucus group, speaks during the applicant's first turn.
    caucus_speech = synthesize(CAUCUS_LINE, pitch=70)
    caucus_at = script[1][1]
    files["respondent"] = write_wav(
        tmp_path / "respondent.wav",
        np.concatenate([silence(caucus_at), caucus_speech, silence(2.0)]),
    )
    clients = await open_room(live, files)
    mediator, _applicant, respondent = (clients[w] for w in ("mediator", "applicant", "respondent"))
    logs = {who: CaptionLog(c) for who, c in clients.items()}
    opened = await mediator.call(
        "caucus_open", {"groups": [{"name": "被申请人方", "members": [live.pids["respondent"]]}]}
    )
    caucus_group = next(iter(opened["groups"]))
    assert (await mediator.call("captions", {"enabled": False}))["enabled"] is False

    started = time.monotonic()
    await mediator.call("transcription", {"enabled": True})
    print(f"\ntranscription on (model ready) after {time.monotonic() - started:.2f} s")
    await mediator.wait_until(lambda: mediator.state.get("transcription") is True)
    assert respondent.state.get("transcription") is True  # visible to everyone
    await asyncio.gather(*(c.start_media() for c in clients.values()))

    await wait_for(
        lambda: len(logs["applicant"].items) >= 4 and len(logs["respondent"].items) >= 1,
        timeout=60,
        what="captions",
    )
    await asyncio.sleep(1.0)  # nothing else may arrive
    await mediator.call("end_session", {
            "outcome": "settled",
            "note": "双方达成分期付款协议",
            "no_agreement_reason": "另行签署纸质协议",
        })

    segments = await segments_of(live)
    main = [s for s in segments if s.document == "main"]
    caucus = [s for s in segments if s.document == f"caucus:{caucus_group}"]
    assert {s.document for s in segments} == {"main", f"caucus:{caucus_group}"}
    # Both speakers, labelled from the room, in the order spoken.
    assert [s.speaker_participant_id for s in main] == [
        live.pids["mediator"],
        live.pids["applicant"],
        live.pids["mediator"],
        live.pids["applicant"],
    ]
    # The labels come from the room member (judge_a mediates here: 法官).
    mediator_role = clients["applicant"].participant(live.pids["mediator"])["role_label"]  # type: ignore[index]
    assert mediator_role == "法官"
    assert [s.speaker_role for s in main] == [mediator_role, "申请人", mediator_role, "申请人"]
    assert main[1].speaker_name == "张三"
    assert all(s.status == "final" and s.asr_text == s.text for s in main)
    reference = "".join(t.text for t in MAIN_SCRIPT)
    hypothesis = "".join(s.text for s in main)
    cer = character_error_rate(reference, hypothesis)
    print(f"main CER {cer:.3f}: " + " | ".join(s.text for s in main))
    assert cer < MAX_CER
    # Caucus speech: its own document only, never the main record.
    assert [s.speaker_participant_id for s in caucus] == [live.pids["respondent"]]
    caucus_cer = character_error_rate(CAUCUS_LINE, caucus[0].text)
    print(f"caucus CER {caucus_cer:.3f}: {caucus[0].text}")

    # Captions: the applicant (main, captions on) got every main line and nothing from the
    # caucus; the mediator switched captions off; the respondent got only the caucus line.
    got = logs["applicant"].captions
    assert [c["segment_id"] for c in got] == [s.id for s in main] or sorted(
        c["segment_id"] for c in got
    ) == sorted(s.id for s in main)
    assert all(c["final"] is True for c in got)
    first = next(c for c in got if c["segment_id"] == main[0].id)
    assert first["speaker_id"] == live.pids["mediator"]
    assert first["role_label"] == mediator_role
    assert first["text"] == main[0].text
    assert logs["mediator"].items == []
    assert [c["segment_id"] for c in logs["respondent"].captions] == [caucus[0].id]
    latencies = [at - c["end"] for at, c in logs["applicant"].items + logs["respondent"].items]
    print("caption latency after end of speech: " + ", ".join(f"{x:.2f}" for x in latencies))
    assert max(latencies) < MAX_CAPTION_LATENCY_S

    # Times on the recording's timeline: each line starts where the turn is in the speaker's
    # recorded audio track (sealed manifest, same wall clock).
    state = live.harness.app[STATE_KEY]
    async with state.db.session() as s:
        row = await s.scalar(select(Recording).where(Recording.session_id == live.session_id))
    assert row is not None
    manifest = json.loads(
        (Path(state.settings.effective_recordings_dir) / row.folder / "manifest.json").read_text()
    )
    audio_start = {
        t["participant"]: t["start_wallclock"]
        for t in manifest["files"]
        if t.get("kind") == "track" and t["media"] == "audio" and not t["caucus"]
    }
    errors = []
    for segment, (who, start, _end, _) in zip(main, script, strict=True):
        offset = segment.start_at.timestamp() - audio_start[live.pids[who]]
        errors.append(offset - start)
        assert segment.end_at > segment.start_at
    print("timeline error (s): " + ", ".join(f"{e:+.2f}" for e in errors))
    assert max(abs(e) for e in errors) < MAX_TIMELINE_ERROR_S


async def test_caucus_is_not_transcribed_unless_recorded(
    court_session: LiveSession, tmp_path: Path
) -> None:
    live = await live_session(court_session, record_caucus=False)
    line = "今天我们先核对双方的身份信息。"
    speech = synthesize(line)
    files = {
        "mediator": write_wav(
            tmp_path / "m.wav", np.concatenate([silence(0.5), speech, silence(1.5)])
        ),
        "applicant": write_wav(
            tmp_path / "a.wav",
            np.concatenate([silence(0.5), synthesize(CAUCUS_LINE, pitch=25), silence(1.5)]),
        ),
    }
    clients = await open_room(live, files)
    logs = {who: CaptionLog(c) for who, c in clients.items()}
    await clients["mediator"].call(
        "caucus_open", {"groups": [{"name": "申请人方", "members": [live.pids["applicant"]]}]}
    )
    # Only the mediator switches transcription.
    with pytest.raises(SignalingFailure) as refused:
        await clients["respondent"].call("transcription", {"enabled": True})
    assert refused.value.code == "forbidden"
    await clients["mediator"].call("transcription", {"enabled": True})
    await asyncio.gather(*(c.start_media() for c in clients.values()))
    await wait_for(
        lambda: len(logs["respondent"].items) >= 1,
        timeout=40,
        what=lambda: {w: [c["text"] for c in log.captions] for w, log in logs.items()},
    )
    await asyncio.sleep(2.5)  # the caucus line has ended and would have been recognised
    await clients["mediator"].call("end_session", {"outcome": "failed"})

    segments = await segments_of(live)
    assert [(s.document, s.speaker_participant_id) for s in segments] == [
        ("main", live.pids["mediator"])
    ]
    assert character_error_rate(line, segments[0].text) < MAX_CER
    # The main-room line reached the main room (the mediator too: captions default on); the
    # applicant in the caucus got nothing, not even their own unrecorded words.
    assert [c["segment_id"] for c in logs["respondent"].captions] == [segments[0].id]
    assert [c["segment_id"] for c in logs["mediator"].captions] == [segments[0].id]
    assert logs["applicant"].items == []
    async with live.harness.app[STATE_KEY].db.session() as s:
        session = await s.get(MediationSession, live.session_id)
        assert session is not None and not session.record_caucus
        toggles = list(
            await s.scalars(
                select(AuditEvent).where(
                    AuditEvent.session_id == live.session_id,
                    AuditEvent.action == "transcription.toggle",
                )
            )
        )
    assert [(t.actor, t.details["enabled"]) for t in toggles] == [
        (f"user:{live.harness.seed.users['judge_a']}", True)
    ] or [t.details["enabled"] for t in toggles] == [True]


async def test_switching_on_while_the_model_loads_holds_up_nothing_and_loses_nothing(
    court_session: LiveSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by bench/fuzz_signaling.py: the first switch-on in a process awaited the model
    load (seconds) under the room's lock, so chat, admissions and offers all waited behind it.
    Here the load is held until the test lets it finish: the room must answer meanwhile, and
    what was said meanwhile must still be transcribed."""
    import threading

    import signaling.features.transcription as lt

    release = threading.Event()
    real_load = lt._load_recognizer

    def slow_load(settings: Any) -> Any:
        release.wait(60)
        return real_load(settings)

    monkeypatch.setattr(lt, "_load_recognizer", slow_load)
    live = await live_session(court_session, record_caucus=False)
    line = "我同意下个月一次性付清。"
    files = {
        "applicant": write_wav(
            tmp_path / "a.wav",
            np.concatenate([silence(0.5), synthesize(line, pitch=25), silence(1.5)]),
        )
    }
    clients = await open_room(live, files)
    mediator, applicant = clients["mediator"], clients["applicant"]
    try:
        await asyncio.wait_for(mediator.call("transcription", {"enabled": True}), 5)
        await applicant.start_media()
        # The model is still loading: the room goes on.
        await asyncio.wait_for(applicant.call("chat", {"text": "您好"}), 5)
        await asyncio.wait_for(mediator.call("captions", {"enabled": True}), 5)
        await asyncio.sleep(len(line) * 0.25 + 2.5)  # the line has been said, unheard by ASR
        assert not release.is_set()
    finally:
        release.set()
    deadline = time.monotonic() + 60
    segments: list[TranscriptSegment] = []
    while time.monotonic() < deadline and not segments:
        segments = [s for s in await segments_of(live) if s.text]
        await asyncio.sleep(0.5)
    assert [s.speaker_participant_id for s in segments] == [live.pids["applicant"]]
    assert character_error_rate(line, segments[0].text) < MAX_CER
    await mediator.call("end_session", {"outcome": "failed"})
