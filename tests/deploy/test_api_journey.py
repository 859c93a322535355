"""The JSON API through nginx over HTTP/2: a token, then a task created, listed, patched and
deleted."""

from __future__ import annotations

from tests.deploy.conftest import RunningStack


def test_a_bearer_client_creates_lists_patches_and_deletes_a_task_over_https(
    stack: RunningStack, api: dict[str, str]
) -> None:
    with stack.client() as client:
        created = client.post(
            "/tasks", json={"title": "Through the proxy", "due_on": "2026-12-24"}, headers=api
        )
        task_id = created.json()["id"]
        listed = client.get("/tasks", params={"q": "through the proxy"}, headers=api)
        fetched = client.get(f"/tasks/{task_id}", headers=api)
        patched = client.patch(f"/tasks/{task_id}", json={"done": True}, headers=api)
        deleted = client.delete(f"/tasks/{task_id}", headers=api)
        gone = client.get(f"/tasks/{task_id}", headers=api)

    assert created.status_code == 201, created.text
    assert created.http_version == "HTTP/2"
    assert created.headers["location"] == f"/tasks/{task_id}"
    assert created.json()["title"] == "Through the proxy"
    assert [task["id"] for task in listed.json()["items"]] == [task_id]
    assert fetched.json()["due_on"] == "2026-12-24"
    assert patched.status_code == 200, patched.text
    assert patched.json()["done"] is True
    assert deleted.status_code == 204
    assert gone.status_code == 404
    assert gone.headers["content-type"] == "application/problem+json"


def test_without_a_token_the_api_answers_401_through_the_proxy(stack: RunningStack) -> None:
    with stack.client() as client:
        response = client.get("/tasks", headers={"Accept": "application/json"})

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
