"""The flag switchboard at /admin/flags: admins only, three ways to change, audited, everywhere."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import pytest
from fastapi import FastAPI
from httpx2 import Response
from sqlalchemy import select
from starlette.testclient import TestClient

from taskboard.admin.forms import DEFAULT_MESSAGE, ROLLOUT_MESSAGE, TIER_MESSAGE
from taskboard.admin.models import FlagChange, FlagOverride
from taskboard.app import create_app
from taskboard.settings import Settings
from tests.taskboard.admin.flags_support import CHROME, ENHANCEMENTS, flags_of
from tests.taskboard.conftest import Account, db_all, log_in, log_in_only, make_user
from tests.taskboard.tasks.support import HX, JSON, csrf
from tiered.testing import split_fragment

PAGE = "/admin/flags"
INLINE = 'data-hx-post="/tasks"'
"""The inline create form's mark on /tasks."""
Way = Literal["form", "enhanced", "json"]
WAYS: tuple[Way, ...] = ("form", "enhanced", "json")

FULL_ONLY_AT_30 = {"enabled": "on", "default": "off", "tiers": "full", "rollout": "30"}
SWITCHED_OFF = {"default": "off", "tiers": ["lite", "full"], "rollout": "100"}


@pytest.fixture
def admin(client: TestClient) -> Account:
    account = make_user(client, "admin@example.org", is_admin=True)
    log_in(client, account)
    return account


def send(client: TestClient, way: Way, url: str, fields: dict[str, Any] | None = None) -> Response:
    token = csrf(client, PAGE)
    if way == "form":
        data = {**(fields or {}), "csrf_token": token}
        return client.post(url, data=data, follow_redirects=False)
    if way == "enhanced":
        return client.post(url, data=fields or {}, headers={**HX, "X-CSRF-Token": token})
    return client.post(url, json=fields or {}, headers={**JSON, "X-CSRF-Token": token})


def as_json(fields: dict[str, Any]) -> dict[str, Any]:
    """The same choices as a JSON client sends them."""
    tiers = fields.get("tiers", [])
    return {
        "enabled": fields.get("enabled") == "on",
        "default": fields["default"] == "on",
        "tiers": [tiers] if isinstance(tiers, str) else tiers,
        "exclude_save_data": fields.get("exclude_save_data") == "on",
        "rollout": int(fields["rollout"]),
    }


def overrides(client: TestClient) -> dict[str, dict[str, Any]]:
    return {row.key: row.definition for row in db_all(client, select(FlagOverride))}


def changes(client: TestClient) -> list[FlagChange]:
    return db_all(client, select(FlagChange).order_by(FlagChange.id))


def section(html: str, key: str) -> str:
    start = html.index(f'<section id="flag-{key}"')
    return html[start : html.index("</section>", start)]


def inline_create_on(client: TestClient) -> bool:
    return INLINE in client.get("/tasks", headers=CHROME).text


# --- who may see it -----------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["anonymous", "user"])
def test_only_admins_see_the_page_everyone_else_gets_a_404(client: TestClient, who: str) -> None:
    if who == "user":
        log_in(client, make_user(client, "person@example.org"))
    token = csrf(client, "/login")
    unknown = client.get("/admin/nothing-here")

    page = client.get(PAGE)
    as_api = client.get(PAGE, headers=JSON)
    change = client.post(
        f"{PAGE}/inline_create",
        data={**FULL_ONLY_AT_30, "csrf_token": token},
        follow_redirects=False,
    )
    reset = client.post(
        f"{PAGE}/inline_create/reset", data={"csrf_token": token}, follow_redirects=False
    )

    assert page.status_code == as_api.status_code == change.status_code == reset.status_code == 404
    assert unknown.status_code == 404
    assert "There is no page at /admin/flags." in page.text
    assert "inline_create" not in page.text
    assert as_api.headers["content-type"].startswith("application/problem+json")
    assert as_api.json()["detail"] == "There is no page at /admin/flags."
    assert overrides(client) == {}
    assert changes(client) == []


