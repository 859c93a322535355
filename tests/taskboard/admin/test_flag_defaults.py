"""Taskboard's flags: what each tier gets by default, one flag off, and sticky rollouts per user."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from fastapi import FastAPI
from starlette.requests import Request
from starlette.testclient import TestClient

from taskboard.admin.service import SimpleRules
from taskboard.admin.views import FLAGS_FILE, flag_attributes, flag_subject
from tests.taskboard.admin.flags_support import (
    CHROME,
    ENHANCEMENTS,
    LYNX,
    SAVE_DATA,
    flags_of,
    override,
    spot,
    switch_off,
)
from tests.taskboard.conftest import Account, log_in, log_in_only, make_user
from tests.taskboard.tasks.support import make_tasks
from tiered import FlagDefinition, Rule
from tiered.core.flags import AttributeValue, bucket, evaluate
from tiered.flags.runtime import load_flags_file
from tiered.testing import csrf_token

SPOTS = {
    "inline_create": ("/tasks", '<form method="post" action="/tasks"'),
    "in_place_filter": ("/tasks", '<form method="get" action="/tasks" role="search"'),
    "search_as_you_type": ("/tasks", '<input id="search-q"'),
    "in_place_toggle": ("/tasks", '<form method="post" action="/tasks/{id}/toggle"'),
    "optimistic_toggle": ("/tasks", '<li class="task" id="task-{id}"'),
    "delete_confirm_dialog": ("/tasks", '<form method="get" action="/tasks/{id}/delete"'),
    "in_place_edit": ("/tasks/{id}", '<form method="post" action="/tasks/{id}" aria-labelledby'),
}
"""Where each enhancement shows: the page, and the start of its element there."""
NEEDS = {"optimistic_toggle": "in_place_toggle"}
"""Enhancements that build on another: with that one off, they are off too."""


@pytest.fixture
def logged_in(client: TestClient, alice: Account) -> Account:
    log_in(client, alice)
    return alice


def spots(client: TestClient, task_id: int, headers: dict[str, str]) -> dict[str, str]:
    pages: dict[str, str] = {}
    result = {}
    for key, (path, start) in SPOTS.items():
        url = path.format(id=task_id)
        if url not in pages:
            pages[url] = client.get(url, headers=headers).text
        # The search form holds the search box, another spot: its start tag is the filter's;
        # a task's row holds its forms, other spots: its start tag is the optimistic toggle's.
        whole = key not in ("in_place_filter", "optimistic_toggle")
        result[key] = spot(pages[url], start.format(id=task_id), whole=whole)
    return result


def enhanced_spots(client: TestClient, task_id: int, headers: dict[str, str]) -> set[str]:
    """The flags whose spot differs from the core tier's markup."""
    core = spots(client, task_id, LYNX)
    return {key for key, html in spots(client, task_id, headers).items() if html != core[key]}


def test_flags_toml_declares_every_enhancement_with_a_description() -> None:
    definitions = flags_of_file()

    assert set(definitions) == set(ENHANCEMENTS)
    assert all(flag.description for flag in definitions.values())
    live = definitions["live_updates"]
    assert live.enabled is True
    # Save-Data wins over the tier: a person saving data gets no poll and no stream.
    assert [(rule.when, rule.value) for rule in live.rules[1:]] == [
        ({"save_data": True}, False),
        ({"tier": ("lite", "full")}, True),
    ]
    for flag in definitions.values():
        # The first rule keeps every enhancement away from the core tier, whatever follows.
        assert flag.rules[0].when == {"tier": ("core",)}
        assert flag.rules[0].value is False
        assert SimpleRules.of(flag) is not None  # the admin page can edit each one as it is


def flags_of_file() -> dict[str, FlagDefinition]:
    return load_flags_file(Path(FLAGS_FILE))


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (CHROME, set(SPOTS)),
        (SAVE_DATA, set(SPOTS) - {"search_as_you_type", "optimistic_toggle"}),
        (LYNX, set()),
    ],
    ids=["full", "lite (Save-Data)", "core (lynx)"],
)
def test_each_tier_gets_its_enhancements_by_default(
    client: TestClient, logged_in: Account, headers: dict[str, str], expected: set[str]
) -> None:
    (task_id,) = make_tasks(client, logged_in, ["Water plants"])

    assert enhanced_spots(client, task_id, headers) == expected


