"""The server's Ed25519 key: it seals recordings and signs the seals on agreements.

One key per server, in `<data_dir>/keys`, loaded once and kept on the application state, so
the recorder and the agreement documents use the same key without either importing the other.
"""

from __future__ import annotations

from pathlib import Path

from recording import ServerKey
from server.state import AppState, StateKey

SERVER_KEY: StateKey[ServerKey] = StateKey("server_key")


def keys_dir(state: AppState) -> Path:
    return state.settings.data_dir / "keys"


def server_key(state: AppState) -> ServerKey:
    """The key, loaded (or created) on first use."""
    key = state.find(SERVER_KEY)
    if key is None:
        key = state.attach(SERVER_KEY, ServerKey.load_or_create(keys_dir(state)))
    return key
