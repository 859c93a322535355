"""Ids no row can have are 404 on every route that takes one, on SQLite and on PostgreSQL.

The battery's reproduction: task ids past the database's integer range (PostgreSQL from 2³¹,
SQLite from 2⁶³) were 500s. The routes are read from the app, so a route added later without
``taskboard.db.Id`` fails here too.
"""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.testclient import TestClient

from taskboard.accounts import service as accounts
from taskboard.db import MAX_ID, NO_SUCH_ID, Database
from tests.taskboard.conftest import Account

IMPOSSIBLE = [MAX_ID + 1, 2**63, 2**63 + 1, 0, -1, -(2**31) - 1, -(2**63) - 1]
"""Past PostgreSQL's integer, past SQLite's, and below any id (0, negatives past both too)."""
_PARAMETER = re.compile(r"\{(\w+_id)(?::int)?\}")


def _id_routes(app: FastAPI) -> list[tuple[str, str]]:
    routes: list[tuple[str, str]] = []
    for route in iter_route_contexts(app.routes):
        path, methods = route.path_format, route.methods
        if isinstance(route.original_route, APIRoute) and path and _PARAMETER.search(path):
            routes.extend((method, path) for method in sorted((methods or set()) - {"HEAD"}))
    return routes


def _bearer(client: TestClient, account: Account) -> dict[str, str]:
    database: Database = client.app.state.database  # type: ignore[attr-defined]
    assert client.portal is not None
    _, token = client.portal.call(lambda: accounts.create_token(database, account.user.id, "t"))
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


def test_every_route_with_an_id_is_found_by_this_test(app: FastAPI) -> None:
    paths = {path for _, path in _id_routes(app)}

    assert {"/tasks/{task_id}", "/tasks/{task_id}/toggle", "/tasks/{task_id}/delete"} <= paths
    assert "/settings/tokens/{token_id}/delete" in paths


@pytest.mark.parametrize("value", IMPOSSIBLE)
def test_an_id_no_row_can_have_is_a_404_on_every_route(
    client: TestClient, alice: Account, value: int
) -> None:
    headers = _bearer(client, alice)

    for method, path in _id_routes(client.app):  # type: ignore[arg-type]
        url = _PARAMETER.sub(str(value), path)
        response = client.request(method, url, headers=headers, json={})

        assert response.status_code == 404, (method, url, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["code"] == "not-found"
        if value < 0:  # not digits: no route's `{…_id:int}` matches, so nothing is here at all
            assert problem["detail"] == f"There is no page at {url}."
        else:
            assert problem["detail"] == NO_SUCH_ID.format(value=value, max=MAX_ID)
            assert problem["detail"].endswith("ids run from 1 to 2,147,483,647.")


def test_the_largest_possible_id_reaches_the_route_as_usual(
    client: TestClient, alice: Account
) -> None:
    response = client.get(f"/tasks/{MAX_ID}", headers=_bearer(client, alice))

    assert response.status_code == 404
    assert response.json()["code"] == "task-not-found"
    assert response.json()["detail"] == f"You have no task {MAX_ID}."


def test_openapi_states_the_range_of_every_id(app: FastAPI) -> None:
    document = TestClient(app).get("/openapi.json").json()

    for _, path in _id_routes(app):
        for operation in document["paths"][path].values():
            (parameter,) = [p for p in operation["parameters"] if p["in"] == "path"]
            assert parameter["schema"]["minimum"] == 1, path
            assert parameter["schema"]["maximum"] == MAX_ID, path


def test_an_id_is_never_given_twice(client: TestClient, alice: Account) -> None:
    # schemathesis's find on SQLite: the newest task deleted, the next one got its id, and a
    # PATCH meant for the deleted task changed the new one (migration 0007).
    headers = _bearer(client, alice)

    first = client.post("/tasks", json={"title": "Deleted soon"}, headers=headers).json()["id"]
    assert client.delete(f"/tasks/{first}", headers=headers).status_code == 204
    second = client.post("/tasks", json={"title": "Added after"}, headers=headers).json()["id"]
    stale = client.patch(f"/tasks/{first}", json={"done": True}, headers=headers)

    assert second > first
    assert stale.status_code == 404
    shown = client.get(f"/tasks/{second}", headers=headers).json()
    assert (shown["title"], shown["done"]) == ("Added after", False)
