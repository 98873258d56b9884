"""Utterances are placed by RTP timestamp, across Opus DTX silence and longer outages."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.speech import FRAME_SAMPLES, OPUS_RATE, encode_opus, silence, synthesize
from transcript.decoder import OpusDecoder
from transcript.segment import SAMPLE_RATE
from transcript.vad import SpeechSpan, UtteranceSegmenter

pytestmark = pytest.mark.speech


def cut(frames: list) -> list[SpeechSpan]:  # type: ignore[type-arg]
    decoder, segmenter = OpusDecoder(), UtteranceSegmenter()
    spans: list[SpeechSpan] = []
    for frame in frames:
        for chunk in decoder.decode(frame):
            spans.extend(segmenter.push(chunk.position, chunk.pcm, chunk.discontinuity))
    return spans + segmenter.flush()


def test_speech_after_gaps_in_the_frame_stream_keeps_its_place() -> None:
    speech = np.concatenate([silence(0.4), synthesize("好的，谢谢。"), silence(0.8)])
    first = encode_opus(speech, wallclock_start=0.0)
    # 0.6 s of DTX (no packets sent), then the second phrase; then a 4 s outage, the third.
    second_rtp = first[-1].rtp_timestamp + FRAME_SAMPLES + int(0.6 * OPUS_RATE)
    second = encode_opus(speech, wallclock_start=0.0, rtp_start=second_rtp)
    third_rtp = second[-1].rtp_timestamp + FRAME_SAMPLES + 4 * OPUS_RATE
    third = encode_opus(speech, wallclock_start=0.0, rtp_start=third_rtp)

    spans = cut(first + second + third)

    expected = [0.4, second_rtp / OPUS_RATE + 0.4, third_rtp / OPUS_RATE + 0.4]
    assert len(spans) == 3
    for span, start_s in zip(spans, expected, strict=True):
        assert abs(span.start / SAMPLE_RATE - start_s) < 0.3
        assert len(span.pcm) == span.end - span.start


def test_silence_alone_gives_no_utterance() -> None:
    assert cut(encode_opus(silence(3.0), wallclock_start=0.0)) == []


def test_a_long_monologue_is_cut_into_bounded_utterances() -> None:
    sentence = synthesize("我要求对方支付拖欠的物业费三千元，还有滞纳金。")
    # Phrases with pauses too short to end an utterance.
    monologue = np.concatenate([np.concatenate([sentence, silence(0.2)]) for _ in range(5)])
    spans = cut(encode_opus(monologue, wallclock_start=0.0))
    assert len(spans) >= 2
    assert all((s.end - s.start) / SAMPLE_RATE <= 15.0 for s in spans)
