"""Importing and exporting tasks, through the HTTP interface, in every representation."""

from __future__ import annotations

import csv
import io
import json

import pytest
from httpx2 import Response
from starlette.testclient import TestClient

from tests.taskboard.conftest import Account, log_in, log_in_only
from tests.taskboard.jobs.support import job_row, run_jobs
from tests.taskboard.tasks.support import HX, JSON, csrf, make_tasks, stored

GOOD = (
    "title,notes,due_on,done\n"
    "Buy milk,Two litres,2030-05-01,false\n"
    '"Call, the plumber","Line one\nline two",,true\n'
    "'=1+1,,,no\n"
)


def upload(
    client: TestClient, content: bytes, *, way: str = "form", name: str = "tasks.csv"
) -> Response:
    token = csrf(client, "/tasks/import")
    files = {"file": (name, content, "text/csv")}
    if way == "form":
        return client.post(
            "/tasks/import", data={"csrf_token": token}, files=files, follow_redirects=False
        )
    headers = {**(HX if way == "enhanced" else JSON), "X-CSRF-Token": token}
    return client.post("/tasks/import", files=files, headers=headers, follow_redirects=False)


@pytest.fixture
def alice_in(client: TestClient, alice: Account) -> Account:
    log_in(client, alice)
    return alice


@pytest.mark.parametrize("way", ["form", "enhanced", "json"])
def test_a_good_file_becomes_a_job_that_imports_every_row(
    client: TestClient, alice_in: Account, way: str
) -> None:
    response = upload(client, GOOD.encode(), way=way)

    if way == "form":
        assert response.status_code == 303
        location = response.headers["location"]
    elif way == "enhanced":
        assert response.status_code == 200
        location = response.headers["hx-redirect"]
    else:
        assert response.status_code == 202
        location = response.headers["location"]
        assert response.json()["status"] == "queued"
    assert location.startswith("/jobs/")
    assert stored(client, alice_in) == []  # nothing yet: the worker adds them

    run_jobs(client)

    titles = [(t["title"], t["notes"], t["done"], t["due_on"]) for t in stored(client, alice_in)]
    assert [t[0] for t in titles] == ["Buy milk", "Call, the plumber", "=1+1"]
    assert titles[1][1] == "Line one\nline two"
    assert titles[1][2] is True
    assert str(titles[0][3]) == "2030-05-01"
    job = client.get(location, headers=JSON).json()
    assert job["status"] == "done"
    assert job["progress"] == 1
    assert job["result"] == {"imported": 3, "file_name": "tasks.csv"}
    assert job_row(client, job["id"]).input is None  # the upload is not kept past its import


def test_semicolons_and_a_byte_order_mark_are_read(client: TestClient, alice_in: Account) -> None:
    content = "\ufeffTitle;Done\nOne;yes\nTwo;0\n".encode()
    assert upload(client, content).status_code == 303
    run_jobs(client)
    assert [(t["title"], t["done"]) for t in stored(client, alice_in)] == [
        ("One", True),
        ("Two", False),
    ]


def test_a_file_with_bad_rows_imports_nothing_and_lists_every_mistake(
    client: TestClient, alice_in: Account
) -> None:
    content = b"title,due_on,done\nFine,,\n,2030-01-01,\nThird,31/12/2030,maybe\n"

    page = upload(client, content, name="mine.csv")
    problem = upload(client, content, way="json")

    assert page.status_code == 422
    assert "mine.csv" in page.text
    assert "Row 3, column title" in page.text
    assert "Row 4, column due_on" in page.text
    assert "Row 4, column done" in page.text
    assert problem.status_code == 422
    messages = [e["detail"] for e in problem.json()["errors"]]
    assert any("Row 4, column done" in m for m in messages), messages
    assert run_jobs(client) == []
    assert stored(client, alice_in) == []


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a CSV file"),
        ("title\ncaf\xe9\n".encode("latin-1"), "not UTF-8"),
        (b"name,when\nx,y\n", "must name the columns"),
        (b"title\n", "no tasks"),
        (b'title\n"unclosed\n', "check its quotes"),
    ],
)
def test_a_file_that_is_not_a_csv_of_tasks_gets_a_clear_error(
    client: TestClient, alice_in: Account, content: bytes, says: str
) -> None:
    response = upload(client, content)
    assert response.status_code == 422, response.text
    assert says in response.text


