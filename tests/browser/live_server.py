"""Taskboard served for real browsers: uvicorn in a thread on 127.0.0.1, a free port, a temp SQLite.

The browsers talk HTTP to it like to any server; the tests read what it stored straight from the
SQLite file (the parity check) and seed tasks through its JSON API.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from uuid import uuid4

import uvicorn

from taskboard.app import create_app
from taskboard.settings import Settings

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

SECRET = "browser-suite-secret-key-that-is-long-enough-0123"
PASSWORD = "correct horse battery staple"
START_TIMEOUT = 30.0


class JourneyServer(Protocol):
    """What a journey needs of the Taskboard it drives: its URL, a way to add tasks, and a way
    to read back what it stored."""

    @property
    def url(self) -> str: ...

    def seed_tasks(self, email: str, password: str, titles: list[str]) -> None: ...

    def tasks_of(self, email: str) -> list[tuple[str, str, bool, str | None]]: ...


@dataclass(frozen=True)
class LiveServer:
    url: str
    database: Path

    def tasks_of(self, email: str) -> list[tuple[str, str, bool, str | None]]:
        """The user's tasks as stored: (title, notes, done, due_on), sorted by title."""
        with sqlite3.connect(self.database) as db:
            rows = db.execute(
                "SELECT t.title, t.notes, t.done, t.due_on FROM tasks t "
                "JOIN users u ON u.id = t.owner_id WHERE u.email = ? ORDER BY t.title, t.id",
                (email,),
            ).fetchall()
        return [(title, notes, bool(done), due) for title, notes, done, due in rows]

    def task_id(self, email: str, title: str) -> int:
        with sqlite3.connect(self.database) as db:
            row = db.execute(
                "SELECT t.id FROM tasks t JOIN users u ON u.id = t.owner_id "
                "WHERE u.email = ? AND t.title = ?",
                (email, title),
            ).fetchone()
        assert row is not None, f"{email} has no task {title!r}"
        return int(row[0])

    def delete_task(self, email: str, title: str) -> None:
        """Delete a user's task behind the browser's back (as another device would)."""
        with sqlite3.connect(self.database) as db:
            db.execute(
                "DELETE FROM tasks WHERE title = ? AND owner_id = "
                "(SELECT id FROM users WHERE email = ?)",
                (title, email),
            )

    def seed_tasks(self, email: str, password: str, titles: list[str]) -> None:
        """Add tasks for a user through the JSON API (a bearer token: no cookie, no CSRF)."""
        token = self._post("/api/tokens", {"email": email, "password": password}, None)["token"]
        for title in titles:
            self._post("/tasks", {"title": title}, str(token))

    def _post(self, path: str, body: dict[str, str], token: str | None) -> dict[str, object]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(  # noqa: S310 (our own http://127.0.0.1 URL)
            self.url + path, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            answer: dict[str, object] = json.loads(response.read())
        return answer


def signed_up(
    browser: Browser, server: LiveServer, prefix: str, *, javascript: bool = True
) -> tuple[Page, str]:
    """A new user's list, in a browser context of its own: the page and the user's email."""
    context = browser.new_context(base_url=server.url, java_script_enabled=javascript)
    page = context.new_page()
    email = f"{prefix}-{uuid4().hex[:8]}@example.org"
    page.goto("/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("heading", name="Your tasks", level=1).wait_for()
    return page, email


@contextmanager
def job_worker(data_dir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A job worker (``taskboard worker``) for the Taskboard served from ``data_dir``, on its
    embedded broker, until the block ends."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{data_dir / 'taskboard.db'}",
        "TASKBOARD_DATA": str(data_dir),
        "SECRET_KEY": SECRET,
    }
    env.pop("BROKER_URL", None)
    with (data_dir / "worker.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "taskboard", "worker"], env=env, stdout=log, stderr=log
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def serve_taskboard(
    data_dir: Path, database_url: str | None = None, **overrides: Any
) -> Iterator[LiveServer]:
    """Serve a fresh Taskboard until the block ends (migrations run as it starts): on a SQLite
    file in ``data_dir`` unless ``database_url`` names another database, with ``overrides`` of
    its settings."""
    database = data_dir / "taskboard.db"
    settings = Settings(
        database_url=database_url or f"sqlite+inline:///{database}",
        secret_key=SECRET,
        data_dir=data_dir,
        # Every test's new user signs up from 127.0.0.1, as people behind one office's NAT do.
        **{"signups_per_address": "1000/minute", **overrides},
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings), log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"Taskboard did not start on 127.0.0.1:{port} (see the log above)")
        time.sleep(0.02)  # polling a condition (the server's started flag), not a fixed wait
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", database)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
