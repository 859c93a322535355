"""The settings page: change the password, log out everywhere, create and revoke API tokens."""

from __future__ import annotations

import hashlib

import pytest
from markupsafe import escape
from sqlalchemy import select
from starlette.testclient import TestClient

from taskboard.accounts import service
from taskboard.accounts.models import ApiToken, StoredSession, User
from tests.taskboard.conftest import (
    PASSWORD,
    WAYS,
    Account,
    db_all,
    log_in_only,
    submit,
    use_session_cookie,
)
from tiered.testing import split_fragment

NEW_PASSWORD = "orange kettle harbour"

DASH = "\N{EN DASH}"
"""Between the page's title and the site's name in <title>."""

pytestmark = pytest.mark.usefixtures("fast_hashing")


def _second_session(client: TestClient, account: Account) -> str:
    """Log ``account`` in on "another device" and return that device's cookie."""
    mine = client.cookies.get("tiered_session")
    other = log_in_only(client, account)
    use_session_cookie(client, mine)
    return other


def _works(client: TestClient, cookie: str | None) -> bool:
    """Whether a browser with this session cookie is logged in."""
    saved = client.cookies.get("tiered_session")
    use_session_cookie(client, cookie)
    logged_in = client.get("/settings", follow_redirects=False).status_code == 200
    use_session_cookie(client, saved)
    return logged_in


def _password_is(client: TestClient, password: str) -> bool:
    (stored,) = db_all(client, select(User.password_hash).where(User.email == "alice@example.org"))
    return service.verify_password(stored, password)


@pytest.mark.parametrize("way", WAYS)
def test_changing_the_password_rotates_this_session_and_ends_the_others(
    client: TestClient, alice: Account, bob: Account, way: str
) -> None:
    bobs = log_in_only(client, bob)
    before = log_in_only(client, alice)
    elsewhere = _second_session(client, alice)

    response = submit(
        client,
        way,
        "/settings/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        page="/settings",
    )

    if way == "form":
        assert (response.status_code, response.headers["location"]) == (303, "/settings")
        assert "Your password is changed" in client.get("/settings").text
    elif way == "enhanced":
        assert response.status_code == 200
        assert split_fragment(response.text)[1].startswith('<section id="password-section"')
        assert "Your password is changed" in response.text  # the flash, out of band
    else:
        assert response.status_code == 204
    after = client.cookies.get("tiered_session")
    assert after
    assert after != before
    assert _password_is(client, NEW_PASSWORD)
    assert _works(client, after)
    assert not _works(client, before)
    assert not _works(client, elsewhere)
    assert _works(client, bobs)
    sessions = db_all(client, select(StoredSession.user_id))
    assert sorted(sessions) == sorted([alice.user.id, bob.user.id])


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        (
            {"current_password": "not it at all", "new_password": NEW_PASSWORD},
            "current_password",
            service.CURRENT_PASSWORD_WRONG,
        ),
        (
            {"current_password": PASSWORD, "new_password": "trustno1"},
            "new_password",
            service.PASSWORD_TOO_COMMON,
        ),
        (
            {"current_password": PASSWORD, "new_password": "short"},
            "new_password",
            service.PASSWORD_TOO_SHORT,
        ),
        ({"current_password": "", "new_password": NEW_PASSWORD}, "current_password", None),
    ],
)
def test_a_bad_password_change_says_why_and_changes_nothing(
    client: TestClient,
    alice: Account,
    fields: dict[str, str],
    field: str,
    message: str | None,
) -> None:
    log_in_only(client, alice)
    cookie = client.cookies.get("tiered_session")

    response = submit(client, "form", "/settings/password", fields, page="/settings")
    as_json = submit(client, "json", "/settings/password", fields, page="/settings")

    assert response.status_code == 422
    html = response.text
    assert f"<title>Error: Settings {DASH} Taskboard</title>" in html
    expected = message or "Enter your current password."
    assert f'<a href="#field-{field}">{escape(expected)}</a>' in html
    assert html.count('class="error-summary"') == 1
    for value in fields.values():
        if value:
            assert value not in html
    assert as_json.status_code == 422
    assert [e["pointer"] for e in as_json.json()["errors"]] == [f"/{field}"]
    assert _password_is(client, PASSWORD)
    assert client.cookies.get("tiered_session") == cookie


@pytest.mark.parametrize("way", WAYS)
def test_log_out_everywhere_ends_every_session_of_the_user(
    client: TestClient, alice: Account, bob: Account, way: str
) -> None:
    bobs = log_in_only(client, bob)
    mine = log_in_only(client, alice)
    elsewhere = _second_session(client, alice)

    response = submit(client, way, "/settings/logout-everywhere", {}, page="/settings")

    if way == "json":
        assert response.status_code == 204
    else:
        assert (response.status_code, response.headers["location"]) == (303, "/login")
    assert not _works(client, mine)
    assert not _works(client, elsewhere)
    assert _works(client, bobs)
    assert db_all(
        client, select(StoredSession.user_id).where(StoredSession.user_id.is_not(None))
    ) == [bob.user.id]


