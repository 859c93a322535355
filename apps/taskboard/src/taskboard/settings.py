"""Taskboard's settings, read from the environment once at start-up.

=========================  =======================================================================
``DATABASE_URL``           ``postgresql://user@host:port/db`` or ``sqlite:///path``; default: a
                           SQLite file in the data directory. The app picks its own async driver.
``TASKBOARD_DATA``         the data directory (default ``var/``): the SQLite file and a generated
                           secret
``SECRET_KEY``             signs cookies and tokens (``TIERED_SECRET_KEY`` works too); default: a
                           random key generated once and kept in the data directory
``REDIS_URL``              rate limits, duplicate-submission keys and telemetry shared by every
                           process and instance (default: in memory, per process)
``BROKER_URL``             the job queue's broker: ``amqp://…`` (RabbitMQ) or ``redis://…``;
                           default: a SQLite file in the data directory (``queue.db``), which
                           ``taskboard serve`` runs a worker for by itself
``JOB_QUEUE``              the queue's name on that broker (default ``taskboard``)
``METRICS_TOKEN``          the bearer token ``/metrics`` answers to; unset means ``/metrics`` is a
                           404
``FORWARDED_ALLOW_IPS``    the proxies in front (addresses or networks, comma-separated; ``*`` for
                           any): only their ``X-Forwarded-For``/``-Proto``/``-Host`` are believed,
                           for the client's address (log-in limits), https (``Secure`` cookies,
                           HSTS) and the origin forms must come from. Default: none; every such
                           header is ignored
``TRUSTED_ORIGINS``        other origins allowed to post forms here (``https://admin.example.org``,
                           comma-separated); the app's own public origin needs no entry
``DEBUG``                  ``1`` shows tracebacks on error pages; never in production
``TASKBOARD_INSTANCES``    how many app processes share the PostgreSQL database (instances times
                           workers; default 1): each keeps at most its share of the server's
                           ``max_connections`` (less 10 kept for administration), at most 10
``DATABASE_POOL_SIZE``     connections each process keeps (PostgreSQL); default: its share as
                           above. Start-up refuses a size that, times ``TASKBOARD_INSTANCES``,
                           would exceed ``max_connections`` less 10
``SMTP_URL``               where mail goes: ``smtp://host:port`` (plain), ``smtp+starttls://…``
                           (STARTTLS required) or ``smtps://…`` (TLS from the start), with
                           ``user:password@`` when the server wants a log-in. Default: none; each
                           message is written to ``outbox/`` in the data directory instead
``MAIL_FROM``              the sender of the mail the app sends (default
                           ``Taskboard <taskboard@localhost>``)
``PUBLIC_URL``             the site's address as people reach it (``https://tasks.example.org``),
                           used in the links mailed to them. Default: the origin each request was
                           made to (behind a trusted proxy, the one it reports). Set it in
                           production: otherwise a request with a forged ``Host`` header could
                           have a link mailed that points elsewhere
``PASSWORD_RESET_MAX_AGE`` seconds a mailed password-reset link works (default 3600: one hour)
=========================  =======================================================================

``OTEL_EXPORTER_OTLP_ENDPOINT`` (OpenTelemetry's own name) names an OTLP/HTTP collector, such as
``http://collector:4318``: each request is then traced, with tiered's tier, reasons and
representation on its span. Unset: no tracing.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import make_url

from tiered import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
DEFAULT_MAIL_FROM = "Taskboard <taskboard@localhost>"


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    """An SQLAlchemy async URL (``sqlite+inline://…`` or ``postgresql+psycopg://…``)."""

    secret_key: str
    debug: bool = False
    redis_url: str | None = None
    metrics_token: str | None = None
    otel_endpoint: str | None = None
    """OpenTelemetry's ``OTEL_EXPORTER_OTLP_ENDPOINT``: where traces go; ``None``: no tracing."""
    trusted_proxies: tuple[str, ...] = ()
    """``FORWARDED_ALLOW_IPS``: see ``tiered.TieredSettings.trusted_proxies``."""
    trusted_origins: tuple[str, ...] = ()
    """``TRUSTED_ORIGINS``: see ``tiered.TieredSettings.trusted_origins``."""
    data_dir: Path = Path("var")
    login_failures_per_address: str = "10/minute"
    """Failed log-ins one client address may make (the limits library's syntax; ``;`` joins)."""
    login_failures_per_account: str = "5/minute;100/hour"
    """Failed log-ins to one account from browsers without its device cookie (OWASP ASVS: at
    most 100 an hour)."""
    login_failures_per_device: str = "5/minute;100/hour"
    """Failed log-ins to one account from one browser that logged in to it before."""
    smtp_url: str | None = None
    """``SMTP_URL``: the SMTP server mail goes to; ``None``: the outbox folder (see ``outbox``)."""
    mail_from: str = DEFAULT_MAIL_FROM
    """``MAIL_FROM``: the ``From`` of every message."""
    mail_retry_seconds: float = 2.0
    """How long a message that could not be sent waits before the first retry; each later retry
    waits twice as long as the one before (``taskboard.mail.send_with_retries``)."""
    public_url: str | None = None
    """``PUBLIC_URL``: the origin mailed links use, without a trailing ``/``; ``None``: the
    request's own."""
    password_reset_max_age: int = 3600
    """``PASSWORD_RESET_MAX_AGE``: seconds a password-reset link works."""
    signups_per_address: str = "10/minute;30/hour"
    """Sign-ups one client address may make, so nobody tests quickly which emails have accounts;
    a test suite that signs up many users from 127.0.0.1 raises it."""
    reset_requests_per_address: str = "10/minute;50/hour"
    """Password-reset requests one client address may make, whatever the emails."""
    reset_requests_per_email: str = "3/hour;10/day"
    """Password-reset requests for one email, from anywhere: its owner's inbox is not flooded."""
    instances: int = 1
    """``TASKBOARD_INSTANCES``: the processes sharing the database, which share its
    connections (see ``taskboard.ops.pool.pool_size_for``)."""
    database_pool_size: int | None = None
    """``DATABASE_POOL_SIZE``: this process's PostgreSQL connections; ``None``: its share."""
    broker: str | None = None
    """``BROKER_URL``: the job queue's broker; ``None``: the embedded one (see
    :attr:`broker_url`)."""
    job_queue: str = "taskboard"
    """``JOB_QUEUE``: the queue's name on the broker; apps (or test runs) sharing one broker each
    need their own."""

    @property
    def broker_url(self) -> str:
        """Where job messages go: ``BROKER_URL``, else a SQLite file in the data directory."""
        from taskboard.jobs.queue import embedded_broker_url

        return self.broker or embedded_broker_url(self.data_dir)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("TASKBOARD_DATA", "var"))
        raw_url = env.get("DATABASE_URL", "").strip()
        if raw_url:
            database_url = async_database_url(raw_url)
        else:
            data_dir.mkdir(parents=True, exist_ok=True)
            database_url = f"sqlite+inline:///{data_dir / 'taskboard.db'}"
        secret = env.get("SECRET_KEY") or env.get("TIERED_SECRET_KEY") or stored_secret(data_dir)
        return cls(
            database_url=database_url,
            secret_key=secret,
            debug=env.get("DEBUG", "").strip().lower() in _TRUE,
            redis_url=env.get("REDIS_URL") or None,
            metrics_token=env.get("METRICS_TOKEN") or None,
            otel_endpoint=env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None,
            trusted_proxies=_listed(env.get("FORWARDED_ALLOW_IPS", "")),
            trusted_origins=_listed(env.get("TRUSTED_ORIGINS", "")),
            smtp_url=_smtp_url(env.get("SMTP_URL", "")),
            mail_from=env.get("MAIL_FROM", "").strip() or DEFAULT_MAIL_FROM,
            public_url=_public_url(env.get("PUBLIC_URL", "")),
            password_reset_max_age=_positive_count(env, "PASSWORD_RESET_MAX_AGE") or 3600,
            data_dir=data_dir,
            instances=_positive_count(env, "TASKBOARD_INSTANCES") or 1,
            database_pool_size=_positive_count(env, "DATABASE_POOL_SIZE"),
            broker=env.get("BROKER_URL") or None,
            job_queue=env.get("JOB_QUEUE", "").strip() or "taskboard",
        )


