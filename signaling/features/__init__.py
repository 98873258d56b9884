"""The live room's features, each a `RoomFeature` (signaling/feature.py) over the room's public
`RoomContext` (signaling/context.py), never the socket.io service:

- `identity_check` — the identity rule (核验身份) before a party is admitted;
- `recording` — stream-copy recording, sealed as evidence at the end;
- `agreement` — drafting, showing and signing the mediation agreement, per caucus group;
- `transcription` — the live Mandarin transcript and captions;
- `court_network` — a session's start and outcome move the case's intake along.

`server/app.py` adds them in that order, the order they run at every moment of a room. They
are independent of each other (an import-linter contract in pyproject.toml); what they share
goes through the domain below them (server/agreements, recording/, transcript/, the models).
"""
