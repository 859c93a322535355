"""Submitting the same form twice creates one thing: repeats get the first response."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
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