# --- what it shows ------------------------------------------------------------------------------


def test_the_page_lists_every_flag_with_its_description_and_rules_in_words(
    client: TestClient, admin: Account
) -> None:
    page = client.get(PAGE)

    assert page.status_code == 200
    assert "<title>Feature flags \N{EN DASH} Taskboard</title>" in page.text
    for key in ENHANCEMENTS:
        assert f'<form method="post" action="/admin/flags/{key}"' in page.text
        assert "As declared in flags.toml." in section(page.text, key)
    create = section(page.text, "inline_create")
    assert "Adding a task updates the list in place" in create
    assert "<li>If the tier is core: off.</li>" in create
    assert "<li>If the tier is lite or full: on.</li>" in create
    assert "<li>Anyone else: off.</li>" in create
    search = section(page.text, "search_as_you_type")
    assert "<li>If Save-Data is on: off.</li>" in search
    assert 'value="on" checked' in section(page.text, "search_as_you_type")  # excluded: ticked
    live = section(page.text, "live_updates")
    assert "<li>If Save-Data is on: off.</li>" in live
    assert "<li>If the tier is lite or full: on.</li>" in live
    assert "/reset" not in page.text  # nothing to reset yet
    assert "No changes yet" in page.text


def test_the_page_as_json_lists_the_flags(client: TestClient, admin: Account) -> None:
    body = client.get(PAGE, headers=JSON).json()

    assert [flag["key"] for flag in body["flags"]] == list(ENHANCEMENTS)
    search = next(f for f in body["flags"] if f["key"] == "search_as_you_type")
    assert search["overridden"] is False
    assert search["rules"][1] == {"when": {"save_data": True}, "value": False, "rollout": 100.0}
    assert body["history"] == []


# --- changing a flag ----------------------------------------------------------------------------


@pytest.mark.parametrize("way", WAYS)
def test_changing_a_flag_stores_it_applies_it_at_once_and_records_who_and_when(
    client: TestClient, admin: Account, way: Way
) -> None:
    assert inline_create_on(client)
    before = datetime.now(UTC) - timedelta(seconds=2)
    fields = as_json(FULL_ONLY_AT_30) if way == "json" else FULL_ONLY_AT_30

    response = send(client, way, f"{PAGE}/inline_create", fields)

    assert overrides(client)["inline_create"] == {
        "enabled": True,
        "default": False,
        "rules": [
            {"when": {"tier": ["core"]}, "value": False, "rollout": 100.0},
            {"when": {"tier": ["full"]}, "value": True, "rollout": 30.0},
        ],
    }
    (change,) = changes(client)
    assert change.key == "inline_create"
    assert change.changed_by == admin.user.id
    changed_at = change.changed_at.replace(tzinfo=change.changed_at.tzinfo or UTC)
    assert before <= changed_at <= datetime.now(UTC) + timedelta(seconds=2)
    assert change.before["rules"][1] == {
        "when": {"tier": ["lite", "full"]},
        "value": True,
        "rollout": 100.0,
    }
    assert change.after == overrides(client)["inline_create"]
    if way == "form":
        assert response.status_code == 303
        assert response.headers["location"] == "/admin/flags#flag-inline_create"
        page = client.get(response.headers["location"]).text
        assert "Saved the flag “inline_create”." in page
    elif way == "enhanced":
        assert response.status_code == 200
        assert split_fragment(response.text)[1].startswith('<div id="flags-board">')
        page = response.text
        assert "Saved the flag “inline_create”." in page
        assert 'data-hx-swap-oob="innerHTML"' in page
        assert (
            '<h2 id="flag-inline_create-title" tabindex="-1" data-autofocus>'
            "<code>inline_create</code></h2>"
        ) in page
    else:
        assert response.status_code == 200
        assert response.json()["overridden"] is True
        assert response.json()["words"][1] == (
            "If the tier is full: on for 30% of them (the same people every time), off for the "
            "rest."
        )
        page = client.get(PAGE).text
    shown = section(page, "inline_create")
    assert "Changed by admin@example.org on <time" in shown
    assert "on for 30% of them" in shown
    assert 'value="30"' in shown
    assert 'value="lite">' in shown  # lite is no longer ticked
    assert 'value="full" checked>' in shown
    history = page[page.index('<section id="history"') :]
    assert "admin@example.org changed <code>inline_create</code>." in history
    assert f'<time datetime="{changed_at.strftime("%Y-%m-%dT%H:%M")}' in history
    # This process applies it at once: alice (no admin) keeps or loses it by her bucket now.
    assert flags_of(client).tiered_provider.current("inline_create").rules[1].rollout == 30  # type: ignore[union-attr]


