"""The log-in rate limit: 429, Retry-After and a page that says when; per account and address."""

from __future__ import annotations

import os
import re
import socket
import uuid
from dataclasses import replace
from urllib.parse import urlsplit

import pytest
from limits.aio.storage import MemoryStorage, RedisStorage
from sqlalchemy import select
from starlette.testclient import TestClient

from taskboard.accounts.models import ApiToken
from taskboard.accounts.ratelimit import NAMESPACE, LoginLimiter, build_limiter
from taskboard.settings import Settings
from tests.taskboard.conftest import PASSWORD, Account, db_all, submit
from tiered import ImproperlyConfigured, TooManyRequests

WRONG = {"email": "alice@example.org", "password": "wrong password"}

pytestmark = pytest.mark.usefixtures("fast_hashing")


def _fail_five_times(client: TestClient) -> None:
    for _ in range(5):
        assert submit(client, "form", "/login", WRONG).status_code == 422


def test_past_the_limit_log_in_is_a_429_page_that_says_when(
    client: TestClient, alice: Account
) -> None:
    _fail_five_times(client)

    # Even the right password is refused until the window has moved on.
    response = submit(client, "form", "/login", {"email": alice.email, "password": PASSWORD})

    assert response.status_code == 429
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    html = response.text
    assert "<h1>Too many attempts</h1>" in html
    assert re.search(
        r"Too many log-in attempts\. Try again in \d+ seconds \(\d\d:\d\d:\d\d UTC\)", html
    )
    assert "session" not in (response.headers.get("set-cookie") or "")


def test_the_429_is_a_fragment_for_htmx_and_a_problem_for_json(
    client: TestClient, alice: Account
) -> None:
    _fail_five_times(client)

    enhanced = submit(client, "enhanced", "/login", WRONG)
    as_json = submit(client, "json", "/login", WRONG)
    api = client.post(
        "/api/tokens",
        json={"email": alice.email, "password": PASSWORD},
        headers={"Accept": "application/json"},
    )

    assert enhanced.status_code == 429
    assert enhanced.text.startswith('<div class="problem" role="alert" id="problem"')
    assert "Retry-After" in enhanced.headers or "retry-after" in enhanced.headers
    for response in (as_json, api):
        assert response.status_code == 429
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["code"] == "too-many-requests"
        assert problem["retry_after"] == int(response.headers["retry-after"])
    assert db_all(client, select(ApiToken)) == []


def test_the_limit_is_per_address_too(client: TestClient, alice: Account) -> None:
    """Five different emails from one address use up that address's attempts."""
    for n in range(5):
        fields = {"email": f"guess{n}@example.org", "password": "wrong password"}
        assert submit(client, "form", "/login", fields).status_code == 422

    response = submit(client, "form", "/login", {"email": alice.email, "password": PASSWORD})

    assert response.status_code == 429


def test_the_limit_comes_from_the_settings(settings: Settings) -> None:
    limiter = build_limiter(replace(settings, login_attempts="2/hour"))

    assert (limiter.item.amount, limiter.item.GRANULARITY.name) == (2, "hour")
    assert isinstance(limiter.storage, MemoryStorage)
    with pytest.raises(ImproperlyConfigured, match="'lots'"):
        build_limiter(replace(settings, login_attempts="lots"))
    with pytest.raises(ImproperlyConfigured, match="not a Redis URL"):
        build_limiter(replace(settings, redis_url="memcached://localhost"))


async def _exercise(limiter: LoginLimiter, prefix: str) -> None:
    """Per account and per address, and a success clears only the account's count."""
    account, other = f"{prefix}a@example.org", f"{prefix}b@example.org"
    here, there, elsewhere = f"{prefix}-1", f"{prefix}-2", f"{prefix}-3"
    for _ in range(3):
        await limiter.attempt(account, here)
    with pytest.raises(TooManyRequests) as raised:
        await limiter.attempt(account, there)  # the account is spent, from any address
    assert 1 <= raised.value.retry_after_seconds <= 60
    with pytest.raises(TooManyRequests):
        await limiter.attempt(other, here)  # and so is the address, for any account
    await limiter.attempt(other, elsewhere)

    await limiter.succeeded(account)
    await limiter.attempt(account, elsewhere)  # the account's count starts afresh


@pytest.mark.anyio
async def test_attempts_count_per_account_and_per_address_in_memory() -> None:
    await _exercise(LoginLimiter("3/minute", MemoryStorage()), "mem")


REDIS_URL = os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
"""The Redis that .ci/run starts (TEST_REDIS_URL), else the usual local one."""


def _redis_up() -> bool:
    address = urlsplit(REDIS_URL)
    try:
        socket.create_connection((address.hostname, address.port or 6379), timeout=0.5).close()
    except OSError:
        return False
    return True


@pytest.mark.anyio
@pytest.mark.skipif(not _redis_up(), reason=f"no Redis at {REDIS_URL}")
async def test_attempts_are_shared_through_redis_when_configured(settings: Settings) -> None:
    limiter = build_limiter(replace(settings, redis_url=REDIS_URL))
    assert isinstance(limiter.storage, RedisStorage)
    limiter = LoginLimiter("3/minute", limiter.storage)
    # A second limiter on the same Redis (another process, say) sees the same counts.
    twin = LoginLimiter("3/minute", limiter.storage)
    prefix = uuid.uuid4().hex[:8]
    try:
        await _exercise(limiter, prefix)
        with pytest.raises(TooManyRequests):
            await twin.attempt(f"{prefix}b@example.org", f"{prefix}-1")
    finally:
        for kind, value in [("account", f"{prefix}{x}@example.org") for x in "ab"] + [
            ("address", f"{prefix}-{n}") for n in (1, 2, 3)
        ]:
            await limiter.storage.clear(limiter.item.key_for(NAMESPACE, kind, value))
        await limiter.aclose()
