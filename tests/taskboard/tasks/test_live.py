"""Live updates of the task list: by tier, from the page's own cursor, and nothing missed."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from starlette.testclient import TestClient

from tests.browser.live_server import PASSWORD, serve_taskboard
from tests.taskboard.conftest import Account, log_in
from tests.taskboard.tasks.support import JSON, csrf, make_tasks
from tiered.testing import CHROME_USER_AGENT

CHROME = {"User-Agent": CHROME_USER_AGENT}
SLOW = {**CHROME, "ECT": "2g"}  # lite: a slow network, without Save-Data
SAVE_DATA = {**CHROME, "Save-Data": "on"}
LYNX = {"User-Agent": "Lynx/2.9.0 libwww-FM/2.14 SSL-MM/1.4.1 OpenSSL/3.0.2"}
_MARKER = re.compile(r"<div hidden data-tiered-live [^>]*>")


@pytest.fixture
def logged_in(client: TestClient, alice: Account) -> Account:
    log_in(client, alice)
    return alice


def _marker(html: str) -> dict[str, str] | None:
    found = _MARKER.search(html)
    if found is None:
        return None
    return dict(re.findall(r'data-tiered-live-(\w+)="([^"]*)"', found.group(0)))


def test_the_full_tier_streams_from_the_cursor_the_page_was_rendered_at(
    client: TestClient, logged_in: Account
) -> None:
    make_tasks(client, logged_in, ["Water the plants"])
    page = client.get("/tasks", headers=CHROME).text

    marker = _marker(page)
    assert marker is not None
    assert marker["stream"] == "/tasks/live"
    assert marker["poll"] == "/tasks/live/poll"
    assert marker["interval"] == "15"
    assert marker["cursor"]
    assert marker["origin"]
    assert "/static/tiered/live." in page
    assert "/static/tiered/vendor/htmx/hx-sse." in page
    assert 'data-hx-trigger="click, tiered:live from:body">Refresh the list</a>' in page


def test_lite_polls_every_minute_and_opens_no_stream(
    client: TestClient, logged_in: Account
) -> None:
    page = client.get("/tasks", headers=SLOW).text

    marker = _marker(page)
    assert marker is not None
    assert "stream" not in marker
    assert marker["interval"] == "60"
    assert "hx-sse" not in page


@pytest.mark.parametrize("headers", [SAVE_DATA, LYNX], ids=["save-data", "lynx"])
def test_save_data_and_the_basic_version_get_a_refresh_link_and_nothing_that_runs(
    client: TestClient, logged_in: Account, headers: dict[str, str]
) -> None:
    page = client.get("/tasks?status=open", headers=headers).text

    assert _marker(page) is None
    assert "live." not in page
    assert re.search(
        r'As of <time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ">\d\d:\d\d UTC</time>\. '
        r'<a href="/tasks\?status=open">Refresh the list</a>',
        page,
    )


def test_a_change_made_after_the_page_was_rendered_is_in_its_poll(
    client: TestClient, logged_in: Account
) -> None:
    cursor = _marker(client.get("/tasks", headers=CHROME).text)["cursor"]  # type: ignore[index]
    quiet = client.get(f"/tasks/live/poll?cursor={cursor}", headers=JSON)
    assert quiet.json() == {"cursor": cursor, "events": [], "refresh": False}
    unchanged = client.get(
        f"/tasks/live/poll?cursor={cursor}",
        headers={**JSON, "If-None-Match": quiet.headers["etag"]},
    )
    assert unchanged.status_code == 304

    created = client.post(
        "/tasks",
        json={"title": "Made elsewhere"},
        headers={**JSON, "X-CSRF-Token": csrf(client), "X-Tiered-Live-Origin": "tab-one-origin"},
    )
    changed = client.get(f"/tasks/live/poll?cursor={cursor}", headers=JSON).json()

    (event,) = changed["events"]
    assert event["kind"] == "task.created"
    assert event["data"] == {"id": created.json()["id"]}
    assert event["origin"] == "tab-one-origin"  # that tab skips it: it shows its change already
    assert changed["cursor"] != cursor


def test_the_poll_and_the_stream_need_a_logged_in_user(client: TestClient) -> None:
    assert client.get("/tasks/live/poll", headers=JSON).status_code == 401
    stream = client.get("/tasks/live", headers={"Accept": "text/event-stream"})
    assert stream.status_code == 401


def test_a_page_that_asks_the_stream_for_html_gets_406_not_an_open_connection(
    client: TestClient, logged_in: Account
) -> None:
    response = client.get("/tasks/live", headers=CHROME)
    assert response.status_code == 406
    assert "Refresh link" in response.text


# --- the stream, over a real server ---------------------------------------------------------


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A served Taskboard, and a bearer token of a user who has one task."""
    with serve_taskboard(tmp_path) as live_server:
        email = "stream@example.org"
        with httpx2.Client(base_url=live_server.url, timeout=5) as http:
            signup = http.get("/signup")
            token = re.search(r'name="csrf_token" value="([^"]+)"', signup.text)
            assert token is not None
            http.post(
                "/signup",
                data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)},
            )
        live_server.seed_tasks(email, PASSWORD, ["First"])
        with httpx2.Client(base_url=live_server.url, timeout=5) as http:
            bearer = http.post("/api/tokens", json={"email": email, "password": PASSWORD})
        yield live_server.url, bearer.json()["token"]


def _messages(lines: Iterator[str], count: int) -> list[dict[str, str]]:
    """The next ``count`` SSE messages with an event, as {field: value}."""
    found: list[dict[str, str]] = []
    message: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "event" in message:
                found.append(message)
                if len(found) == count:
                    return found
            message = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(": ")
            message[field] = value
    raise AssertionError(f"the stream ended after {found}")


def test_a_client_that_reconnects_gets_every_change_it_missed_once_in_order(
    server: tuple[str, str],
) -> None:
    url, token = server
    auth = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    events = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    with httpx2.Client(base_url=url, timeout=5) as http:
        with http.stream("GET", "/tasks/live", headers=events) as first:
            lines = first.iter_lines()
            http.post("/tasks", json={"title": "One"}, headers=auth)
            (seen,) = _messages(lines, 1)
        last_id = seen["id"]
        # Disconnected: three changes happen meanwhile.
        made = [http.post("/tasks", json={"title": t}, headers=auth).json() for t in "ABC"]
        http.patch(f"/tasks/{made[0]['id']}", json={"done": True}, headers=auth)

        with http.stream(
            "GET", "/tasks/live", headers={**events, "Last-Event-ID": last_id}
        ) as again:
            missed = _messages(again.iter_lines(), 4)

    assert [(m["event"], json.loads(m["data"])["data"]["id"]) for m in missed] == [
        ("task.created", made[0]["id"]),
        ("task.created", made[1]["id"]),
        ("task.created", made[2]["id"]),
        ("task.updated", made[0]["id"]),
    ]
    assert len({m["id"] for m in missed}) == 4
