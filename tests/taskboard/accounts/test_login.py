"""Log in and out: three ways, sessions that rotate, messages that reveal nothing, rehashing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from argon2 import PasswordHasher
from markupsafe import escape
from sqlalchemy import select, update
from starlette.testclient import TestClient

from taskboard.accounts import service
from taskboard.accounts.models import StoredSession, User
from tests.taskboard.conftest import (
    PASSWORD,
    WAYS,
    Account,
    db_all,
    db_run,
    log_in_only,
    page_csrf,
    submit,
    use_session_cookie,
)
from tiered.testing import split_fragment

DASH = "\N{EN DASH}"
"""Between the page's title and the site's name in <title>."""

pytestmark = pytest.mark.usefixtures("fast_hashing")


def _session_users(client: TestClient) -> list[int | None]:
    return sorted(
        db_all(client, select(StoredSession.user_id)), key=lambda u: -1 if u is None else u
    )


def _start_anonymous_session(client: TestClient) -> str:
    """An anonymous visitor with a stored session (logging out leaves a flash in one)."""
    token = page_csrf(client, "/login")
    client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    cookie = client.cookies.get("tiered_session")
    assert cookie
    return cookie


@pytest.mark.parametrize("way", WAYS)
def test_log_in_rotates_the_session_and_goes_to_the_tasks(
    client: TestClient, alice: Account, way: str
) -> None:
    before = _start_anonymous_session(client)

    response = submit(client, way, "/login", {"email": " Alice@Example.org ", "password": PASSWORD})

    if way == "form":
        assert (response.status_code, response.headers["location"]) == (303, "/tasks")
    elif way == "enhanced":
        assert (response.status_code, response.headers["hx-redirect"]) == (200, "/tasks")
    else:
        assert response.status_code == 200
        assert response.json() == {"id": alice.user.id, "email": "alice@example.org"}
    after = client.cookies.get("tiered_session")
    assert after
    assert after != before
    # Only the new session exists, and it is alice's; the pre-login id is gone from the store.
    assert _session_users(client) == [alice.user.id]
    assert client.get("/settings").status_code == 200
    use_session_cookie(client, before)
    stale = client.get("/settings", follow_redirects=False)
    assert (stale.status_code, stale.headers["location"]) == (303, "/login?next=%2Fsettings")


@pytest.mark.parametrize(
    ("next_path", "location"),
    [
        ("/settings", "/settings"),
        ("/tasks?status=done", "/tasks?status=done"),
        ("//evil.example/", "/tasks"),
        ("https://evil.example/", "/tasks"),
        ("/\\evil.example", "/tasks"),
    ],
)
def test_log_in_returns_only_to_a_local_page(
    client: TestClient, alice: Account, next_path: str, location: str
) -> None:
    page = client.get("/login?next=" + quote(next_path, safe=""))
    if location != "/tasks":
        assert f'<input type="hidden" name="next" value="{escape(next_path)}">' in page.text

    response = submit(
        client, "form", "/login", {"email": alice.email, "password": PASSWORD, "next": next_path}
    )

    assert (response.status_code, response.headers["location"]) == (303, location)


def test_wrong_password_and_unknown_email_look_the_same(client: TestClient, alice: Account) -> None:
    wrong = submit(client, "form", "/login", {"email": alice.email, "password": "nope nope"})
    unknown = submit(
        client, "form", "/login", {"email": "nobody@example.org", "password": "nope nope"}
    )

    for response, email in ((wrong, alice.email), (unknown, "nobody@example.org")):
        assert response.status_code == 422
        html = response.text
        assert f"<title>Error: Log in {DASH} Taskboard</title>" in html
        assert "<li>Email or password is incorrect.</li>" in html
        assert f'value="{email}"' in html
        assert "nope nope" not in html
    # The two pages differ only in the email kept and the per-form tokens.
    strip = [alice.email, "nobody@example.org"]

    def normalised(html: str) -> str:
        for email in strip:
            html = html.replace(email, "EMAIL")
        return re.sub(r'(value|content|nonce)="[A-Za-z0-9._-]{20,}"', r'\1="TOKEN"', html)

    assert normalised(wrong.text) == normalised(unknown.text)
    assert _session_users(client) == []


def test_failed_json_and_enhanced_log_ins_say_the_same(client: TestClient, alice: Account) -> None:
    as_json = submit(client, "json", "/login", {"email": alice.email, "password": "wrong one"})
    enhanced = submit(client, "enhanced", "/login", {"email": "x@example.org", "password": "wr"})

    assert as_json.status_code == 422
    assert as_json.json()["detail"] == "Email or password is incorrect."
    assert "wrong one" not in as_json.text
    assert enhanced.status_code == 422
    title, form = split_fragment(enhanced.text)
    assert title == "Error: Log in \N{EN DASH} Taskboard"  # htmx makes it the document's title
    assert form.startswith('<div id="login-form">')
    assert "Email or password is incorrect." in enhanced.text
    assert 'value="x@example.org"' in enhanced.text
    assert _session_users(client) == []


def test_an_unknown_email_still_costs_a_password_check(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    real = service.verify_password

    def counting(password_hash: str, password: str) -> bool:
        checked.append(password_hash[:10])
        return real(password_hash, password)

    monkeypatch.setattr(service, "verify_password", counting)

    submit(client, "form", "/login", {"email": "nobody@example.org", "password": "whatever1"})

    assert checked == ["$argon2id$"]


def test_empty_fields_are_named(client: TestClient) -> None:
    response = submit(client, "form", "/login", {"email": "", "password": ""})

    assert response.status_code == 422
    assert '<a href="#field-email">Enter your email.</a>' in response.text
    assert '<a href="#field-password">Enter your password.</a>' in response.text


def test_passwords_are_argon2id_and_rehashed_when_the_parameters_change(
    client: TestClient, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    (old_hash,) = db_all(client, select(User.password_hash))
    assert old_hash.startswith("$argon2id$")
    stronger = PasswordHasher(time_cost=4, memory_cost=16384, parallelism=2)
    monkeypatch.setattr(service, "_hasher", stronger)

    response = submit(client, "form", "/login", {"email": alice.email, "password": PASSWORD})

    assert response.status_code == 303
    (new_hash,) = db_all(client, select(User.password_hash))
    assert new_hash != old_hash
    assert new_hash.startswith("$argon2id$v=19$m=16384,t=4,p=2$")
    assert stronger.verify(new_hash, PASSWORD)
    # Logging in again with the same parameters keeps the hash.
    submit(client, "form", "/login", {"email": alice.email, "password": PASSWORD})
    assert db_all(client, select(User.password_hash)) == [new_hash]


@pytest.mark.parametrize("way", WAYS)
def test_log_out_ends_the_session(client: TestClient, alice: Account, way: str) -> None:
    log_in_only(client, alice)
    cookie = client.cookies.get("tiered_session")

    response = submit(client, way, "/logout", {}, page="/settings")

    if way == "form":
        assert (response.status_code, response.headers["location"]) == (303, "/login")
        assert "You are logged out." in client.get("/login").text
    elif way == "enhanced":
        assert response.headers["hx-redirect"] == "/login"
    else:
        assert response.status_code == 204
    assert alice.user.id not in _session_users(client)
    assert client.get("/settings", follow_redirects=False).status_code == 303
    use_session_cookie(client, cookie)
    assert client.get("/settings", follow_redirects=False).status_code == 303


def test_an_expired_session_logs_nobody_in_and_is_deleted(
    client: TestClient, alice: Account
) -> None:
    log_in_only(client, alice)
    assert client.get("/settings", follow_redirects=False).status_code == 200
    past = datetime.now(UTC) - timedelta(seconds=1)
    db_run(client, update(StoredSession).values(expires_at=past))

    response = client.get("/settings", follow_redirects=False)

    assert (response.status_code, response.headers["location"]) == (303, "/login?next=%2Fsettings")
    assert alice.user.id not in _session_users(client)


def test_the_header_offers_log_out_to_a_logged_in_person(
    client: TestClient, alice: Account
) -> None:
    log_in_only(client, alice)

    html = client.get("/settings").text

    assert '<form method="post" action="/logout" class="inline-form">' in html
    assert '<button type="submit">Log out</button>' in html
    assert '<a href="/login">' not in html


def test_pages_behind_login_send_people_to_log_in_and_api_clients_a_401(
    client: TestClient,
) -> None:
    page = client.get("/settings?x=1", follow_redirects=False)
    fragment = client.get("/settings", headers={"HX-Request": "true"})
    api = client.get("/settings", headers={"Accept": "application/json"})

    assert (page.status_code, page.headers["location"]) == (303, "/login?next=%2Fsettings%3Fx%3D1")
    assert "Accept" in page.headers["vary"]
    assert fragment.headers["hx-redirect"] == "/login?next=%2Fsettings"
    assert api.status_code == 401
    assert api.headers["content-type"] == "application/problem+json"
    assert api.headers["www-authenticate"].startswith("Bearer")
    assert api.json()["code"] == "login-required"


def test_the_login_page_is_accessible_without_script(client: TestClient) -> None:
    html = client.get("/login").text

    assert f"<title>Log in {DASH} Taskboard</title>" in html
    assert '<label for="field-email">Email</label>' in html
    assert 'autocomplete="email"' in html
    assert 'autocomplete="current-password"' in html
    assert '<form method="post" action="/login"' in html


def test_the_home_page_links_to_log_in_and_sign_up(client: TestClient) -> None:
    html = client.get("/").text

    assert '<a href="/signup">Sign up</a>' in html
    assert '<a href="/login">Log in</a>' in html
