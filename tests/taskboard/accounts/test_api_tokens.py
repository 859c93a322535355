"""``POST /api/tokens`` and bearer authentication: no CSRF, hashed storage, clear 401s."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from starlette.testclient import TestClient

from taskboard.accounts.models import ApiToken
from taskboard.accounts.views import TOKEN_CANNOT_MINT
from tests.taskboard.conftest import PASSWORD, Account, db_all, db_run

JSON = {"Accept": "application/json"}

pytestmark = pytest.mark.usefixtures("fast_hashing")


def _issue(client: TestClient, **body: str) -> dict[str, object]:
    response = client.post("/api/tokens", json=body, headers=JSON)
    assert response.status_code == 201, response.text
    result: dict[str, object] = response.json()
    return result


def test_credentials_buy_a_token_without_csrf_or_cookies(
    client: TestClient, alice: Account
) -> None:
    response = client.post(
        "/api/tokens",
        json={"email": "ALICE@example.org", "password": PASSWORD, "name": "deploy"},
        headers=JSON,
    )

    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json; version=1"
    assert "set-cookie" not in response.headers
    body = response.json()
    token = body["token"]
    assert token.startswith("tb_")
    assert len(token) > 40
    (row,) = db_all(client, select(ApiToken))
    assert (body["id"], body["name"], row.user_id, row.name) == (
        row.id,
        "deploy",
        alice.user.id,
        "deploy",
    )
    assert row.token_hash != token
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert PASSWORD not in response.text


def test_a_token_without_a_name_gets_one(client: TestClient, alice: Account) -> None:
    assert _issue(client, email=alice.email, password=PASSWORD)["name"] == "API token"


@pytest.mark.parametrize("email", ["alice@example.org", "nobody@example.org"])
def test_wrong_credentials_are_a_401_that_reveals_nothing(
    client: TestClient, alice: Account, email: str
) -> None:
    response = client.post(
        "/api/tokens", json={"email": email, "password": "not the password"}, headers=JSON
    )

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    problem = response.json()
    assert (problem["code"], problem["detail"]) == (
        "bad-credentials",
        "Email or password is incorrect.",
    )
    assert db_all(client, select(ApiToken)) == []


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"password": PASSWORD}, "/email"),
        ({"email": "alice@example.org"}, "/password"),
        ({"email": "alice@example.org", "password": PASSWORD, "scope": "all"}, "/scope"),
        ({"email": "alice@example.org", "password": PASSWORD, "name": "n" * 101}, "/name"),
    ],
)
def test_bad_token_requests_are_problems_listing_the_field(
    client: TestClient, alice: Account, body: dict[str, str], pointer: str
) -> None:
    response = client.post("/api/tokens", json=body, headers=JSON)

    assert response.status_code == 422
    assert [e["pointer"] for e in response.json()["errors"]] == [pointer]
    assert db_all(client, select(ApiToken)) == []


def test_malformed_json_is_a_clear_problem(client: TestClient) -> None:
    response = client.post(
        "/api/tokens",
        content=b'{"email": ',
        headers={**JSON, "Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert response.json()["code"] == "malformed-body"


def test_a_bearer_token_authenticates_and_skips_csrf(client: TestClient, alice: Account) -> None:
    token = _issue(client, email=alice.email, password=PASSWORD)["token"]
    other = _issue(client, email=alice.email, password=PASSWORD, name="old")
    bearer = {**JSON, "Authorization": f"Bearer {token}"}

    settings = client.get("/settings", headers=bearer)
    revoked = client.post(f"/settings/tokens/{other['id']}/delete", headers=bearer)

    assert settings.status_code == 200
    assert settings.json()["email"] == "alice@example.org"
    assert sorted(t["name"] for t in settings.json()["tokens"]) == ["API token", "old"]
    assert "token_hash" not in settings.text
    assert revoked.status_code == 204
    assert "set-cookie" not in revoked.headers
    assert [t.name for t in db_all(client, select(ApiToken))] == ["API token"]


def test_a_bearer_token_cannot_make_more_tokens(client: TestClient, alice: Account) -> None:
    token = _issue(client, email=alice.email, password=PASSWORD)["token"]
    bearer = {**JSON, "Authorization": f"Bearer {token}"}

    refused = client.post("/settings/tokens", json={"name": "second"}, headers=bearer)

    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert (problem["code"], problem["detail"]) == ("password-needed", TOKEN_CANNOT_MINT)
    assert "POST /api/tokens" in problem["detail"]
    assert [t.name for t in db_all(client, select(ApiToken))] == ["API token"]


HTML_ACCEPTS = [
    None,
    "*/*",
    "text/html",
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
]


@pytest.mark.parametrize("accept", HTML_ACCEPTS)
def test_token_errors_are_json_whatever_accept_asks(
    client: TestClient, alice: Account, accept: str | None
) -> None:
    headers = {"Accept": accept} if accept else {}

    wrong = client.post(
        "/api/tokens", json={"email": alice.email, "password": "nope"}, headers=headers
    )
    invalid = client.post("/api/tokens", json={"email": alice.email}, headers=headers)
    malformed = client.post(
        "/api/tokens", content=b"{", headers={**headers, "Content-Type": "application/json"}
    )
    for _ in range(10):
        limited = client.post(
            "/api/tokens", json={"email": alice.email, "password": "nope"}, headers=headers
        )

    for response in (wrong, invalid, malformed, limited):
        assert response.headers["content-type"] == "application/problem+json", response.text
        assert response.json()["status"] == response.status_code
    if accept == "text/html":  # asks only for what this route does not have
        assert {r.status_code for r in (wrong, invalid, malformed, limited)} == {406}
        return
    assert (wrong.status_code, wrong.json()["code"]) == (401, "bad-credentials")
    assert wrong.headers["www-authenticate"].startswith("Bearer")
    assert (invalid.status_code, invalid.json()["errors"][0]["pointer"]) == (422, "/password")
    assert (malformed.status_code, malformed.json()["code"]) == (400, "malformed-body")
    assert (limited.status_code, limited.json()["code"]) == (429, "too-many-requests")
    assert int(limited.headers["retry-after"]) >= 1


def test_deeply_nested_json_is_a_400_without_a_traceback(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    body = b'{"email": "a@example.org", "password": "p", "name": ' + b"[" * 50_000 + b"]" * 50_000
    body += b"}"

    response = client.post(
        "/api/tokens", content=body, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == (
        "The JSON body nests objects and arrays more than 32 levels deep; send at most 32."
    )
    assert not any(record.exc_info for record in caplog.records)
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


@pytest.mark.parametrize("value", ["Bearer tb_not-a-real-token", "Bearer ", "bearer nope"])
def test_an_invalid_bearer_token_is_a_401_with_a_challenge(client: TestClient, value: str) -> None:
    response = client.get("/settings", headers={**JSON, "Authorization": value})

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == 'Bearer realm="taskboard", error="invalid_token"'
    assert response.json()["code"] == "invalid-token"


def test_last_use_is_written_at_most_once_a_minute(client: TestClient, alice: Account) -> None:
    token = _issue(client, email=alice.email, password=PASSWORD)["token"]
    bearer = {**JSON, "Authorization": f"Bearer {token}"}

    def last_used() -> datetime | None:
        (value,) = db_all(client, select(ApiToken.last_used_at))
        return None if value is None else value.replace(tzinfo=value.tzinfo or UTC)

    assert last_used() is None
    client.get("/settings", headers=bearer)
    first = last_used()
    client.get("/settings", headers=bearer)
    assert first is not None
    assert last_used() == first
    long_ago = datetime.now(UTC) - timedelta(minutes=5)
    db_run(client, update(ApiToken).values(last_used_at=long_ago))
    client.get("/settings", headers=bearer)
    latest = last_used()
    assert latest is not None
    assert latest > long_ago + timedelta(minutes=4)
    listed = client.get("/settings", headers=bearer).json()["tokens"][0]
    assert listed["last_used_at"] is not None
