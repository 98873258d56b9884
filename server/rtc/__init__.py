"""Media layer (SFU): forwards encoded frames between participants without transcoding.

Public API for the signaling layer: `MediaRoom`, `MediaRoomObserver`, `MediaConfig`, the errors,
and `PublishedTrack` / `FrameSink` / `EncodedFrame` for taps (recorder, transcriber).
`MediaClient` is the headless participant used by the probe, tests and benchmarks.
"""

from .config import MediaConfig
from .errors import MediaError, NegotiationError, RoomFullError, UnknownParticipantError
from .frame import EncodedFrame, FrameSink, MediaKind
from .publication import PublishedTrack, publisher_of_track_id
from .room import MediaRoom, MediaRoomObserver

__all__ = [
    "EncodedFrame",
    "FrameSink",
    "MediaConfig",
    "MediaError",
    "MediaKind",
    "MediaRoom",
    "MediaRoomObserver",
    "NegotiationError",
    "PublishedTrack",
    "RoomFullError",
    "UnknownParticipantError",
    "publisher_of_track_id",
]
