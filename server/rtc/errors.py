"""Errors the media layer raises to the signaling layer."""

from __future__ import annotations


class MediaError(Exception):
    """Base class of every error `server.rtc` raises on purpose."""


class UnknownParticipantError(MediaError, KeyError):
    """No server peer exists for this participant id."""


class RoomFullError(MediaError):
    """`MediaConfig.max_participants` is reached."""


class NegotiationError(MediaError):
    """An SDP offer/answer could not be applied: malformed SDP, wrong type, or wrong state
    (e.g. the client offered while the server's own offer was outstanding: glare, and aiortc
    cannot roll back, so the client must roll back and answer the server's offer)."""
