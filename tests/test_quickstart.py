"""The README's quickstart, executed as written: if it stops working, this fails."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
from starlette.testclient import TestClient

README = Path(__file__).resolve().parent.parent / "README.md"


def _blocks(language: str) -> list[str]:
    section = README.read_text(encoding="utf-8").split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, re.S)


@pytest.fixture
def quickstart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    (python,) = _blocks("python")
    (template,) = _blocks("html")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "hello.html").write_text(template, encoding="utf-8")
    (tmp_path / "app.py").write_text(python, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TIERED_DEBUG", "1")
    spec = importlib.util.spec_from_file_location("quickstart_app", tmp_path / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "quickstart_app", module)
    spec.loader.exec_module(module)
    return module


def test_quickstart_is_about_twenty_lines() -> None:
    (python,) = _blocks("python")
    code = [line for line in python.splitlines() if line.strip()]
    assert len(code) <= 22


def test_quickstart_serves_a_page(quickstart: ModuleType) -> None:
    response = TestClient(quickstart.app).get("/hello/Ada")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text.startswith("<!doctype html>")
    assert '<p id="greeting">Hello, Ada!</p>' in response.text
    assert "<title>Hello</title>" in response.text
    assert response.headers["vary"].startswith("Accept, HX-Request")


def test_quickstart_serves_a_fragment_to_htmx(quickstart: ModuleType) -> None:
    response = TestClient(quickstart.app).get("/hello/Ada", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.text == '<head><title>Hello</title></head><p id="greeting">Hello, Ada!</p>'


def test_quickstart_serves_json_described_in_openapi(quickstart: ModuleType) -> None:
    client = TestClient(quickstart.app)
    response = client.get("/hello/Ada", headers={"Accept": "application/json"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"name": "Ada", "text": "Hello, Ada!"}
    operation = client.get("/openapi.json").json()["paths"]["/hello/{name}"]["get"]
    content = operation["responses"]["200"]["content"]
    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/Greeting"}
    assert "text/html" in content


def test_quickstart_refuses_unacceptable_types_with_a_problem(quickstart: ModuleType) -> None:
    response = TestClient(quickstart.app).get("/hello/Ada", headers={"Accept": "image/png"})
    assert response.status_code == 406
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not-acceptable"
