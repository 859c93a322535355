"""Client profiles: what each kind of client sends, what tiered decides for it, and the fixture."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.testclient import TestClient

import tiered
from tiered.core.tiers import TierPolicy
from tiered.testing import (
    API_CLIENT,
    CHROME_USER_AGENT,
    CRAWLER,
    ENHANCED_BROWSER,
    LEGACY_BROWSER,
    NO_JS_BROWSER,
    PROFILES,
    SAVE_DATA_2G,
    TEXT_BROWSER,
    Profile,
    profile_named,
)
from tiered.testing import profiles as profiles_module

PAGE = """\
{% extends "tiered/layout.html" %}
{% block title %}Hello{% endblock %}
{% block main %}{% block greeting %}<p id="greeting">Hello</p>{% endblock %}{% endblock %}
"""


class Greeting(BaseModel):
    text: str


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    (tmp_path / "hello.html").write_text(PAGE, encoding="utf-8")
    app = FastAPI()
    tiered.install(app, tiered.TieredSettings(debug=True), template_dirs=(str(tmp_path),))

    @app.get("/hello")
    @tiered.view("hello.html", block="greeting")
    async def hello() -> Greeting:
        return Greeting(text="Hello")

    @app.get("/echo")
    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"headers": dict(request.headers), "cookies": request.cookies})

    return TestClient(app)


@pytest.mark.parametrize(
    ("profile", "tier", "reasons", "representation", "script"),
    [
        (NO_JS_BROWSER, "full", ("default",), "page", True),
        (ENHANCED_BROWSER, "full", ("default",), "fragment", True),
        (API_CLIENT, "full", ("default",), "json", True),
        (SAVE_DATA_2G, "lite", ("save-data", "slow-network"), "page", True),
        (LEGACY_BROWSER, "core", ("legacy-browser",), "page", False),
        (TEXT_BROWSER, "core", ("text-browser",), "page", False),
        (CRAWLER, "core", ("crawler",), "page", False),
    ],
    ids=lambda value: value.name if isinstance(value, Profile) else None,
)
def test_each_profile_gets_what_tiered_decides_for_its_headers(
    profile: Profile, tier: str, reasons: tuple[str, ...], representation: str, script: bool
) -> None:
    headers = {name.lower(): value for name, value in profile.headers.items()}

    assert (profile.tier, profile.reasons) == (tier, reasons)
    assert (profile.representation, profile.script) == (representation, script)
    assert tiered.read_client(headers, profile.cookies).tier == tier


def test_the_profiles_are_the_seven_named_kinds_of_client() -> None:
    assert [p.name for p in PROFILES] == [
        "no_js_browser",
        "enhanced_browser",
        "api_client",
        "save_data_2g",
        "legacy_browser",
        "text_browser",
        "crawler",
    ]
    assert NO_JS_BROWSER.headers["User-Agent"] == CHROME_USER_AGENT
    assert NO_JS_BROWSER.cookies == {}
    assert ENHANCED_BROWSER.cookies == {"tiered_js": "1"}
    assert ENHANCED_BROWSER.headers["HX-Request"] == "true"
    assert all(p.headers["Accept"] for p in PROFILES)


def test_a_real_app_serves_each_profile_the_tier_it_expects(client: TestClient) -> None:
    for profile in PROFILES:
        if profile is API_CLIENT or profile is ENHANCED_BROWSER:
            continue
        page = profile.request(client, "GET", "/hello").text
        meta = re.search(r'<meta name="tiered-tier" content="([a-z]+)"', page)

        assert (meta.group(1) if meta else "core") == profile.tier, profile.name
        assert ("<script" in page) is profile.script, profile.name


def test_a_real_app_answers_each_profile_in_its_representation(client: TestClient) -> None:
    fragment = ENHANCED_BROWSER.request(client, "GET", "/hello")
    data = API_CLIENT.request(client, "GET", "/hello")

    assert fragment.text == '<head><title>Hello</title></head><p id="greeting">Hello</p>'
    assert data.json() == {"text": "Hello"}


def test_request_adds_the_profiles_cookies_to_the_clients_for_one_request(
    client: TestClient,
) -> None:
    client.cookies.set("session", "s3ss10n")
    client.cookies.set("tiered_js", "0")

    seen = ENHANCED_BROWSER.request(client, "GET", "/echo", headers={"X-Extra": "1"}).json()

    assert seen["cookies"] == {"session": "s3ss10n", "tiered_js": "1"}
    assert seen["headers"]["hx-request"] == "true"
    assert seen["headers"]["x-extra"] == "1"
    assert seen["headers"]["user-agent"] == CHROME_USER_AGENT
    assert dict(client.cookies) == {"session": "s3ss10n", "tiered_js": "0"}


def test_representation_for_follows_what_the_view_offers() -> None:
    assert ENHANCED_BROWSER.representation_for() == "fragment"
    assert ENHANCED_BROWSER.representation_for(fragment=False) == "page"
    assert NO_JS_BROWSER.representation_for(html=False) == "json"
    assert API_CLIENT.representation_for(json=False) is None
    assert TEXT_BROWSER.representation_for() == "page"


def test_a_policy_of_the_apps_own_changes_the_client_read() -> None:
    crawlers_get_full = TierPolicy(crawler_tier="full")

    assert CRAWLER.client_for(crawlers_get_full).tier == "full"
    assert CRAWLER.representation_for(policy=crawlers_get_full) == "page"


def test_a_profile_of_ones_own_is_read_by_tiered() -> None:
    phone = Profile.of("phone", {"User-Agent": CHROME_USER_AGENT, "Device-Memory": "0.5"})

    assert (phone.tier, phone.reasons, phone.representation) == ("lite", ("low-memory",), "page")
    assert phone.headers["Accept"].startswith("text/html")


def test_a_profile_that_accepts_nothing_tiered_sends_is_refused() -> None:
    with pytest.raises(ValueError, match=r"Profile 'camera' accepts neither HTML nor JSON"):
        Profile.of("camera", {"Accept": "image/png"})


def test_profiles_are_found_by_name() -> None:
    assert profile_named("text_browser") is TEXT_BROWSER
    with pytest.raises(ValueError, match=r"Unknown profile 'lynx'; expected one of 'no_js_"):
        profile_named("lynx")


def test_the_profile_fixture_gives_one_of_the_profiles(
    profile: Profile, tiered_profiles: tuple[Profile, ...]
) -> None:
    assert profile in PROFILES
    assert tiered_profiles == PROFILES


@pytest.mark.tiered_profiles("text_browser", "api_client")
def test_the_marker_narrows_the_profiles(
    profile: Profile, tiered_profiles: tuple[Profile, ...]
) -> None:
    assert tiered_profiles == (TEXT_BROWSER, API_CLIENT)
    assert profile in tiered_profiles


def test_the_docstring_examples_hold() -> None:
    results = doctest.testmod(profiles_module)

    assert results.attempted > 0
    assert results.failed == 0
