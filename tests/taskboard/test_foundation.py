"""The app starts on an empty database, migrates it, and knows who is logged in."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.taskboard.conftest import Account, log_in


def test_an_empty_database_is_migrated_on_start(client: TestClient) -> None:
    response = client.get("/no-such-page", headers={"Accept": "application/json"})

    assert response.status_code == 404
    assert response.json()["code"] == "not-found"


def test_a_logged_in_session_loads_from_the_database(client: TestClient, alice: Account) -> None:
    log_in(client, alice)

    assert client.cookies.get("tiered_session")
