"""End to end on real audio and the real model: two speakers, Opus frames, labelled segments."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from server.rtc.frame import EncodedFrame
from tests.support.speech import (
    Turn,
    character_error_rate,
    conversation_tracks,
    encode_opus,
    interleave,
    silence,
    synthesize,
)
from transcript import RecognitionQueue, Segment, SegmentStatus, Speaker, Transcript

MEDIATOR = Speaker("u-mediator", "王调解", "调解员")
APPLICANT = Speaker("u-applicant", "李四", "申请人")

SCRIPT = [
    Turn(MEDIATOR.speaker_id, "各位当事人好，今天调解物业费纠纷。", pitch=50),
    Turn(APPLICANT.speaker_id, "我要求对方支付拖欠的物业费三千元。", pitch=25),
    Turn(MEDIATOR.speaker_id, "被申请人，你对这笔物业费有什么意见？", pitch=50),
    Turn(APPLICANT.speaker_id, "小区的电梯经常坏，我不同意交这么多钱。", pitch=25),
]
LINES = [turn.text for turn in SCRIPT]

# Measured on this script's audio (espeak-ng robot voice → Opus → VAD → Whisper base, greedy)
# with each kernel a CPU may get from CTranslate2: int8 on AVX-512 VNNI (the dev machine),
# int8 on AVX-512 without VNNI, on AVX2 and through Intel MKL, float32; 1 and 2 threads (which
# changed nothing). Character error rate over the four turns: 0.500 (int8 VNNI), 0.516 (float32,
# int8 MKL; another machine's int8 also 0.516), 0.594 (int8 AVX2), 0.609 (int8 AVX-512). With the
# voice varied as well (espeak-ng 140/175/200 words a minute, pitch 25/50/75 and +25) under all of
# those kernels: 0.438-0.656 in 59 of 62 runs; in the other three one turn came out in English
# (0.92-0.98), a recognition failure the bound is meant to fail, like wrong language, loops or
# empty output (≥ 0.9).
MAX_CHARACTER_ERROR_RATE = 0.75
# Words of the script the model got right in at least some of those runs. Which ones it gets
# depends on the CPU: the amount, 三千, was lost by int8 on AVX2, on AVX-512 without VNNI and
# through MKL (heard 负责协助, 负责前; another machine heard 负钱), so no single word is asserted.
# Heard: 7-9 of them on this script's audio under every kernel, at least 4 in every run.
KEY_WORDS = ("各位", "我要求", "对方", "支付", "三千", "物业费", "你对", "意见", "电梯", "不同意")
MIN_KEY_WORDS = 3
# Where the utterance starts and ends vs the script: pre-roll, post-roll and espeak-ng's own
# leading/trailing silence.
MAX_TIMING_ERROR_S = 0.5

SAID_WHILE_OFF = "这段话不应该被记录。"
SAID_WHILE_ON = "我要求对方支付物业费三千元。"
# One sentence on its own (same kernels and voices as above): 0.38-0.54 on this audio, up to
# 0.77 with the voice varied; 三千 was lost in 13 of 62 runs. Nearer to what was said while on
# than to what was said while off by a CER of at least 0.56 in every run.
MAX_SENTENCE_ERROR_RATE = 0.9


def mentions_3000(text: str) -> bool:
    return "三千" in text or "3000" in text or "3,000" in text


def key_words_heard(text: str) -> list[str]:
    return [w for w in KEY_WORDS if (mentions_3000(text) if w == "三千" else w in text)]


def nearest_line(text: str, lines: list[str]) -> int:
    return min(range(len(lines)), key=lambda i: character_error_rate(lines[i], text))


def check_recognised(texts: list[str]) -> None:
    """The recognised turns, in order, are the script's (see the measurements above)."""
    assert len(texts) == len(LINES)
    cer = character_error_rate("".join(LINES), "".join(texts))
    heard = key_words_heard("".join(texts))
    print(f"\nCER {cer:.3f}, key words {heard}: " + " | ".join(texts))
    assert cer < MAX_CHARACTER_ERROR_RATE
    assert len(heard) >= MIN_KEY_WORDS
    # Each turn is nearest to its own line (measured margin ≥ 0.11 in every run within the CER
    # bound): no turn lost, swapped or given another's text. The CER alone misses a swap:
    # exchanging the mediator's two turns raised it only from 0.500 to 0.656.
    assert [nearest_line(text, LINES) for text in texts] == list(range(len(LINES)))
    # Output is Simplified Chinese with Chinese punctuation.
    for text in texts:
        assert text[-1] in "。？！"
        assert not any(c in text for c in ",?!")


async def feed(
    transcript_sinks: dict[str, object], frames: dict[str, list[EncodedFrame]], speedup: float
) -> None:
    """Deliver the frames as the SFU would, ``speedup`` times faster than real time."""
    started = time.monotonic()
    first = min(f.wallclock for track in frames.values() for f in track)
    for speaker_id, frame in interleave(frames):
        due = started + (frame.wallclock - first) / speedup
        if (delay := due - time.monotonic()) > 0:
            await asyncio.sleep(delay)
        transcript_sinks[speaker_id].on_frame(frame)  # type: ignore[attr-defined]


