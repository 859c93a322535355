"""A PostgreSQL that stops answering: a stalled network, not a refused connection.

Between the app and the server sits a proxy that, once paused, accepts and acknowledges every
byte and delivers none, so the server's own timeouts never fire. Every request that needs the
database then answers 503 with ``Retry-After`` within the 3 s bound, as a page, a fragment or a
problem document; ``/readyz`` says so; the app recovers by itself within 3 s of the network
coming back; and every write it acknowledged is in the database.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import create_engine, func, make_url, select, text
from starlette.testclient import TestClient

from taskboard.accounts.models import User
from taskboard.app import create_app
from taskboard.db import Database, DbSession
from taskboard.ops.service import UNAVAILABLE_DETAIL
from taskboard.settings import Settings, sync_database_url
from tests.taskboard.conftest import SECRET, Account, log_in
from tests.taskboard.tasks.support import HX, JSON, csrf
from tests.tcp_proxy import PausableProxy

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not os.environ.get("TEST_POSTGRES_URL"), reason="needs TEST_POSTGRES_URL"),
]

BOUND_SECONDS = 3.0
"""What a request may take while the database is away, and what recovery may take after."""

HTML = {"Accept": "text/html"}


@pytest.fixture
def settings(proxied_url: str, tmp_path: Path) -> Settings:
    # A small pool, so that some of the concurrent requests below wait for a place in it.
    return Settings(
        database_url=proxied_url, secret_key=SECRET, data_dir=tmp_path, database_pool_size=3
    )


@pytest.fixture
def app(settings: Settings, proxy: PausableProxy) -> FastAPI:
    """Taskboard, plus routes that read the database and one that stalls it halfway."""
    app = create_app(settings)

    @app.get("/probe")
    async def probe(db: DbSession) -> dict[str, int]:
        return {"users": await db.scalar(select(func.count()).select_from(User)) or 0}

    @app.get("/stall-midway")
    async def stall_midway(db: DbSession) -> dict[str, int]:
        await db.scalar(select(1))  # this request now holds a pooled connection
        proxy.pause()
        return {"users": await db.scalar(select(func.count()).select_from(User)) or 0}

    return app


def timed(send: Any, *args: Any, **kwargs: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = send(*args, **kwargs)
    return response, time.monotonic() - started


def assert_unavailable(response: httpx.Response, representation: str) -> None:
    """The 503 a client gets while the database is away, in the representation it asked for."""
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["X-Request-ID"]
    if representation == "json":
        assert response.headers["Content-Type"] == "application/problem+json"
        problem = response.json()
        assert (problem["code"], problem["detail"]) == ("service-unavailable", UNAVAILABLE_DETAIL)
        assert problem["retry_after"] == int(response.headers["Retry-After"])
        return
    assert response.headers["Content-Type"].startswith("text/html")
    assert "cannot reach its database" in response.text
    if representation == "fragment":
        assert "<html" not in response.text
    else:
        assert response.text.lstrip().lower().startswith("<!doctype html>")


def wait_until_ready(client: TestClient, within: float) -> float:
    """Poll ``/readyz`` until it answers 200; how long that took."""
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < within:
        if client.get("/readyz").status_code == 200:
            return elapsed
        time.sleep(0.05)
    raise AssertionError(f"/readyz did not answer 200 within {within} s")


def stored_titles(postgres_url: str) -> list[str]:
    """Task titles read straight from the server, not through the app or the proxy."""
    engine = create_engine(sync_database_url(postgres_url))
    with engine.connect() as connection:
        titles = connection.execute(text("SELECT title FROM tasks ORDER BY id")).scalars().all()
    engine.dispose()
    return list(titles)


def test_a_stalled_database_answers_503_everywhere_within_the_bound_and_recovers(
    client: TestClient, alice: Account, proxy: PausableProxy, postgres_url: str
) -> None:
    log_in(client, alice)
    token = csrf(client)
    saved = [
        client.post(
            "/tasks", data={"title": "By form", "csrf_token": token}, follow_redirects=False
        ),
        client.post("/tasks", data={"title": "By htmx"}, headers={**HX, "X-CSRF-Token": token}),
        client.post("/tasks", json={"title": "By API"}, headers={**JSON, "X-CSRF-Token": token}),
    ]
    assert [r.status_code for r in saved] == [303, 200, 201]

    proxy.pause()

    answers = [
        ("page", timed(client.get, "/tasks", headers=HTML)),
        ("fragment", timed(client.get, "/tasks", headers=HX)),
        ("json", timed(client.get, "/tasks", headers=JSON)),
        ("json", timed(client.get, "/readyz", headers=JSON)),
        (
            "json",
            timed(
                client.post,
                "/tasks",
                json={"title": "During the stall"},
                headers={**JSON, "X-CSRF-Token": token},
            ),
        ),
        (
            "page",
            timed(
                client.post,
                "/tasks",
                data={"title": "During the stall", "csrf_token": token},
                headers=HTML,
            ),
        ),
    ]
    for representation, (response, seconds) in answers:
        assert_unavailable(response, representation)
        assert seconds < BOUND_SECONDS, (response.request.url, seconds)

    proxy.resume()

    assert wait_until_ready(client, within=BOUND_SECONDS) < BOUND_SECONDS
    page = client.get("/tasks", headers=HTML)  # the same session: no restart, no new log-in
    assert page.status_code == 200
    assert "By form" in page.text
    # What the app acknowledged is stored; what it refused may or may not be (a commit whose
    # answer was lost), which is why the 503 says nothing was lost, not that nothing was saved.
    assert stored_titles(postgres_url)[:3] == ["By form", "By htmx", "By API"]


def test_a_request_holding_a_connection_when_the_database_stalls_answers_503_within_the_bound(
    client: TestClient, proxy: PausableProxy
) -> None:
    response, seconds = timed(client.get, "/stall-midway", headers=JSON)

    assert_unavailable(response, "json")
    assert seconds < BOUND_SECONDS
    html, seconds = timed(client.get, "/probe", headers=HTML)  # the breaker is open now
    assert_unavailable(html, "page")
    assert seconds < BOUND_SECONDS
    assert client.get("/healthz").json() == {"status": "ok"}  # the process itself is fine

    proxy.resume()

    assert wait_until_ready(client, within=BOUND_SECONDS) < BOUND_SECONDS
    assert client.get("/probe").json() == {"users": 0}


def test_many_requests_at_once_during_a_stall_all_answer_503_within_the_bound(
    client: TestClient, proxy: PausableProxy
) -> None:
    for _ in range(3):  # fill the pool of 3 with idle connections, each stalls at its pre-ping
        threads = [threading.Thread(target=client.get, args=("/probe",)) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    proxy.pause()
    answers: list[tuple[httpx.Response, float]] = []

    def ask() -> None:
        answers.append(timed(client.get, "/probe", headers=JSON))

    threads = [threading.Thread(target=ask) for _ in range(12)]  # 3 hold connections, 9 wait
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(answers) == 12
    for response, seconds in answers:
        assert_unavailable(response, "json")
        assert seconds < BOUND_SECONDS
    proxy.resume()
    wait_until_ready(client, within=BOUND_SECONDS)
    database: Database = client.app.state.database  # type: ignore[attr-defined]
    assert database.gate is not None
    assert (database.gate.held, database.gate.waiting) == (0, 0)  # no place was lost
    assert client.get("/probe").json() == {"users": 0}


def test_a_database_that_stalls_while_the_app_is_idle_is_noticed_on_the_first_request(
    client: TestClient, alice: Account, proxy: PausableProxy
) -> None:
    log_in(client, alice)
    assert client.get("/tasks", headers=JSON).status_code == 200
    proxy.pause()
    time.sleep(0.5)

    # The first request meets the stall in the session store, before any view runs.
    first, seconds = timed(client.get, "/tasks", headers=HX)

    assert_unavailable(first, "fragment")
    assert seconds < BOUND_SECONDS
    proxy.resume()
    assert wait_until_ready(client, within=BOUND_SECONDS) < BOUND_SECONDS
    assert client.get("/tasks", headers=JSON).status_code == 200


# --- the server's own timeouts ------------------------------------------------------------------


def server_settings(url: str) -> dict[str, str]:
    """What the server says its timeouts are, on a connection made by the app's Database."""

    async def read() -> dict[str, str]:
        database = Database(url)
        names = ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")
        try:
            async with database.engine.connect() as connection:
                return {name: str(await connection.scalar(text(f"SHOW {name}"))) for name in names}
        finally:
            await database.dispose()

    return asyncio.run(read())


def test_every_connection_sets_the_servers_timeouts_below_the_bound(postgres_url: str) -> None:
    assert server_settings(postgres_url) == {
        "statement_timeout": "1500ms",
        "lock_timeout": "1s",
        "idle_in_transaction_session_timeout": "10s",
    }


def test_options_in_the_database_url_override_the_apps_timeouts(postgres_url: str) -> None:
    url = make_url(postgres_url).update_query_dict({"options": "-c statement_timeout=5s"})

    shown = server_settings(url.render_as_string(hide_password=False))

    assert shown["statement_timeout"] == "5s"
    assert shown["lock_timeout"] == "1s"


def test_a_query_slower_than_the_statement_timeout_answers_503(
    client: TestClient, app: FastAPI
) -> None:
    @app.get("/slow")
    async def slow(db: DbSession) -> dict[str, int]:
        await db.execute(text("SELECT pg_sleep(3)"))
        return {"slept": 3}

    response, seconds = timed(client.get, "/slow", headers=JSON)

    assert_unavailable(response, "json")
    assert seconds < BOUND_SECONDS
    assert client.get("/probe").json() == {"users": 0}  # the connection stayed usable
