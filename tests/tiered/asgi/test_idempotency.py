"""Submitting the same form twice creates one thing: repeats get the first response."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx2
import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

import tiered
from tests.conftest import NotesApp, build_notes_app, hidden_value
from tests.redis_server import REDIS_URL, needs_redis, silent_redis
from tests.tcp_proxy import PausableProxy
from tiered.asgi.idempotency import KEY_IN_FLIGHT, KEY_REUSED
from tiered.core.errors import IdempotencyKeyInFlight, IdempotencyKeyReused
from tiered.core.forms import FORM_SENT_WITH_OTHER_VALUES
from tiered.testing import csrf_token


def test_resubmitting_a_form_with_the_same_key_creates_once(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)
    page = client.get("/notes").text
    form = {
        "csrf_token": csrf_token(page),
        "idempotency_key": hidden_value(page, "idempotency_key"),
        "title": "Milk",
    }

    first = client.post("/notes", data=form, follow_redirects=False)
    second = client.post("/notes", data=form, follow_redirects=False)

    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"] == "/notes/1"
    assert [n.title for n in notes_app.notes] == ["Milk"]
    assert notes_app.calls == 1


def test_each_form_render_has_its_own_key(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)
    keys = {hidden_value(client.get("/notes").text, "idempotency_key") for _ in range(3)}

    assert len(keys) == 3


def test_api_clients_use_the_idempotency_key_header(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)
    headers = {
        "Accept": "application/json",
        "Authorization": "Bearer abc",
        "Idempotency-Key": "order-17",
    }

    first = client.post("/notes", json={"title": "Eggs"}, headers=headers)
    second = client.post("/notes", json={"title": "Eggs"}, headers=headers)

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json() == {"id": 1, "title": "Eggs", "count": 1}
    assert second.headers["location"] == "/notes/1"
    assert second.headers["content-type"] == "application/json"
    assert notes_app.calls == 1


def test_keys_belong_to_their_token(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)

    for token in ("alice", "bob"):
        response = client.post(
            "/notes",
            json={"title": token},
            headers={
                "Accept": "application/json",
                "Authorization": f"Bearer {token}",
                "Idempotency-Key": "same-key",
            },
        )
        assert response.status_code == 201

    assert [n.title for n in notes_app.notes] == ["alice", "bob"]


def test_a_failed_submission_can_be_sent_again(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)
    headers = {"Accept": "application/json", "Authorization": "Bearer a", "Idempotency-Key": "k1"}

    refused = client.post("/notes", json={"title": "taken"}, headers=headers)
    accepted = client.post("/notes", json={"title": "Fine"}, headers=headers)

    assert refused.status_code == 422
    assert accepted.status_code == 201
    assert [n.title for n in notes_app.notes] == ["Fine"]


def test_two_concurrent_submissions_with_one_key_create_once(notes_app: NotesApp) -> None:
    responses: list[httpx2.Response] = []

    async def main() -> None:
        transport = httpx2.ASGITransport(app=notes_app.app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as client:
            page = (await client.get("/notes")).text
            form = {
                "csrf_token": csrf_token(page),
                "idempotency_key": hidden_value(page, "idempotency_key"),
                "title": "slow",  # the handler waits, so the second arrives while it runs
            }

            async def submit() -> None:
                responses.append(await client.post("/notes", data=form))

            async with anyio.create_task_group() as group:
                group.start_soon(submit)
                group.start_soon(submit)

    anyio.run(main)

    assert [r.status_code for r in responses] == [303, 303]
    assert {r.headers["location"] for r in responses} == {"/notes/1"}
    assert [n.title for n in notes_app.notes] == ["slow"]
    assert notes_app.calls == 1


def test_every_form_of_a_page_has_its_own_key(tmp_path: Path) -> None:
    (tmp_path / "forms.html").write_text(
        '{% extends "tiered/layout.html" %}{% block main %}'
        '{% for n in range(3) %}<form method="post">{{ form_guard() }}</form>{% endfor %}'
        "{% endblock %}",
        encoding="utf-8",
    )
    app = FastAPI()
    tiered.install(app, tiered.TieredSettings(debug=True), template_dirs=(str(tmp_path),))

    @app.get("/")
    @tiered.view("forms.html")
    async def forms() -> dict[str, str]:
        return {}

    client = TestClient(app)
    pages = [client.get("/").text for _ in range(2)]
    keys = [k for page in pages for k in re.findall(r'name="idempotency_key" value="(\w+)"', page)]
    # Each form's token: what each chunk up to a </form> carries.
    tokens = [{csrf_token(form) for form in page.split("</form>")[:-1]} for page in pages]

    assert len(keys) == len(set(keys)) == 6
    assert [len(page_tokens) for page_tokens in tokens] == [1, 1]  # one per response, for 3 forms
    assert tokens[0] != tokens[1]


def _instance(tmp_path: Path, name: str, prefix: str) -> NotesApp:
    """One instance of the notes app, with its keys in the shared Redis."""
    folder = tmp_path / name
    folder.mkdir()
    notes = build_notes_app(folder)
    runtime = notes.app.state.tiered
    runtime.idempotency = tiered.RedisIdempotencyStore(REDIS_URL, prefix=prefix)
    return notes


@needs_redis
def test_one_key_posted_to_two_instances_creates_once(tmp_path: Path) -> None:
    prefix = f"test:{uuid.uuid4().hex}"
    first_app, second_app = _instance(tmp_path, "a", prefix), _instance(tmp_path, "b", prefix)
    headers = {"Accept": "application/json", "Authorization": "Bearer abc", "Idempotency-Key": "k1"}

    with TestClient(first_app.app) as one, TestClient(second_app.app) as two:
        first = one.post("/notes", json={"title": "Eggs"}, headers=headers)
        second = two.post("/notes", json={"title": "Eggs"}, headers=headers)

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json() == {"id": 1, "title": "Eggs", "count": 1}
    assert second.headers["location"] == "/notes/1"
    assert (first_app.calls, second_app.calls) == (1, 0)


@needs_redis
@pytest.mark.anyio
async def test_a_repeat_waits_for_the_first_instance_to_finish() -> None:
    prefix = f"test:{uuid.uuid4().hex}"
    first = tiered.RedisIdempotencyStore(REDIS_URL, prefix=prefix, poll_seconds=0.01)
    second = tiered.RedisIdempotencyStore(REDIS_URL, prefix=prefix, poll_seconds=0.01)
    kept = tiered.StoredResponse(303, (("location", "/notes/1"),), b"")
    try:
        assert await first.claim("k", 60) is None
        async with anyio.create_task_group() as tasks:
            waited: list[tiered.StoredResponse | None] = []

            async def repeat() -> None:
                waited.append(await second.claim("k", 60))

            tasks.start_soon(repeat)
            await anyio.sleep(0.05)
            assert waited == []  # still waiting for the first
            await first.complete("k", kept, 60)
        assert waited == [kept]

        assert await first.claim("failed", 60) is None
        await first.release("failed")
        assert await second.claim("failed", 60) is None  # a failed first try frees the key
    finally:
        await first.aclose()
        await second.aclose()


@pytest.mark.anyio
async def test_a_redis_that_does_not_answer_falls_back_to_this_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with silent_redis() as url:
        store = tiered.RedisIdempotencyStore(url, timeout_seconds=0.2)
        kept = tiered.StoredResponse(201, (), b"{}")
        with anyio.fail_after(3):
            assert await store.claim("k", 60) is None
            await store.complete("k", kept, 60)
            assert await store.claim("k", 60) == kept  # remembered in memory meanwhile
        await store.aclose()
    assert "duplicate submissions are caught within each process only" in caplog.text


@needs_redis
@pytest.mark.anyio
async def test_a_stalled_redis_is_left_and_used_again_once_it_answers() -> None:
    address = urlsplit(REDIS_URL)
    with PausableProxy(address.hostname or "127.0.0.1", address.port or 6379) as proxy:
        store = tiered.RedisIdempotencyStore(
            f"redis://127.0.0.1:{proxy.port}{address.path}",
            prefix=f"test:{uuid.uuid4().hex}",
            timeout_seconds=0.3,
            cooldown_seconds=0.5,
        )
        first = tiered.StoredResponse(303, (("location", "/notes/1"),), b"")
        second = tiered.StoredResponse(303, (("location", "/notes/2"),), b"")
        try:
            assert await store.claim("before", 60) is None
            await store.complete("before", first, 60)

            proxy.pause()
            with anyio.fail_after(2):  # never the stall's length: the store's own timeout
                assert await store.claim("during", 60) is None
                await store.complete("during", second, 60)
                assert await store.claim("during", 60) == second  # held in memory meanwhile

            proxy.resume()
            await anyio.sleep(0.6)  # past the cool-down
            with anyio.fail_after(2):
                assert await store.claim("before", 60) == first  # Redis's answer again
        finally:
            await store.aclose()


# --- the IETF draft: another payload is a 422, a key still in flight a 409 ---------------------

API_KEY = {"Accept": "application/json", "Authorization": "Bearer abc", "Idempotency-Key": "k-1"}


def test_the_same_key_with_another_body_is_a_422_that_says_how_long_keys_last(
    notes_app: NotesApp,
) -> None:
    client = TestClient(notes_app.app)

    first = client.post("/notes", json={"title": "Eggs"}, headers=API_KEY)
    other = client.post("/notes", json={"title": "Milk"}, headers=API_KEY)
    again = client.post("/notes", json={"title": "Eggs"}, headers=API_KEY)

    assert first.status_code == again.status_code == 201
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    problem = other.json()
    assert problem["code"] == "idempotency-key-reused"
    assert problem["detail"] == KEY_REUSED.format(key="k-1", ttl="1 day (86,400 seconds)")
    assert "for 1 day (86,400 seconds) after its first use" in problem["detail"]
    assert problem["key_ttl_seconds"] == 86_400
    assert [n.title for n in notes_app.notes] == ["Eggs"]


def test_the_same_key_on_another_path_or_method_is_not_a_replay(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)

    client.post("/notes", json={"title": "Eggs"}, headers=API_KEY)
    elsewhere = client.post("/notes?x=1", json={"title": "Eggs"}, headers=API_KEY)

    assert elsewhere.status_code == 201  # the query is not the path: a replay
    assert elsewhere.json() == {"id": 1, "title": "Eggs", "count": 1}
    assert notes_app.calls == 1


def _concurrently(
    app: FastAPI, *requests: dict[str, Any], cookies_from: str | None = None
) -> tuple[list[httpx2.Response], list[int]]:
    """Send the requests 50 ms apart (a "slow" title keeps the handler running 200 ms): their
    responses in the order sent, and the order in which they were answered. ``cookies_from``:
    a page to get first, whose form's CSRF token and key are added to each request's data."""
    responses: dict[int, httpx2.Response] = {}
    answered: list[int] = []

    async def main() -> None:
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as client:
            guard: dict[str, str] = {}
            if cookies_from is not None:
                page = (await client.get(cookies_from)).text
                guard = {
                    "csrf_token": csrf_token(page),
                    "idempotency_key": hidden_value(page, "idempotency_key"),
                }

            async def send(index: int, options: dict[str, Any]) -> None:
                await anyio.sleep(index * 0.05)
                if guard:
                    options = {**options, "data": {**guard, **options["data"]}}
                responses[index] = await client.post("/notes", **options)
                answered.append(index)

            async with anyio.create_task_group() as group:
                for index, options in enumerate(requests):
                    group.start_soon(send, index, options)

    anyio.run(main)
    return [responses[i] for i in range(len(requests))], answered


def test_an_api_key_still_in_flight_is_a_409_at_once(notes_app: NotesApp) -> None:
    request = {"json": {"title": "slow"}, "headers": API_KEY}

    (first, second), answered = _concurrently(notes_app.app, request, request)

    # The second arrived while the first ran: answered at once, before the first finished.
    assert (first.status_code, second.status_code) == (201, 409)
    assert answered == [1, 0]
    problem = second.json()
    assert problem["code"] == "idempotency-key-in-flight"
    assert problem["detail"] == KEY_IN_FLIGHT.format(key="k-1", ttl="1 day (86,400 seconds)")
    assert second.headers["retry-after"] == "1"
    assert notes_app.calls == 1


def test_a_changed_body_while_the_first_runs_is_a_422_not_a_409(notes_app: NotesApp) -> None:
    (first, second), _ = _concurrently(
        notes_app.app,
        {"json": {"title": "slow"}, "headers": API_KEY},
        {"json": {"title": "other"}, "headers": API_KEY},
    )

    assert (first.status_code, second.status_code) == (201, 422)
    assert second.json()["code"] == "idempotency-key-reused"


def test_a_double_click_while_the_first_runs_gets_the_first_response(
    notes_app: NotesApp,
) -> None:
    request = {"data": {"title": "slow"}}

    (first, second), answered = _concurrently(
        notes_app.app, request, request, cookies_from="/notes"
    )

    # The second waited for the first, and got its answer: not a 409 page.
    assert answered == [0, 1]
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"] == "/notes/1"
    assert notes_app.calls == 1


def test_back_then_changed_values_re_shows_the_form_with_a_fresh_key(notes_app: NotesApp) -> None:
    client = TestClient(notes_app.app)
    page = client.get("/notes").text
    form = {
        "csrf_token": csrf_token(page),
        "idempotency_key": hidden_value(page, "idempotency_key"),
        "title": "Milk",
    }
    client.post("/notes", data=form, follow_redirects=False)

    changed = client.post("/notes", data={**form, "title": "Eggs"}, follow_redirects=False)

    assert changed.status_code == 422
    assert FORM_SENT_WITH_OTHER_VALUES in changed.text
    assert 'name="title" type="text" value="Eggs"' in changed.text
    fresh = hidden_value(changed.text, "idempotency_key")
    assert fresh != form["idempotency_key"]
    resent = client.post(
        "/notes",
        data={**form, "title": "Eggs", "idempotency_key": fresh},
        follow_redirects=False,
    )
    assert resent.status_code == 303
    assert [n.title for n in notes_app.notes] == ["Milk", "Eggs"]


@needs_redis
def test_two_instances_refuse_another_body_with_one_key(tmp_path: Path) -> None:
    prefix = f"test:{uuid.uuid4().hex}"
    first_app, second_app = _instance(tmp_path, "a", prefix), _instance(tmp_path, "b", prefix)

    with TestClient(first_app.app) as one, TestClient(second_app.app) as two:
        first = one.post("/notes", json={"title": "Eggs"}, headers=API_KEY)
        other = two.post("/notes", json={"title": "Milk"}, headers=API_KEY)
        same = two.post("/notes", json={"title": "Eggs"}, headers=API_KEY)

    assert (first.status_code, other.status_code, same.status_code) == (201, 422, 201)
    assert other.json()["code"] == "idempotency-key-reused"
    assert (first_app.calls, second_app.calls) == (1, 0)


async def _stores_agree(first: tiered.IdempotencyStore, second: tiered.IdempotencyStore) -> None:
    """What the draft asks, through two stores that share their keys (or one store twice)."""
    kept = tiered.StoredResponse(201, (("location", "/notes/1"),), b"{}")
    assert await first.claim("k", 60, fingerprint="a" * 32, wait=False) is None
    with pytest.raises(IdempotencyKeyInFlight):
        await second.claim("k", 60, fingerprint="a" * 32, wait=False)
    with pytest.raises(IdempotencyKeyReused):
        await second.claim("k", 60, fingerprint="b" * 32, wait=False)  # pending, another body
    await first.complete("k", kept, 60)
    assert await second.claim("k", 60, fingerprint="a" * 32, wait=False) == kept
    with pytest.raises(IdempotencyKeyReused) as raised:
        await second.claim("k", 60, fingerprint="b" * 32, wait=True)  # done, another body
    assert raised.value.extra == {"key_ttl_seconds": 60}


@pytest.mark.anyio
async def test_the_memory_store_refuses_another_payload_and_a_key_in_flight() -> None:
    store = tiered.MemoryIdempotencyStore()
    await _stores_agree(store, store)


@needs_redis
@pytest.mark.anyio
async def test_the_redis_store_refuses_them_the_same_way_across_instances() -> None:
    prefix = f"test:{uuid.uuid4().hex}"
    first = tiered.RedisIdempotencyStore(REDIS_URL, prefix=prefix)
    second = tiered.RedisIdempotencyStore(REDIS_URL, prefix=prefix)
    try:
        await _stores_agree(first, second)
    finally:
        await first.aclose()
        await second.aclose()
