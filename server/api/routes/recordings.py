"""Routes of the recordings feature (filled in by its issue)."""

from __future__ import annotations

from server.api.framework import Api

api = Api()
