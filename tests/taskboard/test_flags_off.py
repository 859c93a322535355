"""With every enhancement flag off, every task journey still works, and each spot is the baseline.

The tasks journey tests are collected here a second time (pytest collects the test functions a
module holds, imported ones too) and run with an override switching every flag off, stored in
the database the way the admin page stores it. The few tests that assert an enhancement's markup
are left out; the tests below assert the baseline in their place.
"""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.taskboard.admin.flags_support import (
    CHROME,
    ENHANCEMENTS,
    LYNX,
    SAVE_DATA,
    flags_of,
    spot,
    switch_off,
)
from tests.taskboard.conftest import Account, log_in
from tests.taskboard.tasks import test_access as test_tasks_access
from tests.taskboard.tasks import test_bearer as test_tasks_bearer
from tests.taskboard.tasks import test_input as test_tasks_input
from tests.taskboard.tasks import test_journeys as test_tasks_journeys
from tests.taskboard.tasks import test_list as test_tasks_list
from tests.taskboard.tasks.support import make_tasks

ASSERTS_AN_ENHANCEMENT = frozenset(
    {
        "test_with_script_delete_asks_with_a_plain_confirm_message",
        "test_the_full_tier_searches_as_you_type",
        "test_the_lite_tier_acts_in_place_but_does_not_search_as_you_type",
    }
)

for _module in (
    test_tasks_journeys,
    test_tasks_list,
    test_tasks_input,
    test_tasks_access,
    test_tasks_bearer,
):
    for _name in dir(_module):
        if _name.startswith("test_") and _name not in ASSERTS_AN_ENHANCEMENT:
            globals()[_name] = getattr(_module, _name)
bobs_task = test_tasks_access.bobs_task


@pytest.fixture(autouse=True)
def every_flag_off(client: TestClient) -> None:
    switch_off(client, *ENHANCEMENTS)


def test_every_declared_flag_is_off_here(client: TestClient) -> None:
    flags = flags_of(client)
    assert set(flags.definitions) == set(ENHANCEMENTS)
    assert all(not flags.tiered_provider.current(key).enabled for key in ENHANCEMENTS)  # type: ignore[union-attr]


@pytest.fixture
def logged_in(client: TestClient, alice: Account) -> Account:
    log_in(client, alice)
    return alice


@pytest.mark.parametrize("headers", [CHROME, SAVE_DATA, {}], ids=["full", "lite", "default"])
def test_every_spot_is_the_core_tier_markup(
    client: TestClient, logged_in: Account, headers: dict[str, str]
) -> None:
    (task_id,) = make_tasks(client, logged_in, ["Plain"])
    starts = [
        '<form method="post" action="/tasks?q=Plain"',  # back to this view of the list
        '<form method="get" action="/tasks" role="search"',
        '<input id="search-q"',
        f'<form method="post" action="/tasks/{task_id}/toggle?q=Plain"',
        f'<form method="get" action="/tasks/{task_id}/delete"',
    ]

    page = client.get("/tasks?q=Plain", headers=headers).text
    core = client.get("/tasks?q=Plain", headers=LYNX).text
    task_page = client.get(f"/tasks/{task_id}", headers=headers).text
    core_task_page = client.get(f"/tasks/{task_id}", headers=LYNX).text

    for start in starts:
        assert spot(page, start) == spot(core, start)
    edit = f'<form method="post" action="/tasks/{task_id}" aria-labelledby="edit-title"'
    assert spot(task_page, edit) == spot(core_task_page, edit)
    for html in (page, task_page):
        assert "data-hx-" not in html
    assert '<form method="post" action="/tasks?q=Plain">' in page
    assert f'<form method="get" action="/tasks/{task_id}/delete" class="task-delete">' in page
    if headers:
        assert "<script" in page  # the tier still sends the script: only the flags are off
