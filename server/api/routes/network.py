"""Routes of the network feature: shared courts, intakes, terminal services, statistics and
open integration. The handlers live in server/court_network/ (see docs/network.md)."""

from __future__ import annotations

from server.court_network import routes_core, routes_integration
from server.http.framework import Api

api = Api()
api.routes.extend(routes_core.api.routes)
api.routes.extend(routes_integration.api.routes)