def test_switching_a_flag_off_gives_everyone_the_baseline(
    client: TestClient, admin: Account
) -> None:
    response = send(client, "form", f"{PAGE}/inline_create", SWITCHED_OFF)

    assert response.status_code == 303
    assert overrides(client)["inline_create"]["enabled"] is False
    assert not inline_create_on(client)
    assert '<form method="post" action="/tasks">' in client.get("/tasks", headers=CHROME).text
    page = client.get(PAGE).text
    contents = page.split('<nav aria-label="Flags on this page">', 1)[1].split("</nav>", 1)[0]
    assert '<a href="#flag-inline_create">inline_create</a> (switched off) (changed)' in contents


@pytest.mark.parametrize("way", ["form", "enhanced"])
def test_bad_input_shows_the_form_again_with_the_input_kept(
    client: TestClient, admin: Account, way: Way
) -> None:
    bad = {"enabled": "on", "default": "maybe", "tiers": ["full", "core"], "rollout": "300"}

    response = send(client, way, f"{PAGE}/inline_create", bad)

    assert response.status_code == 422
    assert overrides(client) == {}
    assert changes(client) == []
    if way == "form":
        assert "<title>Error: Feature flags \N{EN DASH} Taskboard</title>" in response.text
    else:
        assert split_fragment(response.text)[1].startswith('<div id="flags-board">')
    shown = section(response.text, "inline_create")
    assert '<div class="error-summary" role="alert"' in shown
    assert f'<a href="#flag-inline_create-default-on">{DEFAULT_MESSAGE}</a>' in shown
    assert f'<a href="#flag-inline_create-tiers-lite">{TIER_MESSAGE}</a>' in shown
    assert f'<a href="#flag-inline_create-rollout">{ROLLOUT_MESSAGE}</a>' in shown
    assert 'value="300" aria-invalid="true"' in shown  # the input kept, marked and explained
    assert "flag-inline_create-rollout-error" in shown
    assert 'value="full" checked>' in shown
    assert 'value="lite">' in shown
    # The other flags' forms show their own values, without errors.
    other = section(response.text, "in_place_toggle")
    assert "error" not in other
    assert 'value="100"' in other
    assert inline_create_on(client)


def test_bad_json_is_a_problem_naming_each_field(client: TestClient, admin: Account) -> None:
    body = {"default": True, "tiers": ["core"], "rollout": 101, "extra": 1}

    response = send(client, "json", f"{PAGE}/inline_create", body)

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    pointers = {error["pointer"] for error in response.json()["errors"]}
    assert {"/tiers", "/rollout", "/extra"} <= pointers
    assert overrides(client) == {}


def test_an_unknown_flag_is_a_404(client: TestClient, admin: Account) -> None:
    response = send(client, "form", f"{PAGE}/no_such_flag", FULL_ONLY_AT_30)

    assert response.status_code == 404
    assert "There is no flag &#39;no_such_flag&#39;" in response.text
    assert overrides(client) == {}


def test_a_change_without_the_csrf_token_changes_nothing(
    client: TestClient, admin: Account
) -> None:
    response = client.post(f"{PAGE}/inline_create", data=FULL_ONLY_AT_30, follow_redirects=False)

    assert response.status_code == 403
    assert "The form&#39;s security token is missing." in response.text
    assert overrides(client) == {}
    assert changes(client) == []


