"""The list: pages of 20 with links that keep the search, search escaping, empty states, tiers."""

from __future__ import annotations

import re
from datetime import date

import pytest
from starlette.testclient import TestClient

from tests.taskboard.conftest import Account, log_in
from tests.taskboard.tasks.support import HX, JSON, csrf, make_tasks
from tiered.testing import CHROME_USER_AGENT, split_fragment

LYNX = {"User-Agent": "Lynx/2.9.0 libwww-FM/2.14 SSL-MM/1.4.1 OpenSSL/3.0.2"}
CHROME = {"User-Agent": CHROME_USER_AGENT}
SAVE_DATA = {**CHROME, "Save-Data": "on"}


@pytest.fixture
def logged_in(client: TestClient, alice: Account) -> Account:
    log_in(client, alice)
    return alice


def ids_on(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-task-id="(\d+)"', html)]


def test_pages_hold_20_tasks_with_links_both_ways(client: TestClient, logged_in: Account) -> None:
    ids = make_tasks(client, logged_in, [f"Task {n}" for n in range(45)])
    newest_first = ids[::-1]

    first = client.get("/tasks")
    second = client.get("/tasks?page=2")
    last = client.get("/tasks?page=3")

    assert ids_on(first.text) == newest_first[:20]
    assert ids_on(second.text) == newest_first[20:40]
    assert ids_on(last.text) == newest_first[40:]
    assert '<a href="/tasks?page=2" rel="next">Next page</a>' in first.text
    assert 'rel="prev"' not in first.text
    assert '<a href="/tasks" rel="prev">Previous page</a>' in second.text
    assert '<a href="/tasks?page=3" rel="next">Next page</a>' in second.text
    assert 'rel="next"' not in last.text
    assert "Page 2 of 3" in second.text
    assert "45 tasks, page 2 of 3" in second.text


def test_page_links_keep_the_search_filter_and_order(
    client: TestClient, logged_in: Account
) -> None:
    make_tasks(client, logged_in, [f"Milk {n}" for n in range(25)])
    make_tasks(client, logged_in, ["Bread"])

    page = client.get("/tasks?q=milk&status=open&sort=title")

    assert '<a href="/tasks?q=milk&amp;status=open&amp;sort=title&amp;page=2" rel="next">' in (
        page.text
    )
    second = client.get("/tasks?q=milk&status=open&sort=title&page=2")
    assert '<a href="/tasks?q=milk&amp;status=open&amp;sort=title" rel="prev">' in second.text
    # Actions on page 2 bring the browser back to page 2 of the same search.
    assert "/toggle?q=milk&amp;status=open&amp;sort=title&amp;page=2" in second.text


def test_each_delete_form_brings_the_person_back_to_the_same_view_of_the_list(
    client: TestClient, logged_in: Account
) -> None:
    make_tasks(client, logged_in, [f"Milk {n}" for n in range(25)])

    page = client.get("/tasks?q=milk&status=open&sort=title&page=2")
    plain = client.get("/tasks")

    forms = re.findall(r'<form method="get" action="/tasks/\d+/delete".*?</form>', page.text, re.S)
    assert len(forms) == 5
    for form in forms:
        assert '<input type="hidden" name="q" value="milk">' in form
        assert '<input type="hidden" name="status" value="open">' in form
        assert '<input type="hidden" name="sort" value="title">' in form
        assert '<input type="hidden" name="page" value="2">' in form
    plain_forms = re.findall(
        r'<form method="get" action="/tasks/\d+/delete".*?</form>', plain.text, re.S
    )
    assert len(plain_forms) == 20
    assert not any('type="hidden"' in form for form in plain_forms)


def test_json_pages_link_to_the_next_and_previous(client: TestClient, logged_in: Account) -> None:
    make_tasks(client, logged_in, [f"Task {n}" for n in range(45)])

    first = client.get("/tasks?q=task", headers=JSON).json()
    second = client.get(first["next"], headers=JSON).json()
    third = client.get(second["next"], headers=JSON).json()

    assert (first["page"], first["total"], len(first["items"])) == (1, 45, 20)
    assert first["next"] == "/tasks?q=task&page=2"
    assert first["previous"] is None
    assert second["previous"] == "/tasks?q=task"
    assert len(third["items"]) == 5
    assert third["next"] is None
    seen = [t["id"] for t in first["items"] + second["items"] + third["items"]]
    assert len(set(seen)) == 45


def test_a_page_past_the_end_shows_the_last_page(client: TestClient, logged_in: Account) -> None:
    make_tasks(client, logged_in, [f"Task {n}" for n in range(21)])

    body = client.get("/tasks?page=9", headers=JSON).json()

    assert body["page"] == 2
    assert len(body["items"]) == 1
    assert body["previous"] == "/tasks"


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("-created", ["banana", "Apple", "cherry"]),
        ("created", ["cherry", "Apple", "banana"]),
        ("title", ["Apple", "banana", "cherry"]),
        ("-title", ["cherry", "banana", "Apple"]),
        ("due", ["Apple", "banana", "cherry"]),
        ("-due", ["banana", "Apple", "cherry"]),
    ],
)
def test_sorting(client: TestClient, logged_in: Account, sort: str, expected: list[str]) -> None:
    make_tasks(client, logged_in, ["cherry"])  # no due date: last either way
    make_tasks(client, logged_in, ["Apple"], due_on=date(2026, 3, 1))
    make_tasks(client, logged_in, ["banana"], due_on=date(2026, 4, 1))

    body = client.get(f"/tasks?sort={sort}", headers=JSON).json()

    assert [t["title"] for t in body["items"]] == expected


