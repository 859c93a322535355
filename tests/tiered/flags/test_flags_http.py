"""Flags over HTTP: templates and handlers ask, the request's client decides, failures fall back."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from openfeature import api as openfeature_api
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import FlagEvaluationDetails, FlagResolutionDetails
from openfeature.hook import Hook, HookContext, HookHints
from openfeature.provider import AbstractProvider, Metadata
from pydantic import BaseModel
from starlette.requests import Request
from starlette.testclient import TestClient
from starlette.types import Lifespan

import tiered
from tiered import FlagDefinition, Flags, MemoryOverrideStore, Rule, TieredSettings
from tiered.testing import CHROME_USER_AGENT as CHROME

PAGE = (
    '{% extends "tiered/layout.html" %}{% block title %}Task{% endblock %}\n'
    '{% block main %}{% block actions %}{% if flag("inline_edit") %}'
    '<button data-hx-get="/edit">Edit in place</button>'
    '{% else %}<a href="/edit">Edit</a>{% endif %}{% endblock %}{% endblock %}\n'
)
BASELINE = '<a href="/edit">Edit</a>'
ENHANCED = '<button data-hx-get="/edit">Edit in place</button>'


class Page(BaseModel):
    python_says: bool


def build(tmp_path: Path, flags: Flags, lifespan: Lifespan[FastAPI] | None = None) -> FastAPI:
    (tmp_path / "page.html").write_text(PAGE, encoding="utf-8")
    app = FastAPI(lifespan=lifespan)
    tiered.install(app, TieredSettings(debug=True), template_dirs=(str(tmp_path),), flags=flags)

    @app.get("/")
    @tiered.view("page.html", block="actions")
    async def page(request: Request) -> Page:
        return Page(python_says=tiered.flag(request, "inline_edit"))

    return app


def actions(html: str) -> str:
    return html.split('<main id="main" tabindex="-1">', 1)[1].split("</main>", 1)[0].strip()


def test_a_flag_that_is_off_renders_exactly_the_baseline_markup(tmp_path: Path) -> None:
    flags = Flags({"inline_edit": FlagDefinition("inline_edit", enabled=False)})
    client = TestClient(build(tmp_path, flags))

    response = client.get("/", headers={"User-Agent": CHROME})

    assert actions(response.text) == BASELINE


def test_a_flag_that_is_on_renders_the_enhancement(tmp_path: Path) -> None:
    flags = Flags({"inline_edit": FlagDefinition("inline_edit", default=True)})
    client = TestClient(build(tmp_path, flags))

    assert actions(client.get("/").text) == ENHANCED
    assert client.get("/", headers={"Accept": "application/json"}).json() == {"python_says": True}


def test_targeting_by_tier_and_save_data(tmp_path: Path) -> None:
    inline_edit = FlagDefinition(
        "inline_edit",
        rules=(Rule(when={"save_data": True}, value=False), Rule(when={"tier": ("full",)})),
    )
    client = TestClient(build(tmp_path, Flags({"inline_edit": inline_edit})))

    full = client.get("/", headers={"User-Agent": CHROME})
    save_data = client.get("/", headers={"User-Agent": CHROME, "Save-Data": "on"})
    lynx = client.get("/", headers={"User-Agent": "Lynx/2.9.0dev.12 libwww-FM/2.14"})

    assert actions(full.text) == ENHANCED
    assert actions(save_data.text) == BASELINE
    assert actions(lynx.text) == BASELINE


def test_a_visitor_keeps_their_rollout_answer_across_requests(tmp_path: Path) -> None:
    flag = FlagDefinition("inline_edit", rules=(Rule(rollout=50),))
    app = build(tmp_path, Flags({"inline_edit": flag}))
    answers = []
    for _ in range(20):
        client = TestClient(app)
        first = client.get("/", headers={"Accept": "application/json"}).json()["python_says"]
        again = [
            client.get("/", headers={"Accept": "application/json"}).json()["python_says"]
            for _ in range(3)
        ]
        assert again == [first] * 3
        answers.append(first)
    assert True in answers
    assert False in answers  # 20 visitors at 50%: both answers occur (p of failure ~ 2e-6)


def test_the_subject_key_and_attributes_come_from_the_app(tmp_path: Path) -> None:
    flag = FlagDefinition("inline_edit", rules=(Rule(when={"is_admin": True}),))
    flags = Flags(
        {"inline_edit": flag},
        subject_key=lambda request: request.headers.get("x-user"),
        attributes=lambda request: {"is_admin": request.headers.get("x-user") == "admin"},
    )
    client = TestClient(build(tmp_path, flags))

    assert actions(client.get("/", headers={"X-User": "admin"}).text) == ENHANCED
    assert actions(client.get("/", headers={"X-User": "ann"}).text) == BASELINE


def test_an_override_replaces_the_declaration_after_a_refresh(tmp_path: Path) -> None:
    store = MemoryOverrideStore()
    flags = Flags({"inline_edit": FlagDefinition("inline_edit")}, overrides=store)
    client = TestClient(build(tmp_path, flags))
    assert actions(client.get("/").text) == BASELINE

    store.overrides["inline_edit"] = FlagDefinition("inline_edit", default=True)
    anyio.run(flags.refresh)  # what an admin page does after saving a change

    assert actions(client.get("/").text) == ENHANCED


def test_every_evaluation_is_counted_once_per_request(tmp_path: Path) -> None:
    flags = Flags({"inline_edit": FlagDefinition("inline_edit", default=True)})
    seen: list[tuple[str, str, str]] = []
    flags.listeners.append(lambda key, variant, reason: seen.append((key, variant, reason)))
    client = TestClient(build(tmp_path, flags))

    for _ in range(3):
        client.get("/")  # the handler and the template both ask: one evaluation per request
    for _ in range(2):
        client.get("/", headers={"Accept": "application/json"})

    assert flags.evaluations[("inline_edit", "on")] == 5
    assert seen == [("inline_edit", "on", "default")] * 5


def test_an_undeclared_flag_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "typo.html").write_text('{{ flag("inline_edt") }}', encoding="utf-8")
    app = FastAPI()
    flags = Flags({"inline_edit": FlagDefinition("inline_edit")})
    tiered.install(app, TieredSettings(debug=True), template_dirs=(str(tmp_path),), flags=flags)

    @app.get("/")
    @tiered.view("typo.html")
    async def page() -> Page:
        return Page(python_says=False)

    response = TestClient(app).get("/")

    assert response.status_code == 500
    assert "No flag &#39;inline_edt&#39; is declared" in response.text


class _Broken(AbstractProvider):
    def __init__(self, delay: float = 0.0) -> None:
        super().__init__()
        self.delay = delay

    def get_metadata(self) -> Metadata:
        return Metadata(name="broken")

    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        if self.delay:
            time.sleep(self.delay)
            return FlagResolutionDetails(value=not default_value)
        raise ConnectionError("flag service unreachable")

    def resolve_string_details(self, *args: Any, **kwargs: Any) -> FlagResolutionDetails[str]:
        raise NotImplementedError

    def resolve_integer_details(self, *args: Any, **kwargs: Any) -> FlagResolutionDetails[int]:
        raise NotImplementedError

    def resolve_float_details(self, *args: Any, **kwargs: Any) -> FlagResolutionDetails[float]:
        raise NotImplementedError

    def resolve_object_details(self, *args: Any, **kwargs: Any) -> FlagResolutionDetails[Any]:
        raise NotImplementedError


def test_a_failing_provider_falls_back_to_the_default(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    flags = Flags({"inline_edit": FlagDefinition("inline_edit")}, provider=_Broken())
    client = TestClient(build(tmp_path, flags))

    response = client.get("/")

    assert response.status_code == 200
    assert actions(response.text) == BASELINE
    assert "flag service unreachable" in caplog.text


def test_a_slow_provider_costs_at_most_the_deadline(tmp_path: Path) -> None:
    flags = Flags(
        {"inline_edit": FlagDefinition("inline_edit")},
        provider=_Broken(delay=1.0),
        deadline_seconds=0.05,
    )
    client = TestClient(build(tmp_path, flags))
    client.get("/healthz-warmup")

    started = time.perf_counter()
    response = client.get("/")
    elapsed = time.perf_counter() - started

    assert actions(response.text) == BASELINE
    assert elapsed < 0.5
    assert flags.provider.failures >= 1  # type: ignore[attr-defined]


def test_a_flags_file_is_read_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "flags.toml"
    path.write_text(
        '[flags.inline_edit]\ndescription = "Edit in place"\n'
        '[[flags.inline_edit.rules]]\nwhen = { tier = ["full"] }\nrollout = 100\n',
        encoding="utf-8",
    )

    flags = Flags(path)

    assert flags.definitions["inline_edit"].rules[0].when == {"tier": ("full",)}
    path.write_text("[flags.x]\nenabled = 'maybe'\n", encoding="utf-8")
    with pytest.raises(tiered.ImproperlyConfigured, match="enabled must be true or false"):
        Flags(path)


class RecordingHook(Hook):
    def __init__(self) -> None:
        self.flags: list[str] = []

    def after(
        self,
        hook_context: HookContext,
        details: FlagEvaluationDetails[Any],
        hints: HookHints,
    ) -> None:
        self.flags.append(hook_context.flag_key)


def test_tiered_s_provider_is_asked_directly_while_openfeature_has_nothing_to_add(
    tmp_path: Path,
) -> None:
    flags = Flags({"inline_edit": FlagDefinition("inline_edit", default=True)})
    seen: list[tuple[str, str, str]] = []
    flags.listeners.append(lambda key, variant, reason: seen.append((key, variant, reason)))
    client = TestClient(build(tmp_path, flags))

    assert flags._direct()  # the fast path applies to a plain set-up
    assert actions(client.get("/").text) == ENHANCED
    assert seen == [("inline_edit", "on", "default")]


def test_an_openfeature_hook_sees_every_evaluation(tmp_path: Path) -> None:
    flags = Flags({"inline_edit": FlagDefinition("inline_edit", default=True)})
    hook = RecordingHook()
    client = TestClient(build(tmp_path, flags))
    openfeature_api.add_hooks([hook])
    try:
        assert not flags._direct()
        assert actions(client.get("/").text) == ENHANCED
        assert client.get("/", headers={"Accept": "application/json"}).json() == {
            "python_says": True
        }
    finally:
        openfeature_api.clear_hooks()

    assert hook.flags == ["inline_edit", "inline_edit"]
    assert flags.evaluations[("inline_edit", "on")] == 2


def test_a_global_evaluation_context_reaches_the_provider(tmp_path: Path) -> None:
    only_beta = Rule(when={"cohort": "beta"})
    flags = Flags({"inline_edit": FlagDefinition("inline_edit", rules=(only_beta,))})
    client = TestClient(build(tmp_path, flags))
    assert actions(client.get("/").text) == BASELINE

    openfeature_api.set_evaluation_context(EvaluationContext(attributes={"cohort": "beta"}))
    try:
        assert actions(client.get("/").text) == ENHANCED
    finally:
        openfeature_api.set_evaluation_context(EvaluationContext())


class HeldStore:
    """An override store whose reload holds a resource until it ends, as a database read holds
    a connection; a reload that is cut off without ending leaves it held."""

    def __init__(self) -> None:
        self.held = 0
        self.loads = 0

    async def load(self) -> dict[str, FlagDefinition]:
        self.held += 1
        self.loads += 1
        try:
            await anyio.sleep(3600 if self.loads > 1 else 0)  # the background reloads hang
            return {}
        finally:
            self.held -= 1


def test_shutdown_ends_the_background_reload_before_the_apps_own_teardown(
    tmp_path: Path,
) -> None:
    store = HeldStore()
    flags = Flags(
        {"inline_edit": FlagDefinition("inline_edit")}, overrides=store, refresh_seconds=0
    )
    held_at_teardown: list[int] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        held_at_teardown.append(store.held)  # where an app closes its database

    app = build(tmp_path, flags, lifespan)
    with TestClient(app) as client:
        client.get("/")  # asks a flag: the background reload starts, and hangs
        deadline = time.monotonic() + 5
        while store.loads < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert store.held == 1

    assert held_at_teardown == [0]
    assert store.held == 0
