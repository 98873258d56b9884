"""Recording and sealing core of Shared Court.

Every participant's published tracks are recorded by stream copy (no decode, no re-encode) into
per-track WebM/Matroska files; what happens in the session goes into a hash-chained event log;
at the end a manifest listing every file's SHA-256 is signed with the server's Ed25519 key.

Server-facing API:

- ``ServerKey.load_or_create(keys_dir)`` — the sealing key; ``.public_pem()`` to export.
- ``SessionRecorder.start(...)`` — one per session; ``open_track()`` gives a ``TrackRecorder``
  (a ``FrameSink``) per published track and segment; ``log_*`` coroutines; ``seal()``.
- ``recover_interrupted(recordings_dir, key)`` — at start-up, seals cut-off recordings.
- ``verify_folder(path)`` / ``verify_main(argv)`` — checks a sealed folder.
"""

from .cli import verify_main
from .event_log import ChainCheck, EventLog, EventType, LogEntry, check_chain
from .failure import RecordingFailure, StopReason
from .keys import ServerKey, load_public_key
from .recovery import RecoveredSession, find_interrupted, recover_interrupted
from .seal import add_documents, folder_facts, seal_folder
from .session import SessionExists, SessionRecorder
from .timeline import Gap
from .track import RecorderOptions, TrackRecorder
from .track_log import TrackFileInfo
from .verify import Problem, VerifyReport, verify_folder

__all__ = [
    "ChainCheck",
    "EventLog",
    "EventType",
    "Gap",
    "LogEntry",
    "Problem",
    "RecorderOptions",
    "RecordingFailure",
    "RecoveredSession",
    "ServerKey",
    "SessionExists",
    "SessionRecorder",
    "StopReason",
    "TrackFileInfo",
    "TrackRecorder",
    "VerifyReport",
    "add_documents",
    "check_chain",
    "find_interrupted",
    "folder_facts",
    "load_public_key",
    "recover_interrupted",
    "seal_folder",
    "verify_folder",
    "verify_main",
]
