"""Opus frames → 16 kHz mono PCM placed on the track's RTP timeline."""

from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np

from server.rtc.frame import EncodedFrame
from transcript.segment import SAMPLE_RATE, Pcm

# WebRTC always negotiates opus/48000/2; browsers send mono content in it.
_OPUS_RATE = 48_000
# Drift below this is resampler delay and RTP rounding, not a gap.
_GAP_TOLERANCE = SAMPLE_RATE // 100
# A longer gap (muted microphone, network outage) is not filled with zeros: the timeline jumps,
# which ends any utterance in progress.
MAX_FILLED_GAP_S = 1.0


@dataclass(frozen=True, slots=True)
class PcmChunk:
    """Decoded audio; ``position`` is the first sample's offset on the track timeline."""

    position: int  # in SAMPLE_RATE units since the track's first frame
    pcm: Pcm
    discontinuity: bool = False


class OpusDecoder:
    """Decodes one published Opus track; keeps decoder state, so one instance per track.

    RTP timestamps (not arrival order or count) place the audio: Opus DTX sends nothing during
    silence and packets get lost, and the transcript must stay aligned with the recording,
    which is also placed by RTP timestamp.
    """

    def __init__(self) -> None:
        self._codec = av.CodecContext.create("opus", "r")
        self._codec.sample_rate = _OPUS_RATE  # type: ignore[attr-defined]
        self._codec.layout = "stereo"  # type: ignore[attr-defined]
        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        self._anchor_rtp: int | None = None
        self._next_position = 0

    def decode(self, frame: EncodedFrame) -> list[PcmChunk]:
        if self._anchor_rtp is None:
            self._anchor_rtp = frame.rtp_timestamp
        position = (frame.rtp_timestamp - self._anchor_rtp) * SAMPLE_RATE // frame.clock_rate
        pcm = self._decode_samples(frame.data)
        if pcm.size == 0:
            return []
        chunks: list[PcmChunk] = []
        gap = position - self._next_position
        if gap > MAX_FILLED_GAP_S * SAMPLE_RATE:
            chunks.append(PcmChunk(position, pcm, discontinuity=True))
        elif gap > _GAP_TOLERANCE:
            silence = np.zeros(gap, dtype=np.float32)
            chunks.append(PcmChunk(self._next_position, np.concatenate([silence, pcm])))
        else:
            # Late, duplicated or slightly early frames are appended as they come: the
            # resampler's few samples of delay would otherwise accumulate as false gaps.
            chunks.append(PcmChunk(self._next_position, pcm))
        last = chunks[-1]
        self._next_position = last.position + len(last.pcm)
        return chunks

    def _decode_samples(self, data: bytes) -> Pcm:
        try:
            frames = self._codec.decode(av.Packet(data))
        except av.error.FFmpegError:
            # A corrupt packet costs 20 ms of audio, not the transcript.
            return np.zeros(0, dtype=np.float32)
        out: list[Pcm] = []
        for decoded in frames:
            for resampled in self._resampler.resample(decoded):  # type: ignore[arg-type]
                out.append(resampled.to_ndarray().reshape(-1).astype(np.float32, copy=False))
        if not out:
            return np.zeros(0, dtype=np.float32)
        return out[0] if len(out) == 1 else np.concatenate(out)
