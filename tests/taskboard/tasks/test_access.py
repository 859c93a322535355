"""One user can never read, change or delete another's task: 404 by every route and format."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.taskboard.conftest import Account, log_in
from tests.taskboard.tasks.support import HX, JSON, csrf, make_tasks, stored

READS = ("/tasks/{id}", "/tasks/{id}/delete")
POSTS = ("/tasks/{id}", "/tasks/{id}/toggle", "/tasks/{id}/delete")
WRITES: list[tuple[str, str, str]] = [
    *[("POST", url, way) for url in POSTS for way in ("form", "enhanced", "json")],
    ("PATCH", "/tasks/{id}", "json"),
    ("DELETE", "/tasks/{id}", "json"),
]
BODIES: dict[str, dict[str, str | bool]] = {"/tasks/{id}": {"title": "Stolen"}}


@pytest.fixture
def bobs_task(client: TestClient, bob: Account, alice: Account) -> int:
    (task_id,) = make_tasks(client, bob, ["Bob's secret"], notes="for bob only")
    log_in(client, alice)
    return task_id


@pytest.mark.parametrize("url", READS)
@pytest.mark.parametrize("headers", [{}, HX, JSON], ids=["page", "fragment", "json"])
def test_another_users_task_cannot_be_read(
    client: TestClient, bobs_task: int, url: str, headers: dict[str, str]
) -> None:
    response = client.get(url.format(id=bobs_task), headers=headers)

    # The confirmation page has no JSON: that answer (406) comes before anything is looked up.
    expected = 406 if url.endswith("/delete") and headers is JSON else 404
    assert response.status_code == expected
    assert "Bob's secret" not in response.text
    assert "for bob only" not in response.text


def test_another_users_task_is_a_404_problem_in_json(client: TestClient, bobs_task: int) -> None:
    response = client.get(f"/tasks/{bobs_task}", headers=JSON)

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "task-not-found"


def test_another_users_task_is_a_404_page(client: TestClient, bobs_task: int) -> None:
    response = client.get(f"/tasks/{bobs_task}")

    assert response.status_code == 404
    assert "Task not found" in response.text
    assert "<!doctype html>" in response.text


@pytest.mark.parametrize(("method", "url", "way"), WRITES)
def test_another_users_task_cannot_be_changed_or_deleted(
    client: TestClient,
    bob: Account,
    bobs_task: int,
    method: str,
    url: str,
    way: str,
) -> None:
    body = {"done": True} if method == "PATCH" else BODIES.get(url, {})
    before = stored(client, bob)
    token = csrf(client)
    target = url.format(id=bobs_task)
    if way == "json" or method in ("PATCH", "DELETE"):
        response = client.request(
            method, target, json=body, headers={**JSON, "X-CSRF-Token": token}
        )
    elif way == "enhanced":
        response = client.request(
            method,
            target,
            data={k: str(v) for k, v in body.items()},
            headers={**HX, "X-CSRF-Token": token},
        )
    else:
        response = client.request(
            method, target, data={**{k: str(v) for k, v in body.items()}, "csrf_token": token}
        )

    assert response.status_code == 404
    assert "Bob's secret" not in response.text
    assert stored(client, bob) == before


def test_the_list_shows_only_ones_own_tasks(
    client: TestClient, alice: Account, bob: Account
) -> None:
    make_tasks(client, bob, ["Bob's secret"])
    make_tasks(client, alice, ["Alice's own"])
    log_in(client, alice)

    page = client.get("/tasks?q=secret")
    listing = client.get("/tasks", headers=JSON).json()

    assert "Bob's secret" not in page.text
    assert "No matching tasks" in page.text
    assert [t["title"] for t in listing["items"]] == ["Alice's own"]
    assert listing["total"] == 1


def test_anonymous_visitors_are_asked_to_log_in(client: TestClient) -> None:
    page = client.get("/tasks", follow_redirects=False)
    api = client.get("/tasks", headers=JSON)

    assert page.status_code in (303, 401)
    assert api.status_code == 401
    assert api.headers["content-type"].startswith("application/problem+json")
