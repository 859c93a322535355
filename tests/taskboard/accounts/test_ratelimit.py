"""The log-in rate limit: only failures count, per address and per account or device, and the
owner of an account still gets in from a browser that logged in before while someone guesses."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi import FastAPI
from httpx2 import Response
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from sqlalchemy import select
from starlette.testclient import TestClient

from taskboard.accounts.models import ApiToken, User
from taskboard.accounts.ratelimit import DEVICE_COOKIE, LoginLimiter, build_limiter
from taskboard.app import create_app
from taskboard.settings import Settings
from tests.redis_server import REDIS_URL, needs_redis, silent_redis
from tests.taskboard.conftest import PASSWORD, Account, db_all, page_csrf, submit
from tiered import ImproperlyConfigured, TooManyRequests

WRONG = "wrong password"

pytestmark = pytest.mark.usefixtures("fast_hashing")


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    """Taskboard behind a proxy it trusts, so each test names the client's address."""
    return create_app(replace(settings, trusted_proxies=("*",)))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://127.0.0.1:8000") as test_client:
        yield test_client


def log_in(client: TestClient, email: str, password: str, address: str = "203.0.113.1") -> Response:
    """A plain form log-in from ``address`` (as the proxy reports it)."""
    token = page_csrf(client)
    return client.post(
        "/login",
        data={"csrf_token": token, "email": email, "password": password},
        headers={"X-Forwarded-For": address},
        follow_redirects=False,
    )


def _fail(client: TestClient, email: str, times: int, address: str = "203.0.113.1") -> None:
    for _ in range(times):
        assert log_in(client, email, WRONG, address).status_code == 422


def test_past_the_account_limit_log_in_is_the_form_again_saying_when(
    client: TestClient, alice: Account
) -> None:
    _fail(client, alice.email, 5)

    # From a browser that never logged in to alice, even the right password waits.
    response = log_in(client, alice.email, PASSWORD, "198.51.100.7")

    assert response.status_code == 429
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    html = response.text
    # The log-in form again, the email kept, the reason in its error summary.
    assert "<h1>Log in</h1>" in html
    assert f'value="{alice.email}"' in html
    assert '<div class="error-summary"' in html
    assert re.search(
        r"Too many failed log-in attempts\. Try again in \d+ seconds \(\d\d:\d\d:\d\d UTC\)",
        html,
    )
    assert "from browsers it has not logged in from before" in html
    assert "session" not in (response.headers.get("set-cookie") or "")


def test_the_429_is_a_fragment_for_htmx_and_a_problem_for_json(
    client: TestClient, alice: Account
) -> None:
    _fail(client, alice.email, 5)
    wrong = {"email": alice.email, "password": WRONG}

    enhanced = submit(client, "enhanced", "/login", wrong)
    as_json = submit(client, "json", "/login", wrong)
    api = client.post(
        "/api/tokens",
        json={"email": alice.email, "password": PASSWORD},
        headers={"Accept": "application/json"},
    )

    assert enhanced.status_code == 429
    assert enhanced.text.startswith('<div class="problem" role="alert" id="problem"')
    assert "retry-after" in enhanced.headers
    for response in (as_json, api):
        assert response.status_code == 429
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["code"] == "too-many-requests"
        assert problem["retry_after"] == int(response.headers["retry-after"])
    assert db_all(client, select(ApiToken)) == []


def test_correct_log_ins_never_count(client: TestClient, alice: Account) -> None:
    """Behind the proxy, many people log in from one office address: none is refused."""
    for _ in range(15):
        client.cookies.clear()
        assert log_in(client, alice.email, PASSWORD, "192.0.2.50").status_code == 303


def test_the_limit_is_per_address_too(client: TestClient, alice: Account) -> None:
    """Ten failures across many emails from one address spend that address's allowance."""
    for n in range(10):
        _fail(client, f"guess{n}@example.org", 1, "203.0.113.66")

    refused = log_in(client, alice.email, PASSWORD, "203.0.113.66")
    elsewhere = log_in(client, alice.email, PASSWORD, "203.0.113.67")

    assert refused.status_code == 429
    assert "from this address" in refused.text
    assert elsewhere.status_code == 303


def test_the_owner_gets_in_from_a_known_browser_while_someone_guesses(
    client: TestClient, alice: Account
) -> None:
    first = log_in(client, alice.email, PASSWORD, "198.51.100.7")
    assert first.status_code == 303
    device = client.cookies[DEVICE_COOKIE]
    assert f"{DEVICE_COOKIE}=" in first.headers["set-cookie"]
    client.cookies.clear()

    # Someone else guesses alice's password from several addresses until the account is spent.
    for address in ("203.0.113.10", "203.0.113.11"):
        _fail(client, alice.email, 2, address)
    _fail(client, alice.email, 1, "203.0.113.12")
    assert log_in(client, alice.email, WRONG, "203.0.113.13").status_code == 429
    assert log_in(client, alice.email, PASSWORD, "203.0.113.14").status_code == 429

    client.cookies.clear()
    client.cookies.set(DEVICE_COOKIE, device)
    owner = log_in(client, alice.email, PASSWORD, "198.51.100.7")

    assert owner.status_code == 303
    assert owner.headers["location"] == "/tasks"


