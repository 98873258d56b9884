"""Routes of the network feature: shared courts, intakes, terminal services, statistics and
open integration. The handlers live in server/court_network/routes/ (see docs/network.md)."""

from __future__ import annotations

from server.court_network.routes import api as network_api
from server.http.framework import Api

api = Api()
api.routes.extend(network_api.routes)
