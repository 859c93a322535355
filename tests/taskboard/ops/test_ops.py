"""Health, readiness, JSON request logs, and a database that goes away and comes back."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sqlite3
import time
from pathlib import Path

import httpx2 as httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select
from starlette.testclient import TestClient

from taskboard.accounts.models import User
from taskboard.app import create_app
from taskboard.db import Database, DbSession
from taskboard.ops.service import UNAVAILABLE_DETAIL, JsonLineFormatter, logging_config
from taskboard.settings import Settings
from tests.taskboard.conftest import SECRET, log_in, make_user
from tests.tcp_proxy import PausableProxy

JSON = {"Accept": "application/json"}
HTML = {"Accept": "text/html"}
FAST_SECONDS = 0.5
"""A 503 while the database is away comes well inside the 3 s bound."""

needs_postgres = pytest.mark.skipif(
    not os.environ.get("TEST_POSTGRES_URL"), reason="TEST_POSTGRES_URL is not set"
)


# --- /healthz and /readyz -----------------------------------------------------------------------


def test_healthz_says_the_process_is_up(client: TestClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["Content-Type"] == "application/json"
    assert response.headers["X-Request-ID"]


def test_readyz_says_the_database_answers(client: TestClient) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_health_endpoints_are_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    assert "503" in paths["/readyz"]["get"]["responses"]
    assert "get" in paths["/healthz"]


@pytest.mark.parametrize(
    "error",
    [
        sa_exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError("database is locked")),
        sa_exc.InterfaceError("SELECT 1", {}, psycopg.InterfaceError("connection already closed")),
        sa_exc.TimeoutError("QueuePool limit of size 10 overflow 10 reached"),
        sa_exc.DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True),
        psycopg.OperationalError("server closed the connection unexpectedly"),
        sqlite3.OperationalError("unable to open database file"),
    ],
    ids=lambda error: type(error).__module__.split(".")[0] + "." + type(error).__name__,
)
def test_database_outage_errors_answer_503(tmp_path: Path, error: Exception) -> None:
    app = build_app("sqlite+inline:///" + str(tmp_path / "unused.db"), tmp_path)

    @app.get("/fails")
    async def fails() -> None:
        raise error

    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        assert_unavailable(client.get("/fails", headers=JSON), "json")
        assert_unavailable(client.get("/fails", headers=HTML), "html")


def test_a_broken_constraint_stays_a_500(tmp_path: Path) -> None:
    app = build_app("sqlite+inline:///" + str(tmp_path / "unused.db"), tmp_path)

    @app.get("/fails")
    async def fails() -> None:
        raise sa_exc.IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE failed"))

    with TestClient(app, base_url="http://127.0.0.1:8000", raise_server_exceptions=False) as client:
        response = client.get("/fails", headers=JSON)

    assert response.status_code == 500
    assert response.json()["code"] == "internal-error"
    assert "UNIQUE" not in response.text


# --- request logs -------------------------------------------------------------------------------


def test_serve_logs_one_json_line_per_request(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tiered.access")

    response = client.get("/tasks?q=x", headers={"X-Request-ID": "abc-123", **JSON})

    [record] = [r for r in caplog.records if r.name == "tiered.access"]
    line = json.loads(JsonLineFormatter().format(record))
    assert line["request_id"] == "abc-123" == response.headers["X-Request-ID"]
    assert (line["logger"], line["level"]) == ("tiered.access", "info")
    assert (line["method"], line["path"], line["status"]) == ("GET", "/tasks", response.status_code)
    assert line["bytes"] == len(response.content)
    assert {"route", "duration_ms", "tier", "reasons", "representation"} <= set(line)
    config = logging_config()
    assert config["root"]["handlers"] == ["stdout"]
    assert config["formatters"]["json"]["()"] is JsonLineFormatter


def test_the_json_formatter_keeps_exceptions() -> None:
    try:
        raise ValueError("no such thing")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed %s", ("here",), None)
        record.exc_info = __import__("sys").exc_info()

    line = json.loads(JsonLineFormatter().format(record))

    assert line["message"] == "failed here"
    assert "ValueError: no such thing" in line["exception"]


# --- the database goes away ---------------------------------------------------------------------


def build_app(database_url: str, data_dir: Path) -> FastAPI:
    """Taskboard, plus a route that reads the database through the request's session."""
    app = create_app(Settings(database_url=database_url, secret_key=SECRET, data_dir=data_dir))

    @app.get("/probe")
    async def probe(db: DbSession) -> dict[str, int]:
        users = await db.scalar(select(func.count()).select_from(User))
        return {"users": users or 0}

    return app


def timed_get(
    client: TestClient, url: str, headers: dict[str, str]
) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = client.get(url, headers=headers)
    return response, time.perf_counter() - started