def test_a_device_cookie_that_fails_too_often_is_refused_too(
    client: TestClient, alice: Account
) -> None:
    assert log_in(client, alice.email, PASSWORD).status_code == 303
    client.post("/logout", data={"csrf_token": page_csrf(client, "/logout")})

    _fail(client, alice.email, 5, "198.51.100.8")
    refused = log_in(client, alice.email, PASSWORD, "198.51.100.8")

    assert refused.status_code == 429
    assert "from this browser to this account" in refused.text


def test_a_device_cookie_for_another_account_or_forged_counts_for_nothing(
    client: TestClient, alice: Account, bob: Account
) -> None:
    assert log_in(client, bob.email, PASSWORD).status_code == 303
    bobs_device = client.cookies[DEVICE_COOKIE]
    client.cookies.clear()
    _fail(client, alice.email, 5, "203.0.113.20")

    for cookie in (bobs_device, "forged.value"):
        client.cookies.clear()
        client.cookies.set(DEVICE_COOKIE, cookie)
        assert log_in(client, alice.email, PASSWORD, "198.51.100.9").status_code == 429


def test_the_limits_come_from_the_settings(settings: Settings) -> None:
    limiter = build_limiter(replace(settings, login_failures_per_account="2/hour;30/day"))

    assert [(i.amount, i.GRANULARITY.name) for i in limiter.limits["account"]] == [
        (2, "hour"),
        (30, "day"),
    ]
    assert isinstance(limiter.storage, MemoryStorage)
    with pytest.raises(ImproperlyConfigured, match="login_failures_per_address = 'lots'"):
        build_limiter(replace(settings, login_failures_per_address="lots"))
    with pytest.raises(ImproperlyConfigured, match="not a Redis URL"):
        build_limiter(replace(settings, redis_url="memcached://localhost"))


async def _exercise(limiter: LoginLimiter, prefix: str) -> None:
    """Failures count per address and per account; a device is counted on its own."""
    account, other = f"{prefix}a@example.org", f"{prefix}b@example.org"
    here, there, elsewhere = f"{prefix}-1", f"{prefix}-2", f"{prefix}-3"
    device = limiter.device(account, limiter.issue_device(account))
    assert device is not None
    for _ in range(3):
        await limiter.check(account, here, None)
        await limiter.failed(account, here, None)
    with pytest.raises(TooManyRequests) as raised:
        await limiter.check(account, there, None)  # the account is spent, from any address
    assert 1 <= raised.value.retry_after_seconds <= 60
    await limiter.check(account, there, device)  # but not for the owner's browser
    with pytest.raises(TooManyRequests):
        await limiter.check(other, here, None)  # and the address is spent, for any account
    await limiter.check(other, elsewhere, None)


def _limiter(storage: Storage) -> LoginLimiter:
    return LoginLimiter(
        storage,
        secret_key="k" * 40,
        per_address="3/minute",
        per_account="3/minute",
        per_device="3/minute",
    )


@pytest.mark.anyio
async def test_failures_count_per_account_and_per_address_in_memory() -> None:
    await _exercise(_limiter(MemoryStorage()), "mem")


@pytest.mark.anyio
async def test_a_redis_that_does_not_answer_falls_back_to_memory(settings: Settings) -> None:
    with silent_redis() as url:
        limiter = build_limiter(replace(settings, redis_url=url))
        limiter = LoginLimiter(
            limiter.storage, secret_key="k" * 40, per_address="3/minute", per_account="3/minute"
        )
        await _exercise(limiter, "down")


@pytest.mark.anyio
@needs_redis
async def test_attempts_are_shared_through_redis_when_configured(settings: Settings) -> None:
    limiter = build_limiter(replace(settings, redis_url=REDIS_URL))
    assert isinstance(limiter.storage, RedisStorage)
    limiter = _limiter(limiter.storage)
    # A second limiter on the same Redis (another process, say) sees the same counts.
    twin = _limiter(limiter.storage)
    prefix = uuid.uuid4().hex[:8]
    try:
        await _exercise(limiter, prefix)
        with pytest.raises(TooManyRequests):
            await twin.check(f"{prefix}b@example.org", f"{prefix}-1", None)
    finally:  # the keys are the run's own (its prefix) and expire within the minute
        await limiter.aclose()


# --- sign-up ------------------------------------------------------------------------------------

GOOD_PASSWORD = "plum tractor violin"


