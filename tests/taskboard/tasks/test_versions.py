"""Tasks carry a version: JSON has an ETag and honours If-Match; a stale edit form is caught."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from taskboard.db import Database
from taskboard.tasks import service
from tests.taskboard.conftest import Account, log_in
from tests.taskboard.tasks.support import HX, JSON, csrf, make_tasks, stored
from tiered import EntityTags
from tiered.testing import hidden_fields, split_fragment


@pytest.fixture
def logged_in(client: TestClient, alice: Account) -> Account:
    log_in(client, alice)
    return alice


def _json_headers(client: TestClient, **extra: str) -> dict[str, str]:
    return {**JSON, "X-CSRF-Token": csrf(client), **extra}


def _rename(client: TestClient, task_id: int, title: str) -> None:
    """Someone else's change (another tab, another device): a PATCH without a precondition."""
    response = client.patch(
        f"/tasks/{task_id}", json={"title": title}, headers=_json_headers(client)
    )
    assert response.status_code == 200, response.text


def test_a_tasks_json_has_an_etag_that_a_conditional_get_revalidates(
    client: TestClient, logged_in: Account
) -> None:
    (task_id,) = make_tasks(client, logged_in, ["Tag me"])

    first = client.get(f"/tasks/{task_id}", headers=JSON)
    assert first.headers["etag"] == '"1"'
    assert first.json()["version"] == 1

    unchanged = client.get(f"/tasks/{task_id}", headers={**JSON, "If-None-Match": '"1"'})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == '"1"'
    assert "Accept" in unchanged.headers["vary"]

    _rename(client, task_id, "Tagged")
    changed = client.get(f"/tasks/{task_id}", headers={**JSON, "If-None-Match": '"1"'})
    assert changed.status_code == 200
    assert changed.headers["etag"] == '"2"'
    assert changed.json()["title"] == "Tagged"


def test_a_patch_from_a_stale_copy_is_refused_with_the_current_task(
    client: TestClient, logged_in: Account
) -> None:
    (task_id,) = make_tasks(client, logged_in, ["Original"])
    _rename(client, task_id, "Theirs")  # now version 2

    response = client.patch(
        f"/tasks/{task_id}",
        json={"title": "Mine"},
        headers=_json_headers(client, **{"If-Match": '"1"'}),
    )

    assert response.status_code == 412
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["etag"] == '"2"'
    problem = response.json()
    assert problem["code"] == "task-changed"
    assert problem["current"]["title"] == "Theirs"
    assert problem["current"]["version"] == 2
    assert [task["title"] for task in stored(client, logged_in)] == ["Theirs"]

    merged = client.patch(
        f"/tasks/{task_id}",
        json={"title": "Mine"},
        headers=_json_headers(client, **{"If-Match": response.headers["etag"]}),
    )
    assert merged.status_code == 200
    assert merged.headers["etag"] == '"3"'
    assert [task["title"] for task in stored(client, logged_in)] == ["Mine"]


@pytest.mark.parametrize("if_match", ["*", 'W/"1"', '"7", "1"'])
def test_if_match_accepts_any_tag_list_that_names_the_current_version(
    client: TestClient, logged_in: Account, if_match: str
) -> None:
    (task_id,) = make_tasks(client, logged_in, ["Match"])
    response = client.patch(
        f"/tasks/{task_id}",
        json={"done": True},
        headers=_json_headers(client, **{"If-Match": if_match}),
    )
    assert response.status_code == 200, response.text
    assert stored(client, logged_in)[0]["done"] is True


def test_an_if_match_that_is_not_an_entity_tag_matches_nothing(
    client: TestClient, logged_in: Account
) -> None:
    (task_id,) = make_tasks(client, logged_in, ["Strict"])
    response = client.patch(
        f"/tasks/{task_id}", json={"title": "x"}, headers=_json_headers(client, **{"If-Match": "1"})
    )
    assert response.status_code == 412
    assert stored(client, logged_in)[0]["title"] == "Strict"


def test_put_and_delete_honour_if_match(client: TestClient, logged_in: Account) -> None:
    (task_id,) = make_tasks(client, logged_in, ["Replace me"])

    put = client.put(
        f"/tasks/{task_id}",
        json={"title": "Replaced", "notes": "all fields"},
        headers=_json_headers(client, **{"If-Match": '"1"'}),
    )
    assert put.status_code == 200, put.text
    assert put.headers["etag"] == '"2"'

    stale = client.delete(f"/tasks/{task_id}", headers=_json_headers(client, **{"If-Match": '"1"'}))
    assert stale.status_code == 412
    assert stale.json()["current"]["title"] == "Replaced"
    assert len(stored(client, logged_in)) == 1

    fresh = client.delete(f"/tasks/{task_id}", headers=_json_headers(client, **{"If-Match": '"2"'}))
    assert fresh.status_code == 204
    assert stored(client, logged_in) == []


def _edit_page_version(html: str) -> str:
    found = re.search(r'<input type="hidden" name="version" value="(\d+)">', html)
    assert found is not None, html
    return found.group(1)


