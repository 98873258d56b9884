"""The court's core: courts and their staff, cases and parties, mediation sessions and their
invitations, village terminals, staff and terminal login, joining by link, the audit log.

Its tables are the shared domain (`server.models`), which every other feature builds on; this
folder holds the core's schemas (`schemas.py`) and one route module per resource (`routes/`).
"""