def _sign_up(client: TestClient, token: str, email: str, address: str) -> Response:
    return client.post(
        "/signup",
        data={"csrf_token": token, "email": email, "password": GOOD_PASSWORD},
        headers={"X-Forwarded-For": address},
        follow_redirects=False,
    )


def test_sign_ups_past_the_address_limit_are_a_429_whatever_the_email(
    client: TestClient, alice: Account
) -> None:
    token = page_csrf(client, "/signup")
    here = "203.0.113.7"
    answers = [_sign_up(client, token, f"new{i}@example.org", here) for i in range(9)]
    answers.append(_sign_up(client, token, alice.email, here))  # "has an account": it counts

    taken = _sign_up(client, token, alice.email, here)
    new = _sign_up(client, token, "another@example.org", here)
    elsewhere = _sign_up(client, token, "elsewhere@example.org", "198.51.100.7")

    assert [a.status_code for a in answers] == [303] * 9 + [422]
    for refused in (taken, new):
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert re.search(
            r"Too many sign-ups from this address\. Try again in \d+ seconds \(\d\d:\d\d:\d\d "
            r"UTC\)\.",
            refused.text,
        )
    # The same answer for an email with an account as for one without.
    # What differs is what the person typed (kept in the form), never what the server knows.
    varying = re.compile(
        r'[0-9a-f]{16}|\d+ seconds|\d\d:\d\d:\d\d|="[A-Za-z0-9._-]{20,}"|value="[^"]+@example\.org"'
    )
    assert varying.sub("", taken.text) == varying.sub("", new.text)
    assert elsewhere.status_code == 303
    assert sorted(db_all(client, select(User.email))) == sorted(
        [alice.email, "elsewhere@example.org", *(f"new{i}@example.org" for i in range(9))]
    )


def test_a_sign_up_refused_for_its_shape_tells_nothing_and_does_not_count(
    client: TestClient,
) -> None:
    token = page_csrf(client, "/signup")
    here = "203.0.113.9"
    for i in range(12):
        refused = client.post(
            "/signup",
            data={"csrf_token": token, "email": f"s{i}@example.org", "password": "short"},
            headers={"X-Forwarded-For": here},
        )
        assert refused.status_code == 422

    assert _sign_up(client, token, "fits@example.org", here).status_code == 303


def test_a_429_sign_up_is_a_problem_for_json(client: TestClient) -> None:
    token = page_csrf(client, "/signup")
    headers = {
        "X-Forwarded-For": "203.0.113.8",
        "X-CSRF-Token": token,
        "Accept": "application/json",
    }
    for i in range(10):
        client.post(
            "/signup",
            json={"email": f"j{i}@example.org", "password": GOOD_PASSWORD},
            headers=headers,
        )

    refused = client.post(
        "/signup", json={"email": "j99@example.org", "password": GOOD_PASSWORD}, headers=headers
    )

    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "too-many-requests"
    assert "j99@example.org" not in db_all(client, select(User.email))


async def _exercise_sign_ups(limiter: LoginLimiter, twin: LoginLimiter, prefix: str) -> None:
    """Sign-ups count per address, in the store the log-in limits use, seen by every limiter."""
    here, there = f"{prefix}-s1", f"{prefix}-s2"
    for _ in range(2):
        await limiter.check_signup(here)
        await limiter.signed_up(here)
    with pytest.raises(TooManyRequests) as raised:
        await twin.check_signup(here)
    assert "Too many sign-ups from this address." in str(raised.value.detail)
    await twin.check_signup(there)
    await limiter.check(f"{prefix}@example.org", here, None)  # log-ins are counted apart


def _signup_limiter(storage: Storage) -> LoginLimiter:
    return LoginLimiter(storage, secret_key="k" * 40, signups_per_address="2/minute")


@pytest.mark.anyio
async def test_sign_ups_count_per_address_in_memory() -> None:
    limiter = _signup_limiter(MemoryStorage())
    await _exercise_sign_ups(limiter, limiter, "mem")


@pytest.mark.anyio
@needs_redis
async def test_sign_ups_are_counted_in_the_log_in_limits_redis(settings: Settings) -> None:
    storage = build_limiter(replace(settings, redis_url=REDIS_URL)).storage
    assert isinstance(storage, RedisStorage)
    limiter, twin = _signup_limiter(storage), _signup_limiter(storage)
    try:
        await _exercise_sign_ups(limiter, twin, uuid.uuid4().hex[:8])
    finally:
        await limiter.aclose()


def test_the_sign_up_limit_defaults_to_ten_a_minute_and_thirty_an_hour(
    settings: Settings,
) -> None:
    limiter = build_limiter(settings)

    assert [(i.amount, i.GRANULARITY.name) for i in limiter.limits["signup"]] == [
        (10, "minute"),
        (30, "hour"),
    ]
    with pytest.raises(ImproperlyConfigured, match="signups_per_address = 'often'"):
        LoginLimiter(MemoryStorage(), secret_key="k" * 40, signups_per_address="often")
