"""A NUL in what anyone submits is a 422 naming the field, never a 500 from PostgreSQL.

The battery's reproduction: a NUL byte in the log-in email, sent by anyone, was a 500 on
PostgreSQL (its text cannot hold one). Every way of sending it, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from taskboard.accounts.models import ApiToken, User
from tests.taskboard.conftest import PASSWORD, WAYS, Account, db_all, submit

pytestmark = pytest.mark.usefixtures("fast_hashing")

MESSAGE = (
    "Your email contains a character that cannot be stored (U+0000, NUL); remove it and send "
    "the form again."
)


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("path", ["/login", "/signup"])
def test_a_nul_in_the_email_is_a_422_naming_the_field(
    client: TestClient, alice: Account, caplog: pytest.LogCaptureFixture, way: str, path: str
) -> None:
    response = submit(
        client, way, path, {"email": "alice@example.org\x00", "password": PASSWORD}, page=path
    )

    assert response.status_code == 422
    if way == "json":
        (error,) = response.json()["errors"]
        assert (error["pointer"], error["field"], error["detail"], error["code"]) == (
            "/email",
            "email",
            MESSAGE,
            "text-unstorable",
        )
    else:
        assert f'<a href="#field-email">{MESSAGE}</a>' in response.text
        assert 'value="alice@example.org\ufffd"' in response.text
        assert "\x00" not in response.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert db_all(client, select(User.email)) == ["alice@example.org"]


def test_a_nul_in_a_token_request_is_a_422_problem(client: TestClient, alice: Account) -> None:
    response = client.post(
        "/api/tokens",
        json={"email": alice.email, "password": PASSWORD, "name": "ci\x00"},
        headers={"Accept": "application/json"},
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/name"
    assert db_all(client, select(ApiToken)) == []
