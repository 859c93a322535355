"""The pytest plugin tiered registers (entry point ``pytest11``): fixtures for tiered apps' tests.

Fixtures:

``profile``
    A test that asks for it runs once per client profile
    (:data:`tiered.testing.PROFILES`), or once per profile the ``tiered_profiles`` marker names.
``tiered_profiles``
    The profiles this test runs with, as a tuple.
``tiered_path_values``
    The values of route path parameters ``check_routes`` uses; ``{}`` unless a conftest
    overrides it (``{"/tasks/{task_id}": {"task_id": 1}}``).
``check_routes``
    :func:`tiered.testing.route_matrix` with those path values:
    ``assert check_routes(client) == []``.

Marker: ``@pytest.mark.tiered_profiles("text_browser", "api_client")``.

Example::

    @pytest.mark.tiered_profiles("no_js_browser", "text_browser")
    def test_the_list_is_a_page(client: TestClient, profile: Profile) -> None:
        assert profile.request(client, "GET", "/notes").text.startswith("<!doctype html>")

pytest loads this module in every run of every project where tiered is installed, so it imports
nothing but pytest itself: each fixture imports what it needs when it runs, and the profiles are
read only when a test uses one (or carries the marker).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tiered.testing.profiles import Profile

MARKER = "tiered_profiles"

PROFILE_NAMES = (
    "no_js_browser",
    "enhanced_browser",
    "api_client",
    "save_data_2g",
    "legacy_browser",
    "text_browser",
    "crawler",
)
"""The names of :data:`tiered.testing.PROFILES`, here so that the fixture's parameters cost no
import (a test checks that the two agree)."""

_MARKER_HELP = (
    f"{MARKER}(*names): run the test's `profile` fixture only in these tiered client profiles "
    f"({', '.join(PROFILE_NAMES)})."
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", _MARKER_HELP)


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # The marker narrows the fixture's parameters. It is turned into a parametrize mark, which
    # pytest then applies in place of the fixture's own parameters; only tests that carry the
    # marker are touched, so a project's own `profile` fixture is left alone.
    marker = metafunc.definition.get_closest_marker(MARKER)
    if marker is None or "profile" not in metafunc.fixturenames:
        return
    names = [profile.name for profile in _selected(metafunc.definition)]
    metafunc.definition.add_marker(
        pytest.mark.parametrize("profile", names, indirect=True, ids=names)
    )


def _selected(node: pytest.Item) -> tuple[Profile, ...]:
    from tiered.testing.profiles import PROFILES, profile_named

    marker = node.get_closest_marker(MARKER)
    if marker is None:
        return PROFILES
    if not marker.args:
        raise pytest.UsageError(
            f"@pytest.mark.{MARKER}() on {node.nodeid} names no profile; name one or more, "
            f"like @pytest.mark.{MARKER}('text_browser'), or drop the marker to run them all."
        )
    try:
        return tuple(profile_named(name) for name in marker.args)
    except ValueError as exc:
        raise pytest.UsageError(f"@pytest.mark.{MARKER} on {node.nodeid}: {exc}") from None


@pytest.fixture(params=PROFILE_NAMES, ids=PROFILE_NAMES)
def profile(request: pytest.FixtureRequest) -> Profile:
    """The client profile this run of the test is for (one run per profile)."""
    from tiered.testing.profiles import profile_named

    name: str = request.param
    return profile_named(name)


@pytest.fixture
def tiered_profiles(request: pytest.FixtureRequest) -> tuple[Profile, ...]:
    """Every profile this test runs with: those its ``tiered_profiles`` marker names, or all."""
    return _selected(request.node)


@pytest.fixture
def tiered_path_values() -> Mapping[str, Mapping[str, object]]:
    """Values for route path parameters (none); override it in a conftest to supply some."""
    return {}


@pytest.fixture
def check_routes(
    tiered_path_values: Mapping[str, Mapping[str, object]],
) -> Callable[..., list[str]]:
    """``route_matrix`` with ``tiered_path_values``; other options pass through.

    Example::

        def test_routes(client: TestClient, check_routes) -> None:
            assert check_routes(client, budget={"full": 20_000}) == []
    """
    from tiered.testing.matrix import route_matrix

    def check(client: Any, **options: Any) -> list[str]:
        options.setdefault("path_values", tiered_path_values)
        return route_matrix(client, **options)

    return check
