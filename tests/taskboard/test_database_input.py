"""What still reaches the database from outside and cannot be stored is a 400, never a 500.

Bodies are checked before any handler (tiered) and ids in paths are 404 before any query
(``taskboard.db.Id``); a query string goes to the database as sent. A NUL in the list's search was
a 500 on PostgreSQL, with a traceback in the log.
"""

from __future__ import annotations

import logging

import pytest
from markupsafe import escape
from starlette.testclient import TestClient

from taskboard.db import UNSTORABLE_VALUE
from taskboard.settings import Settings
from tests.taskboard.conftest import Account, log_in


@pytest.mark.parametrize("accept", ["application/json", "text/html"])
def test_a_nul_in_the_search_is_a_400_not_a_500(
    client: TestClient,
    alice: Account,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    accept: str,
) -> None:
    log_in(client, alice)

    response = client.get("/tasks?q=milk%00", headers={"Accept": accept})

    if settings.database_url.startswith("sqlite"):  # SQLite can search for it: nothing found
        assert response.status_code == 200
    else:
        assert response.status_code == 400
        assert str(escape(UNSTORABLE_VALUE)) in response.text
        if accept == "application/json":
            assert response.json()["code"] == "bad-request"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert client.get("/tasks", headers={"Accept": accept}).status_code == 200
