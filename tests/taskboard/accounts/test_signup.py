"""Sign-up: the page, the three ways to submit it, the rules for emails and passwords."""

from __future__ import annotations

import pytest
from markupsafe import escape
from sqlalchemy import select
from starlette.testclient import TestClient

import tiered
from taskboard.accounts import service
from taskboard.accounts.models import StoredSession, User
from taskboard.db import Database
from tests.taskboard.conftest import WAYS, Account, db_all, log_in, submit
from tiered.testing import split_fragment

GOOD_PASSWORD = "plum tractor violin"

DASH = "\N{EN DASH}"
"""Between the page's title and the site's name in <title>."""

pytestmark = pytest.mark.usefixtures("fast_hashing")


def _users(client: TestClient) -> list[tuple[str, bool]]:
    rows = db_all(client, select(User).order_by(User.id))
    return [(u.email, u.password_hash.startswith("$argon2id$")) for u in rows]


@pytest.mark.parametrize("way", WAYS)
def test_sign_up_creates_the_account_and_logs_in(client: TestClient, way: str) -> None:
    response = submit(
        client,
        way,
        "/signup",
        {"email": "  Ada.Lovelace@Example.ORG ", "password": GOOD_PASSWORD},
        page="/signup",
    )

    if way == "form":
        assert response.status_code == 303
        assert response.headers["location"] == "/tasks"
    elif way == "enhanced":
        assert response.status_code == 200
        assert response.headers["hx-redirect"] == "/tasks"
    else:
        assert response.status_code == 201
        body = response.json()
        assert set(body) == {"id", "email"}
        assert body["email"] == "ada.lovelace@example.org"
    # The same end state every way: one user, the email normalised, the password hashed with
    # argon2id, and a stored session that belongs to the user.
    assert _users(client) == [("ada.lovelace@example.org", True)]
    (user,) = db_all(client, select(User))
    assert GOOD_PASSWORD not in user.password_hash
    assert db_all(client, select(StoredSession.user_id)) == [user.id]
    settings = client.get("/settings")
    assert settings.status_code == 200
    assert "You are logged in as <strong>ada.lovelace@example.org</strong>" in settings.text
    if way == "form":
        assert "Welcome to Taskboard: your account is ready and you are logged in." in settings.text


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"email": "ada@example.org", "password": "short"}, "password", service.PASSWORD_TOO_SHORT),
        (
            {"email": "ada@example.org", "password": "password1"},
            "password",
            service.PASSWORD_TOO_COMMON,
        ),
        (
            {"email": "ada@example.org", "password": "Sunshine"},
            "password",
            service.PASSWORD_TOO_COMMON,
        ),
        (
            {"email": "ada.example.org", "password": GOOD_PASSWORD},
            "email",
            "Enter an email address like name@example.org (an email address must have an @-sign).",
        ),
        ({"email": "", "password": GOOD_PASSWORD}, "email", "Enter your email."),
        ({"email": "ada@example.org", "password": ""}, "password", "Enter your password."),
    ],
)
def test_bad_sign_up_shows_why_keeps_the_email_and_stores_nothing(
    client: TestClient, fields: dict[str, str], field: str, message: str
) -> None:
    response = submit(client, "form", "/signup", fields, page="/signup")

    assert response.status_code == 422
    html = response.text
    assert f"<title>Error: Sign up {DASH} Taskboard</title>" in html
    assert f'<a href="#field-{field}">{escape(message)}</a>' in html
    assert f'id="field-{field}-error"' in html
    assert f'value="{escape(fields["email"])}"' in html
    if fields["password"]:
        assert fields["password"] not in html
    assert _users(client) == []


def test_bad_sign_up_as_json_is_a_problem_listing_each_field(client: TestClient) -> None:
    response = submit(
        client, "json", "/signup", {"email": "nobody", "password": "qwerty"}, page="/signup"
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "validation-failed"
    assert {e["pointer"]: e["code"] for e in problem["errors"]} == {
        "/email": "email",
        "/password": "password-too-short",
    }
    assert "qwerty" not in response.text
    assert _users(client) == []


def test_bad_enhanced_sign_up_answers_the_form_fragment(client: TestClient) -> None:
    response = submit(
        client,
        "enhanced",
        "/signup",
        {"email": "ada@example.org", "password": "iloveyou"},
        page="/signup",
    )

    assert response.status_code == 422
    assert split_fragment(response.text)[1].startswith('<div id="signup-form">')
    assert escape(service.PASSWORD_TOO_COMMON) in response.text
    assert 'value="ada@example.org"' in response.text
    assert "iloveyou" not in response.text
    assert _users(client) == []


@pytest.mark.parametrize("way", WAYS)
def test_an_email_with_an_account_is_refused_whatever_its_case(
    client: TestClient, alice: Account, way: str
) -> None:
    response = submit(
        client,
        way,
        "/signup",
        {"email": " ALICE@example.org", "password": GOOD_PASSWORD},
        page="/signup",
    )

    assert response.status_code == 422
    assert escape(service.EMAIL_TAKEN) in response.text or service.EMAIL_TAKEN in response.text
    assert _users(client) == [("alice@example.org", True)]


def test_unknown_fields_in_json_are_refused(client: TestClient) -> None:
    response = submit(
        client,
        "json",
        "/signup",
        {"email": "ada@example.org", "password": GOOD_PASSWORD, "is_admin": "true"},
        page="/signup",
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/is_admin"
    assert _users(client) == []


def test_the_sign_up_page_is_accessible_without_script(client: TestClient) -> None:
    html = client.get("/signup").text

    assert f"<title>Sign up {DASH} Taskboard</title>" in html
    assert '<label for="field-email">Email</label>' in html
    assert 'autocomplete="email"' in html
    assert 'autocomplete="new-password"' in html
    assert '<form method="post" action="/signup"' in html
    assert 'name="csrf_token"' in html


def test_a_logged_in_person_is_sent_on_from_the_sign_up_and_login_pages(
    client: TestClient, alice: Account
) -> None:
    log_in(client, alice)

    for path in ("/signup", "/login", "/"):
        response = client.get(path, follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (303, "/tasks")


def test_register_checks_every_field_for_the_command_line(client: TestClient) -> None:
    database: Database = client.app.state.database  # type: ignore[attr-defined]
    assert client.portal is not None

    with pytest.raises(tiered.ValidationFailed) as raised:
        client.portal.call(lambda: service.register(database, "not-an-email", "123456789"))
    admin = client.portal.call(
        lambda: service.register(database, " Root@Example.org", GOOD_PASSWORD, is_admin=True)
    )

    assert [(e.field, e.code) for e in raised.value.errors] == [
        ("email", "email"),
        ("password", "password-too-common"),
    ]
    assert (admin.email, admin.is_admin) == ("root@example.org", True)
    assert _users(client) == [("root@example.org", True)]


def test_common_password_list_is_zxcvbns() -> None:
    assert service.password_problem("correct horse battery staple") is None
    assert service.password_problem("baseball1") == (
        service.PASSWORD_TOO_COMMON,
        "password-too-common",
    )
