"""Taskboard stood up for a benchmark: seeded databases, served, with logged-in visitors.

Used by ``bench/taskboard_load.py``, ``bench/page_weight.py`` and ``bench/servers.py`` (and run
together by ``bench/app.py``). Everything goes through Taskboard's public ways in: ``taskboard
seed``, ``taskboard serve``, ``POST /login`` (a real form post with its CSRF token) and ``POST
/api/tokens``. The process, wrk and CPU helpers come from ``bench/framework.py``.

- :func:`seeded_databases`: a SQLite file in a temporary data directory and/or a fresh PostgreSQL
  database on ``postgresql://postgres@127.0.0.1:5432`` (dropped afterwards), seeded concurrently.
- :func:`serve`: ``taskboard serve`` (uvicorn or granian, N workers), pinned to CPU 0 when it has
  one worker; its output (one JSON access-log line a request) goes to a file, as in production.
- :func:`log_in`: visitors with session cookies (and some with API tokens and task ids). The
  log-in rate limit counts per client address, so each visitor connects from its own loopback
  address (127.0.0.x), which the limit sees as a different client. Over https (``tls``, an
  ``ssl`` context that trusts the server's CA: ``taskboard stack`` behind nginx) the cookies are
  the ``__Host-`` ones; :func:`verify` takes the same context.
- :func:`run_wrk`: wrk with a generated Lua script (:func:`lua_script`) that rotates visitors per
  request, while the worker processes' RSS is sampled; :func:`wrk_command` is its command line.
"""

from __future__ import annotations

import contextlib
import datetime
import gzip
import http.client
import importlib.metadata
import json
import os
import re
import secrets
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

from bench.framework import (
    CHROME,
    CONNECTIONS,
    LOAD_CPU,
    RESULTS,
    SERVER_CPU,
    THREADS,
    Sample,
    _cpu_model,
    _free_port,
    _load_average,
    _versions,
    parse_wrk,
    read_results,
    write_results,
)

DbKind = Literal["sqlite", "postgresql"]
ServerKind = Literal["uvicorn", "granian"]
DEFAULT_SERVER: ServerKind = "granian"
"""What ``taskboard serve`` runs unless told otherwise."""
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PASSWORD = "taskboard demo password"  # noqa: S105 (taskboard seed's documented default)
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
HAS_TASKSET = shutil.which("taskset") is not None
_CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


# --- databases --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeededDatabase:
    kind: DbKind
    url: str
    """``DATABASE_URL`` as Taskboard reads it."""
    data_dir: Path
    secret_key: str
    seed_seconds: float

    def environ(self) -> dict[str, str]:
        """The environment ``taskboard`` runs in: this database, a fixed secret, nothing else."""
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "METRICS_TOKEN", "SECRET_KEY"}
        }
        env.update(
            DATABASE_URL=self.url,
            TASKBOARD_DATA=str(self.data_dir),
            SECRET_KEY=self.secret_key,
            PYTHONUNBUFFERED="1",
        )
        return env


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN, connect_timeout=3):
            return True
    except Exception:
        return False


def _postgres(statement: str, url: str = POSTGRES_ADMIN) -> None:
    """Run ``statement`` outside a transaction (as CREATE DATABASE and VACUUM must be)."""
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=5) as connection:
        connection.execute(statement.encode())


