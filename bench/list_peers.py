"""Taskboard's list page against the same page built the idiomatic FastAPI way and the Django way.

Run alone: ``python -m bench.list_peers [--quick] [--seconds S] [--cycles N] [--no-save]``;
``make bench`` and ``make bench-app`` run it with the other Taskboard benchmarks
(``bench/app.py``), on their seeding and their logged-in users.

Three servers on one SQLite database seeded by ``taskboard seed --users 1000 --tasks 100000``,
each one worker under granian, all running at once, pinned to CPU 0 (wrk on CPU 1):

- ``taskboard``: ``taskboard serve`` (granian, ASGI), as in parts 3 and 5;
- ``fastapi``: :mod:`bench.peers.fastapi_list`, granian ASGI (SQLAlchemy's async ORM over
  aiosqlite, ``Jinja2Templates``, Starlette's ``SessionMiddleware``, ``Depends``);
- ``django``: :mod:`bench.peers.django_list`, granian WSGI with one blocking thread (one request
  at a time, as gunicorn's default sync worker serves Django; granian's default for WSGI is
  hundreds of threads, which measured a quarter fewer requests here).

The same users are logged in to each (Taskboard through its real form; the peers through their
bench-only ``POST /login``), and every user's page on every server is checked against the database
before anything is measured: its 20 newest tasks, in order, with their titles and the count; a
search (``?q=dentist&status=open``) is checked the same way. Then each server gets 1 s of wrk
and the three are loaded in turn (``GET /tasks`` as Chrome, wrk ``-t2 -c64``, each request as
the next user), for ``--cycles`` cycles, the order rotating each cycle; ``x FastAPI`` is req/s over
the FastAPI build's in the same cycle, the median over cycles. Page bytes are the HTML's, raw and
gzip -9, averaged over the users' pages.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import html
import http.client
import os
import re
import secrets
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

from bench import taskboard_fixture as fixture
from bench.framework import (
    CHROME,
    CONNECTIONS,
    QUICK_SECONDS,
    SECONDS,
    SERVER_CPU,
    THREADS,
    _free_port,
    require_wrk,
)
from bench.peers import DATABASE_ENVIRON, SECRET_ENVIRON
from bench.taskboard_fixture import BROWSER_ACCEPT, SeededDatabase, Server, Visitor

Name = Literal["taskboard", "fastapi", "django"]
PeerName = Literal["fastapi", "django"]
NAMES: tuple[Name, ...] = ("taskboard", "fastapi", "django")
SERVED_BY: dict[Name, str] = {
    "taskboard": "taskboard serve: granian ASGI, 1 worker",
    "fastapi": "granian ASGI, 1 worker; SQLAlchemy async ORM + aiosqlite",
    "django": "granian WSGI, 1 worker, 1 blocking thread; Django ORM",
}
DJANGO_THREADS = 1
CYCLES = 3
QUICK_CYCLES = 2
VISITORS = 32
QUICK_VISITORS = 8
TARGET_X_FASTAPI = 1.5
SEARCH: dict[str, str] = {"q": "dentist", "status": "open"}
PAGE_SIZE = 20
REPO = Path(__file__).resolve().parent.parent
_TASK_ID = re.compile(rb'data-task-id="(\d+)"')


# --- the peers' servers -----------------------------------------------------------------------


def database_file(database: SeededDatabase) -> Path:
    """The SQLite file of a seeded database (``sqlite:///<path>``)."""
    if database.kind != "sqlite":
        raise SystemExit("The list-page peers run on SQLite only.")
    return Path(database.url.removeprefix("sqlite:///"))


def _peer_command(name: PeerName, port: int) -> list[str]:
    common = ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    if name == "fastapi":
        target = ["--interface", "asgi", "--factory", "bench.peers.fastapi_list:create_app"]
    else:
        target = [
            "--interface",
            "wsgi",
            "--blocking-threads",
            str(DJANGO_THREADS),
            "bench.peers.django_list.wsgi:application",
        ]
    pin = ["taskset", "-c", SERVER_CPU] if fixture.HAS_TASKSET else []
    return [*pin, sys.executable, "-m", "granian", *common, "--log-level", "warning", *target]


@contextlib.contextmanager
def serve_peers(
    database: SeededDatabase, names: Sequence[PeerName] = ("fastapi", "django")
) -> Iterator[dict[PeerName, Server]]:
    """The peers under granian, one worker each, pinned to the server CPU, on ``database``'s
    SQLite file; started together, so they import at the same time."""
    environ = {
        **database.environ(),
        DATABASE_ENVIRON: str(database_file(database)),
        SECRET_ENVIRON: secrets.token_urlsafe(48),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "DJANGO_SETTINGS_MODULE": "bench.peers.django_list.settings",
    }
    started: dict[PeerName, Server] = {}
    try:
        for name in names:
            port = _free_port()
            log_path = database.data_dir / f"peer-{name}-{port}.log"
            with log_path.open("wb") as log:
                process = subprocess.Popen(
                    _peer_command(name, port),
                    env=environ,
                    cwd=REPO,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            started[name] = Server(
                database, "granian", 1, port, fixture.HAS_TASKSET, process, log_path
            )
        for name, server in started.items():
            _wait_until_answering(name, server)
        yield started
    finally:
        for server in started.values():
            server.process.terminate()
        for server in started.values():
            try:
                server.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait()


def _wait_until_answering(name: str, server: Server) -> None:
    """Until ``GET /tasks`` answers at all (a redirect to the log-in, without a cookie)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.process.poll() is None:
        with contextlib.suppress(OSError, http.client.HTTPException):
            if fixture.get(server.port, "/tasks")[0] < 500:
                return
        time.sleep(0.1)
    tail = server.log_path.read_text(errors="replace")[-2000:]
    raise SystemExit(f"The {name} peer did not start on port {server.port}:\n{tail}")


def log_in_peer(name: str, port: int, emails: Sequence[str]) -> list[Visitor]:
    """Each user logged in through the peer's bench-only ``POST /login``; the cookies its first
    page sets (Django's CSRF cookie) are kept too, as a browser keeps them."""
    visitors = []
    for email in emails:
        status, headers, body = fixture._request(
            port,
            "POST",
            "/login",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=urlencode({"email": email}).encode(),
        )
        jar = fixture._cookies(headers)
        if status not in (302, 303) or not jar:
            raise SystemExit(f"Logging {email} in to {name} answered {status}: {body[:300]!r}")
        cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
        status, headers, body = fixture._request(
            port, "GET", "/tasks", headers={**_page_headers(), "Cookie": cookie}
        )
        jar.update(fixture._cookies(headers))
        if status != 200:
            raise SystemExit(f"{name}'s list for {email} answered {status}: {body[:300]!r}")
        visitors.append(Visitor(email, "; ".join(f"{k}={v}" for k, v in jar.items()), ""))
    return visitors


# --- what every page must show ------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    email: str
    total: int
    ids: list[int]
    titles: list[str]


def expected_page(path: Path, email: str, *, q: str = "", status: str = "all") -> Expected:
    """The user's first page of tasks, straight from the database: newest first, 20, with the
    count; ``q`` searched in titles and notes (case-insensitively), ``status`` open or done."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
        row = connection.execute("SELECT id FROM users WHERE email = ?", (email,)).fetchone()
        if row is None:
            raise SystemExit(f"{email} is not in the database; was it seeded?")
        where, params = "owner_id = ?", [row[0]]
        if status != "all":
            where += " AND done = ?"
            params.append(int(status == "done"))
        if q:
            where += " AND (lower(title) LIKE ? OR lower(notes) LIKE ?)"
            params += [f"%{q.lower()}%"] * 2
        # The clauses are fixed text; every value is bound.
        count = f"SELECT count(*) FROM tasks WHERE {where}"  # noqa: S608
        total = connection.execute(count, params).fetchone()
        rows = connection.execute(
            f"SELECT id, title FROM tasks WHERE {where} "  # noqa: S608
            "ORDER BY created_at DESC, id DESC LIMIT ?",
            [*params, PAGE_SIZE],
        ).fetchall()
    return Expected(email, int(total[0]), [r[0] for r in rows], [r[1] for r in rows])


def _page_headers() -> dict[str, str]:
    return {"User-Agent": CHROME, "Accept": BROWSER_ACCEPT}


def check_page(name: str, port: int, visitor: Visitor, expected: Expected, path: str) -> bytes:
    """The page at ``path`` as ``visitor``: 200, HTML, the expected tasks in order with their
    titles, and the count. Stops the bench, saying what differs, otherwise."""
    status, headers, body = fixture._request(
        port, "GET", path, headers={**_page_headers(), "Cookie": visitor.cookie}
    )
    content_type = headers.get("content-type", [""])[0]
    ids = [int(found) for found in _TASK_ID.findall(body)]
    text = html.unescape(body.decode(errors="replace"))
    problems = []
    if status != 200 or not content_type.startswith("text/html"):
        problems.append(f"status {status}, {content_type!r}")
    if ids != expected.ids:
        problems.append(f"tasks {ids[:5]}… where the database has {expected.ids[:5]}…")
    if len(expected.ids) < PAGE_SIZE and path == "/tasks":
        problems.append(f"{expected.email} has only {len(expected.ids)} tasks")
    missing = [title for title in expected.titles if title not in text]
    if missing:
        problems.append(f"titles missing: {missing[:3]}")
    count = f"{expected.total} task"
    if count not in text:
        problems.append(f"no {count!r} (the count)")
    if problems:
        raise SystemExit(
            f"{name}'s {path} for {visitor.email} is not the expected page: "
            f"{'; '.join(problems)}. Body starts {body[:300]!r}. Fix this before measuring."
        )
    return body


def verify_all(
    servers: dict[Name, Server], visitors: dict[Name, list[Visitor]], path: Path
) -> dict[Name, dict[str, float]]:
    """Check every user's page on every server (twice: a first view may carry a one-time flash
    message), and a search as the first user; the bytes of the second views."""
    emails = [v.email for v in visitors["taskboard"]]
    expected = {email: expected_page(path, email) for email in emails}
    searched = expected_page(path, emails[0], **SEARCH)
    sizes: dict[Name, dict[str, float]] = {}
    for name, server in servers.items():
        bodies: list[bytes] = []
        for _ in range(2):
            bodies = [
                check_page(name, server.port, visitor, expected[visitor.email], "/tasks")
                for visitor in visitors[name]
            ]
        check_page(name, server.port, visitors[name][0], searched, f"/tasks?{urlencode(SEARCH)}")
        sizes[name] = {
            "page_bytes": statistics.mean(len(b) for b in bodies),
            "page_gzip_bytes": statistics.mean(len(gzip.compress(b, 9)) for b in bodies),
        }
    return sizes


# --- the measurement ----------------------------------------------------------------------------


def measure(
    database: SeededDatabase,
    taskboard: Server,
    taskboard_visitors: Sequence[Visitor],
    seconds: float,
    warmup: float,
    cycles: int,
) -> dict[str, Any]:
    """The three servers measured in ``cycles`` rotating cycles on ``database``, Taskboard's
    server and users given (served and logged in by the caller), the peers started here."""
    load_before = fixture.machine()["load_average"]
    path = database_file(database)
    runs: dict[Name, list[fixture.Run]] = {name: [] for name in NAMES}
    with serve_peers(database) as peers:
        servers: dict[Name, Server] = {"taskboard": taskboard}
        emails = [v.email for v in taskboard_visitors]
        visitors: dict[Name, list[Visitor]] = {"taskboard": list(taskboard_visitors)}
        for peer_name, peer in peers.items():
            servers[peer_name] = peer
            visitors[peer_name] = log_in_peer(peer_name, peer.port, emails)
        sizes = verify_all(servers, visitors, path)
        print(
            f"  every page checked: {len(emails)} users' 20 newest tasks and counts, and a "
            "search, on each server",
            flush=True,
        )
        scripts = {name: fixture.lua_script("page", visitors[name]) for name in NAMES}
        if warmup:
            for name in NAMES:
                fixture.run_wrk(servers[name], scripts[name], warmup)
        for cycle in range(cycles):
            order = NAMES[cycle % len(NAMES) :] + NAMES[: cycle % len(NAMES)]
            for name in order:
                run = fixture.run_wrk(servers[name], scripts[name], seconds)
                runs[name].append(run)
                print(
                    f"  cycle {cycle + 1} {name:9} {run.sample.requests_per_second:7.0f} req/s  "
                    f"p99 {run.sample.p99_ms:6.0f} ms  {run.cpu_ms_per_request:5.2f} CPU ms/req",
                    flush=True,
                )
    rows = []
    for name in NAMES:
        mine = runs[name]
        ratios = [
            a.sample.requests_per_second / b.sample.requests_per_second
            for a, b in zip(mine, runs["fastapi"], strict=True)
            if b.sample.requests_per_second
        ]
        rows.append(
            {
                "server": name,
                "served_by": SERVED_BY[name],
                "requests_per_second": statistics.median(
                    r.sample.requests_per_second for r in mine
                ),
                "x_fastapi": statistics.median(ratios) if ratios else float("nan"),
                "p50_ms": statistics.median(r.sample.p50_ms for r in mine),
                "p99_ms": statistics.median(r.sample.p99_ms for r in mine),
                "cpu_ms_per_request": statistics.median(r.cpu_ms_per_request for r in mine),
                "errors": sum(r.sample.errors for r in mine),
                "worker_restarts": sum(r.worker_restarts for r in mine),
                "peak_rss_mib": max(max(r.peak_rss_mib) for r in mine),
                "page_bytes": round(sizes[name]["page_bytes"]),
                "page_gzip_bytes": round(sizes[name]["page_gzip_bytes"]),
                "cycles": [
                    {
                        "requests_per_second": r.sample.requests_per_second,
                        "p50_ms": r.sample.p50_ms,
                        "p99_ms": r.sample.p99_ms,
                        "cpu_ms_per_request": r.cpu_ms_per_request,
                        "errors": r.sample.errors,
                    }
                    for r in mine
                ],
            }
        )
    return {
        "date": fixture.now(),
        "load_average_before": load_before,
        "load_average_after": fixture.machine()["load_average"],
        "settings": {
            "database": "sqlite, taskboard seed --users 1000 --tasks 100000",
            "request": "GET /tasks as Chrome (a page: 20 of the user's tasks, newest first)",
            "visitors": len(taskboard_visitors),
            "seconds": seconds,
            "warmup_seconds": warmup,
            "cycles": cycles,
            "threads": THREADS,
            "connections": CONNECTIONS,
            "placement": "each server 1 worker, taskset -c 0; wrk taskset -c 1",
            "page_bytes": "the HTML body, mean over the users' pages; gzip -9",
        },
        "target": {"taskboard x fastapi": TARGET_X_FASTAPI},
        "results": rows,
    }


def print_table(report: dict[str, Any]) -> None:
    print()
    settings = report["settings"]
    print(
        f"The list page against its peers (GET /tasks, 20 tasks, {settings['visitors']} users; "
        f"wrk -t{THREADS} -c{CONNECTIONS}, {settings['seconds']:g} s x {settings['cycles']} "
        f"cycles; each server 1 worker on CPU 0, wrk on CPU 1); load average "
        f"{report['load_average_before']} before, {report['load_average_after']} after"
    )
    header = (
        f"{'server':9} {'req/s':>6} {'x FastAPI':>9} {'p50 ms':>7} {'p99 ms':>7} {'CPU ms':>6} "
        f"{'page B':>7} {'gzip B':>6}  served by"
    )
    print(header)
    print("-" * len(header))
    for row in report["results"]:
        notes = f"  ({row['errors']} errors)" if row["errors"] else ""
        if row["worker_restarts"]:
            notes += f"  ({row['worker_restarts']} workers restarted: not a fair figure)"
        print(
            f"{row['server']:9} {row['requests_per_second']:6.0f} {row['x_fastapi']:9.2f} "
            f"{row['p50_ms']:7.1f} {row['p99_ms']:7.1f} {row['cpu_ms_per_request']:6.2f} "
            f"{row['page_bytes']:7d} {row['page_gzip_bytes']:6d}  {row['served_by']}{notes}"
        )
    by_cycle = "; ".join(
        f"{row['server']} " + ", ".join(f"{c['requests_per_second']:.0f}" for c in row["cycles"])
        for row in report["results"]
    )
    print(f"req/s by cycle: {by_cycle}")
    rows = {row["server"]: row for row in report["results"]}
    ratio = rows["taskboard"]["x_fastapi"]
    met = "met" if ratio >= TARGET_X_FASTAPI else "NOT met"
    print(
        f"Target: Taskboard >= {TARGET_X_FASTAPI:g}x the idiomatic FastAPI build: {ratio:.2f}x "
        f"({met}); Django {rows['django']['x_fastapi']:.2f}x FastAPI, Taskboard "
        f"{ratio / rows['django']['x_fastapi']:.2f}x Django."
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="1 s runs, 2 cycles, 8 users")
    parser.add_argument(
        "--seconds", type=float, help=f"seconds per measured run (default {SECONDS:g})"
    )
    parser.add_argument("--cycles", type=int, help=f"rotating cycles (default {CYCLES})")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(argv)
    require_wrk()
    fixture.warn_if_busy()
    seconds = args.seconds or (QUICK_SECONDS if args.quick else SECONDS)
    cycles = args.cycles or (QUICK_CYCLES if args.quick else CYCLES)
    with fixture.seeded_databases(["sqlite"], users=1_000, tasks=100_000) as databases:
        database = databases["sqlite"]
        with fixture.serve(database, server=fixture.DEFAULT_SERVER) as taskboard:
            visitors = fixture.log_in(taskboard.port, QUICK_VISITORS if args.quick else VISITORS, 0)
            report = measure(database, taskboard, visitors, seconds, 1.0, cycles)
    report["mode"] = "quick" if args.quick else "full"
    print_table(report)
    if not args.no_save:
        print(f"\nWritten to {fixture.save_part('peers', report, quick=args.quick)}")


if __name__ == "__main__":
    main()
