"""Where the time of Taskboard's list page goes: its pieces in microseconds, in-process.

Run: ``python -m bench.list_profile [--requests N] [--rounds N] [--no-save]`` (about a minute;
not part of ``make bench``).

One process, no server and no sockets: a SQLite database seeded by ``taskboard seed --users 1000
--tasks 100000``; Taskboard built by ``taskboard.app.create_app`` with ``taskboard.settings``, its
lifespan run, its JSON access log written to a file as ``taskboard serve`` writes it; one user
logged in through the real ``POST /login`` form; then ``GET /tasks`` as Chrome (the page: 20 of
the user's tasks) called straight through ASGI, one request after another.

1. **Totals** (no profiler): the page, the same handler's ``results`` fragment (``HX-Request``)
   and its JSON, in ``--rounds`` rounds of ``--requests`` requests; median µs a request, wall
   and CPU (they agree: the SQLite driver Taskboard uses runs on the event loop). The same for
   the FastAPI peer of part 7 (``bench.peers.fastapi_list``), whose aiosqlite driver runs every
   statement on a thread of its own, so there wall and CPU differ.
2. **Pieces**: the page again under a profiler of this module's own (``sys.setprofile``) that
   gives every moment to one piece: the piece of the innermost function on the stack that
   belongs to a *strong* piece (Taskboard's reading of the session and user, its task query, the
   template render, flags, telemetry, the access log, tiered's form guards), else to the
   innermost *weak* one (FastAPI's and Starlette's machinery with Pydantic's validation, tiered's
   middleware and core, tiered's view); code of neither kind (SQLAlchemy, the standard library)
   counts for the piece that called it. Strong pieces are matched by function, weak ones by
   package (see ``PIECES``). The profiler's own cost per event is measured on a calibration
   loop and taken off each piece; what it then still adds over the un-profiled page is spread
   over the pieces in proportion (printed as the scale, close to 1 when the correction holds).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import importlib
import io
import logging
import logging.config
import re
import signal
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, FrameType
from typing import Any
from urllib.parse import urlencode

from bench import taskboard_fixture as fixture
from bench.framework import CHROME
from bench.taskboard_fixture import BROWSER_ACCEPT, PASSWORD

ASGIApp = Callable[..., Any]
_greenlet: Any = importlib.import_module("greenlet")  # SQLAlchemy's asyncio layer needs it
_CSRF_INPUT = re.compile(rb'name="csrf_token" value="([^"]+)"')
REQUESTS = 400
ROUNDS = 5
SAMPLED_REQUESTS = 2500
INTERVAL = 0.001
"""Seconds of CPU time between samples asked for (the kernel's timer may give fewer)."""


# --- ASGI, in-process ---------------------------------------------------------------------------


async def call(
    app: ASGIApp,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes = b"",
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """One HTTP request through ``app``, as a server would make it; status, headers, body."""
    target, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": target,
        "raw_path": target.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent = False
    status = 0
    response_headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # a client that stays connected
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            response_headers.extend(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, response_headers, b"".join(chunks)


@contextlib.asynccontextmanager
async def lifespan(app: ASGIApp) -> AsyncIterator[None]:
    """The app's ASGI lifespan: started before the block, shut down after it."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    task = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, outbox.put)
    )
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    if started["type"] != "lifespan.startup.complete":
        raise SystemExit(f"The app did not start: {started}")
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task


def _cookies(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    jar = {}
    for name, value in headers:
        if name == b"set-cookie":
            key, _, rest = value.decode("latin-1").partition("=")
            jar[key] = rest.split(";", 1)[0]
    return jar


def _cookie_header(jar: dict[str, str]) -> str:
    return "; ".join(f"{k}={v}" for k, v in jar.items())


PAGE = {"User-Agent": CHROME, "Accept": BROWSER_ACCEPT}
FRAGMENT = {"User-Agent": CHROME, "Accept": "text/html", "HX-Request": "true"}
JSON = {"User-Agent": CHROME, "Accept": "application/json"}


async def log_in_taskboard(app: ASGIApp, email: str) -> str:
    """The ``Cookie`` header of ``email`` logged in through Taskboard's real form."""
    status, headers, body = await call(app, "GET", "/login", PAGE)
    jar = _cookies(headers)
    token = _CSRF_INPUT.search(body)
    if status != 200 or token is None:
        raise SystemExit(f"GET /login answered {status}: {body[:200]!r}")
    form = urlencode({"email": email, "password": PASSWORD, "csrf_token": token.group(1).decode()})
    status, headers, body = await call(
        app,
        "POST",
        "/login",
        {
            **PAGE,
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": "http://127.0.0.1:8000",
            "Cookie": _cookie_header(jar),
        },
        form.encode(),
    )
    jar.update(_cookies(headers))
    if status != 303:
        raise SystemExit(f"POST /login answered {status}: {body[:200]!r}")
    return _cookie_header(jar)


async def log_in_peer(app: ASGIApp, email: str) -> str:
    status, headers, body = await call(
        app,
        "POST",
        "/login",
        {"Content-Type": "application/x-www-form-urlencoded"},
        urlencode({"email": email}).encode(),
    )
    if status != 303:
        raise SystemExit(f"The FastAPI peer's POST /login answered {status}: {body[:200]!r}")
    return _cookie_header(_cookies(headers))


# --- totals ----------------------------------------------------------------------------------


@dataclass
class Total:
    wall_us: float
    cpu_us: float
    bytes: int


async def total(
    app: ASGIApp, headers: dict[str, str], cookie: str, requests: int, rounds: int
) -> Total:
    """Median over ``rounds`` of the µs per request (wall and CPU) of ``requests`` GET /tasks."""
    sent = {**headers, "Cookie": cookie}
    walls, cpus = [], []
    size = 0
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(requests):
            status, _, body = await call(app, "GET", "/tasks", sent)
            await asyncio.sleep(0)  # what a server's loop does between requests: run callbacks
        walls.append((time.perf_counter() - wall) / requests * 1e6)
        cpus.append((time.process_time() - cpu) / requests * 1e6)
        if status != 200 or (headers is not JSON and b"data-task-id" not in body):
            raise SystemExit(f"GET /tasks answered {status}: {body[:200]!r}")
        size = len(body)
    return Total(statistics.median(walls), statistics.median(cpus), size)


# --- pieces -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    name: str
    strong: bool
    """A strong piece keeps everything called beneath it, unless a strong piece is nearer."""
    paths: tuple[str, ...] = ()
    """Parts of a function's file path (``/sqlalchemy/``) that make it this piece's."""
    functions: tuple[str, ...] = ()
    """``path-part:qualified name prefix`` of the functions that make it this piece's."""
    how: str = ""


TASKBOARD_PIECES: tuple[Piece, ...] = (
    Piece(
        "access log",
        True,
        paths=("/logging/", "/json/"),
        functions=(
            "/taskboard/ops/service.py:JsonLineFormatter",
            "/tiered/asgi/accesslog.py:RequestRecord",
            "/tiered/asgi/accesslog.py:representation_sent",
            "/tiered/asgi/accesslog.py:_is_document",
            "/tiered/asgi/accesslog.py:AccessLogMiddleware._template",
        ),
        how="the JSON access-log line: its record, formatted, written to its file",
    ),
    Piece(
        "form guards (CSRF token, idempotency keys)",
        True,
        paths=("/tiered/asgi/csrf.py", "/tiered/asgi/idempotency.py", "/tiered/core/forms.py"),
        functions=(
            "/tiered/jinja/renderer.py:_csrf",
            "/tiered/jinja/renderer.py:_form_guard",
        ),
        how="the CSRF token and idempotency key each of the page's 22 forms carries",
    ),
    Piece(
        "flags",
        True,
        paths=("/tiered/flags/", "/openfeature/", "/taskboard/admin/", "/tiered/core/flags.py"),
        functions=("/tiered/jinja/renderer.py:_flag",),
        how="the flag() calls in the template, with OpenFeature and Taskboard's provider",
    ),
    Piece(
        "session load + save (database)",
        True,
        paths=("/taskboard/accounts/service.py",),
        functions=("/taskboard/ops/service.py:ResilientSessionStore",),
        how="Taskboard's session store (a row of the sessions table) and the SQLAlchemy it runs",
    ),
    Piece(
        "current user (database)",
        True,
        paths=("/taskboard/accounts/views.py",),
        how="the CurrentUser dependency: the user's row, through SQLAlchemy",
    ),
    Piece(
        "tasks page + count (database)",
        True,
        paths=("/taskboard/tasks/service.py",),
        how="taskboard.tasks.service.list_tasks: one statement, through SQLAlchemy's ORM",
    ),
    Piece(
        "database session open/close",
        True,
        paths=("/taskboard/db.py",),
        how="the DbSession dependency: a session, its pooled connection, its close",
    ),
    Piece(
        "template render",
        True,
        paths=("/jinja2/", "/jinja2_fragments/", "/markupsafe/", "/tiered/jinja/", ".html"),
        how="Jinja2 (the compiled templates, their filters and macros) and tiered's renderer",
    ),
    Piece(
        "telemetry",
        True,
        paths=("/tiered/telemetry/", "/prometheus_client/", "/opentelemetry/"),
        how="tiered's telemetry (latency histogram, counters)",
    ),
    Piece(
        "Taskboard's view (TaskOut, TaskList)",
        True,
        paths=("/taskboard/tasks/views.py",),
        how="the handler, building its Pydantic models (its query is a piece of its own)",
    ),
    Piece(
        "Taskboard's DatabaseGuard middleware",
        False,
        functions=("/taskboard/ops/service.py:DatabaseGuard",),
        how="the middleware that answers 503 while the database is away",
    ),
    Piece(
        "tiered's view (negotiation, rendering set-up)",
        False,
        paths=("/tiered/fastapi/",),
        how="tiered.view's wrapper around the handler",
    ),
    Piece(
        "tiered's middleware and core",
        False,
        paths=("/tiered/",),
        how="Client and tier, session cookie, security headers, CSP nonce, request id",
    ),
    Piece(
        "FastAPI + Starlette (routing, dependencies, validation)",
        False,
        paths=("/fastapi/", "/starlette/", "/pydantic/", "/pydantic_core/", "/anyio/"),
        how="routing, dependency solving and exit stacks, parameter and response validation",
    ),
    Piece(
        "Taskboard, other",
        False,
        paths=("/taskboard/",),
        how="Taskboard's code in no piece above",
    ),
)
PEER_PIECES: tuple[Piece, ...] = (
    Piece(
        "signed-cookie session (SessionMiddleware)",
        True,
        paths=("/itsdangerous/", "/json/", "/base64.py"),
        functions=("/starlette/middleware/sessions.py:SessionMiddleware.__call__.<locals>",),
        how="Starlette's SessionMiddleware reading and re-signing its cookie",
    ),
    Piece(
        "database (SQLAlchemy async ORM, aiosqlite)",
        True,
        paths=("/sqlalchemy/", "/aiosqlite/", "/greenlet/"),
        functions=("/bench/peers/fastapi_list.py:get_db",),
        how="the session, the user, the count and the page, statements built and run",
    ),
    Piece(
        "template render",
        True,
        paths=("/jinja2/", "/markupsafe/", ".html", "/starlette/templating.py"),
        how="Jinja2Templates.TemplateResponse and the template",
    ),
    Piece(
        "FastAPI + Starlette (routing, dependencies, validation)",
        False,
        paths=("/fastapi/", "/starlette/", "/pydantic/", "/pydantic_core/", "/anyio/"),
        how="routing, dependency solving and exit stacks, parameter validation",
    ),
    Piece("the peer's own code", False, paths=("/bench/peers/",)),
)
OTHER = "other (the event loop, this harness's ASGI calls)"


class Sampler:
    """Every ``interval`` seconds of the process's CPU time (``SIGPROF``), the Python stack of
    the moment is given to one piece: the innermost strong piece on it, else the innermost weak
    one, else ``OTHER``."""

    def __init__(self, pieces: Sequence[Piece], interval: float) -> None:
        self.pieces = pieces
        self.interval = interval
        self.samples: dict[str, int] = {p.name: 0 for p in pieces} | {OTHER: 0}
        self._codes: dict[CodeType, Piece | None] = {}

    def _piece_of(self, code: CodeType) -> Piece | None:
        if code not in self._codes:
            self._codes[code] = self._match(code.co_filename.replace("\\", "/"), code.co_qualname)
        return self._codes[code]

    def _match(self, filename: str, qualname: str) -> Piece | None:
        """The first piece that names this function, else the first whose paths hold it."""
        for piece in self.pieces:
            for function in piece.functions:
                path, _, prefix = function.partition(":")
                if path in filename and qualname.startswith(prefix):
                    return piece
        return next((p for p in self.pieces if any(s in filename for s in p.paths)), None)

    def _sample(self, _signum: int, frame: FrameType | None) -> None:
        weak: Piece | None = None
        # SQLAlchemy's asyncio layer runs the ORM's sync code in a greenlet of its own, whose
        # stack ends where it started: its caller's stack goes on in the greenlet that spawned
        # it, suspended at its switch.
        current = _greenlet.getcurrent()
        while frame is not None:
            piece = self._piece_of(frame.f_code)
            if piece is not None:
                if piece.strong:
                    self.samples[piece.name] += 1
                    return
                weak = weak or piece
            frame = frame.f_back
            if frame is None and current.parent is not None:
                current = current.parent
                frame = current.gr_frame
        self.samples[weak.name if weak else OTHER] += 1

    def start(self) -> None:
        signal.signal(signal.SIGPROF, self._sample)
        signal.setitimer(signal.ITIMER_PROF, self.interval, self.interval)

    def stop(self) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, signal.SIG_DFL)


async def pieces(
    app: ASGIApp,
    cookie: str,
    requests: int,
    unprofiled: Total,
    chosen: Sequence[Piece],
    interval: float,
) -> dict[str, Any]:
    """Where ``requests`` page requests spend their CPU time, sampled; µs a request by piece,
    each piece's share of the samples times the un-profiled page's CPU µs."""
    sent = {**PAGE, "Cookie": cookie}
    sampler = Sampler(chosen, interval)
    started = time.process_time()
    sampler.start()
    try:
        for _ in range(requests):
            await call(app, "GET", "/tasks", sent)
            await asyncio.sleep(0)
    finally:
        sampler.stop()
    cpu = time.process_time() - started
    sampled_us = cpu / requests * 1e6
    count = sum(sampler.samples.values())
    return {
        "samples": count,
        "interval_us": round(interval * 1e6),
        "cpu_us_per_sample": round(cpu / count * 1e6) if count else None,
        "sampled_cpu_us": round(sampled_us, 1),
        "unprofiled_cpu_us": round(unprofiled.cpu_us, 1),
        "pieces": [
            {
                "piece": name,
                "us": round(unprofiled.cpu_us * n / count, 1) if count else 0.0,
                "share": round(n / count, 4) if count else 0.0,
                "samples": n,
                "how": next((p.how for p in chosen if p.name == name), ""),
            }
            for name, n in sorted(sampler.samples.items(), key=lambda kv: -kv[1])
        ],
    }


# --- the run ----------------------------------------------------------------------------------


def _configure_access_log(path: Path) -> io.TextIOWrapper | None:
    """Taskboard's logging as ``taskboard serve`` sets it up (one JSON line a request), into
    ``path`` instead of stdout; ``None`` when that configuration cannot be found."""
    try:
        from taskboard.ops.service import logging_config
    except ImportError:
        return None
    stream = path.open("w", encoding="utf-8")
    stdout, sys.stdout = sys.stdout, stream
    try:
        logging.config.dictConfig(logging_config())
    finally:
        sys.stdout = stdout
    return stream


async def profile(
    database: fixture.SeededDatabase, requests: int, rounds: int, sampled: int, interval: float
) -> dict[str, Any]:
    from bench.peers.fastapi_list import create_app as create_peer
    from taskboard.app import create_app
    from taskboard.settings import Settings

    email = "user2@example.org"
    log = _configure_access_log(database.data_dir / "access.log")
    app = create_app(Settings.from_environ(database.environ()))
    report: dict[str, Any] = {"date": fixture.now(), "user": email}
    async with lifespan(app):
        cookie = await log_in_taskboard(app, email)
        await total(app, PAGE, cookie, requests, 1)  # warm: caches, compiled templates
        totals = {
            name: await total(app, headers, cookie, requests, rounds)
            for name, headers in (("page", PAGE), ("fragment", FRAGMENT), ("json", JSON))
        }
        report["breakdown"] = await pieces(
            app, cookie, sampled, totals["page"], TASKBOARD_PIECES, interval
        )
    peer = create_peer(str(database.data_dir / "taskboard.db"), "in-process profile secret")
    async with lifespan(peer):
        peer_cookie = await log_in_peer(peer, email)
        await total(peer, PAGE, peer_cookie, requests, 1)
        totals["fastapi peer page"] = await total(peer, PAGE, peer_cookie, requests, rounds)
        report["peer_breakdown"] = await pieces(
            peer, peer_cookie, sampled, totals["fastapi peer page"], PEER_PIECES, interval
        )
    if log is not None:
        logging.getLogger().handlers.clear()
        log.close()
    report["access_log"] = "JSON lines to a file" if log is not None else "not configured"
    report["totals"] = {
        name: {"wall_us": round(t.wall_us, 1), "cpu_us": round(t.cpu_us, 1), "bytes": t.bytes}
        for name, t in totals.items()
    }
    report["settings"] = {
        "seed": "taskboard seed --users 1000 --tasks 100000",
        "requests_per_round": requests,
        "rounds": rounds,
        "sampled_requests": sampled,
        "sample_interval_us": round(interval * 1e6),
        "request": "GET /tasks as Chrome, one at a time, in-process through ASGI",
    }
    return report


def _print_breakdown(title: str, breakdown: dict[str, Any]) -> None:
    print(
        f"\n{title} ({breakdown['samples']} samples, one every {breakdown['cpu_us_per_sample']} "
        f"µs of CPU; {breakdown['sampled_cpu_us']:.0f} µs a request while sampled, "
        f"{breakdown['unprofiled_cpu_us']:.0f} without)"
    )
    header = f"  {'piece':56} {'µs':>6} {'share':>6}"
    print(header)
    print("  " + "-" * (len(header) - 2))
    for row in breakdown["pieces"]:
        if row["samples"]:
            print(f"  {row['piece']:56} {row['us']:6.0f} {100 * row['share']:5.1f}%")


def print_report(report: dict[str, Any]) -> None:
    print()
    print(
        f"Taskboard's list page in-process ({report['user']}; median of "
        f"{report['settings']['rounds']} rounds of {report['settings']['requests_per_round']} "
        f"requests; access log: {report['access_log']})"
    )
    for name, t in report["totals"].items():
        print(
            f"  {name:18} {t['wall_us']:7.0f} µs wall {t['cpu_us']:7.0f} µs CPU "
            f"{t['bytes']:7d} bytes"
        )
    _print_breakdown("Where Taskboard's page spends its CPU", report["breakdown"])
    _print_breakdown("The FastAPI peer's page, the same way", report["peer_breakdown"])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--requests", type=int, default=REQUESTS, help=f"per round (default {REQUESTS})"
    )
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"default {ROUNDS}")
    parser.add_argument(
        "--sampled",
        type=int,
        default=SAMPLED_REQUESTS,
        help=f"requests sampled, of each app (default {SAMPLED_REQUESTS})",
    )
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(argv)
    fixture.warn_if_busy()
    with fixture.seeded_databases(["sqlite"], users=1_000, tasks=100_000) as databases:
        database = databases["sqlite"]
        report = asyncio.run(profile(database, args.requests, args.rounds, args.sampled, INTERVAL))
    gc.collect()
    print_report(report)
    if not args.no_save:
        print(f"\nWritten to {fixture.save_part('list_profile', report)}")


if __name__ == "__main__":
    main()