@contextlib.contextmanager
def seeded_databases(
    kinds: Sequence[DbKind],
    *,
    users: int,
    tasks: int,
    environ: Mapping[str, str] | None = None,
) -> Iterator[dict[DbKind, SeededDatabase]]:
    """Fresh databases of each kind, seeded with ``taskboard seed`` at the same time.
    ``environ`` is added to the seed's environment (a ``PYTHONPATH`` that serves another
    revision's code, say)."""
    with tempfile.TemporaryDirectory(prefix="taskboard-bench-") as directory:
        root = Path(directory)
        created_pg: str | None = None
        try:
            pending: dict[DbKind, tuple[SeededDatabase, subprocess.Popen[bytes], float]] = {}
            for kind in kinds:
                data_dir = root / kind
                data_dir.mkdir()
                if kind == "sqlite":
                    url = f"sqlite:///{data_dir / 'taskboard.db'}"
                else:
                    created_pg = f"taskboard_bench_{os.getpid()}_{secrets.token_hex(3)}"
                    _postgres(f"CREATE DATABASE {created_pg}")
                    url = f"postgresql://postgres@127.0.0.1:5432/{created_pg}"
                database = SeededDatabase(kind, url, data_dir, secrets.token_urlsafe(48), 0.0)
                command = [
                    sys.executable,
                    "-m",
                    "taskboard.cli",
                    "seed",
                    "--users",
                    str(users),
                    "--tasks",
                    str(tasks),
                ]
                log = (data_dir / "seed.log").open("wb")
                process = subprocess.Popen(
                    command,
                    env={**database.environ(), **(environ or {})},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
                pending[kind] = (database, process, time.monotonic())
            seeded: dict[DbKind, SeededDatabase] = {}
            for kind, (database, process, started) in pending.items():
                if process.wait() != 0:
                    log_text = (database.data_dir / "seed.log").read_text(errors="replace")
                    raise SystemExit(f"taskboard seed failed on {kind}:\n{log_text[-2000:]}")
                seconds = time.monotonic() - started
                if kind == "postgresql":
                    # What autovacuum would do in the background after the seed's inserts, done
                    # before anything is measured, so it never shares the cores with a run.
                    _postgres("VACUUM ANALYZE", database.url)
                seeded[kind] = SeededDatabase(
                    kind, database.url, database.data_dir, database.secret_key, seconds
                )
            yield seeded
        finally:
            if created_pg is not None:
                with contextlib.suppress(Exception):
                    _postgres(f"DROP DATABASE IF EXISTS {created_pg} WITH (FORCE)")


# --- servers ----------------------------------------------------------------------------------


@dataclass
class Server:
    database: SeededDatabase
    server: ServerKind
    workers: int
    port: int
    pinned: bool
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def label(self) -> str:
        workers = "1 worker" if self.workers == 1 else f"{self.workers} workers"
        return f"{self.server}, {workers}, {self.database.kind}"

    @property
    def placement(self) -> str:
        if self.pinned:
            return f"server taskset -c {SERVER_CPU}, wrk taskset -c {LOAD_CPU}"
        return "server and wrk share both cores (not pinned)"

    def worker_restarts(self) -> int:
        """How many times the server has replaced a worker so far (uvicorn logs "Child process
        [pid] died" when its health check gives up on one; that worker's requests fail)."""
        return self.log_path.read_text(errors="replace").count("died")

    def worker_pids(self) -> list[int]:
        """The processes that serve requests: the server's descendants that run Python code of
        the app (uvicorn's and granian's workers), or the server itself when it has none."""
        children = _descendants(self.process.pid)
        workers = [
            pid
            for pid in children
            if "resource_tracker" not in _cmdline(pid) and _rss_kib(pid, "VmRSS") > 20_000
        ]
        return workers or [self.process.pid]


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    stack = [pid]
    while stack:
        current = stack.pop()
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                for child in task.read_text().split():
                    found.append(int(child))
                    stack.append(int(child))
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _rss_kib(pid: int, field_name: str) -> int:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of a process, in KiB; 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time the processes have used so far (``/proc/<pid>/stat``)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / ticks


def _request(
    port: int,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    source: str = "127.0.0.1",
    timeout: float = 30,
    tls: ssl.SSLContext | None = None,
) -> tuple[int, dict[str, list[str]], bytes]:
    connection = (
        http.client.HTTPSConnection(
            "127.0.0.1", port, timeout=timeout, source_address=(source, 0), context=tls
        )
        if tls is not None
        else http.client.HTTPConnection(
            "127.0.0.1", port, timeout=timeout, source_address=(source, 0)
        )
    )
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        found: dict[str, list[str]] = {}
        for name, value in response.getheaders():
            found.setdefault(name.lower(), []).append(value)
        return response.status, found, response.read()
    finally:
        connection.close()


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    status, _, body = _request(port, "GET", path, headers=headers)
    return status, body


@contextlib.contextmanager
def serve(
    database: SeededDatabase,
    *,
    server: ServerKind = "uvicorn",
    workers: int = 1,
    pin: bool | None = None,
    environ: Mapping[str, str] | None = None,
) -> Iterator[Server]:
    """``taskboard serve`` on a free port; one worker is pinned to the server CPU (unless ``pin``
    is false). ``environ`` is added to the database's environment (``REDIS_URL``, say)."""
    port = _free_port()
    pinned = (workers == 1 if pin is None else pin) and HAS_TASKSET
    command = [
        *(["taskset", "-c", SERVER_CPU] if pinned else []),
        sys.executable,
        "-m",
        "taskboard.cli",
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--server",
        server,
        "--no-worker",  # no jobs here: a job worker would only share the cores
    ]
    log_path = database.data_dir / f"serve-{server}-{workers}-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            env={**database.environ(), **(environ or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    running = Server(database, server, workers, port, pinned, process, log_path)
    try:
        _wait_until_healthy(running)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_healthy(server: Server) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None or server.worker_restarts() >= 2:
            break  # exited, or uvicorn is killing and restarting workers over and over
        with contextlib.suppress(OSError, http.client.HTTPException):
            if get(server.port, "/healthz")[0] == 200:
                # every worker of a multi-process server answers before we measure
                time.sleep(0.5 if server.workers > 1 else 0.0)
                return
        time.sleep(0.1)
    tail = server.log_path.read_text(errors="replace")[-2000:]
    hint = ""
    if server.worker_restarts():
        hint = (
            " uvicorn killed workers that did not answer its health check within 5 s of starting "
            "(importing the app takes longer than that on a busy machine); measure when the "
            "machine is quieter."
        )
    raise SystemExit(f"Taskboard ({server.label}) did not become healthy.{hint}\n{tail}")


# --- visitors ---------------------------------------------------------------------------------


@dataclass
class Visitor:
    email: str
    cookie: str
    """The ``Cookie`` header of a logged-in browser: every cookie its log-in set (the session,
    CSRF and stylesheet cookies)."""
    csrf_token: str
    token: str | None = None
    """An API token (``Authorization: Bearer``), for the visitors that write."""
    task_ids: list[int] = field(default_factory=list)


def _cookies(headers: dict[str, list[str]]) -> dict[str, str]:
    jar: dict[str, str] = {}
    for line in headers.get("set-cookie", []):
        name, _, rest = line.partition("=")
        jar[name.strip()] = rest.split(";", 1)[0]
    return jar


def _log_in_one(
    port: int, number: int, with_token: bool, tls: ssl.SSLContext | None = None
) -> Visitor:
    email = f"user{number}@example.org"
    source = f"127.0.{1 + number // 200}.{1 + number % 200}"  # its own address: see module doc
    # Over https the app names its cookies with the __Host- prefix (and marks them Secure).
    session_name, csrf_name = (
        ("__Host-tiered_session", "__Host-tiered_csrf")
        if tls is not None
        else ("tiered_session", "tiered_csrf")
    )
    headers = {"User-Agent": CHROME, "Accept": BROWSER_ACCEPT}
    status, found, body = _request(port, "GET", "/login", headers=headers, source=source, tls=tls)
    match = _CSRF_INPUT.search(body.decode())
    jar = _cookies(found)
    if status != 200 or match is None or csrf_name not in jar:
        raise SystemExit(
            f"GET /login answered {status} without a form token or a {csrf_name} cookie "
            f"(cookies: {sorted(jar)}): {body[:300]!r}"
        )
    form = urlencode({"email": email, "password": PASSWORD, "csrf_token": match.group(1)})
    status, found, body = _request(
        port,
        "POST",
        "/login",
        headers={
            **headers,
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"{csrf_name}={jar[csrf_name]}",
            "Origin": f"{'https' if tls is not None else 'http'}://127.0.0.1:{port}",
        },
        body=form.encode(),
        source=source,
        tls=tls,
    )
    jar.update(_cookies(found))
    if status != 303 or session_name not in jar:
        raise SystemExit(f"Logging in {email} answered {status}: {body[:300]!r}")
    # Every cookie the log-in pages set is kept, as a browser keeps them (the peers' visitors
    # keep theirs too): a browser past its first page has the stylesheets, and says so.
    cookie = "; ".join(f"{name}={value}" for name, value in jar.items())
    visitor = Visitor(email, cookie, match.group(1))
    if with_token:
        status, _, body = _request(
            port,
            "POST",
            "/api/tokens",
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            body=json.dumps({"email": email, "password": PASSWORD, "name": "bench"}).encode(),
            source=source,
            tls=tls,
        )
        if status != 201:
            raise SystemExit(f"POST /api/tokens for {email} answered {status}: {body[:300]!r}")
        visitor.token = json.loads(body)["token"]
        status, _, body = _request(
            port,
            "GET",
            "/tasks",
            headers={"Authorization": f"Bearer {visitor.token}", "Accept": "application/json"},
            tls=tls,
        )
        visitor.task_ids = [item["id"] for item in json.loads(body)["items"]][:10]
        if not visitor.task_ids:
            raise SystemExit(f"{email} has no tasks to toggle; was the database seeded?")
    return visitor


def log_in(
    port: int, visitors: int, writers: int, *, tls: ssl.SSLContext | None = None
) -> list[Visitor]:
    """Log ``visitors`` seeded users in through ``POST /login``; the first ``writers`` of them
    also get an API token (``POST /api/tokens``) and the ids of some of their tasks. ``tls``:
    over https, trusting what this context trusts (the visitors then hold ``__Host-`` cookies)."""
    with ThreadPoolExecutor(4) as pool:
        futures = [
            pool.submit(_log_in_one, port, number, number <= writers, tls)
            for number in range(1, visitors + 1)
        ]
        return [future.result() for future in futures]


# --- load -------------------------------------------------------------------------------------

Workload = Literal["page", "fragment", "json", "search", "mix"]
SEARCH = "dentist"
WORKLOADS: dict[Workload, str] = {
    "page": "GET /tasks, a browser (page)",
    "fragment": "GET /tasks, HX-Request: true (fragment)",
    "json": "GET /tasks, Accept: application/json",
    "search": f"GET /tasks?q={SEARCH} (page)",
    "mix": "80% GET /tasks page; 10% POST /tasks, 10% POST /tasks/{id}/toggle (JSON, bearer)",
}


def _lua(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid Lua string literal for ASCII text


def _get_headers(workload: Workload) -> dict[str, str]:
    headers = {"User-Agent": CHROME, "Accept": BROWSER_ACCEPT}
    if workload == "fragment":
        headers = {"User-Agent": CHROME, "Accept": "text/html", "HX-Request": "true"}
    elif workload == "json":
        headers = {"User-Agent": CHROME, "Accept": "application/json"}
    return headers


def _path(workload: Workload) -> str:
    return f"/tasks?q={SEARCH}" if workload == "search" else "/tasks"


def lua_script(
    workload: Workload, visitors: Sequence[Visitor], *, headers: Mapping[str, str] | None = None
) -> str:
    """A wrk script: every request goes as the next visitor (each thread starts elsewhere in the
    list); for ``mix``, one request in ten creates a task and one in ten toggles one, as the
    next writer, with its bearer token (JSON; no CSRF needed). ``headers`` are added to every
    GET (``Accept-Encoding``, say)."""
    headers = {**_get_headers(workload), **(headers or {})}
    static = ", ".join(f"[{_lua(k)}] = {_lua(v)}" for k, v in headers.items())
    cookies = ", ".join(_lua(v.cookie) for v in visitors)
    writers = [v for v in visitors if v.token]
    tokens = ", ".join(_lua(v.token or "") for v in writers)
    ids = ", ".join("{" + ", ".join(str(i) for i in v.task_ids) + "}" for v in writers)
    return f"""-- generated by bench/taskboard_fixture.py for the {workload!r} workload
local cookies = {{{cookies}}}
local tokens = {{{tokens}}}
local task_ids = {{{ids}}}
local path = {_lua(_path(workload))}
local mix = {"true" if workload == "mix" else "false"}
local requests = {{}}
local n = 0
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("offset", threads * 17)
end

local function get_request(cookie)
  local headers = {{{static}}}
  headers["Cookie"] = cookie
  return wrk.format("GET", path, headers)
end

local function write_request(k, create)
  local w = (k % #tokens) + 1
  local headers = {{["User-Agent"] = {_lua(CHROME)}, ["Accept"] = "application/json",
                   ["Authorization"] = "Bearer " .. tokens[w]}}
  if create then
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", "/tasks", headers, '{{"title": "A task from the benchmark"}}')
  end
  local ids = task_ids[w]
  local id = ids[(math.floor(k / #tokens) % #ids) + 1]
  return wrk.format("POST", "/tasks/" .. id .. "/toggle", headers)
end

function init(args)
  n = offset or 0
  for i = 1, #cookies * 10 do
    local k = math.floor(i / 10)
    if mix and i % 10 == 0 then
      requests[i] = write_request(k, true)
    elseif mix and i % 10 == 5 then
      requests[i] = write_request(k, false)
    else
      requests[i] = get_request(cookies[(i % #cookies) + 1])
    end
  end
end

function request()
  n = n + 1
  return requests[(n % #requests) + 1]
end
"""


def verify(
    port: int,
    workload: Workload,
    visitors: Sequence[Visitor],
    *,
    tls: ssl.SSLContext | None = None,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Check, as every visitor, that the workload's requests answer what they should (over
    https when ``tls`` is given; ``headers`` added, as :func:`lua_script` adds them). A gzip
    body (a proxy's, when ``headers`` ask for it) is checked once decompressed."""
    for visitor in visitors:
        sent = {**_get_headers(workload), **(headers or {}), "Cookie": visitor.cookie}
        status, found, body = _request(port, "GET", _path(workload), headers=sent, tls=tls)
        if found.get("content-encoding") == ["gzip"]:
            body = gzip.decompress(body)
        content_type = found.get("content-type", [""])[0]
        expected = "application/json" if workload == "json" else "text/html"
        good = status == 200 and content_type.startswith(expected)
        if workload == "json":
            good = good and bool(json.loads(body)["items"])
        elif workload in ("page", "mix", "fragment"):
            good = good and body.count(b"data-task-id=") >= 20
            good = good and (body.startswith(b"<!doctype") != (workload == "fragment"))
        elif workload == "search":
            good = good and SEARCH.encode() in body
        if not good:
            raise SystemExit(
                f"{workload} as {visitor.email}: status {status}, {content_type!r}, body starts "
                f"{body[:200]!r}; fix this before measuring."
            )
    if workload == "mix":
        writer = next(v for v in visitors if v.token)
        bearer = {"Authorization": f"Bearer {writer.token}", "Accept": "application/json"}
        status, _, body = _request(
            port,
            "POST",
            "/tasks",
            headers={**bearer, "Content-Type": "application/json"},
            body=b'{"title": "A task from the benchmark"}',
            tls=tls,
        )
        if status != 201:
            raise SystemExit(f"POST /tasks with a bearer token answered {status}: {body[:200]!r}")
        for _ in range(2):  # twice: the task is as it was
            status, _, body = _request(
                port, "POST", f"/tasks/{writer.task_ids[0]}/toggle", headers=bearer, tls=tls
            )
            if status != 200:
                raise SystemExit(f"POST toggle answered {status}: {body[:200]!r}")


@dataclass
class Run:
    sample: Sample
    peak_rss_mib: list[float]
    """Per worker process: the highest VmRSS seen while the load ran."""
    hwm_mib: list[float]
    """Per worker process: VmHWM (the process's peak RSS since it started) after the run."""
    rss_series: list[tuple[float, float]] = field(default_factory=list)
    """(seconds into the run, total VmRSS of the workers in MiB), sampled during the run."""
    worker_restarts: int = 0
    """Workers the server replaced during the run: a run with any is not a fair figure."""
    cpu_ms_per_request: float = 0.0
    """The workers' CPU time (user + system) over the requests wrk completed: what a request
    costs the server, which a busy machine distorts far less than req/s."""


def wrk_command(url: str, script: Path, seconds: float, *, pinned: bool) -> list[str]:
    """wrk, 2 threads and 64 connections on ``url`` (``https://`` too: Debian's wrk speaks TLS,
    without checking the certificate) with a Lua ``script``; on the load CPU when ``pinned``."""
    return [
        *(["taskset", "-c", LOAD_CPU] if pinned else []),
        "wrk",
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{max(1, round(seconds))}s",  # wrk takes whole seconds only ("-d0.5s" is an error)
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(script),
        url,
    ]


def run_wrk(server: Server, script: str, seconds: float, *, sample_every: float = 0.5) -> Run:
    """wrk (2 threads, 64 connections; on the load CPU when the server is pinned) with
    ``script``, sampling the workers' RSS meanwhile."""
    script_path = server.database.data_dir / f"wrk-{secrets.token_hex(4)}.lua"
    script_path.write_text(script, encoding="utf-8")
    command = wrk_command(
        f"http://127.0.0.1:{server.port}/", script_path, seconds, pinned=server.pinned
    )
    pids = server.worker_pids()
    restarts_before = server.worker_restarts()
    cpu_before = _cpu_seconds(pids)
    peaks = dict.fromkeys(pids, 0)
    series: list[tuple[float, float]] = []
    stop = threading.Event()
    started = time.monotonic()

    def sample() -> None:
        while not stop.wait(sample_every):
            total = 0
            for pid in pids:
                rss = _rss_kib(pid, "VmRSS")
                peaks[pid] = max(peaks[pid], rss)
                total += rss
            series.append((round(time.monotonic() - started, 1), round(total / 1024, 1)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    finally:
        stop.set()
        sampler.join()
    cpu = _cpu_seconds(pids) - cpu_before
    completed = re.search(r"(\d+) requests in", output)
    requests = int(completed.group(1)) if completed else 0
    return Run(
        parse_wrk(output),
        [round(peaks[pid] / 1024, 1) for pid in pids],
        [round(_rss_kib(pid, "VmHWM") / 1024, 1) for pid in pids],
        series,
        server.worker_restarts() - restarts_before,
        round(1000 * cpu / requests, 3) if requests else 0.0,
    )


# --- results ----------------------------------------------------------------------------------


def _version_of(command: list[str]) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        result = subprocess.run(command, capture_output=True, text=True, timeout=20, check=False)
        return (result.stdout or result.stderr).strip().splitlines()[0]
    return "missing"


def versions() -> dict[str, str]:
    found = _versions()
    for name in ("granian", "sqlalchemy", "psycopg", "brotli", "py-spy"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[name] = importlib.metadata.version(name)
    with contextlib.suppress(Exception):
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN, connect_timeout=3) as connection:
            row = connection.execute(b"SHOW server_version").fetchone()
            found["postgresql"] = str(row[0]) if row else "unknown"
    found["sqlite"] = __import__("sqlite3").sqlite_version
    return found


def machine() -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "load_average": round(_load_average(), 2),
    }


def results_path(quick: bool = False) -> Path:
    suffix = "-app-quick" if quick else "-app"
    return RESULTS / f"{datetime.date.today().isoformat()}{suffix}.json"


def save_part(part: str, report: dict[str, Any], *, quick: bool = False) -> Path:
    """Write one part's report into today's ``bench/results/<date>-app.json`` (quick runs:
    ``<date>-app-quick.json``, so they never replace a full run's figures), keeping the other
    parts already there (each part carries its own date, machine load and settings)."""
    path = results_path(quick)
    data = read_results(path)
    data.update(
        date=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        cpu=_cpu_model(),
        cpus=os.cpu_count(),
        versions=versions(),
    )
    data[part] = report
    write_results(path, data)
    return path


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def warn_if_busy() -> None:
    load = _load_average()
    if load > 0.5:
        print(
            f"Warning: the load average is {load:.2f}; results are noisier while the machine "
            "is busy (wait for under 0.5 to compare runs).",
            flush=True,
        )
