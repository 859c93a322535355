"""PostgreSQL and Redis, made ready before any instance starts: the database exists and is
migrated (once, here, so that instances started together never race to migrate it), and Redis
answers.

Blocking; the stack runs these before its event loop serves anything.
"""

from __future__ import annotations

import psycopg
import redis
from psycopg import sql
from sqlalchemy import exc as sa_exc
from sqlalchemy import make_url

from taskboard.migrations.runner import migrate
from taskboard.settings import async_database_url, shown_url
from tiered import ImproperlyConfigured


def ensure_database(url: str) -> bool:
    """Create the PostgreSQL database ``url`` names unless it exists; ``True`` if it was made."""
    target = make_url(url)
    name = target.database
    if not name:
        raise ImproperlyConfigured(
            f"DATABASE_URL {shown_url(url)!r} names no database; add one: …:5432/taskboard."
        )
    # The server's maintenance database, where CREATE DATABASE can run.
    maintenance = target.set(drivername="postgresql", database="postgres")
    try:
        with psycopg.connect(
            maintenance.render_as_string(hide_password=False), autocommit=True, connect_timeout=5
        ) as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if exists:
                return False
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            return True
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ImproperlyConfigured(
            f"cannot reach PostgreSQL at {shown_url(url)}: {reason}. Start it, or point "
            "DATABASE_URL at one."
        ) from exc


def migrate_database(url: str) -> str | None:
    """Bring the schema up to date; the revision it was at before (``None``: empty)."""
    try:
        return migrate(async_database_url(url))
    except sa_exc.OperationalError as exc:
        raise ImproperlyConfigured(f"cannot migrate {shown_url(url)}: {exc.orig}") from exc


def check_redis(url: str) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise ImproperlyConfigured(
            f"cannot reach Redis at {url}: {exc}. Start it, or point REDIS_URL at one."
        ) from exc
    finally:
        client.close()