# --- resetting ----------------------------------------------------------------------------------


@pytest.mark.parametrize("way", WAYS)
def test_reset_returns_a_flag_to_its_declaration_and_is_recorded(
    client: TestClient, admin: Account, way: Way
) -> None:
    send(client, "form", f"{PAGE}/inline_create", SWITCHED_OFF)
    assert not inline_create_on(client)

    response = send(client, way, f"{PAGE}/inline_create/reset")

    assert overrides(client) == {}
    first, reset = changes(client)
    assert reset.after is None
    assert reset.before == first.after
    assert reset.changed_by == admin.user.id
    if way == "form":
        assert response.status_code == 303
        page = client.get(response.headers["location"]).text
    elif way == "enhanced":
        assert response.status_code == 200
        page = response.text
    else:
        assert response.json()["overridden"] is False
        page = client.get(PAGE).text
    if way != "json":
        assert "Reset the flag “inline_create” to its declared defaults." in page
    assert "As declared in flags.toml." in section(page, "inline_create")
    assert "admin@example.org reset <code>inline_create</code> to its declared defaults." in page
    assert inline_create_on(client)


def test_resetting_a_flag_that_was_never_changed_says_so(
    client: TestClient, admin: Account
) -> None:
    response = send(client, "form", f"{PAGE}/in_place_edit/reset")

    assert response.status_code == 303
    assert "The flag “in_place_edit” already had its declared defaults." in client.get(PAGE).text
    assert changes(client) == []


# --- other processes ----------------------------------------------------------------------------


def test_changes_survive_a_restart(client: TestClient, admin: Account, settings: Settings) -> None:
    send(client, "form", f"{PAGE}/inline_create", SWITCHED_OFF)

    with TestClient(create_app(settings), base_url="http://127.0.0.1:8000") as restarted:
        log_in(restarted, admin)
        # The very first request after the start already has the stored override.
        assert not inline_create_on(restarted)
        page = restarted.get(PAGE).text
        assert "Changed by admin@example.org" in section(page, "inline_create")


def test_another_instance_applies_a_change_after_its_refresh(
    client: TestClient, admin: Account, settings: Settings
) -> None:
    other_app: FastAPI = create_app(settings)
    with TestClient(other_app, base_url="http://127.0.0.1:8000") as other:
        log_in(other, admin)
        assert inline_create_on(other)

        send(client, "form", f"{PAGE}/inline_create", SWITCHED_OFF)
        assert other.portal is not None
        other.portal.call(flags_of(other).refresh)  # what its refresh loop does every 2 s

        assert not inline_create_on(other)


def test_another_instance_picks_a_change_up_by_itself_within_seconds(
    client: TestClient, admin: Account, settings: Settings
) -> None:
    with TestClient(create_app(settings), base_url="http://127.0.0.1:8000") as other:
        log_in(other, admin)
        assert inline_create_on(other)  # starts its refresh loop

        send(client, "form", f"{PAGE}/inline_create", SWITCHED_OFF)
        deadline = time.monotonic() + 10
        while inline_create_on(other) and time.monotonic() < deadline:
            time.sleep(0.25)

        assert not inline_create_on(other)


# --- who is named -------------------------------------------------------------------------------


def test_the_history_names_each_admin_newest_first(client: TestClient, admin: Account) -> None:
    second = make_user(client, "second@example.org", is_admin=True)
    send(client, "form", f"{PAGE}/inline_create", SWITCHED_OFF)
    log_in_only(client, second)
    send(client, "form", f"{PAGE}/in_place_edit", SWITCHED_OFF)

    page = client.get(PAGE).text
    history = page[page.index('<section id="history"') :]
    items = re.findall(r"<li>\n<p>(.*?)</p>", history)

    assert len(items) == 2
    assert "second@example.org changed <code>in_place_edit</code>." in items[0]  # newest first
    assert "admin@example.org changed <code>inline_create</code>." in items[1]