@pytest.mark.parametrize("way", WAYS)
def test_a_new_token_is_shown_once_and_stored_hashed(
    client: TestClient, alice: Account, way: str
) -> None:
    log_in_only(client, alice)

    response = submit(client, way, "/settings/tokens", {"name": " laptop "}, page="/settings")

    (row,) = db_all(client, select(ApiToken))
    assert (row.user_id, row.name) == (alice.user.id, "laptop")
    if way == "form":
        assert (response.status_code, response.headers["location"]) == (303, "/settings")
        page = client.get("/settings").text
        token = page.split('id="new-token" type="text" value="', 1)[1].split('"', 1)[0]
        assert "Copy it now: it is shown only once." in page
        assert token not in client.get("/settings").text  # only once
    elif way == "enhanced":
        assert response.status_code == 200
        assert split_fragment(response.text)[1].startswith('<section id="tokens-section"')
        token = response.text.split('id="new-token" type="text" value="', 1)[1].split('"', 1)[0]
        assert token not in client.get("/settings").text
    else:
        assert response.status_code == 201
        body = response.json()
        token = body["token"]
        assert (body["id"], body["name"]) == (row.id, "laptop")
    assert token.startswith("tb_")
    assert row.token_hash != token
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(db_all(client, select(StoredSession.data)))
    listed = client.get("/settings").text
    assert f'<tr data-token-id="{row.id}">' in listed
    assert "<td>laptop</td>" in listed
    assert "<td>Never</td>" in listed


def test_a_token_needs_a_name(client: TestClient, alice: Account) -> None:
    log_in_only(client, alice)

    response = submit(client, "form", "/settings/tokens", {"name": "   "}, page="/settings")

    assert response.status_code == 422
    assert '<a href="#field-name">Enter a name for the token.</a>' in response.text
    # Only the token form shows the error; the password form stays clean.
    assert response.text.count('class="error-summary"') == 1
    assert 'id="field-current_password-error"' not in response.text
    assert db_all(client, select(ApiToken)) == []


@pytest.mark.parametrize("way", WAYS)
def test_revoking_a_token_stops_it_working(client: TestClient, alice: Account, way: str) -> None:
    log_in_only(client, alice)
    created = submit(client, "json", "/settings/tokens", {"name": "ci"}, page="/settings").json()
    bearer = {"Authorization": f"Bearer {created['token']}", "Accept": "application/json"}
    assert client.get("/settings", headers=bearer).status_code == 200

    response = submit(client, way, f"/settings/tokens/{created['id']}/delete", {}, page="/settings")

    if way == "form":
        assert (response.status_code, response.headers["location"]) == (303, "/settings")
    elif way == "enhanced":
        assert split_fragment(response.text)[1].startswith('<section id="tokens-section"')
        assert "You have no API tokens." in response.text
        assert "API token “ci” revoked" in response.text
    else:
        assert response.status_code == 204
    assert db_all(client, select(ApiToken)) == []
    refused = client.get("/settings", headers=bearer)
    assert refused.status_code == 401
    assert refused.json()["code"] == "invalid-token"


def test_another_users_token_cannot_be_revoked(
    client: TestClient, alice: Account, bob: Account
) -> None:
    log_in_only(client, bob)
    bobs = submit(client, "json", "/settings/tokens", {"name": "bob"}, page="/settings").json()
    log_in_only(client, alice)

    page = submit(client, "form", f"/settings/tokens/{bobs['id']}/delete", {}, page="/settings")
    api = submit(client, "json", f"/settings/tokens/{bobs['id']}/delete", {}, page="/settings")

    assert page.status_code == 404
    assert "You have no API token" in page.text
    assert (api.status_code, api.json()["code"]) == (404, "token-not-found")
    assert [t.id for t in db_all(client, select(ApiToken))] == [bobs["id"]]


@pytest.mark.parametrize("way", WAYS)
def test_changing_the_password_revokes_every_api_token(
    client: TestClient, alice: Account, bob: Account, way: str
) -> None:
    log_in_only(client, bob)
    bobs = submit(client, "json", "/settings/tokens", {"name": "bob"}, page="/settings").json()
    log_in_only(client, alice)
    tokens = [
        submit(client, "json", "/settings/tokens", {"name": name}, page="/settings").json()
        for name in ("ci", "laptop")
    ]

    response = submit(
        client,
        way,
        "/settings/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        page="/settings",
    )

    assert response.status_code in (303, 200, 204)
    for token in tokens:
        refused = client.get(
            "/settings",
            headers={"Authorization": f"Bearer {token['token']}", "Accept": "application/json"},
        )
        assert refused.status_code == 401
        assert refused.json()["code"] == "invalid-token"
    assert db_all(client, select(ApiToken.name)) == ["bob"]  # another user's stay
    bearer = {"Authorization": f"Bearer {bobs['token']}", "Accept": "application/json"}
    assert client.get("/settings", headers=bearer).status_code == 200
    if way == "form":
        page = client.get("/settings").text
        assert "you are logged out on other devices, and your API tokens are revoked." in page
        assert "Changing your password revokes every token." in page