def test_save_data_never_searches_as_you_type_even_on_the_full_tier(
    client: TestClient, logged_in: Account
) -> None:
    definitions = flags_of(client).definitions
    flag = definitions["search_as_you_type"]
    full_with_save_data: dict[str, AttributeValue] = {"tier": "full", "save_data": True}

    assert evaluate(flag, "user:1", full_with_save_data).value is False
    assert evaluate(flag, "user:1", {"tier": "full", "save_data": False}).value is True
    assert evaluate(flag, "user:1", {"tier": "lite", "save_data": False}).value is False


@pytest.mark.parametrize("key", sorted(SPOTS))
def test_a_flag_turned_off_gives_the_baseline_markup_for_its_spot(
    client: TestClient, logged_in: Account, key: str
) -> None:
    (task_id,) = make_tasks(client, logged_in, ["Water plants"])
    core = spots(client, task_id, LYNX)

    switch_off(client, key)
    now = spots(client, task_id, CHROME)

    assert now[key] == core[key]
    assert "data-hx-" not in now[key]
    # Only that spot (and what builds on it): every other enhancement is still there.
    builds_on_it = {other for other, needed in NEEDS.items() if needed == key}
    assert enhanced_spots(client, task_id, CHROME) == set(SPOTS) - {key} - builds_on_it


def test_a_flag_turned_off_keeps_its_action_working_as_a_plain_form(
    client: TestClient, logged_in: Account
) -> None:
    (task_id,) = make_tasks(client, logged_in, ["Water plants"])
    switch_off(client, "in_place_toggle")
    page = client.get("/tasks", headers=CHROME).text
    token = csrf_token(page)

    response = client.post(
        f"/tasks/{task_id}/toggle",
        data={"csrf_token": token},
        headers=CHROME,
        follow_redirects=False,
    )

    assert response.status_code == 303
    assert response.headers["location"] == "/tasks"
    assert "Mark not done" in client.get("/tasks", headers=CHROME).text


def inline_create_for(client: TestClient, accounts: list[Account]) -> dict[int, bool]:
    """Whether each user gets the inline create form (a full-tier browser, logged in as them)."""
    answers = {}
    for account in accounts:
        log_in_only(client, account)
        page = client.get("/tasks", headers=CHROME).text
        answers[account.user.id] = 'data-hx-post="/tasks"' in page
    return answers


def rollout(client: TestClient, percent: float) -> None:
    rules = SimpleRules(True, False, ("lite", "full"), False, percent)
    override(client, rules.definition("inline_create"))


@pytest.mark.usefixtures("fast_hashing")
def test_a_rollout_is_sticky_per_user_and_raising_it_only_adds_users(
    client: TestClient,
) -> None:
    accounts = [make_user(client, f"user{n}@example.org") for n in range(40)]

    rollout(client, 30)
    first = inline_create_for(client, accounts)
    again = inline_create_for(client, accounts)
    rollout(client, 60)
    raised = inline_create_for(client, accounts)

    assert again == first  # the same user, the same answer
    assert 0 < sum(first.values()) < sum(raised.values()) < len(accounts)
    assert all(raised[user] for user, on in first.items() if on)  # nobody loses it
    # The subject is the user (user:<id>), not the browser: the bucket of that key decides.
    for user, on in raised.items():
        assert on == (bucket("inline_create", f"user:{user}") < 6000)


def test_flags_see_whether_the_user_is_an_admin(client: TestClient) -> None:
    admin = make_user(client, "admin@example.org", is_admin=True)
    person = make_user(client, "person@example.org")
    declared = flags_of(client).definitions["inline_create"]
    override(client, replace(declared, rules=(Rule(when={"is_admin": True}),)))

    log_in_only(client, admin)
    assert 'data-hx-post="/tasks"' in client.get("/tasks", headers=CHROME).text
    log_in_only(client, person)
    assert 'data-hx-post="/tasks"' not in client.get("/tasks", headers=CHROME).text


def test_the_subject_is_the_user_even_where_the_page_never_asks_who_it_is(
    app: FastAPI, client: TestClient, alice: Account
) -> None:
    async def probe(request: Request) -> dict[str, object]:
        return {"subject": flag_subject(request), "attributes": flag_attributes(request)}

    app.add_api_route("/probe", probe)

    anonymous = client.get("/probe").json()
    log_in(client, alice)
    known = client.get("/probe").json()

    assert anonymous == {"subject": None, "attributes": {}}  # tiered then uses the visitor key
    assert known == {"subject": f"user:{alice.user.id}", "attributes": {}}
