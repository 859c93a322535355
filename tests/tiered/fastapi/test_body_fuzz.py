"""Property tests over the one place bodies and cookies are read: whatever arrives, no exception
escapes, the answer is never a 5xx, and nothing is logged as an error (a client's mistake is not
ours). Bounded for CI: a few hundred requests in all.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.conftest import build_notes_app

API = {"Accept": "application/json", "Authorization": "Bearer api-token"}
BOUNDARY = "fuzzboundary"
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=latin-1",
    "application/x-www-form-urlencoded",
    f"multipart/form-data; boundary={BOUNDARY}",
    "multipart/form-data",
    "text/plain",
    "application/xml",
    "",
]
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
fields = st.dictionaries(st.sampled_from(["title", "count", "x", ""]) | st.text(), st.text())


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = build_notes_app(Path(tmp_path_factory.mktemp("fuzz"))).app
    with TestClient(app, raise_server_exceptions=True) as client:
        yield client


@pytest.fixture
def errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    caplog.set_level(logging.ERROR)
    return caplog.records


def _sane(status: int, records: list[logging.LogRecord]) -> None:
    assert status < 500, status
    assert not [r for r in records if r.levelno >= logging.ERROR], records[-1].getMessage()


@FUZZ
@given(body=st.binary(max_size=2000), content_type=st.sampled_from(CONTENT_TYPES))
def test_any_bytes_in_any_content_type(
    client: TestClient, errors: list[logging.LogRecord], body: bytes, content_type: str
) -> None:
    headers = {**API, "Content-Type": content_type} if content_type else API
    response = client.post("/notes", content=body, headers=headers)

    _sane(response.status_code, errors)
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"


@FUZZ
@given(value=json_values)
def test_any_json_value(client: TestClient, errors: list[logging.LogRecord], value: object) -> None:
    response = client.post(
        "/notes", content=json.dumps(value), headers={**API, "Content-Type": "application/json"}
    )

    _sane(response.status_code, errors)


@FUZZ
@given(data=fields)
def test_any_form_fields_urlencoded_and_multipart(
    client: TestClient, errors: list[logging.LogRecord], data: dict[str, str]
) -> None:
    encoded = client.post("/notes", data=data, headers=API)
    parts = {name or "unnamed": (None, value) for name, value in data.items()}
    multipart = client.post("/notes", files=parts or {"x": (None, "")}, headers=API)

    _sane(encoded.status_code, errors)
    _sane(multipart.status_code, errors)


@FUZZ
@given(cookie=st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=500))
def test_any_cookie_header(
    client: TestClient, errors: list[logging.LogRecord], cookie: str
) -> None:
    headers = {b"Cookie": cookie.encode("latin-1")}  # a header is bytes: latin-1 carries any
    page = client.get("/notes", headers=headers)
    posted = client.post("/notes", data={"title": "x"}, headers=headers)

    _sane(page.status_code, errors)
    _sane(posted.status_code, errors)
