"""What a feature of the live room is: the one interface recording, transcription, the identity
check, the agreement and the court network plug into.

A feature declares the client events it handles and reacts to the room's moments; the signaling
service calls every feature at each moment, in the order the features were added (the wiring in
`server/app.py` states that order, e.g. recording seals a session before the agreement adds its
documents to the sealed folder). A feature keeps its per-room state in a typed object of its own
(`LiveRoom.state_of(ItsState)`), never in shared dictionaries, so a room and its features stay
one unit that a media worker process can own.

Every method has a no-op default: a feature overrides the moments it cares about.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from signaling import protocol as p

if TYPE_CHECKING:
    from server.rtc.publication import PublishedTrack
    from signaling.live_room import LiveRoom

# A client event's payload model and handler (sid, identity, parsed event) -> ack fields.
EventHandler = tuple[type[p.Event], Callable[..., Awaitable[Any]]]


class RoomFeature:
    name: ClassVar[str] = "feature"

    def events(self) -> Mapping[str, EventHandler]:
        """The client events this feature handles (validated, authorised and acked for it)."""
        return {}

    async def on_start(self, live: LiveRoom) -> None:
        """The mediator started the session (also: a recorded session resumed after a restart)."""

    def on_track(self, live: LiveRoom, track: PublishedTrack) -> None:
        """A participant published a track."""

    async def on_event(
        self, live: LiveRoom, action: str, actor: str, details: dict[str, Any]
    ) -> None:
        """A room event was logged (audit row written); in log order."""

    async def check_end(self, live: LiveRoom, ev: p.EndSession) -> None:
        """Before the session ends with an outcome: raise SignalingError to refuse."""

    async def on_end(self, live: LiveRoom, outcome: str, note: str) -> None:
        """The session ended with an outcome (logged), before the room closes."""

    async def on_server_stop(self, live: LiveRoom) -> None:
        """A clean server stop (SIGTERM), after the room's media closed; the room itself stays
        live in the database and resumes after the restart."""