def async_database_url(url: str) -> str:
    """The async SQLAlchemy URL for a ``DATABASE_URL`` in the usual form."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ImproperlyConfigured(
            f"DATABASE_URL {url!r} is not a URL; expected postgresql://user@host:port/dbname or "
            "sqlite:///path/to/file.db."
        )
    base = scheme.split("+", 1)[0].lower()
    if base in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    if base == "sqlite":
        return f"sqlite+inline://{rest}"
    raise ImproperlyConfigured(
        f"DATABASE_URL scheme {scheme!r} is not supported; use postgresql:// or sqlite://."
    )


def sync_database_url(async_url: str) -> str:
    """The same database with a synchronous driver, for Alembic."""
    return async_url.replace("+inline", "", 1)


def _listed(raw: str) -> tuple[str, ...]:
    """A comma-separated environment variable's items."""
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _smtp_url(raw: str) -> str | None:
    """``SMTP_URL``, checked now so that a mistake stops start-up rather than the first mail."""
    from taskboard.mail import SmtpServer  # mail imports no settings: no cycle

    url = raw.strip()
    if not url:
        return None
    SmtpServer.parse(url)
    return url


def _public_url(raw: str) -> str | None:
    """``PUBLIC_URL`` as an origin (and optional path prefix) without a trailing ``/``."""
    url = raw.strip().rstrip("/")
    if not url:
        return None
    scheme, sep, rest = url.partition("://")
    if (
        scheme.lower() not in ("http", "https")
        or not sep
        or not rest
        or any(c in rest for c in "?# ")
    ):
        raise ImproperlyConfigured(
            f"PUBLIC_URL {raw!r} is not a site address; set it like https://tasks.example.org "
            "(the scheme and host people use, no query or fragment)."
        )
    return url


def shown_url(url: str) -> str:
    """A database URL with any password hidden, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def stored_secret(directory: Path) -> str:
    """A random secret generated once per directory (its ``secret_key`` file), so `make run`
    needs no set-up and every instance of `make stack` signs alike."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "secret_key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48), encoding="ascii")
    return path.read_text(encoding="ascii").strip()


def _positive_count(env: Mapping[str, str], name: str) -> int | None:
    """A whole number of at least 1 from ``env[name]``; ``None`` when unset or empty."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not a whole number of at least 1; set it to, say, {name}=4, "
            "or unset it."
        )
    return int(raw)
