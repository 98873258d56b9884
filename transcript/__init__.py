"""Offline, speaker-labelled Mandarin transcription of mediation sessions.

Typical wiring in the server (one recogniser and queue per process, one transcript per session)::

    model_dir = ensure_model(settings.data_dir, settings.asr_model_dir)
    recognizer = FasterWhisperRecognizer(model_dir, cpu_threads=1, workers=1)
    queue = RecognitionQueue(recognizer)

    transcript = Transcript(queue)
    sink = transcript.add_speaker(Speaker("p1", "张三", "申请人"))
    track.add_sink(sink)            # the SFU calls sink.on_frame(frame) / sink.on_end()
    transcript.subscribe(send_caption)
    transcript.set_enabled(False)   # the mediator switches transcription off
    await transcript.aclose()
"""

from transcript import _offline  # noqa: F401  (must run before faster_whisper loads)
from transcript.capture import SpeakerTranscriber
from transcript.chinese import to_simplified, to_transcript_text
from transcript.model import ModelError, ensure_model
from transcript.queue import QueueStats, RecognitionQueue
from transcript.recognizer import SpeechRecognizer
from transcript.segment import SAMPLE_RATE, Segment, SegmentStatus, Speaker, Utterance
from transcript.session import Transcript
from transcript.vad import VadSettings
from transcript.whisper import FasterWhisperRecognizer, WhisperConfig

__all__ = [
    "SAMPLE_RATE",
    "FasterWhisperRecognizer",
    "ModelError",
    "QueueStats",
    "RecognitionQueue",
    "Segment",
    "SegmentStatus",
    "Speaker",
    "SpeakerTranscriber",
    "SpeechRecognizer",
    "Transcript",
    "Utterance",
    "VadSettings",
    "WhisperConfig",
    "ensure_model",
    "to_simplified",
    "to_transcript_text",
]
