"""Alembic migrations for Taskboard; run with ``taskboard migrate`` (or on start-up)."""
