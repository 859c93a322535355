"""The production topology, started as a user starts it, for tests that talk to it as clients do.

``stack`` (session-scoped) runs ``taskboard stack`` in a subprocess: nginx on a free port with
TLS from the stack's own CA, two instances, on a PostgreSQL database made for this run (the stack
creates it; dropped after) and a Redis database index of its own (flushed after), with
``TASKBOARD_DATA`` in a temporary folder, so ``var/stack/`` is there. It waits for the https URL
line and, at the end, stops the stack with ``SIGTERM`` and checks that every process it started
is gone.

Without nginx, PostgreSQL or Redis the tests skip, saying which is missing; in CI (``CI=true``)
they fail instead.

For more tests (the browser-form ones): ``stack.base_url``, ``stack.ca``, ``stack.client()`` (an
httpx2 client that trusts the CA, HTTP/2 by default), ``stack.instances()`` (each instance's
slot, pid and direct ``http://`` URL), ``stack.sighup()`` (roll, and wait until it is done),
``stack.pids()`` (every process of the stack), and ``api`` (bearer headers for a user).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import psycopg
import pytest
import redis
from psycopg import sql

from taskboard.stack.nginx import find_nginx
from tests.redis_server import REDIS_URL
from tiered import ImproperlyConfigured

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TASKBOARD = BIN / "taskboard"
POSTGRES_SERVER = (
    os.environ.get("TEST_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_SERVER = REDIS_URL
METRICS_TOKEN = "deploy-suite-metrics-token"
EMAIL = "deploy@example.org"
PASSWORD = "correct horse battery staple"
START_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0
ROLL_TIMEOUT = 120.0
URL_LINE = re.compile(r"^https://[^\s/]+/$")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def missing_parts() -> list[str]:
    """What the stack needs and this machine lacks, each with how to get it."""
    missing = []
    try:
        find_nginx()
    except ImproperlyConfigured:
        missing.append("nginx (apt-get install nginx)")
    try:
        psycopg.connect(POSTGRES_SERVER, connect_timeout=3).close()
    except psycopg.Error:
        missing.append(f"PostgreSQL at {POSTGRES_SERVER} (set TEST_POSTGRES_URL)")
    try:
        redis.Redis.from_url(REDIS_SERVER, socket_connect_timeout=3).ping()
    except redis.RedisError:
        missing.append(f"Redis at {REDIS_SERVER} (set TEST_REDIS_URL)")
    return missing


def require_parts() -> None:
    missing = missing_parts()
    if not missing:
        return
    message = f"the deployed stack needs {', '.join(missing)}"
    if in_ci():
        pytest.fail(f"CI=true, so this is a failure: {message}", pytrace=False)
    pytest.skip(message)


# --- processes ---------------------------------------------------------------------------


def descendants(pid: int) -> set[int]:
    """``pid`` and every process below it, from ``/proc``."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo.extend(parents.get(current, []))
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` still running (zombies count as gone)."""
    running = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            state = Path(f"/proc/{pid}/stat").read_text()
            if state[state.rfind(")") + 2] != "Z":
                running.add(pid)
    return running


def wait_gone(pids: set[int], timeout: float = 10.0) -> set[int]:
    """Wait until none of ``pids`` runs; those still running at the deadline."""
    deadline = time.monotonic() + timeout
    while (left := alive(pids)) and time.monotonic() < deadline:
        time.sleep(0.1)  # polling /proc until the processes have exited
    return left


@dataclass
class Launched:
    """A stack process started in the background, its stdout read line by line."""

    process: subprocess.Popen[str]
    stderr: Path
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def close(self) -> None:
        """After the process has exited: the rest of its output read, the pipe closed."""
        if self.reader is not None:
            self.reader.join(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def log(self) -> str:
        return self.stderr.read_text(errors="replace")

    def wait_for_url(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            for line in self.lines:
                if URL_LINE.match(line):
                    return line
            if self.process.poll() is not None:
                break
            time.sleep(0.1)  # polling the stack's output for its URL line
        raise AssertionError(
            f"the stack printed no https URL line (exit code {self.process.poll()}); "
            f"stdout: {self.lines}; stderr:\n{self.log()}"
        )


def launch(command: list[str], environ: Mapping[str, str], stderr: Path) -> Launched:
    with stderr.open("w") as err:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=dict(environ),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            # Its own process group, like a command started in a terminal: a signal to the
            # group is what Ctrl-C sends.
            start_new_session=True,
        )
    return Launched(process, stderr)


# --- the stack -----------------------------------------------------------------------------


@dataclass(frozen=True)
class InstanceInfo:
    slot: int
    pid: int
    port: int
    url: str
    """``http://127.0.0.1:PORT`` (no trailing slash): the instance itself, not through nginx."""


@dataclass
class RunningStack:
    launched: Launched
    url: str
    state_dir: Path
    database_url: str
    redis_url: str

    @property
    def process(self) -> subprocess.Popen[str]:
        return self.launched.process

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def base_url(self) -> str:
        """``https://127.0.0.1:PORT``, no trailing slash."""
        return self.url.rstrip("/")

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    @property
    def ca(self) -> Path:
        return self.state_dir / "tls" / "ca.pem"

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))

    def client(self, *, http2: bool = True, **kwargs: Any) -> httpx2.Client:
        """A client of the stack's https URL that trusts its CA (HTTP/2 unless told not to)."""
        kwargs.setdefault("timeout", 30.0)
        return httpx2.Client(
            base_url=self.base_url, verify=self.ssl_context(), http2=http2, **kwargs
        )

    def state(self) -> dict[str, Any]:
        """``stack.json``: what the stack says runs now."""
        state: dict[str, Any] = json.loads((self.state_dir / "stack.json").read_text())
        return state

    def instances(self) -> list[InstanceInfo]:
        return [
            InstanceInfo(i["slot"], i["pid"], i["port"], i["url"].rstrip("/"))
            for i in self.state()["instances"]
        ]

    def pids(self) -> set[int]:
        """The stack's process and everything below it: nginx, its workers, the instances."""
        return descendants(self.pid)

    def sighup(self) -> dict[str, Any]:
        """Roll the instances (``SIGHUP``) and return the state once the roll is done."""
        rolls = self.state()["rolls"]
        os.kill(self.pid, signal.SIGHUP)
        deadline = time.monotonic() + ROLL_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the stack exited:\n{self.launched.log()}"
            with contextlib.suppress(OSError, ValueError):
                state = self.state()
                if state["rolls"] > rolls:
                    return state
            time.sleep(0.2)  # polling stack.json for the finished roll
        raise AssertionError(f"no roll finished in {ROLL_TIMEOUT} s:\n{self.launched.log()}")

    def log(self) -> str:
        return self.launched.log()


def stop(launched: Launched, pids: set[int], signum: int = signal.SIGTERM) -> None:
    """Stop a stack as a user would, and check it left nothing behind."""
    os.kill(launched.process.pid, signum)
    try:
        code = launched.process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(launched.process.pid, signal.SIGKILL)
        raise AssertionError(f"the stack did not stop in {STOP_TIMEOUT} s") from None
    left = wait_gone(pids)
    assert code == 0, f"the stack exited with {code}:\n{launched.log()}"
    assert not left, f"still running after the stack stopped: {sorted(left)}"


def database_for_run(prefix: str) -> str:
    """A name for a database that does not exist yet, on the test server."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    return POSTGRES_SERVER.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_SERVER, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis database index nobody uses now (not 0, the other tests' one), flushed after."""
    require_parts()
    base = REDIS_SERVER.rsplit("/", 1)[0] if REDIS_SERVER.count("/") > 2 else REDIS_SERVER
    for index in random.sample(range(1, 16), 15):
        client = redis.Redis.from_url(f"{base}/{index}")
        if client.dbsize() == 0:
            break
        client.close()
    else:
        pytest.fail(f"every Redis database 1-15 at {base} holds keys; flush one for the tests")
    try:
        yield f"{base}/{index}"
    finally:
        client.flushdb()
        client.close()


def stack_environ(data_dir: Path, database_url: str, redis_url: str) -> dict[str, str]:
    from taskboard.stack.instances import free_port

    environ = {
        key: value
        for key, value in os.environ.items()
        if key not in {"SECRET_KEY", "TIERED_SECRET_KEY", "STACK_TLS_CERT", "STACK_TLS_KEY"}
    }
    environ.update(
        TASKBOARD_DATA=str(data_dir),
        STACK_PORT=str(free_port()),
        STACK_INSTANCES="2",
        STACK_EXPOSE_UPSTREAM="1",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        METRICS_TOKEN=METRICS_TOKEN,
    )
    return environ


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[RunningStack]:
    require_parts()
    data_dir = tmp_path_factory.mktemp("deploy")
    database_url = database_for_run("taskboard_deploy")
    environ = stack_environ(data_dir, database_url, redis_url)
    launched = launch([str(TASKBOARD), "stack"], environ, data_dir / "stack.stderr")
    try:
        url = launched.wait_for_url()
        running = RunningStack(launched, url, data_dir / "stack", database_url, redis_url)
        yield running
        stop(launched, running.pids())
    finally:
        if launched.process.poll() is None:
            os.killpg(launched.process.pid, signal.SIGKILL)
            launched.process.wait()
        launched.close()
        drop_database(database_url)


def bearer_headers(stack: RunningStack, email: str, *, admin: bool = False) -> dict[str, str]:
    """Headers of a JSON client with a bearer token, for a user made with ``create-user``."""
    command = [str(TASKBOARD), "create-user", email, "--password-stdin"]
    subprocess.run(
        [*command, "--admin"] if admin else command,
        input=PASSWORD + "\n",
        env={
            "DATABASE_URL": stack.database_url,
            "TASKBOARD_DATA": str(stack.state_dir.parent),
            "PATH": os.environ.get("PATH", ""),
        },
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    with stack.client() as client:
        response = client.post(
            "/api/tokens",
            json={"email": email, "password": PASSWORD},
            headers={"Accept": "application/json"},
        )
    assert response.status_code == 201, response.text
    return {"Accept": "application/json", "Authorization": f"Bearer {response.json()['token']}"}


@pytest.fixture(scope="session")
def api(stack: RunningStack) -> dict[str, str]:
    """Headers of a JSON client with a bearer token, for a user made with ``create-user``."""
    return bearer_headers(stack, EMAIL)
