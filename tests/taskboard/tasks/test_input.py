"""Bad input on every task form and JSON endpoint: a clear message, input kept, nothing stored."""

from __future__ import annotations

from datetime import date

import pytest
from starlette.testclient import TestClient

from tests.taskboard.conftest import Account, log_in
from tests.taskboard.tasks.support import HX, JSON, csrf, make_tasks, stored
from tiered.testing import split_fragment

BAD_FORMS = [
    ({"title": "   "}, "title", "Enter the title."),
    ({"title": "x" * 201}, "title", "The title must be at most 200 characters."),
    (
        {"title": "Ok", "notes": "n" * 10_001},
        "notes",
        "The notes must be at most 10000 characters.",
    ),
    (
        {"title": "Ok", "due_on": "31/12/2026"},
        "due_on",
        "Enter the due date as a date like 2026-12-31 (year-month-day).",
    ),
    ({"title": "Ok", "due_on": "2026-02-30"}, "due_on", "Enter the due date as a date like"),
]


@pytest.fixture
def logged_in(client: TestClient, alice: Account) -> Account:
    log_in(client, alice)
    return alice


@pytest.mark.parametrize(("body", "field", "message"), BAD_FORMS)
def test_a_bad_new_task_is_shown_again_with_its_input(
    client: TestClient, logged_in: Account, body: dict[str, str], field: str, message: str
) -> None:
    form = {"title": "", "notes": "kept notes", "due_on": "", **body}

    page = client.post("/tasks", data={**form, "csrf_token": csrf(client)})
    fragment = client.post("/tasks", data=form, headers={**HX, "X-CSRF-Token": csrf(client)})

    for response in (page, fragment):
        assert response.status_code == 422
        assert f'<a href="#field-{field}">{message}' in response.text
        assert f'id="field-{field}-error"' in response.text
        assert 'aria-invalid="true"' in response.text
        if field != "notes":
            assert "kept notes</textarea>" in response.text
    assert page.text.startswith("<!doctype html>")
    assert "<title>Error: Your tasks \N{EN DASH} Taskboard</title>" in page.text
    assert split_fragment(fragment.text)[1].startswith('<div id="board">')
    assert "data-autofocus" not in fragment.text.split('<div id="results">')[0]
    if field == "due_on":
        # A text box, so the browser keeps what was typed (a date input would drop it).
        assert (
            f'<input id="field-due_on" name="due_on" type="text" value="{body["due_on"]}"'
        ) in page.text
    assert stored(client, logged_in) == []


@pytest.mark.parametrize(("body", "field", "message"), BAD_FORMS)
def test_a_bad_new_task_in_json_is_a_problem_naming_the_field(
    client: TestClient, logged_in: Account, body: dict[str, str], field: str, message: str
) -> None:
    response = client.post("/tasks", json=body, headers={**JSON, "X-CSRF-Token": csrf(client)})

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    (error,) = response.json()["errors"]
    assert error["pointer"] == f"/{field}"
    assert error["detail"].startswith(message)
    assert stored(client, logged_in) == []


def test_a_bad_edit_keeps_the_input_and_the_stored_task(
    client: TestClient, logged_in: Account
) -> None:
    (task_id,) = make_tasks(client, logged_in, ["Original"], notes="stored notes")
    form = {"title": "", "notes": "typed notes", "due_on": "soon"}

    page = client.post(f"/tasks/{task_id}", data={**form, "csrf_token": csrf(client)})
    fragment = client.post(
        f"/tasks/{task_id}", data=form, headers={**HX, "X-CSRF-Token": csrf(client)}
    )

    for response in (page, fragment):
        assert response.status_code == 422
        assert '<a href="#field-title">Enter the title.</a>' in response.text
        assert "Enter the due date as a date like 2026-12-31" in response.text
        assert "typed notes</textarea>" in response.text
        assert 'value="soon"' in response.text
        assert '<h1 id="task-title" tabindex="-1">Original</h1>' in response.text
    assert split_fragment(fragment.text)[1].startswith('<article id="task"')
    assert stored(client, logged_in)[0]["title"] == "Original"
    assert stored(client, logged_in)[0]["notes"] == "stored notes"