@pytest.mark.speech
async def test_two_speakers_are_labelled_ordered_and_recognised(queue: RecognitionQueue) -> None:
    tracks, script = conversation_tracks(SCRIPT)
    t0 = time.time()
    frames = {speaker: encode_opus(pcm, wallclock_start=t0) for speaker, pcm in tracks.items()}
    transcript = Transcript(queue)
    sinks: dict[str, object] = {
        MEDIATOR.speaker_id: transcript.add_speaker(MEDIATOR),
        APPLICANT.speaker_id: transcript.add_speaker(APPLICANT),
    }
    live: list[Segment] = []
    transcript.subscribe(live.append)

    async def read_stream() -> list[Segment]:
        return [segment async for segment in transcript.stream()]

    streamed = asyncio.create_task(read_stream())
    await asyncio.sleep(0)
    await feed(sinks, frames, speedup=4.0)
    await transcript.aclose()
    assert await asyncio.wait_for(streamed, timeout=5) == live

    segments = transcript.segments
    assert [s.speaker for s in segments] == [MEDIATOR, APPLICANT, MEDIATOR, APPLICANT]
    assert [s.speaker.role for s in segments] == ["调解员", "申请人", "调解员", "申请人"]
    assert all(s.status is SegmentStatus.FINAL for s in segments)
    assert sorted(live, key=lambda s: s.start) == segments
    for segment, (_, start, end, _) in zip(segments, script, strict=True):
        assert abs(segment.start - (t0 + start)) < MAX_TIMING_ERROR_S
        assert abs(segment.end - (t0 + end)) < MAX_TIMING_ERROR_S

    check_recognised([s.text for s in segments])


@pytest.mark.speech
async def test_switched_off_speech_never_reaches_the_transcript(queue: RecognitionQueue) -> None:
    t0 = time.time()
    said_while_off = synthesize(SAID_WHILE_OFF)
    said_while_on = synthesize(SAID_WHILE_ON)
    off_frames = encode_opus(said_while_off, wallclock_start=t0)
    on_start = t0 + len(off_frames) * 0.02 + 1.0
    on_frames = encode_opus(
        np.concatenate([silence(0.3), said_while_on, silence(1.0)]),
        wallclock_start=on_start,
        rtp_start=off_frames[-1].rtp_timestamp + 48_000,
    )
    transcript = Transcript(queue, enabled=False)
    sink = transcript.add_speaker(APPLICANT)

    for frame in off_frames:
        sink.on_frame(frame)
    transcript.set_enabled(True)
    for frame in on_frames:
        sink.on_frame(frame)
    await transcript.aclose()

    segments = transcript.segments
    assert len(segments) == 1
    text = segments[0].text
    cer = character_error_rate(SAID_WHILE_ON, text)
    print(f"\nCER {cer:.3f}: {text}")
    assert cer < MAX_SENTENCE_ERROR_RATE
    assert cer < character_error_rate(SAID_WHILE_OFF, text)
    # Placed by the RTP timestamps on the track's timeline, anchored at the first frame heard.
    assert abs(segments[0].start - (on_start + 0.3)) < MAX_TIMING_ERROR_S


# What the model heard for SCRIPT in the measurements above.
HEARD_INT8_VNNI = [
    "各位同事人，好，坚强，有劫，无业，非。",
    "我要求对方支付负钱的无业费三千万。",
    "佩神千人，你对着皮肤，也要神梦意见。",
    "小Q的电梯，金长斑，我不同意，小Q的没多钱。",
]
HEARD_INT8_AVX2 = [  # the amount lost
    "各位同志们好，坚强有点无意妖妃。",
    "我要求对方支付负责协助，也费责协助。",
    "佩神千人，你对这笔无也，也有神吗，云天。",
    "小Q的电梯，金长断，我不同意，小Q的没多钱。",
]
HEARD_SLIPPED_INTO_ENGLISH = [  # int8 AVX2, espeak-ng at 140 words a minute
    "各位同事人，好，坚言，有劫，无言，非，求，份。",
    "我要求对方支付负责前的负业费3000元。",
    "Payson-Chen-Ren，你对著Pu-Yahay, you can't be a legend。",
    "小Q的电梯，天长坏，我不同意，小Q的没多钱。",
]


@pytest.mark.parametrize("texts", [HEARD_INT8_VNNI, HEARD_INT8_AVX2])
def test_the_checks_accept_what_the_model_hears_on_different_cpus(texts: list[str]) -> None:
    check_recognised(texts)


@pytest.mark.parametrize(
    "texts",
    [
        pytest.param(HEARD_SLIPPED_INTO_ENGLISH, id="one-turn-in-english"),
        pytest.param(
            [
                "Hello everyone, today we mediate a property fee dispute.",
                "I ask the other party to pay the 3000 yuan property fee they owe.",
                "Respondent, what do you think of this property fee?",
                "The lift is often broken, I do not agree to pay so much.",
            ],
            id="wrong-language",
        ),
        pytest.param(["", "", "", ""], id="empty"),
        pytest.param(HEARD_INT8_VNNI[:3], id="turn-lost"),
        pytest.param(HEARD_INT8_VNNI[:1] + HEARD_INT8_VNNI[:3], id="turn-lost-another-repeated"),
        pytest.param([HEARD_INT8_VNNI[i] for i in (2, 1, 0, 3)], id="mediator-turns-swapped"),
        pytest.param([HEARD_INT8_VNNI[i] for i in (0, 3, 2, 1)], id="applicant-turns-swapped"),
        pytest.param([HEARD_INT8_AVX2[i] for i in (1, 0, 3, 2)], id="turns-swapped"),
        pytest.param([t * 4 for t in HEARD_INT8_VNNI], id="decoding-loop"),
    ],
)
def test_the_checks_fail_a_broken_recognition(texts: list[str]) -> None:
    with pytest.raises(AssertionError):
        check_recognised(texts)