@pytest.mark.parametrize(
    ("q", "expected"),
    [("50%", ["50% off"]), ("a_b", ["a_b"]), ("\\", ["back\\slash"]), ("%", ["50% off"])],
)
def test_search_treats_wildcards_as_plain_text(
    client: TestClient, logged_in: Account, q: str, expected: list[str]
) -> None:
    make_tasks(client, logged_in, ["50% off", "500 offers", "a_b", "axb", "back\\slash"])

    body = client.get("/tasks", params={"q": q}, headers=JSON).json()

    assert [t["title"] for t in body["items"]] == expected


def test_search_is_case_insensitive_and_trimmed(client: TestClient, logged_in: Account) -> None:
    make_tasks(client, logged_in, ["Call the BANK"])

    body = client.get("/tasks", params={"q": "  bank "}, headers=JSON).json()

    assert body["total"] == 1
    assert body["q"] == "bank"


def test_no_tasks_yet_says_how_to_add_one(client: TestClient, logged_in: Account) -> None:
    page = client.get("/tasks")

    assert '<h2 id="results-title" tabindex="-1">No tasks yet</h2>' in page.text
    assert '<a href="#field-title">Add your first task</a>' in page.text
    assert "No tasks match" not in page.text


def test_no_matches_says_what_to_try(client: TestClient, logged_in: Account) -> None:
    make_tasks(client, logged_in, ["Something"])

    page = client.get("/tasks?q=nothing&status=done")

    assert "No matching tasks" in page.text
    assert "No tasks match “nothing” among your done tasks." in page.text
    assert '<a href="/tasks">show all your tasks</a>' in page.text
    assert "You have no tasks yet" not in page.text


def test_each_task_carries_its_id_and_links_to_its_page(
    client: TestClient, logged_in: Account
) -> None:
    (task_id,) = make_tasks(client, logged_in, ["Linked"], due_on=date(2026, 7, 4))

    page = client.get("/tasks")

    assert f'<li class="task" id="task-{task_id}" data-task-id="{task_id}"' in page.text
    assert f'<a class="task-title" href="/tasks/{task_id}">Linked</a>' in page.text
    assert '<time datetime="2026-07-04">2026-07-04</time>' in page.text


def test_a_search_without_htmx_headers_is_the_whole_page(
    client: TestClient, logged_in: Account
) -> None:
    """Back and Refresh after a live search ask for the pushed URL: they get the full page."""
    make_tasks(client, logged_in, ["Findable"])

    refresh = client.get("/tasks?q=find")
    restore = client.get(
        "/tasks?q=find",
        headers={"HX-History-Restore-Request": "true", "HX-Request-Type": "full", "Accept": "*/*"},
    )
    live = client.get("/tasks?q=find", headers=HX)

    for full in (refresh, restore):
        assert full.text.startswith("<!doctype html>")
        assert "<title>Tasks matching “find” \N{EN DASH} Taskboard</title>" in full.text
        assert 'id="search-q" name="q" type="search" value="find"' in full.text
        assert "Findable" in full.text
    assert split_fragment(live.text)[1].startswith('<div id="results">')
    assert "HX-Request" in live.headers["vary"]


def test_the_full_tier_searches_as_you_type(client: TestClient, logged_in: Account) -> None:
    page = client.get("/tasks", headers=CHROME)

    assert 'data-hx-trigger="input changed delay:300ms, search"' in page.text
    assert 'data-hx-replace-url="true"' in page.text
    assert 'data-hx-push-url="true"' in page.text  # an explicit search is a history entry
    assert 'data-hx-post="/tasks"' in page.text


def test_the_lite_tier_acts_in_place_but_does_not_search_as_you_type(
    client: TestClient, logged_in: Account
) -> None:
    make_tasks(client, logged_in, ["Light"])

    page = client.get("/tasks", headers=SAVE_DATA)

    assert "data-hx-trigger" not in page.text
    # Nothing is fetched ahead but the stylesheets every page uses (fetched once, not per page).
    prefetched = re.findall(r'<link rel="prefetch" href="([^"]+)"', page.text)
    assert prefetched
    assert all(href.endswith(".css") for href in prefetched)
    assert 'data-hx-post="/tasks"' in page.text
    assert 'data-hx-get="/tasks"' in page.text  # the search form still swaps the results
    assert "/toggle" in page.text
    assert 'data-hx-target="#results"' in page.text


