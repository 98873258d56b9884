"""Alembic environment: the application passes an open connection (see server.db.Database.migrate).

For `alembic revision --autogenerate` during development, set SHARED_COURT_DATABASE_URL to a sync
URL (e.g. sqlite:///data/dev.db).
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from server.models import Base

target_metadata = Base.metadata
config = context.config


def run() -> None:
    conn = config.attributes.get("connection")
    if conn is None:
        url = os.environ.get("SHARED_COURT_DATABASE_URL", "sqlite:///data/alembic-dev.db")
        engine = create_engine(url)
        with engine.begin() as c:
            context.configure(connection=c, target_metadata=target_metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
        return
    context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run()
