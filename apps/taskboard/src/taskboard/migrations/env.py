"""Alembic's entry point: runs migrations with a synchronous driver on the configured URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

import taskboard.accounts.models
import taskboard.admin.models
import taskboard.jobs.models
import taskboard.tasks.models  # noqa: F401  (registers the tables on Base.metadata)
from taskboard.db import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
if url is None:
    raise RuntimeError("Run migrations through taskboard.migrations.runner, which sets the URL.")
engine = create_engine(url, poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
