"""Fixtures for Taskboard's tests: the app on a fresh database, users, and logged-in clients.

Every test that takes ``app`` runs once on SQLite and, when ``TEST_POSTGRES_URL`` names a
PostgreSQL server (``.ci/run`` sets it), once more on PostgreSQL. SQLite starts from a copy of a
database migrated once per run; PostgreSQL uses one database migrated once per run and emptied
between tests.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx2 import Response
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.sql.expression import Executable
from starlette.testclient import TestClient

from taskboard.accounts.models import User
from taskboard.accounts.service import SESSION_USER_KEY, create_user
from taskboard.app import create_app
from taskboard.db import Database
from taskboard.migrations.runner import upgrade
from taskboard.settings import Settings, async_database_url, sync_database_url
from tests.tcp_proxy import PausableProxy
from tiered.testing import csrf_token

SECRET = "test-secret-key-that-is-long-enough-0123456789"
PASSWORD = "correct horse battery staple"
TABLES = ("jobs", "tasks", "api_tokens", "sessions", "users")

SCHEMATHESIS_KEY = pytest.StashKey[list[str]]()
"""What each schemathesis run answered (test_schemathesis.py), for the run's summary."""


def pytest_configure(config: pytest.Config) -> None:
    config.stash[SCHEMATHESIS_KEY] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = terminalreporter.config.stash.get(SCHEMATHESIS_KEY, [])
    if lines:
        terminalreporter.section("schemathesis")
        for line in lines:
            terminalreporter.write_line(line)


BACKENDS = ["sqlite"]
if os.environ.get("TEST_POSTGRES_URL"):
    BACKENDS.append("postgresql")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "taskboard.db"
    upgrade(f"sqlite+inline:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of its own on the TEST_POSTGRES_URL server, migrated once."""
    server = os.environ["TEST_POSTGRES_URL"]
    name = f"taskboard_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(
        sync_database_url(async_database_url(server)), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = async_database_url(server.rsplit("/", 1)[0] + "/" + name)
    upgrade(url)
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "taskboard.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+inline:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    engine = create_engine(sync_database_url(url))
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, secret_key=SECRET, data_dir=tmp_path)


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A browser-like client; the app's lifespan (migrations, engine) runs around it."""
    with TestClient(app, base_url="http://127.0.0.1:8000") as test_client:
        yield test_client


@dataclass
class Account:
    user: User
    email: str
    password: str


def make_user(client: TestClient, email: str, *, is_admin: bool = False) -> Account:
    """A user stored directly (the sign-up pages have tests of their own).

    Runs on the app's own event loop (the client's portal): the engine's connections belong to it.
    """
    database: Database = client.app.state.database  # type: ignore[attr-defined]
    portal = client.portal
    assert portal is not None, "use the client inside its `with` block (the `client` fixture)"
    user = portal.call(lambda: create_user(database, email, PASSWORD, is_admin=is_admin))
    return Account(user, email, PASSWORD)


def log_in(client: TestClient, account: Account) -> None:
    """Give ``client`` a logged-in session for ``account`` without going through /login."""
    app: FastAPI = client.app  # type: ignore[assignment]
    runtime = app.state.tiered
    session_id = f"test-{uuid.uuid4().hex}"
    data = {SESSION_USER_KEY: account.user.id}
    portal = client.portal
    assert portal is not None, "use the client inside its `with` block (the `client` fixture)"
    portal.call(lambda: runtime.sessions.save(session_id, data, 3600))
    client.cookies.set(runtime.settings.session_cookie, runtime.session_cookie.write(session_id))


@pytest.fixture
def alice(client: TestClient) -> Account:
    return make_user(client, "alice@example.org")


@pytest.fixture
def bob(client: TestClient) -> Account:
    return make_user(client, "bob@example.org")


# --- accounts: submitting forms three ways, and reading the database -------------------------

WAYS = ("form", "enhanced", "json")
"""How a journey is driven: a plain form POST with the page's token, an htmx request with the
token in a header, and a JSON request with the token in a header."""


def page_csrf(client: TestClient, path: str = "/login") -> str:
    """The CSRF token of a form on the page at ``path`` (which must answer 200)."""
    response = client.get(path)
    assert response.status_code == 200, response.text
    return csrf_token(response.text)


def submit(
    client: TestClient, way: str, path: str, fields: dict[str, str], *, page: str = "/login"
) -> Response:
    """POST ``fields`` to ``path`` the ``way`` given, with a CSRF token from ``page``."""
    token = page_csrf(client, page)
    if way == "form":
        return client.post(path, data={"csrf_token": token, **fields}, follow_redirects=False)
    if way == "enhanced":
        headers = {"HX-Request": "true", "X-CSRF-Token": token}
        return client.post(path, data=fields, headers=headers, follow_redirects=False)
    assert way == "json", way
    headers = {"Accept": "application/json", "X-CSRF-Token": token}
    return client.post(path, json=fields, headers=headers, follow_redirects=False)


def db_all(client: TestClient, statement: Executable) -> list[Any]:
    """Run ``statement`` on the app's database (on the app's loop); the first column of each row."""
    database: Database = client.app.state.database  # type: ignore[attr-defined]
    portal = client.portal
    assert portal is not None, "use the client inside its `with` block (the `client` fixture)"

    async def run() -> list[Any]:
        async with database.sessionmaker() as db:
            result = await db.execute(statement)
            return list(result.scalars().all())

    return portal.call(run)


def db_run(client: TestClient, statement: Executable) -> None:
    """Execute and commit a write on the app's database."""
    database: Database = client.app.state.database  # type: ignore[attr-defined]
    portal = client.portal
    assert portal is not None

    async def run() -> None:
        async with database.sessionmaker() as db:
            await db.execute(statement)
            await db.commit()

    portal.call(run)


def use_session_cookie(client: TestClient, value: str | None) -> None:
    """Make ``client`` send exactly this session cookie (or none).

    Set for the host the app answers as, like the cookies its responses set, so that a later
    ``Set-Cookie`` replaces it instead of adding a second cookie of the same name.
    """
    client.cookies.delete("tiered_session")
    if value is not None:
        client.cookies.set("tiered_session", value, domain="127.0.0.1")


def log_in_only(client: TestClient, account: Account) -> str:
    """Like ``log_in``, replacing whatever session ``client`` had; returns the session cookie."""
    use_session_cookie(client, None)
    log_in(client, account)
    value = client.cookies.get("tiered_session")
    assert value
    use_session_cookie(client, value)
    return value


@pytest.fixture
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2id with tiny parameters: the defaults take ~0.5 s a hash on a CI machine.

    Still argon2id, so hashes keep their ``$argon2id$`` prefix and rehashing still works.
    """
    from argon2 import PasswordHasher

    from taskboard.accounts import service

    monkeypatch.setattr(
        service, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


# --- PostgreSQL through a TCP proxy that can stall (tests/tcp_proxy.py) ---------------------


@pytest.fixture
def proxy() -> Iterator[PausableProxy]:
    server = make_url(os.environ["TEST_POSTGRES_URL"])
    with PausableProxy(server.host or "127.0.0.1", server.port or 5432) as tcp:
        yield tcp


@pytest.fixture
def proxied_url(proxy: PausableProxy, postgres_url: str) -> str:
    """The test database, emptied, reached through the proxy."""
    engine = create_engine(sync_database_url(postgres_url))
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    engine.dispose()
    url = make_url(postgres_url).set(host="127.0.0.1", port=proxy.port)
    return url.render_as_string(hide_password=False)
