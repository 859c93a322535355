"""Every task journey three ways (plain form, enhanced request, JSON), same stored result."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

import pytest
from httpx2 import Response
from starlette.testclient import TestClient

from tests.taskboard.conftest import Account, log_in
from tests.taskboard.tasks.support import HX, JSON, csrf, make_tasks, stored
from tiered.testing import split_fragment

Way = Literal["form", "enhanced", "json"]
WAYS: tuple[Way, ...] = ("form", "enhanced", "json")


def send(client: TestClient, way: Way, url: str, data: dict[str, Any] | None = None) -> Response:
    """POST ``data`` to ``url`` as a browser without script, htmx, or an API client would."""
    token = csrf(client)
    if way == "form":
        return client.post(url, data={**(data or {}), "csrf_token": token}, follow_redirects=False)
    if way == "enhanced":
        return client.post(url, data=data or {}, headers={**HX, "X-CSRF-Token": token})
    return client.post(url, json=data or {}, headers={**JSON, "X-CSRF-Token": token})


@pytest.fixture
def logged_in(client: TestClient, alice: Account) -> Account:
    log_in(client, alice)
    return alice


@pytest.mark.parametrize("way", WAYS)
def test_creating_a_task_stores_it_and_says_so(
    client: TestClient, logged_in: Account, way: Way
) -> None:
    form = {"title": "  Buy milk ", "notes": "Two litres", "due_on": "2026-12-31"}
    json_body: dict[str, Any] = {"title": "  Buy milk ", "notes": "Two litres"}
    json_body["due_on"] = "2026-12-31"

    response = send(client, way, "/tasks", json_body if way == "json" else form)

    (task,) = stored(client, logged_in)
    assert task["title"] == "Buy milk"
    assert task["notes"] == "Two litres"
    assert task["due_on"] == date(2026, 12, 31)
    assert task["done"] is False
    if way == "form":
        # Back on the list it was added from, with the new task in it.
        assert response.status_code == 303
        assert response.headers["location"] == "/tasks"
        page = client.get(response.headers["location"])
        assert "Added the task “Buy milk”." in page.text
        assert f'data-task-id="{task["id"]}"' in page.text
    elif way == "enhanced":
        assert response.status_code == 200
        assert "<html" not in response.text
        assert split_fragment(response.text)[1].startswith('<div id="board">')
        assert f'data-task-id="{task["id"]}"' in response.text
        # The form is empty again and has the focus, ready for the next task.
        assert (
            '<input id="field-title" name="title" type="text" value="" required '
            'maxlength="200" data-autofocus="">'
        ) in response.text
        assert (
            'data-hx-swap-oob="innerHTML"><p class="flash-success">Added the task “Buy milk”.'
            in (response.text)
        )
    else:
        assert response.status_code == 201
        assert response.headers["location"] == f"/tasks/{task['id']}"
        body = response.json()
        assert body["id"] == task["id"]
        assert body["title"] == "Buy milk"
        assert body["due_on"] == "2026-12-31"
        assert body["done"] is False
        assert body["created_at"].endswith("Z") or body["created_at"].endswith("+00:00")
        assert set(body) == {
            "id", "title", "notes", "done", "due_on", "created_at", "updated_at", "version"
        }  # fmt: skip


@pytest.mark.parametrize("way", WAYS)
def test_searching_finds_tasks_by_title_or_notes(
    client: TestClient, logged_in: Account, way: Way
) -> None:
    make_tasks(client, logged_in, ["Buy milk", "Walk the dog"])
    make_tasks(client, logged_in, ["Shopping"], notes="eggs and MILK")

    headers = {"form": {}, "enhanced": HX, "json": JSON}[way]
    response = client.get("/tasks", params={"q": "Milk"}, headers=headers)

    assert response.status_code == 200
    if way == "json":
        assert [t["title"] for t in response.json()["items"]] == ["Shopping", "Buy milk"]
        assert response.json()["total"] == 2
        return
    assert "Buy milk" in response.text
    assert "Shopping" in response.text
    assert "Walk the dog" not in response.text
    assert "2 tasks matching “Milk”" in response.text
    if way == "enhanced":
        title, results = split_fragment(response.text)
        assert title == "Tasks matching “Milk” \N{EN DASH} Taskboard"
        assert results.startswith('<div id="results">')
        assert "<html" not in response.text
    else:
        assert response.text.startswith("<!doctype html>")
        assert "<title>Tasks matching “Milk” \N{EN DASH} Taskboard</title>" in response.text
        assert 'value="Milk"' in response.text  # the search box keeps the words


@pytest.mark.parametrize("way", WAYS)
def test_filtering_by_status(client: TestClient, logged_in: Account, way: Way) -> None:
    make_tasks(client, logged_in, ["Open one"])
    make_tasks(client, logged_in, ["Finished one"], done=True)
    headers = {"form": {}, "enhanced": HX, "json": JSON}[way]

    done = client.get("/tasks?status=done", headers=headers)
    open_ = client.get("/tasks?status=open", headers=headers)
    every = client.get("/tasks", headers=headers)

    if way == "json":
        assert [t["title"] for t in done.json()["items"]] == ["Finished one"]
        assert [t["title"] for t in open_.json()["items"]] == ["Open one"]
        assert every.json()["total"] == 2
        assert every.json()["status"] == "all"
        return
    assert "Finished one" in done.text
    assert "Open one" not in done.text
    assert "Open one" in open_.text
    assert "Finished one" not in open_.text
    assert "Open one" in every.text
    assert "Finished one" in every.text


@pytest.mark.parametrize("way", WAYS)
def test_editing_a_task_replaces_its_fields(
    client: TestClient, logged_in: Account, way: Way
) -> None:
    (task_id,) = make_tasks(client, logged_in, ["Old"], notes="old notes", due_on=date(2026, 1, 1))

    response = send(
        client,
        way,
        f"/tasks/{task_id}",
        {"title": "New title", "notes": "new\r\nnotes", "due_on": ""},
    )

    (task,) = stored(client, logged_in)
    assert task["title"] == "New title"
    assert task["notes"] == "new\nnotes"
    assert task["due_on"] is None
    if way == "form":
        assert response.status_code == 303
        assert response.headers["location"] == f"/tasks/{task_id}"
        page = client.get(f"/tasks/{task_id}")
        assert "Saved your changes to “New title”." in page.text
    elif way == "enhanced":
        assert response.status_code == 200
        assert split_fragment(response.text)[1].startswith('<article id="task"')
        assert '<h1 id="task-title" tabindex="-1" data-autofocus>New title</h1>' in response.text
        assert 'value="New title"' in response.text
        assert "Saved your changes to “New title”." in response.text
        assert 'data-hx-swap-oob="innerHTML"' in response.text
    else:
        assert response.status_code == 200
        assert response.json()["title"] == "New title"
        assert response.json()["due_on"] is None


def test_patch_changes_only_the_fields_sent(client: TestClient, logged_in: Account) -> None:
    (task_id,) = make_tasks(
        client, logged_in, ["Keep"], notes="keep these", due_on=date(2026, 5, 1)
    )
    token = csrf(client)

    response = client.patch(
        f"/tasks/{task_id}", json={"done": True}, headers={**JSON, "X-CSRF-Token": token}
    )
    cleared = client.patch(
        f"/tasks/{task_id}", json={"due_on": None}, headers={**JSON, "X-CSRF-Token": token}
    )

    assert response.status_code == 200
    assert response.json()["done"] is True
    assert cleared.json()["due_on"] is None
    (task,) = stored(client, logged_in)
    assert task == {**task, "title": "Keep", "notes": "keep these", "done": True, "due_on": None}


@pytest.mark.parametrize("way", WAYS)
def test_toggling_flips_done_and_keeps_the_list_as_it_was(
    client: TestClient, logged_in: Account, way: Way
) -> None:
    (task_id,) = make_tasks(client, logged_in, ["Water plants"], notes="on the balcony")

    response = send(client, way, f"/tasks/{task_id}/toggle?q=plants&sort=title")

    assert stored(client, logged_in)[0]["done"] is True
    if way == "form":
        assert response.status_code == 303
        assert response.headers["location"] == "/tasks?q=plants&sort=title"
        page = client.get(response.headers["location"])
        assert "Marked “Water plants” as done." in page.text
        assert "Mark not done" in page.text
    elif way == "enhanced":
        assert response.status_code == 200
        assert split_fragment(response.text)[1].startswith('<div id="results">')
        assert "1 task matching “plants”" in response.text
        # Focus stays on the same control, whose label now says what it will do next.
        assert '<button type="submit" data-autofocus>Mark not done' in response.text
        assert "Marked “Water plants” as done." in response.text
        # Actions in the new fragment keep the list's state.
        assert f'action="/tasks/{task_id}/toggle?q=plants&amp;sort=title"' in response.text
    else:
        assert response.status_code == 200
        assert response.json()["done"] is True

    send(client, way, f"/tasks/{task_id}/toggle")
    assert stored(client, logged_in)[0]["done"] is False


def test_toggling_from_the_task_page_returns_there(client: TestClient, logged_in: Account) -> None:
    (task_id,) = make_tasks(client, logged_in, ["Call mum"])

    response = send(client, "form", f"/tasks/{task_id}/toggle?back=task")

    assert response.headers["location"] == f"/tasks/{task_id}"


def test_a_toggled_task_that_leaves_the_filter_moves_focus_to_the_heading(
    client: TestClient, logged_in: Account
) -> None:
    (task_id,) = make_tasks(client, logged_in, ["Only open"])

    response = send(client, "enhanced", f"/tasks/{task_id}/toggle?status=open")

    assert '<h2 id="results-title" tabindex="-1" data-autofocus>No matching tasks</h2>' in (
        response.text
    )


@pytest.mark.parametrize("way", WAYS)
def test_deleting_a_task_removes_it(client: TestClient, logged_in: Account, way: Way) -> None:
    keep, gone = make_tasks(client, logged_in, ["Keep me", "Delete me"])

    response = send(client, way, f"/tasks/{gone}/delete?status=open")

    assert [t["id"] for t in stored(client, logged_in)] == [keep]
    if way == "form":
        assert response.status_code == 303
        assert response.headers["location"] == "/tasks?status=open"
        assert "Deleted the task “Delete me”." in client.get("/tasks").text
    elif way == "enhanced":
        assert response.status_code == 200
        assert split_fragment(response.text)[1].startswith('<div id="results">')
        assert f'data-task-id="{gone}"' not in response.text
        assert f'data-task-id="{keep}"' in response.text
        assert '<h2 id="results-title" tabindex="-1" data-autofocus>1 task (open)</h2>' in (
            response.text
        )
        assert "Deleted the task “Delete me”." in response.text
    else:
        assert response.status_code == 204
        assert response.content == b""


def test_delete_verb_removes_the_task(client: TestClient, logged_in: Account) -> None:
    (task_id,) = make_tasks(client, logged_in, ["Gone soon"])

    response = client.delete(f"/tasks/{task_id}", headers={**JSON, "X-CSRF-Token": csrf(client)})

    assert response.status_code == 204
    assert stored(client, logged_in) == []


def test_without_script_delete_asks_first_on_its_own_page(
    client: TestClient, logged_in: Account
) -> None:
    (task_id,) = make_tasks(client, logged_in, ["Precious"])
    listing = client.get("/tasks?q=prec", headers={"User-Agent": "Lynx/2.9.0 libwww-FM/2.14"})
    # The core tier's Delete is a plain GET form that carries the list's state.
    assert f'<form method="get" action="/tasks/{task_id}/delete" class="task-delete">' in (
        listing.text
    )
    assert '<input type="hidden" name="q" value="prec">' in listing.text

    page = client.get(f"/tasks/{task_id}/delete?q=prec")

    assert page.status_code == 200
    assert "<h1>Delete this task?</h1>" in page.text
    assert "“Precious” will be deleted" in page.text
    assert f'<form method="post" action="/tasks/{task_id}/delete?q=prec">' in page.text
    assert '<a href="/tasks?q=prec">Cancel: keep the task</a>' in page.text
    assert stored(client, logged_in) != []  # asking deleted nothing


def test_with_script_delete_asks_with_a_plain_confirm_message(
    client: TestClient, logged_in: Account
) -> None:
    (task_id,) = make_tasks(client, logged_in, ["js:alert(1)"])

    page = client.get("/tasks")

    # A message that never starts with "js:", so htmx shows it and never evaluates it.
    assert (
        f'data-hx-post="/tasks/{task_id}/delete" data-hx-confirm="Delete the task “js:alert(1)”? '
        'This cannot be undone."'
    ) in page.text


def test_submitting_the_same_form_twice_creates_one_task(
    client: TestClient, logged_in: Account
) -> None:
    page = client.get("/tasks").text
    key = page.split('name="idempotency_key" value="', 1)[1].split('"', 1)[0]
    form = {"title": "Only once", "csrf_token": csrf(client), "idempotency_key": key}

    first = client.post("/tasks", data=form, follow_redirects=False)
    again = client.post("/tasks", data=form, follow_redirects=False)

    assert first.status_code == again.status_code == 303
    assert again.headers["location"] == first.headers["location"]
    assert [t["title"] for t in stored(client, logged_in)] == ["Only once"]
