"""API clients with a bearer token drive every task endpoint without cookies or CSRF."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.taskboard.conftest import Account, log_in
from tests.taskboard.tasks.support import JSON, make_tasks, stored


def bearer(client: TestClient, account: Account) -> dict[str, str]:
    response = client.post(
        "/api/tokens", json={"email": account.email, "password": account.password}, headers=JSON
    )
    assert response.status_code == 201, response.text
    client.cookies.clear()
    return {**JSON, "Authorization": f"Bearer {response.json()['token']}"}


def test_a_bearer_client_creates_lists_edits_toggles_and_deletes(
    client: TestClient, alice: Account
) -> None:
    auth = bearer(client, alice)

    created = client.post(
        "/tasks", json={"title": "From the API", "due_on": "2026-10-10"}, headers=auth
    )
    task_id = created.json()["id"]
    listed = client.get("/tasks?q=api", headers=auth)
    edited = client.post(f"/tasks/{task_id}", json={"title": "Renamed", "notes": "n"}, headers=auth)
    patched = client.patch(f"/tasks/{task_id}", json={"done": True}, headers=auth)
    toggled = client.post(f"/tasks/{task_id}/toggle", headers=auth)

    assert created.status_code == 201
    assert created.headers["location"] == f"/tasks/{task_id}"
    assert [t["id"] for t in listed.json()["items"]] == [task_id]
    assert edited.json()["due_on"] is None  # POST replaces every editable field
    assert patched.json()["done"] is True
    assert toggled.json()["done"] is False
    (task,) = stored(client, alice)
    assert (task["title"], task["notes"], task["done"]) == ("Renamed", "n", False)

    deleted = client.delete(f"/tasks/{task_id}", headers=auth)
    assert deleted.status_code == 204
    assert stored(client, alice) == []


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/tasks/{id}"),
        ("POST", "/tasks/{id}"),
        ("PATCH", "/tasks/{id}"),
        ("POST", "/tasks/{id}/toggle"),
        ("POST", "/tasks/{id}/delete"),
        ("DELETE", "/tasks/{id}"),
    ],
)
def test_a_bearer_client_cannot_touch_another_users_task(
    client: TestClient, alice: Account, bob: Account, method: str, url: str
) -> None:
    (task_id,) = make_tasks(client, bob, ["Bob's"])
    auth = bearer(client, alice)

    body = {"title": "Mine now"} if method != "GET" and url == "/tasks/{id}" else None
    response = client.request(method, url.format(id=task_id), json=body, headers=auth)

    assert response.status_code == 404
    assert response.json()["code"] == "task-not-found"
    assert stored(client, bob)[0]["title"] == "Bob's"


def test_the_json_api_has_one_version_and_refuses_any_other(
    client: TestClient, alice: Account
) -> None:
    log_in(client, alice)

    current = client.get("/tasks", headers={"Accept": "application/json; version=1"})
    unknown = client.get("/tasks", headers={"Accept": "application/json; version=99"})

    assert current.status_code == 200
    assert current.headers["content-type"] == "application/json; version=1"
    assert unknown.status_code == 406
    assert unknown.headers["content-type"] == "application/problem+json"
    assert "version=1" in unknown.json()["detail"]