def test_a_stale_edit_form_shows_both_versions_and_saves_nothing_until_chosen(
    client: TestClient, logged_in: Account
) -> None:
    (task_id,) = make_tasks(client, logged_in, ["Original"], notes="old notes")
    page = client.get(f"/tasks/{task_id}")
    version = _edit_page_version(page.text)
    assert version == "1"
    _rename(client, task_id, "Their title")

    response = client.post(
        f"/tasks/{task_id}",
        data={
            "title": "My title",
            "notes": "my notes",
            "due_on": "",
            "version": version,
            "csrf_token": csrf(client, f"/tasks/{task_id}"),
        },
        follow_redirects=False,
    )

    assert response.status_code == 422
    assert [task["title"] for task in stored(client, logged_in)] == ["Their title"]
    html = response.text
    assert "Someone changed this task while you were editing it" in html
    assert '<tr><th scope="row">Title</th><td>Their title</td><td>My title</td></tr>' in html
    assert 'value="My title"' in html  # the person's input, kept in the form
    assert ">my notes</textarea>" in html or "my notes</textarea>" in html
    assert _edit_page_version(html) == "2"  # saving now means: mine over theirs
    assert "Save my version" in html
    assert f'<a href="/tasks/{task_id}">discard your changes</a>' in html

    saved = client.post(
        f"/tasks/{task_id}",
        data={
            "title": "My title",
            "notes": "my notes",
            "due_on": "",
            "version": _edit_page_version(html),
            "csrf_token": csrf(client, f"/tasks/{task_id}"),
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert [task["title"] for task in stored(client, logged_in)] == ["My title"]


def test_a_stale_edit_is_caught_in_place_for_an_enhanced_request(
    client: TestClient, logged_in: Account
) -> None:
    (task_id,) = make_tasks(client, logged_in, ["Original"])
    _rename(client, task_id, "Their title")

    response = client.post(
        f"/tasks/{task_id}",
        data={"title": "My title", "notes": "", "due_on": "", "version": "1"},
        headers={**HX, "X-CSRF-Token": csrf(client)},
    )

    assert response.status_code == 422
    assert split_fragment(response.text)[1].startswith('<article id="task"')
    assert "<td>Their title</td><td>My title</td>" in response.text
    assert [task["title"] for task in stored(client, logged_in)] == ["Their title"]


def test_a_validation_error_keeps_the_version_the_form_was_made_from(
    client: TestClient, logged_in: Account
) -> None:
    """Re-showing a form for an empty title must not quietly move it to a newer version."""
    (task_id,) = make_tasks(client, logged_in, ["Original"])
    _rename(client, task_id, "Their title")

    response = client.post(
        f"/tasks/{task_id}",
        data={"title": "", "version": "1", "csrf_token": csrf(client)},
        follow_redirects=False,
    )

    assert response.status_code == 422
    assert _edit_page_version(response.text) == "1"
    assert "Someone changed this task" not in response.text


def test_the_toggle_button_sets_the_state_it_shows(client: TestClient, logged_in: Account) -> None:
    """Two people pressing "Mark done" on the same task leave it done, not done twice over."""
    (task_id,) = make_tasks(client, logged_in, ["Shared"])
    page = client.get("/tasks")
    assert '<input type="hidden" name="done" value="true">' in page.text

    for _ in range(2):
        response = client.post(
            f"/tasks/{task_id}/toggle",
            data={"done": "true", "csrf_token": csrf(client)},
            follow_redirects=False,
        )
        assert response.status_code == 303
    assert stored(client, logged_in)[0]["done"] is True

    flipped = client.post(f"/tasks/{task_id}/toggle", headers=_json_headers(client))
    assert flipped.status_code == 200
    assert flipped.json()["done"] is False
    assert flipped.headers["etag"] == '"3"'  # one change by the two presses, one by the flip


def test_a_write_that_loses_a_race_is_retried_without_a_precondition_and_refused_with_one(
    client: TestClient, logged_in: Account
) -> None:
    """Two writers read version 1; the second's UPDATE finds version 2 (SQLAlchemy's version
    column): without If-Match it is applied to the fresh row, with If-Match it is refused."""
    (task_id,) = make_tasks(client, logged_in, ["Race"])
    database: Database = client.app.state.database  # type: ignore[attr-defined]
    owner = logged_in.user.id

    async def race(expected: EntityTags | None) -> str:
        async with database.sessionmaker() as first, database.sessionmaker() as second:
            await service.get_task(second, owner, task_id)  # second reads version n and keeps it
            changes = service.Changes(title="First", fields=frozenset({"title"}))
            await service.update_task(first, owner, task_id, changes)  # first writes n + 1
            try:
                changed = service.Changes(notes="Second", fields=frozenset({"notes"}))
                await service.update_task(second, owner, task_id, changed, expected=expected)
            except service.TaskChanged as exc:
                return f"refused at version {exc.task.version}"
            return "applied"

    assert client.portal is not None
    assert client.portal.call(race, None) == "applied"
    (task,) = stored(client, logged_in)
    assert (task["title"], task["notes"]) == ("First", "Second")
    assert client.portal.call(race, EntityTags(any=False, tags=("3",))) == "refused at version 4"


def test_a_delete_confirmed_on_a_stale_page_deletes_nothing_and_asks_again(
    client: TestClient, logged_in: Account
) -> None:
    (task_id,) = make_tasks(client, logged_in, ["Old name"])
    page = client.get(f"/tasks/{task_id}/delete?status=open")
    action = f"/tasks/{task_id}/delete"
    fields = hidden_fields(page.text, action=action)
    assert fields["version"] == "1"
    _rename(client, task_id, "New name")  # changed in another tab meanwhile

    refused = client.post(
        f"/tasks/{task_id}/delete?status=open", data=fields, follow_redirects=False
    )
    assert refused.status_code == 303
    assert refused.headers["location"] == f"/tasks/{task_id}/delete?status=open"
    assert [t["title"] for t in stored(client, logged_in)] == ["New name"]  # nothing deleted
    again = client.get(refused.headers["location"])
    assert "This task changed since you opened this page, and nothing was deleted." in again.text
    assert "“New name” will be deleted" in again.text

    deleted = client.post(
        f"/tasks/{task_id}/delete?status=open", data=hidden_fields(again.text, action=action)
    )
    assert deleted.status_code == 200
    assert stored(client, logged_in) == []
