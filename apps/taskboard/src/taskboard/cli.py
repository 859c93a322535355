"""The ``taskboard`` command: serve the app, migrate its database, create users, seed demo data.

Every subcommand reads the same settings as the app (``DATABASE_URL``, ``TASKBOARD_DATA``, …;
see :mod:`taskboard.settings`) and brings the database up to date before it does anything else.

Exit codes: 0 success, 1 the command could not do what was asked (the message says why), 2 the
command line itself is wrong (argparse's usage error).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import multiprocessing
import os
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TextIO

from sqlalchemy import exc as sa_exc

import tiered
from taskboard.accounts.service import hash_password, register
from taskboard.db import Database
from taskboard.migrations.runner import HEAD, current_revision, upgrade
from taskboard.ops.seed import DEFAULT_PASSWORD, SeedRefused, seed
from taskboard.ops.service import logging_config
from taskboard.settings import Settings, shown_url

OK = 0
FAILED = 1
USAGE = 2

SERVERS = ("uvicorn", "granian")
APP_FACTORY = "taskboard.app:create_app"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``) and return its exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_environ()
    except tiered.ImproperlyConfigured as exc:
        _error(str(exc))
        return FAILED
    try:
        code: int = args.run(args, settings)
    except tiered.ImproperlyConfigured as exc:
        _error(str(exc))
        return FAILED
    except sa_exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        _error(
            f"cannot use the database at {shown_url(settings.database_url)}: {reason}. Check that "
            "it is running and that DATABASE_URL names it."
        )
        return FAILED
    except KeyboardInterrupt:
        return 130
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taskboard",
        description="Taskboard, the reference app of tiered. Settings come from the environment: "
        "DATABASE_URL (default: a SQLite file in TASKBOARD_DATA, default var/), SECRET_KEY, "
        "REDIS_URL, METRICS_TOKEN, DEBUG.",
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="apply migrations, then serve the app")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument(
        "--port",
        type=int,
        default=_default_port(),
        help="port to listen on (default: $PORT, else 8000)",
    )
    serve.add_argument("--workers", type=_positive, default=1, help="worker processes (1)")
    serve.add_argument(
        "--server",
        choices=SERVERS,
        default="granian",
        help="ASGI server (granian: under load it answers every connection in turn, where "
        "uvicorn lets some wait seconds; bench/README.md)",
    )
    serve.add_argument(
        "--no-worker",
        dest="worker",
        action="store_false",
        help="do not start a job worker alongside (by default one runs, and stops with the "
        "server; make stack starts its own)",
    )
    serve.set_defaults(run=_serve)

    worker = commands.add_parser(
        "worker", help="run jobs (imports, exports, mail) from the queue BROKER_URL names"
    )
    worker.add_argument(
        "--concurrency", type=_positive, default=1, help="jobs run at once (1: in this process)"
    )
    worker.add_argument(
        "--ready-file",
        type=Path,
        help="write this file once the worker takes jobs (what `taskboard stack` waits for)",
    )
    worker.set_defaults(run=_worker)

    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(run=_migrate)

    create_user = commands.add_parser("create-user", help="create an account")
    create_user.add_argument("email")
    create_user.add_argument("--admin", action="store_true", help="give it the admin role")
    create_user.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input instead of asking",
    )
    create_user.set_defaults(run=_create_user)

    seed_command = commands.add_parser(
        "seed", help="create demo users user1@example.org… and tasks spread across them"
    )
    seed_command.add_argument("--users", type=_positive, required=True, help="how many users")
    seed_command.add_argument("--tasks", type=_count, required=True, help="how many tasks")
    seed_command.add_argument(
        "--password",
        default=DEFAULT_PASSWORD,
        help=f"every seeded user's password (default: {DEFAULT_PASSWORD!r})",
    )
    seed_command.set_defaults(run=_seed)

    stack = commands.add_parser(
        "stack",
        help="the production topology here: nginx (TLS, HTTP/2) in front of several instances "
        "on PostgreSQL and Redis; SIGHUP rolls them, Ctrl-C stops it all",
        description="Settings from the environment: STACK_PORT, STACK_INSTANCES, DATABASE_URL "
        "(default postgresql://postgres@127.0.0.1:5432/taskboard), REDIS_URL (default "
        "redis://127.0.0.1:6379/0), STACK_TLS_CERT/STACK_TLS_KEY; see taskboard.stack.config.",
    )
    stack.add_argument(
        "--port", type=_positive, help="nginx's TLS port (default: $STACK_PORT, else 8443)"
    )
    stack.add_argument(
        "--instances",
        type=_positive,
        help="Taskboard instances (default: $STACK_INSTANCES, else 2)",
    )
    stack.set_defaults(run=_stack)
    return parser


def _default_port() -> int:
    raw = os.environ.get("PORT", "").strip()
    return int(raw) if raw.isdigit() else 8000


def _positive(raw: str) -> int:
    value = _count(raw)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a positive whole number; use 1 or more")
    return value


def _count(raw: str) -> int:
    try:
        value = int(raw.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number, like 100000") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{raw!r} is negative; use 0 or more")
    return value


def _error(message: str) -> None:
    print(f"taskboard: error: {message}", file=sys.stderr)


# --- migrate --------------------------------------------------------------------------------


def _apply_migrations(settings: Settings, out: TextIO, *, apart: bool = False) -> None:
    """Bring the database up to date and say so on ``out``. ``apart``: run Alembic in a process
    of its own, so that this one (about to serve, or to fork the server's workers) never loads
    it; see :mod:`taskboard.migrations.runner`."""
    before = current_revision(settings.database_url)
    if before == HEAD:
        print(
            f"Database {shown_url(settings.database_url)} is up to date (revision {HEAD}).",
            file=out,
        )
        return
    if apart:
        # spawn, not fork: a fresh interpreter, whatever threads this one has. An exception in
        # it comes back here as itself, so main() reports it as usual.
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as migration:
            migration.submit(upgrade, settings.database_url).result()
    else:
        upgrade(settings.database_url)
    print(
        f"Migrated {shown_url(settings.database_url)} from {before or 'an empty database'} to "
        f"revision {HEAD}.",
        file=out,
    )


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    _apply_migrations(settings, sys.stdout)
    return OK


# --- serve ----------------------------------------------------------------------------------


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    _apply_migrations(settings, sys.stderr, apart=True)
    worker = _start_worker() if args.worker else None
    try:
        return _run_server(args)
    finally:
        if worker is not None:
            _stop_worker(worker)


def _start_worker() -> subprocess.Popen[bytes]:
    """A job worker beside the server, in a process of its own, with the same settings."""
    return subprocess.Popen([sys.executable, "-m", "taskboard", "worker"])


def _stop_worker(worker: subprocess.Popen[bytes]) -> None:
    """Stop it as the server stopped: SIGTERM lets the job in hand finish (30 s at most)."""
    if worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from taskboard.jobs import worker

    _apply_migrations(settings, sys.stderr, apart=True)
    worker.main(settings, concurrency=args.concurrency, ready_file=args.ready_file)
    return OK


def _run_server(args: argparse.Namespace) -> int:
    host = f"[{args.host}]" if ":" in args.host else args.host
    workers = "1 worker" if args.workers == 1 else f"{args.workers} workers"
    print(f"Taskboard on http://{host}:{args.port}/ ({args.server}, {workers})", flush=True)
    if args.server == "granian":
        from granian import Granian
        from granian.constants import Interfaces
        from granian.http import HTTP1Settings

        Granian(
            APP_FACTORY,
            address=args.host,
            port=args.port,
            interface=Interfaces.ASGI,
            workers=args.workers,
            factory=True,
            log_dictconfig=logging_config(),
            log_access=False,
            # Served straight to clients (make run), slow ones must not crowd out the rest: a
            # connection has 10 s to send its headers (granian's default is 30 s; the app itself
            # gives a body 30 s, tiered's body_timeout_seconds), and the listen queue is as deep
            # as Linux allows by default (somaxconn): with granian's default queue of 1,024, a
            # flood of 2,000 slowloris connections kept a probe waiting for 7-10 s here; with
            # these, every probe was answered in milliseconds (slowhttptest -H -c 2000).
            backlog=4096,
            http1_settings=HTTP1Settings(header_read_timeout=10_000),
        ).serve()
        return OK
    import uvicorn

    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop="uvloop",
        http="httptools",
        log_config=logging_config(),
        access_log=False,  # tiered.access writes one JSON line a request instead
        proxy_headers=False,
    )
    return OK


# --- create-user ----------------------------------------------------------------------------


def _read_password(args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        line = sys.stdin.readline()
        return line.removesuffix("\n").removesuffix("\r")
    if not sys.stdin.isatty():
        _error("no terminal to ask for the password on; pipe it in with --password-stdin.")
        return None
    first = getpass.getpass("Password: ")
    second = getpass.getpass("Password (again): ")
    if first != second:
        _error("the two passwords differ; run the command again and type the same one twice.")
        return None
    return first


def _create_user(args: argparse.Namespace, settings: Settings) -> int:
    password = _read_password(args)
    if password is None:
        return FAILED
    _apply_migrations(settings, sys.stderr)

    async def create() -> tuple[int, str]:
        database = Database(settings.database_url)
        try:
            user = await register(database, args.email, password, is_admin=args.admin)
            return user.id, user.email
        finally:
            await database.dispose()

    try:
        user_id, email = asyncio.run(create())
    except tiered.ValidationFailed as exc:
        for error in exc.errors:
            _error(f"{error.field}: {error.message}")
        return FAILED
    role = "an admin" if args.admin else "a user"
    print(f"Created {role}: {email} (id {user_id}).")
    return OK


# --- seed -----------------------------------------------------------------------------------


def _seed(args: argparse.Namespace, settings: Settings) -> int:
    _apply_migrations(settings, sys.stderr)
    try:
        result = seed(
            settings.database_url,
            users=args.users,
            tasks=args.tasks,
            password_hash=hash_password(args.password),  # once: argon2 is slow on purpose
            progress=sys.stderr,
        )
    except SeedRefused as exc:
        _error(str(exc))
        return FAILED
    if not result.users:
        print(f"All {result.skipped_users} seed users exist already; nothing to seed.")
        return OK
    if result.skipped_users:
        print(f"Skipped {result.skipped_users} users that already exist.")
    print(
        f"Seeded {result.users} users and {result.tasks} tasks in {result.seconds:.1f} s. "
        f"Log in as user1@example.org with the password {args.password!r}."
    )
    return OK


# --- stack ----------------------------------------------------------------------------------


def _stack(args: argparse.Namespace, settings: Settings) -> int:
    from taskboard.stack import StackConfig, run_stack  # only this command needs it

    return run_stack(StackConfig.from_environ(port=args.port, instances=args.instances))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