def assert_unavailable(response: httpx.Response, representation: str) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) >= 1
    if representation == "json":
        assert response.headers["Content-Type"] == "application/problem+json"
        problem = response.json()
        assert problem["code"] == "service-unavailable"
        assert problem["detail"] == UNAVAILABLE_DETAIL
        assert problem["request_id"] == response.headers["X-Request-ID"]
    else:
        assert response.headers["Content-Type"].startswith("text/html")
        assert "cannot reach its database" in response.text
        assert response.headers["X-Request-ID"] in response.text


def wait_until_ready(client: TestClient, within: float = 8.0) -> float:
    """Poll /readyz until it answers 200; how long that took."""
    started = time.perf_counter()
    while time.perf_counter() - started < within:
        if client.get("/readyz").status_code == 200:
            return time.perf_counter() - started
        time.sleep(0.1)
    raise AssertionError(f"/readyz did not recover within {within} s")


@needs_postgres
def test_postgres_going_away_answers_503_fast_and_recovers_by_itself(
    proxy: PausableProxy, proxied_url: str, tmp_path: Path
) -> None:
    app = build_app(proxied_url, tmp_path)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        alice = make_user(client, "alice@example.org")
        log_in(client, alice)
        session_cookie = dict(client.cookies)
        client.cookies.clear()
        assert client.get("/probe").json() == {"users": 1}

        proxy.refuse()

        for url_path, headers, kind in [
            ("/probe", JSON, "json"),
            ("/probe", HTML, "html"),
            ("/readyz", JSON, "json"),
            ("/probe", {"HX-Request": "true"}, "html"),
        ]:
            response, elapsed = timed_get(client, url_path, headers)
            assert_unavailable(response, kind)
            assert elapsed < FAST_SECONDS, (url_path, elapsed)
        assert client.get("/healthz").json() == {"status": "ok"}
        # A logged-in request fails earlier, in the session store, and just as clearly.
        client.cookies.update(session_cookie)
        response, elapsed = timed_get(client, "/probe", HTML)
        assert_unavailable(response, "html")
        assert elapsed < FAST_SECONDS

        proxy.resume()
        wait_until_ready(client)

        assert client.get("/probe").json() == {"users": 1}  # the same session, no restart


@needs_postgres
def test_a_silent_postgres_costs_one_bounded_wait_then_fails_fast(
    proxy: PausableProxy, proxied_url: str, tmp_path: Path
) -> None:
    app = build_app(proxied_url, tmp_path)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        alice = make_user(client, "alice@example.org")
        log_in(client, alice)
        assert client.get("/probe").status_code == 200

        proxy.pause()
        first, first_elapsed = timed_get(client, "/probe", JSON)
        later = [timed_get(client, "/probe", JSON) for _ in range(5)]

        assert_unavailable(first, "json")
        assert 1.5 < first_elapsed < 3.0  # one bounded wait (taskboard.ops.postgres), once
        for response, elapsed in later:  # the breaker is open: no waiting
            assert_unavailable(response, "json")
            assert elapsed < FAST_SECONDS

        proxy.resume()
        wait_until_ready(client)
        assert client.get("/probe").json() == {"users": 1}


def test_a_sqlite_file_that_goes_away_answers_503_and_recovers(
    sqlite_template: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(sqlite_template, data / "taskboard.db")
    app = build_app(f"sqlite+inline:///{data / 'taskboard.db'}", tmp_path)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        alice = make_user(client, "alice@example.org")
        log_in(client, alice)
        assert client.get("/probe").json() == {"users": 1}

        # The disk goes away (an unmounted volume, say): open connections are dropped with it.
        data.rename(tmp_path / "elsewhere")
        database: Database = app.state.database
        assert client.portal is not None
        client.portal.call(database.dispose)

        for headers, kind in [(JSON, "json"), (HTML, "html")]:
            response, elapsed = timed_get(client, "/probe", headers)
            assert_unavailable(response, kind)
            assert elapsed < FAST_SECONDS
        response, _ = timed_get(client, "/readyz", JSON)
        assert_unavailable(response, "json")

        (tmp_path / "elsewhere").rename(data)
        wait_until_ready(client)
        assert client.get("/probe").json() == {"users": 1}


def test_a_session_store_outage_is_a_503_not_a_500(sqlite_template: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(sqlite_template, data / "taskboard.db")
    app = build_app(f"sqlite+inline:///{data / 'taskboard.db'}", tmp_path)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        alice = make_user(client, "alice@example.org")
        log_in(client, alice)
        data.rename(tmp_path / "elsewhere")
        database: Database = app.state.database
        assert client.portal is not None
        client.portal.call(database.dispose)

        # /healthz itself never reads the database; the session cookie makes tiered load it.
        response = client.get("/healthz", headers=HTML)

        assert_unavailable(response, "html")
        with contextlib.suppress(FileNotFoundError):
            (tmp_path / "elsewhere").rename(data)