@pytest.mark.parametrize(
    ("url", "method"), [("/tasks", "POST"), ("/tasks/{id}", "POST"), ("/tasks/{id}", "PATCH")]
)
def test_unknown_json_fields_are_refused_by_name(
    client: TestClient, logged_in: Account, url: str, method: str
) -> None:
    (task_id,) = make_tasks(client, logged_in, ["Original"])

    response = client.request(
        method,
        url.format(id=task_id),
        json={"title": "New", "priority": "high"},
        headers={**JSON, "X-CSRF-Token": csrf(client)},
    )

    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["pointer"] == "/priority"
    assert error["detail"] == "Remove priority: it is not a field of this form."
    assert [t["title"] for t in stored(client, logged_in)] == ["Original"]


@pytest.mark.parametrize(("url", "method"), [("/tasks", "POST"), ("/tasks/{id}", "PATCH")])
def test_malformed_json_is_a_clear_problem(
    client: TestClient, logged_in: Account, url: str, method: str
) -> None:
    (task_id,) = make_tasks(client, logged_in, ["Original"])
    headers = {**JSON, "Content-Type": "application/json", "X-CSRF-Token": csrf(client)}

    broken = client.request(method, url.format(id=task_id), content=b'{"title": ', headers=headers)
    array = client.request(method, url.format(id=task_id), content=b'["title"]', headers=headers)

    assert broken.status_code == 400
    assert broken.headers["content-type"].startswith("application/problem+json")
    assert "not valid JSON" in broken.json()["detail"]
    assert array.status_code == 400
    assert "send a JSON object" in array.json()["detail"]
    assert [t["title"] for t in stored(client, logged_in)] == ["Original"]


@pytest.mark.parametrize(("url", "method"), [("/tasks", "POST"), ("/tasks/{id}", "PATCH")])
def test_a_wrong_content_type_is_415(
    client: TestClient, logged_in: Account, url: str, method: str
) -> None:
    (task_id,) = make_tasks(client, logged_in, ["Original"])

    response = client.request(
        method,
        url.format(id=task_id),
        content=b"title=New",
        headers={**JSON, "Content-Type": "text/plain", "X-CSRF-Token": csrf(client)},
    )

    assert response.status_code == 415
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "application/json" in response.json()["detail"]
    assert [t["title"] for t in stored(client, logged_in)] == ["Original"]


@pytest.mark.parametrize(
    ("body", "pointer", "message"),
    [
        ({"title": None}, "/title", "Enter the title: a task cannot be without one."),
        ({"title": ""}, "/title", "Enter the title."),
        ({"done": None}, "/done", "Send done as true or false."),
        ({"done": "yes"}, "/done", "Done:"),
        ({"due_on": 20261231}, "/due_on", "Enter the due date as a date like 2026-12-31"),
        ({"notes": "n" * 10_001}, "/notes", "The notes must be at most 10000 characters."),
    ],
)
def test_a_bad_patch_changes_nothing(
    client: TestClient, logged_in: Account, body: dict[str, object], pointer: str, message: str
) -> None:
    (task_id,) = make_tasks(client, logged_in, ["Original"], due_on=date(2026, 1, 1))

    response = client.patch(
        f"/tasks/{task_id}", json=body, headers={**JSON, "X-CSRF-Token": csrf(client)}
    )

    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["pointer"] == pointer
    assert error["detail"].startswith(message)
    (task,) = stored(client, logged_in)
    assert (task["title"], task["done"], task["due_on"]) == ("Original", False, date(2026, 1, 1))


def test_a_form_without_its_csrf_token_changes_nothing(
    client: TestClient, logged_in: Account
) -> None:
    (task_id,) = make_tasks(client, logged_in, ["Original"])

    toggle = client.post(f"/tasks/{task_id}/toggle", headers=JSON)
    missing = client.post("/tasks", data={"title": "Sneaky"})
    stale = client.post("/tasks", data={"title": "Typed", "csrf_token": "not-a-token"})

    assert toggle.status_code == 403
    assert toggle.json()["code"] == "csrf-failed"
    assert missing.status_code == 403
    assert "This form could not be checked" in missing.text
    assert stale.status_code == 403
    assert 'value="Typed"' in stale.text  # the form is shown again with the input kept
    assert [(t["title"], t["done"]) for t in stored(client, logged_in)] == [("Original", False)]


@pytest.mark.parametrize(
    "query", ["status=closed", "sort=priority", "page=0", "page=abc", "q=" + "x" * 201]
)
def test_a_bad_list_address_is_a_400_that_says_what_is_wrong(
    client: TestClient, logged_in: Account, query: str
) -> None:
    response = client.get(f"/tasks?{query}", headers=JSON)

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    assert query.split("=")[0] in response.json()["detail"]
