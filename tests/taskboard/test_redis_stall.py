"""A Redis that stops answering: log-ins, forms and pages go on, each degraded as it says.

Redis holds the shared log-in counts, duplicate-submission keys and telemetry. When it accepts
connections but never answers (a stalled network), each of them gives up after half a second,
logs what it does instead, and falls back to this process: log-in limits and duplicate
submissions are then enforced per instance, and telemetry keeps its counts in memory.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from taskboard.app import create_app
from taskboard.settings import Settings
from taskboard.tasks.models import Task
from tests.conftest import hidden_value
from tests.redis_server import silent_redis
from tests.taskboard.conftest import PASSWORD, Account, db_all, page_csrf

pytestmark = pytest.mark.usefixtures("fast_hashing")

BOUND_SECONDS = 3.0
"""What a request may take while Redis is away (the issue's bound for every dependency)."""


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """Taskboard whose Redis takes connections and never answers."""
    with (
        silent_redis() as url,
        TestClient(
            create_app(replace(settings, redis_url=url)), base_url="http://127.0.0.1:8000"
        ) as test_client,
    ):
        yield test_client


def test_log_in_and_a_form_work_within_the_bound_while_redis_is_silent(
    client: TestClient, alice: Account, caplog: pytest.LogCaptureFixture
) -> None:
    started = time.monotonic()
    login = client.post(
        "/login",
        data={"csrf_token": page_csrf(client), "email": alice.email, "password": PASSWORD},
        follow_redirects=False,
    )
    login_seconds = time.monotonic() - started
    page = client.get("/tasks")
    form = {
        "csrf_token": page_csrf(client, "/tasks"),
        "idempotency_key": hidden_value(page.text, "idempotency_key"),
        "title": "Buy milk",
    }
    started = time.monotonic()
    created = client.post("/tasks", data=form, follow_redirects=False)
    again = client.post("/tasks", data=form, follow_redirects=False)
    create_seconds = time.monotonic() - started

    assert (login.status_code, login.headers["location"]) == (303, "/tasks")
    assert created.status_code == again.status_code == 303
    assert login_seconds < BOUND_SECONDS
    assert create_seconds < BOUND_SECONDS
    # The repeat was still caught, by this process's memory.
    assert db_all(client, select(Task.title)) == ["Buy milk"]
    assert "duplicate submissions are caught within each process only" in caplog.text
    assert "counting failed log-ins and sign-ups in this process" in caplog.text


def test_failed_log_ins_are_still_limited_while_redis_is_silent(
    client: TestClient, alice: Account
) -> None:
    def wrong() -> int:
        return client.post(
            "/login",
            data={"csrf_token": page_csrf(client), "email": alice.email, "password": "nope"},
            follow_redirects=False,
        ).status_code

    statuses = [wrong() for _ in range(6)]

    assert statuses == [422] * 5 + [429]