def test_no_file_chosen_is_a_422_that_says_so(client: TestClient, alice_in: Account) -> None:
    token = csrf(client, "/tasks/import")
    files = {"file": ("", b"", "application/octet-stream")}
    response = client.post(
        "/tasks/import", data={"csrf_token": token}, files=files, follow_redirects=False
    )
    assert response.status_code == 422
    assert "Choose a CSV file to import." in response.text


def test_a_file_past_the_limit_is_a_413_before_it_is_read(
    client: TestClient, alice_in: Account
) -> None:
    token = csrf(client, "/tasks/import")
    huge = b"title\n" + b"x\n" * 3_000_000
    response = client.post(
        "/tasks/import",
        files={"file": ("big.csv", huge, "text/csv")},
        headers={"X-CSRF-Token": token, **JSON},
    )
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]


def test_export_round_trips_into_another_account(
    client: TestClient, alice_in: Account, bob: Account
) -> None:
    make_tasks(client, alice_in, ['=HYPERLINK("x")', "+cmd", "Plain, with comma", "@sum"])
    token = csrf(client, "/tasks/export")
    started = client.post(
        "/tasks/export", data={"csrf_token": token, "format": "csv"}, follow_redirects=False
    )
    assert started.status_code == 303
    run_jobs(client)
    job = client.get(started.headers["location"], headers=JSON).json()
    assert job["status"] == "done"
    assert job["result"]["rows"] == 4
    download = client.get(job["result"]["download"])
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["cache-control"] == "private, no-store"
    text = download.content.decode("utf-8-sig")
    cells = [row[0] for row in csv.reader(io.StringIO(text))][1:]
    assert cells == ['\'=HYPERLINK("x")', "'+cmd", "Plain, with comma", "'@sum"]

    log_in_only(client, bob)
    assert client.get(job["result"]["download"]).status_code == 404  # only for its owner
    assert client.get(f"/jobs/{job['id']}", headers=JSON).status_code == 404
    assert upload(client, download.content).status_code == 303
    run_jobs(client)
    assert sorted(t["title"] for t in stored(client, bob)) == sorted(
        t["title"] for t in stored(client, alice_in)
    )


def test_a_json_export_is_a_json_array(client: TestClient, alice_in: Account) -> None:
    make_tasks(client, alice_in, ["One", "Two"])
    token = csrf(client, "/tasks/export")
    started = client.post(
        "/tasks/export", json={"format": "json"}, headers={"X-CSRF-Token": token, **JSON}
    )
    assert started.status_code == 202
    run_jobs(client)
    job = client.get(started.headers["location"], headers=JSON).json()
    items = json.loads(client.get(job["result"]["download"]).content)
    assert sorted(i["title"] for i in items) == ["One", "Two"]


def test_the_job_page_in_each_tier(client: TestClient, alice_in: Account) -> None:
    location = upload(client, GOOD.encode()).headers["location"]

    core = client.get(location, headers={"User-Agent": "Lynx/2.9.0 libwww-FM/2.14"})
    full = client.get(location)
    lite = client.get(location, headers={"Save-Data": "on"})

    assert "Waiting to start." in full.text
    assert "Refresh to see its progress" in core.text
    assert "data-hx-trigger" not in core.text
    assert 'data-hx-trigger="click, every 2s"' in full.text
    assert 'data-hx-trigger="click, every 10s"' in lite.text
    fragment = client.get(location, headers=HX)
    assert 'id="job"' in fragment.text
    assert "<html" not in fragment.text

    run_jobs(client)
    done = client.get(location)
    assert "Done: 3 tasks imported from “tasks.csv”." in done.text
    assert "data-hx-trigger" not in done.text  # finished: nothing polls any more


def test_a_job_answers_304_when_nothing_changed(client: TestClient, alice_in: Account) -> None:
    location = upload(client, GOOD.encode()).headers["location"]
    first = client.get(location, headers=JSON)
    again = client.get(location, headers={**JSON, "If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    run_jobs(client)
    after = client.get(location, headers={**JSON, "If-None-Match": first.headers["etag"]})
    assert after.status_code == 200
    assert after.json()["status"] == "done"
