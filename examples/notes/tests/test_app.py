"""The notes example, tested with the tiered.testing plugin alone: profiles, the route matrix,
check_html and parity."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from starlette.testclient import TestClient

from examples.notes.app import NoteBook, NoteForm, create_app
from tiered import TieredSettings
from tiered.testing import WAYS, Profile, Way, check_html, run_matrix, split_fragment, submit


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(TieredSettings(debug=True))) as test_client:
        yield test_client


def book_of(client: TestClient) -> NoteBook:
    book: NoteBook = client.app.state.notes  # type: ignore[attr-defined]
    return book


@pytest.fixture
def tiered_path_values(client: TestClient) -> dict[str, dict[str, object]]:
    """A note to show, for the matrix's GET /notes/{note_id}."""
    note = book_of(client).add(NoteForm(title="Milk", text="Two litres"))
    return {"/notes/{note_id}": {"note_id": note.id}}


def test_every_route_serves_every_client(
    client: TestClient, check_routes: Callable[..., list[str]]
) -> None:
    assert check_routes(client) == []


def test_no_page_needs_javascript(
    client: TestClient, tiered_path_values: dict[str, dict[str, object]]
) -> None:
    report = run_matrix(client, path_values=tiered_path_values)

    assert {visit.route for visit in report.pages()} == {"/", "/notes/{note_id}"}
    assert [check_html(visit.body) for visit in report.pages()] == [[]] * len(report.pages())


def test_the_list_comes_in_each_clients_representation(
    client: TestClient, profile: Profile
) -> None:
    book_of(client).add(NoteForm(title="Milk"))

    response = profile.request(client, "GET", "/")

    if profile.representation == "json":
        assert response.json() == {
            "items": [{"id": 1, "title": "Milk", "text": "", "pinned": False}]
        }
        return
    if profile.representation == "fragment":
        assert split_fragment(response.text)[1].startswith('<div id="notes">')
    else:
        assert response.text.startswith("<!doctype html>")
        assert ("<script" in response.text) is profile.script
    assert '<li data-note-id="1"><a href="/notes/1">Milk</a>' in response.text


@pytest.mark.tiered_profiles("text_browser", "legacy_browser")
def test_core_clients_get_the_plain_forms(client: TestClient, profile: Profile) -> None:
    page = profile.request(client, "GET", "/").text

    assert '<form method="post" action="/notes"' in page
    assert "<script" not in page


@pytest.mark.parametrize("way", WAYS)
def test_writing_a_note_stores_the_same_note_every_way(client: TestClient, way: Way) -> None:
    done = submit(client, way, "/notes", {"title": "Milk", "text": "Two litres"}, page="/")

    assert done.succeeded, done
    notes = list(book_of(client).notes.values())
    assert [(n.title, n.text, n.pinned) for n in notes] == [("Milk", "Two litres", False)]


@pytest.mark.parametrize("way", WAYS)
def test_pinning_a_note_stores_the_same_state_every_way(client: TestClient, way: Way) -> None:
    book_of(client).add(NoteForm(title="Milk"))

    done = submit(
        client, way, "/notes/1/pin", {"pinned": "true"}, page="/", json_body={"pinned": True}
    )

    assert done.succeeded, done
    assert book_of(client).get(1).pinned is True


def test_a_note_without_a_title_is_refused_every_way(client: TestClient) -> None:
    statuses = [submit(client, way, "/notes", {"title": " "}, page="/") for way in WAYS]

    assert [s.response.status_code for s in statuses] == [422, 422, 422]
    assert book_of(client).notes == {}
