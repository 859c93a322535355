"""LiveStreams over HTTP, on a real server: the event stream, its caps, and the poll."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx2
import pytest

from tests.tiered.live.serving import (
    EventStream,
    LiveApp,
    build_live_app,
    cursor_of,
    event_lines,
    publish,
    serve,
)
from tiered.live import LiveSettings, MemoryLiveBus
from tiered.live.limits import SERVER_FULL, TOO_MANY_FOR_KEY


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(clock: Clock) -> LiveApp:
    settings = LiveSettings(
        heartbeat_seconds=0.2, max_streams_per_key=1, max_streams=2, max_stream_seconds=0
    )
    return build_live_app(MemoryLiveBus(retention_seconds=60, clock=clock), settings)


@pytest.fixture
def client(app: LiveApp) -> Iterator[httpx2.Client]:
    with (
        serve(app.app) as url,
        httpx2.Client(base_url=url, timeout=3, headers={"Accept": "text/event-stream"}) as client,
    ):
        yield client


def wait_for_open_streams(app: LiveApp, count: int) -> None:
    """Until the server has noticed its streams opening or closing (it runs in another thread)."""
    deadline = time.monotonic() + 3
    while app.live.limits.open != count:
        assert time.monotonic() < deadline, f"{app.live.limits.open} streams open, not {count}"
        time.sleep(0.01)


def test_a_stream_starts_with_retry_then_its_position_then_heartbeats(
    client: httpx2.Client,
) -> None:
    now = cursor_of(client, "ada")
    with client.stream("GET", "/users/ada/live") as response:
        stream = EventStream(response)
        first, second, third, fourth = stream.messages(4)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-accel-buffering"] == "no"
    assert "content-length" not in response.headers
    assert first == ["retry: 3000"]
    assert second == [f"id: {now}"]
    assert third == fourth == [": keep-alive"]


def test_last_event_id_resumes_with_exactly_the_missed_events_then_live_ones(
    client: httpx2.Client,
) -> None:
    ids = [publish(client, "ada", task) for task in (1, 2, 3)]
    with client.stream("GET", "/users/ada/live", headers={"Last-Event-ID": ids[0]}) as response:
        stream = EventStream(response)
        retry, second, third = stream.messages(3)
        live_id = publish(client, "ada", 4)
        live = stream.message()

    assert retry == ["retry: 3000"]
    assert [second, third] == [event_lines(ids[1], 2), event_lines(ids[2], 3)]
    assert live == event_lines(live_id, 4)


def test_the_pages_cursor_selects_the_start_and_last_event_id_wins(
    app: LiveApp, client: httpx2.Client
) -> None:
    rendered = cursor_of(client, "ada")
    first, second = publish(client, "ada", 1), publish(client, "ada", 2)

    with client.stream("GET", f"/users/ada/live?cursor={rendered}") as response:
        from_page = EventStream(response).messages(3)[1:]
    wait_for_open_streams(app, 0)  # one stream per user in this app
    with client.stream(
        "GET", f"/users/ada/live?cursor={rendered}", headers={"Last-Event-ID": first}
    ) as response:
        resumed = EventStream(response).messages(2)[1:]

    assert from_page == [event_lines(first, 1), event_lines(second, 2)]
    assert resumed == [event_lines(second, 2)]


def test_a_cursor_past_the_window_gets_a_refresh_event(client: httpx2.Client, clock: Clock) -> None:
    rendered = cursor_of(client, "ada")
    publish(client, "ada", 1)
    clock.now += 120  # past the 60 s window
    publish(client, "ada", 2)  # the first event leaves
    now = cursor_of(client, "ada")

    with client.stream("GET", f"/users/ada/live?cursor={rendered}") as response:
        refresh = EventStream(response).messages(2)[1]

    assert refresh == [f"id: {now}", "event: refresh", 'data: {"data":{},"origin":null}']


def test_a_stream_carries_the_origin_of_the_page_that_made_the_change(
    client: httpx2.Client,
) -> None:
    with client.stream("GET", "/users/ada/live") as response:
        stream = EventStream(response)
        stream.messages(2)
        event_id = publish(client, "ada", 7, origin="page-a1")
        message = stream.message()

    assert message == event_lines(event_id, 7, origin="page-a1")


def test_over_a_users_cap_a_stream_is_refused_429_with_retry_after(
    app: LiveApp, client: httpx2.Client
) -> None:
    with client.stream("GET", "/users/ada/live") as open_stream:
        held = EventStream(open_stream)  # kept: dropping the reader would close the stream
        held.message()
        as_json = client.get(
            "/users/ada/live", headers={"Accept": "application/json, text/event-stream"}
        )
        as_html = client.get("/users/ada/live", headers={"Accept": "text/html, text/event-stream"})

    assert as_json.status_code == as_html.status_code == 429
    assert as_json.headers["retry-after"] == as_html.headers["retry-after"] == "10"
    assert as_json.headers["content-type"] == "application/problem+json"
    assert as_json.json()["code"] == "too-many-requests"
    assert as_json.json()["detail"] == TOO_MANY_FOR_KEY.format(count=1, seconds=10)
    assert as_html.headers["content-type"].startswith("text/html")
    assert "Too many attempts" in as_html.text


def test_over_the_process_cap_a_stream_is_refused_503_with_retry_after(
    app: LiveApp, client: httpx2.Client
) -> None:
    with (
        client.stream("GET", "/users/ada/live") as ada,
        client.stream("GET", "/users/bob/live") as bob,
    ):
        held = [EventStream(ada), EventStream(bob)]
        for stream in held:
            stream.message()
        refused = client.get(
            "/users/cy/live", headers={"Accept": "application/json, text/event-stream"}
        )

    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "10"
    assert refused.json()["code"] == "service-unavailable"
    assert refused.json()["detail"] == SERVER_FULL.format(count=2, seconds=10)


def test_a_stream_the_client_closed_frees_its_place(app: LiveApp, client: httpx2.Client) -> None:
    with client.stream("GET", "/users/ada/live") as response:
        held = EventStream(response)
        held.message()
        wait_for_open_streams(app, 1)
    wait_for_open_streams(app, 0)

    with client.stream("GET", "/users/ada/live") as again:
        assert again.status_code == 200


def test_closing_the_bus_ends_open_streams_at_once(app: LiveApp, client: httpx2.Client) -> None:
    with client.stream("GET", "/users/ada/live") as response:
        stream = EventStream(response)
        stream.messages(2)
        started = time.monotonic()
        client.post("/shutdown", headers={"Authorization": "Bearer test"})
        ended = stream.ended()
        took = time.monotonic() - started
    refused = client.get(
        "/users/ada/live", headers={"Accept": "application/json, text/event-stream"}
    )

    assert ended
    assert took < 1
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "5"
    wait_for_open_streams(app, 0)


def test_polling_without_a_cursor_gives_the_cursor_now(client: httpx2.Client) -> None:
    publish(client, "ada", 1)
    now = cursor_of(client, "ada")

    answer = client.get("/users/ada/live/poll")

    assert answer.status_code == 200
    assert answer.json() == {"cursor": now, "events": [], "refresh": False}
    assert answer.headers["etag"] == f'"{now}"'
    assert answer.headers["cache-control"] == "private, no-cache"
    assert answer.headers["vary"] == "Cookie, Authorization"
    assert answer.headers["content-type"] == "application/json"


def test_polling_while_nothing_changes_answers_304_to_if_none_match(
    client: httpx2.Client,
) -> None:
    cursor = cursor_of(client, "ada")

    unconditional = client.get(f"/users/ada/live/poll?cursor={cursor}")
    conditional = client.get(
        f"/users/ada/live/poll?cursor={cursor}",
        headers={"If-None-Match": unconditional.headers["etag"]},
    )

    assert unconditional.status_code == 200
    assert unconditional.json() == {"cursor": cursor, "events": [], "refresh": False}
    assert conditional.status_code == 304
    assert conditional.content == b""
    assert conditional.headers["etag"] == f'"{cursor}"'
    assert conditional.headers["cache-control"] == "private, no-cache"
    assert conditional.headers["vary"] == "Cookie, Authorization"


def test_polling_lists_what_happened_and_moves_the_cursor(client: httpx2.Client) -> None:
    cursor = cursor_of(client, "ada")
    first = publish(client, "ada", 1, origin="page-a1")
    second = publish(client, "ada", 2)

    answer = client.get(
        f"/users/ada/live/poll?cursor={cursor}", headers={"If-None-Match": f'"{cursor}"'}
    )

    assert answer.status_code == 200
    assert answer.json() == {
        "cursor": second,
        "events": [
            {"id": first, "kind": "task.updated", "data": {"id": 1}, "origin": "page-a1"},
            {"id": second, "kind": "task.updated", "data": {"id": 2}, "origin": None},
        ],
        "refresh": False,
    }
    assert answer.headers["etag"] == f'"{second}"'


def test_polling_from_a_stale_cursor_asks_for_a_refresh(client: httpx2.Client) -> None:
    now = cursor_of(client, "ada")

    answer = client.get('/users/ada/live/poll?cursor=not"a-cursor', headers={"If-None-Match": "*"})

    assert answer.status_code == 200
    assert answer.json() == {"cursor": now, "events": [], "refresh": True}
    assert answer.headers["etag"] == f'"{now}"'


@pytest.mark.parametrize(
    "accept", [None, "*/*", "text/html,application/xhtml+xml,*/*;q=0.8", "text/event-stream;q=0"]
)
def test_a_client_that_did_not_ask_for_events_gets_406_not_an_endless_response(
    app: LiveApp, client: httpx2.Client, accept: str | None
) -> None:
    headers = {"Accept": accept} if accept is not None else {"Accept": ""}
    response = client.get("/users/ada/live", headers=headers)

    assert response.status_code == 406
    assert "Accept: text/event-stream" in response.text
    wait_for_open_streams(app, 0)


def test_htmx_s_extension_asks_for_events_with_html_first(
    app: LiveApp, client: httpx2.Client
) -> None:
    with client.stream(
        "GET", "/users/ada/live", headers={"Accept": "text/html, text/event-stream"}
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
