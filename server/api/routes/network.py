"""Routes of the network feature (filled in by its issue)."""

from __future__ import annotations

from server.api.framework import Api

api = Api()
