"""The court network's HTTP routes, one module per resource; `access` holds the helpers they
share. `api` joins the modules' routes in one fixed order (the order they had before the split,
which the OpenAPI document in docs/openapi.json follows); server/app.py registers it.
"""

from __future__ import annotations

from server.court_network.routes import (
    alerts,
    api_keys,
    areas,
    attachments,
    csv_import,
    education,
    intakes,
    lookup,
    mediators,
    online_intake,
    shared_courts,
    statistics,
    terminal,
    transfer,
    webhooks,
)
from server.http.framework import Api

# Core services first (areas to the terminal), then the open integration (statistics to import).
MODULES = (
    areas,
    shared_courts,
    mediators,
    intakes,
    attachments,
    transfer,
    online_intake,
    lookup,
    terminal,
    statistics,
    education,
    api_keys,
    webhooks,
    csv_import,
    alerts,
)

api = Api()
for _module in MODULES:
    api.routes.extend(_module.api.routes)