def test_the_core_tier_has_plain_forms_and_no_htmx_at_all(
    client: TestClient, logged_in: Account
) -> None:
    make_tasks(client, logged_in, ["Plain"])

    page = client.get("/tasks", headers=LYNX)
    task_page = client.get(f"/tasks/{ids_on(page.text)[0]}", headers=LYNX)

    for html in (page.text, task_page.text):
        assert "data-hx-" not in html
        assert "<script" not in html
    assert '<form method="post" action="/tasks">' in page.text
    assert '<form method="get" action="/tasks" role="search"' in page.text


def test_the_task_page_shows_the_task_and_its_edit_form(
    client: TestClient, logged_in: Account
) -> None:
    (task_id,) = make_tasks(
        client, logged_in, ["Read <b>book</b>"], notes="line one\nline two", due_on=date(2026, 9, 1)
    )

    page = client.get(f"/tasks/{task_id}")
    api = client.get(f"/tasks/{task_id}", headers=JSON)

    assert "<title>Read &lt;b&gt;book&lt;/b&gt; \N{EN DASH} Taskboard</title>" in page.text
    assert 'value="Read &lt;b&gt;book&lt;/b&gt;"' in page.text
    assert ">\nline one\nline two</textarea>" in page.text
    assert 'value="2026-09-01"' in page.text
    assert f'action="/tasks/{task_id}/toggle?back=task"' in page.text
    assert f'href="/tasks/{task_id}/delete?back=task"' in page.text
    assert api.json()["title"] == "Read <b>book</b>"
    assert api.json()["due_on"] == "2026-09-01"


def test_openapi_describes_the_task_endpoints(client: TestClient) -> None:
    document = client.get("/openapi.json").json()

    paths = document["paths"]
    assert {"get", "post"} <= set(paths["/tasks"])
    assert {"get", "post", "patch", "delete"} <= set(paths["/tasks/{task_id}"])
    assert "post" in paths["/tasks/{task_id}/toggle"]
    parameters = {p["name"] for p in paths["/tasks"]["get"]["parameters"]}
    assert {"q", "status", "sort", "page"} <= parameters
    schemas = document["components"]["schemas"]
    # Template-only fields (the list's state for links, the select options) stay out of JSON.
    assert set(schemas["TaskList"]["properties"]) == {
        "items", "page", "total", "total_pages", "page_size", "next", "previous", "q", "status",
        "sort",
    }  # fmt: skip
    assert set(schemas["TaskOut"]["properties"]) == {
        "id", "title", "notes", "done", "due_on", "created_at", "updated_at", "version"
    }  # fmt: skip


def test_the_lite_tier_leaves_out_the_notes_previews_the_tasks_own_page_has(
    client: TestClient, logged_in: Account
) -> None:
    (task_id,) = make_tasks(client, logged_in, ["Plan the trip"], notes="Trains before ten")

    full = client.get("/tasks", headers=CHROME).text
    lite = client.get("/tasks", headers=SAVE_DATA).text
    core = client.get("/tasks", headers={"User-Agent": "Lynx/2.9.0 libwww-FM/2.14"}).text
    task = client.get(f"/tasks/{task_id}", headers=SAVE_DATA).text

    assert '<p class="task-notes">Trains before ten</p>' in full
    assert '<p class="task-notes">Trains before ten</p>' in core
    assert "Trains before ten" not in lite
    assert "Plan the trip" in lite
    assert "Trains before ten" in task


def test_a_row_shows_the_task_as_it_is_now_after_every_kind_of_change(
    client: TestClient, logged_in: Account
) -> None:
    """Rows are kept once rendered (tiered's cache tag, keyed by the task's version): an edit, a
    toggle and an edit through the API each show at once, in every tier and representation."""
    (task_id,) = make_tasks(client, logged_in, ["Buy milk"])
    for headers in ({}, HX, LYNX, SAVE_DATA):
        assert "Buy milk" in client.get("/tasks", headers=headers).text  # kept now

    token = csrf(client)
    edited = client.post(
        f"/tasks/{task_id}",
        data={"title": "Buy oat milk", "notes": "", "version": "1", "csrf_token": token},
        follow_redirects=False,
    )
    assert edited.status_code == 303, edited.text
    toggled = client.post(
        f"/tasks/{task_id}/toggle",
        data={"done": "true", "csrf_token": csrf(client)},
        follow_redirects=False,
    )
    assert toggled.status_code == 303, toggled.text

    for headers in ({}, HX, LYNX, SAVE_DATA):
        html = client.get("/tasks", headers=headers).text
        assert "Buy oat milk" in html
        assert "Buy milk" not in html
        assert "Mark not done" in html
    patched = client.patch(
        f"/tasks/{task_id}",
        json={"title": "Buy bread"},
        headers={**JSON, "X-CSRF-Token": csrf(client)},
    )
    assert patched.status_code == 200, patched.text
    assert "Buy bread" in client.get("/tasks").text
