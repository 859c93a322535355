"""What ``taskboard stack`` runs, read from the environment once, and where it keeps its state.

================================  ===============================================================
``STACK_PORT``                    nginx's TLS port on 127.0.0.1 (default 8443)
``STACK_INSTANCES``               how many Taskboard instances behind it (default 2, at least 1)
``STACK_TLS_CERT``                a certificate chain (PEM) to use instead of the local CA's;
``STACK_TLS_KEY``                 its private key. Both or neither.
``STACK_EXPOSE_UPSTREAM``         ``1``: nginx adds ``X-Upstream`` (which instance answered) to
                                  every response; for tests, never in production
``DATABASE_URL``                  PostgreSQL (default ``postgresql://postgres@127.0.0.1:5432/
                                  taskboard``), created when it does not exist
``REDIS_URL``                     default ``redis://127.0.0.1:6379/0``
``BROKER_URL``                    the job queue's broker (default: ``REDIS_URL``; RabbitMQ's
                                  ``amqp://…`` works too)
``STACK_WORKERS``                 how many job workers (default 2; 0 runs none)
``SECRET_KEY``                    shared by every instance; default: one generated once into
                                  the state directory
``TASKBOARD_DATA``                the data directory (default ``var/``); the stack's state is in
                                  its ``stack/`` folder
================================  ===============================================================

``TRUSTED_ORIGINS``, ``METRICS_TOKEN`` and the rest of the environment pass through to the
instances unchanged.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from taskboard.settings import stored_secret
from tiered import ImproperlyConfigured

DEFAULT_PORT = 8443
DEFAULT_INSTANCES = 2
DEFAULT_WORKERS = 2
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/taskboard"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
HOST = "127.0.0.1"
PROXY_ADDRESS = "127.0.0.10"
"""The source address of nginx's connections to the instances (``proxy_bind``): the only
address whose X-Forwarded-* headers they trust."""

# apps/taskboard/src/taskboard/stack/config.py → the repository, which holds deploy/.
REPOSITORY = Path(__file__).resolve().parents[5]
NGINX_TEMPLATE = REPOSITORY / "deploy" / "nginx.conf"

_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True, slots=True)
class StatePaths:
    """Everything the stack writes, under one directory (``$TASKBOARD_DATA/stack``)."""

    root: Path

    @property
    def pid_file(self) -> Path:
        return self.root / "stack.pid"

    @property
    def state_file(self) -> Path:
        """JSON: the running instances (slot, pid, port), nginx's pid, how many rolls are done."""
        return self.root / "stack.json"

    @property
    def tls(self) -> Path:
        return self.root / "tls"

    @property
    def nginx(self) -> Path:
        """nginx's pid file, logs, temporary files and cache."""
        return self.root / "nginx"

    @property
    def nginx_conf(self) -> Path:
        return self.root / "nginx.conf"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def worker_log(self, slot: int) -> Path:
        return self.logs / f"worker-{slot}.log"

    def worker_ready(self, slot: int) -> Path:
        """Written by the job worker in ``slot`` once it takes jobs (``--ready-file``)."""
        return self.root / f"worker-{slot}.ready"

    def instance_log(self, slot: int) -> Path:
        return self.logs / f"instance-{slot}.log"

    def create(self) -> None:
        for directory in (self.root, self.tls, self.nginx, self.logs):
            directory.mkdir(parents=True, exist_ok=True)
        self.tls.chmod(0o700)  # the CA's key lives here
        for stale in self.root.glob("worker-*.ready"):  # a stack before this one's workers
            stale.unlink()


@dataclass(frozen=True, slots=True)
class StackConfig:
    port: int
    instances: int
    database_url: str
    """As given (``postgresql://…``); each instance derives its own driver URL from it."""
    redis_url: str
    secret_key: str
    state: StatePaths
    workers: int = DEFAULT_WORKERS
    broker_url: str = ""
    """The job queue's broker; empty: ``redis_url``."""
    nginx_template: Path = NGINX_TEMPLATE
    tls_cert: Path | None = None
    tls_key: Path | None = None
    expose_upstream: bool = False
    environ: Mapping[str, str] | None = None
    """The environment the instances inherit (default: this process's)."""

    @property
    def url(self) -> str:
        return f"https://{HOST}:{self.port}/"

    @classmethod
    def from_environ(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        port: int | None = None,
        instances: int | None = None,
    ) -> StackConfig:
        """Read and check the environment; ``port``/``instances`` override theirs (the CLI's)."""
        env = dict(os.environ if environ is None else environ)
        port = port if port is not None else _whole(env, "STACK_PORT", DEFAULT_PORT)
        if not 1 <= port <= 65535:
            raise ImproperlyConfigured(f"STACK_PORT is {port}; expected a port from 1 to 65535.")
        count = (
            instances
            if instances is not None
            else _whole(env, "STACK_INSTANCES", DEFAULT_INSTANCES)
        )
        if count < 1:
            raise ImproperlyConfigured(
                f"STACK_INSTANCES is {count}; the stack needs at least 1 instance (2 to roll "
                "without a gap in capacity)."
            )
        database_url = env.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL
        _require_postgresql(database_url)
        state = StatePaths(Path(env.get("TASKBOARD_DATA", "var")).resolve() / "stack")
        cert, key = env.get("STACK_TLS_CERT", "").strip(), env.get("STACK_TLS_KEY", "").strip()
        if bool(cert) != bool(key):
            raise ImproperlyConfigured(
                "Set both STACK_TLS_CERT (the certificate chain, PEM) and STACK_TLS_KEY (its "
                "private key), or neither to use the stack's own local CA."
            )
        for name, value in (("STACK_TLS_CERT", cert), ("STACK_TLS_KEY", key)):
            if value and not Path(value).is_file():
                raise ImproperlyConfigured(f"{name} is {value!r}, which is not a file.")
        template = Path(env.get("STACK_NGINX_TEMPLATE", "") or NGINX_TEMPLATE)
        if not template.is_file():
            raise ImproperlyConfigured(
                f"The nginx configuration template {str(template)!r} is missing; run the stack "
                "from a checkout of the repository (it is deploy/nginx.conf there), or point "
                "STACK_NGINX_TEMPLATE at a copy."
            )
        secret = env.get("SECRET_KEY") or env.get("TIERED_SECRET_KEY") or ""
        return cls(
            port=port,
            instances=count,
            database_url=database_url,
            redis_url=env.get("REDIS_URL", "").strip() or DEFAULT_REDIS_URL,
            secret_key=secret or stored_secret(state.root),
            state=state,
            workers=_whole(env, "STACK_WORKERS", DEFAULT_WORKERS),
            broker_url=env.get("BROKER_URL", "").strip(),
            nginx_template=template.resolve(),
            tls_cert=Path(cert).resolve() if cert else None,
            tls_key=Path(key).resolve() if key else None,
            expose_upstream=env.get("STACK_EXPOSE_UPSTREAM", "").strip().lower() in _TRUE,
            environ=env,
        )


def current_user() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


def _whole(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} is {raw!r}; expected a whole number.") from None


def _require_postgresql(url: str) -> None:
    try:
        parsed = make_url(url)
    except ArgumentError:
        parsed = None
    if parsed is None or parsed.get_backend_name() != "postgresql":
        shown = url if parsed is None else parsed.render_as_string(hide_password=True)
        raise ImproperlyConfigured(
            f"DATABASE_URL is {shown!r}; the stack runs several instances on one database, which "
            f"needs PostgreSQL: postgresql://user@host:port/dbname (default "
            f"{DEFAULT_DATABASE_URL})."
        )
