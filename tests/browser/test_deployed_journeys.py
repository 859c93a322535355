"""The Chromium journey, JavaScript on and off, through the deployed stack: https from nginx,
HTTP/2, two instances on PostgreSQL and Redis, ``__Host-`` cookies, CSRF against the public
origin. The same steps and checks as against the single process (journeys.py), so any
difference is the topology's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import psycopg
import pytest

from tests.browser.audits import Audits
from tests.browser.conftest import Suite
from tests.browser.journeys import JS, NO_JS, Profile, run_and_record
from tests.deploy.conftest import RunningStack

if TYPE_CHECKING:
    from playwright.sync_api import Browser

PROFILES = tuple(Profile(f"{p.name}-through-nginx", javascript=p.javascript) for p in (NO_JS, JS))


@dataclass(frozen=True)
class DeployedServer:
    """The stack as a journey sees it: its https URL, and its PostgreSQL to read back."""

    stack: RunningStack

    @property
    def url(self) -> str:
        return self.stack.base_url

    def seed_tasks(self, email: str, password: str, titles: list[str]) -> None:
        """Add tasks through the JSON API, over https (a bearer token: no cookie, no CSRF)."""
        with self.stack.client() as client:
            answer = client.post(
                "/api/tokens",
                json={"email": email, "password": password},
                headers={"Accept": "application/json"},
            )
            assert answer.status_code == 201, answer.text
            auth = {
                "Accept": "application/json",
                "Authorization": f"Bearer {answer.json()['token']}",
            }
            for title in titles:
                created = client.post("/tasks", json={"title": title}, headers=auth)
                assert created.status_code == 201, created.text

    def tasks_of(self, email: str) -> list[tuple[str, str, bool, str | None]]:
        """The user's tasks as stored: (title, notes, done, due_on), sorted by title."""
        url = self.stack.database_url
        with psycopg.connect(url) as db:
            rows = db.execute(
                "SELECT t.title, t.notes, t.done, t.due_on FROM tasks t "
                "JOIN users u ON u.id = t.owner_id WHERE u.email = %s ORDER BY t.title, t.id",
                (email,),
            ).fetchall()
        return [
            (title, notes, bool(done), due.isoformat() if due else None)
            for title, notes, done, due in rows
        ]


@pytest.mark.parametrize("profile", PROFILES, ids=[p.name for p in PROFILES])
def test_journey_through_the_deployed_stack(
    profile: Profile, browser: Browser, stack: RunningStack, audits: Audits, suite: Suite
) -> None:
    run_and_record(browser, DeployedServer(stack), profile, audits, suite)
    with stack.client() as client:
        assert client.get("/healthz").http_version == "HTTP/2"
